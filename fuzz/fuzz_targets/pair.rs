//! The whole pair: an arbitrary scenario (setup, writes, transactions, GETACKs, time, cuts,
//! bursts, failovers, closes) runs our replica against our master over the byte netem; the
//! replica must deliver the master's stream exactly once and in order, resync partially
//! exactly when the master can, and end at the master's offset with the master's data.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| replproto_testkit::fuzzing::pair(data));
