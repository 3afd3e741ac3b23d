//! Established WebSockets: one task per client socket (its reader, with its writer polled
//! beside it), a reader task and a writer task per runner connection.
//!
//! The reader turns frames into core events (and stops reading while the core has paused the
//! socket); the writer drains the socket's queue, coalescing everything queued into one flush.

use std::collections::VecDeque;
use std::future::{Future, Ready};
use std::net::Shutdown;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use async_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::{CloseFrame as WsCloseFrame, WebSocketConfig};
use async_tungstenite::tungstenite::{Error as WsError, Message};
use async_tungstenite::{WebSocketReceiver, WebSocketSender, WebSocketStream};
use futures_util::future::Either;
use futures_util::{SinkExt as _, StreamExt as _};
use smol::channel::{Sender, TrySendError};
use smol::future;
use smol::io::AsyncReadExt as _;
use smol::net::TcpStream;
use smol::{Async, Executor, Timer};
use torpor_core::{ClientFrame, ClientId, CloseFrame, Input, RunnerConnId};
use tracing::debug;

use crate::links::{Event, WsOut};
use crate::metrics::AdapterMetrics;
use crate::outbox::Outbox;

/// Largest WebSocket message accepted from anyone (RFC 6455 close 1009 beyond).
pub(crate) const MAX_MESSAGE: usize = 32 << 20;

/// Idle client sockets are the common case: a small read buffer keeps them cheap
/// (tungstenite's default is 128 KiB per socket, allocated up front). A frame larger than this
/// still arrives whole (the buffer grows to the frame), in reads of this size: against 1 KiB,
/// an idle socket costs 500 B less and an 8 KiB frame about 10 % more server CPU
/// (BENCHMARKS.md, 2026-12-07 fourth session); frames of a few hundred bytes, the usual
/// actor traffic, cost the same.
pub(crate) const CLIENT_READ_BUFFER: usize = 512;

/// Runner connections are few and carry every actor's traffic: one read takes a whole burst
/// of frames instead of a kilobyte of it.
pub(crate) const RUNNER_READ_BUFFER: usize = 64 * 1024;

/// Frames queued below this many bytes stay in tungstenite's buffer until the batch's flush.
const WRITE_COALESCE: usize = 64 * 1024;

/// Flush at least this often within one long batch, so a burst cannot grow memory unbounded.
const FLUSH_EVERY: usize = 256 * 1024;

/// How long a peer gets to answer our close frame before the TCP connection is cut.
pub(crate) const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// An established WebSocket, already split: the halves are a pointer each, where the whole
/// stream is 400 bytes that a task holding it as an argument would keep for the socket's life.
pub(crate) struct Socket {
    pub(crate) tx: WebSocketSender<TcpStream>,
    pub(crate) rx: WebSocketReceiver<TcpStream>,
    /// The connection itself, for shutting it down: a bare handle, since a `TcpStream` is
    /// 120 bytes (it carries two readiness futures) kept in every socket's task.
    pub(crate) tcp: TcpHandle,
}

/// A shared handle on a TCP connection.
pub(crate) type TcpHandle = Arc<Async<std::net::TcpStream>>;

impl Socket {
    pub(crate) fn new(ws: WebSocketStream<TcpStream>, tcp: TcpStream) -> Self {
        let (tx, rx) = ws.split();
        Self {
            tx,
            rx,
            tcp: tcp.into(),
        }
    }
}

/// Settings for every WebSocket the gateway serves.
pub(crate) fn ws_config(read_buffer: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(read_buffer)
        .write_buffer_size(WRITE_COALESCE)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
}

/// Why a read ended, as the close the gateway sends (or `None`: the peer is simply gone).
fn read_error_close(e: &WsError, metrics: &AdapterMetrics, client: bool) -> Option<CloseFrame> {
    let (code, reason) = match e {
        // The peer just went away; nothing to answer.
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => return None,
        WsError::Capacity(CapacityError::MessageTooLong { .. }) => {
            if client {
                metrics
                    .client_oversize_frames
                    .fetch_add(1, Ordering::Relaxed);
            }
            (1009, "torpor.message_too_big")
        }
        WsError::Utf8(_) => {
            if client {
                metrics.client_invalid_utf8.fetch_add(1, Ordering::Relaxed);
            }
            (1007, "torpor.invalid_utf8")
        }
        WsError::Protocol(_) | WsError::Capacity(_) => {
            if client {
                metrics
                    .client_protocol_errors
                    .fetch_add(1, Ordering::Relaxed);
            }
            (1002, "torpor.protocol_error")
        }
        _ => return None,
    };
    if client {
        metrics.count_close(code);
    } else {
        metrics
            .runner_protocol_errors
            .fetch_add(1, Ordering::Relaxed);
    }
    Some(CloseFrame::new(code, reason))
}

/// Runs a client WebSocket until it ends; reports every frame and the end to the core task.
/// Reading and writing share this one task (the writer is polled beside the reader), so an
/// idle socket costs one task, not two.
pub(crate) fn run_client(
    socket: Socket,
    client: ClientId,
    outbox: Arc<Outbox>,
    events: Sender<Event>,
    metrics: Arc<AdapterMetrics>,
) -> impl Future<Output = ()> + Send {
    // Not an `async fn`: one stores its arguments twice (as given, and moved into locals). The
    // block below captures each once and uses the socket's parts in place.
    let mut socket = socket;
    async move {
        let mut writer = pin!(write_loop(&mut socket.tx, &outbox, &socket.tcp));
        let mut writing = true;
        let read_failed = {
            let reading = pin!(read_client(
                &mut socket.rx,
                client,
                &outbox,
                &events,
                &metrics
            ));
            beside_writer(reading, writer.as_mut(), &mut writing).await
        };
        let writer = writing.then_some(writer);
        // Boxed: it runs once, and inline it would enlarge every socket's task.
        Box::pin(finish(&outbox, writer, &socket.tcp, read_failed)).await;
    }
}

/// Reads client frames until the socket ends, handing each to the core task, then reports the
/// end (and answers the peer's close); whether the read failed on bad input (a close was
/// queued for the peer).
async fn read_client(
    rx: &mut WebSocketReceiver<TcpStream>,
    client: ClientId,
    outbox: &Outbox,
    events: &Sender<Event>,
    metrics: &AdapterMetrics,
) -> bool {
    let (close, read_failed) = loop {
        // The core let go: it closed the socket (the writer sends the close) or shut down.
        if outbox.is_detached() {
            break (None, false);
        }
        let paused = outbox.is_paused();
        if paused {
            outbox.control_changed(true).await;
            continue;
        }
        // The frame first: while frames are waiting, the pause watch is never polled, so it
        // costs nothing per message (a pause is seen at the top of the next turn).
        let next = {
            let mut changed = pin!(outbox.control_changed(false));
            future::poll_fn(|cx| match rx.poll_next_unpin(cx) {
                Poll::Ready(msg) => Poll::Ready(Some(msg)),
                Poll::Pending => changed.as_mut().poll(cx).map(|()| None),
            })
            .await
        };
        let Some(msg) = next else { continue };
        let frame = match msg {
            Some(Ok(Message::Text(t))) => ClientFrame::Text(t.as_str().to_owned()),
            Some(Ok(Message::Binary(b))) => ClientFrame::Binary(b.into()),
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            Some(Ok(Message::Close(frame))) => {
                let close = frame.map_or_else(
                    || CloseFrame::new(1005, ""),
                    |f| CloseFrame::new(f.code.into(), f.reason.as_str()),
                );
                break (Some(close), false);
            }
            Some(Err(e)) => {
                let close = read_error_close(&e, metrics, true);
                debug!(%client, error = %e, "client read ended");
                let failed = close.is_some();
                if let Some(close) = &close {
                    outbox.push(WsOut::Close(close.clone()));
                }
                break (close, failed);
            }
            None => break (None, false),
        };
        // Counted before the core task can take it, so its `taken` never runs ahead.
        let unread = outbox.handed(frame.len());
        if !hand(events, Event::Input(Input::ClientMessage { client, frame })).await {
            break (None, false);
        }
        if unread >= crate::outbox::READ_AHEAD {
            outbox.read_ahead_room().await;
        }
    };
    let peer_closed = close.is_some() && !read_failed;
    hand(events, Event::Input(Input::ClientClosed { client, close })).await;
    // Boxed: it runs once, and inline it would enlarge every socket's task.
    if peer_closed {
        Box::pin(answer_close(rx)).await;
    }
    read_failed
}

/// Runs `main` to its end while also polling the socket's writer (until the writer ends; then
/// `writing` turns false). Both are pinned by the caller: passed by value, each would be
/// stored again in this future.
fn beside_writer<'a, T>(
    mut main: Pin<&'a mut impl Future<Output = T>>,
    mut writer: Pin<&'a mut impl Future<Output = ()>>,
    writing: &'a mut bool,
) -> impl Future<Output = T> + 'a {
    future::poll_fn(move |cx| {
        if *writing && writer.as_mut().poll(cx).is_ready() {
            *writing = false;
        }
        main.as_mut().poll(cx)
    })
}

/// Hands an event to the core task; `false` once the core task is gone. Not an `async fn`:
/// one would hold the event across its await, enlarging every socket's task by an event for a
/// wait (a full queue) that is rare; that wait is boxed instead.
fn hand(events: &Sender<Event>, event: Event) -> Either<Ready<bool>, HandWait<'_>> {
    match events.try_send(event) {
        Ok(()) => Either::Left(future::ready(true)),
        Err(TrySendError::Full(event)) => {
            Either::Right(Box::pin(async move { events.send(event).await.is_ok() }))
        }
        Err(TrySendError::Closed(_)) => Either::Left(future::ready(false)),
    }
}

/// [`hand`]'s wait for room in the core task's queue.
type HandWait<'a> = Pin<Box<dyn Future<Output = bool> + Send + 'a>>;

/// The peer sent a close: tungstenite queued the reply, and the next read sends it (then
/// reports the connection closed). Bounded, for a peer that stops reading.
async fn answer_close(rx: &mut WebSocketReceiver<TcpStream>) {
    future::or(
        async { while let Some(Ok(_)) = rx.next().await {} },
        async {
            Timer::after(CLOSE_GRACE).await;
        },
    )
    .await;
}

/// After the reader ended: the writer finishes what is queued (a close, usually), but a writer
/// stuck on a peer that does not read is cut off. After a close for bad input (`linger`), what
/// the peer still sends is read and dropped for a while, so closing the socket does not reset
/// the connection before the peer has read our close frame.
async fn finish(
    outbox: &Outbox,
    writer: Option<impl Future<Output = ()>>,
    tcp: &TcpHandle,
    linger: bool,
) {
    outbox.producer_done();
    if let Some(writer) = writer {
        future::or(writer, async {
            Timer::after(CLOSE_GRACE * 2).await;
        })
        .await;
    }
    if linger {
        let mut reader: &Async<std::net::TcpStream> = tcp;
        future::or(
            async {
                // On the heap: a buffer here would make every socket's task this much bigger.
                let mut sink = vec![0u8; 4096];
                while matches!(reader.read(&mut sink).await, Ok(n) if n > 0) {}
            },
            async {
                Timer::after(CLOSE_GRACE).await;
            },
        )
        .await;
    }
    let _ = tcp.get_ref().shutdown(Shutdown::Both);
}

/// Asks the kernel to acknowledge what the runner sent without the delayed-ACK wait (up to
/// 40 ms on Linux). A runner that leaves Nagle's algorithm on (RivetKit 2.3's envoy does) holds
/// its next small frame until its last one is acknowledged, so an actor answering with two
/// frames (a WebSocket echo and its ack, an action result after an ack) would wait for that
/// timer on every exchange. Measured with RivetKit 2.3.19: an action over a connection took
/// 41 ms without this. The kernel leaves quick-ACK mode on its own, so it is asked again for
/// every frame (one `setsockopt`).
fn ack_at_once(tcp: &TcpHandle) {
    #[cfg(target_os = "linux")]
    {
        let _ = rustix::net::sockopt::set_tcp_quickack(tcp.get_ref(), true);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = tcp;
}

/// Runs a runner WebSocket until it ends.
pub(crate) async fn run_runner(
    ex: &Executor<'static>,
    socket: Socket,
    conn: RunnerConnId,
    outbox: Arc<Outbox>,
    events: Sender<Event>,
    metrics: Arc<AdapterMetrics>,
) {
    let Socket { tx, mut rx, tcp } = socket;
    // A task of its own: a runner link carries every actor's traffic, and its writes should
    // not wait for its reads to be handed over.
    let writer = ex.spawn({
        let (mut tx, outbox, tcp) = (tx, Arc::clone(&outbox), tcp.clone());
        async move { write_loop(&mut tx, &outbox, &tcp).await }
    });
    let mut read_failed = false;
    while let Some(msg) = rx.next().await {
        let event = match msg {
            Ok(Message::Binary(b)) => {
                ack_at_once(&tcp);
                Input::RunnerBytes {
                    conn,
                    bytes: b.into(),
                }
            }
            Ok(Message::Text(_)) => Input::RunnerText { conn },
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => continue,
            Ok(Message::Close(_)) => {
                Box::pin(answer_close(&mut rx)).await;
                break;
            }
            Err(e) => {
                debug!(%conn, error = %e, "runner read ended");
                if let Some(close) = read_error_close(&e, &metrics, false) {
                    read_failed = true;
                    outbox.push(WsOut::Close(close));
                }
                break;
            }
        };
        if !hand(&events, Event::Input(event)).await {
            break;
        }
    }
    hand(&events, Event::Input(Input::RunnerClosed { conn })).await;
    drop(rx);
    Box::pin(finish(&outbox, Some(writer), &tcp, read_failed)).await;
}

/// Writes queued frames; everything queued at a wake goes out with one flush. Ends after a
/// close frame (cutting the connection if the peer does not finish the close handshake in
/// time) or when nothing more can be queued.
async fn write_loop(tx: &mut WebSocketSender<TcpStream>, outbox: &Outbox, tcp: &TcpHandle) {
    let mut items = VecDeque::new();
    while outbox.ready().await {
        outbox.take(&mut items);
        let mut batch = 0usize;
        let mut close = None;
        while let Some(item) = items.pop_front() {
            let n = item.len();
            let msg = match item {
                WsOut::Binary(b) => Message::Binary(b),
                WsOut::Text(t) => Message::Text(t.into()),
                WsOut::Close(c) => {
                    close = Some(c);
                    break;
                }
            };
            if tx.feed(msg).await.is_err() {
                return;
            }
            batch += n;
            if batch >= FLUSH_EVERY {
                if tx.flush().await.is_err() {
                    return;
                }
                outbox.sent(batch);
                batch = 0;
            }
        }
        if tx.flush().await.is_err() {
            return;
        }
        outbox.sent(batch);
        if let Some(c) = close {
            // Boxed: it runs once, and inline it would enlarge every socket's task.
            Box::pin(send_close(tx, outbox, c)).await;
            // Half-close: the peer sees the end after our close frame; the reader side
            // closes the socket once it is done.
            let _ = tcp.get_ref().shutdown(Shutdown::Write);
            return;
        }
    }
}

/// Sends our close frame, then drops whatever is queued after it until the peer answers (the
/// reader ends then) or the grace period ends. Bounded: a peer that stopped reading cannot
/// hold the close (or the socket) open.
async fn send_close(tx: &mut WebSocketSender<TcpStream>, outbox: &Outbox, close: CloseFrame) {
    let frame = WsCloseFrame {
        code: CloseCode::from(close.code),
        reason: close.reason.into(),
    };
    let sent = future::or(
        async { tx.send(Message::Close(Some(frame))).await.is_ok() },
        async {
            Timer::after(CLOSE_GRACE).await;
            false
        },
    )
    .await;
    if sent {
        let mut items = VecDeque::new();
        future::or(
            async {
                while outbox.ready().await {
                    items.clear();
                    outbox.take(&mut items);
                }
            },
            async {
                Timer::after(CLOSE_GRACE).await;
            },
        )
        .await;
    }
}
