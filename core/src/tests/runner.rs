//! Runner sessions: admission, handshake timeouts, liveness, replacement, loss, reconnect replay,
//! malformed input and draining.

use crate::ids::RunnerConnId;
use std::time::Duration;

use crate::config::Config;
use crate::io::{CloseFrame, Input, Output, RunnerParams};
use crate::protocol::*;
use crate::testkit::driver::*;

use super::state_of;

fn driver() -> Driver {
    Driver::new(Config::default())
}

/// The runner id a handshake's `ToClientInit` carried.
fn runner_id(out: &[Output], conn: RunnerConnId) -> String {
    match sent_to(out, conn).as_slice() {
        [ToClient::Init(init), ..] => init.runner_id.clone(),
        other => panic!("no init: {other:?}"),
    }
}

/// Connects without the handshake; returns the outputs of the admission.
fn connect(d: &mut Driver, params: RunnerParams) -> (RunnerConnId, Vec<Output>) {
    let conn = RunnerConnId::new(d.fresh());
    let out = d.step(Input::RunnerConnect { conn, params });
    (conn, out)
}

#[test]
fn protocol_version_other_than_7_is_refused_before_the_upgrade() {
    let mut d = driver();
    let (conn, out) = connect(
        &mut d,
        RunnerParams {
            protocol_version: Some(6),
            ..runner_params("k")
        },
    );
    assert_eq!(
        out,
        vec![Output::RejectRunner {
            conn,
            status: 400,
            reason: "unsupported protocol_version 6: Torpor speaks runner protocol 7 and envoy protocol 8".into(),
        }]
    );
    let (conn, out) = connect(
        &mut d,
        RunnerParams {
            protocol_version: None,
            ..runner_params("k")
        },
    );
    assert_eq!(
        out,
        vec![Output::RejectRunner {
            conn,
            status: 400,
            reason: "unsupported protocol_version none: Torpor speaks runner protocol 7 and envoy protocol 8".into(),
        }]
    );
    assert_eq!(d.gw.metrics().runner_rejects, 2);
    assert_eq!(d.gw.metrics().runner_connects, 0);
    assert_eq!(d.gw.runner_connection_count(), 0);
}

#[test]
fn unknown_namespace_is_refused_with_404() {
    let mut d = driver();
    let (conn, out) = connect(
        &mut d,
        RunnerParams {
            namespace: "nope".into(),
            ..runner_params("k")
        },
    );
    assert_eq!(
        out,
        vec![Output::RejectRunner {
            conn,
            status: 404,
            reason: "unknown namespace \"nope\"".into(),
        }]
    );
    assert_eq!(d.gw.runner_connection_count(), 0);
}

#[test]
fn a_reconfigured_runner_token_applies_to_the_next_connect_and_a_bad_config_changes_nothing() {
    let mut d = Driver::new(Config::default());
    let (open, out) = connect(&mut d, runner_params("a"));
    assert_eq!(out, vec![Output::AcceptRunner { conn: open }]);
    let bad = Config {
        socket_window_messages: 0,
        ..Config::default()
    };
    assert_eq!(
        d.gw.reconfigure(bad).unwrap_err().field,
        "socket_window_messages"
    );
    assert_eq!(d.gw.config(), &Config::default());
    let reloaded = Config {
        runner_token: Some("new".into()),
        // Namespaces are state: a reload leaves them as they are.
        namespaces: vec!["default".into(), "other".into()],
        ..Config::default()
    };
    d.gw.reconfigure(reloaded).unwrap();
    assert_eq!(d.gw.config().namespaces, vec!["default".to_owned()]);
    let (refused, out) = connect(&mut d, runner_params("b"));
    assert_eq!(
        out,
        vec![Output::RejectRunner {
            conn: refused,
            status: 401,
            reason: "runner token required".into(),
        }]
    );
    // The runner already connected stays.
    assert_eq!(d.gw.runner_connection_count(), 1);
}

#[test]
fn runner_token_is_checked_when_configured() {
    let mut d = Driver::new(Config {
        runner_token: Some("s3cret".into()),
        ..Config::default()
    });
    let (missing, out) = connect(&mut d, runner_params("k"));
    assert_eq!(
        out,
        vec![Output::RejectRunner {
            conn: missing,
            status: 401,
            reason: "runner token required".into(),
        }]
    );
    let (wrong, out) = connect(
        &mut d,
        RunnerParams {
            token: Some("guess".into()),
            ..runner_params("k")
        },
    );
    assert_eq!(
        out,
        vec![Output::RejectRunner {
            conn: wrong,
            status: 403,
            reason: "invalid runner token".into(),
        }]
    );
    let (good, out) = connect(
        &mut d,
        RunnerParams {
            token: Some("s3cret".into()),
            ..runner_params("k")
        },
    );
    assert_eq!(out, vec![Output::AcceptRunner { conn: good }]);
    assert_eq!(d.gw.metrics().runner_rejects, 2);
    assert_eq!(d.gw.metrics().runner_connects, 1);
    assert_eq!(d.gw.runner_connection_count(), 1);
}

#[test]
fn no_init_within_5s_closes_with_1008() {
    let mut d = driver();
    let (conn, out) = connect(&mut d, runner_params("k"));
    assert_eq!(out, vec![Output::AcceptRunner { conn }]);
    assert!(d.advance(Duration::from_millis(4_999)).is_empty());
    let out = d.advance(Duration::from_millis(1));
    assert_eq!(
        out,
        vec![Output::CloseRunner {
            conn,
            close: CloseFrame::new(1008, "ws.timed_out_waiting_for_init"),
        }]
    );
    assert_eq!(d.gw.metrics().runner_init_timeouts, 1);
    assert_eq!(d.gw.runner_connection_count(), 0);
    assert_eq!(
        d.gw.poll_timeout(),
        None,
        "no timer left for the dead connection"
    );
}

#[test]
fn first_frame_other_than_init_closes_with_1002() {
    let mut d = driver();
    let (conn, _) = connect(&mut d, runner_params("k"));
    let out = d.runner_send(conn, &ToServer::Pong(ToServerPong { ts: 1 }));
    assert_eq!(
        out,
        vec![Output::CloseRunner {
            conn,
            close: CloseFrame::new(1002, "ws.invalid_initial_packet"),
        }]
    );
    assert_eq!(d.gw.runner_connection_count(), 0);
    // Nothing is left armed for it: the init timeout does not fire later.
    assert!(d.advance(Duration::from_secs(10)).is_empty());
    assert_eq!(d.gw.metrics().runner_init_timeouts, 0);
}

/// The `ts` of every ping sent to `conn`.
fn ping_times(out: &[Output], conn: RunnerConnId) -> Vec<i64> {
    sent_to(out, conn)
        .into_iter()
        .map(|m| match m {
            ToClient::Ping(p) => p.ts,
            other => panic!("expected only pings, got {other:?}"),
        })
        .collect()
}

#[test]
fn pings_every_3s_and_closes_without_pongs() {
    let mut d = driver();
    let (conn, _) = d.connect_runner("k", "default", 1);
    assert!(d.advance(Duration::from_millis(2_999)).is_empty());
    // One ping per interval plus 0-127 ms of jitter; the first comes exactly one interval
    // after the handshake. Before each ping the last pong's age is checked: the first check
    // that finds it older than 15 s (the handshake, at 0, counts as one) drops the runner.
    let mut out = d.advance(Duration::from_millis(15_800));
    let close = out.pop();
    assert_eq!(
        close,
        Some(Output::CloseRunner {
            conn,
            close: CloseFrame::new(1011, "torpor.runner_ping_timeout"),
        })
    );
    let pings = ping_times(&out, conn);
    assert_eq!(out.len(), pings.len(), "{out:?}");
    assert!((4..=5).contains(&pings.len()), "{pings:?}");
    assert_eq!(pings[0], 3_000);
    for gap in pings.windows(2).map(|w| w[1] - w[0]) {
        assert!((3_000..3_128).contains(&gap), "gap {gap} in {pings:?}");
    }
    assert!(
        pings.windows(2).any(|w| w[1] - w[0] != 3_000),
        "jitter drawn: {pings:?}"
    );
    assert_eq!(d.gw.metrics().runner_ping_timeouts, 1);
    assert_eq!(d.gw.runner_connection_count(), 0);
}

#[test]
fn pongs_keep_the_runner_alive() {
    let mut d = driver();
    let (conn, _) = d.connect_runner("k", "default", 1);
    // Answer the first pings by hand, with the echoed ts.
    let mut at = 0;
    for _ in 1..=3 {
        let out = d.advance(Duration::from_millis(3_127));
        let pings = ping_times(&out, conn);
        let [ts] = pings[..] else { panic!("{pings:?}") };
        assert!(ts >= at + 3_000);
        at = ts;
        assert!(
            d.runner_send(conn, &ToServer::Pong(ToServerPong { ts }))
                .is_empty()
        );
    }
    d.auto_pong = true;
    let out = d.advance(Duration::from_secs(60));
    let n = sent_to(&out, conn).len();
    assert!((19..=20).contains(&n), "{n} pings in 60 s");
    assert!(
        !out.iter().any(|o| matches!(o, Output::CloseRunner { .. })),
        "{out:?}"
    );
    assert_eq!(d.gw.metrics().runner_ping_timeouts, 0);
    assert_eq!(d.gw.runner_connection_count(), 1);
}

#[test]
fn second_connection_with_same_key_replaces_the_first_quietly() {
    let mut d = driver();
    let (old, out) = d.connect_runner("k", "default", 4);
    let id = runner_id(&out, old);
    let (actor, _) = d.running_actor(old, "chat");

    let (new, out) = d.connect_runner("k", "default", 4);
    assert_eq!(
        out,
        vec![
            Output::AcceptRunner { conn: new },
            Output::CloseRunner {
                conn: old,
                close: CloseFrame::new(1000, "torpor.session_replaced"),
            },
            Output::SendRunner {
                conn: new,
                bytes: ToClient::Init(ToClientInit {
                    runner_id: id,
                    metadata: ProtocolMetadata {
                        runner_lost_threshold: 15_000,
                        actor_stop_threshold: 30_000,
                        serverless_drain_grace_period: None,
                    },
                })
                .to_bytes()
                .into(),
            },
        ],
        "same runner id, no eviction reason, no command replayed for the running actor"
    );
    assert_eq!(d.gw.metrics().runner_sessions_replaced, 1);
    assert_eq!(d.gw.runner_connection_count(), 1);

    // The adapter's late report of the old socket's end changes nothing.
    assert!(d.step(Input::RunnerClosed { conn: old }).is_empty());
    d.auto_pong = true;
    let out = d.advance(Duration::from_secs(20));
    assert!(sent_to(&out, old).is_empty());
    assert_eq!(d.gw.metrics().runners_lost, 0);

    // The actor is served over the new connection.
    let (_client, out) = d.open_websocket(actor, "/");
    assert_eq!(tunnel_to(&out, new).len(), 1);
    assert!(tunnel_to(&out, old).is_empty());
}

#[test]
fn runner_lost_after_threshold_and_actor_restarts_elsewhere_on_demand() {
    let mut d = driver();
    let (conn, _) = d.connect_runner("k1", "default", 1);
    let (actor, start) = d.running_actor(conn, "chat");
    let (client, out) = d.open_websocket(actor, "/");
    d.accept_websocket(conn, tunnel_to(&out, conn)[0].message_id, false);
    // Frames may have been lost with the link and the socket cannot be resent: it closes now.
    assert_eq!(
        d.step(Input::RunnerClosed { conn }),
        vec![Output::CloseClient {
            client,
            close: CloseFrame::new(1011, "torpor.runner_disconnected"),
        }]
    );
    assert!(d.advance(Duration::from_millis(14_999)).is_empty());
    assert_eq!(
        state_of(&mut d, actor),
        "running",
        "kept while the runner may return"
    );
    assert!(d.advance(Duration::from_millis(1)).is_empty());
    assert_eq!(d.gw.metrics().runners_lost, 1);
    assert_eq!(state_of(&mut d, actor), "sleeping");

    // A new runner gets nothing until something needs the actor.
    let (conn2, out) = d.connect_runner("k2", "default", 1);
    assert!(commands(&out).is_empty(), "{out:?}");
    let (_client, out) = d.open_websocket(actor, "/");
    assert_eq!(
        commands(&out),
        vec![(
            conn2,
            CommandWrapper {
                checkpoint: ActorCheckpoint {
                    generation: 1,
                    ..start.checkpoint.clone()
                },
                inner: start.inner.clone(),
            }
        )]
    );
}

#[test]
fn reconnect_while_starting_replays_exactly_that_start() {
    let mut d = driver();
    let (conn, _) = d.connect_runner("k", "default", 2);
    let (_actor, out) = d.create_actor("chat", None, "default");
    let [(c, start)] = <[_; 1]>::try_from(start_commands(&out)).unwrap();
    assert_eq!(c, conn);
    d.step(Input::RunnerClosed { conn });
    d.advance(Duration::from_secs(5));
    let (conn2, out) = d.connect_runner("k", "default", 2);
    assert_eq!(commands(&out), vec![(conn2, start)]);
    assert_eq!(d.gw.metrics().commands_replayed, 1);
    assert_eq!(
        d.gw.metrics().actor_starts,
        1,
        "a replay is not a new start"
    );
}

#[test]
fn reconnect_while_stopping_replays_the_stop() {
    let mut d = driver();
    let (conn, _) = d.connect_runner("k", "default", 2);
    let (_actor, start) = d.running_actor(conn, "chat");
    let out = d.runner_send(
        conn,
        &ToServer::Events(vec![intent(&start.checkpoint, 1, ActorIntent::Sleep)]),
    );
    let stop = CommandWrapper {
        checkpoint: ActorCheckpoint {
            index: 1,
            ..start.checkpoint.clone()
        },
        inner: Command::StopActor,
    };
    assert_eq!(commands(&out), vec![(conn, stop.clone())]);
    d.step(Input::RunnerClosed { conn });
    d.advance(Duration::from_secs(3));
    let (conn2, out) = d.connect_runner("k", "default", 2);
    assert_eq!(commands(&out), vec![(conn2, stop)]);
    assert_eq!(d.gw.metrics().commands_replayed, 1);
}

#[test]
fn malformed_bytes_close_only_that_runner() {
    let mut d = driver();
    let (bad, _) = d.connect_runner("bad", "default", 1);
    let (good, _) = d.connect_runner("good", "default", 1);
    let (_a, out) = d.create_actor("a", None, "default");
    let [(c, start_a)] = <[_; 1]>::try_from(start_commands(&out)).unwrap();
    assert_eq!(c, bad);
    d.report_running(bad, &start_a);
    let (b, out) = d.create_actor("b", None, "default");
    let [(c, start_b)] = <[_; 1]>::try_from(start_commands(&out)).unwrap();
    assert_eq!(c, good);
    d.report_running(good, &start_b);

    let err = ToServer::decode(&[0xff, 0x01]).unwrap_err();
    let out = d.step(Input::RunnerBytes {
        conn: bad,
        bytes: vec![0xff, 0x01],
    });
    assert_eq!(
        out,
        vec![Output::CloseRunner {
            conn: bad,
            close: CloseFrame::new(1002, format!("torpor.malformed_frame: {err}")),
        }]
    );
    assert_eq!(d.gw.metrics().runner_decode_errors, 1);
    assert_eq!(d.gw.runner_connection_count(), 1);

    // The other runner's actor is untouched and keeps serving.
    let (client, out) = d.open_websocket(b, "/");
    let t = tunnel_to(&out, good);
    assert_eq!(t.len(), 1);
    let out = d.accept_websocket(good, t[0].message_id, false);
    assert!(out.is_empty(), "{out:?}");
    let out = d.runner_tunnel(
        good,
        t[0].message_id,
        ToServerTunnelMessageKind::WebSocketMessage(ToServerWebSocketMessage {
            data: b"hi".to_vec(),
            binary: false,
        }),
    );
    assert_eq!(
        out,
        vec![Output::SendClient {
            client,
            frame: crate::io::ClientFrame::Text("hi".into()),
        }]
    );
}

#[test]
fn text_frames_are_ignored_and_counted() {
    let mut d = driver();
    let (conn, _) = d.connect_runner("k", "default", 1);
    assert!(d.step(Input::RunnerText { conn }).is_empty());
    assert!(d.step(Input::RunnerText { conn }).is_empty());
    assert_eq!(d.gw.metrics().runner_text_frames, 2);
    assert_eq!(d.gw.runner_connection_count(), 1);
    // The connection still works.
    let (_actor, start) = d.running_actor(conn, "chat");
    assert_eq!(start.checkpoint.generation, 0);
}

#[test]
fn draining_runner_stops_its_actors_and_gets_no_new_ones() {
    let mut d = driver();
    let (conn, _) = d.connect_runner("k", "default", 10);
    let (a1, s1) = d.running_actor(conn, "a");
    let (a2, s2) = d.running_actor(conn, "b");
    let out = d.runner_send(conn, &ToServer::Stopping);
    let mut expected = vec![(a1, s1.clone()), (a2, s2.clone())];
    expected.sort_by_key(|(id, _)| *id);
    let expected: Vec<_> = expected
        .into_iter()
        .map(|(_, s)| {
            (
                conn,
                CommandWrapper {
                    checkpoint: ActorCheckpoint {
                        index: 1,
                        ..s.checkpoint
                    },
                    inner: Command::StopActor,
                },
            )
        })
        .collect();
    assert_eq!(commands(&out), expected);
    assert_eq!(out.len(), 2, "{out:?}");

    // A drained stop reports OK; that is not a destroy.
    d.report_state(conn, &s1.checkpoint, 1, stopped(StopCode::Ok));
    assert_eq!(state_of(&mut d, a1), "sleeping");
    assert_eq!(d.gw.metrics().actors_destroyed, 0);

    // New actors (and wakes) are not placed on the draining runner, even with a free slot.
    let (a3, out) = d.create_actor("c", None, "default");
    assert!(commands(&out).is_empty(), "{out:?}");
    let (_client, out) = d.open_websocket(a1, "/");
    assert!(commands(&out).is_empty(), "{out:?}");
    let (conn2, out) = d.connect_runner("k2", "default", 10);
    let mut placed: Vec<_> = start_commands(&out)
        .into_iter()
        .map(|(c, w)| (c, actor_of(&w), w.checkpoint.generation))
        .collect();
    placed.sort();
    let mut expected = vec![(conn2, a1, 1), (conn2, a3, 0)];
    expected.sort();
    assert_eq!(placed, expected);
}

#[test]
fn request_during_a_runner_disconnect_is_delivered_after_reconnect() {
    // RUNNER-PROTOCOL §17 #9: "On disconnect, hold requests; after runnerLostThreshold ... HTTP
    // fails with 503." The runner keeps its actors across a reconnect with the same runner id.
    let mut d = driver();
    let (conn, _) = d.connect_runner("k", "default", 1);
    let (actor, _) = d.running_actor(conn, "chat");
    d.step(Input::RunnerClosed { conn });
    d.advance(Duration::from_secs(1));
    let (_client, out) = d.http_request(actor, "GET", "/held", b"");
    assert_eq!(out, vec![], "nowhere to send it yet");
    d.advance(Duration::from_secs(1));
    let (conn2, out) = d.connect_runner("k", "default", 1);
    let t = tunnel_to(&out, conn2);
    assert_eq!(
        t.len(),
        1,
        "the held request is sent after the reconnect: {out:?}"
    );
    assert_eq!(t[0].message_id.message_index, 0);
    assert_eq!(
        t[0].message_kind,
        ToClientTunnelMessageKind::RequestStart(ToClientRequestStart {
            actor_id: actor.to_string(),
            method: "GET".into(),
            path: "/held".into(),
            headers: Headers::new(),
            body: None,
            stream: false,
        })
    );
}

#[test]
fn request_held_during_a_disconnect_fails_503_when_the_runner_is_lost() {
    let mut d = driver();
    let (conn, _) = d.connect_runner("k", "default", 1);
    let (actor, _) = d.running_actor(conn, "chat");
    d.step(Input::RunnerClosed { conn });
    d.advance(Duration::from_secs(5));
    let (client, _) = d.http_request(actor, "GET", "/", b"");
    assert_eq!(d.advance(Duration::from_millis(9_999)), vec![]);
    assert_eq!(
        d.advance(Duration::from_millis(1)),
        vec![super::error_response(
            client,
            503,
            "torpor",
            "runner_lost",
            "torpor.runner_lost"
        )]
    );
}
