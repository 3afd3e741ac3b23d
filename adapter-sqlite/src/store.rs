//! [`Store`]: one SQLite connection executing the core's store requests in batches.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use torpor_core::HibernationRow;
use torpor_core::{
    ActorId, ActorRecord, CrashPolicy, NamespaceRecord, OpId, Snapshot, StoreFailure, StoreReply,
    StoreRequest,
};
use torpor_protocol::shared::{GatewayId, Headers, RequestId};

use crate::error::{OpenError, classify};
use crate::{kv, pages, schema};

/// One finished operation.
pub type Completion = (OpId, Result<StoreReply, StoreFailure>);

/// A hibernation index row as stored (for inspection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRow {
    /// Gateway incarnation.
    pub gateway_id: GatewayId,
    /// Socket.
    pub request_id: RequestId,
    /// Actor.
    pub actor: ActorId,
    /// Last renewal of its gateway's lease, epoch ms.
    pub lease_ts: i64,
}

/// The SQLite store. Synchronous and single-threaded: an embedder may drive it from its own
/// loop, or hand it to [`crate::Writer`] for a dedicated thread.
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (or creates) the database file and migrates it. The errors an operator meets
    /// (directory missing, permission denied, another process holding the file) say so.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, OpenError> {
        let path = path.as_ref();
        // std's open tells a missing directory from a denied permission; SQLite says "unable
        // to open database file" for both. An empty file is a new database to SQLite.
        if let Err(e) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
        {
            let dir = path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            return Err(OpenError::plain(match e.kind() {
                std::io::ErrorKind::NotFound => {
                    format!(
                        "directory {} does not exist (create it first)",
                        dir.display()
                    )
                }
                std::io::ErrorKind::PermissionDenied => format!(
                    "permission denied opening {} for reading and writing (check the file and \
                     directory {} are writable by this user)",
                    path.display(),
                    dir.display()
                ),
                _ => format!("cannot open {}: {e}", path.display()),
            }));
        }
        let mut conn = Connection::open(path)
            .map_err(|e| OpenError::plain(format!("{}: {e}", path.display())))?;
        schema::open(&mut conn).map_err(|e| {
            if e.locked {
                OpenError::plain(format!(
                    "{} is locked by another process (is another torpor serving it?); only one \
                     torpor may open a database (copy a running one with `torpor backup`)",
                    path.display()
                ))
            } else {
                OpenError::plain(format!("{}: {e}", path.display()))
            }
        })?;
        Ok(Self { conn })
    }

    /// A private in-memory database (tests, benches).
    pub fn open_in_memory() -> Result<Self, OpenError> {
        let mut conn = Connection::open_in_memory()?;
        schema::open(&mut conn)?;
        Ok(Self { conn })
    }

    /// What the core needs at startup: the actor registry.
    pub fn snapshot(&self) -> Result<Snapshot, OpenError> {
        let mut stmt = self.conn.prepare(
            "SELECT actor_id, namespace, name, key, runner_name, create_ts, input, generation, alarm_ts,
                    crash_policy
             FROM actors ORDER BY actor_id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                ActorRecordRow {
                    namespace: r.get(1)?,
                    name: r.get(2)?,
                    key: r.get(3)?,
                    runner_name: r.get(4)?,
                    create_ts: r.get(5)?,
                    input: r.get(6)?,
                    generation: r.get(7)?,
                    alarm_ts: r.get(8)?,
                    crash_policy: r.get(9)?,
                },
            ))
        })?;
        let mut actors = Vec::new();
        for row in rows {
            let (id, r) = row?;
            let crash_policy = CrashPolicy::parse(&r.crash_policy).ok_or_else(|| {
                OpenError::plain(format!(
                    "corrupt crash policy {:?} of actor {id} in the registry",
                    r.crash_policy
                ))
            })?;
            let id = ActorId::parse(&id).ok_or_else(|| {
                OpenError::plain(format!("corrupt actor id {id:?} in the registry"))
            })?;
            actors.push(ActorRecord {
                id,
                namespace: r.namespace,
                name: r.name,
                key: r.key,
                runner_name: r.runner_name,
                create_ts: r.create_ts,
                input: r.input,
                generation: r.generation,
                alarm_ts: r.alarm_ts,
                crash_policy,
            });
        }
        let mut stmt = self
            .conn
            .prepare("SELECT name, display_name, create_ts FROM namespaces ORDER BY name")?;
        let namespaces = stmt
            .query_map([], |r| {
                Ok(NamespaceRecord {
                    name: r.get(0)?,
                    display_name: r.get(1)?,
                    create_ts: r.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Snapshot { actors, namespaces })
    }

    /// Executes a batch in one transaction, one savepoint per operation: a failing operation
    /// is rolled back alone and reported; if the commit fails, every operation reports it.
    /// Exactly one completion per operation, in order. `now_ms` stamps writes.
    pub fn execute(&mut self, batch: Vec<(OpId, StoreRequest)>, now_ms: i64) -> Vec<Completion> {
        let ops: Vec<OpId> = batch.iter().map(|(op, _)| *op).collect();
        let mut tx = match self.conn.transaction() {
            Ok(tx) => tx,
            Err(e) => return ops.into_iter().map(|op| (op, Err(classify(&e)))).collect(),
        };
        let mut results = Vec::with_capacity(batch.len());
        for (op, request) in batch {
            let result = match tx.savepoint() {
                Ok(sp) => match apply(&sp, request, now_ms) {
                    Ok(reply) => sp.commit().map(|()| reply).map_err(|e| classify(&e)),
                    Err(e) => Err(classify(&e)), // dropping the savepoint rolls it back
                },
                Err(e) => Err(classify(&e)),
            };
            results.push((op, result));
        }
        if let Err(e) = tx.commit() {
            let failure = classify(&e);
            return ops
                .into_iter()
                .map(|op| (op, Err(failure.clone())))
                .collect();
        }
        results
    }

    /// Rows of one actor whose gateway renewed its lease at or after `min_ts`, in key order:
    /// a range of the actor's rows joined to the (few) leases.
    pub fn eligible_rows(&self, actor: ActorId, min_ts: i64) -> rusqlite::Result<Vec<IndexRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT h.gateway_id, h.request_id, l.renewed_ts
             FROM hibernation h JOIN gateway_leases l ON l.gateway_id = h.gateway_id
             WHERE h.actor_id = ?1 AND l.renewed_ts >= ?2",
        )?;
        let rows = stmt.query_map(params![actor_key(actor), min_ts], |r| {
            Ok(IndexRow {
                gateway_id: GatewayId::from_bytes(id4(r.get::<_, Vec<u8>>(0)?)),
                request_id: RequestId::from_bytes(id4(r.get::<_, Vec<u8>>(1)?)),
                actor,
                lease_ts: r.get(2)?,
            })
        })?;
        rows.collect()
    }

    /// `PRAGMA integrity_check` says `ok`.
    pub fn integrity_ok(&self) -> rusqlite::Result<bool> {
        let result: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        Ok(result == "ok")
    }

    /// Copies the whole database into a new file at `dest` with SQLite's online backup, in
    /// steps of `STEP_PAGES` pages. The writer thread runs it between batches, so the copy is
    /// one consistent state; the copy is left in rollback-journal mode, a single self-contained
    /// file. `dest` must not exist.
    pub fn backup_to(&self, dest: &Path) -> Result<BackupReport, String> {
        const STEP_PAGES: std::os::raw::c_int = 4096;
        if dest.exists() {
            return Err(format!("{} already exists", dest.display()));
        }
        let mut copy =
            Connection::open(dest).map_err(|e| format!("creating {}: {e}", dest.display()))?;
        {
            let backup = rusqlite::backup::Backup::new(&self.conn, &mut copy)
                .map_err(|e| format!("starting the backup: {e}"))?;
            backup
                .run_to_completion(STEP_PAGES, std::time::Duration::ZERO, None)
                .map_err(|e| format!("copying: {e}"))?;
        }
        copy.pragma_update(None, "journal_mode", "DELETE")
            .map_err(|e| format!("finishing the copy: {e}"))?;
        let pages: u64 = copy
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .map_err(|e| format!("reading the copy: {e}"))?;
        let page_size: u64 = copy
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(|e| format!("reading the copy: {e}"))?;
        Ok(BackupReport {
            bytes: pages * page_size,
        })
    }

    /// A write transaction that changes nothing: whether the database takes writes now.
    pub fn probe_writable(&mut self) -> rusqlite::Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.commit()
    }

    /// Direct access for tests and inspection tools.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

struct ActorRecordRow {
    namespace: String,
    name: String,
    key: Option<String>,
    runner_name: String,
    create_ts: i64,
    input: Option<Vec<u8>>,
    generation: u32,
    alarm_ts: Option<i64>,
    crash_policy: String,
}

fn id4(bytes: Vec<u8>) -> [u8; 4] {
    let mut id = [0u8; 4];
    for (slot, b) in id.iter_mut().zip(bytes) {
        *slot = b;
    }
    id
}

fn headers_json(headers: &Headers) -> String {
    let map: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(k, v)| (k.to_owned(), serde_json::Value::String(v.clone())))
        .collect();
    serde_json::Value::Object(map).to_string()
}

fn apply(tx: &Connection, request: StoreRequest, now_ms: i64) -> rusqlite::Result<StoreReply> {
    match request {
        StoreRequest::PutActor(record) => put_actor(tx, &record),
        StoreRequest::DeleteActor(id) => delete_actor(tx, id),
        StoreRequest::PutNamespace(ns) => {
            tx.prepare_cached(
                "INSERT INTO namespaces (name, display_name, create_ts) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET display_name = excluded.display_name",
            )?
            .execute(params![ns.name, ns.display_name, ns.create_ts])?;
            Ok(StoreReply::Done)
        }
        StoreRequest::Kv { actor, request } => {
            kv::execute(tx, &actor.to_string(), *request, now_ms).map(StoreReply::Kv)
        }
        StoreRequest::Pages {
            actor,
            generation,
            op,
        } => pages::execute(tx, actor, generation, *op).map(StoreReply::Pages),
        StoreRequest::PutHibernation(row) => put_row(tx, &row, now_ms),
        StoreRequest::RenewLease { gateway_id } => {
            tx.prepare_cached(
                "INSERT INTO gateway_leases (gateway_id, renewed_ts) VALUES (?1, ?2)
                 ON CONFLICT (gateway_id) DO UPDATE SET renewed_ts = excluded.renewed_ts",
            )?
            .execute(params![gateway_id.to_bytes(), now_ms])?;
            Ok(StoreReply::Done)
        }
        StoreRequest::DeleteHibernation { gateway_id, key } => {
            let gw = gateway_id.to_bytes();
            if let Some(slot) = slot_of(tx, key.actor, gw, key.request_id.to_bytes())? {
                delete_slots(
                    tx,
                    "actor_id = ?1 AND gateway_id = ?2 AND request_id = ?3 AND slot = ?4",
                    params![actor_key(key.actor), gw, key.request_id.to_bytes(), slot],
                )?;
            }
            Ok(StoreReply::Done)
        }
        StoreRequest::PurgeHibernation { keep } => {
            delete_slots(tx, "gateway_id != ?1", params![keep.to_bytes()])?;
            tx.prepare_cached("DELETE FROM gateway_leases WHERE gateway_id != ?1")?
                .execute(params![keep.to_bytes()])?;
            Ok(StoreReply::Done)
        }
        StoreRequest::GcHibernation { older_than } => {
            let age = i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX);
            let cutoff = now_ms.saturating_sub(age);
            delete_slots(
                tx,
                "gateway_id NOT IN (SELECT gateway_id FROM gateway_leases WHERE renewed_ts >= ?1)",
                params![cutoff],
            )?;
            tx.prepare_cached("DELETE FROM gateway_leases WHERE renewed_ts < ?1")?
                .execute(params![cutoff])?;
            Ok(StoreReply::Done)
        }
    }
}

/// The ping slot of one socket's row.
fn slot_of(
    tx: &Connection,
    actor: ActorId,
    gw: [u8; 4],
    rq: [u8; 4],
) -> rusqlite::Result<Option<i64>> {
    tx.prepare_cached(
        "SELECT slot FROM hibernation WHERE actor_id = ?1 AND gateway_id = ?2 AND request_id = ?3",
    )?
    .query_row(params![actor_key(actor), gw, rq], |r| r.get(0))
    .optional()
}

/// Deletes the index rows matching `filter` (over `hibernation`) with their pings and
/// metadata. The rows are collected first: each table's delete must see the same set.
fn delete_slots(
    tx: &Connection,
    filter: &str,
    args: &[&dyn rusqlite::ToSql],
) -> rusqlite::Result<()> {
    type Row = (Vec<u8>, Vec<u8>, Vec<u8>, i64);
    let rows: Vec<Row> = tx
        .prepare_cached(&format!(
            "SELECT actor_id, gateway_id, request_id, slot FROM hibernation WHERE {filter}"
        ))?
        .query_map(args, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut meta = tx.prepare_cached(
        "DELETE FROM hibernation_meta WHERE actor_id = ?1 AND gateway_id = ?2 AND request_id = ?3",
    )?;
    let mut row = tx.prepare_cached(
        "DELETE FROM hibernation WHERE actor_id = ?1 AND gateway_id = ?2 AND request_id = ?3",
    )?;
    let mut ping = tx.prepare_cached("DELETE FROM hibernation_ping WHERE slot = ?1")?;
    for (actor, gw, rq, slot) in rows {
        meta.execute(params![actor, gw, rq])?;
        row.execute(params![actor, gw, rq])?;
        ping.execute(params![slot])?;
    }
    Ok(())
}

fn put_actor(tx: &Connection, r: &ActorRecord) -> rusqlite::Result<StoreReply> {
    tx.prepare_cached(
        "INSERT INTO actors (actor_id, namespace, name, key, runner_name, create_ts, input, generation,
                             alarm_ts, crash_policy)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (actor_id) DO UPDATE SET namespace = excluded.namespace, name = excluded.name,
           key = excluded.key, runner_name = excluded.runner_name, create_ts = excluded.create_ts,
           input = excluded.input, generation = excluded.generation, alarm_ts = excluded.alarm_ts,
           crash_policy = excluded.crash_policy",
    )?
    .execute(params![
        r.id.to_string(),
        r.namespace,
        r.name,
        r.key,
        r.runner_name,
        r.create_ts,
        r.input,
        r.generation,
        r.alarm_ts,
        r.crash_policy.as_str()
    ])?;
    Ok(StoreReply::Done)
}

/// The actor, its KV data, its SQLite database and any index rows it still has.
fn delete_actor(tx: &Connection, actor: ActorId) -> rusqlite::Result<StoreReply> {
    let id = actor.to_string();
    for sql in [
        "DELETE FROM actors WHERE actor_id = ?1",
        "DELETE FROM kv WHERE actor_id = ?1",
        "DELETE FROM kv_usage WHERE actor_id = ?1",
    ] {
        tx.prepare_cached(sql)?.execute(params![id])?;
    }
    pages::delete(tx, actor)?;
    delete_slots(tx, "actor_id = ?1", params![actor_key(actor)])?;
    tx.prepare_cached("DELETE FROM hibernation_actor WHERE actor_id = ?1")?
        .execute(params![actor_key(actor)])?;
    Ok(StoreReply::Done)
}

fn put_row(tx: &Connection, row: &HibernationRow, now_ms: i64) -> rusqlite::Result<StoreReply> {
    let (actor, gw, rq) = (
        actor_key(row.actor),
        row.gateway_id.to_bytes(),
        row.request_id.to_bytes(),
    );
    let slot = match slot_of(tx, row.actor, gw, rq)? {
        Some(slot) => slot,
        None => {
            let slot = next_slot(tx, actor)?;
            tx.prepare_cached(
                "INSERT INTO hibernation (actor_id, gateway_id, request_id, slot) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![actor, gw, rq, slot])?;
            slot
        }
    };
    tx.prepare_cached(
        "INSERT INTO hibernation_ping (slot, last_ping_ts) VALUES (?1, ?2)
         ON CONFLICT (slot) DO UPDATE SET last_ping_ts = excluded.last_ping_ts",
    )?
    .execute(params![slot, now_ms])?;
    tx.prepare_cached(
        "INSERT INTO hibernation_meta (actor_id, gateway_id, request_id, path, headers)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (actor_id, gateway_id, request_id) DO UPDATE SET path = excluded.path,
           headers = excluded.headers",
    )?
    .execute(params![actor, gw, rq, row.path, headers_json(&row.headers)])?;
    Ok(StoreReply::Done)
}

/// A fresh slot in the actor's range: `number << 32 | sequence`, so one actor's pings are
/// contiguous. Actor numbers are handed out once per actor and never reused.
fn next_slot(tx: &Connection, actor: [u8; 16]) -> rusqlite::Result<i64> {
    let number: i64 = match tx
        .prepare_cached("SELECT number FROM hibernation_actor WHERE actor_id = ?1")?
        .query_row(params![actor], |r| r.get(0))
        .optional()?
    {
        Some(n) => n,
        None => {
            let n: i64 = tx
                .prepare_cached("SELECT coalesce(max(number), 0) + 1 FROM hibernation_actor")?
                .query_row([], |r| r.get(0))?;
            tx.prepare_cached("INSERT INTO hibernation_actor (actor_id, number) VALUES (?1, ?2)")?
                .execute(params![actor, n])?;
            n
        }
    };
    let base = number << 32;
    tx.prepare_cached(
        "SELECT coalesce(max(slot) + 1, ?1) FROM hibernation_ping WHERE slot BETWEEN ?1 AND ?2",
    )?
    .query_row(params![base, base | 0xFFFF_FFFF], |r| r.get(0))
}

/// Index rows and SQLite pages key actors by their 16 UUID bytes (narrower than the text form).
pub(crate) fn actor_key(actor: ActorId) -> [u8; 16] {
    *actor.uuid().as_bytes()
}

/// Number of index rows (tests, metrics).
pub fn count_rows(conn: &Connection, table: &str) -> rusqlite::Result<i64> {
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
}

/// Whether an actor row exists (tests).
pub fn actor_exists(conn: &Connection, id: ActorId) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT 1 FROM actors WHERE actor_id = ?1",
        params![id.to_string()],
        |_| Ok(()),
    )
    .optional()
    .map(|r| r.is_some())
}

/// What an online backup wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupReport {
    /// Size of the copy.
    pub bytes: u64,
}

/// What a backup file holds, read without changing it: `torpor backup` checks its copy so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    /// `PRAGMA integrity_check` said `ok`.
    pub integrity_ok: bool,
    /// Schema version (`PRAGMA user_version`).
    pub schema_version: i64,
    /// Actors in the registry, destroyed ones included.
    pub actors: i64,
}

/// Opens a database file read-only and summarises it.
pub fn inspect_file(path: &Path) -> rusqlite::Result<BackupSummary> {
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    let schema_version = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let actors = count_rows(&conn, "actors")?;
    Ok(BackupSummary {
        integrity_ok: check == "ok",
        schema_version,
        actors,
    })
}
