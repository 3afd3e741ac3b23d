//! Tunnel messages: HTTP requests and WebSockets between clients and actors.
//!
//! `ToEnvoy*` travels to the envoy and carries *client → actor* data; `ToRivet*` carries
//! *actor → client* data. Compared with v7: requests and opens name the actor generation the
//! gateway chose, request and response bodies have flow control (window updates, body cancel),
//! and aborts carry a reason.

use crate::shared::{Headers, MessageId};
use crate::wire::{wire_enum, wire_struct, wire_union};

wire_enum! {
    /// Why an HTTP stream was aborted.
    pub enum HttpStreamAbortReasonKind {
        /// Not said.
        0 => Unknown,
        /// The other side cancelled.
        1 => Cancelled,
        /// The actor's handler failed.
        2 => HandlerError,
        /// The engine or envoy failed.
        3 => InternalError,
    }
}

wire_struct! {
    /// An abort's reason.
    pub struct HttpStreamAbortReason {
        /// The kind.
        pub kind: HttpStreamAbortReasonKind,
        /// Detail text.
        pub detail: Option<String>,
    }
}

// ---------------------------------------------------------------- HTTP, gateway → envoy

wire_struct! {
    /// Starts an HTTP request to an actor (message index 0).
    pub struct ToEnvoyRequestStart {
        /// Target actor.
        pub actor_id: String,
        /// The actor generation the gateway chose (`None`: the newest live one).
        pub actor_generation: Option<u32>,
        /// HTTP method.
        pub method: String,
        /// Path after the actor prefix, with query, starting with `/`.
        pub path: String,
        /// Lowercase header names, one value each.
        pub headers: Headers,
        /// Body, `None` when empty.
        pub body: Option<Vec<u8>>,
        /// Whether body chunks follow.
        pub stream: bool,
        /// Whether the gateway accepts a streamed response body.
        pub response_stream: bool,
    }
}

wire_struct! {
    /// A streamed request body chunk.
    pub struct ToEnvoyRequestChunk {
        /// Bytes.
        pub body: Vec<u8>,
        /// Last chunk.
        pub finish: bool,
    }
}

wire_struct! {
    /// The gateway aborts a request.
    pub struct ToEnvoyRequestAbort {
        /// The actor the request was admitted to.
        pub actor_id: Option<String>,
        /// Its generation.
        pub actor_generation: Option<u32>,
        /// Why.
        pub reason: HttpStreamAbortReason,
    }
}

wire_struct! {
    /// Response-body bytes the gateway's client consumed so far (cumulative): restores the
    /// envoy's send credit.
    pub struct ToEnvoyResponseBodyWindowUpdate {
        /// Bytes consumed in all.
        pub consumed_bytes: u64,
    }
}

// ---------------------------------------------------------------- HTTP, envoy → gateway

wire_struct! {
    /// Request-body bytes the actor's handler consumed so far (cumulative): restores the
    /// gateway's send credit.
    pub struct ToRivetRequestBodyWindowUpdate {
        /// Bytes consumed in all.
        pub consumed_bytes: u64,
    }
}

wire_struct! {
    /// The actor's response head.
    pub struct ToRivetResponseStart {
        /// HTTP status.
        pub status: u16,
        /// Response headers.
        pub headers: Headers,
        /// Body, `None` when empty or streamed.
        pub body: Option<Vec<u8>>,
        /// Whether body chunks follow.
        pub stream: bool,
    }
}

wire_struct! {
    /// A streamed response body chunk.
    pub struct ToRivetResponseChunk {
        /// Bytes.
        pub body: Vec<u8>,
        /// Last chunk.
        pub finish: bool,
    }
}

wire_struct! {
    /// The actor aborts its response.
    pub struct ToRivetResponseAbort {
        /// Why.
        pub reason: HttpStreamAbortReason,
    }
}

// ---------------------------------------------------------------- WebSocket

wire_struct! {
    /// Opens a client WebSocket on an actor (message index 0).
    pub struct ToEnvoyWebSocketOpen {
        /// Target actor.
        pub actor_id: String,
        /// The actor generation the gateway chose (`None`: the newest live one).
        pub actor_generation: Option<u32>,
        /// Path after the actor prefix.
        pub path: String,
        /// Request headers.
        pub headers: Headers,
    }
}

wire_struct! {
    /// A client → actor WebSocket message.
    pub struct ToEnvoyWebSocketMessage {
        /// Payload (UTF-8 text when `binary` is false).
        pub data: Vec<u8>,
        /// Binary or text frame.
        pub binary: bool,
    }
}

wire_struct! {
    /// The client closed its WebSocket.
    pub struct ToEnvoyWebSocketClose {
        /// Close code.
        pub code: Option<u16>,
        /// Close reason.
        pub reason: Option<String>,
    }
}

wire_struct! {
    /// The actor accepted a WebSocket.
    pub struct ToRivetWebSocketOpen {
        /// Whether the socket survives the actor sleeping.
        pub can_hibernate: bool,
    }
}

wire_struct! {
    /// An actor → client WebSocket message.
    pub struct ToRivetWebSocketMessage {
        /// Payload (UTF-8 text when `binary` is false).
        pub data: Vec<u8>,
        /// Binary or text frame.
        pub binary: bool,
    }
}

wire_struct! {
    /// The actor persisted client messages up to `index`.
    pub struct ToRivetWebSocketMessageAck {
        /// Last persisted message index.
        pub index: u16,
    }
}

wire_struct! {
    /// The actor closed the WebSocket.
    pub struct ToRivetWebSocketClose {
        /// Close code.
        pub code: Option<u16>,
        /// Close reason.
        pub reason: Option<String>,
        /// Whether the actor hibernates the socket instead.
        pub hibernate: bool,
    }
}

// ---------------------------------------------------------------- the tunnel frames

wire_union! {
    /// Envoy → gateway tunnel payload.
    pub enum ToRivetTunnelMessageKind: "ToRivet", "" {
        /// Response head.
        0 => ResponseStart(ToRivetResponseStart),
        /// Response body chunk.
        1 => ResponseChunk(ToRivetResponseChunk),
        /// Response aborted.
        2 => ResponseAbort(ToRivetResponseAbort),
        /// Request-body credit.
        3 => RequestBodyWindowUpdate(ToRivetRequestBodyWindowUpdate),
        /// The handler wants no more request body.
        4 => RequestBodyCancel,
        /// WebSocket accepted.
        5 => WebSocketOpen(ToRivetWebSocketOpen),
        /// WebSocket message.
        6 => WebSocketMessage(ToRivetWebSocketMessage),
        /// WebSocket messages persisted.
        7 => WebSocketMessageAck(ToRivetWebSocketMessageAck),
        /// WebSocket closed.
        8 => WebSocketClose(ToRivetWebSocketClose),
    }
}

wire_struct! {
    /// `ToRivet::TunnelMessage` body.
    pub struct ToRivetTunnelMessage {
        /// Gateway, request and the envoy's own index.
        pub message_id: MessageId,
        /// Payload.
        pub message_kind: ToRivetTunnelMessageKind,
    }
}

wire_union! {
    /// Gateway → envoy tunnel payload.
    pub enum ToEnvoyTunnelMessageKind: "ToEnvoy", "" {
        /// Request head.
        0 => RequestStart(ToEnvoyRequestStart),
        /// Request body chunk.
        1 => RequestChunk(ToEnvoyRequestChunk),
        /// Request aborted.
        2 => RequestAbort(ToEnvoyRequestAbort),
        /// Stop the request body, keep the response.
        3 => RequestBodyCancel,
        /// Response-body credit.
        4 => ResponseBodyWindowUpdate(ToEnvoyResponseBodyWindowUpdate),
        /// Open a WebSocket.
        5 => WebSocketOpen(ToEnvoyWebSocketOpen),
        /// WebSocket message.
        6 => WebSocketMessage(ToEnvoyWebSocketMessage),
        /// The client closed.
        7 => WebSocketClose(ToEnvoyWebSocketClose),
    }
}

wire_struct! {
    /// `ToEnvoy::TunnelMessage` body.
    pub struct ToEnvoyTunnelMessage {
        /// Gateway, request and per-request message index.
        pub message_id: MessageId,
        /// Payload.
        pub message_kind: ToEnvoyTunnelMessageKind,
    }
}
