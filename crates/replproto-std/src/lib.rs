//! Blocking driver for [`replproto`]'s replica state machine over `std::io`.
//!
//! [`Link`] pumps one connection: it writes what the [`Replica`] wants sent, reads with a
//! timeout set to the machine's next deadline, and hands out events. [`Follower`] reconnects
//! after a link ends and resumes from the checkpoint the previous link left. Neither makes a
//! protocol decision: every `if` about the protocol lives in the core.
//!
//! ```no_run
//! use replproto::replica::{Event, ReplicaConfig};
//! use replproto_std::Follower;
//!
//! let mut follower = Follower::new("127.0.0.1:6379", ReplicaConfig::new(6380));
//! loop {
//!     match follower.next_event() {
//!         Ok(Event::Command(cmd)) => println!("{:?} at offset {}", cmd.frame, cmd.offset),
//!         Ok(Event::Closed(reason)) => eprintln!("link closed: {reason}"),
//!         Ok(_) => {}
//!         Err(e) => eprintln!("cannot connect: {e}"),
//!     }
//! }
//! ```

#![warn(missing_docs)]

mod follower;
mod link;
mod transport;

pub use follower::Follower;
pub use link::Link;
pub use transport::{Transport, Untimed};

pub use replproto::replica::Replica;
