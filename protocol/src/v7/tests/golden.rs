//! Golden vectors from the real npm codec (`interop/gen-vectors.mjs`): for every vector, our
//! decoder yields exactly the value the npm decoder saw, and our encoder reproduces the npm
//! bytes.

use serde_json::Value;

use super::super::{ToClient, ToServer};
use crate::describe::{Describe, hex};

const VECTORS: &str = include_str!("../../../tests/golden/runner-v7.json");

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

struct Vector {
    name: String,
    direction: String,
    bytes: Vec<u8>,
    value: Value,
}

fn vectors() -> Vec<Vector> {
    let doc: Value = serde_json::from_str(VECTORS).unwrap();
    assert_eq!(doc["package"], "@rivetkit/engine-runner-protocol@2.2.1");
    doc["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| Vector {
            name: v["name"].as_str().unwrap().to_owned(),
            direction: v["direction"].as_str().unwrap().to_owned(),
            bytes: unhex(v["hex"].as_str().unwrap()),
            value: v["value"].clone(),
        })
        .collect()
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
    for v in &vectors {
        let (value, bytes) = check(v);
        assert_eq!(
            value, v.value,
            "{}: decoded value differs from npm's",
            v.name
        );
        assert_eq!(
            hex(&bytes),
            hex(&v.bytes),
            "{}: our encoding differs from npm's",
            v.name
        );
    }
}

/// Acceptance: at least one vector per variant of each union, collected from the decoded
/// values themselves (so a vector file that silently lost a variant fails here).
#[test]
fn vectors_cover_every_union_variant() {
    fn walk(v: &Value, seen: &mut std::collections::BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                if let (Some(Value::String(tag)), true) = (m.get("tag"), m.contains_key("val")) {
                    seen.insert(tag.clone());
                }
                m.values().for_each(|x| walk(x, seen));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, seen)),
            _ => {}
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for v in vectors() {
        walk(&check(&v).0, &mut seen);
    }
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
        // KvRequestData
        "KvGetRequest",
        "KvListRequest",
        "KvPutRequest",
        "KvDeleteRequest",
        "KvDeleteRangeRequest",
        "KvDropRequest",
        // KvResponseData
        "KvErrorResponse",
        "KvGetResponse",
        "KvListResponse",
        "KvPutResponse",
        "KvDeleteResponse",
        "KvDropResponse",
        // KvListQuery
        "KvListAllQuery",
        "KvListRangeQuery",
        "KvListPrefixQuery",
        // Command, Event, ActorIntent, ActorState
        "CommandStartActor",
        "CommandStopActor",
        "EventActorIntent",
        "EventActorStateUpdate",
        "EventActorSetAlarm",
        "ActorIntentSleep",
        "ActorIntentStop",
        "ActorStateRunning",
        "ActorStateStopped",
    ];
    let missing: Vec<_> = expected.iter().filter(|t| !seen.contains(**t)).collect();
    assert!(missing.is_empty(), "no vector for {missing:?}");
}
