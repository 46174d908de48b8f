//! `next_event` cancelled at random points inside `tokio::select!` loses and repeats nothing:
//! our replica follows our master over an in-memory pipe small enough to split every frame.

use std::time::{Duration, Instant};

use bytes::Bytes;
use replproto::master::{Master, MasterConfig, MasterEvent};
use replproto::rdb::RdbWriter;
use replproto::replica::{CommandKind, Event, Replica, ReplicaConfig};
use replproto_tokio::Link;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

const WRITES: usize = 2000;

/// The master end: a session of our own master, fed writes as it goes.
async fn serve(mut io: DuplexStream) {
    let t0 = Instant::now();
    let mut master = Master::new(MasterConfig::default(), [3; 32], t0);
    let id = master.add_session(t0);
    let mut buf = vec![0u8; 4096];
    let mut written = 0;
    let mut online = false;
    loop {
        while let Some(event) = master.poll_event() {
            if let MasterEvent::SnapshotNeeded { session, .. } = event {
                let (replid, offset, db) = master.snapshot_aux();
                let mut rdb = RdbWriter::new("test");
                rdb.replication_info(replid, offset, db);
                master
                    .send_snapshot(session, Instant::now(), Bytes::from(rdb.finish()))
                    .unwrap();
                online = true;
            }
        }
        if online && written < WRITES {
            let key = format!("seq:{written}");
            master.propagate(Some(written as u32 % 3), &["SET", key.as_str(), "v"]);
            written += 1;
        }
        while let Some(bytes) = master.poll_transmit(id) {
            if io.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let read = tokio::time::timeout(Duration::from_micros(200), io.read(&mut buf)).await;
        match read {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(n)) => master.handle_input(id, Instant::now(), &buf[..n]),
            Err(_) => {}
        }
        master.handle_timeout(Instant::now());
    }
}

#[tokio::test(flavor = "current_thread")]
async fn cancelled_next_event_loses_and_repeats_nothing() {
    // 61 bytes of pipe: frames and snapshot are split across many reads and writes.
    let (replica_end, master_end) = tokio::io::duplex(61);
    tokio::spawn(serve(master_end));
    let replica = Replica::new(ReplicaConfig::new(7000), None, Instant::now()).unwrap();
    let mut link = Link::new(replica_end, replica);

    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut keys = Vec::new();
    let mut cancelled = 0;
    while keys.len() < WRITES {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let patience = Duration::from_micros(rng % 300);
        tokio::select! {
            event = link.next_event() => match event {
                Some(Event::Command(cmd)) if cmd.kind == CommandKind::Other => {
                    keys.push(String::from_utf8(cmd.frame.arg(1).unwrap().to_vec()).unwrap());
                }
                Some(Event::Closed(reason)) => panic!("link closed: {reason}"),
                Some(_) => {}
                None => panic!("link ended"),
            },
            () = tokio::time::sleep(patience) => cancelled += 1,
        }
    }
    let expected: Vec<String> = (0..WRITES).map(|i| format!("seq:{i}")).collect();
    assert_eq!(keys, expected);
    assert!(
        cancelled > 100,
        "only {cancelled} cancellations: the test did not exercise them"
    );
    println!(
        "{WRITES} commands received exactly once across {cancelled} cancelled next_event calls"
    );
}
