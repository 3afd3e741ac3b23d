#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| torpor_protocol::v8::roundtrip::to_envoy(data));
