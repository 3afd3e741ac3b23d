//! Client requests tunnelled to actors: WebSockets and HTTP, keyed by request id.

mod packed;

pub(crate) use packed::PackedHeaders;

use std::collections::VecDeque;

use bytes::Bytes;

use crate::actor::{Actors, Phase};
use crate::admin::SocketInfo;
use crate::cx::Cx;
use crate::hibernation::{KEEP_CAPACITY, Pending};
use crate::ids::{ActorId, ClientId, IdMap};
use crate::io::{ClientFrame, Output};
use crate::link::{Protocol, RequestStart, TunnelToActor, WebSocketClose};
use crate::runner::{RunnerIdx, Runners};
use crate::time::Instant;
use crate::timer::TimerKey;
use torpor_protocol::shared::{GatewayId, Headers, MessageId, RequestId};

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
    pub(crate) headers: PackedHeaders,
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
    pub(crate) close: WebSocketClose,
    /// Delivery attempts that failed before this socket's frames were delivered: an
    /// allocation of its actor that ended before its open was answered or before the start
    /// restoring it ran, or the runner link dropping under its open. Each is retried at the
    /// next start, up to [`MAX_INTERRUPTED_ALLOCATIONS`].
    pub(crate) interrupted_allocations: u8,
}

impl Closing {
    fn new(close: WebSocketClose) -> Self {
        Self {
            close,
            interrupted_allocations: 0,
        }
    }

    /// One more delivery attempt failed before this socket's frames were delivered:
    /// whether they are still worth another start (false once the retries are used up).
    pub(crate) fn allocation_interrupted(&mut self) -> bool {
        self.interrupted_allocations = self.interrupted_allocations.saturating_add(1);
        self.interrupted_allocations <= MAX_INTERRUPTED_ALLOCATIONS
    }
}

/// How many allocations in a row may end before a left client's socket is open (or restored)
/// before its frames are given up: an actor that crashes on every start must not be restarted
/// forever. This, not the wake deadline, bounds a left client's socket: nobody waits on it.
pub(crate) const MAX_INTERRUPTED_ALLOCATIONS: u8 = 3;

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

impl Http {
    /// The request goes to the runner now: its method, headers and body move into the start
    /// message (the path stays, for `GET /actors/{id}/sockets`).
    pub(crate) fn send(&mut self, actor_id: String) -> RequestStart {
        self.phase = HttpPhase::Sent;
        let body = std::mem::take(&mut self.body);
        RequestStart {
            actor_id,
            method: std::mem::take(&mut self.method),
            path: self.path.clone(),
            headers: std::mem::take(&mut self.headers),
            body: (!body.is_empty()).then_some(body),
        }
    }

    /// The runner started a streamed response.
    pub(crate) fn streaming(&mut self) {
        self.phase = HttpPhase::Streaming;
    }
}

impl Ws {
    /// Whether the socket holds frames its actor has not durably received: queued ones, or
    /// (hibernatable sockets) sent ones not acked yet.
    pub(crate) fn undelivered(&self) -> bool {
        !self.queued.is_empty() || (self.can_hibernate && !self.pending.is_empty())
    }

    /// Queues a client frame that cannot go yet; its payload length.
    pub(crate) fn enqueue(&mut self, frame: ClientFrame) -> usize {
        let len = frame.len();
        self.queued_bytes += len;
        self.queued.push_back(frame);
        len
    }

    /// Takes the oldest queued frame; a drained queue gives back what a burst grew.
    pub(crate) fn dequeue(&mut self) -> Option<ClientFrame> {
        let frame = self.queued.pop_front()?;
        self.queued_bytes -= frame.len();
        if self.queued.is_empty() && self.queued.capacity() > KEEP_CAPACITY {
            self.queued.shrink_to(KEEP_CAPACITY);
        }
        Some(frame)
    }

    /// Its open goes to the runner now.
    pub(crate) fn begin_open(&mut self) {
        self.phase = WsPhase::Opening;
    }

    /// Its open is retried at the actor's next start.
    pub(crate) fn wait_again(&mut self) {
        self.phase = WsPhase::Waiting;
    }

    /// Its actor's allocation ended: the socket hibernates. False if it already was.
    pub(crate) fn hibernate(&mut self) -> bool {
        let changed = self.phase != WsPhase::Hibernating;
        self.phase = WsPhase::Hibernating;
        changed
    }

    /// The runner answered its open: it is attached, and hibernatable or not as the runner
    /// said.
    pub(crate) fn opened(&mut self, can_hibernate: bool) {
        self.attach();
        self.can_hibernate = can_hibernate;
    }

    /// Its client left with frames still to deliver; `close` is forwarded after them.
    pub(crate) fn leave(&mut self, close: WebSocketClose) {
        self.closing = Some(Box::new(Closing::new(close)));
    }

    /// Records the pause the core put in force (`true`) or lifted; whether it changed.
    pub(crate) fn set_paused(&mut self, paused: bool) -> bool {
        let changed = self.paused != paused;
        self.paused = paused;
        changed
    }

    /// The socket is open on a running actor (its open answered, or its restore done): a left
    /// client's interrupted allocations count from zero again, since this one got it there.
    pub(crate) fn attach(&mut self) {
        self.phase = WsPhase::Open;
        if let Some(closing) = self.closing.as_mut() {
            closing.interrupted_allocations = 0;
        }
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

    /// The ack timer fired at `now`: whether the socket, still attached to a running actor
    /// (`attached`), has had messages un-acked for the whole timeout since its last send; if
    /// the timeout has not passed yet, the timer moves to when it will.
    pub(crate) fn ack_due(
        &mut self,
        client: ClientId,
        now: Instant,
        attached: bool,
        cx: &mut Cx,
    ) -> bool {
        self.ack_armed = false;
        if !attached || self.pending.is_empty() {
            return false; // the next send (or re-attach) arms it again
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

/// Encodes the client's next tunnel message in `protocol`, consuming its index.
pub(crate) fn tunnel_frame(
    c: &mut Client,
    gateway_id: GatewayId,
    protocol: Protocol,
    kind: TunnelToActor,
) -> (u16, Bytes) {
    let index = c.next_index;
    c.next_index = index.wrapping_add(1);
    let id = MessageId {
        gateway_id,
        request_id: c.request_id,
        message_index: index,
    };
    (index, protocol.encode_tunnel(id, kind))
}

/// [`Gateway::actor_ready`] over split borrows.
pub(crate) fn ready(actors: &Actors, runners: &Runners, actor: ActorId) -> bool {
    ready_runner(actors, runners, actor).is_some()
}

/// The runner the actor runs on and the protocol it speaks, if that runner is connected
/// (requests can go now). One lookup of each: this is on every frame's path.
pub(crate) fn ready_runner(
    actors: &Actors,
    runners: &Runners,
    actor: ActorId,
) -> Option<(RunnerIdx, Protocol)> {
    match actors.map.get(&actor).map(|a| a.phase) {
        Some(Phase::Running { runner }) => runners
            .instances
            .get(&runner)
            .filter(|i| i.conn.is_some())
            .map(|i| (runner, i.protocol)),
        _ => None,
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
