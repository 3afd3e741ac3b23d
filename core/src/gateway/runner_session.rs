//! Runner sessions: admission, handshake, liveness, reconnect and loss (the gateway's side of
//! [`crate::runner::Runners`]).

use crate::gateway::Gateway;
use crate::ids::{ActorId, RunnerConnId};
use crate::io::{Output, RunnerParams};
use crate::link::{FromRunner, Protocol, RunnerHello, ToRunner, Welcome};
use crate::notice::Notice;
use crate::runner::{RunnerConn, RunnerIdx, RunnerInstance};
use crate::time::{Instant, millis_i64};
use crate::timer::TimerKey;
use std::collections::BTreeMap;
use subtle::ConstantTimeEq as _;

/// Close reason for a connection superseded by a newer one with the same runner key. Never
/// `ws.eviction`: that reason makes the runner shut down for good.
pub(crate) const REASON_SESSION_REPLACED: &str = "torpor.session_replaced";

impl Gateway {
    pub(crate) fn handle_runner_connect(
        &mut self,
        now: Instant,
        conn: RunnerConnId,
        params: RunnerParams,
    ) {
        if let Err((status, reason)) = self.admit_runner(&params) {
            self.cx.metrics.runner_rejects += 1;
            self.cx.push(Output::RejectRunner {
                conn,
                status,
                reason,
            });
            return;
        }
        self.cx.metrics.runner_connects += 1;
        let protocol = params
            .protocol_version
            .and_then(Protocol::of_version)
            .unwrap_or(Protocol::V7); // admitted: the version is known
        self.runners.conns.insert(
            conn,
            RunnerConn {
                params,
                protocol,
                instance: None,
                last_pong: now,
                barrier: None,
            },
        );
        let at = now.saturating_add(self.cx.config.runner_init_timeout);
        self.cx.timers.set(TimerKey::RunnerInit(conn), at);
        self.cx.push(Output::AcceptRunner { conn });
    }

    fn admit_runner(&self, params: &RunnerParams) -> Result<(), (u16, String)> {
        let Some(protocol) = params.protocol_version.and_then(Protocol::of_version) else {
            let got = params
                .protocol_version
                .map_or_else(|| "none".to_owned(), |v| v.to_string());
            return Err((
                400,
                format!(
                    "unsupported protocol_version {got}: Torpor speaks runner protocol 7 and \
                     envoy protocol 8"
                ),
            ));
        };
        match (protocol, params.pool_name.as_deref()) {
            (Protocol::V8, None | Some("")) => {
                return Err((400, "missing pool_name".to_owned()));
            }
            (Protocol::V7, Some(_)) => {
                return Err((
                    400,
                    "pool_name is an envoy parameter (protocol 8): a v7 runner names its pool \
                     in its init"
                        .to_owned(),
                ));
            }
            _ => {}
        }
        if !self.namespaces.contains_key(&params.namespace) {
            return Err((404, format!("unknown namespace {:?}", params.namespace)));
        }
        if params.runner_key.is_empty() {
            return Err((400, "missing runner_key".to_owned()));
        }
        if let Some(expected) = &self.cx.config.runner_token {
            match &params.token {
                None => return Err((401, "runner token required".to_owned())),
                // Constant-time: the time a wrong guess takes says nothing of how much was right.
                Some(t) if !bool::from(t.as_bytes().ct_eq(expected.as_bytes())) => {
                    return Err((403, "invalid runner token".to_owned()));
                }
                Some(_) => {}
            }
        }
        if self.runners.conns.len() >= self.cx.config.max_runners {
            return Err((503, "too many runner connections".to_owned()));
        }
        Ok(())
    }

    pub(crate) fn handle_runner_text(&mut self, conn: RunnerConnId) {
        if self.runners.conns.contains_key(&conn) {
            self.cx.metrics.runner_text_frames += 1;
        }
    }

    pub(crate) fn handle_runner_bytes(&mut self, now: Instant, conn: RunnerConnId, bytes: &[u8]) {
        let Some(runner) = self.runners.conns.get(&conn) else {
            return; // closed a moment ago: a race, not misuse
        };
        let bound = runner.instance;
        let frame = match runner.protocol.decode(bytes, self.cx.config.decode_limits) {
            Ok(frame) => frame,
            Err(err) => {
                self.cx.metrics.runner_decode_errors += 1;
                let reason = format!("torpor.malformed_frame: {err}");
                self.drop_runner_conn(now, conn, err.close_code(), &reason);
                return;
            }
        };
        let Some(idx) = bound else {
            match frame {
                FromRunner::Hello(hello) => self.handle_runner_init(now, conn, hello),
                _ => self.drop_runner_conn(now, conn, 1002, "ws.invalid_initial_packet"),
            }
            return;
        };
        match frame {
            FromRunner::Hello(_) => {} // later inits on a connection are ignored (reference too)
            FromRunner::ActorEvents(events) => self.handle_events(now, conn, idx, events),
            FromRunner::CommandsSeen(seen) => self.handle_ack_commands(conn, idx, seen),
            FromRunner::Stopping => self.handle_runner_stopping(now, idx),
            FromRunner::Pong { ts } => {
                let mut past_barrier = false;
                if let Some(r) = self.runners.conns.get_mut(&conn) {
                    r.last_pong = now;
                    past_barrier = r.barrier.is_some_and(|barrier| ts >= barrier);
                    if past_barrier {
                        r.barrier = None;
                    }
                }
                if past_barrier {
                    self.settle_unstarted_stops(now, idx);
                }
                let due = now.saturating_add(self.cx.config.runner_pong_timeout);
                self.cx.timers.set(TimerKey::RunnerPongDue(conn), due);
            }
            FromRunner::Kv(call) => self.handle_kv_request(idx, call),
            FromRunner::Pages(call) => self.handle_pages_call(idx, call),
            FromRunner::Tunnel(id, msg) => self.handle_tunnel_message(now, idx, id, msg),
            FromRunner::Unserved(refusal) => {
                self.cx.metrics.runner_calls_refused += 1;
                self.cx.push(Output::SendRunner {
                    conn,
                    bytes: refusal,
                });
            }
        }
    }

    fn handle_runner_init(&mut self, now: Instant, conn: RunnerConnId, hello: RunnerHello) {
        let Some(params) = self.runners.conns.get(&conn).map(|c| c.params.clone()) else {
            return;
        };
        self.cx.timers.cancel(TimerKey::RunnerInit(conn));
        let Some(protocol) = self.runners.protocol_of_conn(conn) else {
            return;
        };
        let name = hello
            .name
            .clone()
            .or_else(|| params.pool_name.clone())
            .unwrap_or_default();
        if let Some(pool) = self
            .runners
            .pool_protocol(&params.namespace, &name)
            .filter(|pool| *pool != protocol)
        {
            // A pool speaks one protocol: an actor never moves between protocols, so the
            // encoded frames it has not seen acked stay valid for whichever runner gets it.
            self.cx.metrics.runner_rejects += 1;
            let reason = format!(
                "torpor.pool_protocol_mismatch: pool {name:?} is served by protocol {} runners",
                pool.version()
            );
            self.drop_runner_conn(now, conn, 1008, &reason);
            return;
        }
        let key = (params.namespace.clone(), params.runner_key.clone());
        let resumed = self.runners.by_key.contains_key(&key);
        let idx = match self.runners.by_key.get(&key).copied() {
            Some(idx) => {
                self.rebind_instance(idx, conn);
                idx
            }
            None => {
                let idx = self.runners.next_idx();
                let runner_id = ActorId::mint(&mut self.cx.rng).to_string();
                self.runners.instances.insert(
                    idx,
                    RunnerInstance {
                        runner_id,
                        namespace: params.namespace,
                        runner_key: params.runner_key,
                        protocol,
                        name: String::new(),
                        total_slots: 0,
                        actor_names: BTreeMap::new(),
                        conn: Some(conn),
                        draining: false,
                        actors: Default::default(),
                        outbox: Default::default(),
                    },
                );
                self.runners.by_key.insert(key, idx);
                idx
            }
        };
        let Some(instance) = self.runners.instances.get_mut(&idx) else {
            return;
        };
        instance.name = name;
        // An envoy declares no capacity: as many actors as its pool sends it.
        instance.total_slots = hello.total_slots.unwrap_or(u32::MAX);
        if let Some(names) = hello.actor_names {
            instance.actor_names = names;
        }
        let runner_id = instance.runner_id.clone();
        self.cx.notify(Notice::RunnerIdentified {
            conn,
            namespace: instance.namespace.clone(),
            name: instance.name.clone(),
            key: instance.runner_key.clone(),
            protocol: instance.protocol.version(),
            resumed,
        });
        if let Some(c) = self.runners.conns.get_mut(&conn) {
            c.instance = Some(idx);
            c.last_pong = now;
        }
        let welcome = Welcome {
            runner_id,
            runner_lost_threshold_ms: millis_i64(self.cx.config.runner_lost_threshold),
            actor_stop_threshold_ms: millis_i64(self.cx.config.actor_stop_timeout),
            max_response_payload_bytes: self.cx.config.max_forward_message_bytes as u64,
        };
        self.send_runner(conn, ToRunner::Welcome(welcome));
        let at = now.saturating_add(self.cx.config.runner_ping_interval);
        self.cx.timers.set(TimerKey::RunnerPing(conn), at);
        let due = now.saturating_add(self.cx.config.runner_pong_timeout);
        self.cx.timers.set(TimerKey::RunnerPongDue(conn), due);
        self.replay_commands(idx);
        self.resend_unacked(idx);
        self.flush_runner_outbox(idx, conn);
        if resumed && self.has_unstarted_stops(idx) {
            let ts = i64::try_from(now.as_millis()).unwrap_or(i64::MAX);
            self.send_runner(conn, ToRunner::Ping { ts });
            if let Some(c) = self.runners.conns.get_mut(&conn) {
                c.barrier = Some(ts);
            }
        }
        self.restart_ack_timers(now, idx);
        self.resume_held_requests(now, idx);
        self.place_waiting_actors(now);
    }

    /// Binds an existing instance to a new connection (reconnect, or a duplicate session).
    fn rebind_instance(&mut self, idx: RunnerIdx, conn: RunnerConnId) {
        let Some(instance) = self.runners.instances.get_mut(&idx) else {
            return;
        };
        match instance.conn.take() {
            Some(old) if old != conn => {
                // The runner saw its link die before we did: the old link's losses are the
                // same as on a close (requests in flight fail; their aborts wait in the
                // outbox, flushed on this connection after the init).
                self.cx.metrics.runner_sessions_replaced += 1;
                self.cx.notify(Notice::RunnerReplaced {
                    old,
                    new: conn,
                    key: instance.runner_key.clone(),
                });
                self.forget_runner_conn(old);
                self.cx.close_runner(old, 1000, REASON_SESSION_REPLACED);
                self.fail_in_flight(idx);
            }
            Some(_) => {}
            None => {
                self.cx.metrics.runner_reconnects += 1;
                self.cx.timers.cancel(TimerKey::RunnerLost(idx));
            }
        }
        if let Some(instance) = self.runners.instances.get_mut(&idx) {
            instance.conn = Some(conn);
        }
    }

    /// Sends what was held while the runner was away, in order, and lets paused clients go on.
    fn flush_runner_outbox(&mut self, idx: RunnerIdx, conn: RunnerConnId) {
        let Some(instance) = self.runners.instances.get_mut(&idx) else {
            return;
        };
        let held = std::mem::take(&mut instance.outbox);
        for bytes in held {
            self.cx.push(Output::SendRunner { conn, bytes });
        }
    }

    pub(crate) fn handle_runner_closed(&mut self, now: Instant, conn: RunnerConnId) {
        let Some(instance) = self.forget_runner_conn(conn) else {
            return;
        };
        let owned = self
            .runners
            .instances
            .get_mut(&instance)
            .filter(|i| i.conn == Some(conn));
        if let Some(i) = owned {
            i.conn = None;
            self.cx.notify(Notice::RunnerDisconnected {
                conn,
                namespace: i.namespace.clone(),
                key: i.runner_key.clone(),
            });
            let at = now.saturating_add(self.cx.config.runner_lost_threshold);
            self.cx.timers.set(TimerKey::RunnerLost(instance), at);
            self.pause_ack_timers(instance);
            self.fail_in_flight(instance);
        }
    }

    /// Closes a connection from our side and treats it as gone.
    pub(crate) fn drop_runner_conn(
        &mut self,
        now: Instant,
        conn: RunnerConnId,
        code: u16,
        reason: &str,
    ) {
        self.cx.close_runner(conn, code, reason);
        self.handle_runner_closed(now, conn);
    }

    /// Removes a connection and its timers; returns the instance it was bound to.
    fn forget_runner_conn(&mut self, conn: RunnerConnId) -> Option<RunnerIdx> {
        let removed = self.runners.conns.remove(&conn)?;
        self.cx.timers.cancel(TimerKey::RunnerInit(conn));
        self.cx.timers.cancel(TimerKey::RunnerPing(conn));
        self.cx.timers.cancel(TimerKey::RunnerPongDue(conn));
        removed.instance
    }

    pub(crate) fn on_runner_init_timeout(&mut self, now: Instant, conn: RunnerConnId) {
        if self.runners.instance_of(conn).is_none() && self.runners.conns.contains_key(&conn) {
            self.cx.metrics.runner_init_timeouts += 1;
            self.drop_runner_conn(now, conn, 1008, "ws.timed_out_waiting_for_init");
        }
    }

    pub(crate) fn on_runner_ping(&mut self, now: Instant, conn: RunnerConnId) {
        if !self.runners.conns.contains_key(&conn) {
            return;
        }
        // The runner echoes `ts` verbatim; the monotonic clock keeps RTTs immune to wall jumps.
        let ts = i64::try_from(now.as_millis()).unwrap_or(i64::MAX);
        self.send_runner(conn, ToRunner::Ping { ts });
        // Up to 127 ms of jitter, as the reference, so many runners' pings do not align.
        let jitter = std::time::Duration::from_millis(self.cx.rng.u64(0..128));
        let at = now.saturating_add(self.cx.config.runner_ping_interval + jitter);
        self.cx.timers.set(TimerKey::RunnerPing(conn), at);
    }

    /// No pong for `runner_pong_timeout`: the connection is dead even if TCP has not noticed.
    pub(crate) fn on_runner_pong_due(&mut self, now: Instant, conn: RunnerConnId) {
        if self.runners.conns.contains_key(&conn) {
            self.cx.metrics.runner_ping_timeouts += 1;
            self.drop_runner_conn(now, conn, 1011, "torpor.runner_ping_timeout");
        }
    }

    /// The instance stayed disconnected past the threshold: its actors are gone.
    pub(crate) fn on_runner_lost(&mut self, now: Instant, idx: RunnerIdx) {
        let Some(instance) = self.runners.instances.get(&idx) else {
            return;
        };
        if instance.conn.is_some() {
            return;
        }
        self.cx.metrics.runners_lost += 1;
        let actors: Vec<ActorId> = instance.actors.iter().copied().collect();
        self.cx.notify(Notice::RunnerLost {
            namespace: instance.namespace.clone(),
            key: instance.runner_key.clone(),
            actors: actors.len(),
        });
        let key = (instance.namespace.clone(), instance.runner_key.clone());
        self.runners.instances.remove(&idx);
        self.runners.by_key.remove(&key);
        for actor in actors {
            self.actor_lost(now, actor, crate::actor::StopCause::RunnerLost);
        }
        self.place_waiting_actors(now);
    }

    fn handle_runner_stopping(&mut self, now: Instant, idx: RunnerIdx) {
        let Some(instance) = self.runners.instances.get_mut(&idx) else {
            return;
        };
        instance.draining = true;
        let actors: Vec<ActorId> = instance.actors.iter().copied().collect();
        for actor in actors {
            self.stop_actor(now, actor, crate::actor::StopIntent::Drain);
        }
    }
}
