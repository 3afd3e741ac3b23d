//! Types every Rivet protocol version encodes alike (runner protocol v7, envoy protocol v8): ids,
//! checkpoints, actor config, hibernating requests, stop codes, actor names, events (intents,
//! state updates, alarms), KV requests and responses, headers.
//! The version modules build their messages from these, so the core's vocabulary can carry them
//! whichever protocol a runner speaks.
//!
//! Field names are the schemas' in snake case; field order is the schemas' and defines the bytes.

use std::fmt;

use crate::error::DecodeError;
use crate::map::StrMap;
use crate::wire::{ListElement, Reader, Wire, wire_enum, wire_struct, wire_union};

macro_rules! id4 {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name([u8; 4]);

        impl $name {
            /// Wraps the four wire bytes.
            pub const fn from_bytes(bytes: [u8; 4]) -> Self {
                Self(bytes)
            }
            /// The four wire bytes.
            pub const fn to_bytes(self) -> [u8; 4] {
                self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let [a, b, c, d] = self.0;
                write!(f, concat!($prefix, "#{:02x}{:02x}{:02x}{:02x}"), a, b, c, d)
            }
        }

        impl Wire for $name {
            const MIN_LEN: usize = 4;
            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                r.array().map(Self)
            }
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.0);
            }
            fn encoded_len(&self) -> usize {
                4
            }
        }
    };
}

id4!(
    /// `GatewayId = data[4]`: random per gateway incarnation.
    GatewayId,
    "gw"
);
id4!(
    /// `RequestId = data[4]`: one client request or WebSocket, for its whole life.
    RequestId,
    "rq"
);

impl ListElement for Vec<u8> {}
impl ListElement for u32 {}
impl ListElement for String {}

wire_struct! {
    /// Addresses one tunnel message (10 bytes on the wire).
    #[derive(Copy)]
    pub struct MessageId {
        /// The gateway incarnation that owns the request.
        pub gateway_id: GatewayId,
        /// The request within that gateway.
        pub request_id: RequestId,
        /// Per-request counter (server → runner: 0 = open, 1 = first data message; wraps).
        pub message_index: u16,
    }
}

wire_struct! {
    /// `{actorId, generation, index}`: where a command or event stands.
    pub struct ActorCheckpoint {
        /// The actor.
        pub actor_id: String,
        /// Allocation of the actor to a runner.
        pub generation: u32,
        /// Command or event index within that generation.
        pub index: i64,
    }
}

wire_struct! {
    /// Configuration sent with `CommandStartActor`.
    pub struct ActorConfig {
        /// Actor name.
        pub name: String,
        /// Actor key, if any.
        pub key: Option<String>,
        /// Creation time, epoch milliseconds.
        pub create_ts: i64,
        /// Opaque input bytes.
        pub input: Option<Vec<u8>>,
    }
}

wire_struct! {
    /// A hibernating WebSocket the starting actor must restore (8 bytes on the wire).
    #[derive(Copy)]
    pub struct HibernatingRequest {
        /// Gateway of the socket.
        pub gateway_id: GatewayId,
        /// Request of the socket.
        pub request_id: RequestId,
    }
}

wire_enum! {
    /// `StopCode`: how an actor stopped.
    pub enum StopCode {
        /// Destroyed, or stopped while the runner drains.
        0 => Ok,
        /// Everything else, including an ordinary sleep.
        1 => Error,
    }
}

// ---------------------------------------------------------------- actor names and events (runner → server)

wire_struct! {
    /// An actor name the runner can host, with JSON metadata.
    pub struct ActorName {
        /// JSON text.
        pub metadata: String,
    }
}

wire_union! {
    /// What the actor asks the server to do with it.
    pub enum ActorIntent: "ActorIntent", "" {
        /// `sleepActor`.
        0 => Sleep,
        /// `stopActor` / `destroyActor`.
        1 => Stop,
    }
}

wire_struct! {
    /// Body of `ActorState::Stopped`.
    pub struct ActorStateStopped {
        /// Stop code (a sleep reports `Error`).
        pub code: StopCode,
        /// Optional message.
        pub message: Option<String>,
    }
}

wire_union! {
    /// Actor state reported by the runner.
    pub enum ActorState: "ActorState", "" {
        /// The actor is running (sent before `onActorStart` completes).
        0 => Running,
        /// The actor stopped.
        1 => Stopped(ActorStateStopped),
    }
}

wire_struct! {
    /// Body of `Event::ActorIntent`.
    pub struct EventActorIntent {
        /// The intent.
        pub intent: ActorIntent,
    }
}

wire_struct! {
    /// Body of `Event::ActorStateUpdate`.
    pub struct EventActorStateUpdate {
        /// The new state.
        pub state: ActorState,
    }
}

wire_struct! {
    /// Body of `Event::ActorSetAlarm`.
    pub struct EventActorSetAlarm {
        /// Alarm time in epoch milliseconds, or `None` to clear.
        pub alarm_ts: Option<i64>,
    }
}

wire_union! {
    /// A runner event about one actor.
    pub enum Event: "Event", "" {
        /// Sleep or stop intent.
        0 => ActorIntent(EventActorIntent),
        /// Running or stopped.
        1 => ActorStateUpdate(EventActorStateUpdate),
        /// Alarm set or cleared.
        2 => ActorSetAlarm(EventActorSetAlarm),
    }
}

wire_struct! {
    /// An event with its checkpoint (for dedupe and acks).
    pub struct EventWrapper {
        /// Actor, generation and event index.
        pub checkpoint: ActorCheckpoint,
        /// The event.
        pub inner: Event,
    }
}

// ---------------------------------------------------------------- KV

wire_struct! {
    /// Per-key metadata in KV responses.
    pub struct KvMetadata {
        /// Engine version string bytes.
        pub version: Vec<u8>,
        /// Last update, epoch milliseconds.
        pub update_ts: i64,
    }
}

wire_struct! {
    /// Keys in `[start, end)` (or `[start, end]` unless `exclusive`).
    pub struct KvListRangeQuery {
        /// First key.
        pub start: Vec<u8>,
        /// Last key.
        pub end: Vec<u8>,
        /// Whether `end` itself is excluded.
        pub exclusive: bool,
    }
}

wire_struct! {
    /// Keys starting with `key`.
    pub struct KvListPrefixQuery {
        /// The prefix.
        pub key: Vec<u8>,
    }
}

wire_union! {
    /// Which keys a list request covers.
    pub enum KvListQuery: "KvList", "Query" {
        /// Every key.
        0 => All,
        /// A key range.
        1 => Range(KvListRangeQuery),
        /// A key prefix.
        2 => Prefix(KvListPrefixQuery),
    }
}

wire_struct! {
    /// Get the given keys.
    pub struct KvGetRequest {
        /// Keys.
        pub keys: Vec<Vec<u8>>,
    }
}

wire_struct! {
    /// List keys.
    pub struct KvListRequest {
        /// Which keys.
        pub query: KvListQuery,
        /// Descending order if `Some(true)`.
        pub reverse: Option<bool>,
        /// Maximum entries.
        pub limit: Option<u64>,
    }
}

wire_struct! {
    /// Upsert keys (parallel arrays).
    pub struct KvPutRequest {
        /// Keys.
        pub keys: Vec<Vec<u8>>,
        /// Values.
        pub values: Vec<Vec<u8>>,
    }
}

wire_struct! {
    /// Delete keys.
    pub struct KvDeleteRequest {
        /// Keys.
        pub keys: Vec<Vec<u8>>,
    }
}

wire_struct! {
    /// Delete keys in `[start, end)`.
    pub struct KvDeleteRangeRequest {
        /// First key.
        pub start: Vec<u8>,
        /// End key (excluded).
        pub end: Vec<u8>,
    }
}

wire_union! {
    /// A KV request.
    pub enum KvRequestData: "Kv", "Request" {
        /// Get.
        0 => Get(KvGetRequest),
        /// List.
        1 => List(KvListRequest),
        /// Put.
        2 => Put(KvPutRequest),
        /// Delete.
        3 => Delete(KvDeleteRequest),
        /// Delete range (answered with `KvResponseData::Delete`).
        4 => DeleteRange(KvDeleteRangeRequest),
        /// Drop every key of the actor.
        5 => Drop,
    }
}

wire_struct! {
    /// KV failure; the runner rejects the request's promise with `message`.
    pub struct KvErrorResponse {
        /// Error text.
        pub message: String,
    }
}

wire_struct! {
    /// Keys found (parallel arrays).
    pub struct KvGetResponse {
        /// Keys that exist.
        pub keys: Vec<Vec<u8>>,
        /// Their values.
        pub values: Vec<Vec<u8>>,
        /// Their metadata.
        pub metadata: Vec<KvMetadata>,
    }
}

wire_struct! {
    /// Keys listed (parallel arrays).
    pub struct KvListResponse {
        /// Keys.
        pub keys: Vec<Vec<u8>>,
        /// Values.
        pub values: Vec<Vec<u8>>,
        /// Metadata.
        pub metadata: Vec<KvMetadata>,
    }
}

wire_union! {
    /// A KV response.
    pub enum KvResponseData: "Kv", "Response" {
        /// Failure.
        0 => Error(KvErrorResponse),
        /// Get result.
        1 => Get(KvGetResponse),
        /// List result.
        2 => List(KvListResponse),
        /// Put done.
        3 => Put,
        /// Delete or delete-range done.
        4 => Delete,
        /// Drop done.
        5 => Drop,
    }
}

/// Headers: `map<str><str>`.
pub type Headers = StrMap<String>;
