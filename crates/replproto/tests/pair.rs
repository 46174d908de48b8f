//! Our replica against our master, in memory: full sync in both framings, propagation,
//! ACKs, a cut link resumed with `+CONTINUE`, a backlog overflow, promotion.

use std::time::{Duration, Instant};

use bytes::Bytes;
use replproto::master::{Master, MasterConfig, MasterEvent, SessionId};
use replproto::rdb::{ChecksumStatus, RdbWriter};
use replproto::replica::{Command, CommandKind, Event, Replica, ReplicaConfig};
use replproto::Checkpoint;

struct Pair {
    master: Master,
    session: SessionId,
    replica: Replica,
    now: Instant,
    events: Vec<Event>,
}

fn snapshot(master: &Master) -> Bytes {
    let (replid, offset, db) = master.snapshot_aux();
    let mut rdb = RdbWriter::new("test");
    rdb.replication_info(replid, offset, db);
    rdb.start_db(0, 1, 0);
    rdb.string(b"k", b"v", None);
    Bytes::from(rdb.finish())
}

impl Pair {
    fn connect(
        mut master: Master,
        config: ReplicaConfig,
        resume: Option<Checkpoint>,
        now: Instant,
    ) -> Pair {
        let session = master.add_session(now);
        let replica = Replica::new(config, resume, now).unwrap();
        let mut pair = Pair {
            master,
            session,
            replica,
            now,
            events: Vec::new(),
        };
        pair.pump();
        pair
    }

    fn pump(&mut self) {
        loop {
            let mut moved = false;
            while let Some(bytes) = self.replica.poll_transmit() {
                self.master.handle_input(self.session, self.now, &bytes);
                moved = true;
            }
            while let Some(event) = self.master.poll_event() {
                if let MasterEvent::SnapshotNeeded { session, .. } = event {
                    let rdb = snapshot(&self.master);
                    self.master.send_snapshot(session, self.now, rdb).unwrap();
                    moved = true;
                }
            }
            while let Some(bytes) = self.master.poll_transmit(self.session) {
                self.replica.handle_input(self.now, &bytes);
                moved = true;
            }
            while let Some(event) = self.replica.poll_event() {
                self.events.push(event);
            }
            if !moved {
                return;
            }
        }
    }

    fn tick(&mut self, by: Duration) {
        self.now += by;
        self.replica.handle_timeout(self.now);
        self.master.handle_timeout(self.now);
        self.pump();
    }

    fn commands(&self) -> Vec<&Command> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Command(c) => Some(c),
                _ => None,
            })
            .collect()
    }

    fn cut(mut self) -> (Master, Option<Checkpoint>) {
        self.replica.handle_eof(self.now);
        self.master.handle_eof(self.session, self.now);
        self.master.remove_session(self.session);
        (self.master, self.replica.checkpoint())
    }
}

fn master(diskless: bool, backlog: usize, now: Instant) -> Master {
    seeded(diskless, backlog, now, [7; 32])
}

fn seeded(diskless: bool, backlog: usize, now: Instant, seed: [u8; 32]) -> Master {
    let mut config = MasterConfig::default();
    config.diskless_sync = diskless;
    config.backlog_size = backlog;
    Master::new(config, seed, now)
}

#[test]
fn full_sync_both_framings_then_stream_and_acks() {
    for diskless in [false, true] {
        let t0 = Instant::now();
        let mut pair = Pair::connect(
            master(diskless, 1 << 20, t0),
            ReplicaConfig::new(7777),
            None,
            t0,
        );
        let end = pair.events.iter().find_map(|e| match e {
            Event::SnapshotEnd { checksum, .. } => Some(*checksum),
            _ => None,
        });
        assert_eq!(end, Some(ChecksumStatus::Verified), "diskless={diskless}");
        pair.master.propagate(Some(3), &["SET", "a", "1"]);
        pair.master
            .propagate_unit(Some(3), &[vec!["INCR", "n"], vec!["INCR", "m"]]);
        pair.pump();
        let names: Vec<String> = pair
            .commands()
            .iter()
            .map(|c| String::from_utf8_lossy(c.frame.name()).into_owned())
            .collect();
        assert_eq!(names, ["SELECT", "SET", "MULTI", "INCR", "INCR", "EXEC"]);
        assert!(pair.commands().iter().skip(1).all(|c| c.db == 3));
        assert_eq!(pair.replica.offset(), Some(pair.master.offset()));
        pair.tick(Duration::from_secs(1));
        assert_eq!(
            pair.master.replicas_acked(pair.master.offset()),
            1,
            "diskless={diskless}"
        );
    }
}

#[test]
fn cut_link_resumes_with_continue_and_loses_nothing() {
    let t0 = Instant::now();
    let mut pair = Pair::connect(
        master(true, 1 << 20, t0),
        ReplicaConfig::new(7777),
        None,
        t0,
    );
    for i in 0..10 {
        pair.master
            .propagate(Some(0), &["SET", &format!("k{i}"), "v"]);
    }
    pair.pump();
    // Writes made while the replica is away are served from the backlog.
    let (mut master, checkpoint) = pair.cut();
    for i in 10..20 {
        master.propagate(Some(0), &["SET", &format!("k{i}"), "v"]);
    }
    let pair = Pair::connect(master, ReplicaConfig::new(7777), checkpoint, t0);
    assert!(pair
        .events
        .iter()
        .any(|e| matches!(e, Event::PartialResync { .. })));
    let keys: Vec<String> = pair
        .commands()
        .iter()
        .filter(|c| c.kind == CommandKind::Other)
        .map(|c| String::from_utf8_lossy(c.frame.arg(1).unwrap()).into_owned())
        .collect();
    assert_eq!(keys, (10..20).map(|i| format!("k{i}")).collect::<Vec<_>>());
    assert_eq!(pair.master.stats().partial_ok, 1);
    assert_eq!(pair.replica.offset(), Some(pair.master.offset()));
}

#[test]
fn backlog_overflow_means_full_resync() {
    let t0 = Instant::now();
    let pair = Pair::connect(
        master(false, 16 * 1024, t0),
        ReplicaConfig::new(7777),
        None,
        t0,
    );
    let (mut master, checkpoint) = pair.cut();
    let value = "x".repeat(1024);
    for i in 0..40 {
        master.propagate(Some(0), &["SET", &format!("k{i}"), &value]);
    }
    let pair = Pair::connect(master, ReplicaConfig::new(7777), checkpoint, t0);
    assert!(pair
        .events
        .iter()
        .any(|e| matches!(e, Event::FullResync { .. })));
    assert_eq!(pair.master.stats().full, 2);
    assert_eq!(pair.master.stats().partial_err, 1);
}

#[test]
fn promoted_replica_serves_the_old_history_with_a_new_id() {
    let t0 = Instant::now();
    // A is the top master; B replicates from it and relays into its own Master.
    let mut a = Pair::connect(
        master(true, 1 << 20, t0),
        ReplicaConfig::new(7001),
        None,
        t0,
    );
    let (replid, offset) = a
        .events
        .iter()
        .find_map(|e| match e {
            Event::FullResync { replid, offset } => Some((*replid, *offset)),
            _ => None,
        })
        .unwrap();
    let mut b = seeded(true, 1 << 20, t0, [9; 32]);
    b.follow(replid, offset, 0, t0);
    a.master.propagate(Some(0), &["SET", "x", "1"]);
    a.pump();
    for c in a.commands() {
        b.relay(c.frame.raw().clone());
    }
    assert_eq!(b.offset(), a.master.offset());

    // C, a replica of the old history, resumes against B once B is promoted.
    let checkpoint = Checkpoint {
        replid,
        offset: b.offset(),
        db: 0,
    };
    b.promote(t0);
    assert_eq!(b.ids().replid2, replid);
    assert_eq!(b.ids().second_replid_offset, Some(b.offset().advanced(1)));
    let new_id = b.ids().replid;
    let c = Pair::connect(b, ReplicaConfig::new(7003), Some(checkpoint), t0);
    let resumed = c.events.iter().find_map(|e| match e {
        Event::PartialResync {
            replid,
            previous_replid,
            ..
        } => Some((*replid, *previous_replid)),
        _ => None,
    });
    assert_eq!(resumed, Some((new_id, Some(replid))));
    assert_eq!(
        c.replica.replid2(),
        Some((replid, checkpoint.offset.advanced(1)))
    );
}

#[test]
fn silent_replica_is_dropped_after_repl_timeout() {
    let t0 = Instant::now();
    let mut pair = Pair::connect(
        master(true, 1 << 20, t0),
        ReplicaConfig::new(7777),
        None,
        t0,
    );
    // The replica stops acking: only the master's clock moves.
    pair.now += Duration::from_secs(61);
    pair.master.handle_timeout(pair.now);
    let closed = std::iter::from_fn(|| pair.master.poll_event())
        .any(|e| matches!(e, MasterEvent::Closed { .. }));
    assert!(closed);
}
