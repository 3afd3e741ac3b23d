//! Actor KV with the reference's semantics and limits (RUNNER-PROTOCOL.md §10).
//!
//! Validation happens before anything is written, and its failures are ordinary responses
//! (`KvErrorResponse`) with the exact messages the reference sends, which runner code may show or
//! match. Unlike the reference, empty values are stored and returned (§17 #24).

use rusqlite::{Connection, params};
use torpor_protocol::v7::{
    KvErrorResponse, KvGetResponse, KvListQuery, KvListRequest, KvListResponse, KvMetadata,
    KvRequestData, KvResponseData,
};

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
const VERSION: &[u8] = concat!("torpor-", env!("CARGO_PKG_VERSION")).as_bytes();

fn tuple_len(key: &[u8]) -> usize {
    key.len() + 2
}

fn error(message: impl Into<String>) -> KvResponseData {
    KvResponseData::Error(KvErrorResponse {
        message: message.into(),
    })
}

fn check_keys(keys: &[Vec<u8>]) -> Result<(), KvResponseData> {
    if keys.len() > MAX_KEYS {
        return Err(error("a maximum of 128 keys is allowed"));
    }
    if keys.iter().any(|k| tuple_len(k) > MAX_KEY_SIZE) {
        return Err(error("key is too long (max 2048 bytes)"));
    }
    Ok(())
}

fn check_range(start: &[u8], end: &[u8]) -> Result<(), KvResponseData> {
    if tuple_len(start) > MAX_KEY_SIZE {
        return Err(error("start key is too long (max 2048 bytes)"));
    }
    if tuple_len(end) > MAX_KEY_SIZE {
        return Err(error("end key is too long (max 2048 bytes)"));
    }
    Ok(())
}

/// Put validation, in the reference's order; `stored` is the actor's current usage.
fn check_entries(keys: &[Vec<u8>], values: &[Vec<u8>], stored: u64) -> Result<(), KvResponseData> {
    if keys.len() != values.len() {
        return Err(error("Keys list length != values list length"));
    }
    if keys.len() > MAX_KEYS {
        return Err(error("A maximum of 128 key-value entries is allowed"));
    }
    let payload: usize = keys.iter().map(|k| tuple_len(k)).sum::<usize>()
        + values.iter().map(Vec::len).sum::<usize>();
    if payload > MAX_PUT_PAYLOAD_SIZE {
        return Err(error("total payload is too large (max 976 KiB)"));
    }
    let remaining = MAX_STORAGE_SIZE.saturating_sub(stored);
    if payload as u64 > remaining {
        return Err(error(format!(
            "Not enough space left in storage ({remaining} bytes remaining, current payload is {payload} bytes)."
        )));
    }
    if keys.iter().any(|k| tuple_len(k) > MAX_KEY_SIZE) {
        return Err(error("key is too long (max 2048 bytes)"));
    }
    if values.iter().any(|v| v.len() > MAX_VALUE_SIZE) {
        return Err(error("value is too large (max 128 KiB)"));
    }
    Ok(())
}

/// The smallest byte string greater than every string with prefix `p`, if any: drop trailing
/// 0xFF bytes and increment the last byte.
pub(crate) fn prefix_successor(p: &[u8]) -> Option<Vec<u8>> {
    let mut s = p.to_vec();
    while let Some(last) = s.pop() {
        if last < 0xff {
            s.push(last + 1);
            return Some(s);
        }
    }
    None
}

/// Executes one KV request for `actor` inside the batch transaction.
pub(crate) fn execute(
    tx: &Connection,
    actor: &str,
    request: KvRequestData,
    now_ms: i64,
) -> rusqlite::Result<KvResponseData> {
    let result = match request {
        KvRequestData::Get(get) => check_keys(&get.keys).map(|()| get_keys(tx, actor, &get.keys)),
        KvRequestData::List(list) => validate_list(&list).map(|()| list_keys(tx, actor, &list)),
        KvRequestData::Put(put) => {
            let stored = usage(tx, actor)?;
            check_entries(&put.keys, &put.values, stored)
                .map(|()| put_entries(tx, actor, &put.keys, &put.values, now_ms))
        }
        KvRequestData::Delete(del) => {
            check_keys(&del.keys).map(|()| delete_keys(tx, actor, &del.keys))
        }
        KvRequestData::DeleteRange(range) => check_range(&range.start, &range.end)
            .map(|()| delete_range(tx, actor, &range.start, &range.end)),
        KvRequestData::Drop => Ok(drop_all(tx, actor)),
    };
    match result {
        Ok(done) => done,
        Err(refused) => Ok(refused),
    }
}

fn validate_list(list: &KvListRequest) -> Result<(), KvResponseData> {
    match &list.query {
        KvListQuery::All => Ok(()),
        KvListQuery::Range(r) => check_range(&r.start, &r.end),
        KvListQuery::Prefix(p) if tuple_len(&p.key) > MAX_KEY_SIZE => {
            Err(error("prefix key is too long (max 2048 bytes)"))
        }
        KvListQuery::Prefix(_) => Ok(()),
    }
}

fn usage(tx: &Connection, actor: &str) -> rusqlite::Result<u64> {
    let mut stmt = tx.prepare_cached("SELECT bytes FROM kv_usage WHERE actor_id = ?1")?;
    let mut rows = stmt.query(params![actor])?;
    Ok(match rows.next()? {
        Some(row) => row.get::<_, i64>(0)?.max(0) as u64,
        None => 0,
    })
}

fn add_usage(tx: &Connection, actor: &str, delta: i64) -> rusqlite::Result<()> {
    if delta == 0 {
        return Ok(());
    }
    tx.prepare_cached(
        "INSERT INTO kv_usage (actor_id, bytes) VALUES (?1, ?2)
         ON CONFLICT (actor_id) DO UPDATE SET bytes = bytes + excluded.bytes",
    )?
    .execute(params![actor, delta])?;
    Ok(())
}

fn metadata(update_ts: i64) -> KvMetadata {
    KvMetadata {
        version: VERSION.to_vec(),
        update_ts,
    }
}

/// Only keys that exist, in request order.
fn get_keys(tx: &Connection, actor: &str, keys: &[Vec<u8>]) -> rusqlite::Result<KvResponseData> {
    let mut stmt =
        tx.prepare_cached("SELECT value, update_ts FROM kv WHERE actor_id = ?1 AND key = ?2")?;
    let mut out = KvGetResponse {
        keys: Vec::new(),
        values: Vec::new(),
        metadata: Vec::new(),
    };
    for key in keys {
        let mut rows = stmt.query(params![actor, key])?;
        if let Some(row) = rows.next()? {
            out.keys.push(key.clone());
            out.values.push(row.get(0)?);
            out.metadata.push(metadata(row.get(1)?));
        }
    }
    Ok(KvResponseData::Get(out))
}

fn list_keys(
    tx: &Connection,
    actor: &str,
    list: &KvListRequest,
) -> rusqlite::Result<KvResponseData> {
    let order = if list.reverse == Some(true) {
        "DESC"
    } else {
        "ASC"
    };
    let limit = i64::try_from(list.limit.unwrap_or(DEFAULT_LIST_LIMIT)).unwrap_or(i64::MAX);
    let (bounds, lo, hi): (&str, Option<Vec<u8>>, Option<Vec<u8>>) = match &list.query {
        KvListQuery::All => ("", None, None),
        KvListQuery::Range(r) if r.exclusive => (
            "AND key >= ?3 AND key < ?4",
            Some(r.start.clone()),
            Some(r.end.clone()),
        ),
        KvListQuery::Range(r) => (
            "AND key >= ?3 AND key <= ?4",
            Some(r.start.clone()),
            Some(r.end.clone()),
        ),
        KvListQuery::Prefix(p) => match prefix_successor(&p.key) {
            Some(succ) => (
                "AND key >= ?3 AND key < ?4",
                Some(p.key.clone()),
                Some(succ),
            ),
            None => ("AND key >= ?3", Some(p.key.clone()), None),
        },
    };
    let sql = format!(
        "SELECT key, value, update_ts FROM kv WHERE actor_id = ?1 {bounds} ORDER BY key {order} LIMIT ?2"
    );
    let mut stmt = tx.prepare_cached(&sql)?;
    let mut rows = match (lo, hi) {
        (None, _) => stmt.query(params![actor, limit])?,
        (Some(lo), None) => stmt.query(params![actor, limit, lo])?,
        (Some(lo), Some(hi)) => stmt.query(params![actor, limit, lo, hi])?,
    };
    let mut out = KvListResponse {
        keys: Vec::new(),
        values: Vec::new(),
        metadata: Vec::new(),
    };
    while let Some(row) = rows.next()? {
        out.keys.push(row.get(0)?);
        out.values.push(row.get(1)?);
        out.metadata.push(metadata(row.get(2)?));
    }
    Ok(KvResponseData::List(out))
}

/// Upserts in request order (a repeated key: the last value wins), keeping usage exact.
fn put_entries(
    tx: &Connection,
    actor: &str,
    keys: &[Vec<u8>],
    values: &[Vec<u8>],
    now_ms: i64,
) -> rusqlite::Result<KvResponseData> {
    let mut old =
        tx.prepare_cached("SELECT length(value) FROM kv WHERE actor_id = ?1 AND key = ?2")?;
    let mut put = tx.prepare_cached(
        "INSERT INTO kv (actor_id, key, value, update_ts) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (actor_id, key) DO UPDATE SET value = excluded.value, update_ts = excluded.update_ts",
    )?;
    let mut delta = 0i64;
    for (key, value) in keys.iter().zip(values) {
        let mut rows = old.query(params![actor, key])?;
        match rows.next()? {
            Some(row) => delta -= row.get::<_, i64>(0)?,
            None => delta += key.len() as i64,
        }
        drop(rows);
        put.execute(params![actor, key, value, now_ms])?;
        delta += value.len() as i64;
    }
    add_usage(tx, actor, delta)?;
    Ok(KvResponseData::Put)
}

fn delete_keys(tx: &Connection, actor: &str, keys: &[Vec<u8>]) -> rusqlite::Result<KvResponseData> {
    let mut stmt = tx.prepare_cached(
        "DELETE FROM kv WHERE actor_id = ?1 AND key = ?2 RETURNING length(key) + length(value)",
    )?;
    let mut freed = 0i64;
    for key in keys {
        let mut rows = stmt.query(params![actor, key])?;
        while let Some(row) = rows.next()? {
            freed += row.get::<_, i64>(0)?;
        }
    }
    add_usage(tx, actor, -freed)?;
    Ok(KvResponseData::Delete)
}

/// Deletes `start ≤ key < end`; a no-op when `start ≥ end`. Answered with `KvDeleteResponse`.
fn delete_range(
    tx: &Connection,
    actor: &str,
    start: &[u8],
    end: &[u8],
) -> rusqlite::Result<KvResponseData> {
    if start >= end {
        return Ok(KvResponseData::Delete);
    }
    let mut stmt = tx.prepare_cached(
        "DELETE FROM kv WHERE actor_id = ?1 AND key >= ?2 AND key < ?3 RETURNING length(key) + length(value)",
    )?;
    let mut rows = stmt.query(params![actor, start, end])?;
    let mut freed = 0i64;
    while let Some(row) = rows.next()? {
        freed += row.get::<_, i64>(0)?;
    }
    drop(rows);
    add_usage(tx, actor, -freed)?;
    Ok(KvResponseData::Delete)
}

fn drop_all(tx: &Connection, actor: &str) -> rusqlite::Result<KvResponseData> {
    tx.prepare_cached("DELETE FROM kv WHERE actor_id = ?1")?
        .execute(params![actor])?;
    tx.prepare_cached("DELETE FROM kv_usage WHERE actor_id = ?1")?
        .execute(params![actor])?;
    Ok(KvResponseData::Drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_successor_drops_trailing_ff_and_increments() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(&[0x01, 0xff, 0xff]), Some(vec![0x02]));
        assert_eq!(prefix_successor(&[0xff, 0xff]), None);
        assert_eq!(prefix_successor(&[]), None);
        assert_eq!(prefix_successor(&[0x00]), Some(vec![0x01]));
    }
}
