//! The randomized exactly-once test: thousands of seeded worlds (see `testkit::sim`).
//! `TORPOR_SIM_SEED=n` replays one seed; `TORPOR_SIM_SEEDS=n` sets how many run.

use crate::testkit::sim::{Sim, SimStats};

fn run_seed(seed: u64) -> SimStats {
    let mut sim = Sim::new(seed);
    if let Err(why) = sim.run() {
        panic!(
            "simulation failed: {why}\nSEED={seed} params={:?}\nreplay: TORPOR_SIM_SEED={seed} cargo test -p torpor-core --lib hibernation_sim",
            sim.params()
        );
    }
    sim.stats
}

#[test]
fn every_accepted_message_is_persisted_exactly_once_in_order() {
    if let Some(seed) = std::env::var("TORPOR_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        let stats = run_seed(seed);
        eprintln!("seed {seed}: {stats:?}");
        return;
    }
    let seeds: u64 = std::env::var("TORPOR_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let mut total = SimStats::default();
    for seed in 0..seeds {
        total.add(&run_seed(seed));
    }
    if std::env::var_os("TORPOR_SIM_STATS").is_some() {
        eprintln!("{seeds} seeds: {total:?}");
    }
    // The fault mix must actually reach every fault over the CI seed count.
    if seeds >= 2_000 {
        for (what, n) in [
            ("restarts", total.restarts),
            ("runner drops", total.runner_drops),
            ("runner crashes", total.runner_crashes),
            ("malformed frames", total.garbage),
            ("store failures", total.store_failures),
            ("alarms", total.alarms),
            ("slow clients", total.slow_clients),
        ] {
            assert!(n > 0, "no {what} in {seeds} seeds");
        }
    }
}
