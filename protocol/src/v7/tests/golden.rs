//! Golden vectors from the real npm codec (`interop/gen-vectors.mjs`): for every vector, our
//! decoder yields exactly the value the npm decoder saw, and our encoder reproduces the npm
//! bytes.

use serde_json::Value;

use super::super::{ToClient, ToServer};
use crate::describe::Describe;
use crate::golden::{SHARED_UNION_VARIANTS, Vector, assert_byte_exact, assert_covered, load};

const VECTORS: &str = include_str!("../../../tests/golden/runner-v7.json");

fn vectors() -> Vec<Vector> {
    load(VECTORS, "@rivetkit/engine-runner-protocol@2.2.1")
}

/// Decodes with our codec, compares the value, re-encodes, compares the bytes.
fn check(v: &Vector) -> (Value, Vec<u8>) {
    match v.direction.as_str() {
        "ToServer" => {
            let frame = ToServer::decode(&v.bytes)
                .unwrap_or_else(|e| panic!("{}: npm bytes rejected: {e}", v.name));
            assert_eq!(
                frame.encoded_len(),
                v.bytes.len(),
                "{}: encoded_len",
                v.name
            );
            (frame.describe(), frame.to_bytes())
        }
        "ToClient" => {
            let frame = ToClient::decode(&v.bytes)
                .unwrap_or_else(|e| panic!("{}: npm bytes rejected: {e}", v.name));
            assert_eq!(
                frame.encoded_len(),
                v.bytes.len(),
                "{}: encoded_len",
                v.name
            );
            (frame.describe(), frame.to_bytes())
        }
        other => panic!("{}: unknown direction {other}", v.name),
    }
}

#[test]
fn every_vector_is_byte_exact_both_ways() {
    let vectors = vectors();
    assert!(vectors.len() >= 60, "only {} vectors", vectors.len());
    assert_byte_exact(&vectors, check);
}

/// Acceptance: at least one vector per variant of each union, collected from the decoded
/// values themselves (so a vector file that silently lost a variant fails here).
#[test]
fn vectors_cover_every_union_variant() {
    let seen = assert_byte_exact(&vectors(), check);
    let expected = [
        // ToServer
        "ToServerInit",
        "ToServerEvents",
        "ToServerAckCommands",
        "ToServerStopping",
        "ToServerPong",
        "ToServerKvRequest",
        "ToServerTunnelMessage",
        // ToClient
        "ToClientInit",
        "ToClientCommands",
        "ToClientAckEvents",
        "ToClientKvResponse",
        "ToClientTunnelMessage",
        "ToClientPing",
        // ToServerTunnelMessageKind
        "ToServerResponseStart",
        "ToServerResponseChunk",
        "ToServerResponseAbort",
        "ToServerWebSocketOpen",
        "ToServerWebSocketMessage",
        "ToServerWebSocketMessageAck",
        "ToServerWebSocketClose",
        // ToClientTunnelMessageKind
        "ToClientRequestStart",
        "ToClientRequestChunk",
        "ToClientRequestAbort",
        "ToClientWebSocketOpen",
        "ToClientWebSocketMessage",
        "ToClientWebSocketClose",
        // Command
        "CommandStartActor",
        "CommandStopActor",
    ];
    assert_covered(&seen, &expected);
    assert_covered(&seen, SHARED_UNION_VARIANTS);
}
