//! A master serving one connection whose peer sends arbitrary bytes, in arbitrary chunks,
//! while the application answers AUTH, commands and snapshots and propagates writes: no
//! panic, one `Closed` and nothing after it, unsent output under its cap, `poll_timeout`
//! moving forward after `handle_timeout`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| replproto_testkit::fuzzing::master_input(data));
