//! Rivet envoy protocol v8: types and a strict BARE codec, byte-compatible with
//! `@rivetkit/engine-envoy-protocol@2.3.19` (RivetKit 2.3's native envoy).
//!
//! One WebSocket binary frame carries one top-level value: [`ToRivet`] from the envoy,
//! [`ToEnvoy`] to it. What v8 shares with v7 (ids, checkpoints, actor config, events, KV,
//! headers) is [`crate::shared`]'s; what differs is here: union tags renumbered, a metadata
//! frame instead of an init with slots, stop reasons, preloaded KV on start, the actor
//! generation on requests and opens, request and response body flow control, and the SQLite
//! families (page store and statements). Decoding is as strict as v7's.

mod messages;
#[cfg(any(test, feature = "fuzz"))]
pub mod roundtrip;
mod sqlite;
#[cfg(test)]
mod tests;
mod tunnel;
mod types;

pub use messages::{
    ToEnvoy, ToEnvoyAckEvents, ToEnvoyInit, ToEnvoyKvResponse, ToEnvoyPing,
    ToEnvoySqliteCommitFinalizeResponse, ToEnvoySqliteCommitResponse,
    ToEnvoySqliteCommitStageBeginResponse, ToEnvoySqliteCommitStageSegmentResponse,
    ToEnvoySqliteExecResponse, ToEnvoySqliteExecuteBatchResponse, ToEnvoySqliteExecuteResponse,
    ToEnvoySqliteGetPagesResponse, ToRivet, ToRivetAckCommands, ToRivetKvRequest, ToRivetMetadata,
    ToRivetPong, ToRivetSqliteCommitFinalizeRequest, ToRivetSqliteCommitRequest,
    ToRivetSqliteCommitStageBeginRequest, ToRivetSqliteCommitStageSegmentRequest,
    ToRivetSqliteExecRequest, ToRivetSqliteExecuteBatchRequest, ToRivetSqliteExecuteRequest,
    ToRivetSqliteGetPagesRequest,
};
pub use sqlite::{
    SqliteBatchStatement, SqliteBindParam, SqliteColumnValue, SqliteCommitFinalizeOk,
    SqliteCommitFinalizeRequest, SqliteCommitFinalizeResponse, SqliteCommitOk, SqliteCommitRequest,
    SqliteCommitResponse, SqliteCommitStageBeginOk, SqliteCommitStageBeginRequest,
    SqliteCommitStageBeginResponse, SqliteCommitStageSegmentOk, SqliteCommitStageSegmentRequest,
    SqliteCommitStageSegmentResponse, SqliteDirtyPage, SqliteErrorResponse, SqliteExecOk,
    SqliteExecRequest, SqliteExecResponse, SqliteExecuteBatchOk, SqliteExecuteBatchRequest,
    SqliteExecuteBatchResponse, SqliteExecuteOk, SqliteExecuteRequest, SqliteExecuteResponse,
    SqliteExecuteResult, SqliteFetchedPage, SqliteGetPagesOk, SqliteGetPagesRequest,
    SqliteGetPagesResponse, SqliteQueryResult, SqliteValueBlob, SqliteValueFloat,
    SqliteValueInteger, SqliteValueText,
};
pub use tunnel::{
    HttpStreamAbortReason, HttpStreamAbortReasonKind, ToEnvoyRequestAbort, ToEnvoyRequestChunk,
    ToEnvoyRequestStart, ToEnvoyResponseBodyWindowUpdate, ToEnvoyTunnelMessage,
    ToEnvoyTunnelMessageKind, ToEnvoyWebSocketClose, ToEnvoyWebSocketMessage, ToEnvoyWebSocketOpen,
    ToRivetRequestBodyWindowUpdate, ToRivetResponseAbort, ToRivetResponseChunk,
    ToRivetResponseStart, ToRivetTunnelMessage, ToRivetTunnelMessageKind, ToRivetWebSocketClose,
    ToRivetWebSocketMessage, ToRivetWebSocketMessageAck, ToRivetWebSocketOpen,
};
pub use types::{
    Command, CommandStartActor, CommandStopActor, CommandWrapper, PreloadedKv, PreloadedKvEntry,
    ProtocolMetadata, StopActorReason,
};

/// The envoy protocol version (`protocol_version` query parameter of `/envoys/connect`).
pub const PROTOCOL_VERSION: u16 = 8;
