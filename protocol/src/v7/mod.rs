//! Rivet runner protocol v7: types and a strict BARE codec, byte-compatible with
//! `@rivetkit/engine-runner-protocol@2.2.1`.
//!
//! One WebSocket binary frame carries one top-level value with no prefix: [`ToServer`] from the
//! runner, [`ToClient`] to it; ids, KV and headers are [`crate::shared`]'s. Decoding is strict
//! because the runner's own decoder is: anything it would reject (trailing bytes, unknown tags,
//! non-canonical varints, bad bools or UTF-8, duplicate map keys) crashes the runner process, so
//! the gateway must never emit it and refuses to accept it. Encoding is total: every value of
//! these types encodes to bytes the runner accepts ([`crate::StrMap`] cannot hold a duplicate
//! key).

mod messages;
#[cfg(any(test, feature = "fuzz"))]
pub mod roundtrip;
#[cfg(test)]
mod tests;
mod tunnel;
mod types;

pub use messages::{
    ToClient, ToClientAckEvents, ToClientInit, ToClientKvResponse, ToClientPing, ToServer,
    ToServerAckCommands, ToServerInit, ToServerKvRequest, ToServerPong,
};
pub use tunnel::{
    ToClientRequestChunk, ToClientRequestStart, ToClientTunnelMessage, ToClientTunnelMessageKind,
    ToClientWebSocketClose, ToClientWebSocketMessage, ToClientWebSocketOpen, ToServerResponseChunk,
    ToServerResponseStart, ToServerTunnelMessage, ToServerTunnelMessageKind,
    ToServerWebSocketClose, ToServerWebSocketMessage, ToServerWebSocketMessageAck,
    ToServerWebSocketOpen,
};
pub use types::{Command, CommandStartActor, CommandWrapper, ProtocolMetadata};

/// The only protocol version Torpor speaks (`protocol_version` query parameter).
pub const PROTOCOL_VERSION: u16 = 7;
