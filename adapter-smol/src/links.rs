//! The adapter's end of each connection: what the core task holds to reach a socket's writer,
//! and what the connection tasks send back to the core task.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use smol::channel::{Receiver, Sender};
use torpor_core::protocol::Headers;
use torpor_core::{
    AdminCommand, AdminError, AdminReply, ClientFrame, ClientId, CloseFrame, RunnerConnId,
    RunnerParams,
};
use torpor_sqlite::Completion;

/// Something for the core task. Connection tasks await `send` on a bounded channel, so a busy
/// core pushes back on every socket instead of queueing without limit.
pub(crate) enum Event {
    RunnerConnect {
        conn: RunnerConnId,
        params: RunnerParams,
        link: RunnerLink,
        verdict: Sender<Verdict>,
    },
    RunnerBytes {
        conn: RunnerConnId,
        bytes: Vec<u8>,
    },
    RunnerText {
        conn: RunnerConnId,
    },
    RunnerClosed {
        conn: RunnerConnId,
    },
    ClientWebSocket {
        client: ClientId,
        actor: String,
        path: String,
        headers: Headers,
        link: ClientLink,
        verdict: Sender<Verdict>,
    },
    ClientMessage {
        client: ClientId,
        frame: ClientFrame,
    },
    ClientClosed {
        client: ClientId,
        close: Option<CloseFrame>,
    },
    Http {
        client: ClientId,
        actor: String,
        method: String,
        path: String,
        headers: Headers,
        body: Vec<u8>,
        reply: Sender<HttpOut>,
    },
    HttpCancelled {
        client: ClientId,
    },
    Admin {
        command: AdminCommand,
        reply: Sender<Result<AdminReply, AdminError>>,
    },
    StoreDone(Vec<Completion>),
    /// Render `/metrics`.
    Metrics {
        reply: Sender<String>,
    },
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
    Binary(Vec<u8>),
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

/// The core task's handle on a runner socket.
pub(crate) struct RunnerLink {
    pub(crate) out: Sender<WsOut>,
}

/// The core task's handle on a client WebSocket.
pub(crate) struct ClientLink {
    pub(crate) out: Sender<WsOut>,
    /// `true` pauses the reader, `false` resumes it.
    pub(crate) reads: Sender<bool>,
    /// Bytes queued for the writer and not yet written to the socket.
    pub(crate) unsent: Arc<AtomicUsize>,
    /// `ClientOutboundFull` was already reported.
    pub(crate) reported_full: bool,
}

/// The connection task's half of a [`ClientLink`].
pub(crate) struct ClientEnds {
    pub(crate) out: Receiver<WsOut>,
    /// For the reader's own closes (oversize frame, bad UTF-8, protocol error).
    pub(crate) out_tx: Sender<WsOut>,
    pub(crate) reads: Receiver<bool>,
    pub(crate) unsent: Arc<AtomicUsize>,
}

/// A linked pair for a new client WebSocket.
pub(crate) fn client_link() -> (ClientLink, ClientEnds) {
    let (out_tx, out_rx) = smol::channel::unbounded();
    let (reads_tx, reads_rx) = smol::channel::unbounded();
    let unsent = Arc::new(AtomicUsize::new(0));
    (
        ClientLink {
            out: out_tx.clone(),
            reads: reads_tx,
            unsent: Arc::clone(&unsent),
            reported_full: false,
        },
        ClientEnds {
            out: out_rx,
            out_tx,
            reads: reads_rx,
            unsent,
        },
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

/// Subtracts what the writer put on the wire.
pub(crate) fn mark_sent(unsent: &AtomicUsize, n: usize) {
    unsent.fetch_sub(n, Ordering::Relaxed);
}
