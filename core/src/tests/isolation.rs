//! Isolation between runners: tunnel messages and KV requests only reach what the sending runner
//! hosts, and illegal or unknown traffic is dropped and counted.

use crate::config::Config;
use crate::ids::{ActorId, ClientId, RunnerConnId};
use crate::io::{ClientFrame, Output};
use crate::protocol::*;
use crate::store::{StoreFailure, StoreReply, StoreRequest};
use crate::testkit::driver::*;

/// Two runners with one slot each, one running actor on each.
struct Two {
    d: Driver,
    a: RunnerConnId,
    b: RunnerConnId,
    actor_a: ActorId,
    actor_b: ActorId,
}

fn two_runners() -> Two {
    let mut d = Driver::new(Config::default());
    let (a, _) = d.connect_runner("a", "default", 1);
    let (b, _) = d.connect_runner("b", "default", 1);
    let (actor_a, _) = d.running_actor(a, "x");
    let (actor_b, _) = d.running_actor(b, "y");
    Two {
        d,
        a,
        b,
        actor_a,
        actor_b,
    }
}

/// Opens a WebSocket on the actor and returns the client and its message id.
fn open(d: &mut Driver, conn: RunnerConnId, actor: ActorId) -> (ClientId, MessageId) {
    let (client, out) = d.open_websocket(actor, "/");
    let t = tunnel_to(&out, conn);
    assert_eq!(t.len(), 1, "{out:?}");
    (client, t[0].message_id)
}

fn runner_message(text: &str) -> ToServerTunnelMessageKind {
    ToServerTunnelMessageKind::WebSocketMessage(ToServerWebSocketMessage {
        data: text.as_bytes().to_vec(),
        binary: false,
    })
}

fn kv_get(actor: &str, request_id: u32) -> ToServer {
    ToServer::KvRequest(ToServerKvRequest {
        actor_id: actor.into(),
        request_id,
        data: KvRequestData::Get(KvGetRequest {
            keys: vec![b"k".to_vec()],
        }),
    })
}

fn kv_error(request_id: u32, message: &str) -> ToClient {
    ToClient::KvResponse(ToClientKvResponse {
        request_id,
        data: KvResponseData::Error(KvErrorResponse {
            message: message.into(),
        }),
    })
}

#[test]
fn tunnel_message_for_another_runners_request_is_dropped() {
    let Two {
        mut d,
        a,
        b,
        actor_a,
        ..
    } = two_runners();
    let (client, rq) = open(&mut d, a, actor_a);
    // Runner b tries to accept, write to and close a socket it does not host.
    assert_eq!(d.accept_websocket(b, rq, false), vec![]);
    assert_eq!(d.gw.metrics().tunnel_dropped_foreign, 1);
    assert_eq!(d.accept_websocket(a, rq, false), vec![]);
    assert_eq!(d.runner_tunnel(b, rq, runner_message("evil")), vec![]);
    assert_eq!(
        d.runner_tunnel(
            b,
            rq,
            ToServerTunnelMessageKind::WebSocketClose(ToServerWebSocketClose {
                code: Some(1000),
                reason: None,
                hibernate: false,
            })
        ),
        vec![]
    );
    assert_eq!(d.gw.metrics().tunnel_dropped_foreign, 3);
    assert_eq!(d.gw.client_count(), 1);
    // The owner's traffic still flows.
    assert_eq!(
        d.runner_tunnel(a, rq, runner_message("ok")),
        vec![Output::SendClient {
            client,
            frame: ClientFrame::Text("ok".into()),
        }]
    );
}

#[test]
fn tunnel_message_with_a_foreign_gateway_id_is_dropped_as_unknown() {
    let Two {
        mut d, a, actor_a, ..
    } = two_runners();
    let (_client, rq) = open(&mut d, a, actor_a);
    d.accept_websocket(a, rq, false);
    let [g0, g1, g2, g3] = rq.gateway_id.to_bytes();
    let other = MessageId {
        gateway_id: GatewayId::from_bytes([g0 ^ 0xff, g1, g2, g3]),
        ..rq
    };
    assert_eq!(d.runner_tunnel(a, other, runner_message("hi")), vec![]);
    // So is an unknown request id on the right gateway.
    let [r0, r1, r2, r3] = rq.request_id.to_bytes();
    let unknown = MessageId {
        request_id: RequestId::from_bytes([r0 ^ 0xff, r1, r2, r3]),
        ..rq
    };
    assert_eq!(d.runner_tunnel(a, unknown, runner_message("hi")), vec![]);
    assert_eq!(d.gw.metrics().tunnel_dropped_unknown, 2);
    assert_eq!(d.gw.metrics().ws_messages_to_client, 0);
}

#[test]
fn tunnel_kind_illegal_in_the_requests_state_is_dropped() {
    let Two {
        mut d, a, actor_a, ..
    } = two_runners();
    let (_ws, rq) = open(&mut d, a, actor_a);
    // A message before the open reply.
    assert_eq!(d.runner_tunnel(a, rq, runner_message("early")), vec![]);
    // An HTTP response on a WebSocket.
    let response = ToServerTunnelMessageKind::ResponseStart(ToServerResponseStart {
        status: 200,
        headers: Headers::new(),
        body: None,
        stream: false,
    });
    assert_eq!(d.runner_tunnel(a, rq, response.clone()), vec![]);
    // A WebSocket open on an HTTP request.
    let (_http, out) = d.http_request(actor_a, "GET", "/", b"");
    let http_rq = tunnel_to(&out, a)[0].message_id;
    assert_eq!(d.accept_websocket(a, http_rq, false), vec![]);
    // A chunk before the streamed response started.
    assert_eq!(
        d.runner_tunnel(
            a,
            http_rq,
            ToServerTunnelMessageKind::ResponseChunk(ToServerResponseChunk {
                body: vec![1],
                finish: true,
            })
        ),
        vec![]
    );
    // A second open reply on an open socket.
    d.accept_websocket(a, rq, false);
    assert_eq!(d.accept_websocket(a, rq, true), vec![]);
    assert_eq!(d.gw.metrics().tunnel_dropped_illegal, 5);
    assert_eq!(d.gw.metrics().ws_opened, 1);
    assert_eq!(d.gw.client_count(), 2);
}

#[test]
fn kv_request_for_another_runners_actor_is_refused() {
    let Two {
        mut d, b, actor_a, ..
    } = two_runners();
    let out = d.runner_send(b, &kv_get(&actor_a.to_string(), 41));
    assert_eq!(
        out,
        vec![Output::SendRunner {
            conn: b,
            bytes: kv_error(41, "actor does not belong to runner")
                .to_bytes()
                .into(),
        }]
    );
    assert_eq!(d.gw.metrics().kv_rejected, 1);
    assert_eq!(d.gw.metrics().kv_requests, 0);
}

#[test]
fn kv_request_for_an_unknown_actor_is_refused() {
    let Two { mut d, a, .. } = two_runners();
    let missing = "00000000-0000-4000-8000-000000000000";
    assert_eq!(
        sent_to(&d.runner_send(a, &kv_get(missing, 1)), a),
        vec![kv_error(1, "actor does not exist")]
    );
    assert_eq!(
        sent_to(&d.runner_send(a, &kv_get("garbage", 2)), a),
        vec![kv_error(2, "actor does not exist")]
    );
    assert_eq!(d.gw.metrics().kv_rejected, 2);
}

#[test]
fn kv_request_goes_to_the_store_and_the_reply_to_the_runner() {
    let Two {
        mut d, b, actor_b, ..
    } = two_runners();
    let out = d.runner_send(b, &kv_get(&actor_b.to_string(), 7));
    let [Output::Store { op, request }] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(
        *request,
        StoreRequest::Kv {
            actor: actor_b,
            request: Box::new(KvRequestData::Get(KvGetRequest {
                keys: vec![b"k".to_vec()],
            })),
        }
    );
    let data = KvResponseData::Get(KvGetResponse {
        keys: vec![b"k".to_vec()],
        values: vec![b"v".to_vec()],
        metadata: vec![KvMetadata {
            version: b"1".to_vec(),
            update_ts: WALL_EPOCH,
        }],
    });
    let out = d.step(crate::io::Input::StoreDone {
        op: *op,
        result: Ok(StoreReply::Kv(data.clone())),
    });
    assert_eq!(
        out,
        vec![Output::SendRunner {
            conn: b,
            bytes: ToClient::KvResponse(ToClientKvResponse {
                request_id: 7,
                data,
            })
            .to_bytes()
            .into(),
        }]
    );
    assert_eq!(d.gw.metrics().kv_requests, 1);
}

#[test]
fn kv_store_failure_is_reported_to_the_runner_and_not_retried() {
    let Two {
        mut d, b, actor_b, ..
    } = two_runners();
    let out = d.runner_send(b, &kv_get(&actor_b.to_string(), 9));
    let [Output::Store { op, .. }] = out.as_slice() else {
        panic!("{out:?}")
    };
    let out = d.step(crate::io::Input::StoreDone {
        op: *op,
        result: Err(StoreFailure::Io("disk full".into())),
    });
    assert_eq!(
        out,
        vec![Output::SendRunner {
            conn: b,
            bytes: kv_error(9, "store I/O error: disk full").to_bytes().into(),
        }]
    );
    assert_eq!(d.gw.metrics().store_errors, 1);
    assert_eq!(d.gw.metrics().store_retries, 0);
}
