//! Test support shared with benches and the cargo-fuzz crate (feature `testkit`).
//!
//! Fuzz bodies live here, not in `fuzz/`, so stable CI compiles and runs them over known inputs
//! while `fuzz/` stays a thin nightly-only shell.

mod checks;
pub mod driver;
pub mod envoy_shim;
pub mod fuzz;
pub mod sim;
pub mod steps;

/// Runs `body` over every input committed in `fuzz/seeds/<target>`; returns how many there were.
#[cfg(test)]
fn replay_seeds(target: &str, body: impl Fn(&[u8])) -> usize {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds")
        .join(target);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut n = 0;
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        body(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
        n += 1;
    }
    n
}
