//! Hibernation: sockets detach when their actor stops, resume when it runs again, and their
//! un-acked messages are resent on every re-attach or reconnect.

use super::websocket::ws_of;
use crate::actor::Phase;
use crate::gateway::Gateway;
use crate::hibernation::CloseAfterRunning;
use crate::ids::{ActorId, ClientId};
use crate::io::{CloseFrame, Output};
use crate::link::{TunnelToActor, WebSocketClose};
use crate::notice::Notice;
use crate::runner::RunnerIdx;
use crate::time::Instant;
use crate::timer::TimerKey;
use crate::tunnel::{ClientKind, WsPhase, stop_ack_clocks, tunnel_frame};
use bytes::Bytes;

impl Gateway {
    /// The socket's actor stopped: detach it, keeping everything. A socket whose client
    /// already closed ends here instead if nothing of it is left to deliver (its close could
    /// not be sent while the runner was away), as a client close while hibernating does.
    pub(crate) fn hibernate_socket(&mut self, client: ClientId) {
        let finished =
            ws_of(self, client).is_some_and(|ws| ws.closing.is_some() && !ws.undelivered());
        if finished {
            self.cx.metrics.ws_closed_while_hibernating += 1;
            if let Some(c) = self.remove_client(client) {
                if self.cx.config.wake_on_close {
                    if let Some(a) = self.actors.map.get_mut(&c.actor) {
                        self.cx.metrics.wakes_for_close += 1;
                        a.wake_after_stop = true; // `after_stop` follows every allocation end
                        a.owe_close_wake();
                    }
                }
            }
            return;
        }
        if let Some(ws) = self.clients.ws_mut(client) {
            if !ws.hibernate() {
                return;
            }
            ws.ack_clock_stop(client, &mut self.cx); // it only runs while attached
            self.cx.metrics.ws_hibernated += 1;
            if let Some(c) = self.clients.map.get(&client) {
                self.cx.notify(Notice::SocketHibernated {
                    client,
                    actor: c.actor,
                    request: c.request_id,
                });
            }
        }
    }

    /// A client frame arrived for a hibernating socket: make sure its actor comes back, within
    /// the wake deadline. `by` names the socket whose frame or close asks for it (for the
    /// logs), if one does.
    pub(crate) fn wake_for_hibernating(
        &mut self,
        now: Instant,
        actor: ActorId,
        by: Option<(ClientId, &'static str)>,
    ) {
        let Some(a) = self.actors.map.get(&actor) else {
            return;
        };
        if matches!(a.phase, Phase::Running { .. }) {
            return;
        }
        let key = TimerKey::WakeDeadline(actor);
        if self.cx.timers.deadline_of(key).is_none() {
            self.cx.metrics.wakes_for_hibernation += 1;
            let (client, cause) = match by {
                Some((client, cause)) => (Some(client), cause),
                None => (None, "frames held for hibernating sockets"),
            };
            let request = client.and_then(|c| self.clients.map.get(&c).map(|c| c.request_id));
            self.cx.notify(Notice::ActorWaking {
                actor,
                cause,
                socket: client.zip(request),
            });
            self.cx.wake_started.insert(actor, now);
            let at = now.saturating_add(self.cx.config.wake_deadline);
            self.cx.timers.set(key, at);
        }
        self.wake_actor(now, actor);
    }

    /// The budget is exhausted and clients wait for it. Un-acked messages of hibernating sockets
    /// hold budget only their actor's acks can free, and an actor asleep sends none: with every
    /// client paused, no frame would ever come to wake it, so budget pressure wakes it (the
    /// resend on that wake is acked and frees the budget). Un-acked messages alone still never
    /// wake an actor (guarantee 5).
    pub(crate) fn relieve_budget(&mut self, now: Instant) {
        if self.cx.held_bytes <= self.cx.config.pending_budget_bytes
            || self.cx.budget_paused.is_empty()
        {
            return;
        }
        let holders: Vec<ActorId> = self
            .actors
            .map
            .values()
            .filter(|a| a.phase == Phase::Sleeping)
            .filter(|a| {
                a.clients.iter().any(|c| {
                    matches!(
                        self.clients.map.get(c).map(|c| &c.kind),
                        Some(ClientKind::WebSocket(ws))
                            if ws.phase == WsPhase::Hibernating && !ws.pending.is_empty()
                    )
                })
            })
            .map(|a| a.record.id)
            .collect();
        for actor in holders {
            self.cx.metrics.wakes_for_budget += 1;
            self.wake_for_hibernating(now, actor, None);
        }
    }

    /// Whether hibernating sockets of the actor have frames waiting to be delivered: queued
    /// frames, or un-acked ones of a socket whose client closed (no later wake would deliver
    /// them).
    pub(crate) fn has_undelivered_hibernating(&self, actor: ActorId) -> bool {
        let Some(a) = self.actors.map.get(&actor) else {
            return false;
        };
        a.clients.iter().any(|c| {
            matches!(
                self.clients.map.get(c).map(|c| &c.kind),
                Some(ClientKind::WebSocket(ws)) if ws.phase == WsPhase::Hibernating
                    && (!ws.queued.is_empty() || (ws.closing.is_some() && ws.undelivered()))
            )
        })
    }

    /// The actor is running again: re-attach its hibernating sockets, resend what was never
    /// acked (original indices and bytes), then send what queued meanwhile.
    pub(crate) fn resume_hibernating(&mut self, now: Instant, actor: ActorId) {
        self.cx.timers.cancel(TimerKey::WakeDeadline(actor));
        if let Some(started) = self.cx.wake_started.remove(&actor) {
            self.cx.metrics.wakes_completed += 1;
            let latency = now.saturating_since(started).as_millis() as u64;
            self.cx.histograms.wake_latency_ms.observe(latency);
        }
        let Some(a) = self.actors.map.get_mut(&actor) else {
            return;
        };
        let closes = std::mem::take(&mut a.close_after_running);
        let clients: Vec<ClientId> = a.clients.iter().copied().collect();
        let Some(runner) = a.phase.runner() else {
            return;
        };
        for close in closes {
            self.send_or_hold_bytes(runner, close.frame);
        }
        for client in clients {
            let Some(request) = self.clients.map.get(&client).map(|c| c.request_id) else {
                continue;
            };
            let Some(ws) = self.clients.ws_mut(client) else {
                continue;
            };
            if ws.phase != WsPhase::Hibernating {
                continue;
            }
            ws.attach();
            let resend: Vec<Bytes> = ws.pending.frames().collect();
            let idle = ws.queued.is_empty() && !ws.paused;
            self.cx.metrics.ws_resumed += 1;
            self.cx.notify(Notice::SocketRestored {
                client,
                actor,
                request,
                resent: resend.len(),
            });
            self.cx.metrics.ws_messages_resent += resend.len() as u64;
            if !resend.is_empty() {
                ws.ack_clock_restart(client, now, &mut self.cx);
            }
            for frame in resend {
                self.send_or_hold_bytes(runner, frame);
            }
            if !idle {
                self.pump(now, client);
            }
        }
    }

    /// The client left while its socket hibernated. Its row goes at once (in `remove_client`)
    /// and it is not listed again; if a start listing it is already on its way, the runner
    /// hears the close once the actor runs. The actor wakes to observe it (`wake_on_close`).
    pub(crate) fn client_closed_while_hibernating(
        &mut self,
        now: Instant,
        client: ClientId,
        msg: WebSocketClose,
    ) {
        self.cx.metrics.ws_closed_while_hibernating += 1;
        let Some(actor) = self.clients.map.get(&client).map(|c| c.actor) else {
            return;
        };
        self.tell_runner_after_running(client, msg);
        self.remove_client(client); // unlisted before any wake below builds a start
        // Asleep: start it; stopping: start it again once stopped (`wake_actor` decides).
        // Starting: that start restores the socket and hears the close after `Running`; if it
        // never runs (its runner lost), the wake is owed all the same.
        let Some(a) = self.actors.map.get_mut(&actor) else {
            return;
        };
        let idle = matches!(a.phase, Phase::Sleeping | Phase::Stopping { .. });
        if self.cx.config.wake_on_close {
            a.owe_close_wake();
        }
        if self.cx.config.wake_on_close && idle {
            self.cx.metrics.wakes_for_close += 1;
            self.wake_actor(now, actor);
        }
    }

    /// If a start listing this hibernating socket is on its way, the runner will restore it:
    /// queue `msg` for delivery once the actor runs, so no ghost socket survives on its side.
    pub(crate) fn tell_runner_after_running(&mut self, client: ClientId, msg: WebSocketClose) {
        let Some(c) = self.clients.map.get_mut(&client) else {
            return;
        };
        let actor = c.actor;
        let Some(Phase::Starting { runner, .. }) = self.actors.map.get(&actor).map(|a| a.phase)
        else {
            return;
        };
        let Some(protocol) = self.runners.protocol_of(runner) else {
            return;
        };
        let kind = TunnelToActor::WebSocketClose(msg);
        let (_, frame) = tunnel_frame(c, self.cx.gateway_id, protocol, kind);
        if let Some(a) = self.actors.map.get_mut(&actor) {
            a.close_after_running.push(CloseAfterRunning { frame });
        }
    }

    /// The actor did not come back in time: its hibernating sockets close (and a runner that
    /// is about to restore them hears it once the actor runs).
    pub(crate) fn on_wake_deadline(&mut self, actor: ActorId) {
        self.cx.wake_started.remove(&actor);
        let Some(a) = self.actors.map.get(&actor) else {
            return;
        };
        if matches!(a.phase, Phase::Running { .. }) {
            return;
        }
        let clients: Vec<ClientId> = a.clients.iter().copied().collect();
        let reason = "torpor.actor_wake_timeout";
        for client in clients {
            // A left client's socket is not waited on by anyone: its frames wait for the start,
            // bounded by the interrupted-allocation retries instead (`left_frames_retried`).
            let waited_on = ws_of(self, client)
                .is_some_and(|ws| ws.phase == WsPhase::Hibernating && ws.closing.is_none());
            if waited_on {
                self.cx.metrics.ws_wake_timeouts += 1;
                let msg = WebSocketClose {
                    code: Some(1011),
                    reason: Some(reason.to_owned()),
                };
                self.tell_runner_after_running(client, msg);
                if self.remove_client(client).is_some_and(|c| !c.gone()) {
                    self.cx.push(Output::CloseClient {
                        client,
                        close: CloseFrame::new(1011, reason),
                    });
                }
            }
        }
    }

    /// Attached hibernatable sockets with un-acked messages on `runner`'s running actors.
    fn awaiting_acks(&self, runner: RunnerIdx) -> Vec<ClientId> {
        self.clients_on_runner(runner)
            .into_iter()
            .filter(|id| {
                let Some(c) = self.clients.map.get(id) else {
                    return false;
                };
                let running = self
                    .actors
                    .map
                    .get(&c.actor)
                    .is_some_and(|a| matches!(a.phase, Phase::Running { .. }));
                running
                    && matches!(&c.kind, ClientKind::WebSocket(ws)
                        if ws.phase == WsPhase::Open && !ws.pending.is_empty())
            })
            .collect()
    }

    /// The runner connection dropped: no ack can arrive, so ack timers stop (RUNNER-PROTOCOL
    /// §17 #3, #9); the socket hibernates if the runner is lost, or resumes if it returns.
    pub(crate) fn pause_ack_timers(&mut self, runner: RunnerIdx) {
        let clients = self.clients_on_runner(runner);
        stop_ack_clocks(&clients, &mut self.clients, &mut self.cx);
    }

    /// The actor is stopping: its sockets' ack timers stop (guarantee 5: they run only against
    /// a running actor); the sockets hibernate once it stopped, or close with it.
    pub(crate) fn pause_actor_ack_timers(&mut self, actor: ActorId) {
        let Some(a) = self.actors.map.get(&actor) else {
            return;
        };
        stop_ack_clocks(&a.clients, &mut self.clients, &mut self.cx);
    }

    /// The runner reconnected with the same key: frames sent on the dropped connection may
    /// never have arrived, so every attached hibernatable socket's un-acked messages go again,
    /// with their original indices and bytes, before anything new. The runner drops the
    /// indices it already has, so each arrives exactly once.
    pub(crate) fn resend_unacked(&mut self, runner: RunnerIdx) {
        for client in self.clients_on_runner(runner) {
            let Some(ws) = ws_of(self, client) else {
                continue;
            };
            if ws.phase != WsPhase::Open || ws.pending.is_empty() {
                continue;
            }
            let resend: Vec<Bytes> = ws.pending.frames().collect();
            self.cx.metrics.ws_messages_resent_on_reconnect += resend.len() as u64;
            for frame in resend {
                self.send_or_hold_bytes(runner, frame);
            }
        }
    }

    /// The runner is back: ack timers run again, from now.
    pub(crate) fn restart_ack_timers(&mut self, now: Instant, runner: RunnerIdx) {
        for client in self.awaiting_acks(runner) {
            if let Some(ws) = self.clients.ws_mut(client) {
                ws.ack_clock_restart(client, now, &mut self.cx);
            }
        }
    }

    /// Hibernating sockets (gauge).
    pub fn hibernating_socket_count(&self) -> usize {
        self.clients
            .map
            .values()
            .filter(|c| matches!(&c.kind, ClientKind::WebSocket(ws) if ws.phase == WsPhase::Hibernating))
            .count()
    }

    /// Client sockets whose reads are paused (gauge).
    pub fn paused_socket_count(&self) -> usize {
        self.clients.map.values().filter(|c| c.paused()).count()
    }

    /// Bytes held for clients: un-acked plus queued (gauge).
    pub fn held_bytes(&self) -> usize {
        self.cx.held_bytes
    }

    /// Live rows in the hibernation index (gauge).
    pub fn index_rows(&self) -> usize {
        self.index.len()
    }
}
