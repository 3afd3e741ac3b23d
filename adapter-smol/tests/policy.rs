//! Who may connect, in process: browser origins (403), connections per address (429), a
//! reload that swaps tokens and limits, routes that refuse unknown query parameters, and
//! readiness.

mod common;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::client::IntoClientRequest as _;
use async_tungstenite::tungstenite::http::HeaderValue;
use async_tungstenite::tungstenite::{Error as WsError, Message};
use common::*;
use smol::net::TcpStream;

/// A client WebSocket to `/gateway/{actor}/`, with extra request headers.
async fn client_with(
    addr: SocketAddr,
    actor: &str,
    headers: &[(&'static str, &str)],
) -> Result<Client, WsError> {
    let tcp = TcpStream::connect(addr).await.map_err(WsError::Io)?;
    let mut req = format!("ws://{addr}/gateway/{actor}/").into_client_request()?;
    for (name, value) in headers {
        req.headers_mut()
            .insert(*name, HeaderValue::from_str(value).expect("header value"));
    }
    let (ws, _) = async_tungstenite::client_async(req, tcp).await?;
    Ok(ws)
}

/// The socket is open: a message goes to the actor (the runner kit echoes it) and back.
async fn assert_echoes(ws: &mut Client, text: &str) {
    ws.send(Message::text(text)).await.expect("send");
    assert_eq!(next(ws, WAIT).await, Some(Message::text(text)));
}

/// A metric's value from `/metrics`, with a token.
async fn metric_as(addr: SocketAddr, token: &str, name: &str) -> u64 {
    let auth = format!("Bearer {token}");
    let page = http(addr, "GET", "/metrics", &[("authorization", &auth)], "").await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.body
        .lines()
        .find_map(|l| l.strip_prefix(&format!("torpor_{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("metric {name} missing"))
}

#[test]
fn websockets_from_origins_not_allowed_get_403() {
    let gw = start_with(config("origins", |c| {
        c.allowed_origins = vec!["https://app.example".into()];
    }));
    let addr = gw.addr();
    smol::block_on(async {
        let _runner = runner(addr).await;
        let actor = create_actor(addr, "chat", "room").await;

        let refused = client_with(addr, &actor, &[("origin", "https://evil.example")]).await;
        match refused {
            Err(WsError::Http(resp)) => {
                assert_eq!(resp.status().as_u16(), 403);
                // The body, when it came with the head, is the error.
                if let Some(body) = resp.body().as_deref().filter(|b| !b.is_empty()) {
                    let v: serde_json::Value = serde_json::from_slice(body).expect("json body");
                    assert_eq!(v["group"], "guard", "{v}");
                    assert_eq!(v["code"], "origin_not_allowed", "{v}");
                }
            }
            Err(other) => panic!("expected a 403 refusal, got {other}"),
            Ok(_) => panic!("a WebSocket from a foreign origin opened"),
        }
        assert_eq!(metric(addr, "origin_rejects_total").await, 1);

        // The same refusal read as plain HTTP: the engine's error shape.
        let upgrade = [
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("origin", "https://evil.example"),
        ];
        let reply = http(addr, "GET", &format!("/gateway/{actor}/"), &upgrade, "").await;
        assert_eq!(reply.status, 403, "{}", reply.body);
        assert_eq!(error_name(&reply), "guard.origin_not_allowed");
        assert!(
            reply.json()["message"]
                .as_str()
                .is_some_and(|m| m.contains("https://evil.example")),
            "{}",
            reply.body
        );
        assert_eq!(metric(addr, "origin_rejects_total").await, 2);

        // An allowed origin (any case) and a non-browser client (no Origin) open.
        let mut allowed = client_with(addr, &actor, &[("origin", "https://app.example")])
            .await
            .expect("allowed origin opens");
        assert_echoes(&mut allowed, "from the app").await;
        let mut upper = client_with(addr, &actor, &[("origin", "https://APP.example")])
            .await
            .expect("origins compare case-insensitively");
        assert_echoes(&mut upper, "upper").await;
        let mut plain = client_with(addr, &actor, &[])
            .await
            .expect("no Origin header opens");
        assert_echoes(&mut plain, "no origin").await;
        assert_eq!(metric(addr, "origin_rejects_total").await, 2);
    });
}

/// `GET path` on a kept-alive HTTP/1.1 connection: status and body (by its content-length).
fn get_on(tcp: &mut StdTcpStream, path: &str) -> (u16, String) {
    exchange(tcp, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"))
}

/// Writes `request` (a head, maybe a body) and reads one response: status and body.
fn exchange(tcp: &mut StdTcpStream, request: &str) -> (u16, String) {
    tcp.write_all(request.as_bytes()).expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())
                        .flatten()
                })
                .unwrap_or_else(|| panic!("no content-length: {head}"));
            if body.len() >= length {
                let status = head
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| panic!("status line: {head}"));
                return (status, body[..length].to_owned());
            }
        }
        let n = tcp.read(&mut buf).expect("read");
        assert!(n > 0, "closed: {text}");
        got.extend_from_slice(&buf[..n]);
    }
}

/// A keep-alive HTTP/1.1 connection that has been served once (so the server holds it).
fn keep_alive(addr: SocketAddr) -> StdTcpStream {
    let mut tcp = StdTcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    tcp.set_read_timeout(Some(WAIT)).expect("timeout");
    assert_eq!(get_on(&mut tcp, "/healthz"), (200, "ok\n".to_owned()));
    tcp
}

/// A metric read on a connection the server already holds.
fn metric_on(tcp: &mut StdTcpStream, name: &str) -> u64 {
    let (status, page) = get_on(tcp, "/metrics");
    assert_eq!(status, 200, "{page}");
    page.lines()
        .find_map(|l| l.strip_prefix(&format!("torpor_{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("metric {name} missing"))
}

#[test]
fn connections_per_address_are_limited_and_freed_on_close() {
    let gw = start_with(config("ip-limit", |c| {
        c.max_connections_per_ip = 2;
    }));
    let addr = gw.addr();
    let first = keep_alive(addr);
    let mut second = keep_alive(addr);
    smol::block_on(async {
        let third = http(addr, "GET", "/healthz", &[], "").await;
        assert_eq!(third.status, 429, "{}", third.body);
        assert_eq!(error_name(&third), "guard.too_many_connections");
        assert_eq!(third.headers["connection"], "close");
    });
    // Scraped on a connection already admitted (a new one would be refused).
    assert_eq!(metric_on(&mut second, "ip_limit_rejects_total"), 1);

    // A closed connection frees its place (once the server has seen the close).
    first.shutdown(std::net::Shutdown::Both).expect("shutdown");
    drop(first);
    let mut refused = 1;
    let deadline = Instant::now() + WAIT;
    smol::block_on(async {
        loop {
            let reply = http(addr, "GET", "/healthz", &[], "").await;
            if reply.status == 200 {
                assert_eq!(reply.body, "ok\n");
                break;
            }
            assert_eq!(reply.status, 429, "{}", reply.body);
            refused += 1;
            assert!(
                Instant::now() < deadline,
                "the closed connection's place stays taken"
            );
            smol::Timer::after(Duration::from_millis(20)).await;
        }
    });
    // Every refusal was counted, and nothing else.
    assert_eq!(metric_on(&mut second, "ip_limit_rejects_total"), refused);
    drop(second);
}

#[test]
fn a_reload_swaps_the_admin_token_and_the_core_limits() {
    let initial = config("reload", |c| {
        c.admin_token = Some("a".to_owned());
    });
    let gw = start_with(initial.clone());
    let addr = gw.addr();
    let actors_as = |token: &str| {
        let auth = format!("Bearer {token}");
        async move {
            http(
                addr,
                "GET",
                "/actors?namespace=default&name=x",
                &[("authorization", &auth)],
                "",
            )
            .await
            .status
        }
    };
    smol::block_on(async {
        assert_eq!(actors_as("a").await, 200);
        assert_eq!(actors_as("b").await, 403);
        assert_eq!(metric_as(addr, "a", "config_reloads_total").await, 0);

        let mut next = initial.clone();
        next.admin_token = Some("b".to_owned());
        next.core.max_clients = 1_000;
        assert_ne!(next.core.max_clients, initial.core.max_clients);
        assert!(initial.reloadable(next.clone()).1.is_empty());
        gw.reload(next);

        let deadline = Instant::now() + WAIT;
        while actors_as("b").await != 200 {
            assert!(
                Instant::now() < deadline,
                "token b not accepted after the reload"
            );
            smol::Timer::after(Duration::from_millis(20)).await;
        }
        assert_eq!(actors_as("a").await, 403);
        let page = http(
            addr,
            "GET",
            "/metrics",
            &[("authorization", "Bearer b")],
            "",
        )
        .await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            page.body
                .lines()
                .any(|l| l == "torpor_config_reloads_total 1"),
            "{}",
            page.body
        );
        assert_eq!(
            metric_as(addr, "b", "config_reload_failures_total").await,
            0
        );
        let refused = http(
            addr,
            "GET",
            "/metrics",
            &[("authorization", "Bearer a")],
            "",
        )
        .await;
        assert_eq!(refused.status, 403);
    });
}

#[test]
fn routes_without_parameters_refuse_unknown_ones() {
    let gw = start("query");
    let addr = gw.addr();
    smol::block_on(async {
        let reply = http(addr, "GET", "/healthz?x=1", &[], "").await;
        assert_eq!(reply.status, 400, "{}", reply.body);
        assert_eq!(error_name(&reply), "api.bad_request");
        let message = reply.json()["message"]
            .as_str()
            .expect("message")
            .to_owned();
        assert!(message.contains("`x`"), "{message}");

        let reply = http(addr, "GET", "/metadata?namespace=default", &[], "").await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.json()["runtime"], "engine");

        let reply = http(addr, "GET", "/metadata?foo=1", &[], "").await;
        assert_eq!(reply.status, 400, "{}", reply.body);
        assert_eq!(error_name(&reply), "api.bad_request");
        let message = reply.json()["message"]
            .as_str()
            .expect("message")
            .to_owned();
        assert!(message.contains("`foo`"), "{message}");

        // Without a query, the routes answer as usual.
        assert_eq!(http(addr, "GET", "/healthz", &[], "").await.body, "ok\n");
    });
}

#[test]
fn readyz_reports_ready() {
    let gw = start("readyz");
    let addr = gw.addr();
    smol::block_on(async {
        let reply = http(addr, "GET", "/readyz", &[], "").await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.headers["content-type"], "application/json");
        let v = reply.json();
        assert_eq!(v["status"], "ready", "{v}");
        assert_eq!(v["restore"], "done", "{v}");
        assert_eq!(v["store"], "writable", "{v}");
    });
}

fn create_json(name: &str, key: &str) -> String {
    format!(
        r#"{{"name":"{name}","key":"{key}","runner_name_selector":"default","crash_policy":"sleep"}}"#
    )
}

#[test]
fn bodies_over_the_limit_get_413_and_limits_are_bounded() {
    let gw = start("limits-413");
    let addr = gw.addr();
    smol::block_on(async {
        // Refused on the declared length, before any of the body is read (a client still
        // writing it would see the connection close under it, so none is sent here).
        let mut tcp = StdTcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("tcp");
        let (status, body) = exchange(
            &mut tcp,
            &format!(
                "POST /actors?namespace=default HTTP/1.1\r\nHost: x\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                5 << 20
            ),
        );
        assert_eq!(status, 413, "{body}");
        assert!(body.contains(r#""code":"body_too_large""#), "{body}");
        for bad in ["0", "1001", "lots"] {
            let reply = http(addr, "GET", &format!("/namespaces?limit={bad}"), &[], "").await;
            assert_eq!(reply.status, 400, "{bad}: {}", reply.body);
            assert!(reply.body.contains("from 1 to 1000"), "{}", reply.body);
        }
        let reply = http(
            addr,
            "PUT",
            "/runner-configs/a%00b?namespace=default",
            &[],
            r#"{"datacenters":{}}"#,
        )
        .await;
        assert_eq!(reply.status, 400, "{}", reply.body);
        assert_eq!(error_name(&reply), "validation.invalid_input");
    });
}

#[test]
fn actor_pages_cover_every_actor_once_even_within_one_millisecond() {
    let gw = start("pages");
    let addr = gw.addr();
    smol::block_on(async {
        let mut created = Vec::new();
        for i in 0..7 {
            let reply = http(
                addr,
                "POST",
                "/actors?namespace=default",
                &[("content-type", "application/json")],
                &create_json("paged", &format!("k{i}")),
            )
            .await;
            assert_eq!(reply.status, 200, "{}", reply.body);
            created.push(
                reply.json()["actor"]["actor_id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10 {
            let path = match &cursor {
                Some(c) => format!("/actors?namespace=default&name=paged&limit=3&cursor={c}"),
                None => "/actors?namespace=default&name=paged&limit=3".to_owned(),
            };
            let page = http(addr, "GET", &path, &[], "").await.json();
            let actors = page["actors"].as_array().unwrap().clone();
            if actors.is_empty() {
                break;
            }
            assert!(actors.len() <= 3);
            seen.extend(
                actors
                    .iter()
                    .map(|a| a["actor_id"].as_str().unwrap().to_owned()),
            );
            cursor = page["pagination"]["cursor"].as_str().map(str::to_owned);
        }
        let mut want = created.clone();
        want.sort();
        let mut got = seen.clone();
        got.sort();
        assert_eq!(got, want, "every actor exactly once: {seen:?}");
        // Namespaces page by name.
        for name in ["ns-b", "ns-a", "ns-c"] {
            let reply = http(
                addr,
                "POST",
                "/namespaces",
                &[("content-type", "application/json")],
                &format!(r#"{{"name":"{name}","display_name":"{name}"}}"#),
            )
            .await;
            assert_eq!(reply.status, 200, "{}", reply.body);
        }
        let first = http(addr, "GET", "/namespaces?limit=2", &[], "")
            .await
            .json();
        let names: Vec<&str> = first["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["default", "ns-a"]);
        assert_eq!(first["pagination"]["cursor"], "ns-a");
        let second = http(addr, "GET", "/namespaces?limit=2&cursor=ns-a", &[], "")
            .await
            .json();
        let names: Vec<&str> = second["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["ns-b", "ns-c"]);
    });
}

#[test]
fn runner_configs_page_by_name() {
    let gw = start("config-pages");
    let addr = gw.addr();
    smol::block_on(async {
        for name in ["pool-c", "pool-a", "pool-b"] {
            let reply = http(
                addr,
                "PUT",
                &format!("/runner-configs/{name}?namespace=default"),
                &[("content-type", "application/json")],
                r#"{"datacenters":{"default":{"normal":{}}}}"#,
            )
            .await;
            assert_eq!(reply.status, 200, "{}", reply.body);
        }
        let first = http(
            addr,
            "GET",
            "/runner-configs?namespace=default&limit=2",
            &[],
            "",
        )
        .await
        .json();
        let names: Vec<&String> = first["runner_configs"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(names, ["pool-a", "pool-b"]);
        assert_eq!(first["pagination"]["cursor"], "pool-b");
        let rest = http(
            addr,
            "GET",
            "/runner-configs?namespace=default&limit=2&cursor=pool-b",
            &[],
            "",
        )
        .await
        .json();
        let names: Vec<&String> = rest["runner_configs"].as_object().unwrap().keys().collect();
        assert_eq!(names, ["pool-c"]);
    });
}
