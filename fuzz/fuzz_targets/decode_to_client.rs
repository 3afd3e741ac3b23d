#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| torpor_core::testkit::fuzz::decode_to_client(data));
