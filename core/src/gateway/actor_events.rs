//! Actor events from the runner: state changes, intents and alarms, applied in checkpoint order.

use crate::actor::StopIntent;
use crate::gateway::Gateway;
use crate::ids::{ActorId, RunnerConnId};
use crate::link::{
    ActorCommand, ActorCommandKind, ActorEvent, ActorEventKind, StopReason, ToRunner,
};
use crate::notice::Notice;
use crate::runner::RunnerIdx;
use crate::time::Instant;
use crate::timer::TimerKey;
use std::collections::BTreeMap;
use torpor_protocol::shared::ActorCheckpoint;

impl Gateway {
    /// Applies a batch of events, then acknowledges the last processed index of every actor in
    /// it, so the runner can trim its event history.
    pub(crate) fn handle_events(
        &mut self,
        now: Instant,
        conn: RunnerConnId,
        runner: RunnerIdx,
        events: Vec<ActorEvent>,
    ) {
        let mut acks: BTreeMap<String, ActorCheckpoint> = BTreeMap::new();
        for ActorEvent { checkpoint, kind } in events {
            let Some(id) = self.current_instance(runner, &checkpoint) else {
                self.cx.metrics.events_stale += 1;
                if kind == ActorEventKind::Running {
                    self.stop_stray_instance(conn, &checkpoint);
                }
                continue;
            };
            let Some(actor) = self.actors.map.get_mut(&id) else {
                continue;
            };
            if actor.event_seen(checkpoint.index) {
                self.apply_event(now, id, kind);
            } else {
                self.cx.metrics.events_duplicate += 1;
            }
            acks.insert(checkpoint.actor_id.clone(), checkpoint);
        }
        if !acks.is_empty() {
            let seen = ToRunner::EventsSeen(acks.into_values().collect());
            self.send_runner(conn, seen);
        }
    }

    /// The actor the checkpoint names, if its current generation is allocated to `runner`.
    fn current_instance(&self, runner: RunnerIdx, checkpoint: &ActorCheckpoint) -> Option<ActorId> {
        let id = ActorId::parse(&checkpoint.actor_id)?;
        let actor = self.actors.map.get(&id)?;
        let current = actor.phase.runner() == Some(runner)
            && actor.record.generation == checkpoint.generation;
        current.then_some(id)
    }

    fn apply_event(&mut self, now: Instant, id: ActorId, event: ActorEventKind) {
        match event {
            ActorEventKind::Running => self.on_actor_running(now, id),
            ActorEventKind::Stopped { ok } => self.on_actor_stopped(now, id, ok),
            ActorEventKind::WantsSleep => self.stop_actor(now, id, StopIntent::Sleep),
            ActorEventKind::WantsStop => self.stop_actor(now, id, StopIntent::Stop),
            ActorEventKind::SetAlarm(alarm_ts) => {
                if let Some(actor) = self.actors.map.get_mut(&id) {
                    actor.record.alarm_ts = alarm_ts;
                    self.persist_actor(id);
                }
            }
        }
    }

    fn on_actor_running(&mut self, now: Instant, id: ActorId) {
        let Some(actor) = self.actors.map.get_mut(&id) else {
            return;
        };
        if actor.running(self.cx.wall_now()) {
            self.cx.timers.cancel(TimerKey::ActorStart(id));
            self.cx.metrics.actor_running += 1;
            let generation = actor.record.generation;
            self.cx.notify(Notice::ActorRunning {
                actor: id,
                generation,
            });
            self.resume_hibernating(now, id);
            self.flush_waiting_requests(now, id);
        }
    }

    /// The runner reports starts it processed. A start for an instance we do not consider
    /// allocated there (e.g. from before a gateway restart) is a stray: stop it.
    pub(crate) fn handle_ack_commands(
        &mut self,
        conn: RunnerConnId,
        runner: RunnerIdx,
        seen: Vec<ActorCheckpoint>,
    ) {
        for checkpoint in seen {
            if self.current_instance(runner, &checkpoint).is_none() {
                self.stop_stray_instance(conn, &checkpoint);
            }
        }
    }

    /// Tells the runner to stop an actor instance the gateway does not own. The runner matches
    /// stops by (actor, generation), so this cannot touch a current instance.
    fn stop_stray_instance(&mut self, conn: RunnerConnId, checkpoint: &ActorCheckpoint) {
        self.cx.metrics.stray_actors_stopped += 1;
        let stop = ActorCommand {
            checkpoint: ActorCheckpoint {
                actor_id: checkpoint.actor_id.clone(),
                generation: checkpoint.generation,
                index: checkpoint.index.saturating_add(1),
            },
            // Not the gateway's instance: it goes, and whatever state it kept stays.
            kind: ActorCommandKind::Stop(StopReason::Sleep),
        };
        self.send_runner(conn, ToRunner::Commands(vec![stop]));
    }
}
