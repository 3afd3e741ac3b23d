//! Actor SQLite databases as pages, executing [`torpor_core::page_store`] calls with its rules.
//!
//! An actor's database is one row of `actor_db` (head transaction, size in pages) and its
//! pages in `actor_db_page`; a staged commit lives in `actor_db_stage*` until it is finalized or
//! replaced by the next begin. Every call runs inside the batch transaction's savepoint, so a
//! commit is all or nothing. The generation fence reads the registry row, which the core
//! writes before it starts a generation: the fence survives restarts of the gateway.

use rusqlite::{Connection, OptionalExtension, params};
use torpor_core::ActorId;
use torpor_core::page_store::{
    self, DirtyPage, MAX_COMMIT_BYTES, PageAnswer, PageError, PageOp, pages_bytes,
};

use crate::store::actor_key;

/// The committed state of one database.
#[derive(Debug, Clone, Copy)]
struct Head {
    txid: u64,
    db_size_pages: u32,
}

/// A staged commit in progress.
#[derive(Debug, Clone, Copy)]
struct Stage {
    txid: u64,
    generation: u64,
    staged_bytes: u64,
}

/// Executes one page-store call for `actor`'s instance of `generation`.
pub(crate) fn execute(
    tx: &Connection,
    actor: ActorId,
    generation: u64,
    op: PageOp,
) -> rusqlite::Result<PageAnswer> {
    let registered = tx
        .prepare_cached("SELECT generation FROM actors WHERE actor_id = ?1")?
        .query_row(params![actor.to_string()], |r| r.get::<_, u32>(0))
        .optional()?;
    if let Err(refused) = page_store::check_generation(generation, registered) {
        return Ok(PageAnswer::Error(refused));
    }
    if let Err(refused) = page_store::validate(&op) {
        return Ok(PageAnswer::Error(refused));
    }
    let key = actor_key(actor);
    let head = head(tx, &key)?;
    let answer = match op {
        PageOp::GetPages {
            pgnos,
            expected_head,
        } => match head {
            None => Err(PageError::database_not_found()),
            Some(h) => match page_store::check_head(expected_head, h.txid) {
                Err(e) => Err(e),
                Ok(()) => Ok(get_pages(tx, &key, h, &pgnos)?),
            },
        },
        PageOp::Commit {
            pages,
            db_size_pages,
            expected_head,
        } => {
            let txid = head.map_or(0, |h| h.txid);
            match page_store::check_head(expected_head, txid) {
                Err(e) => Err(e),
                Ok(()) => {
                    write_pages(tx, &key, &pages)?;
                    Ok(commit(tx, &key, txid + 1, db_size_pages)?)
                }
            }
        }
        PageOp::StageBegin { expected_head } => {
            let txid = head.map_or(0, |h| h.txid);
            match page_store::check_head(expected_head, txid) {
                Err(e) => Err(e),
                Ok(()) => {
                    drop_stage(tx, &key)?;
                    tx.prepare_cached(
                        "INSERT INTO actor_db_stage (actor_id, txid, generation, staged_bytes)
                         VALUES (?1, ?2, ?3, 0)",
                    )?
                    .execute(params![key, txid + 1, generation])?;
                    Ok(PageAnswer::StageBegun { txid: txid + 1 })
                }
            }
        }
        PageOp::StageSegment {
            txid,
            first_pgno,
            pages,
        } => match open_stage(tx, &key, txid, generation)? {
            Err(e) => Err(e),
            Ok(stage) => stage_segment(tx, &key, stage, first_pgno, &pages)?,
        },
        PageOp::StageFinalize {
            txid,
            db_size_pages,
            segment_first_pgnos,
        } => match open_stage(tx, &key, txid, generation)? {
            Err(e) => Err(e),
            Ok(stage) => {
                let head_txid = head.map_or(0, |h| h.txid);
                finalize(
                    tx,
                    &key,
                    stage,
                    head_txid,
                    db_size_pages,
                    segment_first_pgnos,
                )?
            }
        },
    };
    Ok(answer.unwrap_or_else(PageAnswer::Error))
}

fn head(tx: &Connection, key: &[u8; 16]) -> rusqlite::Result<Option<Head>> {
    tx.prepare_cached("SELECT head_txid, db_size_pages FROM actor_db WHERE actor_id = ?1")?
        .query_row(params![key], |r| {
            Ok(Head {
                txid: r.get(0)?,
                db_size_pages: r.get(1)?,
            })
        })
        .optional()
}

/// One entry per page asked for, in order; pages past the database's size do not exist.
fn get_pages(
    tx: &Connection,
    key: &[u8; 16],
    head: Head,
    pgnos: &[u32],
) -> rusqlite::Result<PageAnswer> {
    let mut read =
        tx.prepare_cached("SELECT bytes FROM actor_db_page WHERE actor_id = ?1 AND pgno = ?2")?;
    let mut pages = Vec::with_capacity(pgnos.len());
    for &pgno in pgnos {
        let bytes = if pgno > head.db_size_pages {
            None
        } else {
            read.query_row(params![key, pgno], |r| r.get::<_, Vec<u8>>(0))
                .optional()?
        };
        pages.push((pgno, bytes));
    }
    Ok(PageAnswer::Pages {
        pages,
        head: head.txid,
    })
}

fn write_pages(tx: &Connection, key: &[u8; 16], pages: &[DirtyPage]) -> rusqlite::Result<()> {
    let mut write = tx.prepare_cached(
        "INSERT INTO actor_db_page (actor_id, pgno, bytes) VALUES (?1, ?2, ?3)
         ON CONFLICT (actor_id, pgno) DO UPDATE SET bytes = excluded.bytes",
    )?;
    for p in pages {
        write.execute(params![key, p.pgno, p.bytes])?;
    }
    Ok(())
}

/// Makes `txid` the head with `db_size_pages` pages, dropping pages past the end (a VACUUM or
/// a shrink).
fn commit(
    tx: &Connection,
    key: &[u8; 16],
    txid: u64,
    db_size_pages: u32,
) -> rusqlite::Result<PageAnswer> {
    tx.prepare_cached("DELETE FROM actor_db_page WHERE actor_id = ?1 AND pgno > ?2")?
        .execute(params![key, db_size_pages])?;
    tx.prepare_cached(
        "INSERT INTO actor_db (actor_id, head_txid, db_size_pages) VALUES (?1, ?2, ?3)
         ON CONFLICT (actor_id) DO UPDATE SET head_txid = excluded.head_txid,
           db_size_pages = excluded.db_size_pages",
    )?
    .execute(params![key, txid, db_size_pages])?;
    Ok(PageAnswer::Committed { head: txid })
}

/// The staged commit `txid` of this generation, or why the call cannot continue it.
fn open_stage(
    tx: &Connection,
    key: &[u8; 16],
    txid: u64,
    generation: u64,
) -> rusqlite::Result<Result<Stage, PageError>> {
    let stage = tx
        .prepare_cached(
            "SELECT txid, generation, staged_bytes FROM actor_db_stage WHERE actor_id = ?1",
        )?
        .query_row(params![key], |r| {
            Ok(Stage {
                txid: r.get(0)?,
                generation: r.get(1)?,
                staged_bytes: r.get(2)?,
            })
        })
        .optional()?;
    Ok(match stage {
        Some(s) if s.txid == txid && s.generation == generation => Ok(s),
        _ => Err(PageError::invalid(format!(
            "no staged commit {txid} of generation {generation} (it was never begun, or a later begin replaced it)"
        ))),
    })
}

fn stage_segment(
    tx: &Connection,
    key: &[u8; 16],
    stage: Stage,
    first_pgno: u32,
    pages: &[DirtyPage],
) -> rusqlite::Result<Result<PageAnswer, PageError>> {
    // Segments ascend and do not overlap: everything staged so far lies below this one.
    // Checked before anything is written, since a refusal commits the savepoint.
    let (last_first, last_page): (Option<u32>, Option<u32>) = tx
        .prepare_cached(
            "SELECT (SELECT max(first_pgno) FROM actor_db_segment WHERE actor_id = ?1),
                    (SELECT max(pgno) FROM actor_db_staged_page WHERE actor_id = ?1)",
        )?
        .query_row(params![key], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if let Some(last) = last_first.max(last_page).filter(|last| *last >= first_pgno) {
        return Ok(Err(PageError::invalid(format!(
            "segment at page {first_pgno} overlaps what was staged (up to page {last}): segments ascend"
        ))));
    }
    let staged_bytes = stage.staged_bytes + pages_bytes(pages);
    if staged_bytes > MAX_COMMIT_BYTES {
        return Ok(Err(PageError::commit_too_large(staged_bytes)));
    }
    tx.prepare_cached("INSERT INTO actor_db_segment (actor_id, first_pgno) VALUES (?1, ?2)")?
        .execute(params![key, first_pgno])?;
    let mut write = tx.prepare_cached(
        "INSERT INTO actor_db_staged_page (actor_id, pgno, bytes) VALUES (?1, ?2, ?3)",
    )?;
    for p in pages {
        write.execute(params![key, p.pgno, p.bytes])?;
    }
    tx.prepare_cached("UPDATE actor_db_stage SET staged_bytes = ?2 WHERE actor_id = ?1")?
        .execute(params![key, staged_bytes])?;
    Ok(Ok(PageAnswer::Staged { staged_bytes }))
}

fn finalize(
    tx: &Connection,
    key: &[u8; 16],
    stage: Stage,
    head_txid: u64,
    db_size_pages: u32,
    mut segment_first_pgnos: Vec<u32>,
) -> rusqlite::Result<Result<PageAnswer, PageError>> {
    // A commit since the begin moved the head: the staged pages were written against a
    // database that no longer exists.
    if stage.txid != head_txid + 1 {
        return Ok(Err(PageError::head_fence_mismatch(
            stage.txid - 1,
            head_txid,
        )));
    }
    let staged: Vec<u32> = tx
        .prepare_cached(
            "SELECT first_pgno FROM actor_db_segment WHERE actor_id = ?1 ORDER BY first_pgno",
        )?
        .query_map(params![key], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    segment_first_pgnos.sort_unstable();
    if staged != segment_first_pgnos {
        return Ok(Err(PageError::invalid(format!(
            "the finalize names segments {segment_first_pgnos:?}, the store staged {staged:?}"
        ))));
    }
    tx.prepare_cached(
        "INSERT INTO actor_db_page (actor_id, pgno, bytes)
         SELECT actor_id, pgno, bytes FROM actor_db_staged_page WHERE actor_id = ?1
         ON CONFLICT (actor_id, pgno) DO UPDATE SET bytes = excluded.bytes",
    )?
    .execute(params![key])?;
    drop_stage(tx, key)?;
    Ok(Ok(commit(tx, key, stage.txid, db_size_pages)?))
}

fn drop_stage(tx: &Connection, key: &[u8; 16]) -> rusqlite::Result<()> {
    for sql in [
        "DELETE FROM actor_db_stage WHERE actor_id = ?1",
        "DELETE FROM actor_db_segment WHERE actor_id = ?1",
        "DELETE FROM actor_db_staged_page WHERE actor_id = ?1",
    ] {
        tx.prepare_cached(sql)?.execute(params![key])?;
    }
    Ok(())
}

/// Deletes the actor's database, pages and any staged commit.
pub(crate) fn delete(tx: &Connection, actor: ActorId) -> rusqlite::Result<()> {
    let key = actor_key(actor);
    drop_stage(tx, &key)?;
    for sql in [
        "DELETE FROM actor_db_page WHERE actor_id = ?1",
        "DELETE FROM actor_db WHERE actor_id = ?1",
    ] {
        tx.prepare_cached(sql)?.execute(params![key])?;
    }
    Ok(())
}
