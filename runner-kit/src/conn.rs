//! The connection: the WebSocket handshake, one reader and one writer task, and the test's
//! handle ([`TestRunner`]) around the shared [`Process`].

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::http::HeaderValue;
use async_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::{Error as WsError, Message};
use async_tungstenite::{WebSocketReceiver, WebSocketSender};
use futures_util::{SinkExt as _, StreamExt};
use smol::channel::{Receiver, Sender};
use smol::net::TcpStream;
use torpor_protocol::v7::ToClient;

use super::process::Process;
use super::{ActorStorage, RunnerConfig, RunnerError, RunnerEvent};

/// How long `connect` and `reconnect` wait for `ToClientInit`.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Poll period of [`TestRunner::wait_for`] and the init wait.
const POLL: Duration = Duration::from_millis(5);

/// Frames up to this size are accepted from the gateway (the protocol allows 32 MiB values).
const MAX_FRAME: usize = 64 * 1024 * 1024;

/// The process and its current connection's writer, behind one lock: every step of the
/// process hands the frames it queued to the writer before the lock is released, so the order
/// in which the state changed is the order on the wire.
struct Link {
    process: Process,
    /// The writer task's queue while a connection is attached.
    writer: Option<Sender<Message>>,
}

impl Link {
    /// Hands the frames the process queued to the writer. The writer's queue goes when the
    /// process detached (the writer then closes the connection) or the writer is gone.
    fn flush(&mut self) {
        for bytes in self.process.take_output() {
            if let Some(tx) = &self.writer {
                if tx.try_send(Message::binary(bytes)).is_err() {
                    self.writer = None;
                }
            }
        }
        if !self.process.is_connected() {
            self.writer = None;
        }
    }
}

type Shared = Arc<Mutex<Link>>;

fn lock(shared: &Shared) -> MutexGuard<'_, Link> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs one step of the process and hands what it sent to the writer.
fn step<R>(shared: &Shared, f: impl FnOnce(&mut Process) -> R) -> R {
    let mut link = lock(shared);
    let result = f(&mut link.process);
    link.flush();
    result
}

/// How the current connection ended, written by its reader task.
#[derive(Debug, Default)]
struct ConnEnd {
    ended: bool,
    close: Option<(u16, String)>,
}

/// A connected runner process hosting echo actors. Dropping it drops the connection abruptly.
pub struct TestRunner {
    shared: Shared,
    end: Arc<Mutex<ConnEnd>>,
    /// Closed (all senders dropped) when the reader task ends.
    done: Receiver<()>,
    tcp: TcpStream,
    reader: smol::Task<()>,
    writer: smol::Task<()>,
}

/// A runner process between connections (after [`TestRunner::disconnect`]): its actors, event
/// history and indices, waiting for [`TestRunner::reconnect`].
pub struct DetachedRunner {
    shared: Shared,
}

impl DetachedRunner {
    /// Everything the runner observed so far.
    pub fn events(&self) -> Vec<RunnerEvent> {
        lock(&self.shared).process.log.clone()
    }

    /// The process's actor storage.
    pub fn storage(&self) -> ActorStorage {
        lock(&self.shared).process.storage.clone()
    }

    /// Actors still hosted, with generation.
    pub fn running(&self) -> Vec<(String, u32)> {
        lock(&self.shared).process.running()
    }
}

impl fmt::Debug for TestRunner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let link = lock(&self.shared);
        let p = &link.process;
        f.debug_struct("TestRunner")
            .field("runner_key", &p.config.runner_key)
            .field("runner_id", &p.runner_id)
            .field("running", &p.running())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for DetachedRunner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let link = lock(&self.shared);
        let p = &link.process;
        f.debug_struct("DetachedRunner")
            .field("runner_key", &p.config.runner_key)
            .field("running", &p.running())
            .finish_non_exhaustive()
    }
}

impl TestRunner {
    /// Connects, sends `ToServerInit` and waits for `ToClientInit`. A refused upgrade is an
    /// error naming the HTTP status and body.
    pub async fn connect(config: RunnerConfig) -> Result<Self, RunnerError> {
        Self::connect_with(config, ActorStorage::default()).await
    }

    /// Same, with actor storage shared with an earlier runner process (a new process taking
    /// over actors, or the same key reconnecting).
    pub async fn connect_with(
        config: RunnerConfig,
        storage: ActorStorage,
    ) -> Result<Self, RunnerError> {
        let link = Link {
            process: Process::new(config, storage),
            writer: None,
        };
        Self::open(Arc::new(Mutex::new(link))).await
    }

    /// The same runner process reconnecting after [`disconnect`](Self::disconnect): same key,
    /// its actors and event indices kept, `ToServerInit` sent again and un-acked events re-sent
    /// after `ToClientInit`. If the gateway answers with another runner id, or the process was
    /// away longer than `runnerLostThreshold`, its actors are force-stopped first, as the npm
    /// runner does.
    pub async fn reconnect(state: DetachedRunner) -> Result<Self, RunnerError> {
        Self::open(state.shared).await
    }

    async fn open(shared: Shared) -> Result<Self, RunnerError> {
        let (url, token) = {
            let link = lock(&shared);
            let p = &link.process;
            (p.config.connect_url(), p.config.token.clone())
        };
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| RunnerError(format!("bad runner URL {url}: {e}")))?;
        let protocols = match &token {
            Some(token) => format!("rivet, rivet_token.{token}"),
            None => "rivet".to_owned(),
        };
        let protocols = HeaderValue::from_str(&protocols)
            .map_err(|e| RunnerError(format!("token is not a valid header value: {e}")))?;
        request
            .headers_mut()
            .insert(SEC_WEBSOCKET_PROTOCOL, protocols);
        if request.uri().scheme_str() != Some("ws") {
            return Err(RunnerError(format!(
                "unsupported URL scheme in {url} (ws:// only)"
            )));
        }
        let host = request
            .uri()
            .host()
            .ok_or_else(|| RunnerError(format!("no host in {url}")))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = request.uri().port_u16().unwrap_or(80);
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| RunnerError(format!("connecting to {host}:{port}: {e}")))?;
        // Latency matters more than throughput here; failure only costs speed.
        let _ = tcp.set_nodelay(true);
        let ws_config = WebSocketConfig::default()
            .max_frame_size(Some(MAX_FRAME))
            .max_message_size(Some(MAX_FRAME));
        let (ws, _response) =
            async_tungstenite::client_async_with_config(request, tcp.clone(), Some(ws_config))
                .await
                .map_err(handshake_error)?;
        let (sink, stream) = ws.split();
        let (tx, rx) = smol::channel::unbounded();
        let (done_tx, done) = smol::channel::bounded::<()>(1);
        let end = Arc::new(Mutex::new(ConnEnd::default()));
        let seq = {
            let mut link = lock(&shared);
            link.writer = Some(tx);
            let seq = link.process.attach(Instant::now());
            link.flush();
            seq
        };
        let writer = smol::spawn(write_loop(sink, rx));
        let reader = smol::spawn(read_loop(
            stream,
            Arc::clone(&shared),
            seq,
            Arc::clone(&end),
            tcp.clone(),
            done_tx,
        ));
        let runner = Self {
            shared,
            end,
            done,
            tcp,
            reader,
            writer,
        };
        runner.wait_init(seq).await?;
        Ok(runner)
    }

    async fn wait_init(&self, seq: u64) -> Result<(), RunnerError> {
        let start = Instant::now();
        loop {
            {
                let link = lock(&self.shared);
                let p = &link.process;
                if p.inited && p.conn_seq == seq {
                    return Ok(());
                }
            }
            let ended = {
                let end = self.end.lock().unwrap_or_else(PoisonError::into_inner);
                end.ended.then(|| end.close.clone())
            };
            if let Some(close) = ended {
                let errors = lock(&self.shared).process.errors.clone();
                return Err(RunnerError(format!(
                    "connection ended before ToClientInit (close frame: {close:?}; errors: {errors:?})"
                )));
            }
            if start.elapsed() >= INIT_TIMEOUT {
                return Err(RunnerError(format!(
                    "no ToClientInit within {INIT_TIMEOUT:?}"
                )));
            }
            smol::Timer::after(POLL).await;
        }
    }

    /// The process's actor storage (hand it to [`connect_with`](Self::connect_with) to let a
    /// new process take over).
    pub fn storage(&self) -> ActorStorage {
        lock(&self.shared).process.storage.clone()
    }

    /// Everything observed so far, in order.
    pub fn events(&self) -> Vec<RunnerEvent> {
        lock(&self.shared).process.log.clone()
    }

    /// Protocol violations seen so far (undecodable or text frames, message index gaps).
    pub fn errors(&self) -> Vec<String> {
        lock(&self.shared).process.errors.clone()
    }

    /// The runner id from the last `ToClientInit`.
    pub fn runner_id(&self) -> Option<String> {
        lock(&self.shared).process.runner_id.clone()
    }

    /// The runner key this process connects with.
    pub fn runner_key(&self) -> String {
        lock(&self.shared).process.config.runner_key.clone()
    }

    /// Waits up to `timeout` until `pred` holds over the events; returns them then, or an
    /// error listing the events seen.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&[RunnerEvent]) -> bool,
    ) -> Result<Vec<RunnerEvent>, RunnerError> {
        let start = Instant::now();
        loop {
            let events = self.events();
            if pred(&events) {
                return Ok(events);
            }
            if start.elapsed() >= timeout {
                return Err(RunnerError(format!(
                    "condition not met within {timeout:?}; events: {events:#?}"
                )));
            }
            smol::Timer::after(POLL).await;
        }
    }

    /// Actors currently running on this runner, with generation.
    pub fn running(&self) -> Vec<(String, u32)> {
        lock(&self.shared).process.running()
    }

    /// The actor asks to sleep (`ActorIntent::Sleep`); it stops when the gateway sends
    /// `CommandStopActor`, reporting `Stopped{ERROR}`. Its hibernatable sockets stay open.
    /// Nothing happens if the actor is not running here.
    pub async fn sleep_actor(&self, actor_id: &str) {
        if !step(&self.shared, |p| p.sleep(actor_id)) {
            tracing::warn!(
                actor = actor_id,
                "test runner: sleep for an actor not running here"
            );
        }
    }

    /// Drops the TCP connection without a close frame and returns the process for
    /// [`reconnect`](Self::reconnect).
    pub async fn disconnect(self) -> DetachedRunner {
        // The peer sees the stream end without a close frame; errors mean it is already gone.
        let _ = self.tcp.shutdown(std::net::Shutdown::Both);
        self.reader.cancel().await;
        self.writer.cancel().await;
        step(&self.shared, |p| p.detach(p.conn_seq, Instant::now()));
        DetachedRunner {
            shared: self.shared,
        }
    }

    /// Sends one raw binary frame (e.g. malformed bytes).
    pub async fn send_raw(&self, bytes: Vec<u8>) {
        step(&self.shared, |p| p.send_raw(bytes));
    }

    /// Resolves when this connection ended; returns the close code and reason if the gateway
    /// sent a close frame.
    pub async fn closed(&self) -> Option<(u16, String)> {
        // `recv` fails once the reader task has ended and dropped the only sender.
        let _ = self.done.recv().await;
        self.end
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .close
            .clone()
    }

    /// Sends a message from the actor to a client socket (through the gateway). Logged and
    /// ignored if the socket is not open on this runner.
    pub async fn send_to_client(&self, request_id: [u8; 4], data: Vec<u8>, binary: bool) {
        if !step(&self.shared, |p| p.send_to_client(request_id, data, binary)) {
            tracing::warn!(
                ?request_id,
                "test runner: no open socket for send_to_client"
            );
        }
    }
}

/// A refused upgrade keeps its status and body; other failures their text.
fn handshake_error(e: WsError) -> RunnerError {
    match e {
        WsError::Http(response) => {
            let body = response
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            RunnerError(format!(
                "upgrade refused: HTTP {}: {body}",
                response.status()
            ))
        }
        other => RunnerError(format!("WebSocket handshake failed: {other}")),
    }
}

/// Writes queued frames until the link drops the sender or a write fails. Everything
/// queued at a wake goes out with one flush, as a production runner would batch: one
/// syscall per frame would make the runner, not the gateway, the cost under load.
async fn write_loop(mut sink: WebSocketSender<TcpStream>, rx: Receiver<Message>) {
    while let Ok(message) = rx.recv().await {
        let mut result = sink.feed(message).await;
        while result.is_ok() {
            let Ok(more) = rx.try_recv() else { break };
            result = sink.feed(more).await;
        }
        if let Err(e) = result.and(sink.flush().await) {
            tracing::debug!(error = %e, "test runner: write failed");
            return;
        }
    }
    // The connection is over; the peer may already be gone.
    let _ = sink.close(None).await;
}

/// Reads frames and feeds them to the process until the connection ends.
async fn read_loop(
    mut stream: WebSocketReceiver<TcpStream>,
    shared: Shared,
    seq: u64,
    end: Arc<Mutex<ConnEnd>>,
    tcp: TcpStream,
    done: Sender<()>,
) {
    let mut close = None;
    while let Some(message) = stream.next().await {
        match message {
            Ok(Message::Binary(bytes)) => match ToClient::decode(&bytes) {
                Ok(frame) => step(&shared, |p| p.handle(frame)),
                Err(e) => {
                    // The npm runner's process dies here; this one records it and hangs up.
                    lock(&shared)
                        .process
                        .errors
                        .push(format!("undecodable frame from the gateway: {e}"));
                    let _ = tcp.shutdown(std::net::Shutdown::Both);
                    break;
                }
            },
            Ok(Message::Text(text)) => {
                lock(&shared)
                    .process
                    .errors
                    .push(format!("text frame from the gateway: {:?}", text.as_str()));
                let _ = tcp.shutdown(std::net::Shutdown::Both);
                break;
            }
            Ok(Message::Close(frame)) => {
                close = frame.map(|f| (u16::from(f.code), f.reason.as_str().to_owned()));
            }
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
            Err(e) => {
                tracing::debug!(error = %e, "test runner: read failed");
                break;
            }
        }
    }
    {
        let mut end = end.lock().unwrap_or_else(PoisonError::into_inner);
        end.ended = true;
        end.close = close;
    }
    step(&shared, |p| p.detach(seq, Instant::now()));
    drop(done);
}
