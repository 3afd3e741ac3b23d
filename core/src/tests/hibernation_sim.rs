//! The randomized exactly-once test: thousands of seeded worlds (see `testkit::sim`).
//! `TORPOR_SIM_SEED=n` replays one seed; `TORPOR_SIM_SEEDS=n` sets how many run;
//! `TORPOR_SIM_STATS=1` prints how often each fault fired (with `--nocapture`);
//! `TORPOR_SIM_TRACE=1` prints every model event (use with one seed); `TORPOR_SIM_KEEP_GOING=1`
//! runs every seed and lists all failures instead of stopping at the first;
//! `TORPOR_SIM_IGNORE='text|text'` skips violations containing either text, to triage what a
//! known defect hides (never in CI).

use crate::testkit::sim::{Sim, SimStats};

/// Runs one world; its fault counts, and the violation if it failed.
fn run_seed(seed: u64) -> (SimStats, Result<(), String>) {
    let mut sim = Sim::new(seed);
    let outcome = sim.run().map_err(|why| {
        format!(
            "simulation failed: {why}\nSEED={seed} pools={:?} params={:?}\nreplay: TORPOR_SIM_SEED={seed} cargo test -p torpor-core --lib hibernation_sim",
            sim.pools(),
            sim.params()
        )
    });
    (sim.stats, outcome)
}

/// Faults that must fire on most seeds (the per-seed mix draws each one's probability, so a
/// few seeds see none): at least this share of seeds.
const MOST: f64 = 0.5;

#[test]
fn every_accepted_message_is_persisted_exactly_once_in_order() {
    if let Some(seed) = std::env::var("TORPOR_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        let (stats, outcome) = run_seed(seed);
        eprintln!("seed {seed}: {stats:?}");
        if let Err(why) = outcome {
            panic!("{why}");
        }
        return;
    }
    let seeds: u64 = std::env::var("TORPOR_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8_000);
    let keep_going = std::env::var_os("TORPOR_SIM_KEEP_GOING").is_some();
    let mut total = SimStats::default();
    // How many seeds saw each count above zero.
    let mut seen = SimStats::default();
    let mut failures = Vec::new();
    let mut wrapped = Vec::new();
    for seed in 0..seeds {
        let (stats, outcome) = run_seed(seed);
        total.add(&stats);
        seen.add(&stats.fired());
        if stats.index_wraps > 0 {
            wrapped.push(seed);
        }
        match outcome {
            Ok(()) => {}
            Err(why) if keep_going => {
                eprintln!("{}", why.lines().next().unwrap_or_default());
                eprintln!("    SEED={seed}");
                failures.push(seed);
            }
            Err(why) => panic!("{why}"),
        }
    }
    if std::env::var_os("TORPOR_SIM_STATS").is_some() {
        eprintln!("{seeds} seeds: count (seeds where it fired)");
        for ((name, n), (_, s)) in total.counts().into_iter().zip(seen.counts()) {
            eprintln!("  {name:>26}: {n:>10} ({s} seeds)");
        }
        eprintln!("seeds that wrapped a message index: {wrapped:?}");
    }
    assert!(failures.is_empty(), "failing seeds: {failures:?}");
    // The fault mix must actually reach every fault over the CI seed count, and the ones the
    // issue asks for on most seeds.
    if seeds >= 2_000 {
        for (name, n) in seen.counts() {
            // An outcome the gateway decides, not a fault the world injects.
            let outcome = name == "http_runner_disconnected";
            assert!(outcome || n > 0, "no {name} in {seeds} seeds");
            if MOST_SEEDS.contains(&name) {
                assert!(
                    n as f64 >= MOST * seeds as f64,
                    "{name} fired on only {n} of {seeds} seeds"
                );
            }
        }
    }
}

/// Counts that must be above zero on most seeds.
const MOST_SEEDS: &[&str] = &[
    "runner_drops",
    "frames_lost_to_runner",
    "pauses",
    "resumes",
    "actor_messages",
    "http_requests",
    "non_hibernatable",
];

/// Seeds beyond the default range that once found a defect, replayed on every run: 36716 (a
/// stale close of an open given up at a link drop), 44837 (a left client's socket failed with
/// its runner instead of waiting for the next start), 37913 and 51977 (a generation started
/// twice: a stale `Stopped` taken for the current instance's), 114701 (a placement waiting for
/// its generation to be stored stayed waiting after the write succeeded because an older
/// write of the same row failed for good); and the oracle's own: 27687 (a
/// runner whose connection the gateway closed never came back while healing), 66215, 90066,
/// 93730, 96358, 52440 (a policy close of a left client's socket lost with its link was taken
/// for a loss), 78324 (another process connecting was taken for the socket's re-attach).
#[test]
fn seeds_that_found_defects_pass() {
    let seeds = [
        27_687, 36_716, 37_913, 44_837, 51_977, 52_440, 66_215, 78_324, 90_066, 93_730, 96_358,
        114_701,
    ];
    for seed in seeds {
        if let (_, Err(why)) = run_seed(seed) {
            panic!("{why}");
        }
    }
}
