//! Envoy sessions (protocol v8, `/envoys/connect`): admission, the handshake, actors started,
//! reached and stopped in v8's words, SQLite page calls fenced by generation, refused remote SQL
//! calls, and one protocol per pool.

use torpor_protocol::shared::{ActorCheckpoint, ActorState, Event, EventActorStateUpdate};
use torpor_protocol::shared::{ActorStateStopped, StopCode};
use torpor_protocol::shared::{EventWrapper, MessageId};
use torpor_protocol::v8::{
    Command, CommandWrapper, SqliteCommitRequest, SqliteCommitResponse, SqliteDirtyPage,
    SqliteErrorResponse, SqliteExecRequest, SqliteExecResponse, SqliteFetchedPage,
    SqliteGetPagesOk, SqliteGetPagesRequest, SqliteGetPagesResponse, StopActorReason, ToEnvoy,
    ToEnvoySqliteCommitResponse, ToEnvoySqliteExecResponse, ToEnvoySqliteGetPagesResponse,
    ToEnvoyTunnelMessageKind, ToRivet, ToRivetMetadata, ToRivetSqliteCommitRequest,
    ToRivetSqliteExecRequest, ToRivetSqliteGetPagesRequest, ToRivetTunnelMessage,
    ToRivetTunnelMessageKind, ToRivetWebSocketMessageAck, ToRivetWebSocketOpen,
};

use crate::AdminCommand;
use crate::config::Config;
use crate::ids::{OpId, RunnerConnId};
use crate::io::{ClientFrame, CloseFrame, Input, Output, RunnerParams};
use crate::page_store::{PageAnswer, PageError, PageOp};
use crate::store::{StoreFailure, StoreReply, StoreRequest};
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
fn remote_sql_calls_are_refused_in_their_own_response_type() {
    let mut d = Driver::new(Config::default());
    let (conn, _) = envoy(&mut d, "envoy-1");
    let call = ToRivet::SqliteExecRequest(ToRivetSqliteExecRequest {
        request_id: 7,
        data: SqliteExecRequest {
            namespace_id: "default".into(),
            actor_id: "a".into(),
            generation: 0,
            sql: "SELECT 1".into(),
        },
    });
    let out = send(&mut d, conn, &call);
    assert_eq!(
        to_envoy(&out, conn),
        vec![ToEnvoy::SqliteExecResponse(ToEnvoySqliteExecResponse {
            request_id: 7,
            data: SqliteExecResponse::ErrorResponse(SqliteErrorResponse {
                group: "sqlite".into(),
                code: "remote_unavailable".into(),
                message: "Remote SQLite is unavailable.".into(),
            }),
        })]
    );
    assert_eq!(d.gw.metrics().runner_calls_refused, 1);
}

fn get_pages(request_id: u32, actor_id: &str, generation: Option<u64>) -> ToRivet {
    ToRivet::SqliteGetPagesRequest(ToRivetSqliteGetPagesRequest {
        request_id,
        data: SqliteGetPagesRequest {
            actor_id: actor_id.into(),
            pgnos: vec![1, 2],
            expected_generation: generation,
            expected_head_txid: None,
        },
    })
}

fn commit_call(request_id: u32, actor_id: &str, generation: Option<u64>) -> ToRivet {
    ToRivet::SqliteCommitRequest(ToRivetSqliteCommitRequest {
        request_id,
        data: SqliteCommitRequest {
            actor_id: actor_id.into(),
            dirty_pages: vec![SqliteDirtyPage {
                pgno: 1,
                bytes: vec![3; 4096],
            }],
            db_size_pages: 1,
            now_ms: 0,
            expected_generation: generation,
            expected_head_txid: Some(0),
        },
    })
}

/// The page-store requests in `out`.
fn page_requests(out: &[Output]) -> Vec<(OpId, StoreRequest)> {
    store_requests(out)
        .into_iter()
        .filter(|(_, r)| matches!(r, StoreRequest::Pages { .. }))
        .collect()
}

fn commit_error(out: &[Output], conn: RunnerConnId) -> SqliteErrorResponse {
    match to_envoy(out, conn).as_slice() {
        [
            ToEnvoy::SqliteCommitResponse(ToEnvoySqliteCommitResponse {
                data: SqliteCommitResponse::ErrorResponse(e),
                ..
            }),
        ] => e.clone(),
        other => panic!("no refusal: {other:?}"),
    }
}

#[test]
fn page_calls_reach_the_store_with_their_generation_and_come_back_in_v8() {
    let mut d = Driver::new(Config::default());
    let (conn, _) = envoy(&mut d, "envoy-1");
    let (actor, out) = d.create_actor("db", None, "default");
    let start = commands_to(&out, conn).remove(0);
    let id = start.checkpoint.actor_id.clone();
    // Reads are served from the start command on: the VFS opens the database before Running.
    let out = send(&mut d, conn, &get_pages(4, &id, Some(0)));
    let [(op, request)] = page_requests(&out).try_into().expect("one page request");
    assert_eq!(
        request,
        StoreRequest::Pages {
            actor,
            generation: 0,
            op: Box::new(PageOp::GetPages {
                pgnos: vec![1, 2],
                expected_head: None,
            }),
        }
    );
    let out = d.step(Input::StoreDone {
        op,
        result: Ok(StoreReply::Pages(PageAnswer::Pages {
            pages: vec![(1, Some(vec![9; 4096])), (2, None)],
            head: 3,
        })),
    });
    assert_eq!(
        to_envoy(&out, conn),
        vec![ToEnvoy::SqliteGetPagesResponse(
            ToEnvoySqliteGetPagesResponse {
                request_id: 4,
                data: SqliteGetPagesResponse::GetPagesOk(SqliteGetPagesOk {
                    pages: vec![
                        SqliteFetchedPage {
                            pgno: 1,
                            bytes: Some(vec![9; 4096]),
                        },
                        SqliteFetchedPage {
                            pgno: 2,
                            bytes: None,
                        },
                    ],
                    head_txid: Some(3),
                }),
            }
        )]
    );
    // A refusal by the store (a malformed call, a fence) is answered and counted.
    let out = send(&mut d, conn, &get_pages(9, &id, Some(0)));
    let [(op, _)] = page_requests(&out).try_into().expect("one page request");
    let refused = PageError::invalid("page numbers start at 1");
    let out = d.step(Input::StoreDone {
        op,
        result: Ok(StoreReply::Pages(PageAnswer::Error(refused.clone()))),
    });
    assert!(
        matches!(to_envoy(&out, conn).as_slice(),
            [ToEnvoy::SqliteGetPagesResponse(ToEnvoySqliteGetPagesResponse {
                request_id: 9,
                data: SqliteGetPagesResponse::ErrorResponse(e),
            })] if e.message == refused.message && e.code == "invalid_request"),
        "{out:?}"
    );
    assert_eq!(d.gw.metrics().sqlite_store_refusals, 1);
    // A store failure is the call's error, in the same response type.
    send(&mut d, conn, &running(&start.checkpoint));
    let out = send(&mut d, conn, &commit_call(5, &id, Some(0)));
    let [(op, _)] = page_requests(&out).try_into().expect("one page request");
    let out = d.step(Input::StoreDone {
        op,
        result: Err(StoreFailure::Busy),
    });
    let e = commit_error(&out, conn);
    assert_eq!(
        (e.group.as_str(), e.code.as_str()),
        ("sqlite", "unavailable")
    );
    assert_eq!(d.gw.metrics().sqlite_calls, 3);

    // While it stops (a sleep flushes the database), its calls still go through.
    d.admin(AdminCommand::Sleep(actor));
    let out = send(&mut d, conn, &commit_call(6, &id, Some(0)));
    assert_eq!(page_requests(&out).len(), 1, "{out:?}");
}

#[test]
fn a_stale_generation_cannot_commit_after_a_newer_one_started() {
    let mut d = Driver::new(Config::default());
    let (conn, _) = envoy(&mut d, "envoy-1");
    let (actor, out) = d.create_actor("db", None, "default");
    let first = commands_to(&out, conn).remove(0);
    let id = first.checkpoint.actor_id.clone();
    send(&mut d, conn, &running(&first.checkpoint));
    // It sleeps, then a request wakes generation 1.
    let (_, out) = d.admin(AdminCommand::Sleep(actor));
    let stop = commands_to(&out, conn).remove(0);
    send(
        &mut d,
        conn,
        &ToRivet::Events(vec![EventWrapper {
            checkpoint: ActorCheckpoint {
                index: 1,
                ..stop.checkpoint.clone()
            },
            inner: Event::ActorStateUpdate(EventActorStateUpdate {
                state: ActorState::Stopped(ActorStateStopped {
                    code: StopCode::Ok,
                    message: None,
                }),
            }),
        }]),
    );
    let (_, out) = d.open_websocket(actor, "/ws");
    let second = commands_to(&out, conn).remove(0);
    assert_eq!(second.checkpoint.generation, 1);

    // The old instance's commit is refused before the store, in the engine's error shape.
    let out = send(&mut d, conn, &commit_call(8, &id, Some(0)));
    assert!(page_requests(&out).is_empty(), "{out:?}");
    let e = commit_error(&out, conn);
    assert_eq!(
        (e.group.as_str(), e.code.as_str(), e.message.as_str()),
        (
            "actor",
            "generation_mismatch",
            "actor generation 0 is stale: generation 1 was started since"
        )
    );
    // A call without a generation, and a call from an envoy that does not host the actor.
    let out = send(&mut d, conn, &commit_call(9, &id, None));
    assert_eq!(commit_error(&out, conn).code, "invalid_request");
    let (other, _) = envoy(&mut d, "envoy-2");
    let out = send(&mut d, other, &commit_call(10, &id, Some(1)));
    assert_eq!(commit_error(&out, other).message, "actor does not exist");
    assert_eq!(d.gw.metrics().sqlite_calls_rejected, 3);
    assert_eq!(d.gw.metrics().sqlite_calls, 0);
    // The current generation goes through.
    let out = send(&mut d, conn, &commit_call(11, &id, Some(1)));
    assert_eq!(page_requests(&out).len(), 1);
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
