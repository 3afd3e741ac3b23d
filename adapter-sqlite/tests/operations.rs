//! What an operator meets: opening errors that say what is wrong, and online backups.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use torpor_core::{ActorRecord, CrashPolicy, StoreReply, StoreRequest};
use torpor_sqlite::{Store, Writer, inspect_file};

fn dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("torpor-ops-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn a_database_another_process_holds_is_reported_locked_at_once() {
    let path = dir("locked").join("torpor.db");
    let _first = Store::open(&path).expect("first open");
    let started = Instant::now();
    let Err(err) = Store::open(&path) else {
        panic!("a second open succeeded")
    };
    let took = started.elapsed();
    assert_eq!(
        err.to_string(),
        format!(
            "{} is locked by another process (is another torpor serving it?); only one torpor \
             may open a database (copy a running one with `torpor backup`)",
            path.display()
        )
    );
    // Not after the 5 s busy timeout of normal operation.
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

#[test]
fn a_missing_directory_is_named() {
    let path = dir("missing").join("nope").join("torpor.db");
    let Err(err) = Store::open(&path) else {
        panic!("opened without a directory")
    };
    assert_eq!(
        err.to_string(),
        format!(
            "directory {} does not exist (create it first)",
            path.parent().unwrap().display()
        )
    );
}

fn record(n: u8) -> ActorRecord {
    ActorRecord {
        id: torpor_core::ActorId::parse(&format!("{n:08x}-0000-4000-8000-000000000000"))
            .expect("id"),
        namespace: "default".into(),
        name: format!("actor-{n}"),
        key: Some(format!("k{n}")),
        runner_name: "default".into(),
        create_ts: i64::from(n),
        input: None,
        generation: 0,
        alarm_ts: None,
        crash_policy: CrashPolicy::Sleep,
    }
}

#[test]
fn a_backup_taken_while_the_writer_runs_holds_everything_written_before_it() {
    let d = dir("backup");
    let store = Store::open(d.join("torpor.db")).expect("open");
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let writer = Writer::spawn(store, move |batch| {
        for (_, result) in batch {
            done_tx.send(result).expect("test alive");
        }
    })
    .expect("writer");
    for n in 1..=3 {
        assert!(writer.submit(
            torpor_core::OpId::new(u64::from(n)),
            StoreRequest::PutActor(Box::new(record(n)))
        ));
    }
    let dest = d.join("copy.db");
    let (tx, rx) = std::sync::mpsc::channel();
    assert!(writer.backup(dest.clone(), move |r| tx.send(r).expect("test alive")));
    let report = rx.recv().expect("backup answered").expect("backup ok");
    for _ in 1..=3 {
        assert_eq!(done_rx.recv().expect("completion"), Ok(StoreReply::Done));
    }
    assert_eq!(report.bytes, std::fs::metadata(&dest).expect("copy").len());
    let summary = inspect_file(&dest).expect("inspect");
    assert!(summary.integrity_ok);
    assert_eq!(summary.actors, 3);
    // A backup never overwrites a file.
    let (tx, rx) = std::sync::mpsc::channel();
    assert!(writer.backup(dest.clone(), move |r| tx.send(r).expect("test alive")));
    let refused = rx.recv().expect("answered").expect_err("exists");
    assert!(refused.contains("already exists"), "{refused}");
    // The copy opens as a database of its own (restore = put it in place of the original).
    drop(writer.shutdown());
    let restored = Store::open(&dest).expect("restored copy opens");
    assert_eq!(restored.snapshot().expect("snapshot").actors.len(), 3);
}

#[test]
fn a_probe_reports_a_writable_database() {
    let store = Store::open(dir("probe").join("torpor.db")).expect("open");
    let writer = Writer::spawn(store, |_| {}).expect("writer");
    let (tx, rx) = std::sync::mpsc::channel();
    assert!(writer.probe(move |r| tx.send(r).expect("test alive")));
    assert_eq!(rx.recv().expect("answered"), Ok(()));
}
