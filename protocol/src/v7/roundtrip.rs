//! The codec's round-trip property, as the fuzz targets check it (feature `fuzz`): decoding
//! never panics, and a frame that decodes re-encodes to exactly the same bytes (the decoder is
//! strict, so each value has one encoding); and the WebSocket-message fast path reads exactly
//! what the full decoder reads. Each function panics exactly when it finds a bug.

use super::{
    ToClient, ToServer, ToServerTunnelMessage, ToServerTunnelMessageKind, ToServerWebSocketMessage,
};
use crate::Limits;

/// Runner → gateway frames.
pub fn to_server(data: &[u8]) {
    let decoded = ToServer::decode(data);
    if let Ok(frame) = &decoded {
        assert_eq!(frame.encoded_len(), data.len(), "encoded_len is exact");
        let again = frame.to_bytes();
        assert_eq!(again, data, "encode(decode(x)) != x for {frame:?}");
    }
    let fast = ToServerWebSocketMessage::decode_frame(data, Limits::DEFAULT);
    match decoded {
        Ok(ToServer::TunnelMessage(ToServerTunnelMessage {
            message_id,
            message_kind: ToServerTunnelMessageKind::WebSocketMessage(m),
        })) => assert_eq!(
            fast,
            Some((message_id, &m.data[..], m.binary)),
            "the fast path reads a WebSocket message differently"
        ),
        other => assert_eq!(
            fast, None,
            "the fast path accepted what decodes as {other:?}"
        ),
    }
}

/// Gateway → runner frames.
pub fn to_client(data: &[u8]) {
    if let Ok(frame) = ToClient::decode(data) {
        assert_eq!(frame.encoded_len(), data.len(), "encoded_len is exact");
        let again = frame.to_bytes();
        assert_eq!(again, data, "encode(decode(x)) != x for {frame:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::golden::oracles_hold_near_vectors;

    /// Every golden vector, plus each of its truncations and single-byte corruptions, through
    /// both directions: the fuzz oracle on stable, over inputs near valid frames.
    #[test]
    fn holds_on_golden_vectors_and_their_mutations() {
        oracles_hold_near_vectors(
            include_str!("../../tests/golden/runner-v7.json"),
            "@rivetkit/engine-runner-protocol@2.2.1",
            &[to_server, to_client],
        );
    }
}
