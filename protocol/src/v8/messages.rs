//! The two top-level frames: `ToRivet` (envoy → engine) and `ToEnvoy` (engine → envoy).

use super::sqlite::{
    SqliteCommitFinalizeRequest, SqliteCommitFinalizeResponse, SqliteCommitRequest,
    SqliteCommitResponse, SqliteCommitStageBeginRequest, SqliteCommitStageBeginResponse,
    SqliteCommitStageSegmentRequest, SqliteCommitStageSegmentResponse, SqliteExecRequest,
    SqliteExecResponse, SqliteExecuteBatchRequest, SqliteExecuteBatchResponse,
    SqliteExecuteRequest, SqliteExecuteResponse, SqliteGetPagesRequest, SqliteGetPagesResponse,
};
use super::tunnel::{ToEnvoyTunnelMessage, ToRivetTunnelMessage};
use super::types::{CommandWrapper, ProtocolMetadata};
use crate::map::StrMap;
use crate::shared::{ActorCheckpoint, ActorName, EventWrapper, KvRequestData, KvResponseData};
use crate::wire::{wire_struct, wire_union};

wire_struct! {
    /// The envoy's first frame: what it hosts.
    pub struct ToRivetMetadata {
        /// Actor names this envoy hosts, with JSON metadata.
        pub prepopulate_actor_names: Option<StrMap<ActorName>>,
        /// JSON metadata.
        pub metadata: Option<String>,
    }
}

wire_struct! {
    /// Last start command processed per actor.
    pub struct ToRivetAckCommands {
        /// Checkpoints.
        pub last_command_checkpoints: Vec<ActorCheckpoint>,
    }
}

wire_struct! {
    /// Answer to `ToEnvoyPing`, echoing its `ts`.
    pub struct ToRivetPong {
        /// The ping's timestamp.
        pub ts: i64,
    }
}

wire_struct! {
    /// A KV request of one actor.
    pub struct ToRivetKvRequest {
        /// The actor.
        pub actor_id: String,
        /// Envoy-chosen id echoed in the response.
        pub request_id: u32,
        /// The request.
        pub data: KvRequestData,
    }
}

wire_struct! {
    /// A page read of one actor's SQLite database.
    pub struct ToRivetSqliteGetPagesRequest {
        /// Envoy-chosen id echoed in the response.
        pub request_id: u32,
        /// The request.
        pub data: SqliteGetPagesRequest,
    }
}

wire_struct! {
    /// A commit of one actor's SQLite database.
    pub struct ToRivetSqliteCommitRequest {
        /// Envoy-chosen id echoed in the response.
        pub request_id: u32,
        /// The request.
        pub data: SqliteCommitRequest,
    }
}

wire_struct! {
    /// A staged commit's begin of one actor's SQLite database.
    pub struct ToRivetSqliteCommitStageBeginRequest {
        /// Envoy-chosen id echoed in the response.
        pub request_id: u32,
        /// The request.
        pub data: SqliteCommitStageBeginRequest,
    }
}

wire_struct! {
    /// A staged commit's segment of one actor's SQLite database.
    pub struct ToRivetSqliteCommitStageSegmentRequest {
        /// Envoy-chosen id echoed in the response.
        pub request_id: u32,
        /// The request.
        pub data: SqliteCommitStageSegmentRequest,
    }
}

wire_struct! {
    /// A staged commit's finalize of one actor's SQLite database.
    pub struct ToRivetSqliteCommitFinalizeRequest {
        /// Envoy-chosen id echoed in the response.
        pub request_id: u32,
        /// The request.
        pub data: SqliteCommitFinalizeRequest,
    }
}

wire_struct! {
    /// An exec of one actor's SQLite database.
    pub struct ToRivetSqliteExecRequest {
        /// Envoy-chosen id echoed in the response.
        pub request_id: u32,
        /// The request.
        pub data: SqliteExecRequest,
    }
}

wire_struct! {
    /// An execute of one actor's SQLite database.
    pub struct ToRivetSqliteExecuteRequest {
        /// Envoy-chosen id echoed in the response.
        pub request_id: u32,
        /// The request.
        pub data: SqliteExecuteRequest,
    }
}

wire_struct! {
    /// A batch of one actor's SQLite database.
    pub struct ToRivetSqliteExecuteBatchRequest {
        /// Envoy-chosen id echoed in the response.
        pub request_id: u32,
        /// The request.
        pub data: SqliteExecuteBatchRequest,
    }
}

wire_union! {
    /// Envoy → engine frame.
    pub enum ToRivet: "ToRivet", "" {
        /// What the envoy hosts (its first frame).
        0 => Metadata(ToRivetMetadata),
        /// Actor events.
        1 => Events(Vec<EventWrapper>),
        /// Command acknowledgements.
        2 => AckCommands(ToRivetAckCommands),
        /// The envoy is draining.
        3 => Stopping,
        /// Ping answer.
        4 => Pong(ToRivetPong),
        /// KV request.
        5 => KvRequest(ToRivetKvRequest),
        /// Tunnel message.
        6 => TunnelMessage(ToRivetTunnelMessage),
        /// SQLite: a page read.
        7 => SqliteGetPagesRequest(ToRivetSqliteGetPagesRequest),
        /// SQLite: a commit.
        8 => SqliteCommitRequest(ToRivetSqliteCommitRequest),
        /// SQLite: a staged commit's begin.
        9 => SqliteCommitStageBeginRequest(ToRivetSqliteCommitStageBeginRequest),
        /// SQLite: a staged commit's segment.
        10 => SqliteCommitStageSegmentRequest(ToRivetSqliteCommitStageSegmentRequest),
        /// SQLite: a staged commit's finalize.
        11 => SqliteCommitFinalizeRequest(ToRivetSqliteCommitFinalizeRequest),
        /// SQLite: an exec.
        12 => SqliteExecRequest(ToRivetSqliteExecRequest),
        /// SQLite: an execute.
        13 => SqliteExecuteRequest(ToRivetSqliteExecuteRequest),
        /// SQLite: a batch.
        14 => SqliteExecuteBatchRequest(ToRivetSqliteExecuteBatchRequest),
    }
}

wire_struct! {
    /// Handshake answer.
    pub struct ToEnvoyInit {
        /// Thresholds and limits.
        pub metadata: ProtocolMetadata,
    }
}

wire_struct! {
    /// Events persisted up to these checkpoints.
    pub struct ToEnvoyAckEvents {
        /// Checkpoints.
        pub last_event_checkpoints: Vec<ActorCheckpoint>,
    }
}

wire_struct! {
    /// Answer to a KV request.
    pub struct ToEnvoyKvResponse {
        /// The request's id.
        pub request_id: u32,
        /// The answer.
        pub data: KvResponseData,
    }
}

wire_struct! {
    /// Keepalive; the envoy answers with `ToRivetPong`.
    pub struct ToEnvoyPing {
        /// Engine timestamp, epoch milliseconds.
        pub ts: i64,
    }
}

wire_struct! {
    /// Answer to a page read.
    pub struct ToEnvoySqliteGetPagesResponse {
        /// The request's id.
        pub request_id: u32,
        /// The answer.
        pub data: SqliteGetPagesResponse,
    }
}

wire_struct! {
    /// Answer to a commit.
    pub struct ToEnvoySqliteCommitResponse {
        /// The request's id.
        pub request_id: u32,
        /// The answer.
        pub data: SqliteCommitResponse,
    }
}

wire_struct! {
    /// Answer to a staged commit's begin.
    pub struct ToEnvoySqliteCommitStageBeginResponse {
        /// The request's id.
        pub request_id: u32,
        /// The answer.
        pub data: SqliteCommitStageBeginResponse,
    }
}

wire_struct! {
    /// Answer to a staged commit's segment.
    pub struct ToEnvoySqliteCommitStageSegmentResponse {
        /// The request's id.
        pub request_id: u32,
        /// The answer.
        pub data: SqliteCommitStageSegmentResponse,
    }
}

wire_struct! {
    /// Answer to a staged commit's finalize.
    pub struct ToEnvoySqliteCommitFinalizeResponse {
        /// The request's id.
        pub request_id: u32,
        /// The answer.
        pub data: SqliteCommitFinalizeResponse,
    }
}

wire_struct! {
    /// Answer to an exec.
    pub struct ToEnvoySqliteExecResponse {
        /// The request's id.
        pub request_id: u32,
        /// The answer.
        pub data: SqliteExecResponse,
    }
}

wire_struct! {
    /// Answer to an execute.
    pub struct ToEnvoySqliteExecuteResponse {
        /// The request's id.
        pub request_id: u32,
        /// The answer.
        pub data: SqliteExecuteResponse,
    }
}

wire_struct! {
    /// Answer to a batch.
    pub struct ToEnvoySqliteExecuteBatchResponse {
        /// The request's id.
        pub request_id: u32,
        /// The answer.
        pub data: SqliteExecuteBatchResponse,
    }
}

wire_union! {
    /// Engine → envoy frame.
    pub enum ToEnvoy: "ToEnvoy", "" {
        /// Handshake answer.
        0 => Init(ToEnvoyInit),
        /// Actor commands.
        1 => Commands(Vec<CommandWrapper>),
        /// Event acknowledgements.
        2 => AckEvents(ToEnvoyAckEvents),
        /// KV answer.
        3 => KvResponse(ToEnvoyKvResponse),
        /// Tunnel message.
        4 => TunnelMessage(ToEnvoyTunnelMessage),
        /// Keepalive.
        5 => Ping(ToEnvoyPing),
        /// SQLite: answer to a page read.
        6 => SqliteGetPagesResponse(ToEnvoySqliteGetPagesResponse),
        /// SQLite: answer to a commit.
        7 => SqliteCommitResponse(ToEnvoySqliteCommitResponse),
        /// SQLite: answer to a staged commit's begin.
        8 => SqliteCommitStageBeginResponse(ToEnvoySqliteCommitStageBeginResponse),
        /// SQLite: answer to a staged commit's segment.
        9 => SqliteCommitStageSegmentResponse(ToEnvoySqliteCommitStageSegmentResponse),
        /// SQLite: answer to a staged commit's finalize.
        10 => SqliteCommitFinalizeResponse(ToEnvoySqliteCommitFinalizeResponse),
        /// SQLite: answer to an exec.
        11 => SqliteExecResponse(ToEnvoySqliteExecResponse),
        /// SQLite: answer to an execute.
        12 => SqliteExecuteResponse(ToEnvoySqliteExecuteResponse),
        /// SQLite: answer to a batch.
        13 => SqliteExecuteBatchResponse(ToEnvoySqliteExecuteBatchResponse),
    }
}

crate::wire::frame_codec!(ToRivet, ToEnvoy);
