//! Test support shared with benches and the cargo-fuzz crate (feature `testkit`).
//!
//! Fuzz bodies live here, not in `fuzz/`, so stable CI compiles and runs them over known inputs
//! while `fuzz/` stays a thin nightly-only shell.

pub mod driver;
pub mod fuzz;
pub mod sim;
pub mod steps;
