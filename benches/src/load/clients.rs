//! Load clients: WebSocket echo loops that measure round trips.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::client::IntoClientRequest as _;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use futures_util::{SinkExt as _, StreamExt as _};
use smol::net::TcpStream;

use super::stats::Latencies;

/// A client WebSocket.
pub type Ws = WebSocketStream<TcpStream>;

fn epoch() -> Instant {
    static T0: OnceLock<Instant> = OnceLock::new();
    *T0.get_or_init(Instant::now)
}

/// A payload of `size` bytes (at least 8) stamped with the send time.
fn stamped(size: usize) -> Message {
    let mut b = vec![0u8; size.max(8)];
    let ns = u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX);
    b[..8].copy_from_slice(&ns.to_be_bytes());
    Message::binary(b)
}

fn age(msg: &Message) -> Option<Duration> {
    let Message::Binary(b) = msg else { return None };
    let ns = u64::from_be_bytes(b.get(..8)?.try_into().ok()?);
    let now = u64::try_from(epoch().elapsed().as_nanos()).ok()?;
    Some(Duration::from_nanos(now.saturating_sub(ns)))
}

/// Opens `url` (`ws://host:port/path`).
pub async fn connect(url: &str) -> Result<Ws, String> {
    let req = url.into_client_request().map_err(|e| e.to_string())?;
    let host = req
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .ok_or("no host")?;
    let tcp = TcpStream::connect(host.as_str())
        .await
        .map_err(|e| e.to_string())?;
    let _ = tcp.set_nodelay(true);
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (ws, _) = async_tungstenite::client_async_with_config(req, tcp, Some(config))
        .await
        .map_err(|e| e.to_string())?;
    Ok(ws)
}

/// Keeps `window` messages of `size` bytes in flight on `ws` until `until`; returns the
/// round trips.
pub async fn echo_window(mut ws: Ws, window: usize, size: usize, until: Instant) -> Latencies {
    let mut lat = Latencies::default();
    for _ in 0..window {
        if ws.feed(stamped(size)).await.is_err() {
            return lat;
        }
    }
    if ws.flush().await.is_err() {
        return lat;
    }
    let mut outstanding = window;
    while outstanding > 0 {
        let Some(Ok(msg)) = ws.next().await else {
            break;
        };
        let Some(rtt) = age(&msg) else { continue };
        lat.push(rtt);
        outstanding -= 1;
        if Instant::now() < until {
            if ws.send(stamped(size)).await.is_err() {
                break;
            }
            outstanding += 1;
        }
    }
    let _ = ws.close(None).await;
    lat
}

/// One message at a time, `n` times.
pub async fn ping_pong(mut ws: Ws, n: usize, size: usize) -> Latencies {
    let mut lat = Latencies::default();
    for _ in 0..n {
        if ws.send(stamped(size)).await.is_err() {
            break;
        }
        loop {
            match ws.next().await {
                Some(Ok(msg)) => {
                    if let Some(rtt) = age(&msg) {
                        lat.push(rtt);
                        break;
                    }
                }
                _ => return lat,
            }
        }
    }
    let _ = ws.close(None).await;
    lat
}

/// One stamped message and its echo (for wake latency).
pub async fn one_round_trip(ws: &mut Ws, size: usize) -> Option<Duration> {
    ws.send(stamped(size)).await.ok()?;
    loop {
        let msg = ws.next().await?.ok()?;
        if let Some(rtt) = age(&msg) {
            return Some(rtt);
        }
    }
}
