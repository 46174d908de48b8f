//! Chunking never changes what a replica does: feeding a recorded conversation split at any
//! points (or one byte at a time) gives the same events, the same bytes sent and the same
//! checkpoint as feeding it whole.

mod common;

use std::time::Instant;

use bytes::Bytes;
use common::*;
use proptest::prelude::*;
use proptest::sample::Index;
use replproto::replica::{Event, Phase, Replica};
use replproto::{Checkpoint, Offset};

const REGRESSIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/proptest-regressions/replica_props.txt"
);

/// Everything observable about a replica after it was fed, then told the link ended.
#[derive(Debug, PartialEq)]
struct Observed {
    events: Vec<Event>,
    sent: Bytes,
    phase: Phase,
    offset: Option<Offset>,
    checkpoint: Option<Checkpoint>,
    after_eof: Vec<Event>,
    checkpoint_after_eof: Option<Checkpoint>,
}

fn observe(case: &ConnCase, pieces: &[&[u8]], now: Instant) -> Observed {
    let fed = feed(
        case.config.clone(),
        case.resume,
        pieces.iter().copied(),
        now,
    );
    let mut replica = fed.replica;
    let phase = replica.phase();
    let offset = replica.offset();
    let checkpoint = replica.checkpoint();
    replica.handle_eof(now);
    Observed {
        events: normalize(&fed.events),
        sent: Bytes::from(fed.sent),
        phase,
        offset,
        checkpoint,
        after_eof: drain_events(&mut replica),
        checkpoint_after_eof: replica.checkpoint(),
    }
}

fn assert_same(case: &ConnCase, split: &Observed, whole: &Observed, how: &str) {
    // Compare piece by piece first for a readable failure.
    assert_eq!(
        split.events.len(),
        whole.events.len(),
        "{}: {how}",
        case.label
    );
    for (i, (a, b)) in split.events.iter().zip(&whole.events).enumerate() {
        assert_eq!(a, b, "{}: {how}: event {i}", case.label);
    }
    assert_eq!(split, whole, "{}: {how}", case.label);
}

#[test]
fn the_recorded_chunking_equals_feeding_whole() {
    let now = Instant::now();
    for case in all_connections() {
        let whole_bytes = case.m2r();
        let whole = observe(case, &[&whole_bytes], now);
        let pieces: Vec<&[u8]> = case.chunks.iter().map(Vec::as_slice).collect();
        let recorded = observe(case, &pieces, now);
        assert_same(case, &recorded, &whole, "recorded chunks");
    }
}

#[test]
fn byte_by_byte_equals_feeding_whole() {
    let now = Instant::now();
    for case in all_connections() {
        let whole_bytes = case.m2r();
        let whole = observe(case, &[&whole_bytes], now);
        let pieces: Vec<&[u8]> = whole_bytes.chunks(1).collect();
        let split = observe(case, &pieces, now);
        assert_same(case, &split, &whole, "byte by byte");
    }
}

#[test]
fn every_single_cut_of_short_conversations_equals_feeding_whole() {
    let now = Instant::now();
    for case in all_connections() {
        let whole_bytes = case.m2r();
        if whole_bytes.len() > 2500 {
            continue;
        }
        let whole = observe(case, &[&whole_bytes], now);
        for cut in 1..whole_bytes.len() {
            let (a, b) = whole_bytes.split_at(cut);
            let split = observe(case, &[a, b], now);
            assert_same(case, &split, &whole, &format!("cut at {cut}"));
        }
    }
}

#[test]
fn owned_input_equals_borrowed_input() {
    let now = Instant::now();
    for case in all_connections() {
        let mut borrowed = Replica::new(case.config.clone(), case.resume, now).unwrap();
        let mut owned = Replica::new(case.config.clone(), case.resume, now).unwrap();
        for chunk in &case.chunks {
            borrowed.handle_input(now, chunk);
            owned.handle_input_bytes(now, Bytes::copy_from_slice(chunk));
        }
        assert_eq!(
            normalize(&drain_events(&mut borrowed)),
            normalize(&drain_events(&mut owned)),
            "{}",
            case.label
        );
        assert_eq!(drain_sent(&mut borrowed), drain_sent(&mut owned));
        assert_eq!(borrowed.checkpoint(), owned.checkpoint());
    }
}

proptest! {
    #![proptest_config(prop_config(96, REGRESSIONS))]

    /// Any connection, cut at up to 20 arbitrary points.
    #[test]
    fn splitting_anywhere_equals_feeding_whole(
        which in any::<Index>(),
        cuts in prop::collection::vec(any::<Index>(), 0..20),
    ) {
        let cases = all_connections();
        let case = &cases[which.index(cases.len())];
        let data = case.m2r();
        let points: Vec<usize> = cuts.iter().map(|c| c.index(data.len() + 1)).collect();
        let now = Instant::now();
        let whole = observe(case, &[&data], now);
        let split = observe(case, &split_at_points(&data, &points), now);
        prop_assert_eq!(split, whole, "{} cut at {:?}", case.label, points);
    }

    /// Cuts concentrated inside the first bytes, where the handshake, the PSYNC reply and the
    /// snapshot header are.
    #[test]
    fn splitting_the_handshake_anywhere_equals_feeding_whole(
        which in any::<Index>(),
        cuts in prop::collection::vec(0usize..160, 1..12),
    ) {
        let cases = all_connections();
        let case = &cases[which.index(cases.len())];
        let data = case.m2r();
        let now = Instant::now();
        let whole = observe(case, &[&data], now);
        let split = observe(case, &split_at_points(&data, &cuts), now);
        prop_assert_eq!(split, whole, "{} cut at {:?}", case.label, cuts);
    }
}

/// A damaged conversation: a transcript with bytes flipped, inserted or removed.
#[derive(Debug, Clone)]
enum Damage {
    Flip { at: Index, xor: u8 },
    Insert { at: Index, bytes: Vec<u8> },
    Remove { at: Index, len: usize },
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<Index>(), 1u8..=255).prop_map(|(at, xor)| Damage::Flip { at, xor }),
        (
            any::<Index>(),
            prop::collection::vec(
                prop_oneof![
                    Just(b'\r'),
                    Just(b'\n'),
                    Just(b'*'),
                    Just(b'$'),
                    Just(b'-'),
                    Just(b'+'),
                    any::<u8>()
                ],
                1..8
            )
        )
            .prop_map(|(at, bytes)| Damage::Insert { at, bytes }),
        (any::<Index>(), 1usize..6).prop_map(|(at, len)| Damage::Remove { at, len }),
    ]
}

fn apply(data: &mut Vec<u8>, damage: &Damage) {
    match damage {
        Damage::Flip { at, xor } => {
            if !data.is_empty() {
                let i = at.index(data.len());
                data[i] ^= xor;
            }
        }
        Damage::Insert { at, bytes } => {
            let i = at.index(data.len() + 1);
            data.splice(i..i, bytes.iter().copied());
        }
        Damage::Remove { at, len } => {
            if !data.is_empty() {
                let i = at.index(data.len());
                let end = (i + len).min(data.len());
                data.drain(i..end);
            }
        }
    }
}

/// Events with snapshot chunks left out: a payload rejected at its first bad byte may have
/// been handed out in part when it arrived in pieces.
fn without_chunks(events: &[Event]) -> Vec<Event> {
    events
        .iter()
        .filter(|e| !matches!(e, Event::SnapshotChunk(_)))
        .cloned()
        .collect()
}

proptest! {
    #![proptest_config(prop_config(160, REGRESSIONS))]

    /// Even a damaged conversation is read the same way whatever the chunking: the same
    /// commands, the same bytes sent, the same end and the same checkpoint.
    #[test]
    fn damaged_conversations_do_not_depend_on_chunking(
        which in any::<Index>(),
        damages in prop::collection::vec(damage(), 1..4),
        cuts in prop::collection::vec(any::<Index>(), 0..16),
    ) {
        let cases = all_connections();
        let case = &cases[which.index(cases.len())];
        let mut data = case.m2r();
        for d in &damages {
            apply(&mut data, d);
        }
        let points: Vec<usize> = cuts.iter().map(|c| c.index(data.len() + 1)).collect();
        let now = Instant::now();
        let whole = observe(case, &[&data], now);
        let split = observe(case, &split_at_points(&data, &points), now);
        prop_assert_eq!(without_chunks(&split.events), without_chunks(&whole.events),
            "{} damaged {:?} cut at {:?}", case.label, damages, points);
        prop_assert_eq!(&split.sent, &whole.sent);
        prop_assert_eq!(split.checkpoint, whole.checkpoint);
        prop_assert_eq!(split.checkpoint_after_eof, whole.checkpoint_after_eof);
        prop_assert_eq!(&split.after_eof, &whole.after_eof);
        // Exactly one end, and nothing after it.
        let all: Vec<&Event> = split.events.iter().chain(&split.after_eof).collect();
        let ends = all.iter().filter(|e| matches!(e, Event::Closed(_))).count();
        prop_assert_eq!(ends, 1);
        prop_assert!(matches!(all.last(), Some(Event::Closed(_))));
    }
}
