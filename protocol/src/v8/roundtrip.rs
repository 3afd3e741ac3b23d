//! The codec's round-trip property, as the fuzz targets check it (feature `fuzz`): decoding
//! never panics, and a frame that decodes re-encodes to exactly the same bytes (the decoder is
//! strict, so each value has one encoding). Each function panics exactly when it finds a bug.

use super::{ToEnvoy, ToRivet};

/// Envoy → engine frames.
pub fn to_rivet(data: &[u8]) {
    if let Ok(frame) = ToRivet::decode(data) {
        assert_eq!(frame.encoded_len(), data.len(), "encoded_len is exact");
        assert_eq!(
            frame.to_bytes(),
            data,
            "encode(decode(x)) != x for {frame:?}"
        );
    }
}

/// Engine → envoy frames.
pub fn to_envoy(data: &[u8]) {
    if let Ok(frame) = ToEnvoy::decode(data) {
        assert_eq!(frame.encoded_len(), data.len(), "encoded_len is exact");
        assert_eq!(
            frame.to_bytes(),
            data,
            "encode(decode(x)) != x for {frame:?}"
        );
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
            include_str!("../../tests/golden/envoy-v8.json"),
            "@rivetkit/engine-envoy-protocol@2.3.19",
            &[to_rivet, to_envoy],
        );
    }
}
