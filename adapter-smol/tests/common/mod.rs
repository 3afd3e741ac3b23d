//! Shared by the integration tests: a gateway on loopback, an HTTP client, WebSocket clients.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::client::IntoClientRequest as _;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::{Error as WsError, Message};
use bytes::Bytes;
use futures_util::StreamExt as _;
use http_body_util::{BodyExt as _, Full};
use hyper::Request;
use smol::net::TcpStream;
use smol_hyper::rt::FuturesIo;
use torpor_runner_kit::{RunnerConfig, RunnerEvent, TestRunner};
use torpor_smol::config::ServeConfig;
use torpor_smol::runtime::Background;

/// A fresh database path under the system temp dir.
pub fn temp_db(tag: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "torpor-it-{}-{}-{}",
        std::process::id(),
        tag,
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join("torpor.db")
}

/// Resolved settings for a loopback gateway on an ephemeral port.
pub fn config(tag: &str, edit: impl FnOnce(&mut ServeConfig)) -> ServeConfig {
    let mut config = ServeConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        database: temp_db(tag),
        seed: Some(7),
        ..ServeConfig::default()
    };
    edit(&mut config);
    config.core.validate().expect("valid core config");
    config
}

/// A gateway on its own threads.
pub fn start(tag: &str) -> Background {
    start_with(config(tag, |_| {}))
}

pub fn start_with(config: ServeConfig) -> Background {
    Background::start(config, 2).expect("gateway starts")
}

pub fn ws_base(addr: SocketAddr) -> String {
    format!("ws://{addr}")
}

/// A runner on the default pool.
pub async fn runner(addr: SocketAddr) -> TestRunner {
    TestRunner::connect(RunnerConfig::new(ws_base(addr)))
        .await
        .expect("runner connects")
}

/// An HTTP response, read whole.
pub struct Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// One HTTP/1.1 request on a fresh connection.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (mut send, conn) = hyper::client::conn::http1::handshake(FuturesIo::new(tcp))
        .await
        .expect("handshake");
    let driver = smol::spawn(async move {
        let _ = conn.await;
    });
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("request");
    let resp = send.send_request(req).await.expect("response");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    drop(driver);
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// Creates an actor (`POST /actors`) and returns its id.
pub async fn create_actor(addr: SocketAddr, name: &str, key: &str) -> String {
    let reply = http(
        addr,
        "POST",
        "/actors?namespace=default",
        &[],
        &format!(
            r#"{{"name":"{name}","key":"{key}","runner_name_selector":"default","crash_policy":"sleep"}}"#
        ),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["actor"]["actor_id"]
        .as_str()
        .expect("actor id")
        .to_owned()
}

pub type Client = WebSocketStream<TcpStream>;

/// A client WebSocket to `/gateway/{actor}{path}`.
pub async fn client(addr: SocketAddr, actor: &str, path: &str) -> Result<Client, WsError> {
    let tcp = TcpStream::connect(addr).await.map_err(WsError::Io)?;
    let req = format!("ws://{addr}/gateway/{actor}{path}").into_client_request()?;
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (ws, _) = async_tungstenite::client_async_with_config(req, tcp, Some(config)).await?;
    Ok(ws)
}

/// `fut`'s output, or `None` if it takes longer than `timeout`.
pub async fn within<T>(timeout: Duration, fut: impl Future<Output = T>) -> Option<T> {
    smol::future::or(async { Some(fut.await) }, async {
        smol::Timer::after(timeout).await;
        None
    })
    .await
}

/// The next data or close message, within `timeout`.
pub async fn next<S>(ws: &mut S, timeout: Duration) -> Option<Message>
where
    S: futures_util::Stream<Item = Result<Message, WsError>> + Unpin,
{
    let message = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(m)) => return Some(m),
                _ => return None,
            }
        }
    };
    within(timeout, message).await.flatten()
}

/// The close code a client got, if the next message is a close.
pub async fn close_code(ws: &mut Client, timeout: Duration) -> Option<u16> {
    match next(ws, timeout).await {
        Some(Message::Close(Some(f))) => Some(f.code.into()),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

pub const WAIT: Duration = Duration::from_secs(10);

/// Messages delivered to the runner for `actor`, in order.
pub fn delivered(events: &[RunnerEvent], actor: &str) -> Vec<Vec<u8>> {
    events
        .iter()
        .filter_map(|e| match e {
            RunnerEvent::WebSocketMessage { actor_id, data, .. } if actor_id == actor => {
                Some(data.clone())
            }
            _ => None,
        })
        .collect()
}

pub fn count_opens(events: &[RunnerEvent], actor: &str) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, RunnerEvent::WebSocketOpened { actor_id, .. } if actor_id == actor))
        .count()
}

pub fn count_starts(events: &[RunnerEvent], actor: &str) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, RunnerEvent::ActorStarted { actor_id, .. } if actor_id == actor))
        .count()
}

/// A metric's value from `/metrics`.
pub async fn metric(addr: SocketAddr, name: &str) -> u64 {
    let page = http(addr, "GET", "/metrics", &[], "").await.body;
    page.lines()
        .find_map(|l| l.strip_prefix(&format!("torpor_{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("metric {name} missing"))
}

/// Waits (up to [`WAIT`]) until a metric is at least `at_least`; returns its value then.
pub async fn metric_reaches(addr: SocketAddr, name: &str, at_least: u64) -> u64 {
    let deadline = Instant::now() + WAIT;
    loop {
        let value = metric(addr, name).await;
        if value >= at_least {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "metric {name} stayed at {value}, below {at_least}"
        );
        smol::Timer::after(Duration::from_millis(20)).await;
    }
}

/// The request id of the actor's first fresh socket.
pub fn opened_request(events: &[RunnerEvent], actor: &str) -> [u8; 4] {
    events
        .iter()
        .find_map(|e| match e {
            RunnerEvent::WebSocketOpened {
                actor_id,
                request_id,
                ..
            } if actor_id == actor => Some(*request_id),
            _ => None,
        })
        .expect("socket opened")
}

/// Every start of the actor: (generation, hibernating request ids listed).
pub fn starts(events: &[RunnerEvent], actor: &str) -> Vec<(u32, Vec<[u8; 4]>)> {
    events
        .iter()
        .filter_map(|e| match e {
            RunnerEvent::ActorStarted {
                actor_id,
                generation,
                hibernating,
            } if actor_id == actor => Some((*generation, hibernating.clone())),
            _ => None,
        })
        .collect()
}

/// `group.code` of an error reply, checked against its `x-rivet-error` header.
pub fn error_name(reply: &Reply) -> String {
    let v = reply.json();
    let name = format!(
        "{}.{}",
        v["group"].as_str().expect("group"),
        v["code"].as_str().expect("code")
    );
    assert_eq!(
        reply.headers["x-rivet-error"].to_str().expect("header"),
        name,
        "{}",
        reply.body
    );
    name
}
