//! Disconnect at every byte: the scripted session is run once per cut point, the link cut
//! after byte k of one direction, for every k of both directions and both snapshot framings.
//! The replica reconnects with its checkpoint; the pair checks, command by command, that
//! what the replica delivers over all its links is the master's stream exactly once and in
//! order, that the master resyncs partially exactly when its window and id history hold the
//! checkpoint, and at the end that offsets, ACK and data agree.
//!
//! Each cut point runs twice: with a short outage (the master's backlog still holds the
//! replica's offset: partial resync whenever the replica had a checkpoint) and with a burst
//! of writes larger than the backlog during the outage (full resync).

use std::io::Write as _;
use std::time::Duration;

use replproto_testkit::pair::{Pair, PairConfig, Resync};
use replproto_testkit::scenario::{run_op, scripted_session};
use replproto_testkit::Dir;

fn config(diskless: bool, burst: bool) -> PairConfig {
    PairConfig {
        diskless,
        backlog_size: 16 * 1024,
        ping_period: Duration::from_secs(2),
        reconnect_delay: Duration::from_millis(250),
        burst_on_cut: if burst { 40 * 1024 } else { 0 },
        ..PairConfig::default()
    }
}

/// Bytes each direction of an uncut run carries, through the script and one settling second.
fn totals(diskless: bool) -> [u64; 2] {
    let mut pair = Pair::new(config(diskless, false));
    for op in scripted_session() {
        run_op(&mut pair, &op);
    }
    pair.run_for(Duration::from_secs(1));
    let totals = [
        pair.link_bytes(Dir::ReplicaToMaster),
        pair.link_bytes(Dir::MasterToReplica),
    ];
    let report = pair.finish();
    assert_eq!(report.links.len(), 1, "the uncut run needs one link");
    assert_eq!(report.full(), 1);
    totals
}

/// What the reports of the runs showed, summed over the runs.
#[derive(Default, Debug)]
struct Tally {
    /// Runs whose first link was ended by the armed cut.
    points: u64,
    /// Links ended by a cut.
    cuts: u64,
    /// Links opened after the first, that is, reconnections.
    reconnects: u64,
    /// Reconnections that got as far as a resync.
    resynced: u64,
    partial: u64,
    full: u64,
}

fn cut_everywhere(diskless: bool, dir: Dir, total: u64, burst: bool) -> Tally {
    let mut tally = Tally::default();
    for k in 0..total {
        let mut pair = Pair::new(config(diskless, burst));
        pair.cut_after(dir, k);
        for op in scripted_session() {
            run_op(&mut pair, &op);
        }
        pair.run_for(Duration::from_secs(1));
        let report = pair.finish();
        let context = || format!("cut after byte {k} {}", dir.label());
        assert!(report.links[0].cut, "{}: the cut never fired", context());
        assert!(report.links.len() >= 2, "{}: no reconnection", context());
        for link in &report.links[1..] {
            match (link.resume, link.resync, burst) {
                // The backlog holds the checkpoint: the master must continue.
                (Some(_), Some(resync), false) => {
                    assert!(
                        matches!(resync, Resync::Partial(..)),
                        "{}: {resync:?} although the window holds the checkpoint",
                        context()
                    );
                }
                // The burst pushed the checkpoint out of the window.
                (Some(_), Some(resync), true) => {
                    assert!(
                        matches!(resync, Resync::Full(_)),
                        "{}: {resync:?} although the window lost the checkpoint",
                        context()
                    );
                }
                (None, Some(resync), _) => {
                    assert!(matches!(resync, Resync::Full(_)), "{}", context());
                }
                (_, None, _) => {}
            }
        }
        tally.points += u64::from(report.links[0].cut);
        tally.cuts += report.links.iter().filter(|l| l.cut).count() as u64;
        tally.reconnects += report.links.len() as u64 - 1;
        tally.resynced += report.links[1..]
            .iter()
            .filter(|l| l.resync.is_some())
            .count() as u64;
        tally.partial += report.partial() as u64;
        tally.full += report.full() as u64;
    }
    tally
}

#[test]
fn every_byte_cut_loses_and_repeats_nothing() {
    for diskless in [false, true] {
        let framing = if diskless {
            "diskless ($EOF:)"
        } else {
            "disk ($<len>)"
        };
        let [r2m, m2r] = totals(diskless);
        let mut points = [0u64; 2];
        let mut cuts = [0u64; 2];
        let mut reconnects = 0;
        let mut resynced = 0;
        let mut partial = 0;
        let mut full = 0;
        for (i, (dir, total)) in [(Dir::ReplicaToMaster, r2m), (Dir::MasterToReplica, m2r)]
            .into_iter()
            .enumerate()
        {
            for burst in [false, true] {
                let tally = cut_everywhere(diskless, dir, total, burst);
                points[i] += tally.points;
                cuts[i] += tally.cuts;
                reconnects += tally.reconnects;
                resynced += tally.resynced;
                partial += tally.partial;
                full += tally.full;
            }
        }
        let _ = writeln!(
            std::io::stderr(),
            "every-byte cut: {} cut points checked ({} {}, {} {}), {framing}; \
             link bytes {r2m}/{m2r}; resyncs: {partial} partial, {full} full; \
             reconnections: {reconnects}",
            points[0] + points[1],
            Dir::ReplicaToMaster.label(),
            points[0],
            Dir::MasterToReplica.label(),
            points[1],
        );
        // Every run (each byte of each direction, with and without the burst) saw its armed
        // cut end the first link, and no other link was cut.
        assert_eq!(points, [2 * r2m, 2 * m2r], "runs whose first link was cut");
        assert_eq!(cuts, points, "links ended by a cut");
        // Every run reconnected once, after its cut, and that link resynced.
        let runs = points[0] + points[1];
        assert_eq!(reconnects, runs, "reconnections over {runs} runs");
        assert_eq!(
            resynced, runs,
            "resyncs after a reconnection over {runs} runs"
        );
        assert!(partial > 0 && full > 0);
    }
}
