//! The runner link's vocabulary: what a runner tells the core and what the core tells a runner,
//! whichever protocol the runner speaks.
//!
//! The gateway layer reads [`FromRunner`] and writes [`ToRunner`]; it never sees a protocol
//! version's messages. A protocol is a codec in `torpor-protocol` plus a mapping module here
//! ([`v7`] for runners, [`v8`] for envoys), chosen per connection by [`Protocol`]. Payload
//! types that every version encodes alike (ids, checkpoints, actor config, KV, headers) come from
//! `torpor_protocol::shared` unchanged.
//!
//! Tunnel directions are named for where the data goes: [`TunnelToActor`] carries a client's
//! request or frames to the actor, [`TunnelToClient`] the actor's answer back.

mod v7;
mod v8;

use std::collections::BTreeMap;

use bytes::Bytes;
use torpor_protocol::shared::{
    ActorCheckpoint, ActorConfig, ActorIntent, ActorName, ActorState, Event, EventWrapper, Headers,
    HibernatingRequest, KvRequestData, KvResponseData, MessageId, StopCode,
};
use torpor_protocol::{DecodeError, Limits, StrMap};

use crate::page_store::{PageAnswer, PageOp, PageOpKind};

/// The protocol a runner connection speaks, from its `protocol_version`: runner protocol v7
/// (`/runners/connect`) or envoy protocol v8 (`/envoys/connect`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// Rivet's runner protocol v7 (`@rivetkit/engine-runner@2.2`).
    V7,
    /// Rivet's envoy protocol v8 (RivetKit 2.3's native envoy).
    V8,
}

impl Protocol {
    /// The protocol of a `protocol_version`, if the core speaks it.
    pub(crate) const fn of_version(version: u16) -> Option<Self> {
        match version {
            v7::VERSION => Some(Self::V7),
            v8::VERSION => Some(Self::V8),
            _ => None,
        }
    }

    /// Its `protocol_version`.
    pub(crate) const fn version(self) -> u16 {
        match self {
            Self::V7 => v7::VERSION,
            Self::V8 => v8::VERSION,
        }
    }

    /// Decodes one frame from the runner.
    pub(crate) fn decode(self, bytes: &[u8], limits: Limits) -> Result<FromRunner, DecodeError> {
        match self {
            Self::V7 => v7::decode(bytes, limits),
            Self::V8 => v8::decode(bytes, limits),
        }
    }

    /// Encodes one message for the runner into a buffer its connection can share.
    pub(crate) fn encode(self, msg: ToRunner) -> Bytes {
        match self {
            Self::V7 => v7::encode(msg),
            Self::V8 => v8::encode(msg),
        }
    }

    /// Encodes the answer to a [`PagesCall`] in the response type of the call's kind; `None`
    /// for v7, which has no page store (its runners make no such call).
    pub(crate) fn encode_pages(
        self,
        request_id: u32,
        kind: PageOpKind,
        answer: PageAnswer,
    ) -> Option<Bytes> {
        match self {
            Self::V7 => None,
            Self::V8 => Some(v8::encode_pages(request_id, kind, answer)),
        }
    }

    /// Encodes one tunnel message for the runner.
    pub(crate) fn encode_tunnel(self, id: MessageId, msg: TunnelToActor) -> Bytes {
        match self {
            Self::V7 => v7::encode_tunnel(id, msg),
            Self::V8 => v8::encode_tunnel(id, msg),
        }
    }
}

/// An event as every protocol version encodes it ([`torpor_protocol::shared`]), in the link's
/// words.
fn actor_event(EventWrapper { checkpoint, inner }: EventWrapper) -> ActorEvent {
    let kind = match inner {
        Event::ActorStateUpdate(update) => match update.state {
            ActorState::Running => ActorEventKind::Running,
            ActorState::Stopped(stopped) => ActorEventKind::Stopped {
                ok: stopped.code == StopCode::Ok,
            },
        },
        Event::ActorIntent(intent) => match intent.intent {
            ActorIntent::Sleep => ActorEventKind::WantsSleep,
            ActorIntent::Stop => ActorEventKind::WantsStop,
        },
        Event::ActorSetAlarm(alarm) => ActorEventKind::SetAlarm(alarm.alarm_ts),
    };
    ActorEvent { checkpoint, kind }
}

/// The actor names a runner lists in its hello, with their JSON metadata (v7's init and v8's
/// metadata frame carry the same map).
fn actor_names(names: Option<StrMap<ActorName>>) -> Option<BTreeMap<String, String>> {
    names.map(|names| {
        names
            .iter()
            .map(|(name, n)| (name.to_owned(), n.metadata.clone()))
            .collect()
    })
}

/// Encoded size of a client frame of `payload_len` bytes on its way to the actor: what the
/// socket's un-acked window is charged before the frame is encoded. The same in v7 and v8
/// (one-byte tags, a 10-byte message id, the length, the payload and the binary flag); a test
/// in `v8` checks it.
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
    /// A SQLite page-store call from one of its actors (v8).
    Pages(PagesCall),
    /// An actor's answer to a client.
    Tunnel(MessageId, TunnelToClient),
    /// A call the gateway does not serve (v8's remote SQL execution: RivetKit's native envoy
    /// runs SQL itself over the page store), with its refusal already encoded in the call's
    /// own response type: the gateway sends it back as it is.
    Unserved(Bytes),
}

/// A runner's introduction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunnerHello {
    /// Runner name (its pool within the namespace); `None` when the protocol carries it in the
    /// connect URL instead (v8's `pool_name`).
    pub(crate) name: Option<String>,
    /// How many actors it hosts at most; `None`: no limit declared (v8 envoys).
    pub(crate) total_slots: Option<u32>,
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

/// A page-store call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PagesCall {
    /// The calling actor, as the runner names it.
    pub(crate) actor_id: String,
    /// The runner's id for the call, echoed in the answer.
    pub(crate) request_id: u32,
    /// The calling instance's generation, if it names one (RivetKit's always does).
    pub(crate) generation: Option<u64>,
    /// The operation.
    pub(crate) op: PageOp,
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
    /// Largest response body the gateway takes in one message (v8 tells the envoy).
    pub(crate) max_response_payload_bytes: u64,
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
    Stop(StopReason),
}

/// Why the gateway stops an actor instance (v8 tells the envoy; v7 has no field for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// The actor asked to sleep, or the gateway stops an instance it does not want running
    /// (its state stays).
    Sleep,
    /// The actor asked to stop.
    Stop,
    /// The actor is destroyed.
    Destroy,
    /// Its runner drains.
    GoingAway,
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
    /// Request-body credit or a body cancel (v8): moot, the gateway sends request bodies whole.
    RequestBodyFlow,
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
