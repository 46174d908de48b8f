//! One connection to a master.

use std::pin::Pin;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use replproto::replica::{Event, Replica};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Sleep;

/// Size of one read.
const READ_SIZE: usize = 64 * 1024;

/// The current time, from tokio's clock so paused-time tests move it too.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Drives a [`Replica`] over one async connection.
#[derive(Debug)]
pub struct Link<T> {
    io: T,
    replica: Replica,
    /// Where the socket is read into. Each read is handed to the replica as an owned buffer
    /// (`handle_input_bytes`), so a snapshot's bytes are not copied on their way out.
    read_buf: BytesMut,
    /// Bytes the machine wanted sent that are not written yet.
    unsent: Bytes,
    sleep: Pin<Box<Sleep>>,
    /// The deadline `sleep` is set to.
    armed: Option<Instant>,
    finished: bool,
}

impl<T: AsyncRead + AsyncWrite + Unpin> Link<T> {
    /// Pairs a connected stream with a fresh replica machine.
    pub fn new(io: T, replica: Replica) -> Self {
        Link {
            io,
            replica,
            read_buf: BytesMut::new(),
            unsent: Bytes::new(),
            sleep: Box::pin(tokio::time::sleep(std::time::Duration::ZERO)),
            armed: None,
            finished: false,
        }
    }

    /// The state machine.
    pub fn replica(&self) -> &Replica {
        &self.replica
    }

    /// Mutable access to the state machine (e.g. to acknowledge in manual ACK mode).
    pub fn replica_mut(&mut self) -> &mut Replica {
        &mut self.replica
    }

    /// Takes the machine back, e.g. for its checkpoint once the link closed.
    pub fn into_replica(self) -> Replica {
        self.replica
    }

    /// The next event; `None` once `Closed` was returned. Cancel-safe.
    pub async fn next_event(&mut self) -> Option<Event> {
        loop {
            self.flush().await;
            if let Some(event) = self.replica.poll_event() {
                // Returned before any further await, so a cancellation cannot lose it.
                self.finished = matches!(event, Event::Closed(_));
                return Some(event);
            }
            if self.finished {
                let _ = self.io.shutdown().await;
                return None;
            }
            let deadline = self.replica.poll_timeout();
            if deadline != self.armed {
                if let Some(at) = deadline {
                    self.sleep
                        .as_mut()
                        .reset(tokio::time::Instant::from_std(at));
                }
                self.armed = deadline;
            }
            self.read_buf.reserve(READ_SIZE);
            tokio::select! {
                read = self.io.read_buf(&mut self.read_buf) => match read {
                    Ok(0) | Err(_) => self.replica.handle_eof(now()),
                    // The whole buffer goes: unshared, the replica can keep it as it is.
                    Ok(_) => {
                        let read = std::mem::take(&mut self.read_buf).freeze();
                        self.replica.handle_input_bytes(now(), read);
                    }
                },
                () = &mut self.sleep, if self.armed.is_some() => {
                    self.replica.handle_timeout(now());
                }
            }
        }
    }

    /// Writes everything pending. A cancelled call leaves the rest in `unsent`.
    async fn flush(&mut self) {
        loop {
            if self.unsent.is_empty() {
                match self.replica.poll_transmit() {
                    Some(bytes) => self.unsent = bytes,
                    None => return,
                }
            }
            match self.io.write(&self.unsent).await {
                Ok(0) | Err(_) => {
                    self.unsent.clear();
                    self.replica.handle_eof(now());
                }
                Ok(n) => self.unsent.advance(n),
            }
        }
    }

    /// Closes the link from this side; the next event is `Closed(Local)`.
    pub fn close(&mut self) {
        self.replica.close();
    }
}
