//! The randomized exactly-once test: thousands of seeded worlds (see `testkit::sim`).
//! `TORPOR_SIM_SEED=n` replays one seed; `TORPOR_SIM_SEEDS=n` sets how many run.

use crate::testkit::sim::Sim;

fn run_seed(seed: u64) {
    let mut sim = Sim::new(seed);
    if let Err(why) = sim.run() {
        panic!(
            "simulation failed: {why}\nSEED={seed} params={:?}\nreplay: TORPOR_SIM_SEED={seed} cargo test -p torpor-core --lib hibernation_sim",
            sim.params()
        );
    }
}

#[test]
fn every_accepted_message_is_persisted_exactly_once_in_order() {
    if let Some(seed) = std::env::var("TORPOR_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        run_seed(seed);
        return;
    }
    let seeds: u64 = std::env::var("TORPOR_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    for seed in 0..seeds {
        run_seed(seed);
    }
}
