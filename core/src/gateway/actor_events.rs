//! Actor events from the runner: state changes, intents and alarms, applied in checkpoint order.

use crate::actor::{Phase, StopIntent};
use crate::gateway::Gateway;
use crate::ids::{ActorId, RunnerConnId};
use crate::protocol::{
    ActorCheckpoint, ActorIntent, ActorState, Command, CommandWrapper, Event, EventWrapper,
    ToClient, ToClientAckEvents, ToServerAckCommands,
};
use crate::runner::RunnerIdx;
use crate::time::Instant;
use crate::timer::TimerKey;
use std::collections::BTreeMap;

impl Gateway {
    /// Applies a batch of events, then acknowledges the last processed index of every actor in
    /// it, so the runner can trim its event history.
    pub(crate) fn handle_events(
        &mut self,
        now: Instant,
        conn: RunnerConnId,
        runner: RunnerIdx,
        events: Vec<EventWrapper>,
    ) {
        let mut acks: BTreeMap<String, ActorCheckpoint> = BTreeMap::new();
        for EventWrapper { checkpoint, inner } in events {
            let Some(id) = self.current_instance(runner, &checkpoint) else {
                self.cx.metrics.events_stale += 1;
                if matches!(
                    inner,
                    Event::ActorStateUpdate(ref u) if u.state == ActorState::Running
                ) {
                    self.stop_stray_instance(conn, &checkpoint);
                }
                continue;
            };
            let Some(actor) = self.actors.map.get_mut(&id) else {
                continue;
            };
            if checkpoint.index <= actor.last_event_index {
                self.cx.metrics.events_duplicate += 1;
            } else {
                actor.last_event_index = checkpoint.index;
                self.apply_event(now, id, inner);
            }
            acks.insert(checkpoint.actor_id.clone(), checkpoint);
        }
        if !acks.is_empty() {
            let ack = ToClientAckEvents {
                last_event_checkpoints: acks.into_values().collect(),
            };
            self.cx.send_runner(conn, &ToClient::AckEvents(ack));
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

    fn apply_event(&mut self, now: Instant, id: ActorId, event: Event) {
        match event {
            Event::ActorStateUpdate(update) => match update.state {
                ActorState::Running => self.on_actor_running(now, id),
                ActorState::Stopped(stopped) => self.on_actor_stopped(now, id, stopped.code),
            },
            Event::ActorIntent(intent) => {
                let intent = match intent.intent {
                    ActorIntent::Sleep => StopIntent::Sleep,
                    ActorIntent::Stop => StopIntent::Stop,
                };
                self.stop_actor(now, id, intent);
            }
            Event::ActorSetAlarm(alarm) => {
                if let Some(actor) = self.actors.map.get_mut(&id) {
                    actor.record.alarm_ts = alarm.alarm_ts;
                    self.persist_actor(id);
                }
            }
        }
    }

    fn on_actor_running(&mut self, now: Instant, id: ActorId) {
        let Some(actor) = self.actors.map.get_mut(&id) else {
            return;
        };
        actor.running_seen = true;
        actor.close_wake_owed = false;
        actor.close_wake_start_timeouts = 0;
        let wall = self.cx.wall_now();
        actor.times.running_since = Some(wall);
        actor.times.first_running.get_or_insert(wall);
        if let Phase::Starting { runner, .. } = actor.phase {
            actor.phase = Phase::Running { runner };
            self.cx.timers.cancel(TimerKey::ActorStart(id));
            self.cx.metrics.actor_running += 1;
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
        ack: ToServerAckCommands,
    ) {
        for checkpoint in ack.last_command_checkpoints {
            if self.current_instance(runner, &checkpoint).is_none() {
                self.stop_stray_instance(conn, &checkpoint);
            }
        }
    }

    /// Tells the runner to stop an actor instance the gateway does not own. The runner matches
    /// stops by (actor, generation), so this cannot touch a current instance.
    fn stop_stray_instance(&mut self, conn: RunnerConnId, checkpoint: &ActorCheckpoint) {
        self.cx.metrics.stray_actors_stopped += 1;
        let wrapper = CommandWrapper {
            checkpoint: ActorCheckpoint {
                actor_id: checkpoint.actor_id.clone(),
                generation: checkpoint.generation,
                index: checkpoint.index.saturating_add(1),
            },
            inner: Command::StopActor,
        };
        self.cx
            .send_runner(conn, &ToClient::Commands(vec![wrapper]));
    }
}
