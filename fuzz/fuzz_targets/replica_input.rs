//! A replica fed arbitrary master bytes, in arbitrary chunks, after a real handshake prefix:
//! no panic, buffered input within the limits, at most one `Closed`, nothing after it.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use replproto::replica::{Event, Replica, ReplicaConfig};
use replproto::Limits;

const LIMIT: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let t0 = Instant::now();
    let limits = Limits::DEFAULT
        .with_max_bulk_len(LIMIT)
        .with_max_frame_len(2 * LIMIT)
        .with_max_line_len(512)
        .with_max_transaction_len(4 * LIMIT);
    let config = ReplicaConfig::new(6380).with_limits(limits);
    let mut replica = Replica::new(config, None, t0).expect("valid config");
    // Half the inputs start past the handshake, so the fuzzer spends its time deeper in.
    if mode & 1 == 1 {
        replica.handle_input(t0, b"+PONG\r\n+OK\r\n+OK\r\n");
    }
    let chunk = usize::from(mode >> 1).max(1);
    let mut closed = 0;
    for (i, piece) in rest.chunks(chunk).enumerate() {
        let now = t0 + Duration::from_millis(i as u64 * 300);
        replica.handle_input(now, piece);
        if i % 7 == 6 {
            replica.handle_timeout(now);
        }
        assert!(replica.buffered() <= 2 * LIMIT + piece.len());
        while replica.poll_transmit().is_some() {}
        while let Some(event) = replica.poll_event() {
            assert_eq!(closed, 0, "event after Closed");
            if let Event::Closed(_) = event {
                closed += 1;
            }
        }
    }
    replica.handle_eof(t0);
    while let Some(event) = replica.poll_event() {
        assert_eq!(closed, 0, "event after Closed");
        if let Event::Closed(_) = event {
            closed += 1;
        }
    }
    assert_eq!(closed, 1);
});
