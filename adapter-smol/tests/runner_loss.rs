//! A runner connection dropped mid-stream: the same runner reconnecting resumes without a
//! restart; a new runner process gets the actor with its sockets restored. Either way every
//! client message reaches the actor exactly once, in order.

mod common;

use std::time::Duration;

use async_tungstenite::tungstenite::Message;
use common::*;
use torpor_runner_kit::{RunnerConfig, TestRunner};

fn texts(items: &[&str]) -> Vec<Vec<u8>> {
    items.iter().map(|s| s.as_bytes().to_vec()).collect()
}

#[test]
fn same_key_reconnect_resumes_without_restart() {
    let gw = start("same-key");
    let addr = gw.addr();
    smol::block_on(async {
        let runner = runner(addr).await;
        let actor = create_actor(addr, "chat", "room-1").await;
        let mut ws = client(addr, &actor, "/").await.expect("client connects");
        ws.send(Message::text("a")).await.expect("send");
        assert_eq!(next(&mut ws, WAIT).await, Some(Message::text("a")));

        let detached = runner.disconnect().await;
        // Sent while the runner is away: held by the gateway.
        ws.send(Message::text("b")).await.expect("send");
        ws.send(Message::text("c")).await.expect("send");
        smol::Timer::after(Duration::from_millis(200)).await;

        let runner = TestRunner::reconnect(detached).await.expect("reconnects");
        assert_eq!(next(&mut ws, WAIT).await, Some(Message::text("b")));
        assert_eq!(next(&mut ws, WAIT).await, Some(Message::text("c")));
        ws.send(Message::text("d")).await.expect("send");
        assert_eq!(next(&mut ws, WAIT).await, Some(Message::text("d")));

        let events = runner.events();
        assert_eq!(delivered(&events, &actor), texts(&["a", "b", "c", "d"]));
        assert_eq!(
            count_starts(&events, &actor),
            1,
            "not restarted: {events:?}"
        );
        assert_eq!(count_opens(&events, &actor), 1);
        assert_eq!(metric(addr, "runner_reconnects_total").await, 1);
    });
}

#[test]
fn new_runner_gets_the_actor_with_sockets_restored() {
    let gw = start_with(config("new-key", |c| {
        c.core.runner_lost_threshold = Duration::from_millis(300);
    }));
    let addr = gw.addr();
    smol::block_on(async {
        let first = runner(addr).await;
        let storage = first.storage();
        let actor = create_actor(addr, "chat", "room-1").await;
        let mut ws = client(addr, &actor, "/").await.expect("client connects");
        ws.send(Message::text("a")).await.expect("send");
        assert_eq!(next(&mut ws, WAIT).await, Some(Message::text("a")));
        let request = opened_request(&first.events(), &actor);

        let _gone = first.disconnect().await;
        ws.send(Message::text("b"))
            .await
            .expect("send while the runner is gone");
        // Past the lost threshold: the actor is lost and the socket hibernates.
        assert_eq!(metric_reaches(addr, "hibernating_sockets", 1).await, 1);

        let second = TestRunner::connect_with(RunnerConfig::new(ws_base(addr)), storage)
            .await
            .expect("new runner connects");
        ws.send(Message::text("c")).await.expect("send");
        // Echoes of b and c, each once, in order.
        assert_eq!(next(&mut ws, WAIT).await, Some(Message::text("b")));
        assert_eq!(next(&mut ws, WAIT).await, Some(Message::text("c")));
        assert_eq!(next(&mut ws, Duration::from_millis(300)).await, None);

        let events = second.events();
        assert_eq!(delivered(&events, &actor), texts(&["b", "c"]));
        assert_eq!(
            count_opens(&events, &actor),
            0,
            "restored, not reopened: {events:?}"
        );
        assert_eq!(starts(&events, &actor), vec![(1, vec![request])]);
        assert_eq!(metric(addr, "runners_lost_total").await, 1);
    });
}
