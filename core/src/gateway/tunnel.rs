//! Clients of every kind: admission, waiting for their actor, routing to the runner, removal.

use super::websocket::ws_of;
use crate::actor::StopCause;
use crate::gateway::Gateway;
use crate::ids::{ActorId, ClientId, RunnerConnId};
use crate::io::{CloseFrame, Output};
use crate::link::{ToRunner, TunnelToActor, WebSocketClose};
use crate::notice::Notice;
use crate::runner::RunnerIdx;
use crate::time::Instant;
use crate::timer::TimerKey;
use crate::tunnel::{
    Client, ClientKind, Delivery, HttpPhase, REASON_RUNNER_DISCONNECTED, WsPhase, ready,
    send_or_hold_bytes, tunnel_frame,
};
use bytes::Bytes;
use torpor_protocol::shared::{HibernatingRequest, RequestId};

impl Gateway {
    /// Admission shared by WebSockets and HTTP: the actor must exist and have room.
    pub(super) fn admit_client(&mut self, actor: &str) -> Result<ActorId, (u16, String)> {
        let id = ActorId::parse(actor)
            .filter(|id| self.actors.map.contains_key(id))
            .ok_or_else(|| {
                let msg = format!(
                    "actor.not_found: The actor {actor:?} does not exist or was destroyed."
                );
                (404, msg)
            })?;
        if self.clients.map.len() >= self.cx.config.max_clients {
            return Err((
                503,
                "torpor.too_many_clients: too many client connections".to_owned(),
            ));
        }
        let waiting = self.actors.map.get(&id).map_or(0, |a| a.waiting.len());
        if waiting >= self.cx.config.max_waiting_requests_per_actor {
            self.cx.metrics.waiting_queue_full += 1;
            return Err((
                503,
                "torpor.actor_queue_full: the actor is starting and its request queue is full"
                    .to_owned(),
            ));
        }
        Ok(id)
    }

    /// A request id unique among live requests (see `Cx::next_request_id`).
    fn fresh_request_id(&mut self) -> RequestId {
        loop {
            let id = self.cx.next_request_id();
            if !self.clients.requests.contains_key(&id) {
                return id;
            }
        }
    }

    pub(super) fn add_client(&mut self, client: ClientId, actor: ActorId, kind: ClientKind) {
        let request_id = self.fresh_request_id();
        self.clients.requests.insert(request_id, client);
        self.clients.map.insert(
            client,
            Client {
                actor,
                request_id,
                next_index: 0,
                kind,
            },
        );
    }

    /// Starts the request now if the actor runs on a connected runner, else queues it (and
    /// wakes the actor if it sleeps).
    pub(super) fn begin_or_wait(&mut self, now: Instant, client: ClientId, actor: ActorId) {
        if self.actor_ready(actor) {
            self.begin_request(now, client);
        } else if let Some(a) = self.actors.map.get_mut(&actor) {
            a.waiting.push_back(client);
            self.wake_actor(now, actor);
        }
    }

    /// The actor is running: start every queued request, in arrival order.
    pub(crate) fn flush_waiting_requests(&mut self, now: Instant, actor: ActorId) {
        let Some(a) = self.actors.map.get_mut(&actor) else {
            return;
        };
        let waiting = std::mem::take(&mut a.waiting);
        for client in waiting {
            self.begin_request(now, client);
        }
    }

    fn begin_request(&mut self, now: Instant, client: ClientId) {
        let Some(c) = self.clients.map.get(&client) else {
            return;
        };
        let actor = c.actor;
        if let Some(a) = self.actors.map.get_mut(&actor) {
            a.clients.insert(client);
        }
        match c.kind {
            ClientKind::WebSocket(_) => self.begin_websocket(now, client),
            ClientKind::Http(_) => self.begin_http(now, client),
        }
    }

    /// Sends a tunnel message for the client with its next index to its actor's runner, or
    /// holds it in the runner's outbox while the runner is reconnecting.
    pub(crate) fn send_tunnel(&mut self, client: ClientId, kind: TunnelToActor) -> Delivery {
        let Some(c) = self.clients.map.get_mut(&client) else {
            return Delivery::Dropped;
        };
        let Some(runner) = self.actors.map.get(&c.actor).and_then(|a| a.phase.runner()) else {
            return Delivery::Dropped;
        };
        let Some(protocol) = self.runners.protocol_of(runner) else {
            return Delivery::Dropped;
        };
        let (_, bytes) = tunnel_frame(c, self.cx.gateway_id, protocol, kind);
        self.send_or_hold_bytes(runner, bytes)
    }

    /// Sends to the runner instance's connection, or holds the bytes until it reconnects.
    pub(crate) fn send_or_hold(&mut self, runner: RunnerIdx, msg: ToRunner) -> Delivery {
        let Some(protocol) = self.runners.protocol_of(runner) else {
            return Delivery::Dropped;
        };
        self.send_or_hold_bytes(runner, protocol.encode(msg))
    }

    /// Encodes `msg` in the connection's protocol and queues it (nothing if the connection is
    /// gone).
    pub(crate) fn send_runner(&mut self, conn: RunnerConnId, msg: ToRunner) {
        if let Some(protocol) = self.runners.protocol_of_conn(conn) {
            let bytes = protocol.encode(msg);
            self.cx.push(Output::SendRunner { conn, bytes });
        }
    }

    /// As [`Gateway::send_or_hold`], for an encoded frame.
    pub(crate) fn send_or_hold_bytes(&mut self, runner: RunnerIdx, bytes: Bytes) -> Delivery {
        send_or_hold_bytes(&mut self.runners, &mut self.cx, runner, bytes)
    }

    /// Whether the actor runs on a connected runner, so requests can be tunnelled now.
    pub(crate) fn actor_ready(&self, actor: ActorId) -> bool {
        ready(&self.actors, &self.runners, actor)
    }

    /// The runner is back: requests and frames held for its running actors go out now.
    pub(crate) fn resume_held_requests(&mut self, now: Instant, runner: RunnerIdx) {
        let Some(instance) = self.runners.instances.get(&runner) else {
            return;
        };
        let actors: Vec<ActorId> = instance.actors.iter().copied().collect();
        for actor in actors {
            if self.actor_ready(actor) {
                let open: Vec<ClientId> = self
                    .actors
                    .map
                    .get(&actor)
                    .map_or_else(Vec::new, |a| a.clients.iter().copied().collect());
                for client in open {
                    self.pump(now, client);
                }
                self.flush_waiting_requests(now, actor);
            }
        }
    }

    /// Forgets a client everywhere (routing, actor, timers, held bytes, index row). Every
    /// terminal path of every client goes through here. Sends nothing to either side.
    pub(crate) fn remove_client(&mut self, client: ClientId) -> Option<Client> {
        let c = self.clients.map.remove(&client)?;
        self.clients.requests.remove(&c.request_id);
        let listed = if let ClientKind::WebSocket(ws) = &c.kind {
            self.cx.notify(Notice::SocketEnded {
                client,
                actor: c.actor,
                request: c.request_id,
            });
            self.cx.held_bytes -= ws.queued_bytes + ws.pending.bytes();
            self.cx.budget_paused.remove(&client);
            if ws.ack_armed {
                self.cx.timers.cancel(TimerKey::AckTimeout(client));
            }
            ws.can_hibernate
        } else {
            false
        };
        if let Some(a) = self.actors.map.get_mut(&c.actor) {
            a.client_gone(client, listed);
        }
        if listed {
            self.index_remove(crate::store::IndexKey {
                actor: c.actor,
                request_id: c.request_id,
            });
        }
        self.cx.timers.cancel(TimerKey::WebSocketOpen(client));
        self.cx.timers.cancel(TimerKey::HttpResponse(client));
        self.recheck_budget();
        Some(c)
    }

    /// The allocation ended: hibernatable sockets hibernate (nothing is sent to either side),
    /// every other request tied to it ends.
    pub(crate) fn close_actor_clients(
        &mut self,
        actor: ActorId,
        cause: StopCause,
        runner: Option<RunnerIdx>,
    ) {
        let Some(a) = self.actors.map.get(&actor) else {
            return;
        };
        let clients: Vec<ClientId> = a.clients.iter().copied().collect();
        for client in clients {
            let Some(ClientKind::WebSocket(ws)) = self.clients.map.get(&client).map(|c| &c.kind)
            else {
                self.end_client(client, 1001, cause.reason(), 503);
                continue;
            };
            // Open hibernatable sockets detach; those already hibernating (an allocation that
            // never reached Running) stay as they are, but a left client's frames are retried at
            // a few starts only.
            if ws.can_hibernate && matches!(ws.phase, WsPhase::Open | WsPhase::Hibernating) {
                let restore_interrupted = ws.phase == WsPhase::Hibernating && ws.undelivered();
                if restore_interrupted && !self.left_frames_retried(client) {
                    self.cx.metrics.ws_left_frames_given_up += 1;
                    self.remove_client(client);
                    continue;
                }
                self.hibernate_socket(client);
                continue;
            }
            if ws.phase == WsPhase::Opening {
                // The runner may have taken the open (a replaced instance answering late):
                // it must not keep a socket the gateway no longer has under this id.
                if let Some((runner, protocol)) =
                    runner.and_then(|r| Some((r, self.runners.protocol_of(r)?)))
                {
                    let close = WebSocketClose {
                        code: Some(1001),
                        reason: Some(cause.reason().to_owned()),
                    };
                    if let Some(c) = self.clients.map.get_mut(&client) {
                        let kind = TunnelToActor::WebSocketClose(close);
                        let (_, bytes) = tunnel_frame(c, self.cx.gateway_id, protocol, kind);
                        self.send_or_hold_bytes(runner, bytes);
                    }
                }
                if self.retry_open(client) {
                    continue;
                }
            }
            self.end_client(client, 1001, cause.reason(), 503);
        }
    }

    /// Whether a hibernating socket's frames are worth another start: always while its client
    /// is there (the wake deadline bounds that wait), a few times once it left.
    fn left_frames_retried(&mut self, client: ClientId) -> bool {
        match ws_of(self, client).and_then(|ws| ws.closing.as_mut()) {
            Some(closing) => closing.allocation_interrupted(),
            None => true,
        }
    }

    /// The attached clients of every actor allocated to `runner`.
    pub(super) fn clients_on_runner(&self, runner: RunnerIdx) -> Vec<ClientId> {
        let Some(instance) = self.runners.instances.get(&runner) else {
            return Vec::new();
        };
        instance
            .actors
            .iter()
            .filter_map(|a| self.actors.map.get(a))
            .flat_map(|a| a.clients.iter().copied())
            .collect()
    }

    /// A socket whose open was in flight when its actor's allocation ended, and whose client
    /// already left with frames to deliver: nobody can be told, so it waits for the next start
    /// (which it triggers) and opens there under a fresh request id (the runner may still
    /// answer the old one). False when the client is still there (it is told instead) or the
    /// retries are used up.
    fn retry_open(&mut self, client: ClientId) -> bool {
        let Some(closing) = ws_of(self, client).and_then(|ws| ws.closing.as_mut()) else {
            return false;
        };
        if !closing.allocation_interrupted() {
            self.cx.metrics.ws_left_frames_given_up += 1;
            return false;
        }
        self.cx.metrics.ws_opens_retried += 1;
        let fresh = self.fresh_request_id();
        let Some(c) = self.clients.map.get_mut(&client) else {
            return false;
        };
        if let ClientKind::WebSocket(ws) = &mut c.kind {
            ws.wait_again();
        }
        self.cx.timers.cancel(TimerKey::WebSocketOpen(client));
        self.clients.requests.remove(&c.request_id);
        self.clients.requests.insert(fresh, client);
        c.request_id = fresh;
        c.next_index = 0;
        if let Some(a) = self.actors.map.get_mut(&c.actor) {
            a.clients.remove(&client);
            a.waiting.push_back(client); // `after_stop` wakes the actor for it
        }
        true
    }

    /// The actor is gone for good: every socket of it closes, hibernating ones too.
    pub(crate) fn close_all_clients(&mut self, actor: ActorId, cause: StopCause) {
        let Some(a) = self.actors.map.get(&actor) else {
            return;
        };
        let clients: Vec<ClientId> = a.clients.iter().copied().collect();
        for client in clients {
            self.end_client(client, 1001, cause.reason(), 503);
        }
    }

    /// Requests still waiting for the actor fail.
    pub(crate) fn fail_waiting_requests(&mut self, actor: ActorId, cause: StopCause) {
        let clients = &self.clients;
        let Some(a) = self.actors.map.get_mut(&actor) else {
            return;
        };
        // After a runner loss, a socket whose client left with frames to deliver waits for the
        // actor's next start (which it triggers) instead: nobody could be told of its failure.
        let waiting = a.stop_waiting(|c| {
            cause == StopCause::RunnerLost && clients.map.get(c).is_some_and(Client::gone)
        });
        let code = if cause == StopCause::StartTimeout {
            1011
        } else {
            1001
        };
        for client in waiting {
            self.end_client(client, code, cause.reason(), 503);
        }
    }

    /// Ends a client from the gateway's side: a WebSocket gets a close frame, an HTTP request
    /// an error status (or an abort if its response already started).
    fn end_client(&mut self, client: ClientId, ws_code: u16, reason: &str, http_status: u16) {
        let Some(c) = self.remove_client(client) else {
            return;
        };
        match c.kind {
            ClientKind::WebSocket(ws) => {
                self.cx.metrics.ws_closed_actor_stopped += 1;
                if ws.closing.is_none() {
                    self.cx.push(Output::CloseClient {
                        client,
                        close: CloseFrame::new(ws_code, reason),
                    });
                }
            }
            ClientKind::Http(http) => {
                if http.phase == HttpPhase::Streaming {
                    self.cx.push(Output::HttpAbort { client });
                } else {
                    self.cx.metrics.http_failed_unavailable += 1;
                    self.http_error(client, http_status, reason);
                }
            }
        }
    }

    /// The runner connection of `runner` dropped (closed, timed out or replaced): whatever was
    /// in flight on it may be lost either way, and the runner has no dedupe for opens and
    /// requests, so they cannot be resent. HTTP requests whose response has not finished, and
    /// WebSockets that are opening or cannot hibernate, fail now with a named reason; the
    /// runner hears an abort or close when it reconnects (held in its outbox). Hibernatable
    /// open sockets stay: their un-acked messages are resent on the reconnect.
    pub(crate) fn fail_in_flight(&mut self, runner: RunnerIdx) {
        let clients = self.clients_on_runner(runner);
        let reason = REASON_RUNNER_DISCONNECTED;
        for client in clients {
            let Some(c) = self.clients.map.get(&client) else {
                continue;
            };
            match &c.kind {
                ClientKind::Http(http) => {
                    let phase = http.phase;
                    self.cx.metrics.requests_failed_runner_disconnected += 1;
                    self.send_tunnel(client, TunnelToActor::RequestAbort);
                    self.remove_client(client);
                    if phase == HttpPhase::Streaming {
                        self.cx.push(Output::HttpAbort { client });
                    } else {
                        let body = format!(
                            "{reason}: the runner connection dropped while the request was in flight"
                        );
                        self.http_error(client, 502, &body);
                    }
                }
                ClientKind::WebSocket(ws)
                    if ws.phase == WsPhase::Opening && ws.closing.is_some() =>
                {
                    // Its client left with frames to deliver: the runner hears a close for the
                    // old id when it is back, and the open is retried under a fresh one.
                    let close = WebSocketClose {
                        code: Some(1011),
                        reason: Some(reason.to_owned()),
                    };
                    self.send_tunnel(client, TunnelToActor::WebSocketClose(close));
                    if !self.retry_open(client) {
                        self.cx.metrics.requests_failed_runner_disconnected += 1;
                        self.remove_client(client);
                    }
                }
                ClientKind::WebSocket(ws)
                    if ws.phase == WsPhase::Opening
                        || (ws.phase == WsPhase::Open && !ws.can_hibernate) =>
                {
                    self.cx.metrics.requests_failed_runner_disconnected += 1;
                    self.close_websocket_both_ways(client, CloseFrame::new(1011, reason));
                }
                ClientKind::WebSocket(_) => {}
            }
        }
    }

    /// Every hibernatable WebSocket of the actor that is still connected, in request-id order:
    /// the `hibernatingRequests` of its next start command.
    pub(crate) fn hibernating_requests(&self, actor: ActorId) -> Vec<HibernatingRequest> {
        let Some(a) = self.actors.map.get(&actor) else {
            return Vec::new();
        };
        let mut list: Vec<HibernatingRequest> = a
            .clients
            .iter()
            .filter_map(|id| self.clients.map.get(id))
            .filter(|c| matches!(&c.kind, ClientKind::WebSocket(ws) if ws.phase == WsPhase::Hibernating))
            .map(|c| HibernatingRequest {
                gateway_id: self.cx.gateway_id,
                request_id: c.request_id,
            })
            .collect();
        list.sort_unstable_by_key(|h| h.request_id);
        list
    }
}
