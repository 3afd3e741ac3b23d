//! Test-only: golden vectors written by the npm codecs (`interop/gen-vectors*.mjs`), read the
//! same way for every protocol version. Each version's test decodes every vector with our codec,
//! compares the value with the one npm decoded and our encoding with npm's bytes, and checks
//! that every union variant appears.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::describe::hex;

/// Bytes of a hex string; whitespace between bytes is allowed (worked examples group them).
pub(crate) fn unhex(s: &str) -> Vec<u8> {
    let digits: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
        .collect()
}

/// One vector: npm's bytes and the value npm decoded from them.
pub(crate) struct Vector {
    pub(crate) name: String,
    pub(crate) direction: String,
    pub(crate) bytes: Vec<u8>,
    pub(crate) value: Value,
}

/// The vectors of a file generated from `package` (name@version, checked).
pub(crate) fn load(json: &str, package: &str) -> Vec<Vector> {
    let doc: Value = serde_json::from_str(json).unwrap();
    assert_eq!(doc["package"], package);
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

/// Decodes every vector with `check` (our value and our re-encoding), compares both with npm's
/// and returns the union variants the values contain.
pub(crate) fn assert_byte_exact(
    vectors: &[Vector],
    check: impl Fn(&Vector) -> (Value, Vec<u8>),
) -> BTreeSet<String> {
    let mut tags = BTreeSet::new();
    for v in vectors {
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
        union_tags(&value, &mut tags);
    }
    tags
}

/// Every `{tag, val}` union value inside `v`.
fn union_tags(v: &Value, seen: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            if let (Some(Value::String(tag)), true) = (m.get("tag"), m.contains_key("val")) {
                seen.insert(tag.clone());
            }
            m.values().for_each(|x| union_tags(x, seen));
        }
        Value::Array(a) => a.iter().for_each(|x| union_tags(x, seen)),
        _ => {}
    }
}

/// The variants of the unions every protocol version shares ([`crate::shared`]): KV requests,
/// answers and list queries, events, intents and states. Each version's vectors must hold them
/// all, besides the variants of its own unions.
pub(crate) const SHARED_UNION_VARIANTS: &[&str] = &[
    "KvGetRequest",
    "KvListRequest",
    "KvPutRequest",
    "KvDeleteRequest",
    "KvDeleteRangeRequest",
    "KvDropRequest",
    "KvErrorResponse",
    "KvGetResponse",
    "KvListResponse",
    "KvPutResponse",
    "KvDeleteResponse",
    "KvDropResponse",
    "KvListAllQuery",
    "KvListRangeQuery",
    "KvListPrefixQuery",
    "EventActorIntent",
    "EventActorStateUpdate",
    "EventActorSetAlarm",
    "ActorIntentSleep",
    "ActorIntentStop",
    "ActorStateRunning",
    "ActorStateStopped",
];

/// Fails naming every expected union variant no vector contains.
pub(crate) fn assert_covered(seen: &BTreeSet<String>, expected: &[&str]) {
    let missing: Vec<_> = expected.iter().filter(|t| !seen.contains(**t)).collect();
    assert!(missing.is_empty(), "no vector for {missing:?}");
}

/// A frame, each of its truncations, and each of its single-byte corruptions (three flips per
/// byte): inputs near valid frames, where a codec's edge cases live.
pub(crate) fn near_misses(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut variants = vec![bytes.to_vec()];
    variants.extend((0..bytes.len()).map(|n| bytes[..n].to_vec()));
    for i in 0..bytes.len() {
        for flip in [0x01, 0x80, 0xff] {
            let mut b = bytes.to_vec();
            b[i] ^= flip;
            variants.push(b);
        }
    }
    variants
}

/// Runs the fuzz oracles over every golden vector of a file and each of its near misses: the
/// fuzz targets' property on stable, over inputs near valid frames.
pub(crate) fn oracles_hold_near_vectors(json: &str, package: &str, oracles: &[fn(&[u8])]) {
    let mut inputs = 0;
    for v in &load(json, package) {
        for b in near_misses(&v.bytes) {
            oracles.iter().for_each(|oracle| oracle(&b));
            inputs += 1;
        }
    }
    assert!(inputs > 10_000, "{inputs}");
}
