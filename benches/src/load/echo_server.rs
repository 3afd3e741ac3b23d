//! The no-gateway baselines: a direct smol + async-tungstenite echo server, and a bare relay
//! in front of it. Both are configured like the gateway's client sockets (same buffers, one
//! flush per batch).

use std::net::SocketAddr;

use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::{Error as WsError, Message};
use futures_util::{FutureExt as _, Sink, SinkExt as _, Stream, StreamExt as _};
use smol::net::{TcpListener, TcpStream};

use super::clients::connect;

/// Serves WebSocket echo on `listener` until the process ends.
pub async fn serve(listener: TcpListener) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        smol::spawn(async move {
            let Some(ws) = accept(tcp).await else { return };
            let (tx, rx) = ws.split();
            forward(rx, tx).await;
        })
        .detach();
    }
}

/// Serves a relay on `listener`: each client gets its own connection to the echo server at
/// `upstream`, and messages are copied both ways with no other work. Client → relay → echo →
/// relay → client is as many socket hops as client → Torpor → runner → Torpor → client, so
/// this is the floor for any gateway on the same machine.
pub async fn serve_relay(listener: TcpListener, upstream: SocketAddr) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        smol::spawn(async move {
            let Some(client) = accept(tcp).await else {
                return;
            };
            let Ok(server) = connect(&format!("ws://{upstream}/relay")).await else {
                return;
            };
            let (client_tx, client_rx) = client.split();
            let (server_tx, server_rx) = server.split();
            smol::future::or(forward(client_rx, server_tx), forward(server_rx, client_tx)).await;
        })
        .detach();
    }
}

async fn accept(tcp: TcpStream) -> Option<async_tungstenite::WebSocketStream<TcpStream>> {
    let config = WebSocketConfig::default()
        .read_buffer_size(1024)
        .write_buffer_size(64 * 1024);
    async_tungstenite::accept_async_with_config(tcp, Some(config))
        .await
        .ok()
}

/// Copies data messages from `rx` to `tx` until either ends. Everything read in one go goes
/// out with one flush, as the gateway's writer does.
async fn forward<R, T>(mut rx: R, mut tx: T)
where
    R: Stream<Item = Result<Message, WsError>> + Unpin,
    T: Sink<Message> + Unpin,
{
    let data = |m: &Message| matches!(m, Message::Text(_) | Message::Binary(_));
    while let Some(Ok(msg)) = rx.next().await {
        if msg.is_close() {
            break;
        }
        if !data(&msg) {
            continue;
        }
        if tx.feed(msg).await.is_err() {
            return;
        }
        while let Some(Some(Ok(more))) = rx.next().now_or_never() {
            if data(&more) && tx.feed(more).await.is_err() {
                return;
            }
        }
        if tx.flush().await.is_err() {
            return;
        }
    }
}

/// Binds loopback on an ephemeral port.
pub async fn bind() -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}
