//! Async driver for [`replproto`]'s replica state machine over tokio.
//!
//! [`Link`] pumps one connection over any `AsyncRead + AsyncWrite`; [`Follower`] reconnects
//! and resumes from the checkpoint each link leaves. Both are the async twins of
//! `replproto-std` and make no protocol decision.
//!
//! Cancel safety: [`Link::next_event`] and [`Follower::next_event`] may be dropped at any
//! `.await` (inside `tokio::select!`, under a timeout) without losing or repeating a byte:
//! bytes read are handed to the machine before the future can be dropped again, bytes not yet
//! written stay in the link, and the machine itself keeps every undelivered event. No task is
//! spawned and no lock is taken; the timer is reset only when the machine's deadline changes.
//!
//! ```no_run
//! use replproto::replica::{Event, ReplicaConfig};
//! use replproto_tokio::Follower;
//!
//! # async fn run() {
//! let mut follower = Follower::new("127.0.0.1:6379", ReplicaConfig::new(6380));
//! loop {
//!     match follower.next_event().await {
//!         Ok(Event::Command(cmd)) => println!("{:?} at {}", cmd.frame, cmd.offset),
//!         Ok(Event::Closed(reason)) => eprintln!("link closed: {reason}"),
//!         Ok(_) => {}
//!         Err(e) => eprintln!("cannot connect: {e}"),
//!     }
//! }
//! # }
//! ```

#![warn(missing_docs)]

mod follower;
mod link;

pub use follower::Follower;
pub use link::Link;
pub use replproto::replica::Replica;
