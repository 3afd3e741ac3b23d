//! Bodies of the core's cargo-fuzz targets (the codec's are `torpor_protocol::v7::roundtrip`).
//! Each panics exactly when it finds a bug.

use super::sim::{Sim, SimParams};

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

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed `sim_seed` corpus replayed on stable.
    #[test]
    fn committed_sim_corpus_passes() {
        let n = crate::testkit::replay_seeds("sim_seed", sim_seed);
        assert!(n >= 100, "{n} inputs");
    }
}
