//! Actor SQLite databases in the store: a new database reads as "not found", commits are
//! atomic and fenced by generation and head, staged commits appear only when finalized, and
//! the pages survive the gateway's restart and go with the actor.

use torpor_core::page_store::{DirtyPage, PageAnswer, PageError, PageOp};
use torpor_core::{ActorId, ActorRecord, CrashPolicy, OpId, StoreReply, StoreRequest};
use torpor_sqlite::{Store, count_rows};

fn actor() -> ActorId {
    ActorId::parse("00000000-0000-4000-8000-000000000007").unwrap()
}

fn record(generation: u32) -> ActorRecord {
    ActorRecord {
        id: actor(),
        namespace: "default".into(),
        name: "db".into(),
        key: None,
        runner_name: "default".into(),
        create_ts: 1,
        input: None,
        generation,
        alarm_ts: None,
        crash_policy: CrashPolicy::Sleep,
    }
}

fn done(store: &mut Store, request: StoreRequest) {
    let out = store.execute(vec![(OpId::new(1), request)], 5);
    assert!(matches!(out[..], [(_, Ok(StoreReply::Done))]), "{out:?}");
}

fn call(store: &mut Store, generation: u64, op: PageOp) -> PageAnswer {
    let request = StoreRequest::Pages {
        actor: actor(),
        generation,
        op: Box::new(op),
    };
    match store.execute(vec![(OpId::new(2), request)], 5).pop() {
        Some((_, Ok(StoreReply::Pages(answer)))) => answer,
        other => panic!("{other:?}"),
    }
}

fn page(pgno: u32, fill: u8) -> DirtyPage {
    DirtyPage {
        pgno,
        bytes: vec![fill; 4096],
    }
}

fn read(pgnos: &[u32], expected_head: Option<u64>) -> PageOp {
    PageOp::GetPages {
        pgnos: pgnos.to_vec(),
        expected_head,
    }
}

fn commit(pages: Vec<DirtyPage>, db_size_pages: u32, expected_head: Option<u64>) -> PageOp {
    PageOp::Commit {
        pages,
        db_size_pages,
        expected_head,
    }
}

/// The pages read, by number: `Some(fill)` for a stored page of that byte.
fn fills(answer: PageAnswer) -> (Vec<Option<u8>>, u64) {
    match answer {
        PageAnswer::Pages { pages, head } => (
            pages
                .into_iter()
                .map(|(_, bytes)| bytes.map(|b| b[0]))
                .collect(),
            head,
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_new_database_is_not_found_then_commits_and_reads_back() {
    let mut store = Store::open_in_memory().unwrap();
    done(&mut store, StoreRequest::PutActor(Box::new(record(0))));
    // Exactly the error RivetKit's VFS reads as "empty database".
    assert_eq!(
        call(&mut store, 0, read(&[1, 2], None)),
        PageAnswer::Error(PageError::database_not_found())
    );
    assert_eq!(
        call(
            &mut store,
            0,
            commit(vec![page(1, 1), page(2, 2)], 2, Some(0))
        ),
        PageAnswer::Committed { head: 1 }
    );
    assert_eq!(
        fills(call(&mut store, 0, read(&[1, 2, 3], Some(1)))),
        (vec![Some(1), Some(2), None], 1)
    );
    // Shrinking drops the pages past the end.
    assert_eq!(
        call(&mut store, 0, commit(vec![page(1, 9)], 1, Some(1))),
        PageAnswer::Committed { head: 2 }
    );
    assert_eq!(
        fills(call(&mut store, 0, read(&[1, 2], None))),
        (vec![Some(9), None], 2)
    );
    assert_eq!(count_rows(store.connection(), "actor_db_page").unwrap(), 1);
}

#[test]
fn a_stale_generation_can_neither_read_nor_commit_after_a_newer_one_started() {
    let mut store = Store::open_in_memory().unwrap();
    done(&mut store, StoreRequest::PutActor(Box::new(record(1))));
    assert_eq!(
        call(&mut store, 1, commit(vec![page(1, 1)], 1, Some(0))),
        PageAnswer::Committed { head: 1 }
    );
    // Generation 2 starts (the registry row is written before its start command).
    done(&mut store, StoreRequest::PutActor(Box::new(record(2))));
    let refused = PageAnswer::Error(PageError::generation_mismatch(1, 2));
    assert_eq!(
        call(&mut store, 1, commit(vec![page(1, 66)], 1, Some(1))),
        refused
    );
    assert_eq!(call(&mut store, 1, read(&[1], None)), refused);
    let begin = PageOp::StageBegin {
        expected_head: Some(1),
    };
    assert_eq!(call(&mut store, 1, begin.clone()), refused);
    // Nothing of the stale commit landed; the new generation reads the old data and commits.
    assert_eq!(
        fills(call(&mut store, 2, read(&[1], Some(1)))),
        (vec![Some(1)], 1)
    );
    assert_eq!(
        call(&mut store, 2, commit(vec![page(1, 2)], 1, Some(1))),
        PageAnswer::Committed { head: 2 }
    );
    // Unknown actors are refused in the engine's words.
    done(&mut store, StoreRequest::DeleteActor(actor()));
    assert_eq!(
        call(&mut store, 2, read(&[1], None)),
        PageAnswer::Error(PageError::actor_not_found())
    );
}

#[test]
fn a_commit_against_a_moved_head_is_refused_and_changes_nothing() {
    let mut store = Store::open_in_memory().unwrap();
    done(&mut store, StoreRequest::PutActor(Box::new(record(0))));
    call(&mut store, 0, commit(vec![page(1, 1)], 1, Some(0)));
    assert_eq!(
        call(&mut store, 0, commit(vec![page(1, 5)], 1, Some(0))),
        PageAnswer::Error(PageError::head_fence_mismatch(0, 1))
    );
    assert_eq!(
        call(&mut store, 0, read(&[1], Some(0))),
        PageAnswer::Error(PageError::head_fence_mismatch(0, 1))
    );
    assert_eq!(
        fills(call(&mut store, 0, read(&[1], None))),
        (vec![Some(1)], 1)
    );
}

#[test]
fn a_staged_commit_appears_only_when_finalized() {
    let mut store = Store::open_in_memory().unwrap();
    done(&mut store, StoreRequest::PutActor(Box::new(record(0))));
    call(&mut store, 0, commit(vec![page(1, 1)], 1, Some(0)));
    assert_eq!(
        call(
            &mut store,
            0,
            PageOp::StageBegin {
                expected_head: Some(1)
            }
        ),
        PageAnswer::StageBegun { txid: 2 }
    );
    let segment = |first_pgno, pages| PageOp::StageSegment {
        txid: 2,
        first_pgno,
        pages,
    };
    assert_eq!(
        call(&mut store, 0, segment(1, vec![page(1, 7), page(2, 7)])),
        PageAnswer::Staged { staged_bytes: 8192 }
    );
    // Overlapping what was staged: refused, and the stage is unchanged.
    assert!(matches!(
        call(&mut store, 0, segment(2, vec![page(2, 8)])),
        PageAnswer::Error(PageError { code, .. }) if code == "invalid_request"
    ));
    assert_eq!(
        call(&mut store, 0, segment(64, vec![page(64, 8)])),
        PageAnswer::Staged {
            staged_bytes: 12288
        }
    );
    // Not visible before the finalize.
    assert_eq!(
        fills(call(&mut store, 0, read(&[1, 2, 64], None))),
        (vec![Some(1), None, None], 1)
    );
    let finalize = |segment_first_pgnos| PageOp::StageFinalize {
        txid: 2,
        db_size_pages: 64,
        segment_first_pgnos,
    };
    // A finalize that names a segment the store did not stage is refused.
    assert!(matches!(
        call(&mut store, 0, finalize(vec![1, 32, 64])),
        PageAnswer::Error(PageError { code, .. }) if code == "invalid_request"
    ));
    assert_eq!(
        call(&mut store, 0, finalize(vec![1, 64])),
        PageAnswer::Committed { head: 2 }
    );
    assert_eq!(
        fills(call(&mut store, 0, read(&[1, 2, 64], Some(2)))),
        (vec![Some(7), Some(7), Some(8)], 2)
    );
    assert_eq!(
        count_rows(store.connection(), "actor_db_staged_page").unwrap(),
        0
    );
}

#[test]
fn a_commit_between_begin_and_finalize_voids_the_stage() {
    let mut store = Store::open_in_memory().unwrap();
    done(&mut store, StoreRequest::PutActor(Box::new(record(0))));
    let begin = PageOp::StageBegin {
        expected_head: Some(0),
    };
    assert_eq!(
        call(&mut store, 0, begin),
        PageAnswer::StageBegun { txid: 1 }
    );
    let segment = PageOp::StageSegment {
        txid: 1,
        first_pgno: 1,
        pages: vec![page(1, 3)],
    };
    call(&mut store, 0, segment);
    call(&mut store, 0, commit(vec![page(1, 4)], 1, Some(0)));
    let finalize = PageOp::StageFinalize {
        txid: 1,
        db_size_pages: 1,
        segment_first_pgnos: vec![1],
    };
    assert_eq!(
        call(&mut store, 0, finalize),
        PageAnswer::Error(PageError::head_fence_mismatch(0, 1))
    );
    assert_eq!(
        fills(call(&mut store, 0, read(&[1], None))),
        (vec![Some(4)], 1)
    );
}

#[test]
fn pages_survive_a_restart_and_go_with_the_actor() {
    let dir = std::env::temp_dir().join(format!("torpor-pages-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("t.db");
    {
        let mut store = Store::open(&path).unwrap();
        done(&mut store, StoreRequest::PutActor(Box::new(record(0))));
        call(
            &mut store,
            0,
            commit(vec![page(1, 1), page(2, 2)], 2, Some(0)),
        );
    }
    let mut store = Store::open(&path).unwrap();
    assert_eq!(
        fills(call(&mut store, 0, read(&[1, 2], Some(1)))),
        (vec![Some(1), Some(2)], 1)
    );
    done(&mut store, StoreRequest::DeleteActor(actor()));
    for table in ["actor_db", "actor_db_page"] {
        assert_eq!(count_rows(store.connection(), table).unwrap(), 0, "{table}");
    }
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
