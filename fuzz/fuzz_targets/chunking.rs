//! Chunking equivalence: master bytes fed to a replica whole, in arbitrary pieces, byte by
//! byte and through the zero-copy path give the same events, bytes sent, checkpoint and
//! phase; client bytes fed to a master session whole or in pieces give the same replies.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| replproto_testkit::fuzzing::chunking(data));
