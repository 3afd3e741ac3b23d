//! Client requests tunnelled to actors: WebSockets and HTTP, keyed by request id.

mod http;
mod route;
mod websocket;

pub(crate) use websocket::ws_of;

use std::collections::VecDeque;
use std::hash::{BuildHasherDefault, DefaultHasher};

use bytes::Bytes;

use crate::actor::{Actors, Phase, StopCause};
use crate::admin::SocketInfo;
use crate::cx::Cx;
use crate::gateway::Gateway;
use crate::hibernation::Pending;
use crate::ids::{ActorId, ClientId};
use crate::io::{ClientFrame, CloseFrame, Output};
use crate::protocol::{
    GatewayId, Headers, HibernatingRequest, MessageId, RequestId, ToClient, ToClientTunnelMessage,
    ToClientTunnelMessageKind, ToClientWebSocketClose,
};
use crate::runner::{RunnerIdx, Runners};
use crate::time::Instant;
use crate::timer::TimerKey;

impl Client {
    /// Whether reads of this client are paused.
    pub(crate) fn paused(&self) -> bool {
        matches!(&self.kind, ClientKind::WebSocket(ws) if ws.paused)
    }

    /// Whether the client itself is gone (it closed its WebSocket while the gateway still had
    /// frames of it to deliver): nothing may be sent to it any more.
    pub(crate) fn gone(&self) -> bool {
        matches!(&self.kind, ClientKind::WebSocket(ws) if ws.closing.is_some())
    }
}

pub(crate) struct Client {
    pub(crate) actor: ActorId,
    pub(crate) request_id: RequestId,
    /// Index of the next server → runner tunnel message (0 = open/start). Wraps; never reset.
    pub(crate) next_index: u16,
    pub(crate) kind: ClientKind,
}

pub(crate) enum ClientKind {
    WebSocket(Ws),
    Http(Http),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WsPhase {
    /// Accepted; the actor is not running yet.
    Waiting,
    /// `ToClientWebSocketOpen` sent.
    Opening,
    /// The runner accepted the socket and the actor is allocated.
    Open,
    /// Hibernatable, and its actor stopped: the client stays connected, nothing is sent to the
    /// runner, client frames queue, and the socket is listed in the actor's next start.
    Hibernating,
}

pub(crate) struct Ws {
    pub(crate) phase: WsPhase,
    pub(crate) path: String,
    pub(crate) headers: Headers,
    pub(crate) can_hibernate: bool,
    /// Client frames accepted but not sent yet (no index assigned), in order.
    pub(crate) queued: VecDeque<ClientFrame>,
    pub(crate) queued_bytes: usize,
    /// Sent, un-acked messages (hibernatable sockets only).
    pub(crate) pending: Pending,
    /// `PauseClientReads` is in force.
    pub(crate) paused: bool,
    /// An `AckTimeout` timer is armed for this socket. It is armed once per stretch of un-acked
    /// traffic, not per frame: when it fires before `last_send + ack_timeout` it moves there.
    pub(crate) ack_armed: bool,
    /// When the runner was last sent (or resent) one of this socket's messages: the ack timeout
    /// runs from here while the socket is attached (guarantee 5).
    pub(crate) last_send: Instant,
    /// The client closed while frames it sent before were still undelivered: the close it
    /// sent, forwarded once everything before it is delivered (and, on a hibernatable socket,
    /// acked). Until then the socket lives on without its client (DESIGN.md guarantee 13).
    /// Boxed: rare, and every socket's state stays small on the per-frame path.
    pub(crate) closing: Option<Box<Closing>>,
}

/// A socket whose client has left, living on to deliver what the client sent before its close.
pub(crate) struct Closing {
    /// The close the client sent, forwarded last.
    pub(crate) close: ToClientWebSocketClose,
    /// Allocations of its actor that ended before this socket was open: each retries the open
    /// at the next start, up to [`MAX_INTERRUPTED_OPENS`].
    pub(crate) interrupted_opens: u8,
}

/// How many allocations in a row may end before a left client's socket is open before its
/// frames are given up: an actor that crashes on every open must not be restarted forever.
pub(crate) const MAX_INTERRUPTED_OPENS: u8 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HttpPhase {
    /// The actor is not running yet.
    Waiting,
    /// `ToClientRequestStart` sent.
    Sent,
    /// A streamed response started.
    Streaming,
}

pub(crate) struct Http {
    pub(crate) phase: HttpPhase,
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) headers: Headers,
    pub(crate) body: Vec<u8>,
}

impl Ws {
    /// Whether the socket holds frames its actor has not durably received: queued ones, or
    /// (hibernatable sockets) sent ones not acked yet.
    pub(crate) fn undelivered(&self) -> bool {
        !self.queued.is_empty() || (self.can_hibernate && !self.pending.is_empty())
    }

    /// A message kept for acks went to the runner at `now`: the ack timeout runs from here. Only
    /// arms the timer if none is armed, so a frame costs no timer update (see [`Ws::ack_due`]).
    pub(crate) fn ack_clock_sent(&mut self, client: ClientId, now: Instant, cx: &mut Cx) {
        self.last_send = now;
        if !self.ack_armed {
            self.ack_armed = true;
            let at = now.saturating_add(cx.config.ack_timeout);
            cx.timers.set(TimerKey::AckTimeout(client), at);
        }
    }

    /// Everything un-acked was (re)sent at `now`: the ack timeout runs again from here.
    pub(crate) fn ack_clock_restart(&mut self, client: ClientId, now: Instant, cx: &mut Cx) {
        self.last_send = now;
        self.ack_armed = true;
        let at = now.saturating_add(cx.config.ack_timeout);
        cx.timers.set(TimerKey::AckTimeout(client), at);
    }

    /// No ack can come now (detached, runner gone, actor stopping): the ack timeout stops.
    pub(crate) fn ack_clock_stop(&mut self, client: ClientId, cx: &mut Cx) {
        if std::mem::take(&mut self.ack_armed) {
            cx.timers.cancel(TimerKey::AckTimeout(client));
        }
    }

    /// The ack timer fired at `now`: whether the oldest un-acked message has waited the whole
    /// timeout since the last send, else re-arms the timer for when it will have.
    pub(crate) fn ack_due(&mut self, client: ClientId, now: Instant, cx: &mut Cx) -> bool {
        self.ack_armed = false;
        if self.pending.is_empty() {
            return false; // everything was acked since; the next send arms it again
        }
        let due = self.last_send.saturating_add(cx.config.ack_timeout);
        if due > now {
            self.ack_armed = true;
            cx.timers.set(TimerKey::AckTimeout(client), due);
            return false;
        }
        true
    }
}

/// Close reason for requests in flight on a runner connection that dropped.
pub(crate) const REASON_RUNNER_DISCONNECTED: &str = "torpor.runner_disconnected";

/// Encodes the client's next tunnel message, consuming its index.
pub(crate) fn tunnel_frame(
    c: &mut Client,
    gateway_id: GatewayId,
    kind: ToClientTunnelMessageKind,
) -> (u16, Bytes) {
    let index = c.next_index;
    c.next_index = index.wrapping_add(1);
    let msg = ToClient::TunnelMessage(ToClientTunnelMessage {
        message_id: MessageId {
            gateway_id,
            request_id: c.request_id,
            message_index: index,
        },
        message_kind: kind,
    });
    (index, msg.to_bytes().into())
}

/// [`Gateway::actor_ready`] over split borrows.
pub(crate) fn ready(actors: &Actors, runners: &Runners, actor: ActorId) -> bool {
    match actors.map.get(&actor).map(|a| a.phase) {
        Some(Phase::Running { runner }) => runners.conn_of(runner).is_some(),
        _ => false,
    }
}

/// [`Gateway::send_or_hold_bytes`] over split borrows.
pub(crate) fn send_or_hold_bytes(
    runners: &mut Runners,
    cx: &mut Cx,
    runner: RunnerIdx,
    bytes: Bytes,
) -> Delivery {
    let Some(instance) = runners.instances.get_mut(&runner) else {
        return Delivery::Dropped;
    };
    match instance.conn {
        Some(conn) => {
            cx.push(Output::SendRunner { conn, bytes });
            Delivery::Sent
        }
        None => {
            instance.outbox.push_back(bytes);
            Delivery::Held
        }
    }
}

/// What became of a message for a runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Queued for the live connection.
    Sent,
    /// Held until the runner reconnects.
    Held,
    /// The runner instance is gone.
    Dropped,
}

/// A lookup-only map for the per-frame hot path. Hashing with a fixed-key hasher keeps it
/// deterministic, and nothing iterates it to produce outputs (those iterate ordered sets such
/// as `Actor::clients`), so output order never depends on hashing.
#[allow(clippy::disallowed_types)]
pub(crate) type IdMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<DefaultHasher>>;

#[derive(Default)]
pub(crate) struct Clients {
    pub(crate) map: IdMap<ClientId, Client>,
    /// Tunnel routing: request id → client (this incarnation's gateway id only).
    pub(crate) requests: IdMap<RequestId, ClientId>,
}

/// Stops the ack clocks of these clients' sockets (no ack can come now).
pub(crate) fn stop_ack_clocks<'a>(
    ids: impl IntoIterator<Item = &'a ClientId>,
    clients: &mut Clients,
    cx: &mut Cx,
) {
    for &client in ids {
        if let Some(ws) = clients.ws_mut(client) {
            ws.ack_clock_stop(client, cx);
        }
    }
}

impl Clients {
    /// The WebSocket state of a client, if it is one (borrows only the clients).
    pub(crate) fn ws_mut(&mut self, client: ClientId) -> Option<&mut Ws> {
        match self.map.get_mut(&client).map(|c| &mut c.kind) {
            Some(ClientKind::WebSocket(ws)) => Some(ws),
            _ => None,
        }
    }

    /// The admin view of these clients, by client id.
    pub(crate) fn describe(&self, ids: impl Iterator<Item = ClientId>) -> Vec<SocketInfo> {
        let mut out: Vec<SocketInfo> = ids
            .filter_map(|id| self.map.get(&id).map(|c| c.describe(id)))
            .collect();
        out.sort_by_key(|s| s.client);
        out
    }
}

impl Client {
    fn describe(&self, client: ClientId) -> SocketInfo {
        let [a, b, c, d] = self.request_id.to_bytes();
        let request_id = format!("{a:02x}{b:02x}{c:02x}{d:02x}");
        match &self.kind {
            ClientKind::WebSocket(ws) => SocketInfo {
                client,
                request_id,
                kind: "websocket",
                state: match ws.phase {
                    WsPhase::Waiting => "waiting",
                    WsPhase::Opening => "opening",
                    WsPhase::Open => "open",
                    WsPhase::Hibernating => "hibernating",
                },
                path: ws.path.clone(),
                can_hibernate: ws.can_hibernate,
                queued_messages: ws.queued.len(),
                unacked_messages: ws.pending.len(),
                unacked_bytes: ws.pending.bytes(),
                paused: ws.paused,
            },
            ClientKind::Http(http) => SocketInfo {
                client,
                request_id,
                kind: "http",
                state: match http.phase {
                    HttpPhase::Waiting => "waiting",
                    HttpPhase::Sent => "sent",
                    HttpPhase::Streaming => "streaming",
                },
                path: http.path.clone(),
                can_hibernate: false,
                queued_messages: 0,
                unacked_messages: 0,
                unacked_bytes: 0,
                paused: false,
            },
        }
    }
}

impl Gateway {
    /// Admission shared by WebSockets and HTTP: the actor must exist and have room.
    fn admit_client(&mut self, actor: &str) -> Result<ActorId, (u16, String)> {
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

    fn add_client(&mut self, client: ClientId, actor: ActorId, kind: ClientKind) {
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
    fn begin_or_wait(&mut self, now: Instant, client: ClientId, actor: ActorId) {
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
    pub(crate) fn send_tunnel(
        &mut self,
        client: ClientId,
        kind: ToClientTunnelMessageKind,
    ) -> Delivery {
        let Some(c) = self.clients.map.get_mut(&client) else {
            return Delivery::Dropped;
        };
        let Some(runner) = self.actors.map.get(&c.actor).and_then(|a| a.phase.runner()) else {
            return Delivery::Dropped;
        };
        let (_, bytes) = tunnel_frame(c, self.cx.gateway_id, kind);
        self.send_or_hold_bytes(runner, bytes)
    }

    /// Sends to the runner instance's connection, or holds the bytes until it reconnects.
    pub(crate) fn send_or_hold(&mut self, runner: RunnerIdx, msg: &ToClient) -> Delivery {
        self.send_or_hold_bytes(runner, msg.to_bytes().into())
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
            a.clients.remove(&client);
            a.waiting.retain(|w| *w != client);
            if listed {
                a.hibernatable -= 1;
            }
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
            // never reached Running) stay as they are.
            if ws.can_hibernate && matches!(ws.phase, WsPhase::Open | WsPhase::Hibernating) {
                self.hibernate_socket(client);
                continue;
            }
            if ws.phase == WsPhase::Opening {
                // The runner may have taken the open (a replaced instance answering late):
                // it must not keep a socket the gateway no longer has under this id.
                if let Some(runner) = runner {
                    let close = ToClientWebSocketClose {
                        code: Some(1001),
                        reason: Some(cause.reason().to_owned()),
                    };
                    if let Some(c) = self.clients.map.get_mut(&client) {
                        let kind = ToClientTunnelMessageKind::WebSocketClose(close);
                        let (_, bytes) = tunnel_frame(c, self.cx.gateway_id, kind);
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

    /// A socket whose open was in flight when its actor's allocation ended, and whose client
    /// already left with frames to deliver: nobody can be told, so it waits for the next start
    /// (which it triggers) and opens there under a fresh request id (the runner may still
    /// answer the old one). False when the client is still there (it is told instead) or the
    /// retries are used up.
    fn retry_open(&mut self, client: ClientId) -> bool {
        let Some(closing) = ws_of(self, client).and_then(|ws| ws.closing.as_mut()) else {
            return false;
        };
        closing.interrupted_opens += 1;
        if closing.interrupted_opens > MAX_INTERRUPTED_OPENS {
            self.cx.metrics.ws_open_retries_exhausted += 1;
            return false;
        }
        self.cx.metrics.ws_opens_retried += 1;
        let fresh = self.fresh_request_id();
        let Some(c) = self.clients.map.get_mut(&client) else {
            return false;
        };
        if let ClientKind::WebSocket(ws) = &mut c.kind {
            ws.phase = WsPhase::Waiting;
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
        let Some(a) = self.actors.map.get_mut(&actor) else {
            return;
        };
        let mut waiting = std::mem::take(&mut a.waiting);
        if cause == StopCause::RunnerLost {
            // A socket whose client left with frames to deliver waits for the actor's next
            // start (which it triggers) instead: nobody could be told of its failure.
            let (keep, fail) = waiting
                .into_iter()
                .partition(|c| self.clients.map.get(c).is_some_and(Client::gone));
            if let Some(a) = self.actors.map.get_mut(&actor) {
                a.waiting = keep;
            }
            waiting = fail;
        }
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
        let Some(instance) = self.runners.instances.get(&runner) else {
            return;
        };
        let clients: Vec<ClientId> = instance
            .actors
            .iter()
            .filter_map(|a| self.actors.map.get(a))
            .flat_map(|a| a.clients.iter().copied())
            .collect();
        let reason = REASON_RUNNER_DISCONNECTED;
        for client in clients {
            let Some(c) = self.clients.map.get(&client) else {
                continue;
            };
            match &c.kind {
                ClientKind::Http(http) => {
                    let phase = http.phase;
                    self.cx.metrics.requests_failed_runner_disconnected += 1;
                    self.send_tunnel(client, ToClientTunnelMessageKind::RequestAbort);
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
                    let close = ToClientWebSocketClose {
                        code: Some(1011),
                        reason: Some(reason.to_owned()),
                    };
                    self.send_tunnel(client, ToClientTunnelMessageKind::WebSocketClose(close));
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
