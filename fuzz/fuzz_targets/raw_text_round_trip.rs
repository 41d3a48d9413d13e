#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gateway_fuzz::raw_text_round_trip(data));
