//! Actor lifecycle: placement, start, stop, crash policies, loss, destruction and wakes.

use crate::actor::{Actor, Phase, stop_placing};
use crate::actor::{StopCause, StopIntent};
use crate::gateway::Gateway;
use crate::ids::ActorId;
use crate::link::{ActorCommand, ActorCommandKind, StopReason, ToRunner};
use crate::notice::Notice;
use crate::runner::RunnerIdx;
use crate::store::{ActorRecord, CrashPolicy, StoreRequest};
use crate::store_ops::Purpose;
use crate::time::Instant;
use crate::timer::TimerKey;
use torpor_protocol::shared::{ActorCheckpoint, ActorConfig};

impl Gateway {
    /// Something needs the actor running (a request, an alarm): start it if it is asleep, or
    /// right after it finishes stopping.
    pub(crate) fn wake_actor(&mut self, now: Instant, id: ActorId) {
        let Some(actor) = self.actors.map.get_mut(&id) else {
            return;
        };
        match actor.phase {
            Phase::Sleeping if actor.restart_not_before.is_some_and(|at| at > now) => {
                // Crash-looping: started when its delay ends, whatever needs it meanwhile.
                if !std::mem::replace(&mut actor.restart_owed, true) {
                    self.cx.metrics.actor_restarts_delayed += 1;
                    if let Some(at) = actor.restart_not_before {
                        self.cx.timers.set(TimerKey::ActorRestart(id), at);
                    }
                }
            }
            Phase::Sleeping => {
                actor.waking(self.cx.wall_now());
                self.actors.start_placing(id, now);
                let at = now.saturating_add(self.cx.config.actor_start_timeout);
                self.cx.timers.set(TimerKey::ActorStart(id), at);
                self.cx.timers.cancel(TimerKey::ActorAlarm(id));
                self.place_actor(now, id);
            }
            Phase::Stopping { .. } => actor.wake_when_stopped(),
            Phase::Placing | Phase::Starting { .. } | Phase::Running { .. } => {}
        }
    }

    /// Places actors waiting for a runner, longest-waiting first in each pool, while the pool
    /// has room: the cost follows the placements made, not the actors waiting.
    pub(crate) fn place_waiting_actors(&mut self, now: Instant) {
        for pool in self.actors.placing.pools() {
            let mut tried = None;
            while self.runners.place(&pool.0, &pool.1).is_some() {
                let Some(next) = self.actors.placing.next_in(&pool, tried) else {
                    break;
                };
                tried = Some(next);
                self.place_actor(now, next.1);
            }
        }
    }

    /// Allocates the actor to the least-loaded fitting runner and sends the start command.
    fn place_actor(&mut self, now: Instant, id: ActorId) {
        let Some(actor) = self.actors.map.get(&id) else {
            return;
        };
        let r = &actor.record;
        let Some(runner) = self.runners.place(&r.namespace, &r.runner_name) else {
            return; // waits for a runner until the start timeout
        };
        let Some(actor) = self.actors.map.get_mut(&id) else {
            return;
        };
        if actor.allocated_once && actor.record.generation != actor.durable_generation {
            // Its current generation may be on a runner without being stored (its write still
            // in flight, or failed): the next one waits until it is, else a restart could
            // count an older one as the last used and start a generation twice.
            if !std::mem::replace(&mut actor.generation_write_pending, true) {
                self.cx.metrics.starts_waiting_for_store += 1;
                self.persist_actor(id);
            }
            return;
        }
        stop_placing(&mut self.actors.placing, actor);
        actor.starting(runner, self.cx.wall_now()); // persisted below with the new generation
        if let Some(instance) = self.runners.instances.get_mut(&runner) {
            instance.actors.insert(id);
        }
        self.cx.metrics.actor_starts += 1;
        let runner_key = self
            .runners
            .instances
            .get(&runner)
            .map(|i| i.runner_key.clone())
            .unwrap_or_default();
        self.cx.notify(Notice::ActorStarting {
            actor: id,
            name: actor.record.name.clone(),
            generation: actor.record.generation,
            runner: runner_key,
        });
        let at = now.saturating_add(self.cx.config.actor_start_timeout);
        self.cx.timers.set(TimerKey::ActorStart(id), at);
        self.send_start(id, 0);
        self.persist_actor(id);
    }

    /// Sends (or re-sends) the start command at `index`; `hibernatingRequests` is computed now.
    fn send_start(&mut self, id: ActorId, index: i64) {
        let Some(actor) = self.actors.map.get(&id) else {
            return;
        };
        let r = &actor.record;
        let command = ActorCommandKind::Start {
            config: ActorConfig {
                name: r.name.clone(),
                key: r.key.clone(),
                create_ts: r.create_ts,
                input: r.input.clone(),
            },
            hibernating: self.hibernating_requests(id),
        };
        self.send_command(id, index, command);
    }

    /// Sends one command for the actor's current generation to its runner, if connected. A
    /// disconnected runner gets it on reconnect, if its effect is still unobserved.
    fn send_command(&mut self, id: ActorId, index: i64, kind: ActorCommandKind) {
        let Some(actor) = self.actors.map.get(&id) else {
            return;
        };
        let Some(conn) = actor.phase.runner().and_then(|r| self.runners.conn_of(r)) else {
            return;
        };
        let command = ActorCommand {
            checkpoint: ActorCheckpoint {
                actor_id: id.to_string(),
                generation: actor.record.generation,
                index,
            },
            kind,
        };
        self.send_runner(conn, ToRunner::Commands(vec![command]));
    }

    /// Asks the actor to stop. `intent` decides what its `Stopped` will mean.
    pub(crate) fn stop_actor(&mut self, now: Instant, id: ActorId, intent: StopIntent) {
        let Some(actor) = self.actors.map.get_mut(&id) else {
            return;
        };
        match actor.phase {
            Phase::Starting { runner, .. } | Phase::Running { runner } => {
                let index = actor.stopping(runner, intent);
                let generation = actor.record.generation;
                self.cx.notify(Notice::ActorStopping {
                    actor: id,
                    generation,
                    intent: intent.as_str(),
                });
                self.cx.timers.cancel(TimerKey::ActorStart(id));
                let at = now.saturating_add(self.cx.config.actor_stop_timeout);
                self.cx.timers.set(TimerKey::ActorStop(id), at);
                self.pause_actor_ack_timers(id);
                self.send_command(id, index, ActorCommandKind::Stop(stop_reason(Some(intent))));
            }
            Phase::Stopping { .. } => actor.stop_again(intent),
            Phase::Placing => {
                self.cx.timers.cancel(TimerKey::ActorStart(id));
                stop_placing(&mut self.actors.placing, actor);
                actor.placing_cancelled();
                let cause = StopCause::Intent(intent);
                self.fail_waiting_requests(id, cause);
                self.after_stop(now, id);
            }
            Phase::Sleeping => self.after_stop(now, id),
        }
    }

    /// `Stopped` arrived for the current generation; `ok` is the runner's `Ok` stop code (a
    /// sleep reports not ok).
    pub(crate) fn on_actor_stopped(&mut self, now: Instant, id: ActorId, ok: bool) {
        let Some(actor) = self.actors.map.get(&id) else {
            return;
        };
        let cause = match actor.intent {
            Some(intent) => StopCause::Intent(intent),
            None => {
                self.cx.metrics.actor_crashes += 1;
                StopCause::Crash
            }
        };
        let destroyed = matches!(
            (cause, ok),
            (StopCause::Intent(StopIntent::Destroy), _)
                | (StopCause::Intent(StopIntent::Stop), true)
        );
        self.cx.metrics.actor_stops += 1;
        self.cx.notify(Notice::ActorStopped {
            actor: id,
            generation: actor.record.generation,
            cause: cause.reason(),
        });
        let crash_policy = (cause == StopCause::Crash).then_some(actor.record.crash_policy);
        let ran = actor.running_seen;
        self.end_allocation(id, cause);
        if destroyed {
            self.destroy_actor(now, id);
        } else {
            self.after_unplanned_stop(now, id, crash_policy, ran);
        }
    }

    /// After a stop: a crash (or a lost runner) means what the actor's crash policy says.
    /// `restart` starts again only an actor that had run, so one crashing on every start sleeps
    /// instead of looping.
    fn after_unplanned_stop(
        &mut self,
        now: Instant,
        id: ActorId,
        policy: Option<CrashPolicy>,
        ran: bool,
    ) {
        if policy.is_some() {
            if let Some(actor) = self.actors.map.get_mut(&id) {
                actor.crashed(now, &self.cx.config);
            }
        }
        match policy {
            Some(CrashPolicy::Destroy) => {
                self.cx.metrics.actors_destroyed_by_crash_policy += 1;
                self.destroy_actor(now, id);
            }
            Some(CrashPolicy::Restart) if ran => {
                if let Some(actor) = self.actors.map.get_mut(&id) {
                    self.cx.metrics.actors_restarted_by_crash_policy += 1;
                    actor.wake_when_stopped();
                }
                self.after_stop(now, id);
            }
            Some(CrashPolicy::Restart | CrashPolicy::Sleep) | None => self.after_stop(now, id),
        }
    }

    /// The allocation ended without a `Stopped` (runner lost, timeouts).
    pub(crate) fn actor_lost(&mut self, now: Instant, id: ActorId, cause: StopCause) {
        if cause == StopCause::RunnerLost {
            // Requests held while the runner was away fail now, like those in flight.
            self.fail_waiting_requests(id, cause);
        }
        let Some(actor) = self.actors.map.get(&id) else {
            return;
        };
        let destroying = actor.intent == Some(StopIntent::Destroy);
        let crash_policy = (cause == StopCause::RunnerLost && actor.intent.is_none())
            .then_some(actor.record.crash_policy);
        let ran = actor.running_seen;
        self.end_allocation(id, cause);
        if destroying {
            self.destroy_actor(now, id);
        } else {
            self.after_unplanned_stop(now, id, crash_policy, ran);
        }
    }

    /// Detaches the actor from its runner and ends everything tied to the allocation.
    fn end_allocation(&mut self, id: ActorId, cause: StopCause) {
        let Some(actor) = self.actors.map.get_mut(&id) else {
            return;
        };
        let runner = actor.phase.runner();
        if let Some(runner) = runner {
            if let Some(instance) = self.runners.instances.get_mut(&runner) {
                instance.actors.remove(&id);
            }
        }
        stop_placing(&mut self.actors.placing, actor);
        actor.allocation_ended(cause);
        self.cx.timers.cancel(TimerKey::ActorStart(id));
        self.cx.timers.cancel(TimerKey::ActorStop(id));
        self.close_actor_clients(id, cause, runner);
    }

    /// The actor is asleep: start it again if something needs it, else arm its alarm; a freed
    /// slot may let another actor in.
    fn after_stop(&mut self, now: Instant, id: ActorId) {
        let Some(actor) = self.actors.map.get_mut(&id) else {
            return;
        };
        // Requests waiting, or client frames queued on hibernating sockets, need the actor back
        // now; un-acked messages alone never do (they are resent on the next real wake).
        let wake = actor.asleep(self.cx.wall_now());
        let alarm = actor.record.alarm_ts;
        if self.has_undelivered_hibernating(id) {
            self.wake_for_hibernating(now, id, None); // also arms the wake deadline
        } else if wake {
            self.wake_actor(now, id);
        } else if let Some(alarm_ts) = alarm {
            let at = self.cx.instant_at_wall(now, alarm_ts);
            self.cx.timers.set(TimerKey::ActorAlarm(id), at);
        }
        // Its sockets' un-acked messages may hold the budget a paused client waits for.
        self.relieve_budget(now);
        self.place_waiting_actors(now);
    }

    /// Removes the actor and its data for good.
    pub(crate) fn destroy_actor(&mut self, now: Instant, id: ActorId) {
        let cause = StopCause::Intent(StopIntent::Destroy);
        self.fail_waiting_requests(id, cause);
        self.close_all_clients(id, cause);
        self.cx.timers.cancel(TimerKey::WakeDeadline(id));
        self.cx.wake_started.remove(&id);
        self.cx.timers.cancel(TimerKey::ActorAlarm(id));
        self.cx.timers.cancel(TimerKey::ActorRestart(id));
        // Destroyed while waiting for a runner: its start deadline goes with it.
        self.cx.timers.cancel(TimerKey::ActorStart(id));
        let Some(actor) = self.actors.remove(id) else {
            return;
        };
        self.cx.metrics.actors_destroyed += 1;
        self.cx.notify(Notice::ActorDestroyed { actor: id });
        self.issue_store(
            StoreRequest::DeleteActor(id),
            Purpose::DeleteActor {
                actor: id,
                waiters: actor.destroy_waiters,
            },
        );
        self.place_waiting_actors(now);
    }

    /// Writes the actor's current registry row.
    pub(crate) fn persist_actor(&mut self, id: ActorId) {
        if let Some(actor) = self.actors.map.get(&id) {
            let record = actor.record.clone();
            let generation = record.generation;
            self.issue_store(
                StoreRequest::PutActor(Box::new(record)),
                Purpose::PutActor {
                    actor: id,
                    generation,
                },
            );
        }
    }

    /// A registry row with `generation` is durable: a placement waiting for it goes on.
    pub(crate) fn generation_stored(&mut self, now: Instant, id: ActorId, generation: u32) {
        let Some(actor) = self.actors.map.get_mut(&id) else {
            return;
        };
        if actor.generation_stored(generation) && actor.phase == Phase::Placing {
            self.place_actor(now, id);
        }
    }

    pub(crate) fn on_actor_start_timeout(&mut self, now: Instant, id: ActorId) {
        let Some(actor) = self.actors.map.get(&id) else {
            return;
        };
        let phase = actor.phase;
        match phase {
            Phase::Placing | Phase::Starting { .. } => {}
            _ => return,
        }
        self.cx.metrics.actor_start_timeouts += 1;
        if let Phase::Starting { .. } = phase {
            // The runner may still start it later; make sure that instance does not linger.
            if let Some(actor) = self.actors.map.get_mut(&id) {
                let index = actor.next_command_index();
                self.send_command(id, index, ActorCommandKind::Stop(StopReason::Sleep));
            }
        }
        self.fail_waiting_requests(id, StopCause::StartTimeout);
        self.actor_lost(now, id, StopCause::StartTimeout);
    }

    pub(crate) fn on_actor_stop_timeout(&mut self, now: Instant, id: ActorId) {
        if matches!(
            self.actors.map.get(&id).map(|a| a.phase),
            Some(Phase::Stopping { .. })
        ) {
            self.cx.metrics.actor_stop_timeouts += 1;
            self.actor_lost(now, id, StopCause::StopTimeout);
        }
    }

    /// A crash-looping actor's delay ended: start it if something needed it meanwhile.
    pub(crate) fn on_actor_restart_due(&mut self, now: Instant, id: ActorId) {
        let Some(actor) = self.actors.map.get_mut(&id) else {
            return;
        };
        if actor.phase == Phase::Sleeping && std::mem::take(&mut actor.restart_owed) {
            self.wake_actor(now, id);
        }
    }

    pub(crate) fn on_actor_alarm(&mut self, now: Instant, id: ActorId) {
        let Some(actor) = self.actors.map.get_mut(&id) else {
            return;
        };
        if actor.phase != Phase::Sleeping || actor.record.alarm_ts.is_none() {
            return;
        }
        // The alarm stays owed until a start is sent (`place_actor` clears it then), so it
        // survives a wake that finds no runner.
        self.cx.metrics.alarms_fired += 1;
        self.wake_actor(now, id);
    }

    /// After a reconnect: re-send only the commands whose effect was not observed, so a running
    /// actor is never restarted (a replayed start replaces the instance on the runner).
    pub(crate) fn replay_commands(&mut self, idx: RunnerIdx) {
        let Some(instance) = self.runners.instances.get(&idx) else {
            return;
        };
        let actors: Vec<ActorId> = instance.actors.iter().copied().collect();
        for id in actors {
            match self.actors.map.get(&id).map(|a| (a.phase, a.intent)) {
                Some((Phase::Starting { command_index, .. }, _)) => {
                    self.cx.metrics.commands_replayed += 1;
                    self.send_start(id, command_index);
                }
                Some((Phase::Stopping { command_index, .. }, intent)) => {
                    self.cx.metrics.commands_replayed += 1;
                    let stop = ActorCommandKind::Stop(stop_reason(intent));
                    self.send_command(id, command_index, stop);
                }
                _ => {}
            }
        }
    }

    /// The runner answered the ping sent after its reconnect's init, so it has resent every
    /// event it held: an actor it never reported `Running` for is not on it (its start was lost
    /// with the link), and the stop replayed for it will be ignored. Settle those stops now.
    pub(crate) fn settle_unstarted_stops(&mut self, now: Instant, idx: RunnerIdx) {
        for (id, intent) in self.unstarted_stops(idx) {
            self.cx.metrics.stops_settled_unstarted += 1;
            self.actor_lost(now, id, StopCause::Intent(intent));
        }
    }

    /// Whether a stop on `idx` waits for an actor whose `Running` was never seen.
    pub(crate) fn has_unstarted_stops(&self, idx: RunnerIdx) -> bool {
        !self.unstarted_stops(idx).is_empty()
    }

    fn unstarted_stops(&self, idx: RunnerIdx) -> Vec<(ActorId, StopIntent)> {
        let Some(instance) = self.runners.instances.get(&idx) else {
            return Vec::new();
        };
        instance
            .actors
            .iter()
            .filter_map(|id| self.actors.map.get(id))
            .filter(|a| matches!(a.phase, Phase::Stopping { .. }) && !a.running_seen)
            .map(|a| (a.record.id, a.intent.unwrap_or(StopIntent::Sleep)))
            .collect()
    }

    /// An actor from the store at startup: asleep, with its alarm armed. The previous
    /// incarnation sends a start before the row with its new generation is durable, so that
    /// generation may be in use on a runner (with events still in its history) without being
    /// stored: it counts as used, and the next start takes the one after.
    pub(crate) fn restore_actor(&mut self, now: Instant, record: ActorRecord) {
        let id = record.id;
        let alarm = record.alarm_ts;
        let mut actor = Actor::new(record, true);
        actor.record.generation = actor.record.generation.wrapping_add(1);
        self.actors.insert(actor);
        if let Some(alarm_ts) = alarm {
            let at = self.cx.instant_at_wall(now, alarm_ts);
            self.cx.timers.set(TimerKey::ActorAlarm(id), at);
        }
    }
}

/// What a stop tells the runner (v8 envoys act on it). With no intent (the gateway stopping an
/// instance it did not want, after a start timeout), the actor's state stays: a sleep.
pub(crate) fn stop_reason(intent: Option<StopIntent>) -> StopReason {
    match intent {
        None | Some(StopIntent::Sleep) => StopReason::Sleep,
        Some(StopIntent::Stop) => StopReason::Stop,
        Some(StopIntent::Destroy) => StopReason::Destroy,
        Some(StopIntent::Drain) => StopReason::GoingAway,
    }
}
