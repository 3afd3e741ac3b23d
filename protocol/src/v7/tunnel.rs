//! Tunnel messages: HTTP requests and WebSockets between clients and actors.
//!
//! Direction trap: `ToClient*` travels to the runner and so carries *client → actor* data;
//! `ToServer*` carries *actor → client* data.

use crate::Limits;
use crate::shared::{Headers, MessageId};
use crate::wire::{Reader, Wire, wire_struct, wire_union};

wire_struct! {
    /// Starts an HTTP request to an actor (message index 0).
    pub struct ToClientRequestStart {
        /// Target actor.
        pub actor_id: String,
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
    }
}

wire_struct! {
    /// A streamed request body chunk.
    pub struct ToClientRequestChunk {
        /// Bytes.
        pub body: Vec<u8>,
        /// Last chunk.
        pub finish: bool,
    }
}

wire_struct! {
    /// Opens a client WebSocket on an actor (message index 0).
    pub struct ToClientWebSocketOpen {
        /// Target actor.
        pub actor_id: String,
        /// Path after the actor prefix.
        pub path: String,
        /// Request headers.
        pub headers: Headers,
    }
}

wire_struct! {
    /// A client → actor WebSocket message.
    pub struct ToClientWebSocketMessage {
        /// Payload (UTF-8 text when `binary` is false).
        pub data: Vec<u8>,
        /// Binary or text frame.
        pub binary: bool,
    }
}

wire_struct! {
    /// The client closed its WebSocket.
    pub struct ToClientWebSocketClose {
        /// Close code.
        pub code: Option<u16>,
        /// Close reason.
        pub reason: Option<String>,
    }
}

wire_union! {
    /// Server → runner tunnel payload.
    pub enum ToClientTunnelMessageKind: "ToClient", "" {
        /// HTTP request start.
        0 => RequestStart(ToClientRequestStart),
        /// HTTP request body chunk.
        1 => RequestChunk(ToClientRequestChunk),
        /// HTTP request aborted.
        2 => RequestAbort,
        /// WebSocket open.
        3 => WebSocketOpen(ToClientWebSocketOpen),
        /// WebSocket message.
        4 => WebSocketMessage(ToClientWebSocketMessage),
        /// WebSocket close.
        5 => WebSocketClose(ToClientWebSocketClose),
    }
}

wire_struct! {
    /// `ToClient::TunnelMessage` body.
    pub struct ToClientTunnelMessage {
        /// Gateway, request and index.
        pub message_id: MessageId,
        /// Payload.
        pub message_kind: ToClientTunnelMessageKind,
    }
}

wire_struct! {
    /// HTTP response head (and whole body unless streamed).
    pub struct ToServerResponseStart {
        /// Status code.
        pub status: u16,
        /// Lowercase header names.
        pub headers: Headers,
        /// Body.
        pub body: Option<Vec<u8>>,
        /// Whether body chunks follow.
        pub stream: bool,
    }
}

wire_struct! {
    /// A streamed response body chunk.
    pub struct ToServerResponseChunk {
        /// Bytes.
        pub body: Vec<u8>,
        /// Last chunk.
        pub finish: bool,
    }
}

wire_struct! {
    /// The actor accepted a WebSocket.
    pub struct ToServerWebSocketOpen {
        /// Whether the socket survives the actor stopping.
        pub can_hibernate: bool,
    }
}

wire_struct! {
    /// An actor → client WebSocket message.
    pub struct ToServerWebSocketMessage {
        /// Payload.
        pub data: Vec<u8>,
        /// Binary or text frame.
        pub binary: bool,
    }
}

wire_struct! {
    /// Cumulative ack: the actor persisted every client message up to `index`.
    pub struct ToServerWebSocketMessageAck {
        /// Highest persisted index (wrapping u16).
        pub index: u16,
    }
}

wire_struct! {
    /// The actor closed the WebSocket.
    pub struct ToServerWebSocketClose {
        /// Close code.
        pub code: Option<u16>,
        /// Close reason.
        pub reason: Option<String>,
        /// Always false from runner 2.2.1.
        pub hibernate: bool,
    }
}

wire_union! {
    /// Runner → server tunnel payload.
    pub enum ToServerTunnelMessageKind: "ToServer", "" {
        /// HTTP response start.
        0 => ResponseStart(ToServerResponseStart),
        /// HTTP response chunk.
        1 => ResponseChunk(ToServerResponseChunk),
        /// HTTP response aborted.
        2 => ResponseAbort,
        /// WebSocket accepted.
        3 => WebSocketOpen(ToServerWebSocketOpen),
        /// WebSocket message.
        4 => WebSocketMessage(ToServerWebSocketMessage),
        /// WebSocket cumulative ack.
        5 => WebSocketMessageAck(ToServerWebSocketMessageAck),
        /// WebSocket close.
        6 => WebSocketClose(ToServerWebSocketClose),
    }
}

wire_struct! {
    /// `ToServer::TunnelMessage` body.
    pub struct ToServerTunnelMessage {
        /// Gateway, request and the runner's own (meaningless) index.
        pub message_id: MessageId,
        /// Payload.
        pub message_kind: ToServerTunnelMessageKind,
    }
}

impl ToClientWebSocketMessage {
    /// Exact size of the `ToClient` tunnel frame carrying a message of `payload_len` bytes:
    /// tag, message id (10), kind tag, length varint, payload, binary flag. Lets flow control
    /// budget a frame before encoding it.
    pub const fn frame_len(payload_len: usize) -> usize {
        13 + crate::wire::varint_len(payload_len as u64) + payload_len
    }

    /// The whole `ToClient` tunnel frame carrying a client → actor WebSocket message, written
    /// straight from the payload: the bytes `ToClient::TunnelMessage(..).to_bytes()` gives for
    /// the same message (a test checks every length class), without building the message.
    /// This is the per-frame path of every proxied WebSocket message, where building the
    /// message tree and walking it twice (length, then bytes) cost more than the copy itself.
    pub fn encode_frame(message_id: MessageId, data: &[u8], binary: bool) -> Vec<u8> {
        let MessageId {
            gateway_id,
            request_id,
            message_index,
        } = message_id;
        let [g0, g1, g2, g3] = gateway_id.to_bytes();
        let [r0, r1, r2, r3] = request_id.to_bytes();
        let [i0, i1] = message_index.to_le_bytes();
        let head = [
            TO_CLIENT_TUNNEL_MESSAGE_TAG,
            g0,
            g1,
            g2,
            g3,
            r0,
            r1,
            r2,
            r3,
            i0,
            i1,
            WEBSOCKET_MESSAGE_TAG,
        ];
        let mut out = Vec::with_capacity(Self::frame_len(data.len()));
        out.extend_from_slice(&head);
        crate::wire::put_varint(&mut out, data.len() as u64);
        out.extend_from_slice(data);
        out.push(u8::from(binary));
        out
    }
}

impl ToServerWebSocketMessage {
    /// Reads a whole `ToServer` frame carrying an actor → client WebSocket message, borrowing
    /// the payload instead of building the message: the per-frame path of the runner link.
    /// `None` for any other frame and for anything the full decoder refuses, which then decides
    /// and names the error. It reads with the full decoder's own primitives and limits, so it
    /// accepts exactly the WebSocket-message frames `ToServer::decode_with` accepts, with the
    /// same values (the round-trip oracle of the fuzz target checks both, on every input).
    pub fn decode_frame(bytes: &[u8], limits: Limits) -> Option<(MessageId, &[u8], bool)> {
        let mut r = Reader::new(bytes, limits);
        if r.tag().ok()?.0 != TO_SERVER_TUNNEL_MESSAGE_TAG {
            return None;
        }
        let message_id = MessageId::decode(&mut r).ok()?;
        if r.tag().ok()?.0 != TO_SERVER_WEBSOCKET_MESSAGE_TAG {
            return None;
        }
        let data = r.data().ok()?;
        let binary = bool::decode(&mut r).ok()?;
        r.finish().ok()?;
        Some((message_id, data, binary))
    }
}

/// `ToServer::TunnelMessage`'s union tag, for [`ToServerWebSocketMessage::decode_frame`].
const TO_SERVER_TUNNEL_MESSAGE_TAG: u64 = 6;
/// `ToServerTunnelMessageKind::WebSocketMessage`'s union tag, likewise.
const TO_SERVER_WEBSOCKET_MESSAGE_TAG: u64 = 4;

/// `ToClient::TunnelMessage`'s union tag, for [`ToClientWebSocketMessage::encode_frame`].
const TO_CLIENT_TUNNEL_MESSAGE_TAG: u8 = 4;
/// `ToClientTunnelMessageKind::WebSocketMessage`'s union tag, likewise.
const WEBSOCKET_MESSAGE_TAG: u8 = 4;
