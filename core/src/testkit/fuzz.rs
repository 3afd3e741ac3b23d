//! Bodies of the cargo-fuzz targets. Each panics exactly when it finds a bug.

use super::sim::{Sim, SimParams};
use crate::protocol::{ToClient, ToServer};

/// `sim_seed`: one simulated world whose seed and fault mix come from the fuzzer; any safety
/// or liveness violation panics with the replay parameters.
pub fn sim_seed(data: &[u8]) {
    let mut u = arbitrary::Unstructured::new(data);
    let seed: u64 = u.arbitrary().unwrap_or(0);
    let mut prob = |scale: f64| {
        u.arbitrary::<u8>()
            .map_or(0.0, |b| f64::from(b) / 255.0 * scale)
    };
    let window_bytes = 64 + (prob(1.0) * 256.0) as usize;
    let params = SimParams {
        steps: 40 + (prob(1.0) * 120.0) as usize,
        persist_now: prob(1.0),
        ack_now: prob(1.0),
        sleep: prob(0.15),
        crash: prob(0.08),
        runner_crash: prob(0.04),
        client_close: prob(0.04),
        send_then_close: prob(0.1),
        runner_drop: prob(0.1),
        late_detect: prob(1.0),
        replace_process: prob(0.5),
        link_hold: prob(0.8),
        garbage: prob(0.02),
        restart: prob(0.02),
        slow_client: prob(0.03),
        alarm: prob(0.06),
        actor_send: prob(0.3),
        non_hibernatable: prob(1.0),
        http: prob(0.12),
        http_stream: prob(1.0),
        ack_commands: prob(0.06),
        slow_stop: prob(1.0),
        store_error: prob(0.3),
        store_permanent: prob(1.0),
        store_delay: prob(1.0),
        // Bursts are too slow for a fuzzer's iteration budget; the seed sweep covers them.
        burst: 0,
        window_messages: 1 + (prob(1.0) * 8.0) as usize,
        window_bytes,
        budget_bytes: window_bytes + (prob(1.0) * 4096.0) as usize,
        wake_on_close: prob(1.0) < 0.8,
    };
    let mut sim = Sim::with_params(seed, params.clone());
    if let Err(why) = sim.run() {
        panic!("simulation failed: {why}\nseed={seed} params={params:?}");
    }
}

/// `decode_to_server`: decoding never panics, and a frame that decodes re-encodes to exactly
/// the same bytes (the decoder is strict, so there is one encoding per value).
pub fn decode_to_server(data: &[u8]) {
    if let Ok(frame) = ToServer::decode(data) {
        assert_eq!(frame.encoded_len(), data.len(), "encoded_len is exact");
        let again = frame.to_bytes();
        assert_eq!(again, data, "encode(decode(x)) != x for {frame:?}");
    }
}

/// `decode_to_client`: as [`decode_to_server`], for server → runner frames.
pub fn decode_to_client(data: &[u8]) {
    if let Ok(frame) = ToClient::decode(data) {
        assert_eq!(frame.encoded_len(), data.len(), "encoded_len is exact");
        let again = frame.to_bytes();
        assert_eq!(again, data, "encode(decode(x)) != x for {frame:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed `sim_seed` corpus replayed on stable.
    #[test]
    fn committed_sim_corpus_passes() {
        let n = crate::testkit::replay_seeds("sim_seed", sim_seed);
        assert!(n >= 100, "{n} inputs");
    }

    /// Every golden vector, plus each of its truncations and single-byte corruptions, through
    /// both bodies: the fuzz oracle on stable, over inputs near valid frames.
    #[test]
    fn bodies_hold_on_golden_vectors_and_their_mutations() {
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
                decode_to_server(b);
                decode_to_client(b);
            }
            inputs += variants.len();
        }
        assert!(inputs > 10_000, "{inputs}");
    }
}
