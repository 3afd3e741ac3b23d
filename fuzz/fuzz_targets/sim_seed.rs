#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| torpor_core::testkit::fuzz::sim_seed(data));
