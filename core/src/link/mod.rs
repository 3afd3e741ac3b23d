//! The runner link's vocabulary: what a runner tells the core and what the core tells a runner,
//! whichever protocol the runner speaks.
//!
//! The gateway layer reads [`FromRunner`] and writes [`ToRunner`]; it never sees a protocol
//! version's messages. A protocol is a codec in `torpor-protocol` plus a mapping module here
//! ([`v7`] today), so a second protocol (envoy v8) adds a mapping, not a second core. Payload
//! types that every version encodes alike (ids, checkpoints, actor config, KV, headers) come from
//! `torpor_protocol::shared` unchanged.
//!
//! Tunnel directions are named for where the data goes: [`TunnelToActor`] carries a client's
//! request or frames to the actor, [`TunnelToClient`] the actor's answer back.

mod v7;

use std::collections::BTreeMap;

use bytes::Bytes;
use torpor_protocol::shared::{
    ActorCheckpoint, ActorConfig, Headers, HibernatingRequest, KvRequestData, KvResponseData,
    MessageId,
};
use torpor_protocol::{DecodeError, Limits};

/// The runner protocol versions the core speaks (the `protocol_version` query parameter).
pub(crate) const SUPPORTED_VERSIONS: &[u16] = &[v7::VERSION];

/// Decodes one runner frame.
pub(crate) fn decode(bytes: &[u8], limits: Limits) -> Result<FromRunner, DecodeError> {
    v7::decode(bytes, limits)
}

/// Encodes one message for a runner into a buffer its connection can share.
pub(crate) fn encode(msg: ToRunner) -> Bytes {
    v7::encode(msg)
}

/// Encodes one tunnel message for a runner.
pub(crate) fn encode_tunnel(id: MessageId, msg: TunnelToActor) -> Bytes {
    v7::encode_tunnel(id, msg)
}

/// Encoded size of a client frame of `payload_len` bytes on its way to the actor: what the
/// socket's un-acked window is charged before the frame is encoded.
pub(crate) const fn websocket_message_len(payload_len: usize) -> usize {
    v7::websocket_message_len(payload_len)
}

/// What a runner says.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FromRunner {
    /// Its first message: who it is and what it can host.
    Hello(RunnerHello),
    /// Events of its actors, in order.
    ActorEvents(Vec<ActorEvent>),
    /// The last command it processed, per actor.
    CommandsSeen(Vec<ActorCheckpoint>),
    /// It drains: no new actors.
    Stopping,
    /// The answer to [`ToRunner::Ping`] with the same `ts`.
    Pong {
        /// The ping's timestamp.
        ts: i64,
    },
    /// A KV call from one of its actors.
    Kv(KvCall),
    /// An actor's answer to a client.
    Tunnel(MessageId, TunnelToClient),
}

/// A runner's introduction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunnerHello {
    /// Runner name (its pool within the namespace).
    pub(crate) name: String,
    /// How many actors it hosts at most.
    pub(crate) total_slots: u32,
    /// Actor names it can host, with their JSON metadata, if it lists them.
    pub(crate) actor_names: Option<BTreeMap<String, String>>,
}

/// One actor event with its checkpoint (actor, generation, event index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ActorEvent {
    /// Where the event stands.
    pub(crate) checkpoint: ActorCheckpoint,
    /// What happened.
    pub(crate) kind: ActorEventKind,
}

/// What happened to an actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ActorEventKind {
    /// It runs.
    Running,
    /// It stopped; `ok` is the runner's `Ok` stop code (a sleep reports not ok).
    Stopped {
        /// Stop code `Ok`.
        ok: bool,
    },
    /// It asks to sleep.
    WantsSleep,
    /// It asks to stop.
    WantsStop,
    /// It set (or, with `None`, cleared) its alarm, epoch milliseconds.
    SetAlarm(Option<i64>),
}

/// A KV call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KvCall {
    /// The calling actor, as the runner names it.
    pub(crate) actor_id: String,
    /// The runner's id for the call, echoed in the answer.
    pub(crate) request_id: u32,
    /// The operation.
    pub(crate) data: KvRequestData,
}

/// What the core tells a runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ToRunner {
    /// The answer to [`FromRunner::Hello`].
    Welcome(Welcome),
    /// Commands for its actors.
    Commands(Vec<ActorCommand>),
    /// The last event processed, per actor, so it can trim its history.
    EventsSeen(Vec<ActorCheckpoint>),
    /// The answer to a [`KvCall`].
    Kv {
        /// The call's id.
        request_id: u32,
        /// The result.
        data: KvResponseData,
    },
    /// Liveness probe, answered by [`FromRunner::Pong`].
    Ping {
        /// Echoed back.
        ts: i64,
    },
}

/// The runner's session parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Welcome {
    /// The runner's id for this session and any it resumes.
    pub(crate) runner_id: String,
    /// Milliseconds without the gateway after which the runner stops its actors.
    pub(crate) runner_lost_threshold_ms: i64,
    /// Milliseconds an actor gets to stop.
    pub(crate) actor_stop_threshold_ms: i64,
}

/// One command with its checkpoint (actor, generation, command index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ActorCommand {
    /// Where the command stands.
    pub(crate) checkpoint: ActorCheckpoint,
    /// What to do.
    pub(crate) kind: ActorCommandKind,
}

/// What to do with an actor instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ActorCommandKind {
    /// Start it, restoring these hibernating sockets.
    Start {
        /// Its configuration.
        config: ActorConfig,
        /// Every live hibernatable socket of the actor.
        hibernating: Vec<HibernatingRequest>,
    },
    /// Stop the instance of the checkpoint's generation.
    Stop,
}

/// A client's request or frames, on their way to the actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TunnelToActor {
    /// An HTTP request's head and whole body (the gateway buffers request bodies).
    RequestStart(RequestStart),
    /// The request is abandoned.
    RequestAbort,
    /// A WebSocket asks to open.
    WebSocketOpen(WebSocketOpen),
    /// A client frame.
    WebSocketMessage(WebSocketData),
    /// The client closed.
    WebSocketClose(WebSocketClose),
}

/// An actor's answer, on its way to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TunnelToClient {
    /// An HTTP response's head (and whole body, unless streamed).
    ResponseStart(ResponseStart),
    /// More of a streamed response body.
    ResponseChunk(BodyChunk),
    /// The response is abandoned.
    ResponseAbort,
    /// The WebSocket is open.
    WebSocketOpen {
        /// Whether it survives the actor's sleep.
        can_hibernate: bool,
    },
    /// An actor frame.
    WebSocketMessage(WebSocketData),
    /// Every client frame up to this index is persisted by the actor.
    WebSocketAck {
        /// Cumulative.
        index: u16,
    },
    /// The actor closed the socket.
    WebSocketClose(WebSocketClose),
}

/// Head of a tunnelled HTTP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestStart {
    /// Target actor.
    pub(crate) actor_id: String,
    /// HTTP method.
    pub(crate) method: String,
    /// Path and query.
    pub(crate) path: String,
    /// Request headers.
    pub(crate) headers: Headers,
    /// The whole body (the gateway buffers request bodies), if any.
    pub(crate) body: Option<Vec<u8>>,
}

/// Head of a tunnelled HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResponseStart {
    /// HTTP status.
    pub(crate) status: u16,
    /// Response headers.
    pub(crate) headers: Headers,
    /// Whole body, when not streamed.
    pub(crate) body: Option<Vec<u8>>,
    /// Whether the body follows in chunks.
    pub(crate) stream: bool,
}

/// A piece of a streamed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BodyChunk {
    /// The bytes.
    pub(crate) body: Vec<u8>,
    /// The last piece.
    pub(crate) finish: bool,
}

/// A WebSocket's open request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WebSocketOpen {
    /// Target actor.
    pub(crate) actor_id: String,
    /// Path and query.
    pub(crate) path: String,
    /// Upgrade request headers.
    pub(crate) headers: Headers,
}

/// One WebSocket data frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WebSocketData {
    /// Payload.
    pub(crate) data: Vec<u8>,
    /// Binary (else UTF-8 text).
    pub(crate) binary: bool,
}

/// A WebSocket close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WebSocketClose {
    /// Close code, if any.
    pub(crate) code: Option<u16>,
    /// Close reason, if any.
    pub(crate) reason: Option<String>,
}
