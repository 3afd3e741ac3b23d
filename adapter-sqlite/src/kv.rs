//! Actor KV in SQLite. The rules (limits, error messages, list bounds) are the core's
//! [`torpor_core::kv_policy`]: this module checks each request with it before writing anything,
//! then executes it.

use rusqlite::{Connection, params};
use torpor_core::kv_policy;
use torpor_protocol::shared::{
    KvGetResponse, KvListQuery, KvListRequest, KvListResponse, KvMetadata, KvRequestData,
    KvResponseData,
};

/// Executes one KV request for `actor` inside the batch transaction.
pub(crate) fn execute(
    tx: &Connection,
    actor: &str,
    request: KvRequestData,
    now_ms: i64,
) -> rusqlite::Result<KvResponseData> {
    // Only a put looks at the actor's usage: the others skip the query.
    let stored = match request {
        KvRequestData::Put(_) => usage(tx, actor)?,
        _ => 0,
    };
    if let Err(refused) = kv_policy::validate(&request, stored) {
        return Ok(KvResponseData::Error(refused));
    }
    match request {
        KvRequestData::Get(get) => get_keys(tx, actor, &get.keys),
        KvRequestData::List(list) => list_keys(tx, actor, &list),
        KvRequestData::Put(put) => put_entries(tx, actor, &put.keys, &put.values, now_ms),
        KvRequestData::Delete(del) => delete_keys(tx, actor, &del.keys),
        KvRequestData::DeleteRange(range) => delete_range(tx, actor, &range.start, &range.end),
        KvRequestData::Drop => drop_all(tx, actor),
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
        version: kv_policy::ENTRY_VERSION.to_vec(),
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
    let limit =
        i64::try_from(list.limit.unwrap_or(kv_policy::DEFAULT_LIST_LIMIT)).unwrap_or(i64::MAX);
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
        KvListQuery::Prefix(p) => match kv_policy::prefix_successor(&p.key) {
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
