//! Schema and migrations, tracked in `PRAGMA user_version`.

use rusqlite::Connection;

use crate::error::OpenError;

/// Each entry migrates from version `i` to `i + 1`; never edit one that shipped.
const MIGRATIONS: &[&str] = &[
    // 1: registry, hibernation index, KV.
    "
    CREATE TABLE actors (
        actor_id    TEXT PRIMARY KEY,
        namespace   TEXT NOT NULL,
        name        TEXT NOT NULL,
        key         TEXT,
        runner_name TEXT NOT NULL,
        create_ts   INTEGER NOT NULL,
        input       BLOB,
        generation  INTEGER NOT NULL,
        alarm_ts    INTEGER
    );
    CREATE UNIQUE INDEX actors_by_key ON actors (namespace, name, key) WHERE key IS NOT NULL;

    -- One row per hibernatable socket, keyed by actor first (an actor's rows are one range).
    -- Its refresh time lives apart, in hibernation_ping at `slot`: keepalives rewrite only
    -- those 12-byte rows (about 300 per page), so a batch of refreshes dirties few pages.
    -- Measured on 1,000,000 rows: 55k refreshes/s with the timestamp in these rows, 140k/s
    -- apart. An actor's slots are contiguous (actor number << 32 | sequence), so its eligible
    -- rows stay one short scan.
    CREATE TABLE hibernation (
        actor_id   BLOB NOT NULL,
        gateway_id BLOB NOT NULL,
        request_id BLOB NOT NULL,
        slot       INTEGER NOT NULL,
        PRIMARY KEY (actor_id, gateway_id, request_id)
    ) WITHOUT ROWID;
    CREATE TABLE hibernation_ping (
        slot         INTEGER PRIMARY KEY,
        last_ping_ts INTEGER NOT NULL
    );
    CREATE TABLE hibernation_actor (
        actor_id BLOB PRIMARY KEY,
        number   INTEGER NOT NULL UNIQUE
    ) WITHOUT ROWID;
    -- Written once per socket, read only for inspection.
    CREATE TABLE hibernation_meta (
        actor_id   BLOB NOT NULL,
        gateway_id BLOB NOT NULL,
        request_id BLOB NOT NULL,
        path       TEXT NOT NULL,
        headers    TEXT NOT NULL,
        PRIMARY KEY (actor_id, gateway_id, request_id)
    ) WITHOUT ROWID;

    CREATE TABLE kv (
        actor_id  TEXT NOT NULL,
        key       BLOB NOT NULL,
        value     BLOB NOT NULL,
        update_ts INTEGER NOT NULL,
        PRIMARY KEY (actor_id, key)
    ) WITHOUT ROWID;

    -- Bytes stored per actor (keys + values), for the storage quota without a scan.
    CREATE TABLE kv_usage (
        actor_id TEXT PRIMARY KEY,
        bytes    INTEGER NOT NULL
    ) WITHOUT ROWID;
    ",
    // 2: crash policies (RivetKit creates actors with `sleep`, what every earlier one did).
    "
    ALTER TABLE actors ADD COLUMN crash_policy TEXT NOT NULL DEFAULT 'sleep'
        CHECK (crash_policy IN ('restart', 'sleep', 'destroy'));
    ",
    // 3: namespaces created at run time (`POST /namespaces`).
    "
    CREATE TABLE namespaces (
        name         TEXT PRIMARY KEY,
        display_name TEXT NOT NULL,
        create_ts    INTEGER NOT NULL
    ) WITHOUT ROWID;
    ",
    // 4: index rows live through their gateway's lease, renewed once per period whatever the
    // number of rows; rows are written once (hibernation_ping.last_ping_ts now holds the write
    // time) and are stale when their gateway's lease is.
    "
    CREATE TABLE gateway_leases (
        gateway_id BLOB PRIMARY KEY,
        renewed_ts INTEGER NOT NULL
    ) WITHOUT ROWID;
    ",
    // 5: actors' SQLite databases (envoy protocol v8's page store), keyed by the actor's 16
    // id bytes: the committed head and size, the pages, and at most one staged commit per
    // actor (its segments' first pages, its pages) until finalized or replaced.
    "
    CREATE TABLE actor_db (
        actor_id      BLOB PRIMARY KEY,
        head_txid     INTEGER NOT NULL,
        db_size_pages INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE actor_db_page (
        actor_id BLOB NOT NULL,
        pgno     INTEGER NOT NULL,
        bytes    BLOB NOT NULL,
        PRIMARY KEY (actor_id, pgno)
    ) WITHOUT ROWID;
    CREATE TABLE actor_db_stage (
        actor_id     BLOB PRIMARY KEY,
        txid         INTEGER NOT NULL,
        generation   INTEGER NOT NULL,
        staged_bytes INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE actor_db_segment (
        actor_id   BLOB NOT NULL,
        first_pgno INTEGER NOT NULL,
        PRIMARY KEY (actor_id, first_pgno)
    ) WITHOUT ROWID;
    CREATE TABLE actor_db_staged_page (
        actor_id BLOB NOT NULL,
        pgno     INTEGER NOT NULL,
        bytes    BLOB NOT NULL,
        PRIMARY KEY (actor_id, pgno)
    ) WITHOUT ROWID;
    ",
];

/// Opens (creating if needed) and migrates the database.
pub(crate) fn open(conn: &mut Connection) -> Result<(), OpenError> {
    // WAL appends each commit instead of rewriting pages in place; with NORMAL it is durable
    // across process crashes (only an OS crash can lose the last transactions).
    // One writer thread owns the file (DESIGN: torpor-sqlite), so it takes the lock for good:
    // the WAL index then lives in heap memory instead of shared memory (measured: 90-97k ->
    // 114-117k index refreshes/s), and a second gateway on the same file fails fast instead of
    // interleaving with this one. Inspection goes through the gateway's admin API.
    // Opening waits for no lock: a database another process holds is reported at once.
    conn.busy_timeout(std::time::Duration::ZERO)?;
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // A 1,000,000-row index is about 100 MB: keep its hot pages in memory (64 MiB page cache,
    // 256 MiB memory-mapped reads) instead of re-reading them through syscalls per refresh.
    conn.pragma_update(None, "cache_size", -65_536)?;
    conn.pragma_update(None, "mmap_size", 256 * 1024 * 1024)?;
    conn.set_prepared_statement_cache_capacity(64);
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let current = usize::try_from(version)
        .map_err(|_| OpenError::plain(format!("bad user_version {version}")))?;
    if current > MIGRATIONS.len() {
        return Err(OpenError::plain(format!(
            "database schema version {current} is newer than this torpor ({}); refusing to open",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    // Take the write lock now (EXCLUSIVE mode keeps it), so a second process fails here, at
    // startup, and not on its first write.
    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?
        .commit()?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database of the first schema (before crash policies and namespaces) opens, migrates,
    /// and keeps its actors, each with the policy every earlier actor had: `sleep`.
    #[test]
    fn a_first_schema_database_migrates_and_keeps_its_actors() {
        let dir = std::env::temp_dir().join(format!("torpor-migrate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("old.db");
        {
            let conn = Connection::open(&path).expect("open");
            conn.execute_batch(MIGRATIONS[0]).expect("schema 1");
            conn.pragma_update(None, "user_version", 1)
                .expect("version");
            conn.execute(
                "INSERT INTO actors (actor_id, namespace, name, key, runner_name, create_ts,
                                     input, generation, alarm_ts)
                 VALUES ('6f9619ff-8b86-4011-b42d-00cf4fc964ff', 'default', 'chat', 'k',
                         'default', 5, NULL, 3, NULL)",
                [],
            )
            .expect("row");
        }
        let store = crate::Store::open(&path).expect("migrates");
        let snapshot = store.snapshot().expect("snapshot");
        assert_eq!(snapshot.actors.len(), 1);
        let actor = &snapshot.actors[0];
        assert_eq!((actor.name.as_str(), actor.generation), ("chat", 3));
        assert_eq!(actor.crash_policy, torpor_core::CrashPolicy::Sleep);
        assert_eq!(snapshot.namespaces, vec![]);
        let version: i64 = store
            .connection()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version");
        assert_eq!(version, MIGRATIONS.len() as i64);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
