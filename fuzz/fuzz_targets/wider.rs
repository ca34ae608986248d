#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| facecam_tests::fuzz_targets::wider(data));
