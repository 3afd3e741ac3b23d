//! Internal consistency checks, run by the test driver after every step (and by the simulator).

use crate::actor::Phase;
use crate::gateway::Gateway;
use crate::timer::TimerKey;
use crate::tunnel::{Client, ClientKind, WsPhase};

impl Gateway {
    /// Checks that every index agrees with the state it indexes and that every armed timer
    /// belongs to a live object. Returns the first violation.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.check_clients()?;
        self.check_actors()?;
        self.check_timers()
    }

    /// The client's actor runs on a connected runner: only then can acks arrive.
    fn attached_to_a_connected_runner(&self, client: &Client) -> bool {
        self.actors.map.get(&client.actor).is_some_and(|a| {
            matches!(a.phase, Phase::Running { runner } if self.runners.conn_of(runner).is_some())
        })
    }

    fn check_clients(&self) -> Result<(), String> {
        let mut held = 0;
        for (id, c) in &self.clients.map {
            if let ClientKind::WebSocket(ws) = &c.kind {
                let timer = self.cx.timers.deadline_of(TimerKey::AckTimeout(*id));
                if ws.ack_armed != timer.is_some() {
                    return Err(format!(
                        "{id}: ack_armed={} but timer {timer:?}",
                        ws.ack_armed
                    ));
                }
                // Liveness: un-acked messages on an attached socket always have a deadline, and
                // it is never later than the timeout after the last send.
                let awaiting = ws.phase == WsPhase::Open
                    && !ws.pending.is_empty()
                    && self.attached_to_a_connected_runner(c);
                let limit = ws.last_send.saturating_add(self.cx.config.ack_timeout);
                if awaiting && timer.is_none_or(|at| at > limit) {
                    return Err(format!(
                        "{id} awaits acks with ack deadline {timer:?}, after {limit:?}"
                    ));
                }
                held += ws.queued_bytes + ws.pending.bytes();
                let queued: usize = ws.queued.iter().map(|f| f.len()).sum();
                if queued != ws.queued_bytes {
                    return Err(format!("queued bytes {} != {queued}", ws.queued_bytes));
                }
                if ws.pending.len() > self.cx.config.socket_window_messages {
                    return Err(format!(
                        "{} un-acked messages exceed the window",
                        ws.pending.len()
                    ));
                }
                if !ws.can_hibernate && !ws.pending.is_empty() {
                    return Err("a non-hibernatable socket keeps un-acked messages".into());
                }
            }
        }
        if held != self.cx.held_bytes {
            return Err(format!(
                "held bytes {} != sum over sockets {held}",
                self.cx.held_bytes
            ));
        }
        if self.clients.requests.len() != self.clients.map.len() {
            return Err(format!(
                "{} routes for {} clients",
                self.clients.requests.len(),
                self.clients.map.len()
            ));
        }
        for (id, c) in &self.clients.map {
            if self.clients.requests.get(&c.request_id) != Some(id) {
                return Err(format!("{id} is not routed by its request id"));
            }
            let Some(actor) = self.actors.map.get(&c.actor) else {
                return Err(format!("{id} belongs to a missing actor"));
            };
            let active = actor.clients.contains(id);
            let waiting = actor.waiting.contains(id);
            if active == waiting {
                return Err(format!("{id}: active={active} waiting={waiting}"));
            }
        }
        Ok(())
    }

    fn check_actors(&self) -> Result<(), String> {
        let placing: std::collections::BTreeSet<(crate::time::Instant, crate::ids::ActorId)> = self
            .actors
            .map
            .iter()
            .filter(|(_, a)| a.phase == Phase::Placing)
            .map(|(id, a)| (a.placing_since.unwrap_or_default(), *id))
            .collect();
        if placing != self.actors.placing.all() {
            return Err(format!(
                "the placing index {:?} != actors waiting for a runner {placing:?}",
                self.actors.placing.all()
            ));
        }
        for (id, a) in &self.actors.map {
            for c in a.clients.iter().chain(&a.waiting) {
                if !self.clients.map.contains_key(c) {
                    return Err(format!("{id} lists missing {c}"));
                }
            }
            if let Some(r) = a.phase.runner() {
                let hosted = self
                    .runners
                    .instances
                    .get(&r)
                    .is_some_and(|i| i.actors.contains(id));
                if !hosted {
                    return Err(format!("{id} is {:?} but {r:?} does not list it", a.phase));
                }
            }
            let allocated = matches!(a.phase, Phase::Running { .. } | Phase::Stopping { .. });
            let mut hibernatable = 0;
            for c in &a.clients {
                let Some(client) = self.clients.map.get(c) else {
                    continue;
                };
                let ws = match &client.kind {
                    ClientKind::WebSocket(ws) => Some(ws),
                    ClientKind::Http(_) => None,
                };
                if ws.is_some_and(|ws| ws.can_hibernate) {
                    hibernatable += 1;
                }
                let hibernating = ws.is_some_and(|ws| ws.phase == WsPhase::Hibernating);
                if hibernating && matches!(a.phase, Phase::Running { .. }) {
                    return Err(format!("{c} hibernates while {id} runs"));
                }
                if !hibernating && !allocated {
                    return Err(format!("{id} has attached {c} while {:?}", a.phase));
                }
            }
            if hibernatable != a.hibernatable {
                return Err(format!(
                    "{id} counts {} hibernatable sockets, has {hibernatable}",
                    a.hibernatable
                ));
            }
        }
        for (idx, i) in &self.runners.instances {
            for id in &i.actors {
                let here = self.actors.map.get(id).and_then(|a| a.phase.runner());
                if here != Some(*idx) {
                    return Err(format!("{idx:?} lists {id}, allocated to {here:?}"));
                }
            }
            if let Some(conn) = i.conn {
                if self.runners.conns.get(&conn).and_then(|c| c.instance) != Some(*idx) {
                    return Err(format!("{idx:?} bound to {conn}, which is not bound back"));
                }
            }
        }
        Ok(())
    }

    fn check_timers(&self) -> Result<(), String> {
        for key in self.cx.timers.keys() {
            let live =
                match key {
                    TimerKey::RunnerInit(c)
                    | TimerKey::RunnerPing(c)
                    | TimerKey::RunnerPongDue(c) => self.runners.conns.contains_key(&c),
                    TimerKey::RunnerLost(i) => self
                        .runners
                        .instances
                        .get(&i)
                        .is_some_and(|i| i.conn.is_none()),
                    TimerKey::ActorStart(a) => self.actors.map.get(&a).is_some_and(|a| {
                        matches!(a.phase, Phase::Placing | Phase::Starting { .. })
                    }),
                    TimerKey::ActorStop(a) => self
                        .actors
                        .map
                        .get(&a)
                        .is_some_and(|a| matches!(a.phase, Phase::Stopping { .. })),
                    TimerKey::ActorAlarm(a) => {
                        self.actors.map.get(&a).is_some_and(|a| {
                            a.phase == Phase::Sleeping && a.record.alarm_ts.is_some()
                        })
                    }
                    TimerKey::ActorRestart(a) => self
                        .actors
                        .map
                        .get(&a)
                        .is_some_and(|a| a.phase == Phase::Sleeping && a.restart_owed),
                    TimerKey::WebSocketOpen(c) | TimerKey::HttpResponse(c) => {
                        self.clients.map.contains_key(&c)
                    }
                    TimerKey::StoreRetry(op) => self.ops.contains_key(&op),
                    TimerKey::AckTimeout(c) => self.clients.map.get(&c).is_some_and(|client| {
                        matches!(&client.kind, ClientKind::WebSocket(ws)
                            if ws.phase == WsPhase::Open && ws.ack_armed)
                            && self.attached_to_a_connected_runner(client)
                    }),
                    TimerKey::WakeDeadline(a) => self
                        .actors
                        .map
                        .get(&a)
                        .is_some_and(|a| !matches!(a.phase, Phase::Running { .. })),
                    // Runs out on its own: a tick with no rows does not re-arm it.
                    TimerKey::LeaseRenewal => true,
                };
            if !live {
                return Err(format!("timer {key:?} outlived its object"));
            }
        }
        Ok(())
    }
}
