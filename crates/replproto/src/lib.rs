//! Sans-IO Redis master/replica replication.
//!
//! `replproto` speaks the replication protocol of Redis and Valkey byte for byte: the
//! handshake (`PING`, `AUTH`, `REPLCONF`, `PSYNC`/`SYNC`), the snapshot transfer in both
//! framings (`$<len>` and diskless `$EOF:<mark>`), the command stream with exact offset
//! accounting, `REPLCONF ACK`/`GETACK`, and resuming with `PSYNC` from a [`Checkpoint`].
//!
//! It does no I/O. A state machine takes bytes, the end of the connection and the current
//! time as inputs, and hands out bytes to send, events and its next deadline. No sockets,
//! threads, files, clock reads or randomness live here; the `replproto-std` and
//! `replproto-tokio` crates drive the machines over real sockets.
//!
//! # The canonical event loop
//!
//! Every machine has the same verbs. After each input, drain the events, then what to send,
//! then ask for the next deadline. Events come before transmit because handing an event out
//! is what advances the replica's offset and checkpoint, and can queue an ACK (the answer to
//! a `GETACK`, the ACK that starts the stream after a diskless snapshot):
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use std::net::TcpStream;
//! use std::time::{Duration, Instant};
//!
//! use replproto::replica::{Event, Replica, ReplicaConfig};
//!
//! let mut socket = TcpStream::connect("127.0.0.1:6379")?;
//! let mut replica = Replica::new(ReplicaConfig::new(6380), None, Instant::now())?;
//! let mut buf = vec![0u8; 64 * 1024];
//! loop {
//!     while let Some(event) = replica.poll_event() {
//!         match event {
//!             Event::SnapshotChunk(rdb) => { /* load or store the snapshot */ }
//!             Event::Command(cmd) => println!("{} {:?}", cmd.offset, cmd.frame),
//!             Event::Closed(reason) => eprintln!("link closed: {reason}"),
//!             _ => {}
//!         }
//!     }
//!     while let Some(bytes) = replica.poll_transmit() {
//!         socket.write_all(&bytes)?;
//!     }
//!     let Some(deadline) = replica.poll_timeout() else { break }; // closed
//!     let wait = deadline.saturating_duration_since(Instant::now());
//!     socket.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
//!     match socket.read(&mut buf) {
//!         Ok(0) => replica.handle_eof(Instant::now()),
//!         Ok(n) => replica.handle_input(Instant::now(), &buf[..n]),
//!         Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
//!             || e.kind() == std::io::ErrorKind::TimedOut => replica.handle_timeout(Instant::now()),
//!         Err(_) => replica.handle_eof(Instant::now()),
//!     }
//! }
//! // Resume the next link where this one stopped (a partial resync if the master can).
//! let resume = replica.checkpoint();
//! # let _ = resume;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Stream commands are decoded when they are asked for, straight from the input buffer. A
//! loop that applies each command and moves on can take them borrowed with
//! [`Replica::poll_command`](replica::Replica::poll_command), which creates no buffer handle
//! per command, and take everything else with `poll_event`; delivery has the same effects
//! either way:
//!
//! ```no_run
//! # use std::time::Instant;
//! # use replproto::replica::{Replica, ReplicaConfig};
//! # let mut replica = Replica::new(ReplicaConfig::new(6380), None, Instant::now())?;
//! # let mut out: Vec<u8> = Vec::new();
//! loop {
//!     while let Some(command) = replica.poll_command() {
//!         out.extend_from_slice(command.frame.raw()); // e.g. relay the exact bytes
//!     }
//!     match replica.poll_event() {
//!         Some(event) => { /* handshake, snapshot, Closed: as above */ }
//!         None => break,
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Because the machine is pure, the same conversation can be replayed from bytes, here a
//! master that accepts a partial resync:
//!
//! ```
//! use std::time::Instant;
//! use replproto::replica::{CommandKind, Event, Replica, ReplicaConfig};
//! use replproto::{Checkpoint, Offset, ReplId};
//!
//! let t0 = Instant::now();
//! let replid = ReplId::parse(b"e8120531390c7d051bcb7f000ce2b93dfe8b7184")?;
//! let resume = Checkpoint { replid, offset: Offset(1000), db: 0 };
//! let mut replica = Replica::new(ReplicaConfig::new(6380), Some(resume), t0)?;
//! assert_eq!(&replica.poll_transmit().unwrap()[..], b"*1\r\n$4\r\nPING\r\n");
//!
//! replica.handle_input(t0, b"+PONG\r\n+OK\r\n+OK\r\n");
//! let psync = replica.poll_transmit().unwrap();
//! assert!(psync.ends_with(b"*3\r\n$5\r\nPSYNC\r\n$40\r\ne8120531390c7d051bcb7f000ce2b93dfe8b7184\r\n$4\r\n1001\r\n"));
//!
//! replica.handle_input(t0, b"+CONTINUE\r\n*1\r\n$4\r\nping\r\n");
//! // Decoded, but not yet handed out: the checkpoint has not moved.
//! assert_eq!(replica.checkpoint().unwrap().offset, Offset(1000));
//! let commands: Vec<_> = std::iter::from_fn(|| replica.poll_event())
//!     .filter_map(|e| match e { Event::Command(c) => Some(c), _ => None })
//!     .collect();
//! assert_eq!(commands[0].kind, CommandKind::Ping);
//! assert_eq!(replica.checkpoint().unwrap().offset, Offset(1014));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Modules
//! - [`replica`]: the replica side of a master link.
//! - [`resp`]: the RESP codec.
//! - [`rdb`]: what the replication layer needs of the RDB format (checksum, aux fields).

#![warn(missing_docs)]

pub mod checkpoint;
pub mod limits;
pub mod master;
pub mod offset;
mod outbox;
pub mod rdb;
pub mod replica;
pub mod replid;
pub mod resp;

pub use checkpoint::Checkpoint;
pub use limits::Limits;
pub use offset::Offset;
pub use replid::{ReplId, ReplIdError};
