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

#![warn(missing_docs)]

pub mod commands;
pub mod config;
pub mod info;
pub mod server;
pub mod snapshot;
pub mod store;
pub mod upstream;
