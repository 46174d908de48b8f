//! One connection to a master.

use std::io::{self, ErrorKind};
use std::time::{Duration, Instant};

use replproto::replica::{Event, Replica};

use crate::Transport;

/// Size of one read from the socket.
const READ_SIZE: usize = 64 * 1024;

/// Drives a [`Replica`] over one blocking connection.
#[derive(Debug)]
pub struct Link<T: Transport> {
    transport: T,
    replica: Replica,
    read_buf: Box<[u8]>,
    finished: bool,
}

impl<T: Transport> Link<T> {
    /// Pairs a connected transport with a fresh replica machine.
    pub fn new(transport: T, replica: Replica) -> Self {
        Link {
            transport,
            replica,
            read_buf: vec![0; READ_SIZE].into_boxed_slice(),
            finished: false,
        }
    }

    /// The state machine, e.g. to [`acknowledge`](Replica::acknowledge) or read the checkpoint.
    pub fn replica(&self) -> &Replica {
        &self.replica
    }

    /// Mutable access to the state machine.
    pub fn replica_mut(&mut self) -> &mut Replica {
        &mut self.replica
    }

    /// Takes the machine back (after the link closed, for its checkpoint).
    pub fn into_replica(self) -> Replica {
        self.replica
    }

    /// Blocks until the next event. Returns `None` once the `Closed` event has been returned.
    pub fn next_event(&mut self) -> Option<Event> {
        loop {
            self.flush();
            if let Some(event) = self.replica.poll_event() {
                if let Event::Closed(_) = event {
                    self.finished = true;
                    let _ = self.transport.shutdown();
                }
                return Some(event);
            }
            if self.finished {
                return None;
            }
            self.wait_for_input();
        }
    }

    fn flush(&mut self) {
        while let Some(bytes) = self.replica.poll_transmit() {
            if self
                .transport
                .write_all(&bytes)
                .and_then(|_| self.transport.flush())
                .is_err()
            {
                self.replica.handle_eof(Instant::now());
            }
        }
    }

    fn wait_for_input(&mut self) {
        let now = Instant::now();
        let Some(deadline) = self.replica.poll_timeout() else {
            return;
        };
        if deadline <= now {
            self.replica.handle_timeout(now);
            return;
        }
        // A zero timeout means "block forever" to std; keep at least a millisecond.
        let wait = (deadline - now).max(Duration::from_millis(1));
        if self.transport.set_read_timeout(Some(wait)).is_err() {
            self.replica.handle_eof(now);
            return;
        }
        match self.transport.read(&mut self.read_buf) {
            Ok(0) => self.replica.handle_eof(Instant::now()),
            Ok(n) => self
                .replica
                .handle_input(Instant::now(), &self.read_buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                self.replica.handle_timeout(Instant::now())
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => self.replica.handle_eof(Instant::now()),
        }
    }

    /// Closes the link from this side; the next events end with `Closed(Local)`.
    pub fn close(&mut self) -> io::Result<()> {
        self.replica.close();
        self.transport.shutdown()
    }
}
