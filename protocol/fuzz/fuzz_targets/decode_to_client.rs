#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| torpor_protocol::v7::roundtrip::to_client(data));
