//! The adapter's end of each connection: what the core task holds to reach a socket's writer,
//! and what the connection tasks send back to the core task.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use smol::channel::Sender;
use torpor_core::{
    AdminCommand, AdminError, AdminReply, ClientId, CloseFrame, Input, RunnerConnId, RunnerParams,
};
use torpor_protocol::shared::Headers;
use torpor_sqlite::Completion;

use crate::outbox::Outbox;

/// Something for the core task. Connection tasks await `send` on a bounded channel, so a busy
/// core pushes back on every socket instead of queueing without limit.
pub(crate) enum Event {
    /// A core input passed through as is (frames, closes, cancellations).
    Input(Input),
    RunnerConnect {
        conn: RunnerConnId,
        /// The runner's address (for the logs).
        peer: Option<std::net::IpAddr>,
        params: RunnerParams,
        link: SocketLink,
        verdict: Sender<Verdict>,
    },
    ClientWebSocket {
        client: ClientId,
        /// The client's address, as the policy sees it (for the logs).
        peer: Option<std::net::IpAddr>,
        actor: String,
        path: String,
        headers: Headers,
        link: SocketLink,
        verdict: Sender<Verdict>,
    },
    Http {
        client: ClientId,
        actor: String,
        method: String,
        path: String,
        headers: Headers,
        body: Vec<u8>,
        reply: HttpLink,
    },
    Admin {
        command: AdminCommand,
        reply: Sender<Result<AdminReply, AdminError>>,
    },
    StoreDone(Vec<Completion>),
    /// Sample the core's metrics for `/metrics`.
    Metrics {
        reply: Sender<crate::metrics::CoreSample>,
    },
    /// An online backup of the database into the new file `dest`.
    Backup {
        dest: std::path::PathBuf,
        reply: Sender<Result<torpor_sqlite::BackupReport, String>>,
    },
    /// Readiness: whether the store takes writes now.
    Ready {
        reply: Sender<Result<(), String>>,
    },
    /// Apply a reloaded core configuration.
    Reconfigure(Box<torpor_core::Config>),
    /// Close every socket and stop (graceful shutdown).
    Shutdown,
}

/// The core's answer to an upgrade request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Accept,
    Reject { status: u16, reason: String },
}

/// What a WebSocket's writer task sends, in order.
#[derive(Debug)]
pub(crate) enum WsOut {
    Binary(bytes::Bytes),
    Text(String),
    /// Send this close frame and end the connection.
    Close(CloseFrame),
}

/// Pieces of an HTTP response, in order.
#[derive(Debug)]
pub(crate) enum HttpOut {
    Head {
        status: u16,
        headers: Headers,
        body: Vec<u8>,
        streaming: bool,
    },
    Chunk {
        data: Vec<u8>,
        finish: bool,
    },
    Abort,
}

/// The core task's handle on an HTTP request's response.
#[derive(Clone)]
pub(crate) struct HttpLink {
    pub(crate) reply: Sender<HttpOut>,
    /// Streamed body bytes queued for the client and not yet taken by hyper.
    pub(crate) unsent: Arc<AtomicUsize>,
    /// `ClientOutboundFull` was already reported (the core task's own flag).
    pub(crate) reported_full: bool,
}

/// The core task's handle on a WebSocket (runner or client). Dropping it tells the socket's
/// tasks that the core let go.
pub(crate) struct SocketLink {
    pub(crate) outbox: Arc<Outbox>,
    /// `ClientOutboundFull` was already reported.
    pub(crate) reported_full: bool,
}

impl Drop for SocketLink {
    fn drop(&mut self) {
        self.outbox.detach();
    }
}

/// A link for the core task and the outbox for the socket's tasks.
pub(crate) fn socket_link() -> (SocketLink, Arc<Outbox>) {
    let outbox = Arc::new(Outbox::new());
    (
        SocketLink {
            outbox: Arc::clone(&outbox),
            reported_full: false,
        },
        outbox,
    )
}

impl WsOut {
    /// Payload bytes, for the unsent-bytes account.
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Binary(b) => b.len(),
            Self::Text(t) => t.len(),
            Self::Close(_) => 0,
        }
    }
}
