use std::time::Duration;

use crate::config::Config;
use crate::io::{ClientFrame, CloseFrame, Input, Output};
use crate::protocol::*;
use crate::testkit::driver::*;

fn driver() -> Driver {
    Driver::new(Config::default())
}

#[test]
fn runner_handshake_sends_init_with_stable_id_and_metadata() {
    let mut d = driver();
    let (conn, out) = d.connect_runner("key-1", "default", 10);
    let msgs = sent_to(&out, conn);
    let [ToClient::Init(init)] = msgs.as_slice() else {
        panic!("{msgs:?}")
    };
    assert_eq!(
        init.metadata,
        ProtocolMetadata {
            runner_lost_threshold: 15_000,
            actor_stop_threshold: 30_000,
            serverless_drain_grace_period: None,
        }
    );
    assert!(!init.runner_id.is_empty());
}

#[test]
fn websocket_open_messages_and_close_both_ways() {
    let mut d = driver();
    let (conn, _) = d.connect_runner("k", "default", 10);
    let (actor, _) = d.running_actor(conn, "chat");
    let (client, out) = d.open_websocket(actor, "/ws?x=1");
    assert_eq!(out[0], Output::AcceptClient { client });
    let t = tunnel_to(&out, conn);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].message_id.message_index, 0);
    assert_eq!(
        t[0].message_kind,
        ToClientTunnelMessageKind::WebSocketOpen(ToClientWebSocketOpen {
            actor_id: actor.to_string(),
            path: "/ws?x=1".into(),
            headers: Headers::new(),
        })
    );
    let rq = t[0].message_id;

    // A frame sent before the runner answers is buffered, then forwarded with index 1.
    let out = d.step(Input::ClientMessage {
        client,
        frame: ClientFrame::Text("early".into()),
    });
    assert!(out.is_empty(), "{out:?}");
    let out = d.runner_tunnel(
        conn,
        rq,
        ToServerTunnelMessageKind::WebSocketOpen(ToServerWebSocketOpen {
            can_hibernate: false,
        }),
    );
    let t = tunnel_to(&out, conn);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].message_id.message_index, 1);
    assert_eq!(
        t[0].message_kind,
        ToClientTunnelMessageKind::WebSocketMessage(ToClientWebSocketMessage {
            data: b"early".to_vec(),
            binary: false,
        })
    );

    let out = d.step(Input::ClientMessage {
        client,
        frame: ClientFrame::Binary(vec![0, 255]),
    });
    let t = tunnel_to(&out, conn);
    assert_eq!(t[0].message_id.message_index, 2);

    let out = d.runner_tunnel(
        conn,
        rq,
        ToServerTunnelMessageKind::WebSocketMessage(ToServerWebSocketMessage {
            data: b"echo".to_vec(),
            binary: false,
        }),
    );
    assert_eq!(
        out,
        vec![Output::SendClient {
            client,
            frame: ClientFrame::Text("echo".into())
        }]
    );

    let out = d.step(Input::ClientClosed {
        client,
        close: Some(CloseFrame::new(1000, "bye")),
    });
    let t = tunnel_to(&out, conn);
    assert_eq!(t[0].message_id.message_index, 3);
    assert_eq!(
        t[0].message_kind,
        ToClientTunnelMessageKind::WebSocketClose(ToClientWebSocketClose {
            code: Some(1000),
            reason: Some("bye".into()),
        })
    );
    // The runner's echo of the close is ignored.
    let out = d.runner_tunnel(
        conn,
        rq,
        ToServerTunnelMessageKind::WebSocketClose(ToServerWebSocketClose {
            code: Some(1000),
            reason: Some("bye".into()),
            hibernate: false,
        }),
    );
    assert!(out.is_empty());
    assert_eq!(d.gw.metrics().tunnel_dropped_unknown, 1);
}

#[test]
fn sleep_intent_stops_and_a_request_wakes_with_next_generation() {
    let mut d = driver();
    let (conn, _) = d.connect_runner("k", "default", 10);
    let (actor, start) = d.running_actor(conn, "chat");
    assert_eq!(start.checkpoint.generation, 0);
    assert_eq!(start.checkpoint.index, 0);

    let sleep = EventWrapper {
        checkpoint: ActorCheckpoint {
            index: 1,
            ..start.checkpoint.clone()
        },
        inner: Event::ActorIntent(EventActorIntent {
            intent: ActorIntent::Sleep,
        }),
    };
    let out = d.runner_send(conn, &ToServer::Events(vec![sleep]));
    let cmds = commands(&out);
    assert_eq!(cmds.len(), 1);
    assert_eq!(cmds[0].1.inner, Command::StopActor);
    assert_eq!(cmds[0].1.checkpoint.index, 1);
    assert_eq!(cmds[0].1.checkpoint.generation, 0);

    d.report_state(conn, &start.checkpoint, 2, stopped(StopCode::Error));
    assert_eq!(d.gw.metrics().actor_crashes, 0);

    let (_client, out) = d.open_websocket(actor, "/");
    let starts = start_commands(&out);
    assert_eq!(starts.len(), 1, "{out:?}");
    assert_eq!(starts[0].1.checkpoint.generation, 1);
    assert_eq!(starts[0].1.checkpoint.index, 0);
    // The open waits for Running.
    assert!(tunnel_to(&out, conn).is_empty());
    let out = d.report_running(conn, &starts[0].1);
    let t = tunnel_to(&out, conn);
    assert!(matches!(
        t[0].message_kind,
        ToClientTunnelMessageKind::WebSocketOpen(_)
    ));
}

#[test]
fn reconnect_with_same_key_does_not_restart_a_running_actor() {
    let mut d = driver();
    let (conn, out) = d.connect_runner("k", "default", 10);
    let ToClient::Init(first) = &sent_to(&out, conn)[0] else {
        panic!()
    };
    let first_id = first.runner_id.clone();
    let (_actor, _start) = d.running_actor(conn, "chat");
    d.step(Input::RunnerClosed { conn });
    d.advance(Duration::from_secs(5));
    let (conn2, out) = d.connect_runner("k", "default", 10);
    let msgs = sent_to(&out, conn2);
    let [ToClient::Init(init)] = msgs.as_slice() else {
        panic!("{msgs:?}")
    };
    assert_eq!(init.runner_id, first_id);
    assert!(commands(&out).is_empty(), "no command replayed: {out:?}");
    assert_eq!(d.gw.metrics().runner_reconnects, 1);
    // The lost timer was cancelled: nothing happens at the threshold.
    let out = d.advance(Duration::from_secs(20));
    assert!(commands(&out).is_empty());
    assert_eq!(d.gw.metrics().runners_lost, 0);
}
