//! Benchmarks for Torpor live in `benches/`; run them with `cargo bench -p torpor-benches`.

pub mod load;
