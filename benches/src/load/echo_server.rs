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

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use futures_util::{SinkExt as _, StreamExt as _};

    use super::*;

    /// The baselines are what the gateway is judged against: each must echo every message, in
    /// order, and the relay must really go through the echo server.
    #[test]
    fn the_relay_and_the_echo_server_echo_every_message_in_order() {
        smol::block_on(async {
            let (echo, echo_addr) = bind().await.unwrap();
            smol::spawn(serve(echo)).detach();
            let (relay, relay_addr) = bind().await.unwrap();
            smol::spawn(serve_relay(relay, echo_addr)).detach();
            for addr in [echo_addr, relay_addr] {
                let mut ws = connect(&format!("ws://{addr}/t")).await.unwrap();
                for i in 0..100u32 {
                    ws.feed(Message::binary(i.to_be_bytes().to_vec()))
                        .await
                        .unwrap();
                }
                ws.flush().await.unwrap();
                for i in 0..100u32 {
                    let msg = ws.next().await.unwrap().unwrap();
                    assert_eq!(msg.into_data().as_ref(), i.to_be_bytes(), "via {addr}");
                }
            }
            // With the echo server gone, the relay has nothing to echo from.
            let (dead, dead_addr) = bind().await.unwrap();
            drop(dead);
            let (relay, relay_addr) = bind().await.unwrap();
            smol::spawn(serve_relay(relay, dead_addr)).detach();
            let mut ws = connect(&format!("ws://{relay_addr}/t")).await.unwrap();
            let _ = ws.send(Message::binary(vec![1])).await;
            let deadline = Instant::now() + Duration::from_secs(5);
            let got = smol::future::or(async { ws.next().await.and_then(Result::ok) }, async {
                smol::Timer::at(deadline).await;
                None
            })
            .await;
            assert!(
                !matches!(got, Some(Message::Binary(_))),
                "a relay without an upstream echoed {got:?}"
            );
        });
    }
}
