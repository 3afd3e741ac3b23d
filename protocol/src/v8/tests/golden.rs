//! Golden vectors from the real npm codec (`interop/gen-vectors-v8.mjs`): for every vector, our
//! decoder yields exactly the value the npm decoder saw, and our encoder reproduces the npm
//! bytes.

use serde_json::Value;

use super::super::{ToEnvoy, ToRivet};
use crate::describe::Describe;
use crate::golden::{SHARED_UNION_VARIANTS, Vector, assert_byte_exact, assert_covered, load};

const VECTORS: &str = include_str!("../../../tests/golden/envoy-v8.json");

fn vectors() -> Vec<Vector> {
    load(VECTORS, "@rivetkit/engine-envoy-protocol@2.3.19")
}

/// Decodes with our codec, compares the value, re-encodes, compares the bytes.
fn check(v: &Vector) -> (Value, Vec<u8>) {
    fn both<T: Describe>(v: &Vector, frame: T, len: usize, bytes: Vec<u8>) -> (Value, Vec<u8>) {
        assert_eq!(len, v.bytes.len(), "{}: encoded_len", v.name);
        (frame.describe(), bytes)
    }
    let rejected = |e: crate::DecodeError| -> ! { panic!("{}: npm bytes rejected: {e}", v.name) };
    match v.direction.as_str() {
        "ToRivet" => {
            let frame = ToRivet::decode(&v.bytes).unwrap_or_else(|e| rejected(e));
            let (len, bytes) = (frame.encoded_len(), frame.to_bytes());
            both(v, frame, len, bytes)
        }
        "ToEnvoy" => {
            let frame = ToEnvoy::decode(&v.bytes).unwrap_or_else(|e| rejected(e));
            let (len, bytes) = (frame.encoded_len(), frame.to_bytes());
            both(v, frame, len, bytes)
        }
        other => panic!("{}: unknown direction {other}", v.name),
    }
}

#[test]
fn every_vector_is_byte_exact_both_ways() {
    let vectors = vectors();
    assert!(vectors.len() >= 70, "only {} vectors", vectors.len());
    assert_byte_exact(&vectors, check);
}

/// Every variant of every union, and every value of every enum, appears in some vector.
#[test]
fn vectors_cover_every_union_variant_and_enum_value() {
    let vectors = vectors();
    let seen = assert_byte_exact(&vectors, check);
    let sqlite_requests = [
        "GetPages",
        "Commit",
        "CommitStageBegin",
        "CommitStageSegment",
        "CommitFinalize",
        "Exec",
        "Execute",
        "ExecuteBatch",
    ];
    let mut expected: Vec<String> = [
        // ToRivet
        "ToRivetMetadata",
        "ToRivetEvents",
        "ToRivetAckCommands",
        "ToRivetStopping",
        "ToRivetPong",
        "ToRivetKvRequest",
        "ToRivetTunnelMessage",
        // ToEnvoy
        "ToEnvoyInit",
        "ToEnvoyCommands",
        "ToEnvoyAckEvents",
        "ToEnvoyKvResponse",
        "ToEnvoyTunnelMessage",
        "ToEnvoyPing",
        // ToRivetTunnelMessageKind
        "ToRivetResponseStart",
        "ToRivetResponseChunk",
        "ToRivetResponseAbort",
        "ToRivetRequestBodyWindowUpdate",
        "ToRivetRequestBodyCancel",
        "ToRivetWebSocketOpen",
        "ToRivetWebSocketMessage",
        "ToRivetWebSocketMessageAck",
        "ToRivetWebSocketClose",
        // ToEnvoyTunnelMessageKind
        "ToEnvoyRequestStart",
        "ToEnvoyRequestChunk",
        "ToEnvoyRequestAbort",
        "ToEnvoyRequestBodyCancel",
        "ToEnvoyResponseBodyWindowUpdate",
        "ToEnvoyWebSocketOpen",
        "ToEnvoyWebSocketMessage",
        "ToEnvoyWebSocketClose",
        // Commands
        "CommandStartActor",
        "CommandStopActor",
        // SQLite answers and values
        "SqliteGetPagesOk",
        "SqliteCommitOk",
        "SqliteCommitStageBeginOk",
        "SqliteCommitStageSegmentOk",
        "SqliteCommitFinalizeOk",
        "SqliteExecOk",
        "SqliteExecuteOk",
        "SqliteExecuteBatchOk",
        "SqliteErrorResponse",
        "SqliteValueNull",
        "SqliteValueInteger",
        "SqliteValueFloat",
        "SqliteValueText",
        "SqliteValueBlob",
    ]
    .map(str::to_owned)
    .to_vec();
    for r in sqlite_requests {
        expected.push(format!("ToRivetSqlite{r}Request"));
        expected.push(format!("ToEnvoySqlite{r}Response"));
    }
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_covered(&seen, &expected);
    assert_covered(&seen, SHARED_UNION_VARIANTS);

    // Enums are plain strings in the values.
    let text: String = vectors.iter().map(|v| v.value.to_string()).collect();
    for value in [
        "\"Ok\"",
        "\"Error\"",
        "\"SleepIntent\"",
        "\"StopIntent\"",
        "\"Destroy\"",
        "\"GoingAway\"",
        "\"Lost\"",
        "\"Unknown\"",
        "\"Cancelled\"",
        "\"HandlerError\"",
        "\"InternalError\"",
    ] {
        assert!(
            text.contains(value),
            "no vector carries the enum value {value}"
        );
    }
}
