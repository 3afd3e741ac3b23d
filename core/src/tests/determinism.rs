//! Same seed and same inputs give identical outputs; another seed gives another incarnation.

use std::time::Duration;

use crate::admin::AdminCommand;
use crate::config::Config;
use crate::io::{ClientFrame, CloseFrame, Input, Output};
use crate::protocol::*;
use crate::store::{StoreReply, StoreRequest};
use crate::testkit::driver::*;

/// A scripted run touching most of the machine. Inputs that name core-chosen ids (actor ids,
/// request ids, op ids) are taken from earlier outputs, so two runs see the same inputs exactly
/// when their outputs agree so far.
fn script(seed: u64) -> (GatewayId, Vec<Output>) {
    let mut d = Driver::with_seed(Config::default(), seed);
    d.auto_pong = true;
    let mut all = Vec::new();
    let (_r1, out) = d.connect_runner("k1", "default", 2);
    all.extend(out);
    let (r2, out) = d.connect_runner("k2", "default", 1);
    all.extend(out);

    let (a1, out) = d.create_actor("chat", Some("room"), "default");
    let [(c1, s1)] = <[_; 1]>::try_from(start_commands(&out)).unwrap();
    all.extend(out);
    let (a2, out) = d.create_actor("api", None, "default");
    let [(c2, s2)] = <[_; 1]>::try_from(start_commands(&out)).unwrap();
    all.extend(out);
    all.extend(d.report_running(c1, &s1));
    all.extend(d.report_running(c2, &s2));

    // A WebSocket with traffic both ways.
    let (ws, out) = d.open_websocket(a1, "/ws?x=1");
    let rq = tunnel_to(&out, c1)[0].message_id;
    all.extend(out);
    all.extend(d.step(Input::ClientMessage {
        client: ws,
        frame: ClientFrame::Text("early".into()),
    }));
    all.extend(d.accept_websocket(c1, rq, false));
    all.extend(d.step(Input::ClientMessage {
        client: ws,
        frame: ClientFrame::Binary(vec![1, 2, 3]),
    }));
    all.extend(d.runner_tunnel(
        c1,
        rq,
        ToServerTunnelMessageKind::WebSocketMessage(ToServerWebSocketMessage {
            data: b"echo".to_vec(),
            binary: false,
        }),
    ));

    // An HTTP request and a KV request.
    let (_http, out) = d.http_request(a2, "POST", "/p", b"body");
    let hq = tunnel_to(&out, c2)[0].message_id;
    all.extend(out);
    all.extend(d.runner_tunnel(
        c2,
        hq,
        ToServerTunnelMessageKind::ResponseStart(ToServerResponseStart {
            status: 200,
            headers: Headers::new(),
            body: Some(b"ok".to_vec()),
            stream: false,
        }),
    ));
    let out = d.runner_send(
        c2,
        &ToServer::KvRequest(ToServerKvRequest {
            actor_id: a2.to_string(),
            request_id: 5,
            data: KvRequestData::Drop,
        }),
    );
    let op = out
        .iter()
        .find_map(|o| match o {
            Output::Store {
                op,
                request: StoreRequest::Kv { .. },
            } => Some(*op),
            _ => None,
        })
        .expect("kv op");
    all.extend(out);
    all.extend(d.step(Input::StoreDone {
        op,
        result: Ok(StoreReply::Kv(KvResponseData::Drop)),
    }));

    // Alarm, sleep, time passes, the alarm wakes the actor.
    all.extend(d.runner_send(
        c1,
        &ToServer::Events(vec![EventWrapper {
            checkpoint: ActorCheckpoint {
                index: 1,
                ..s1.checkpoint.clone()
            },
            inner: Event::ActorSetAlarm(EventActorSetAlarm {
                alarm_ts: Some(WALL_EPOCH + 40_000),
            }),
        }]),
    ));
    all.extend(d.runner_send(
        c1,
        &ToServer::Events(vec![intent(&s1.checkpoint, 2, ActorIntent::Sleep)]),
    ));
    all.extend(d.report_state(c1, &s1.checkpoint, 3, stopped(StopCode::Error)));
    all.extend(d.advance(Duration::from_secs(45)));

    // A client closes, the admin lists, the second runner sends garbage and is lost.
    all.extend(d.step(Input::ClientClosed {
        client: ws,
        close: Some(CloseFrame::new(1000, "bye")),
    }));
    all.extend(
        d.admin(AdminCommand::List {
            namespace: "default".into(),
            filter: crate::admin::ActorFilter::All,
        })
        .1,
    );
    all.extend(d.step(Input::RunnerBytes {
        conn: r2,
        bytes: vec![0xff, 0x01],
    }));
    all.extend(d.advance(Duration::from_secs(20)));
    let (_ws2, out) = d.open_websocket(a2, "/again");
    all.extend(out);
    all.extend(d.advance(Duration::from_secs(31)));
    (d.gw.gateway_id(), all)
}

#[test]
fn same_seed_and_inputs_give_identical_outputs() {
    let (gw_a, out_a) = script(42);
    let (gw_b, out_b) = script(42);
    assert_eq!(gw_a, gw_b);
    assert!(
        out_a.len() > 50,
        "the script exercised little: {}",
        out_a.len()
    );
    assert_eq!(out_a, out_b);
}

#[test]
fn another_seed_gives_another_gateway_id_and_ids() {
    let (gw_a, out_a) = script(42);
    let (gw_b, out_b) = script(43);
    assert_ne!(gw_a, gw_b);
    assert_ne!(out_a, out_b, "actor and request ids come from the seed");
    assert_ne!(
        Driver::with_seed(Config::default(), 1).gw.gateway_id(),
        Driver::with_seed(Config::default(), 2).gw.gateway_id()
    );
}
