//! Clients through the gateway to the Rust test runner: echo, HTTP, sleep and wake, bad input.

mod common;

use std::time::Duration;

use async_tungstenite::tungstenite::Message;
use common::*;
use torpor_runner_kit::{RunnerConfig, RunnerEvent, TestRunner};

#[test]
fn websocket_echo_and_http_proxy() {
    let gw = start("echo");
    let addr = gw.addr();
    smol::block_on(async {
        let runner = runner(addr).await;
        let actor = create_actor(addr, "chat", "room-1").await;
        let mut ws = client(addr, &actor, "/chat?x=1")
            .await
            .expect("client connects");
        ws.send(Message::text("hello")).await.expect("send");
        assert_eq!(next(&mut ws, WAIT).await, Some(Message::text("hello")));
        ws.send(Message::binary(vec![1u8, 2, 3]))
            .await
            .expect("send");
        assert_eq!(
            next(&mut ws, WAIT).await,
            Some(Message::binary(vec![1u8, 2, 3]))
        );

        let events = runner.events();
        assert!(events.contains(&RunnerEvent::WebSocketOpened {
            actor_id: actor.clone(),
            request_id: opened_request(&events, &actor),
            path: "/chat?x=1".to_owned(),
        }));
        assert_eq!(
            delivered(&events, &actor),
            vec![b"hello".to_vec(), vec![1, 2, 3]]
        );

        let reply = http(
            addr,
            "POST",
            &format!("/gateway/{actor}/api/echo?q=1"),
            &[],
            "ping",
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.headers["x-torpor-test"], "1");
        assert_eq!(reply.body, "POST /api/echo?q=1\nping");

        // Unknown actors: HTTP gets 404 `actor.not_found`; a WebSocket is accepted and closed
        // at once with 1011 and `group.code#ray_id`, as the engine does (RivetKit parses it).
        let missing = "00000000-0000-4000-8000-000000000000";
        let reply = http(addr, "GET", &format!("/gateway/{missing}/x"), &[], "").await;
        assert_eq!(reply.status, 404, "{}", reply.body);
        assert_eq!(reply.json()["group"], "actor");
        assert_eq!(reply.json()["code"], "not_found");
        let mut refused = client(addr, missing, "/").await.expect("accepted");
        let Some(Message::Close(Some(close))) = next(&mut refused, WAIT).await else {
            panic!("no close frame");
        };
        assert_eq!(u16::from(close.code), 1011);
        let reason = close.reason.as_str();
        let (name, ray) = reason.split_once('#').expect("group.code#ray");
        assert_eq!(name, "actor.not_found");
        assert_eq!(ray.len(), 16, "{reason}");

        // A client close gets its reply (a clean close handshake, not a dropped connection).
        ws.close(None).await.expect("close");
        assert!(matches!(next(&mut ws, WAIT).await, Some(Message::Close(_))));

        assert!(metric(addr, "ws_messages_to_runner_total").await >= 2);
        assert!(metric(addr, "ws_messages_to_client_total").await >= 2);
        assert_eq!(metric(addr, "runner_connections").await, 1);
    });
}

#[test]
fn sleeping_actor_is_woken_by_a_client_message_and_gets_it_once() {
    let gw = start("sleep");
    let addr = gw.addr();
    smol::block_on(async {
        let runner = runner(addr).await;
        let actor = create_actor(addr, "chat", "room-1").await;
        let mut ws = client(addr, &actor, "/").await.expect("client connects");
        ws.send(Message::text("one")).await.expect("send");
        assert_eq!(next(&mut ws, WAIT).await, Some(Message::text("one")));
        let request = opened_request(&runner.events(), &actor);

        runner.sleep_actor(&actor).await;
        runner
            .wait_for(WAIT, |e| {
                e.iter().any(|e| matches!(e, RunnerEvent::ActorStopped { actor_id, .. } if *actor_id == actor))
            })
            .await
            .expect("actor stops");
        // The client socket stays open and is listed as hibernating.
        let sockets = http(addr, "GET", &format!("/actors/{actor}/sockets"), &[], "")
            .await
            .json();
        assert_eq!(sockets["sockets"][0]["state"], "hibernating", "{sockets}");
        assert_eq!(metric(addr, "hibernating_sockets").await, 1);
        assert_eq!(
            next(&mut ws, Duration::from_millis(300)).await,
            None,
            "nothing arrives"
        );

        ws.send(Message::text("two"))
            .await
            .expect("send while asleep");
        assert_eq!(next(&mut ws, WAIT).await, Some(Message::text("two")));
        // The wake is in the latency histogram, exported in Prometheus form.
        assert_eq!(metric(addr, "wake_latency_seconds_count").await, 1);
        assert_eq!(
            metric(addr, r#"wake_latency_seconds_bucket{le="+Inf"}"#).await,
            1
        );
        let events = runner.events();
        assert_eq!(
            delivered(&events, &actor),
            vec![b"one".to_vec(), b"two".to_vec()]
        );
        assert_eq!(
            count_opens(&events, &actor),
            1,
            "no second open: {events:?}"
        );
        assert_eq!(
            starts(&events, &actor),
            vec![(0, vec![]), (1, vec![request])]
        );
    });
}

#[test]
fn wrong_runner_token_is_refused_with_a_reason() {
    let gw = start_with(config("runner-token", |c| {
        c.core.runner_token = Some("right".to_owned());
    }));
    let addr = gw.addr();
    smol::block_on(async {
        let mut cfg = RunnerConfig::new(ws_base(addr));
        cfg.token = Some("wrong".to_owned());
        let err = TestRunner::connect(cfg.clone()).await.expect_err("refused");
        assert!(err.0.contains("401") || err.0.contains("403"), "{err}");
        assert!(err.0.contains("token"), "{err}");
        cfg.token = None;
        assert!(TestRunner::connect(cfg.clone()).await.is_err());
        cfg.token = Some("right".to_owned());
        TestRunner::connect(cfg)
            .await
            .expect("right token accepted");
        assert_eq!(metric(addr, "runner_rejects_total").await, 2);
    });
}

#[test]
fn malformed_runner_frame_closes_only_that_runner() {
    let gw = start("malformed");
    let addr = gw.addr();
    smol::block_on(async {
        let good = runner(addr).await;
        let actor = create_actor(addr, "chat", "room-1").await;
        let mut ws = client(addr, &actor, "/").await.expect("client connects");
        ws.send(Message::text("before")).await.expect("send");
        assert_eq!(next(&mut ws, WAIT).await, Some(Message::text("before")));

        let bad = runner(addr).await;
        bad.send_raw(vec![0xff, 0xff, 0xff]).await;
        let (code, reason) = bad.closed().await.expect("closed with a frame");
        assert!(code == 1002 || code == 1007, "{code} {reason}");
        assert!(!reason.is_empty());
        assert_eq!(metric(addr, "runner_decode_errors_total").await, 1);

        // The other runner and its client are untouched.
        ws.send(Message::text("after")).await.expect("send");
        assert_eq!(next(&mut ws, WAIT).await, Some(Message::text("after")));
        assert_eq!(good.running().len(), 1);
        assert_eq!(metric(addr, "runner_connections").await, 1);
    });
}

#[test]
fn oversize_client_frames_are_closed_with_1009() {
    let gw = start("oversize");
    let addr = gw.addr();
    smol::block_on(async {
        let _runner = runner(addr).await;
        let actor = create_actor(addr, "chat", "room-1").await;

        // Over the WebSocket limit (32 MiB): refused while reading.
        let mut ws = client(addr, &actor, "/").await.expect("client connects");
        ws.send(Message::binary(vec![0u8; 33 << 20]))
            .await
            .expect("send");
        assert_eq!(close_code(&mut ws, WAIT).await, Some(1009));

        // Over what the runner accepts (20 MiB): refused by the core.
        let mut ws = client(addr, &actor, "/").await.expect("client connects");
        ws.send(Message::binary(vec![0u8; 21 << 20]))
            .await
            .expect("send");
        assert_eq!(close_code(&mut ws, WAIT).await, Some(1009));

        assert_eq!(metric(addr, "client_oversize_frames_total").await, 1);
        assert_eq!(metric(addr, "ws_messages_too_big_total").await, 1);
    });
}

#[test]
fn invalid_utf8_text_is_closed_with_1007() {
    let gw = start("utf8");
    let addr = gw.addr();
    smol::block_on(async {
        let _runner = runner(addr).await;
        let actor = create_actor(addr, "chat", "room-1").await;
        let mut ws = client(addr, &actor, "/").await.expect("client connects");
        // A text frame with invalid UTF-8, sent as a raw frame.
        let frame = async_tungstenite::tungstenite::protocol::frame::Frame::message(
            vec![0xc3u8, 0x28],
            async_tungstenite::tungstenite::protocol::frame::coding::OpCode::Data(
                async_tungstenite::tungstenite::protocol::frame::coding::Data::Text,
            ),
            true,
        );
        ws.send(Message::Frame(frame)).await.expect("send");
        assert_eq!(close_code(&mut ws, WAIT).await, Some(1007));
        assert_eq!(metric(addr, "client_invalid_utf8_total").await, 1);
    });
}

#[test]
fn a_client_that_never_reads_is_closed_with_1008() {
    let gw = start_with(config("slow", |c| {
        c.core.client_outbound_max_bytes = 256 * 1024;
    }));
    let addr = gw.addr();
    smol::block_on(async {
        let runner = runner(addr).await;
        let actor = create_actor(addr, "chat", "room-1").await;
        let mut slow = client(addr, &actor, "/").await.expect("client connects");
        let events = runner
            .wait_for(WAIT, |e| count_opens(e, &actor) == 1)
            .await
            .expect("open recorded");
        let request = opened_request(&events, &actor);
        // 32 MiB from the actor while the client reads nothing: far more than the socket
        // buffers hold, so the gateway's queue for this client passes the limit.
        for _ in 0..512 {
            runner
                .send_to_client(request, vec![7u8; 64 * 1024], true)
                .await;
        }
        assert_eq!(metric_reaches(addr, "clients_too_slow_total", 1).await, 1);
        // Reading now: whatever was already in flight, then the close (the backlog is dropped).
        let mut data = 0usize;
        let close = loop {
            match next(&mut slow, WAIT).await {
                Some(Message::Binary(b)) => data += b.len(),
                Some(Message::Close(Some(f))) => break (u16::from(f.code), f.reason.to_string()),
                other => panic!("unexpected {other:?} after {data} bytes"),
            }
        };
        assert_eq!(close.0, 1008);
        assert_eq!(close.1, "torpor.client_too_slow");
        assert!(
            data < 32 << 20,
            "the backlog was dropped, not delivered ({data} bytes)"
        );

        // Other clients of the actor are unaffected.
        let mut ws = client(addr, &actor, "/").await.expect("client connects");
        ws.send(Message::text("fine")).await.expect("send");
        assert_eq!(next(&mut ws, WAIT).await, Some(Message::text("fine")));
    });
}

#[test]
fn a_full_window_pauses_reads_until_acks_free_it() {
    let gw = start_with(config("backpressure", |c| {
        c.core.socket_window_bytes = 64 * 1024;
        // The first runner's actors are given up quickly once it is gone.
        c.core.runner_lost_threshold = Duration::from_millis(300);
    }));
    let addr = gw.addr();
    smol::block_on(async {
        let first = runner(addr).await;
        let storage = first.storage();
        let actor = create_actor(addr, "chat", "room-1").await;
        let ws = client(addr, &actor, "/").await.expect("client connects");
        let (mut tx, mut rx) = ws.split();
        tx.send(Message::text("first")).await.expect("send");
        assert_eq!(next(&mut rx, WAIT).await, Some(Message::text("first")));
        // The actor sleeps and its runner goes away: nothing can take the client's messages.
        first.sleep_actor(&actor).await;
        first
            .wait_for(WAIT, |e| {
                e.iter().any(|e| matches!(e, RunnerEvent::ActorStopped { actor_id, .. } if *actor_id == actor))
            })
            .await
            .expect("actor stops");
        drop(first.disconnect().await);

        const N: usize = 1000;
        let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = std::sync::Arc::clone(&sent);
        let sender = smol::spawn(async move {
            for i in 0..N {
                let mut payload = vec![0u8; 16 * 1024];
                payload[..8].copy_from_slice(&(i as u64).to_be_bytes());
                tx.send(Message::binary(payload)).await.expect("send");
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            tx
        });
        smol::Timer::after(Duration::from_millis(1500)).await;
        assert_eq!(metric(addr, "paused_sockets").await, 1, "reads are paused");
        let stalled = sent.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            stalled < N,
            "TCP pushed back on the client ({stalled} of {N} sent)"
        );
        assert!(metric(addr, "pending_bytes").await <= 2 * 64 * 1024 + 64 * 1024);

        // A runner arrives: the actor wakes, acks free the window, reads resume, and every
        // message arrives once, in order.
        let second = TestRunner::connect_with(RunnerConfig::new(ws_base(addr)), storage)
            .await
            .expect("runner connects");
        let reader = smol::spawn(async move {
            let mut echoed = 0usize;
            while echoed < N {
                match next(&mut rx, WAIT).await {
                    Some(Message::Binary(_)) => echoed += 1,
                    other => panic!("unexpected {other:?} after {echoed} echoes"),
                }
            }
            echoed
        });
        let _tx = sender.await;
        assert_eq!(reader.await, N);
        let got = delivered(&second.events(), &actor);
        let order: Vec<u64> = got
            .iter()
            .filter(|m| m.len() == 16 * 1024)
            .map(|m| u64::from_be_bytes(m[..8].try_into().expect("8 bytes")))
            .collect();
        assert_eq!(
            order,
            (0..N as u64).collect::<Vec<_>>(),
            "once each, in order"
        );
        assert_eq!(metric(addr, "paused_sockets").await, 0);
        assert!(metric(addr, "reads_paused_total").await >= 1);
    });
}

#[test]
fn request_bodies_held_at_once_are_bounded_with_a_503() {
    let gw = start_with(config("body-budget", |c| {
        c.core.socket_window_bytes = 256 * 1024;
        c.core.pending_budget_bytes = 1024 * 1024;
    }));
    let addr = gw.addr();
    smol::block_on(async {
        let actor = create_actor(addr, "echo", "uploads").await;
        let path = format!("/gateway/{actor}/up");
        let big = "a".repeat(700 * 1024);
        // No runner yet: the first upload is read whole and waits for the actor, holding
        // 700 KiB of the 1 MiB budget.
        let first = smol::spawn({
            let (path, big) = (path.clone(), big.clone());
            async move { http(addr, "POST", &path, &[], &big).await }
        });
        // Read whole and waiting for the actor.
        metric_reaches(addr, "http_requests_total", 1).await;
        let refused = http(addr, "POST", &path, &[], &big).await;
        assert_eq!(refused.status, 503, "{}", refused.body);
        assert_eq!(refused.headers["retry-after"], "1");
        assert!(
            refused.body.contains("budget of 1048576 bytes"),
            "{}",
            refused.body
        );
        assert_eq!(metric(addr, "http_body_budget_rejects_total").await, 1);
        assert_eq!(
            metric(addr, "http_requests_total").await,
            1,
            "the refused one never reached the core"
        );

        // A runner arrives: the first upload is answered, whole, and its bytes are given back.
        let _runner = runner(addr).await;
        let reply = first.await;
        assert_eq!(
            reply.status,
            200,
            "{}",
            &reply.body[..100.min(reply.body.len())]
        );
        assert_eq!(reply.body, format!("POST /up\n{big}"));
        let again = http(addr, "POST", &path, &[], &big).await;
        assert_eq!(again.status, 200, "the budget was given back");
        assert_eq!(metric(addr, "http_body_budget_rejects_total").await, 1);

        // Over the message limit is a different refusal: 413, whatever the budget.
        let huge = "b".repeat((32 << 20) + 1);
        let too_large = http(addr, "POST", &path, &[], &huge).await;
        assert_eq!(too_large.status, 413, "{}", too_large.body);
        assert_eq!(too_large.json()["code"], "invalid_request_body");
    });
}

#[test]
fn connections_that_send_no_request_head_in_time_are_closed() {
    use smol::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use smol::net::TcpStream;

    let gw = start_with(config("header-timeout", |c| {
        c.http_header_timeout = Duration::from_millis(300);
    }));
    let addr = gw.addr();
    smol::block_on(async {
        // One connection sends nothing, one half a request head: both are cut off.
        let mut silent = TcpStream::connect(addr).await.expect("connect");
        let mut partial = TcpStream::connect(addr).await.expect("connect");
        partial
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
            .await
            .expect("write");
        for (name, tcp) in [("silent", &mut silent), ("partial", &mut partial)] {
            let mut buf = [0u8; 64];
            let read = within(WAIT, tcp.read(&mut buf)).await;
            assert!(
                matches!(read, Some(Ok(0) | Err(_))),
                "{name}: the gateway closed the connection instead of waiting: {read:?}"
            );
        }
        // The closed socket can be seen before the connection's task counts the timeout.
        assert_eq!(
            metric_reaches(addr, "http_header_timeouts_total", 2).await,
            2
        );
        // A client that sends its request in time is served as before.
        assert_eq!(http(addr, "GET", "/healthz", &[], "").await.status, 200);
    });
}

#[test]
fn a_streamed_response_to_a_client_that_never_reads_is_aborted() {
    use smol::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use smol::net::TcpStream;
    use torpor_runner_kit::STREAM_CHUNK;

    let gw = start_with(config("slow-http", |c| {
        c.core.client_outbound_max_bytes = 2 << 20;
    }));
    let addr = gw.addr();
    smol::block_on(async {
        let _runner = runner(addr).await;
        let actor = create_actor(addr, "echo", "streams").await;
        // A client that reads gets the whole stream (1 MiB, sent at once, within the limit).
        let reply = http(addr, "GET", &format!("/gateway/{actor}/stream/16"), &[], "").await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body.len(), 16 * STREAM_CHUNK);
        assert_eq!(metric(addr, "clients_too_slow_total").await, 0);

        // 400 chunks (25 MiB), far more than socket buffers hold, to a client that never
        // reads: past 2 MiB queued, the response is aborted instead of queued without end.
        let mut tcp = TcpStream::connect(addr).await.expect("connect");
        let request = format!("GET /gateway/{actor}/stream/400 HTTP/1.1\r\nhost: x\r\n\r\n");
        tcp.write_all(request.as_bytes()).await.expect("write");
        metric_reaches(addr, "clients_too_slow_total", 1).await;
        // What the client then reads ends early: the connection closes short of the body.
        let mut got = Vec::new();
        let read = within(WAIT, tcp.read_to_end(&mut got)).await;
        assert!(read.is_some(), "the connection stayed open");
        assert!(
            got.len() < 400 * STREAM_CHUNK,
            "got the whole body: {}",
            got.len()
        );
        assert_eq!(metric(addr, "clients_too_slow_total").await, 1);
        // The core decided the abort (and told the runner).
        assert_eq!(metric(addr, "http_client_too_slow_total").await, 1);
    });
}

/// RivetKit 2.3's query-form gateway path: the actor is named and keyed in `rvt-*` parameters,
/// found or created, and reached with those parameters stripped; the same name and key always
/// reach the same actor, also as a WebSocket.
#[test]
fn query_form_gateway_finds_or_creates_the_actor_by_name_and_key() {
    let gw = start("query-form");
    let addr = gw.addr();
    smol::block_on(async {
        let runner = runner(addr).await;
        let get_or_create = "rvt-namespace=default&rvt-method=getOrCreate&rvt-runner=default\
                             &rvt-key=room,a%2Fb&rvt-crash-policy=sleep&rvt-input=oWF4AQ";
        let path = format!("/gateway/counter/api/echo?q=1&{get_or_create}&z=2");
        let first = http(addr, "POST", &path, &[], "ping").await;
        assert_eq!(first.status, 200, "{}", first.body);
        assert_eq!(first.body, "POST /api/echo?q=1&z=2\nping");

        // Stored under the engine's key form: parts joined by `/`, a `/` inside a part escaped.
        let listed = http(
            addr,
            "GET",
            "/actors?namespace=default&name=counter&key=room%2Fa%5C%2Fb",
            &[],
            "",
        )
        .await;
        let actors = listed.json()["actors"].as_array().expect("list").clone();
        assert_eq!(actors.len(), 1, "{}", listed.body);
        let actor = actors[0]["actor_id"].as_str().expect("id").to_owned();
        assert_eq!(actors[0]["key"], "room/a\\/b");
        assert_eq!(actors[0]["crash_policy"], "sleep");

        // Again, and with `get`: the same actor, started once.
        let again = http(addr, "POST", &path, &[], "again").await;
        assert_eq!(again.body, "POST /api/echo?q=1&z=2\nagain");
        let get = "rvt-namespace=default&rvt-method=get&rvt-key=room,a%2Fb";
        let got = http(addr, "GET", &format!("/gateway/counter/x?{get}"), &[], "").await;
        assert_eq!(got.body, "GET /x\n");
        assert_eq!(count_starts(&runner.events(), &actor), 1);
        let all = http(
            addr,
            "GET",
            "/actors?namespace=default&name=counter",
            &[],
            "",
        )
        .await;
        assert_eq!(all.json()["actors"].as_array().map(Vec::len), Some(1));

        // A WebSocket by name and key reaches the same actor, the path without `rvt-*`.
        let mut ws = client(addr, "counter", &format!("/ws?{get}&room=1"))
            .await
            .expect("client connects");
        ws.send(Message::text("hi")).await.expect("send");
        assert_eq!(next(&mut ws, WAIT).await, Some(Message::text("hi")));
        let events = runner.events();
        assert!(events.contains(&RunnerEvent::WebSocketOpened {
            actor_id: actor.clone(),
            request_id: opened_request(&events, &actor),
            path: "/ws?room=1".to_owned(),
        }));

        // `get` of a key nobody holds: 404 over HTTP; a WebSocket is accepted and closed with
        // the reason, as every refused gateway WebSocket is. Bad parameters: the engine's 400s.
        let missing = "rvt-namespace=default&rvt-method=get&rvt-key=nobody";
        let reply = http(
            addr,
            "GET",
            &format!("/gateway/counter/x?{missing}"),
            &[],
            "",
        )
        .await;
        assert_eq!(reply.status, 404, "{}", reply.body);
        assert_eq!(
            (
                reply.json()["group"].as_str(),
                reply.json()["code"].as_str()
            ),
            (Some("actor"), Some("not_found"))
        );
        let mut refused = client(addr, "counter", &format!("/ws?{missing}"))
            .await
            .expect("accepted");
        let Some(Message::Close(Some(close))) = next(&mut refused, WAIT).await else {
            panic!("no close frame");
        };
        assert_eq!(u16::from(close.code), 1011);
        assert!(
            close.reason.as_str().starts_with("actor.not_found#"),
            "{close:?}"
        );
        let bad = "rvt-namespace=default&rvt-method=get&rvt-runner=default";
        let reply = http(addr, "GET", &format!("/gateway/counter/x?{bad}"), &[], "").await;
        assert_eq!(reply.status, 400, "{}", reply.body);
        assert_eq!(reply.json()["code"], "query_get_disallowed_params");
        assert_eq!(count_starts(&runner.events(), &actor), 1);
    });
}

/// An envoy (protocol v8) connects at `/envoys/connect` with its key and pool in the URL, gets
/// its init, and is sent the start of an actor created on its pool, all in v8's bytes.
#[test]
fn an_envoy_connects_and_is_sent_its_actors_in_v8() {
    use async_tungstenite::tungstenite::client::IntoClientRequest as _;
    use async_tungstenite::tungstenite::http::HeaderValue;
    use torpor_protocol::v8::{Command, ToEnvoy, ToRivet, ToRivetMetadata};

    let gw = start("envoy");
    let addr = gw.addr();
    smol::block_on(async {
        let url = format!(
            "ws://{addr}/envoys/connect?protocol_version=8&namespace=default&envoy_key=e-1\
             &version=1&pool_name=default"
        );
        let mut req = url.into_client_request().expect("request");
        req.headers_mut()
            .insert("sec-websocket-protocol", HeaderValue::from_static("rivet"));
        let tcp = smol::net::TcpStream::connect(addr).await.expect("connect");
        let (mut ws, _) = async_tungstenite::client_async(req, tcp)
            .await
            .expect("upgrade");
        let hello = ToRivet::Metadata(ToRivetMetadata {
            prepopulate_actor_names: None,
            metadata: None,
        });
        ws.send(Message::binary(hello.to_bytes()))
            .await
            .expect("send");
        let decode = |m: Option<Message>| match m {
            Some(Message::Binary(b)) => ToEnvoy::decode(&b).expect("v8 bytes"),
            other => panic!("not a binary frame: {other:?}"),
        };
        assert!(matches!(
            decode(next(&mut ws, WAIT).await),
            ToEnvoy::Init(_)
        ));

        let actor = create_actor(addr, "counter", "k").await;
        match decode(next(&mut ws, WAIT).await) {
            ToEnvoy::Commands(c) => {
                assert_eq!(c.len(), 1);
                assert_eq!(c[0].checkpoint.actor_id, actor);
                assert!(matches!(c[0].inner, Command::StartActor(_)));
            }
            other => panic!("no start: {other:?}"),
        }
    });
}
