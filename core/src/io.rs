//! Everything that crosses the core's boundary: [`Input`], [`Output`] and their payloads.

use bytes::Bytes;

use crate::admin::{AdminCommand, AdminError, AdminReply};
use crate::ids::{AdminReqId, ClientId, OpId, RunnerConnId};
use crate::store::{StoreFailure, StoreReply, StoreRequest};
use torpor_protocol::shared::Headers;

/// A client WebSocket data frame. Pings and pongs never reach the core: the adapter answers them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    /// A text frame (valid UTF-8 by construction).
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
}

impl ClientFrame {
    /// Payload length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Self::Text(s) => s.len(),
            Self::Binary(b) => b.len(),
        }
    }

    /// True for an empty payload.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A WebSocket close code and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// RFC 6455 close code.
    pub code: u16,
    /// Reason, at most 123 bytes.
    pub reason: String,
}

impl CloseFrame {
    /// A close frame; the reason is cut to 123 bytes on a character boundary (the WebSocket
    /// limit for a close payload).
    pub fn new(code: u16, reason: impl Into<String>) -> Self {
        let mut reason = reason.into();
        if reason.len() > 123 {
            let mut cut = 123;
            while !reason.is_char_boundary(cut) {
                cut -= 1;
            }
            reason.truncate(cut);
        }
        Self { code, reason }
    }
}

/// What a runner asked for in its connect URL and handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerParams {
    /// `protocol_version` query parameter, if present and a number.
    pub protocol_version: Option<u16>,
    /// `namespace` query parameter.
    pub namespace: String,
    /// `runner_key` query parameter: one per runner process, kept across reconnects.
    pub runner_key: String,
    /// The `rivet_token.<token>` subprotocol entry, if offered.
    pub token: Option<String>,
    /// `pool_name` query parameter: an envoy's pool (v8 names it in the URL, v7 in its init).
    pub pool_name: Option<String>,
}

/// One event for the core. Feed with [`crate::Gateway::handle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A runner asks to connect (before the WebSocket upgrade). Answered with
    /// [`Output::AcceptRunner`] or [`Output::RejectRunner`].
    RunnerConnect {
        /// Adapter-assigned connection id.
        conn: RunnerConnId,
        /// URL and subprotocol parameters.
        params: RunnerParams,
    },
    /// A binary frame from a runner.
    RunnerBytes {
        /// The connection.
        conn: RunnerConnId,
        /// The frame, decoded by the core.
        bytes: Vec<u8>,
    },
    /// A text frame from a runner (not part of the protocol; ignored and counted).
    RunnerText {
        /// The connection.
        conn: RunnerConnId,
    },
    /// The runner connection ended (close frame, error or EOF).
    RunnerClosed {
        /// The connection.
        conn: RunnerConnId,
    },
    /// A client asks to open a WebSocket on `/gateway/{actor}/{path}`. Answered with
    /// [`Output::AcceptClient`] (complete the upgrade) or [`Output::RejectClient`].
    ClientWebSocket {
        /// Adapter-assigned id.
        client: ClientId,
        /// The actor id segment of the URL, as sent.
        actor: String,
        /// Path after the actor id, with query, starting with `/`.
        path: String,
        /// Request headers, lowercase names, repeats joined with `, `.
        headers: Headers,
    },
    /// A data frame from a client WebSocket.
    ClientMessage {
        /// The client.
        client: ClientId,
        /// The frame.
        frame: ClientFrame,
    },
    /// The client WebSocket ended; `close` is its close frame, `None` if the stream just ended.
    ClientClosed {
        /// The client.
        client: ClientId,
        /// Its close frame, if it sent one.
        close: Option<CloseFrame>,
    },
    /// An HTTP request to `/gateway/{actor}/{path}`. Answered with [`Output::HttpResponse`].
    HttpRequest {
        /// Adapter-assigned id.
        client: ClientId,
        /// The actor id segment of the URL.
        actor: String,
        /// Method.
        method: String,
        /// Path after the actor id, with query.
        path: String,
        /// Headers, lowercase names, repeats joined with `, `.
        headers: Headers,
        /// The whole request body.
        body: Vec<u8>,
    },
    /// The adapter's unsent actor → client bytes for this WebSocket or streamed HTTP response
    /// exceed [`crate::Config::client_outbound_max_bytes`]: the client does not read. The core
    /// decides what follows (a WebSocket is closed 1008, a response aborted).
    ClientOutboundFull {
        /// The client.
        client: ClientId,
    },
    /// The HTTP client went away before its response completed.
    HttpCancelled {
        /// The client.
        client: ClientId,
    },
    /// A store operation finished.
    StoreDone {
        /// The operation.
        op: OpId,
        /// Its result.
        result: Result<StoreReply, StoreFailure>,
    },
    /// An admin API request.
    Admin {
        /// Adapter-assigned id, echoed in [`Output::AdminReply`].
        req: AdminReqId,
        /// The command.
        command: AdminCommand,
    },
}

/// One obligation for the adapter. Drain with [`crate::Gateway::poll_output`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Complete the runner's WebSocket upgrade, answering subprotocol `rivet`.
    AcceptRunner {
        /// The connection.
        conn: RunnerConnId,
    },
    /// Refuse the runner's upgrade with this HTTP status and reason.
    RejectRunner {
        /// The connection.
        conn: RunnerConnId,
        /// HTTP status.
        status: u16,
        /// Why, for the response body and logs.
        reason: String,
    },
    /// Send one binary frame to a runner.
    SendRunner {
        /// The connection.
        conn: RunnerConnId,
        /// An encoded `ToClient`. Shared, not copied, with the socket's un-acked buffer when the
        /// frame must be kept for a resend.
        bytes: Bytes,
    },
    /// Close a runner connection with this code and reason. Nothing more is sent to it.
    CloseRunner {
        /// The connection.
        conn: RunnerConnId,
        /// Close code and reason.
        close: CloseFrame,
    },
    /// Complete a client's WebSocket upgrade.
    AcceptClient {
        /// The client.
        client: ClientId,
    },
    /// Refuse a client's upgrade with this HTTP status and reason.
    RejectClient {
        /// The client.
        client: ClientId,
        /// HTTP status.
        status: u16,
        /// Why.
        reason: String,
    },
    /// Send a data frame to a client WebSocket.
    SendClient {
        /// The client.
        client: ClientId,
        /// The frame.
        frame: ClientFrame,
    },
    /// Close a client WebSocket. Nothing more is sent to it.
    CloseClient {
        /// The client.
        client: ClientId,
        /// Close code and reason.
        close: CloseFrame,
    },
    /// Stop reading from this client until [`Output::ResumeClientReads`] (TCP pushes back).
    PauseClientReads {
        /// The client.
        client: ClientId,
    },
    /// Read from this client again.
    ResumeClientReads {
        /// The client.
        client: ClientId,
    },
    /// The head (and, unless `streaming`, the whole body) of an HTTP response.
    HttpResponse {
        /// The client.
        client: ClientId,
        /// Status code.
        status: u16,
        /// Headers.
        headers: Headers,
        /// Body (or its first part when `streaming`).
        body: Vec<u8>,
        /// More body follows in [`Output::HttpBodyChunk`]s.
        streaming: bool,
    },
    /// A further part of a streamed HTTP response body.
    HttpBodyChunk {
        /// The client.
        client: ClientId,
        /// Bytes.
        data: Vec<u8>,
        /// The last part.
        finish: bool,
    },
    /// Abort a streamed HTTP response that already started (close the connection).
    HttpAbort {
        /// The client.
        client: ClientId,
    },
    /// Execute a store operation and report [`Input::StoreDone`] with the same op id.
    Store {
        /// The operation id.
        op: OpId,
        /// What to do.
        request: StoreRequest,
    },
    /// The answer to [`Input::Admin`].
    AdminReply {
        /// The request.
        req: AdminReqId,
        /// The result.
        reply: Result<AdminReply, AdminError>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every frame's output is moved into the output queue and out of it again: a large rare
    /// variant (an admin reply, a store request) would make each of those copies pay for it.
    #[test]
    fn outputs_stay_small() {
        assert!(size_of::<Output>() <= 72, "{} bytes", size_of::<Output>());
    }
}
