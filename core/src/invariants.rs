//! Internal consistency checks, run by the test driver after every step (and by the simulator).

use crate::actor::Phase;
use crate::gateway::Gateway;
use crate::timer::TimerKey;

impl Gateway {
    /// Checks that every index agrees with the state it indexes and that every armed timer
    /// belongs to a live object. Returns the first violation.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.check_clients()?;
        self.check_actors()?;
        self.check_timers()
    }

    fn check_clients(&self) -> Result<(), String> {
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
            if !a.clients.is_empty()
                && !matches!(a.phase, Phase::Running { .. } | Phase::Stopping { .. })
            {
                return Err(format!("{id} has active clients while {:?}", a.phase));
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
                    TimerKey::RunnerInit(c) | TimerKey::RunnerPing(c) => {
                        self.runners.conns.contains_key(&c)
                    }
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
                    TimerKey::WebSocketOpen(c) | TimerKey::HttpResponse(c) => {
                        self.clients.map.contains_key(&c)
                    }
                    TimerKey::StoreRetry(op) => self.ops.contains_key(&op),
                };
            if !live {
                return Err(format!("timer {key:?} outlived its object"));
            }
        }
        Ok(())
    }
}
