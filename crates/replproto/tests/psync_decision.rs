//! The PSYNC decision against an independent model of protocol.md §5.2, over generated ids,
//! offsets and windows, with the edges of the window and of `second_replid_offset` favoured.

use proptest::prelude::*;
use replproto::master::{
    decide_psync, BacklogWindow, FullResyncReason, PsyncDecision, ReplicationIds,
};
use replproto::{Offset, ReplId};

/// What Redis does, restated from the protocol notes without sharing code with the crate.
fn model(
    replid: &str,
    replid2: &str,
    second: i64,
    backlog: Option<(u64, u64)>,
    req_id: &str,
    req_off: &str,
    psync2: bool,
) -> PsyncDecision {
    // Strict integer: optional '-', digits, no leading zero, fits i64.
    let strict = {
        let body = req_off.strip_prefix('-').unwrap_or(req_off);
        !body.is_empty()
            && body.bytes().all(|b| b.is_ascii_digit())
            && !(body.len() > 1 && body.starts_with('0'))
            && req_off != "-0"
            && req_off.parse::<i64>().is_ok()
    };
    if !strict {
        return PsyncDecision::Reject(b"-ERR value is not an integer or out of range\r\n");
    }
    let s: i64 = req_off.parse().unwrap();
    if req_id.starts_with('?') {
        return PsyncDecision::FullResync(FullResyncReason::Requested);
    }
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    if !(same(req_id, replid) || (same(req_id, replid2) && s <= second)) {
        return PsyncDecision::FullResync(FullResyncReason::UnknownHistory);
    }
    let Some((first, histlen)) = backlog else {
        return PsyncDecision::FullResync(FullResyncReason::NoBacklog);
    };
    if s < first as i64 || s > (first + histlen) as i64 {
        return PsyncDecision::FullResync(FullResyncReason::OutOfWindow);
    }
    PsyncDecision::Continue {
        from: s as u64,
        announce: psync2.then(|| ReplId::parse(replid.as_bytes()).unwrap()),
    }
}

fn hex_id() -> impl Strategy<Value = String> {
    "[0-9a-f]{40}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decision_matches_the_model(
        replid in hex_id(),
        old in hex_id(),
        has_replid2 in any::<bool>(),
        second in 0i64..2000,
        first in 1u64..1000,
        histlen in 0u64..1000,
        has_backlog in prop::bool::weighted(0.9),
        which_id in 0u8..5,
        delta in -3i64..3,
        anchor in 0u8..4,
        psync2 in any::<bool>(),
        garbage in prop::sample::select(vec!["", "+5", "05", "-0", "1a", " 1", "99999999999999999999", "-1"]),
        use_garbage in prop::bool::weighted(0.1),
    ) {
        let mut ids = ReplicationIds::new(ReplId::parse(replid.as_bytes()).unwrap());
        if has_replid2 {
            ids.replid2 = ReplId::parse(old.as_bytes()).unwrap();
            ids.second_replid_offset = Some(Offset(second as u64));
        }
        let (replid2, second_signed) = if has_replid2 { (old.clone(), second) } else { ("0".repeat(40), -1) };
        let backlog = has_backlog.then_some((first, histlen));
        let window = backlog.map(|(first_offset, histlen)| BacklogWindow { first_offset, histlen });
        let req_id = match which_id {
            0 => replid.clone(),
            1 => replid.to_ascii_uppercase(),
            2 => old.clone(),
            3 => "?".to_string(),
            _ => "0".repeat(40),
        };
        // Offsets around the interesting edges: window start, window end + 1, second offset.
        let base = match anchor {
            0 => first as i64,
            1 => (first + histlen) as i64,
            2 => second,
            _ => -1,
        };
        let req_off = if use_garbage { garbage.to_string() } else { (base + delta).to_string() };
        let got = decide_psync(&ids, window, req_id.as_bytes(), req_off.as_bytes(), psync2);
        let want = model(&replid, &replid2, second_signed, backlog, &req_id, &req_off, psync2);
        prop_assert_eq!(got, want);
    }
}

#[test]
fn verified_cases_from_a_real_master() {
    // protocol.md A.2: backlog first byte 1, master offset 107.
    let id = ReplId::parse(b"e8120531390c7d051bcb7f000ce2b93dfe8b7184").unwrap();
    let ids = ReplicationIds::new(id);
    let window = Some(BacklogWindow {
        first_offset: 1,
        histlen: 107,
    });
    let ask = |req: &[u8], off: &[u8], psync2| decide_psync(&ids, window, req, off, psync2);
    assert_eq!(
        ask(id.as_bytes(), b"1", true),
        PsyncDecision::Continue {
            from: 1,
            announce: Some(id)
        }
    );
    assert_eq!(
        ask(id.as_bytes(), b"0", true),
        PsyncDecision::FullResync(FullResyncReason::OutOfWindow)
    );
    assert_eq!(
        ask(id.as_bytes(), b"108", true),
        PsyncDecision::Continue {
            from: 108,
            announce: Some(id)
        }
    );
    assert_eq!(
        ask(id.as_bytes(), b"109", true),
        PsyncDecision::FullResync(FullResyncReason::OutOfWindow)
    );
    let upper = id.as_str().to_ascii_uppercase();
    assert_eq!(
        ask(upper.as_bytes(), b"108", true),
        PsyncDecision::Continue {
            from: 108,
            announce: Some(id)
        }
    );
    assert_eq!(
        ask(id.as_bytes(), b"108", false),
        PsyncDecision::Continue {
            from: 108,
            announce: None
        }
    );
    assert!(matches!(
        ask(id.as_bytes(), b"abc", true),
        PsyncDecision::Reject(_)
    ));
    assert!(matches!(
        ask(id.as_bytes(), b"+5", true),
        PsyncDecision::Reject(_)
    ));

    // A.5: promoted at offset 163; old-id 164 continues with the new id, 165 does not.
    let mut promoted = ReplicationIds::new(id);
    let new = ReplId::parse(b"058b0000000000000000000000000000000000aa").unwrap();
    promoted.shift(new, Offset(163));
    let window = Some(BacklogWindow {
        first_offset: 1,
        histlen: 177,
    });
    assert_eq!(
        decide_psync(&promoted, window, id.as_bytes(), b"164", true),
        PsyncDecision::Continue {
            from: 164,
            announce: Some(new)
        }
    );
    assert_eq!(
        decide_psync(&promoted, window, id.as_bytes(), b"165", true),
        PsyncDecision::FullResync(FullResyncReason::UnknownHistory)
    );
}
