//! HTTP requests proxied to actors: request start, whole and streamed responses, and every way
//! a request fails.

use std::time::Duration;

use crate::config::Config;
use crate::ids::{ActorId, ClientId, RunnerConnId};
use crate::io::{Input, Output};
use crate::protocol::*;
use crate::testkit::driver::*;

use super::{driver, driver_with, error_response, setup};

/// Sends a request to the running actor; returns the client and its request-start message.
fn request(
    d: &mut Driver,
    conn: RunnerConnId,
    actor: ActorId,
    body: &[u8],
) -> (ClientId, ToClientTunnelMessage) {
    let (client, out) = d.http_request(actor, "POST", "/items?id=3", body);
    let t = tunnel_to(&out, conn);
    let [start] = <[_; 1]>::try_from(t).unwrap_or_else(|t| panic!("{t:?}"));
    (client, start)
}

fn abort_msg(request: MessageId, index: u16) -> ToClient {
    ToClient::TunnelMessage(ToClientTunnelMessage {
        message_id: MessageId {
            message_index: index,
            ..request
        },
        message_kind: ToClientTunnelMessageKind::RequestAbort,
    })
}

#[test]
fn request_and_whole_response_round_trip() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let (client, start) = request(&mut d, conn, actor, b"{\"a\":1}");
    assert_eq!(start.message_id.message_index, 0);
    assert_eq!(
        start.message_kind,
        ToClientTunnelMessageKind::RequestStart(ToClientRequestStart {
            actor_id: actor.to_string(),
            method: "POST".into(),
            path: "/items?id=3".into(),
            headers: Headers::new(),
            body: Some(b"{\"a\":1}".to_vec()),
            stream: false,
        })
    );
    let mut headers = Headers::new();
    headers.insert("content-type", "application/json".to_owned());
    headers.insert("x-actor", "yes".to_owned());
    let out = d.runner_tunnel(
        conn,
        start.message_id,
        ToServerTunnelMessageKind::ResponseStart(ToServerResponseStart {
            status: 201,
            headers: headers.clone(),
            body: Some(b"created".to_vec()),
            stream: false,
        }),
    );
    assert_eq!(
        out,
        vec![Output::HttpResponse {
            client,
            status: 201,
            headers,
            body: b"created".to_vec(),
            streaming: false,
        }]
    );
    assert_eq!(d.gw.client_count(), 0);
    assert_eq!(d.gw.metrics().http_requests, 1);
    assert_eq!(d.gw.metrics().http_responses, 1);
    // The response timer went with the request.
    let out = without_pings(d.advance(Duration::from_secs(400)));
    assert_eq!(out, vec![]);
    assert_eq!(d.gw.metrics().http_response_timeouts, 0);
}

#[test]
fn empty_body_is_sent_as_none_and_a_bodiless_response_is_empty() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let (client, out) = d.http_request(actor, "GET", "/", b"");
    let t = tunnel_to(&out, conn);
    assert_eq!(
        t[0].message_kind,
        ToClientTunnelMessageKind::RequestStart(ToClientRequestStart {
            actor_id: actor.to_string(),
            method: "GET".into(),
            path: "/".into(),
            headers: Headers::new(),
            body: None,
            stream: false,
        })
    );
    let out = d.runner_tunnel(
        conn,
        t[0].message_id,
        ToServerTunnelMessageKind::ResponseStart(ToServerResponseStart {
            status: 204,
            headers: Headers::new(),
            body: None,
            stream: false,
        }),
    );
    assert_eq!(
        out,
        vec![Output::HttpResponse {
            client,
            status: 204,
            headers: Headers::new(),
            body: vec![],
            streaming: false,
        }]
    );
}

#[test]
fn response_abort_becomes_502() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let (client, start) = request(&mut d, conn, actor, b"x");
    let out = d.runner_tunnel(
        conn,
        start.message_id,
        ToServerTunnelMessageKind::ResponseAbort,
    );
    assert_eq!(
        out,
        vec![error_response(
            client,
            502,
            "torpor",
            "response_aborted",
            "the actor aborted the response"
        )]
    );
    assert_eq!(d.gw.metrics().http_aborted, 1);
    assert_eq!(d.gw.client_count(), 0);
}

#[test]
fn actor_stopping_with_a_request_in_flight_fails_it_with_503() {
    let mut d = driver();
    let (conn, actor, start) = setup(&mut d);
    let (client, _) = request(&mut d, conn, actor, b"");
    // Unsolicited Stopped (crash) while the request is with the actor.
    let out = d.report_state(conn, &start.checkpoint, 1, stopped(StopCode::Error));
    let responses: Vec<&Output> = out
        .iter()
        .filter(|o| matches!(o, Output::HttpResponse { .. }))
        .collect();
    assert_eq!(
        responses,
        vec![&error_response(
            client,
            503,
            "actor",
            "crashed",
            "actor.crashed"
        )]
    );
    assert!(
        tunnel_to(&out, conn).is_empty(),
        "the runner already dropped it"
    );
    assert_eq!(d.gw.metrics().http_failed_unavailable, 1);
    assert_eq!(d.gw.client_count(), 0);
}

#[test]
fn response_timeout_answers_504_and_aborts_on_the_runner() {
    let mut d = driver_with(Config {
        http_response_timeout: Duration::from_secs(10),
        ..Config::default()
    });
    let (conn, actor, _) = setup(&mut d);
    let (client, start) = request(&mut d, conn, actor, b"");
    let out = without_pings(d.advance(Duration::from_millis(9_999)));
    assert_eq!(out, vec![]);
    let out = without_pings(d.advance(Duration::from_millis(1)));
    assert_eq!(
        out,
        vec![
            Output::SendRunner {
                conn,
                bytes: abort_msg(start.message_id, 1).to_bytes().into(),
            },
            error_response(
                client,
                504,
                "torpor",
                "response_timeout",
                "the actor did not respond in time"
            ),
        ]
    );
    assert_eq!(d.gw.metrics().http_response_timeouts, 1);
    // A response after the timeout is dropped.
    let out = d.runner_tunnel(
        conn,
        start.message_id,
        ToServerTunnelMessageKind::ResponseStart(ToServerResponseStart {
            status: 200,
            headers: Headers::new(),
            body: None,
            stream: false,
        }),
    );
    assert_eq!(out, vec![]);
}

#[test]
fn cancelled_request_is_aborted_on_the_runner() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let (client, start) = request(&mut d, conn, actor, b"");
    let out = d.step(Input::HttpCancelled { client });
    assert_eq!(
        out,
        vec![Output::SendRunner {
            conn,
            bytes: abort_msg(start.message_id, 1).to_bytes().into(),
        }]
    );
    assert_eq!(d.gw.client_count(), 0);
    let out = d.runner_tunnel(
        conn,
        start.message_id,
        ToServerTunnelMessageKind::ResponseStart(ToServerResponseStart {
            status: 200,
            headers: Headers::new(),
            body: None,
            stream: false,
        }),
    );
    assert_eq!(out, vec![]);
    assert_eq!(d.gw.metrics().tunnel_dropped_unknown, 1);
}

#[test]
fn cancelled_while_waiting_for_the_actor_is_never_sent() {
    let mut d = driver();
    let (conn, _) = d.connect_runner("k", "default", 1);
    let (actor, out) = d.create_actor("api", None, "default");
    let [(_, start)] = <[_; 1]>::try_from(start_commands(&out)).unwrap();
    let (client, out) = d.http_request(actor, "GET", "/", b"");
    assert_eq!(out, vec![]);
    assert_eq!(d.step(Input::HttpCancelled { client }), vec![]);
    let out = d.report_running(conn, &start);
    assert_eq!(tunnel_to(&out, conn), vec![]);
    assert_eq!(d.gw.client_count(), 0);
}

#[test]
fn streamed_response_is_forwarded_chunk_by_chunk() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let (client, start) = request(&mut d, conn, actor, b"");
    let rq = start.message_id;
    let mut headers = Headers::new();
    headers.insert("content-type", "text/event-stream".to_owned());
    let out = d.runner_tunnel(
        conn,
        rq,
        ToServerTunnelMessageKind::ResponseStart(ToServerResponseStart {
            status: 200,
            headers: headers.clone(),
            body: Some(b"a".to_vec()),
            stream: true,
        }),
    );
    assert_eq!(
        out,
        vec![Output::HttpResponse {
            client,
            status: 200,
            headers,
            body: b"a".to_vec(),
            streaming: true,
        }]
    );
    let chunk = |body: &[u8], finish| {
        ToServerTunnelMessageKind::ResponseChunk(ToServerResponseChunk {
            body: body.to_vec(),
            finish,
        })
    };
    assert_eq!(
        d.runner_tunnel(conn, rq, chunk(b"b", false)),
        vec![Output::HttpBodyChunk {
            client,
            data: b"b".to_vec(),
            finish: false,
        }]
    );
    assert_eq!(d.gw.client_count(), 1);
    assert_eq!(
        d.runner_tunnel(conn, rq, chunk(b"c", true)),
        vec![Output::HttpBodyChunk {
            client,
            data: b"c".to_vec(),
            finish: true,
        }]
    );
    assert_eq!(d.gw.client_count(), 0);
    assert_eq!(d.runner_tunnel(conn, rq, chunk(b"d", true)), vec![]);
}

#[test]
fn abort_of_a_streamed_response_aborts_the_client_connection() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let (client, start) = request(&mut d, conn, actor, b"");
    let rq = start.message_id;
    d.start_streaming(conn, rq);
    let out = d.runner_tunnel(conn, rq, ToServerTunnelMessageKind::ResponseAbort);
    assert_eq!(out, vec![Output::HttpAbort { client }]);
    assert_eq!(d.gw.client_count(), 0);
}

#[test]
fn a_streamed_response_the_client_does_not_read_is_aborted_by_the_core() {
    let mut d = driver();
    let (conn, actor, _) = setup(&mut d);
    let (client, start) = request(&mut d, conn, actor, b"");
    let rq = start.message_id;
    d.start_streaming(conn, rq);
    // The adapter reports that the client stopped reading; the core decides: the client's
    // response is aborted and the runner told to stop the request.
    let out = d.step(Input::ClientOutboundFull { client });
    assert_eq!(
        out,
        vec![
            Output::SendRunner {
                conn,
                bytes: abort_msg(rq, 1).to_bytes().into(),
            },
            Output::HttpAbort { client },
        ]
    );
    assert_eq!(d.gw.client_count(), 0);
    assert_eq!(d.gw.metrics().http_client_too_slow, 1);
    // Reported again (a late report): nothing more happens.
    assert_eq!(d.step(Input::ClientOutboundFull { client }), vec![]);
    assert_eq!(d.gw.metrics().http_client_too_slow, 1);
}

#[test]
fn request_to_an_unknown_actor_is_answered_404() {
    let mut d = driver();
    let client = ClientId::new(d.fresh());
    let out = d.step(Input::HttpRequest {
        client,
        actor: "nope".into(),
        method: "GET".into(),
        path: "/".into(),
        headers: Headers::new(),
        body: vec![],
    });
    assert_eq!(
        out,
        vec![error_response(
            client,
            404,
            "actor",
            "not_found",
            "The actor \"nope\" does not exist or was destroyed."
        )]
    );
    assert_eq!(d.gw.metrics().client_rejects, 1);
}
