//! Crash safety: a child process writing batches through the store is killed with SIGKILL at
//! random moments, 20 times. After each kill the file opens, `PRAGMA integrity_check` is ok,
//! and every operation whose completion the child reported before dying is present.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use torpor_core::{ActorId, OpId, StoreReply, StoreRequest};
use torpor_protocol::shared::{KvGetRequest, KvPutRequest, KvRequestData, KvResponseData};
use torpor_sqlite::Store;

fn actor() -> ActorId {
    ActorId::parse("00000000-0000-4000-8000-0000000000aa").unwrap()
}

fn key(n: u64) -> Vec<u8> {
    format!("op-{n:08}").into_bytes()
}

/// The child: writes batches of KV puts forever, printing `done N` after each completion.
#[test]
#[ignore = "run by crash_test_kills_a_writer_20_times as a child process"]
fn crash_child_writer() {
    let Ok(path) = std::env::var("TORPOR_CRASH_DB") else {
        return;
    };
    let mut next: u64 = std::env::var("TORPOR_CRASH_START")
        .unwrap()
        .parse()
        .unwrap();
    let mut store = Store::open(&path).unwrap();
    let mut n = 0u64;
    loop {
        n += 1;
        let batch: Vec<(OpId, StoreRequest)> = (0..(1 + n % 50))
            .map(|_| {
                next += 1;
                let request = KvRequestData::Put(KvPutRequest {
                    keys: vec![key(next)],
                    values: vec![vec![7; 64]],
                });
                (
                    OpId::new(next),
                    StoreRequest::Kv {
                        actor: actor(),
                        request: Box::new(request),
                    },
                )
            })
            .collect();
        for (op, result) in store.execute(batch, 1) {
            assert_eq!(result, Ok(StoreReply::Kv(KvResponseData::Put)));
            println!("done {}", op.get());
        }
    }
}

#[test]
fn crash_test_kills_a_writer_20_times() {
    let dir = std::env::temp_dir().join(format!("torpor-crash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("crash.db");
    let exe = std::env::current_exe().unwrap();
    let mut rng = fastrand::Rng::with_seed(20);
    let mut reported: Vec<u64> = Vec::new();
    for round in 0..20 {
        let start = reported.iter().max().copied().unwrap_or(0) + 1_000_000 * round;
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_child_writer",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("TORPOR_CRASH_DB", &db)
            .env("TORPOR_CRASH_START", start.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(n) = line.strip_prefix("done ") {
                    if tx.send(n.parse::<u64>().unwrap()).is_err() {
                        break;
                    }
                }
            }
        });
        // Wait for the child to be writing, then kill it at a random moment.
        let first = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the child wrote nothing");
        std::thread::sleep(Duration::from_millis(rng.u64(1..150)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        let before = reported.len();
        reported.push(first);
        reported.extend(rx.try_iter());
        assert!(reported.len() > before, "round {round}: progress");

        let mut store = Store::open(&db).expect("the file opens after a SIGKILL");
        assert!(
            store.integrity_ok().unwrap(),
            "round {round}: integrity_check"
        );
        // Every reported completion is durable.
        for chunk in reported.chunks(128) {
            let keys: Vec<Vec<u8>> = chunk.iter().map(|n| key(*n)).collect();
            let get = KvRequestData::Get(KvGetRequest { keys: keys.clone() });
            let out = store.execute(
                vec![(
                    OpId::new(0),
                    StoreRequest::Kv {
                        actor: actor(),
                        request: Box::new(get),
                    },
                )],
                2,
            );
            let Some((_, Ok(StoreReply::Kv(KvResponseData::Get(found))))) = out.into_iter().next()
            else {
                panic!("round {round}: get failed");
            };
            assert_eq!(
                found.keys, keys,
                "round {round}: a reported write is missing"
            );
        }
    }
    println!(
        "crash test: 20 kills, {} reported writes all present",
        reported.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
