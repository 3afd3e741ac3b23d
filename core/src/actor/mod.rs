//! Actors: the registry, and each actor's allocation lifecycle.

mod stop;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::config::Config;

use crate::admin::ActorInfo;
use crate::ids::{ActorId, AdminReqId, ClientId, IdMap};
use crate::runner::RunnerIdx;
use crate::store::ActorRecord;
use crate::time::Instant;

pub(crate) use stop::{MAX_CLOSE_WAKE_START_TIMEOUTS, StopCause, StopIntent};

/// Where an actor stands. Data that exists only in one phase lives in its variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Not allocated to any runner.
    Sleeping,
    /// Needed, waiting for a runner with a free slot.
    Placing,
    /// `CommandStartActor` sent (at `command_index`), `Running` not yet seen.
    Starting {
        runner: RunnerIdx,
        command_index: i64,
    },
    /// `Running` seen for the current generation.
    Running { runner: RunnerIdx },
    /// `CommandStopActor` sent (at `command_index`), `Stopped` not yet seen.
    Stopping {
        runner: RunnerIdx,
        command_index: i64,
    },
}

impl Phase {
    /// The runner instance the actor is allocated to.
    pub(crate) fn runner(self) -> Option<RunnerIdx> {
        match self {
            Self::Sleeping | Self::Placing => None,
            Self::Starting { runner, .. }
            | Self::Running { runner }
            | Self::Stopping { runner, .. } => Some(runner),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Sleeping => "sleeping",
            Self::Placing | Self::Starting { .. } => "starting",
            Self::Running { .. } => "running",
            Self::Stopping { .. } => "stopping",
        }
    }
}

pub(crate) struct Actor {
    /// The durable part; `record.generation` is the generation of the latest allocation.
    pub(crate) record: ActorRecord,
    /// Whether any generation was ever allocated (the first one is 0).
    pub(crate) allocated_once: bool,
    /// The highest generation known to be in the store. A start never takes a generation more
    /// than one past it, so a restart (which counts the stored generation + 1 as used) never
    /// reuses one that a runner may still hold events of.
    pub(crate) durable_generation: u32,
    /// A write of the current generation is in flight that a placement waits for.
    pub(crate) generation_write_pending: bool,
    pub(crate) phase: Phase,
    pub(crate) last_command_index: i64,
    /// Highest event index processed for the current generation (−1: none).
    pub(crate) last_event_index: i64,
    /// `Running` was reported for the current generation (in any phase): its runner has it.
    pub(crate) running_seen: bool,
    /// Why the actor is being stopped, or what it asked for; decides what `Stopped` means.
    pub(crate) intent: Option<StopIntent>,
    /// Something needed the actor while it was stopping: start it again once stopped.
    pub(crate) wake_after_stop: bool,
    /// Woken to observe a client close (`wake_on_close`) and not running yet: if this
    /// allocation ends before `Running` (its runner lost, say), the wake is still owed.
    pub(crate) close_wake_owed: bool,
    /// Starts for an owed close wake that timed out in a row.
    pub(crate) close_wake_start_timeouts: u8,
    /// Requests waiting for `Running`, in arrival order.
    pub(crate) waiting: VecDeque<ClientId>,
    /// Requests tunnelled to the current allocation.
    pub(crate) clients: BTreeSet<ClientId>,
    /// Admin destroy requests to answer once the actor is deleted.
    pub(crate) destroy_waiters: Vec<AdminReqId>,
    /// When the actor started waiting for a runner (placement order is first come, first
    /// served).
    pub(crate) placing_since: Option<Instant>,
    /// Hibernatable sockets of this actor (open or hibernating), for the per-actor limit.
    pub(crate) hibernatable: usize,
    /// Client closes to deliver once the actor runs (their sockets were listed in the start).
    pub(crate) close_after_running: Vec<crate::hibernation::CloseAfterRunning>,
    /// Wall-clock milestones the admin API shows, epoch ms (see [`ActorInfo`]).
    pub(crate) times: Milestones,
    /// Crashes in a row (each within `Config::crash_streak_reset` of the one before), and when
    /// the last one was.
    pub(crate) crashes: Option<(u32, Instant)>,
    /// A crash-looping actor is not started before this.
    pub(crate) restart_not_before: Option<Instant>,
    /// Something needed it while its restart was held back: start it when the delay ends.
    pub(crate) restart_owed: bool,
}

/// When an actor last changed state, as the engine reports it (epoch ms; in memory only, so a
/// restart forgets them).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Milestones {
    pub(crate) first_running: Option<i64>,
    pub(crate) running_since: Option<i64>,
    pub(crate) asleep_since: Option<i64>,
    pub(crate) waiting_since: Option<i64>,
}

impl Actor {
    pub(crate) fn new(record: ActorRecord, allocated_once: bool) -> Self {
        Self {
            durable_generation: record.generation,
            generation_write_pending: false,
            record,
            allocated_once,
            phase: Phase::Sleeping,
            last_command_index: 0,
            last_event_index: -1,
            running_seen: false,
            intent: None,
            wake_after_stop: false,
            close_wake_owed: false,
            close_wake_start_timeouts: 0,
            waiting: VecDeque::new(),
            clients: BTreeSet::new(),
            destroy_waiters: Vec::new(),
            placing_since: None,
            hibernatable: 0,
            close_after_running: Vec::new(),
            times: Milestones::default(),
            crashes: None,
            restart_not_before: None,
            restart_owed: false,
        }
    }

    /// It crashed (or lost its runner) at `now`: counts the crash into its streak (a crash
    /// `crash_streak_reset` after the last one starts a new streak) and holds back its next
    /// start, for `crash_restart_delay · 2^(streak − 2)` up to `crash_restart_delay_max` (none
    /// after the first crash of a streak).
    pub(crate) fn crashed(&mut self, now: Instant, config: &Config) {
        let streak = match self.crashes {
            Some((n, at)) if now.saturating_since(at) < config.crash_streak_reset => {
                n.saturating_add(1)
            }
            _ => 1,
        };
        self.crashes = Some((streak, now));
        self.restart_not_before = (streak > 1).then(|| {
            let factor = 1u32 << (streak - 2).min(16);
            let delay = config.crash_restart_delay.saturating_mul(factor);
            now.saturating_add(delay.min(config.crash_restart_delay_max))
        });
    }

    /// A new allocation on `runner` begins: the next generation (after the first), fresh
    /// command and event indices, no stop intent, and an alarm already due dropped (a starting
    /// actor checks its own due alarms; kept, it would wake the actor again right after every
    /// sleep). The caller persists the record.
    pub(crate) fn starting(&mut self, runner: RunnerIdx, wall_ms: i64) {
        if self.allocated_once {
            self.record.generation = self.record.generation.wrapping_add(1);
        }
        self.allocated_once = true;
        if self.record.alarm_ts.is_some_and(|ts| ts <= wall_ms) {
            self.record.alarm_ts = None;
        }
        self.last_command_index = 0;
        self.last_event_index = -1;
        self.running_seen = false;
        self.intent = None;
        self.wake_after_stop = false;
        self.times.waiting_since = None;
        self.phase = Phase::Starting {
            runner,
            command_index: 0,
        };
    }

    /// Its runner reported `Running`: an owed close wake is paid. Whether this ends its start
    /// (false for a repeated report, or one arriving while it stops).
    pub(crate) fn running(&mut self, wall_ms: i64) -> bool {
        self.running_seen = true;
        self.close_wake_owed = false;
        self.close_wake_start_timeouts = 0;
        self.times.running_since = Some(wall_ms);
        self.times.first_running.get_or_insert(wall_ms);
        let Phase::Starting { runner, .. } = self.phase else {
            return false;
        };
        self.phase = Phase::Running { runner };
        true
    }

    /// A stop command goes to `runner` for `intent`; the command's index.
    pub(crate) fn stopping(&mut self, runner: RunnerIdx, intent: StopIntent) -> i64 {
        self.last_command_index += 1;
        let index = self.last_command_index;
        self.intent = Some(intent);
        self.phase = Phase::Stopping {
            runner,
            command_index: index,
        };
        index
    }

    /// Its allocation ended (stopped, lost, timed out) for `cause`: it sleeps. Closes that
    /// waited for `Running` have no audience (a start that never ran restores nothing). A
    /// close wake stays owed until the actor runs: a start lost with its runner is made again,
    /// and so is one that no runner took up in time, a few times (then it is given up: the
    /// close is observed at the next start anyway, and an actor no runner can take is not
    /// retried forever).
    pub(crate) fn allocation_ended(&mut self, cause: StopCause) {
        self.phase = Phase::Sleeping;
        self.times.running_since = None;
        self.times.waiting_since = None;
        self.close_after_running.clear();
        if self.close_wake_owed {
            if cause == StopCause::StartTimeout {
                self.close_wake_start_timeouts += 1;
            }
            if self.close_wake_start_timeouts <= MAX_CLOSE_WAKE_START_TIMEOUTS {
                self.wake_after_stop = true;
            } else {
                self.close_wake_owed = false;
                self.close_wake_start_timeouts = 0;
            }
        }
    }

    /// Something needs it while it sleeps: it waits for a runner from `wall_ms`.
    pub(crate) fn waking(&mut self, wall_ms: i64) {
        self.times.asleep_since = None;
        self.times.waiting_since = Some(wall_ms);
    }

    /// Something needs it while it stops: it starts again once stopped.
    pub(crate) fn wake_when_stopped(&mut self) {
        self.wake_after_stop = true;
    }

    /// A stop asked for while it stops: a destroy overrides a sleep already under way; a sleep
    /// never downgrades a destroy.
    pub(crate) fn stop_again(&mut self, intent: StopIntent) {
        if intent == StopIntent::Destroy {
            self.intent = Some(intent);
        }
    }

    /// A stop asked for while it waits for a runner: it goes back to sleep.
    pub(crate) fn placing_cancelled(&mut self) {
        self.phase = Phase::Sleeping;
        self.times.waiting_since = None;
    }

    /// It is asleep from `wall_ms`; whether it must start again at once (something needed it
    /// while it stopped, or requests wait for it).
    pub(crate) fn asleep(&mut self, wall_ms: i64) -> bool {
        self.intent = None;
        self.times.asleep_since = Some(wall_ms);
        std::mem::take(&mut self.wake_after_stop) || !self.waiting.is_empty()
    }

    /// A registry row with `generation` is durable; whether that makes its current generation
    /// durable (a placement waiting for it may go on).
    pub(crate) fn generation_stored(&mut self, generation: u32) -> bool {
        self.durable_generation = self.durable_generation.max(generation);
        let current = self.durable_generation == self.record.generation;
        if current {
            // Whichever write made it durable (another one of the same row may have failed).
            self.generation_write_pending = false;
        }
        current
    }

    /// The index of a further command to the current allocation.
    pub(crate) fn next_command_index(&mut self) -> i64 {
        self.last_command_index += 1;
        self.last_command_index
    }

    /// An event with `index` arrived for the current generation; false if it was seen before.
    pub(crate) fn event_seen(&mut self, index: i64) -> bool {
        if index <= self.last_event_index {
            return false;
        }
        self.last_event_index = index;
        true
    }

    /// The write of its current generation failed: a placement waiting for it asks for another.
    pub(crate) fn generation_write_failed(&mut self) {
        self.generation_write_pending = false;
    }

    /// A client request ended: it is no longer tied to this actor (`listed`: it was one of its
    /// hibernatable sockets).
    pub(crate) fn client_gone(&mut self, client: ClientId, listed: bool) {
        self.clients.remove(&client);
        self.waiting.retain(|w| *w != client);
        if listed {
            self.hibernatable -= 1;
        }
    }

    /// Requests waiting for it to run stop waiting (they fail), except those `keep` names;
    /// the ones that stopped, in arrival order.
    pub(crate) fn stop_waiting(&mut self, keep: impl Fn(&ClientId) -> bool) -> Vec<ClientId> {
        let (kept, stopped): (VecDeque<ClientId>, VecDeque<ClientId>) =
            std::mem::take(&mut self.waiting)
                .into_iter()
                .partition(|c| keep(c));
        self.waiting = kept;
        stopped.into()
    }

    /// One of its sockets turned out hibernatable (listed in its starts from now on).
    pub(crate) fn socket_listed(&mut self) {
        self.hibernatable += 1;
    }

    /// A client closed a hibernating socket while it slept or stopped: it owes a start for the
    /// actor to observe the close (`wake_on_close`).
    pub(crate) fn owe_close_wake(&mut self) {
        self.close_wake_owed = true;
    }

    pub(crate) fn info(&self) -> ActorInfo {
        let r = &self.record;
        ActorInfo {
            actor_id: r.id,
            namespace: r.namespace.clone(),
            name: r.name.clone(),
            key: r.key.clone(),
            runner_name: r.runner_name.clone(),
            state: self.phase.name(),
            generation: r.generation,
            create_ts: r.create_ts,
            crash_policy: r.crash_policy,
            start_ts: self.times.first_running,
            connectable_ts: self.times.running_since,
            sleep_ts: self.times.asleep_since,
            pending_allocation_ts: self.times.waiting_since,
        }
    }
}

#[derive(Default)]
pub(crate) struct Actors {
    pub(crate) map: IdMap<ActorId, Actor>,
    /// (namespace, name, key) → id, for actors with a key.
    pub(crate) by_key: BTreeMap<(String, String, String), ActorId>,
    /// Actors waiting for a runner (`Phase::Placing`): placement looks at these, never at
    /// every actor.
    pub(crate) placing: Waiting,
}

/// Actors waiting for a runner, by pool (namespace, runner name), longest-waiting first. Pools
/// never share a runner, so a pool without room is skipped whole.
#[derive(Default)]
pub(crate) struct Waiting {
    by_pool: BTreeMap<(String, String), BTreeSet<(Instant, ActorId)>>,
}

impl Waiting {
    fn insert(&mut self, record: &ActorRecord, since: Instant) {
        self.by_pool
            .entry((record.namespace.clone(), record.runner_name.clone()))
            .or_default()
            .insert((since, record.id));
    }

    fn remove(&mut self, record: &ActorRecord, since: Instant) {
        let pool = (record.namespace.clone(), record.runner_name.clone());
        if let Some(set) = self.by_pool.get_mut(&pool) {
            set.remove(&(since, record.id));
            if set.is_empty() {
                self.by_pool.remove(&pool);
            }
        }
    }

    /// The pools with actors waiting.
    pub(crate) fn pools(&self) -> Vec<(String, String)> {
        self.by_pool.keys().cloned().collect()
    }

    /// The actor of `pool` that has waited longest after `after` (the one tried last), if any.
    pub(crate) fn next_in(
        &self,
        pool: &(String, String),
        after: Option<(Instant, ActorId)>,
    ) -> Option<(Instant, ActorId)> {
        let set = self.by_pool.get(pool)?;
        match after {
            None => set.first().copied(),
            Some(last) => set
                .range((std::ops::Bound::Excluded(last), std::ops::Bound::Unbounded))
                .next()
                .copied(),
        }
    }

    /// Every waiting actor with the time it started waiting (for the invariants).
    #[cfg(any(test, feature = "testkit"))]
    pub(crate) fn all(&self) -> BTreeSet<(Instant, ActorId)> {
        self.by_pool.values().flatten().copied().collect()
    }
}

impl Actors {
    pub(crate) fn insert(&mut self, actor: Actor) {
        let r = &actor.record;
        if let Some(key) = &r.key {
            self.by_key
                .insert((r.namespace.clone(), r.name.clone(), key.clone()), r.id);
        }
        self.map.insert(r.id, actor);
    }

    pub(crate) fn remove(&mut self, id: ActorId) -> Option<Actor> {
        let mut actor = self.map.remove(&id)?;
        stop_placing(&mut self.placing, &mut actor);
        let r = &actor.record;
        if let Some(key) = &r.key {
            self.by_key
                .remove(&(r.namespace.clone(), r.name.clone(), key.clone()));
        }
        Some(actor)
    }

    /// The actor now waits for a runner, since `now`.
    pub(crate) fn start_placing(&mut self, id: ActorId, now: Instant) {
        if let Some(actor) = self.map.get_mut(&id) {
            stop_placing(&mut self.placing, actor);
            actor.phase = Phase::Placing;
            actor.placing_since = Some(now);
            self.placing.insert(&actor.record, now);
        }
    }

    pub(crate) fn find_by_key(&self, namespace: &str, name: &str, key: &str) -> Option<ActorId> {
        self.by_key
            .get(&(namespace.to_owned(), name.to_owned(), key.to_owned()))
            .copied()
    }
}

/// The actor no longer waits for a runner (it starts, sleeps or goes): out of the index.
pub(crate) fn stop_placing(placing: &mut Waiting, actor: &mut Actor) {
    if let Some(since) = actor.placing_since.take() {
        placing.remove(&actor.record, since);
    }
}
