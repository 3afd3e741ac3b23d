//! Client WebSockets: open, buffering, limits, every close path and the message index.

use std::time::Duration;

use crate::config::Config;
use crate::ids::{ActorId, ClientId, RunnerConnId};
use crate::io::{ClientFrame, CloseFrame, Input, Output};
use crate::protocol::*;
use crate::testkit::driver::*;

use super::{driver, driver_with, setup};

/// Opens a client WebSocket and returns the client and its request's message id (index 0).
fn open(d: &mut Driver, conn: RunnerConnId, actor: ActorId) -> (ClientId, MessageId) {
    let (client, out) = d.open_websocket(actor, "/ws");
    let t = tunnel_to(&out, conn);
    assert_eq!(t.len(), 1, "{out:?}");
    assert_eq!(t[0].message_id.message_index, 0);
    (client, t[0].message_id)
}

/// The tunnel message the gateway sends for `request` with `index`.
pub(super) fn tunnel(request: MessageId, index: u16, kind: ToClientTunnelMessageKind) -> ToClient {
    ToClient::TunnelMessage(ToClientTunnelMessage {
        message_id: MessageId {
            message_index: index,
            ..request
        },
        message_kind: kind,
    })
}

pub(super) fn to_runner(conn: RunnerConnId, msg: ToClient) -> Output {
    Output::SendRunner {
        conn,
        bytes: msg.to_bytes().into(),
    }
}

pub(super) fn ws_message(data: &[u8], binary: bool) -> ToClientTunnelMessageKind {
    ToClientTunnelMessageKind::WebSocketMessage(ToClientWebSocketMessage {
        data: data.to_vec(),
        binary,
    })
}

pub(super) fn ws_close(code: Option<u16>, reason: Option<&str>) -> ToClientTunnelMessageKind {
    ToClientTunnelMessageKind::WebSocketClose(ToClientWebSocketClose {
        code,
        reason: reason.map(Into::into),
    })
}

fn runner_close(code: Option<u16>, reason: Option<&str>) -> ToServerTunnelMessageKind {
    ToServerTunnelMessageKind::WebSocketClose(ToServerWebSocketClose {
        code,
        reason: reason.map(Into::into),
        hibernate: false,
    })
}

#[test]
fn non_hibernatable_socket_closes_with_1001_when_the_actor_sleeps() {
    let mut d = driver();
    let (conn, actor, start) = setup(&mut d);
    let (client, rq) = open(&mut d, conn, actor);
    d.accept_websocket(conn, rq, false);
    let out = d.runner_send(
        conn,
        &ToServer::Events(vec![intent(&start.checkpoint, 1, ActorIntent::Sleep)]),
    );
    assert!(
        !out.iter().any(|o| matches!(o, Output::CloseClient { .. })),
        "the socket lives until Stopped: {out:?}"
    );
    let out = d.report_state(conn, &start.checkpoint, 2, stopped(StopCode::Error));
    assert_eq!(
        out,
        vec![
            Output::CloseClient {
                client,
                close: CloseFrame::new(1001, "actor.sleeping"),
            },
            to_runner(
                conn,
                ToClient::AckEvents(ToClientAckEvents {
                    last_event_checkpoints: vec![ActorCheckpoint {
                        index: 2,
                        ..start.checkpoint.clone()
                    }],
                })
            ),
        ],
        "nothing is sent to the runner for the socket: it closed its side already"
    );
    assert_eq!(d.gw.metrics().ws_closed_actor_stopped, 1);
    assert_eq!(d.gw.client_count(), 0);
}

#[test]
fn runner_close_without_code_closes_the_client_with_1000_ws_closed() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let (client, rq) = open(&mut d, conn, actor);
    d.accept_websocket(conn, rq, false);
    let out = d.runner_tunnel(conn, rq, runner_close(None, None));
    assert_eq!(
        out,
        vec![Output::CloseClient {
            client,
            close: CloseFrame::new(1000, "ws.closed"),
        }]
    );
    assert_eq!(d.gw.metrics().ws_closed_by_runner, 1);
    assert_eq!(d.gw.client_count(), 0);
    // Later frames from the client go nowhere.
    let out = d.step(Input::ClientMessage {
        client,
        frame: ClientFrame::Text("late".into()),
    });
    assert_eq!(out, vec![]);
}

#[test]
fn runner_close_before_the_open_reply_closes_the_client_with_its_code() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let (client, rq) = open(&mut d, conn, actor);
    let out = d.runner_tunnel(conn, rq, runner_close(Some(1011), Some("Server Error")));
    assert_eq!(
        out,
        vec![Output::CloseClient {
            client,
            close: CloseFrame::new(1011, "Server Error"),
        }]
    );
    // The open timer went with the socket.
    let out = without_pings(d.advance(Duration::from_secs(20)));
    assert_eq!(out, vec![]);
    assert_eq!(d.gw.metrics().ws_open_timeouts, 0);
}

#[test]
fn open_timeout_closes_the_client_and_tells_the_runner() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let (client, rq) = open(&mut d, conn, actor);
    let out = without_pings(d.advance(Duration::from_millis(14_999)));
    assert_eq!(out, vec![]);
    let out = without_pings(d.advance(Duration::from_millis(1)));
    assert_eq!(
        out,
        vec![
            to_runner(
                conn,
                tunnel(
                    rq,
                    1,
                    ws_close(Some(1011), Some("torpor.websocket_open_timeout"))
                )
            ),
            Output::CloseClient {
                client,
                close: CloseFrame::new(1011, "torpor.websocket_open_timeout"),
            },
        ]
    );
    assert_eq!(d.gw.metrics().ws_open_timeouts, 1);
    assert_eq!(d.gw.client_count(), 0);
    // A late open reply is dropped.
    let out = d.accept_websocket(conn, rq, false);
    assert_eq!(out, vec![]);
    assert_eq!(d.gw.metrics().tunnel_dropped_unknown, 1);
}

#[test]
fn message_over_the_forward_limit_closes_with_1009() {
    let mut d = driver_with(Config {
        max_forward_message_bytes: 10,
        ..Config::default()
    });
    let (conn, actor, _) = setup(&mut d);
    let (client, rq) = open(&mut d, conn, actor);
    d.accept_websocket(conn, rq, false);
    let out = d.step(Input::ClientMessage {
        client,
        frame: ClientFrame::Binary(vec![7; 10]),
    });
    assert_eq!(
        out,
        vec![to_runner(conn, tunnel(rq, 1, ws_message(&[7; 10], true)))]
    );
    let out = d.step(Input::ClientMessage {
        client,
        frame: ClientFrame::Text("x".repeat(11)),
    });
    assert_eq!(
        out,
        vec![
            to_runner(
                conn,
                tunnel(rq, 2, ws_close(Some(1009), Some("torpor.message_too_big")))
            ),
            Output::CloseClient {
                client,
                close: CloseFrame::new(1009, "torpor.message_too_big"),
            },
        ]
    );
    assert_eq!(d.gw.metrics().ws_messages_too_big, 1);
    assert_eq!(d.gw.metrics().ws_messages_to_runner, 1);
}

#[test]
fn frames_sent_while_the_actor_starts_are_forwarded_in_order_after_the_open() {
    let mut d = driver();
    let (conn, _) = d.connect_runner("k", "default", 1);
    let (actor, out) = d.create_actor("chat", None, "default");
    let [(_, start)] = <[_; 1]>::try_from(start_commands(&out)).unwrap();
    let (client, out) = d.open_websocket(actor, "/ws");
    assert_eq!(out, vec![Output::AcceptClient { client }]);
    for frame in [
        ClientFrame::Text("one".into()),
        ClientFrame::Binary(vec![2]),
        ClientFrame::Text("three".into()),
    ] {
        assert_eq!(d.step(Input::ClientMessage { client, frame }), vec![]);
    }
    let out = d.report_running(conn, &start);
    let t = tunnel_to(&out, conn);
    assert_eq!(t.len(), 1, "only the open, at index 0: {out:?}");
    let rq = t[0].message_id;
    assert_eq!(
        ToClient::TunnelMessage(t[0].clone()),
        tunnel(
            rq,
            0,
            ToClientTunnelMessageKind::WebSocketOpen(ToClientWebSocketOpen {
                actor_id: actor.to_string(),
                path: "/ws".into(),
                headers: Headers::new(),
            })
        )
    );
    let out = d.accept_websocket(conn, rq, false);
    assert_eq!(
        out,
        vec![
            to_runner(conn, tunnel(rq, 1, ws_message(b"one", false))),
            to_runner(conn, tunnel(rq, 2, ws_message(&[2], true))),
            to_runner(conn, tunnel(rq, 3, ws_message(b"three", false))),
        ]
    );
    // The next frame follows with index 4.
    let out = d.step(Input::ClientMessage {
        client,
        frame: ClientFrame::Text("four".into()),
    });
    assert_eq!(
        out,
        vec![to_runner(conn, tunnel(rq, 4, ws_message(b"four", false)))]
    );
}

#[test]
fn opening_buffer_over_the_limit_pauses_reads_until_the_open() {
    let mut d = driver_with(Config {
        opening_buffer_bytes: 8,
        ..Config::default()
    });
    let (conn, actor, _) = setup(&mut d);
    let (client, rq) = open(&mut d, conn, actor);
    let frame = |b: u8| ClientFrame::Binary(vec![b; 5]);
    assert_eq!(
        d.step(Input::ClientMessage {
            client,
            frame: frame(1)
        }),
        vec![]
    );
    assert_eq!(
        d.step(Input::ClientMessage {
            client,
            frame: frame(2)
        }),
        vec![Output::PauseClientReads { client }]
    );
    // Frames already in flight are still taken, with no second pause.
    assert_eq!(
        d.step(Input::ClientMessage {
            client,
            frame: frame(3)
        }),
        vec![]
    );
    let out = d.accept_websocket(conn, rq, false);
    assert_eq!(
        out,
        vec![
            to_runner(conn, tunnel(rq, 1, ws_message(&[1; 5], true))),
            to_runner(conn, tunnel(rq, 2, ws_message(&[2; 5], true))),
            to_runner(conn, tunnel(rq, 3, ws_message(&[3; 5], true))),
            Output::ResumeClientReads { client },
        ]
    );
}

#[test]
fn unknown_actor_is_rejected_with_404() {
    let mut d = driver();
    let (_conn, _actor, _) = setup(&mut d);
    let client = ClientId::new(d.fresh());
    let out = d.step(Input::ClientWebSocket {
        client,
        actor: "not-a-uuid".into(),
        path: "/".into(),
        headers: Headers::new(),
    });
    assert_eq!(
        out,
        vec![Output::RejectClient {
            client,
            status: 404,
            reason: "actor.not_found: The actor \"not-a-uuid\" does not exist or was destroyed."
                .into(),
        }]
    );
    let missing = ActorId::parse("00000000-0000-4000-8000-000000000000").unwrap();
    let (client, out) = d.open_websocket(missing, "/");
    assert_eq!(
        out,
        vec![Output::RejectClient {
            client,
            status: 404,
            reason: format!(
                "actor.not_found: The actor \"{missing}\" does not exist or was destroyed."
            ),
        }]
    );
    assert_eq!(d.gw.metrics().client_rejects, 2);
    assert_eq!(d.gw.client_count(), 0);
}

#[test]
fn client_stream_end_without_close_frame_is_a_normal_close() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let (client, rq) = open(&mut d, conn, actor);
    d.accept_websocket(conn, rq, false);
    let out = d.step(Input::ClientClosed {
        client,
        close: None,
    });
    assert_eq!(
        out,
        vec![to_runner(conn, tunnel(rq, 1, ws_close(Some(1000), None)))]
    );
    assert_eq!(d.gw.metrics().ws_closed_by_client, 1);
    assert_eq!(d.gw.client_count(), 0);
}

#[test]
fn message_index_wraps_after_65535() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let (client, rq) = open(&mut d, conn, actor);
    d.accept_websocket(conn, rq, false);
    let mut last = Vec::new();
    for i in 1..=65_537u32 {
        let out = d.step(Input::ClientMessage {
            client,
            frame: ClientFrame::Binary(i.to_le_bytes().to_vec()),
        });
        assert_eq!(out.len(), 1);
        if i >= 65_534 {
            last.extend(out);
        }
    }
    let expected: Vec<Output> = [
        (65_534u32, 65_534u16),
        (65_535, 65_535),
        (65_536, 0),
        (65_537, 1),
    ]
    .into_iter()
    .map(|(i, index)| to_runner(conn, tunnel(rq, index, ws_message(&i.to_le_bytes(), true))))
    .collect();
    assert_eq!(last, expected);
    assert_eq!(d.gw.metrics().ws_messages_to_runner, 65_537);
    // The close after the wrap takes the next index.
    let out = d.step(Input::ClientClosed {
        client,
        close: Some(CloseFrame::new(1000, "bye")),
    });
    assert_eq!(
        out,
        vec![to_runner(
            conn,
            tunnel(rq, 2, ws_close(Some(1000), Some("bye")))
        )]
    );
}

#[test]
fn hibernatable_socket_survives_sleep_and_is_listed_on_wake() {
    // DESIGN.md guarantees 4–6, RUNNER-PROTOCOL §9.4–9.5.
    let mut d = driver();
    let (conn, actor, start) = setup(&mut d);
    let (client, rq) = open(&mut d, conn, actor);
    d.accept_websocket(conn, rq, true);
    d.runner_send(
        conn,
        &ToServer::Events(vec![intent(&start.checkpoint, 1, ActorIntent::Sleep)]),
    );
    let out = d.report_state(conn, &start.checkpoint, 2, stopped(StopCode::Error));
    assert!(
        !out.iter().any(|o| matches!(o, Output::CloseClient { .. })),
        "the client stays connected while the actor sleeps: {out:?}"
    );
    assert!(
        tunnel_to(&out, conn).is_empty(),
        "nothing sent to the runner"
    );
    // A client frame wakes the actor; the start lists the socket.
    let out = d.step(Input::ClientMessage {
        client,
        frame: ClientFrame::Text("wake".into()),
    });
    let starts = start_commands(&out);
    assert_eq!(starts.len(), 1, "{out:?}");
    let Command::StartActor(s) = &starts[0].1.inner else {
        panic!()
    };
    assert_eq!(
        s.hibernating_requests,
        vec![HibernatingRequest {
            gateway_id: rq.gateway_id,
            request_id: rq.request_id,
        }]
    );
}
