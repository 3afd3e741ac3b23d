//! Envoy sessions (protocol v8, `/envoys/connect`): admission, the handshake, actors started,
//! reached and stopped in v8's words, refused SQLite calls, and one protocol per pool.

use torpor_protocol::shared::{ActorCheckpoint, ActorState, Event, EventActorStateUpdate};
use torpor_protocol::shared::{EventWrapper, MessageId};
use torpor_protocol::v8::{
    Command, CommandWrapper, SqliteErrorResponse, SqliteGetPagesRequest, SqliteGetPagesResponse,
    StopActorReason, ToEnvoy, ToEnvoySqliteGetPagesResponse, ToEnvoyTunnelMessageKind, ToRivet,
    ToRivetMetadata, ToRivetSqliteGetPagesRequest, ToRivetTunnelMessage, ToRivetTunnelMessageKind,
    ToRivetWebSocketMessageAck, ToRivetWebSocketOpen,
};

use crate::AdminCommand;
use crate::config::Config;
use crate::ids::RunnerConnId;
use crate::io::{ClientFrame, CloseFrame, Input, Output, RunnerParams};
use crate::testkit::driver::*;

fn envoy_params(key: &str, pool: Option<&str>) -> RunnerParams {
    RunnerParams {
        protocol_version: Some(8),
        pool_name: pool.map(str::to_owned),
        ..runner_params(key)
    }
}

fn send(d: &mut Driver, conn: RunnerConnId, msg: &ToRivet) -> Vec<Output> {
    d.step(Input::RunnerBytes {
        conn,
        bytes: msg.to_bytes(),
    })
}

/// What the core sent the envoy, decoded as v8.
fn to_envoy(out: &[Output], conn: RunnerConnId) -> Vec<ToEnvoy> {
    out.iter()
        .filter_map(|o| match o {
            Output::SendRunner { conn: c, bytes } if *c == conn => {
                Some(ToEnvoy::decode(bytes).expect("the core sent the envoy undecodable bytes"))
            }
            _ => None,
        })
        .collect()
}

/// An envoy of pool `default`, past its handshake; returns it with the handshake's outputs.
fn envoy(d: &mut Driver, key: &str) -> (RunnerConnId, Vec<Output>) {
    let conn = RunnerConnId::new(d.fresh());
    let mut out = d.step(Input::RunnerConnect {
        conn,
        params: envoy_params(key, Some("default")),
    });
    assert!(out.contains(&Output::AcceptRunner { conn }), "{out:?}");
    let hello = ToRivet::Metadata(ToRivetMetadata {
        prepopulate_actor_names: None,
        metadata: None,
    });
    out.extend(send(d, conn, &hello));
    (conn, out)
}

fn commands_to(out: &[Output], conn: RunnerConnId) -> Vec<CommandWrapper> {
    to_envoy(out, conn)
        .into_iter()
        .flat_map(|m| match m {
            ToEnvoy::Commands(c) => c,
            _ => Vec::new(),
        })
        .collect()
}

fn running(checkpoint: &ActorCheckpoint) -> ToRivet {
    ToRivet::Events(vec![EventWrapper {
        checkpoint: ActorCheckpoint {
            index: 0,
            ..checkpoint.clone()
        },
        inner: Event::ActorStateUpdate(EventActorStateUpdate {
            state: ActorState::Running,
        }),
    }])
}

#[test]
fn an_envoy_hosts_an_actor_and_its_websocket_in_v8() {
    let mut d = Driver::new(Config::default());
    let (conn, out) = envoy(&mut d, "envoy-1");
    match to_envoy(&out, conn).as_slice() {
        [ToEnvoy::Init(init)] => {
            let m = &init.metadata;
            assert_eq!(
                (m.envoy_lost_threshold, m.actor_stop_threshold),
                (
                    i64::try_from(Config::default().runner_lost_threshold.as_millis()).unwrap(),
                    i64::try_from(Config::default().actor_stop_timeout.as_millis()).unwrap()
                )
            );
            assert_eq!(
                m.max_response_payload_size,
                Config::default().max_forward_message_bytes as u64
            );
        }
        other => panic!("no init: {other:?}"),
    }

    // Placed on the envoy's pool (from its URL), started without preloaded KV.
    let (actor, out) = d.create_actor("counter", Some("k"), "default");
    let start = match commands_to(&out, conn).as_slice() {
        [
            start @ CommandWrapper {
                inner: Command::StartActor(s),
                ..
            },
        ] => {
            assert_eq!(s.config.name, "counter");
            assert_eq!(s.preloaded_kv, None);
            start.clone()
        }
        other => panic!("no start: {other:?}"),
    };
    assert_eq!(start.checkpoint.actor_id, actor.to_string());
    send(&mut d, conn, &running(&start.checkpoint));

    // A client WebSocket: the open, a frame and its ack travel in v8.
    let (client, out) = d.open_websocket(actor, "/ws?x=1");
    // The client is accepted at once (the gateway holds it while the actor answers).
    assert!(out.contains(&Output::AcceptClient { client }), "{out:?}");
    let opens: Vec<_> = to_envoy(&out, conn)
        .into_iter()
        .filter_map(|m| match m {
            ToEnvoy::TunnelMessage(t) => Some(t),
            _ => None,
        })
        .collect();
    let [open] = opens.as_slice() else {
        panic!("no open: {opens:?}");
    };
    let ToEnvoyTunnelMessageKind::WebSocketOpen(o) = &open.message_kind else {
        panic!("not an open: {open:?}");
    };
    assert_eq!((o.path.as_str(), o.actor_generation), ("/ws?x=1", None));
    let request: MessageId = open.message_id;
    send(
        &mut d,
        conn,
        &ToRivet::TunnelMessage(ToRivetTunnelMessage {
            message_id: request,
            message_kind: ToRivetTunnelMessageKind::WebSocketOpen(ToRivetWebSocketOpen {
                can_hibernate: true,
            }),
        }),
    );
    let out = d.client_send(client, ClientFrame::Binary(vec![7, 7]));
    match to_envoy(&out, conn).as_slice() {
        [ToEnvoy::TunnelMessage(t)] => {
            assert_eq!(t.message_id.message_index, 1);
            assert!(matches!(
                &t.message_kind,
                ToEnvoyTunnelMessageKind::WebSocketMessage(m) if m.data == [7, 7] && m.binary
            ));
        }
        other => panic!("frame not sent: {other:?}"),
    }
    let acked = send(
        &mut d,
        conn,
        &ToRivet::TunnelMessage(ToRivetTunnelMessage {
            message_id: request,
            message_kind: ToRivetTunnelMessageKind::WebSocketMessageAck(
                ToRivetWebSocketMessageAck { index: 1 },
            ),
        }),
    );
    assert!(to_envoy(&acked, conn).is_empty(), "{acked:?}");
    let view = d.gw.inspect().socket(client).expect("socket");
    assert_eq!(view.unacked_messages, 0, "the ack released the frame");
}

#[test]
fn stops_tell_the_envoy_their_reason() {
    let mut d = Driver::new(Config::default());
    let (conn, _) = envoy(&mut d, "envoy-1");
    let (actor, out) = d.create_actor("counter", None, "default");
    let start = commands_to(&out, conn).remove(0);
    send(&mut d, conn, &running(&start.checkpoint));
    let (req, out) = d.admin(AdminCommand::Sleep(actor));
    let stops = commands_to(&out, conn);
    assert!(
        matches!(
            stops.as_slice(),
            [CommandWrapper { inner: Command::StopActor(s), .. }]
                if s.reason == StopActorReason::SleepIntent
        ),
        "{req:?}: {stops:?}"
    );
    let (actor2, out) = d.create_actor("counter", None, "default");
    let start = commands_to(&out, conn).remove(0);
    send(&mut d, conn, &running(&start.checkpoint));
    let (_, out) = d.admin(AdminCommand::Destroy(actor2));
    assert!(
        matches!(
            commands_to(&out, conn).as_slice(),
            [CommandWrapper { inner: Command::StopActor(s), .. }]
                if s.reason == StopActorReason::Destroy
        ),
        "{out:?}"
    );
}

#[test]
fn sqlite_calls_are_refused_in_their_own_response_type() {
    let mut d = Driver::new(Config::default());
    let (conn, _) = envoy(&mut d, "envoy-1");
    let call = ToRivet::SqliteGetPagesRequest(ToRivetSqliteGetPagesRequest {
        request_id: 7,
        data: SqliteGetPagesRequest {
            actor_id: "a".into(),
            pgnos: vec![1],
            expected_generation: None,
            expected_head_txid: None,
        },
    });
    let out = send(&mut d, conn, &call);
    assert_eq!(
        to_envoy(&out, conn),
        vec![ToEnvoy::SqliteGetPagesResponse(
            ToEnvoySqliteGetPagesResponse {
                request_id: 7,
                data: SqliteGetPagesResponse::ErrorResponse(SqliteErrorResponse {
                    group: "torpor".into(),
                    code: "sqlite_unsupported".into(),
                    message: "this gateway does not serve the actor SQLite store yet".into(),
                }),
            }
        )]
    );
    assert_eq!(d.gw.metrics().runner_calls_refused, 1);
}

#[test]
fn a_pool_speaks_one_protocol() {
    let mut d = Driver::new(Config::default());
    let (_runner, _) = d.connect_runner("runner-1", "default", 10);
    let conn = RunnerConnId::new(d.fresh());
    let out = d.step(Input::RunnerConnect {
        conn,
        params: envoy_params("envoy-1", Some("default")),
    });
    assert!(out.contains(&Output::AcceptRunner { conn }));
    let hello = ToRivet::Metadata(ToRivetMetadata {
        prepopulate_actor_names: None,
        metadata: None,
    });
    let out = send(&mut d, conn, &hello);
    assert_eq!(
        out,
        vec![Output::CloseRunner {
            conn,
            close: CloseFrame::new(
                1008,
                "torpor.pool_protocol_mismatch: pool \"default\" is served by protocol 7 runners"
            ),
        }]
    );
    assert_eq!(d.gw.metrics().runner_rejects, 1);
    // Another pool is free for envoys.
    let conn = RunnerConnId::new(d.fresh());
    d.step(Input::RunnerConnect {
        conn,
        params: envoy_params("envoy-2", Some("envoys")),
    });
    let out = send(&mut d, conn, &hello);
    assert!(
        matches!(to_envoy(&out, conn).as_slice(), [ToEnvoy::Init(_)]),
        "{out:?}"
    );
}

#[test]
fn an_envoy_names_its_pool_and_a_runner_does_not() {
    let mut d = Driver::new(Config::default());
    let conn = RunnerConnId::new(d.fresh());
    let out = d.step(Input::RunnerConnect {
        conn,
        params: envoy_params("e", None),
    });
    assert_eq!(
        out,
        vec![Output::RejectRunner {
            conn,
            status: 400,
            reason: "missing pool_name".into(),
        }]
    );
    let conn = RunnerConnId::new(d.fresh());
    let out = d.step(Input::RunnerConnect {
        conn,
        params: RunnerParams {
            pool_name: Some("default".into()),
            ..runner_params("r")
        },
    });
    assert!(
        matches!(&out[..], [Output::RejectRunner { status: 400, reason, .. }]
            if reason.starts_with("pool_name is an envoy parameter")),
        "{out:?}"
    );
}
