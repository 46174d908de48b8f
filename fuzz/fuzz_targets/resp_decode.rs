//! Every RESP decoder on arbitrary bytes: no panic, limits hold, a frame that decodes
//! re-encodes to the bytes it came from (commands) or to an equivalent value (frames).
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use replproto::resp::{decode_frame, encode_frame, CommandDecoder, Decoded};
use replproto::Limits;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::DEFAULT
        .with_max_bulk_len(4096)
        .with_max_frame_len(8192)
        .with_max_line_len(1024)
        .with_max_depth(8);

    let mut buf = BytesMut::from(data);
    while let Ok(Some(frame)) = decode_frame(&mut buf, &limits) {
        let mut again = BytesMut::new();
        encode_frame(&mut again, &frame);
        assert_eq!(decode_frame(&mut again, &limits), Ok(Some(frame)));
    }

    let mut decoder = CommandDecoder::new(limits);
    let mut at = 0;
    // Feed in growing prefixes so the resumable path is exercised too.
    let step = usize::from(data.first().copied().unwrap_or(1)).max(1);
    let mut end = step.min(data.len());
    loop {
        match decoder.decode(&data[at..end]) {
            Ok(Decoded::Incomplete) if end == data.len() => break,
            Ok(Decoded::Incomplete) => end = (end + step).min(data.len()),
            Ok(Decoded::Keepalive { len })
            | Ok(Decoded::Command { len, .. })
            | Ok(Decoded::Inline { len, .. }) => {
                assert!(len <= 8192 + 2 && at + len <= end);
                at += len;
            }
            Err(_) => break,
        }
    }
});
