//! `replctl`: the command-line tool of `replproto`, and the reference server it runs.
//!
//! The server speaks enough of Redis to be a master (and a replica) that real Redis replicas,
//! `redis-cli --replica` and `redis-cli --rdb` work against: strings in 16 databases with
//! expiry, full and partial resynchronization, `WAIT`, `min-replicas`, `REPLICAOF`, `ROLE` and
//! `INFO replication`. The replication protocol itself is the `replproto` core's; this crate
//! adds the sockets, the clock, the data and the commands.
//!
//! ```no_run
//! use replctl::config::ServerConfig;
//!
//! let node = replctl::server::spawn(ServerConfig::new(0))?;
//! println!("listening on {}", node.addr());
//! node.shutdown();
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Modules, one concept each:
//! - [`store`]: the data set and its lazy expiry;
//! - [`commands`]: commands against the store, their replies and what they propagate;
//! - [`snapshot`]: the store as an RDB, and back;
//! - [`info`]: `INFO` and `ROLE`;
//! - [`upstream`]: the link to this node's own master (replica mode);
//! - [`server`]: the event loop that ties them to the core;
//! - [`config`]: the node's settings.
//!
//! And the command-line tool's subcommands, on the tokio adapter (`replproto-tokio`):
//! - [`demo`]: a master and a replica in one process, narrated;
//! - [`tail`]: follow a master and print what it propagates ([`output`] formats it, [`state`]
//!   keeps the resume point);
//! - [`probe`]: the handshake only, to see what a server speaks;
//! - [`error`]: the one-line messages they fail with.

#![warn(missing_docs)]

pub mod commands;
pub mod config;
mod credentials;
pub mod demo;
pub mod error;
pub mod info;
pub mod output;
pub mod probe;
pub mod server;
pub mod snapshot;
pub mod state;
pub mod store;
pub mod tail;
pub mod upstream;
