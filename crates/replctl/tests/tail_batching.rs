//! `replctl tail` without a state file writes its output in blocks: a burst of pipelined
//! writes reaches the output in far fewer write calls than commands, every block holds whole
//! commands, the bytes are exactly the stream's, and the master is never acknowledged a byte
//! the output has not received.

mod common;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::resp;
use replctl::output::Format;
use replctl::tail::{tail, TailOptions};
use replproto_e2e::{free_port, wait_until, RedisServer};

const TIMEOUT: Duration = Duration::from_secs(20);

/// Every `write` call the output received, in order.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Vec<u8>>>>);

impl Recorder {
    fn bytes(&self) -> usize {
        self.0.lock().unwrap().iter().map(Vec::len).sum()
    }
}

impl Write for Recorder {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().push(buf.to_vec());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn tail_writes_whole_commands_in_blocks_and_acknowledges_only_what_is_written() {
    // No keepalive in the stream while the test runs, so the expected output is exact.
    let master = RedisServer::start(&[
        "--repl-ping-replica-period",
        "3600",
        "--repl-diskless-sync-delay",
        "0",
    ]);
    let mut m = master.client();
    let port = free_port();
    let out = Recorder::default();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runner = {
        let out = out.clone();
        let options = TailOptions {
            format: Format::Resp,
            announce_port: port,
            ..TailOptions::new(master.addr().to_string())
        };
        thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(tail(options, out, async {
                    let _ = stopped.await;
                }))
        })
    };
    wait_until("the master lists replctl tail online", TIMEOUT, || {
        m.replica_online(port)
    });
    // The stream starts right after the snapshot, at the master's current offset.
    let base = m.master_repl_offset();

    // One burst of pipelined writes.
    let n = 20_000usize;
    let mut burst = Vec::new();
    let mut expected = resp(&[b"SELECT", b"0"]);
    for i in 0..n {
        let set = resp(&[
            b"SET",
            format!("key:{i}").as_bytes(),
            format!("value-{i:0>24}").as_bytes(),
        ]);
        burst.extend_from_slice(&set);
        expected.extend_from_slice(&set);
    }
    let mut client = TcpStream::connect(master.addr()).unwrap();
    let writer = {
        let mut client = client.try_clone().unwrap();
        thread::spawn(move || client.write_all(&burst).unwrap())
    };

    // While the stream flows: an acknowledged byte is always one the output already has.
    let end = base + expected.len() as u64;
    wait_until("tail to acknowledge the whole burst", TIMEOUT, || {
        let (_, acked) = m.online_replica_offset(port);
        let acked = acked.expect("tail stays online");
        let written = base + out.bytes() as u64;
        assert!(acked <= written, "acknowledged {acked}, written {written}");
        acked == end
    });
    writer.join().unwrap();
    let mut replies = vec![0u8; 5 * n];
    client.read_exact(&mut replies).unwrap();
    assert!(replies.chunks(5).all(|r| r == b"+OK\r\n"));

    stop.send(()).unwrap();
    let summary = runner.join().unwrap().unwrap();
    assert_eq!(summary.printed, n as u64 + 1);

    let writes = out.0.lock().unwrap().clone();
    assert_eq!(
        writes.concat(),
        expected,
        "the output is the stream, byte for byte"
    );
    // Whole commands only: each block starts a command and ends one.
    assert!(writes
        .iter()
        .all(|w| w.first() == Some(&b'*') && w.ends_with(b"\r\n")));
    assert!(
        writes.len() * 20 <= n,
        "{} write calls for {n} commands",
        writes.len()
    );
}
