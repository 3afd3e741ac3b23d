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

    /// Every golden vector, plus each of its truncations and single-byte corruptions, through
    /// both directions: the fuzz oracle on stable, over inputs near valid frames.
    #[test]
    #[allow(clippy::unwrap_used, clippy::indexing_slicing)]
    fn holds_on_golden_vectors_and_their_mutations() {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/golden/runner-v7.json")).unwrap();
        let mut inputs = 0;
        for v in doc["vectors"].as_array().unwrap() {
            let hex = v["hex"].as_str().unwrap();
            let bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            let mut variants = vec![bytes.clone()];
            variants.extend((0..bytes.len()).map(|n| bytes[..n].to_vec()));
            for i in 0..bytes.len() {
                for flip in [0x01, 0x80, 0xff] {
                    let mut b = bytes.clone();
                    b[i] ^= flip;
                    variants.push(b);
                }
            }
            for b in &variants {
                to_server(b);
                to_client(b);
            }
            inputs += variants.len();
        }
        assert!(inputs > 10_000, "{inputs}");
    }
}
