//! A runner that speaks Rivet runner protocol v7 over a real WebSocket, for integration tests,
//! benches and load tools: it hosts actors behind a Torpor gateway the way
//! `@rivetkit/engine-runner@2.2.1` does, with a loss-free actor on top.
//!
//! The hosted actors echo: every client WebSocket message is persisted (its index, in
//! [`ActorStorage`]), echoed back and acked; every HTTP request gets `200` with the body
//! `"{method} {path}\n"` followed by the request body. Everything the runner observes is
//! recorded as a [`RunnerEvent`].
//!
//! ```no_run
//! # use torpor_runner_kit::{RunnerConfig, RunnerEvent, TestRunner};
//! # use std::time::Duration;
//! # smol::block_on(async {
//! let runner = TestRunner::connect(RunnerConfig::new("ws://127.0.0.1:6420")).await?;
//! runner
//!     .wait_for(Duration::from_secs(5), |e| {
//!         e.iter().any(|e| matches!(e, RunnerEvent::ActorStarted { .. }))
//!     })
//!     .await?;
//! # Ok::<(), torpor_runner_kit::RunnerError>(())
//! # });
//! ```
//!
//! Not published: test support only, kept out of the shipped crates.

mod conn;
mod gateway;
mod process;
#[cfg(test)]
mod tests;
mod tunnel;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use torpor_protocol::shared::{GatewayId, RequestId};
use torpor_protocol::v7::PROTOCOL_VERSION;

pub use conn::{DetachedRunner, TestRunner};
pub use gateway::GatewayProcess;
pub use tunnel::STREAM_CHUNK;

/// Where and as whom the runner connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerConfig {
    /// Gateway base URL, e.g. `ws://127.0.0.1:6420` (`http://` is turned into `ws://`; a path
    /// prefix is kept).
    pub base_url: String,
    /// Namespace query parameter.
    pub namespace: String,
    /// Runner name (`ToServerInit.name`).
    pub runner_name: String,
    /// Runner key: one per runner process, reused on every reconnect.
    pub runner_key: String,
    /// Token offered as the `rivet_token.{token}` subprotocol.
    pub token: Option<String>,
    /// Declared capacity (`ToServerInit.totalSlots`).
    pub total_slots: u32,
    /// What the actors answer to `canHibernate` for every new client WebSocket.
    pub can_hibernate: bool,
    /// Record every delivered message as a [`RunnerEvent::WebSocketMessage`] (load tools turn
    /// this off: millions of messages would pile up).
    pub record_messages: bool,
}

impl RunnerConfig {
    /// Namespace and runner name `default`, a key unique to this process and call, no token,
    /// 100,000 slots, hibernatable sockets.
    pub fn new(base_url: impl Into<String>) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Self {
            base_url: base_url.into(),
            namespace: "default".to_owned(),
            runner_name: "default".to_owned(),
            runner_key: format!("test-runner-{}-{n}-{nanos:08x}", std::process::id()),
            token: None,
            total_slots: 100_000,
            can_hibernate: true,
            record_messages: true,
        }
    }

    /// The runner socket URL, built as the npm runner builds it (§1.1).
    pub fn connect_url(&self) -> String {
        let base = if let Some(rest) = self.base_url.strip_prefix("http://") {
            format!("ws://{rest}")
        } else if let Some(rest) = self.base_url.strip_prefix("https://") {
            format!("wss://{rest}")
        } else {
            self.base_url.clone()
        };
        let base = base.strip_suffix('/').unwrap_or(&base);
        format!(
            "{base}/runners/connect?protocol_version={PROTOCOL_VERSION}&namespace={}&runner_key={}",
            uri_component(&self.namespace),
            uri_component(&self.runner_key)
        )
    }
}

/// `encodeURIComponent`.
fn uri_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A connection or wait failed; the text says why (for a refused upgrade: status and body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerError(pub String);

impl fmt::Display for RunnerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RunnerError {}

/// What the runner observed, in order (tests assert on these).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunnerEvent {
    /// `CommandStartActor` was processed (every start, including one that replaces an instance).
    ActorStarted {
        /// The actor.
        actor_id: String,
        /// Generation of the new instance.
        generation: u32,
        /// Request ids listed in `hibernatingRequests`, in order.
        hibernating: Vec<[u8; 4]>,
    },
    /// The instance stopped (on `CommandStopActor`, or force-stopped by the runner).
    ActorStopped {
        /// The actor.
        actor_id: String,
        /// Generation of the stopped instance.
        generation: u32,
    },
    /// A client WebSocket was opened (not reported for a socket restored after a wake).
    WebSocketOpened {
        /// The actor.
        actor_id: String,
        /// The socket's request id.
        request_id: [u8; 4],
        /// Path after the actor prefix.
        path: String,
    },
    /// A client message delivered to the actor (after de-duplication: a resent index already
    /// seen is not reported again but is re-acked).
    WebSocketMessage {
        /// The actor.
        actor_id: String,
        /// The socket's request id.
        request_id: [u8; 4],
        /// The gateway's message index.
        index: u16,
        /// Payload.
        data: Vec<u8>,
        /// Binary (true) or text frame.
        binary: bool,
    },
    /// The socket closed as the actor sees it: the gateway closed it (its code), a gap in
    /// indices (`1008`), stale metadata on restore or a non-hibernatable socket on actor stop
    /// (`1000`, nothing sent to the gateway).
    WebSocketClosed {
        /// The actor.
        actor_id: String,
        /// The socket's request id.
        request_id: [u8; 4],
        /// Close code.
        code: Option<u16>,
    },
    /// An HTTP request was answered.
    HttpRequest {
        /// The actor.
        actor_id: String,
        /// The request id.
        request_id: [u8; 4],
        /// Method.
        method: String,
        /// Path after the actor prefix, with query.
        path: String,
        /// Request body.
        body: Vec<u8>,
    },
}

/// One hibernatable socket as its actor persisted it.
#[derive(Debug, Clone)]
struct StoredSocket {
    actor_id: String,
    path: String,
    /// Last delivered (persisted) message index.
    last: u16,
    /// Whether any message was delivered (`last` is meaningful).
    seen: bool,
}

type SocketKey = (GatewayId, RequestId);

/// State that survives a runner process's connections (the actors' persisted storage): the
/// hibernatable sockets each actor knows about and the last message index it delivered on each.
/// A cloneable handle, so a new runner process can take over the actors.
#[derive(Debug, Clone, Default)]
pub struct ActorStorage {
    sockets: Arc<Mutex<BTreeMap<SocketKey, StoredSocket>>>,
}

impl ActorStorage {
    /// Empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<SocketKey, StoredSocket>> {
        self.sockets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Last message index delivered on the socket, if it is persisted and received a message.
    pub fn last_index(&self, request_id: [u8; 4]) -> Option<u16> {
        let rq = RequestId::from_bytes(request_id);
        self.lock()
            .iter()
            .find(|((_, r), s)| *r == rq && s.seen)
            .map(|(_, s)| s.last)
    }

    /// Request ids of the persisted (open, hibernatable) sockets of an actor.
    pub fn sockets(&self, actor_id: &str) -> Vec<[u8; 4]> {
        self.lock()
            .iter()
            .filter(|(_, s)| s.actor_id == actor_id)
            .map(|((_, rq), _)| rq.to_bytes())
            .collect()
    }

    /// Path each persisted socket was opened with.
    pub fn path(&self, request_id: [u8; 4]) -> Option<String> {
        let rq = RequestId::from_bytes(request_id);
        self.lock()
            .iter()
            .find(|((_, r), _)| *r == rq)
            .map(|(_, s)| s.path.clone())
    }

    fn of_actor(&self, actor_id: &str) -> Vec<(SocketKey, StoredSocket)> {
        self.lock()
            .iter()
            .filter(|(_, s)| s.actor_id == actor_id)
            .map(|(k, s)| (*k, s.clone()))
            .collect()
    }

    fn get(&self, key: SocketKey) -> Option<StoredSocket> {
        self.lock().get(&key).cloned()
    }

    fn insert(&self, key: SocketKey, socket: StoredSocket) {
        self.lock().insert(key, socket);
    }

    fn remove(&self, key: SocketKey) {
        self.lock().remove(&key);
    }

    fn set_last(&self, key: SocketKey, index: u16) {
        if let Some(s) = self.lock().get_mut(&key) {
            s.last = index;
            s.seen = true;
        }
    }
}
