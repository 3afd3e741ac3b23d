//! The no-gateway upper bound: a direct smol + async-tungstenite echo server, configured like
//! the gateway's client sockets (same buffers, one task per direction).

use std::net::SocketAddr;

use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use futures_util::{FutureExt as _, SinkExt as _, StreamExt as _};
use smol::net::{TcpListener, TcpStream};

/// Serves WebSocket echo on `listener` until the process ends.
pub async fn serve(listener: TcpListener) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        smol::spawn(echo(tcp)).detach();
    }
}

async fn echo(tcp: TcpStream) {
    let config = WebSocketConfig::default()
        .read_buffer_size(1024)
        .write_buffer_size(64 * 1024);
    let Ok(ws) = async_tungstenite::accept_async_with_config(tcp, Some(config)).await else {
        return;
    };
    let (mut tx, mut rx) = ws.split();
    // Everything read in one go is echoed with one flush, as the gateway's writer does.
    while let Some(Ok(msg)) = rx.next().await {
        let msg = match msg {
            Message::Text(_) | Message::Binary(_) => msg,
            Message::Close(_) => break,
            _ => continue,
        };
        if tx.feed(msg).await.is_err() {
            return;
        }
        while let Some(Some(Ok(more))) = rx.next().now_or_never() {
            if matches!(more, Message::Text(_) | Message::Binary(_)) && tx.feed(more).await.is_err()
            {
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
