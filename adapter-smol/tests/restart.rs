//! The real binary: SIGKILL with hibernating sockets, restart on the same database, then a
//! graceful SIGTERM shutdown.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message;
use common::*;
use torpor_runner_kit::{GatewayProcess, RunnerEvent, TestRunner};

/// Starts `torpor serve` on `port` and waits until it is ready.
fn spawn_gateway(db: &Path, port: u16) -> (Child, SocketAddr) {
    let bin = Path::new(env!("CARGO_BIN_EXE_torpor"));
    let gw = GatewayProcess::spawn(bin, &format!("127.0.0.1:{port}"), db, &[]).expect("torpor");
    let addr = gw.addr;
    (gw.into_child(), addr)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

#[test]
fn sigkill_then_restart_keeps_the_registry_and_drops_old_sockets() {
    let db = temp_db("restart");
    let port = free_port();
    let (mut gw, addr) = spawn_gateway(&db, port);
    let (a1, a2, detached) = smol::block_on(async {
        let runner = runner(addr).await;
        let a1 = create_actor(addr, "chat", "room-1").await;
        let a2 = create_actor(addr, "chat", "room-2").await;
        let mut ws1 = client(addr, &a1, "/one").await.expect("client 1");
        ws1.send(Message::text("x")).await.expect("send");
        assert_eq!(next(&mut ws1, WAIT).await, Some(Message::text("x")));
        let mut ws2 = client(addr, &a2, "/two").await.expect("client 2");
        ws2.send(Message::text("y")).await.expect("send");
        assert_eq!(next(&mut ws2, WAIT).await, Some(Message::text("y")));
        // Actor 1 sleeps: its socket hibernates with a row in the index.
        runner.sleep_actor(&a1).await;
        let mut rows = 0;
        for _ in 0..100 {
            rows = metric(addr, "hibernation_index_rows").await;
            if rows == 2 && metric(addr, "hibernating_sockets").await == 1 {
                break;
            }
            smol::Timer::after(Duration::from_millis(50)).await;
        }
        assert_eq!(rows, 2, "both sockets are in the index");
        (a1, a2, runner.disconnect().await)
    });

    gw.kill().expect("SIGKILL");
    gw.wait().expect("reaped");
    let (mut gw, addr2) = spawn_gateway(&db, port);
    assert_eq!(addr, addr2);

    smol::block_on(async {
        let list = http(addr, "GET", "/actors?name=chat", &[], "").await.json();
        let mut ids: Vec<String> = list["actors"]
            .as_array()
            .expect("actors")
            .iter()
            .map(|a| a["actor_id"].as_str().expect("id").to_owned())
            .collect();
        ids.sort();
        let mut want = vec![a1.clone(), a2.clone()];
        want.sort();
        assert_eq!(ids, want, "registry intact");
        assert_eq!(metric(addr, "hibernation_index_rows").await, 0);
        assert_eq!(metric(addr, "hibernating_sockets").await, 0);
        for a in [&a1, &a2] {
            let s = http(addr, "GET", &format!("/actors/{a}/sockets"), &[], "")
                .await
                .json();
            assert_eq!(s["sockets"], serde_json::json!([]));
        }

        // The same runner process reconnects: the actor it still runs from before is stopped.
        let runner = TestRunner::reconnect(detached)
            .await
            .expect("runner reconnects");
        runner
            .wait_for(WAIT, |e| {
                e.iter().any(
                    |e| matches!(e, RunnerEvent::ActorStopped { actor_id, .. } if *actor_id == a2),
                )
            })
            .await
            .expect("old instance stopped");

        // Both actors start cleanly on demand, with no socket of the old incarnation listed.
        for a in [&a1, &a2] {
            let mut ws = client(addr, a, "/again")
                .await
                .expect("client after restart");
            ws.send(Message::text("z")).await.expect("send");
            assert_eq!(next(&mut ws, WAIT).await, Some(Message::text("z")));
        }
        let events = runner.events();
        for a in [&a1, &a2] {
            let last_start = starts(&events, a).pop().expect("started after restart");
            assert!(
                last_start.0 >= 1,
                "generation keeps growing: {last_start:?}"
            );
            assert_eq!(last_start.1, Vec::<[u8; 4]>::new(), "no ghost sockets");
        }

        // Graceful shutdown: the client gets 1012 and the process exits within 10 s.
        let mut ws = client(addr, &a1, "/bye").await.expect("client");
        ws.send(Message::text("w")).await.expect("send");
        assert_eq!(next(&mut ws, WAIT).await, Some(Message::text("w")));
        let started = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &gw.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        assert_eq!(close_code(&mut ws, WAIT).await, Some(1012));
        let code = loop {
            if let Some(code) = gw.try_wait().expect("wait") {
                break code;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "exits within 10 s"
            );
            smol::Timer::after(Duration::from_millis(20)).await;
        };
        assert!(code.success(), "{code:?}");
        drop(runner);
    });

    // The store was flushed: the index holds nothing of either incarnation.
    let conn = rusqlite::Connection::open(&db).expect("open db");
    assert_eq!(
        torpor_sqlite::count_rows(&conn, "hibernation").expect("count"),
        0
    );
    assert_eq!(
        torpor_sqlite::count_rows(&conn, "actors").expect("count"),
        2
    );
}
