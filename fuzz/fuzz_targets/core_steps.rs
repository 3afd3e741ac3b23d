#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| torpor_core::testkit::steps::core_steps_bytes(data));
