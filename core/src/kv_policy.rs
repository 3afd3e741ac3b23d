//! Actor KV rules, with the reference's limits and error messages (RUNNER-PROTOCOL.md §10),
//! shared by every store so a second one (PostgreSQL later) enforces the same ones.
//!
//! Validation happens before anything is written, and its failures are ordinary responses
//! ([`KvErrorResponse`]) with the exact messages the reference sends, which runner code may show
//! or match. Unlike the reference, empty values are stored and returned (§17 #24).

use torpor_protocol::shared::{KvErrorResponse, KvListQuery, KvRequestData};

/// Most keys in one get, delete or put.
pub const MAX_KEYS: usize = 128;
/// Largest key, counted as the reference does: its length plus 2 bytes of tuple framing.
pub const MAX_KEY_SIZE: usize = 2048;
/// Largest value.
pub const MAX_VALUE_SIZE: usize = 128 * 1024;
/// Largest put payload: Σ(key + 2) + Σ value.
pub const MAX_PUT_PAYLOAD_SIZE: usize = 976 * 1024;
/// Most bytes (keys + values) stored per actor.
pub const MAX_STORAGE_SIZE: u64 = 10 * 1024 * 1024 * 1024;
/// Entries a list returns when the request sets no limit.
pub const DEFAULT_LIST_LIMIT: u64 = 16_384;
/// The `version` of every entry's metadata (the runner ignores it, but it must decode).
pub const ENTRY_VERSION: &[u8] = concat!("torpor-", env!("CARGO_PKG_VERSION")).as_bytes();

fn tuple_len(key: &[u8]) -> usize {
    key.len() + 2
}

fn refuse(message: impl Into<String>) -> KvErrorResponse {
    KvErrorResponse {
        message: message.into(),
    }
}

/// Whether the store may execute `request` for an actor that stores `stored` bytes now (only
/// a put looks at it); the error is the response to send instead, checked in the reference's
/// order.
pub fn validate(request: &KvRequestData, stored: u64) -> Result<(), KvErrorResponse> {
    match request {
        KvRequestData::Get(get) => check_keys(&get.keys),
        KvRequestData::Delete(del) => check_keys(&del.keys),
        KvRequestData::List(list) => match &list.query {
            KvListQuery::All => Ok(()),
            KvListQuery::Range(r) => check_range(&r.start, &r.end),
            KvListQuery::Prefix(p) if tuple_len(&p.key) > MAX_KEY_SIZE => {
                Err(refuse("prefix key is too long (max 2048 bytes)"))
            }
            KvListQuery::Prefix(_) => Ok(()),
        },
        KvRequestData::Put(put) => check_entries(&put.keys, &put.values, stored),
        KvRequestData::DeleteRange(range) => check_range(&range.start, &range.end),
        KvRequestData::Drop => Ok(()),
    }
}

fn check_keys(keys: &[Vec<u8>]) -> Result<(), KvErrorResponse> {
    if keys.len() > MAX_KEYS {
        return Err(refuse("a maximum of 128 keys is allowed"));
    }
    if keys.iter().any(|k| tuple_len(k) > MAX_KEY_SIZE) {
        return Err(refuse("key is too long (max 2048 bytes)"));
    }
    Ok(())
}

fn check_range(start: &[u8], end: &[u8]) -> Result<(), KvErrorResponse> {
    if tuple_len(start) > MAX_KEY_SIZE {
        return Err(refuse("start key is too long (max 2048 bytes)"));
    }
    if tuple_len(end) > MAX_KEY_SIZE {
        return Err(refuse("end key is too long (max 2048 bytes)"));
    }
    Ok(())
}

fn check_entries(keys: &[Vec<u8>], values: &[Vec<u8>], stored: u64) -> Result<(), KvErrorResponse> {
    if keys.len() != values.len() {
        return Err(refuse("Keys list length != values list length"));
    }
    if keys.len() > MAX_KEYS {
        return Err(refuse("A maximum of 128 key-value entries is allowed"));
    }
    let payload: usize = keys.iter().map(|k| tuple_len(k)).sum::<usize>()
        + values.iter().map(Vec::len).sum::<usize>();
    if payload > MAX_PUT_PAYLOAD_SIZE {
        return Err(refuse("total payload is too large (max 976 KiB)"));
    }
    let remaining = MAX_STORAGE_SIZE.saturating_sub(stored);
    if payload as u64 > remaining {
        return Err(refuse(format!(
            "Not enough space left in storage ({remaining} bytes remaining, current payload is {payload} bytes)."
        )));
    }
    if keys.iter().any(|k| tuple_len(k) > MAX_KEY_SIZE) {
        return Err(refuse("key is too long (max 2048 bytes)"));
    }
    if values.iter().any(|v| v.len() > MAX_VALUE_SIZE) {
        return Err(refuse("value is too large (max 128 KiB)"));
    }
    Ok(())
}

/// The smallest byte string greater than every string with prefix `p`, if any (drop trailing
/// 0xFF bytes, increment the last byte): a prefix list is the range `[p, successor)`.
pub fn prefix_successor(p: &[u8]) -> Option<Vec<u8>> {
    let mut s = p.to_vec();
    while let Some(last) = s.pop() {
        if last < 0xff {
            s.push(last + 1);
            return Some(s);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use torpor_protocol::shared::{KvGetRequest, KvPutRequest};

    #[test]
    fn prefix_successor_drops_trailing_ff_and_increments() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(&[0x01, 0xff, 0xff]), Some(vec![0x02]));
        assert_eq!(prefix_successor(&[0xff, 0xff]), None);
        assert_eq!(prefix_successor(&[]), None);
        assert_eq!(prefix_successor(&[0x00]), Some(vec![0x01]));
    }

    #[test]
    fn puts_are_checked_in_the_references_order() {
        let put = |keys: Vec<Vec<u8>>, values: Vec<Vec<u8>>| {
            KvRequestData::Put(KvPutRequest { keys, values })
        };
        let message = |r: Result<(), KvErrorResponse>| r.unwrap_err().message;
        assert_eq!(
            message(validate(&put(vec![vec![1]], vec![]), 0)),
            "Keys list length != values list length"
        );
        // Over the quota and with a key too long: the quota is named first, as the reference does.
        let long_key = vec![0u8; MAX_KEY_SIZE];
        assert_eq!(
            message(validate(
                &put(vec![long_key.clone()], vec![vec![1]]),
                MAX_STORAGE_SIZE
            )),
            format!(
                "Not enough space left in storage (0 bytes remaining, current payload is {} bytes).",
                MAX_KEY_SIZE + 3
            )
        );
        assert_eq!(
            message(validate(&put(vec![long_key], vec![vec![1]]), 0)),
            "key is too long (max 2048 bytes)"
        );
        assert!(validate(&put(vec![vec![1]], vec![vec![]]), 0).is_ok());
        let get = KvRequestData::Get(KvGetRequest {
            keys: vec![vec![0]; MAX_KEYS + 1],
        });
        assert_eq!(
            message(validate(&get, 0)),
            "a maximum of 128 keys is allowed"
        );
    }
}
