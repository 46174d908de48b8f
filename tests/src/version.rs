//! The Redis versions the end-to-end tests run against.

use std::fmt;
use std::path::PathBuf;

use crate::RedisServer;

/// Environment variable naming the Redis 6.0.9 `redis-server` binary (`scripts/test` installs
/// it and sets this).
pub const REDIS6_ENV: &str = "REPLPROTO_REDIS6_SERVER";

/// A Redis version to run a scenario against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redis {
    /// The default server, [`RedisServer::default_binary`]: Redis 7 (7.0.15 from Debian).
    Default,
    /// Redis 6.0.9, the binary named by `$REPLPROTO_REDIS6_SERVER`.
    V6,
}

impl Redis {
    /// The server binary.
    ///
    /// # Panics
    ///
    /// For [`Redis::V6`], if neither `$REPLPROTO_REDIS6_SERVER` nor the copy scripts/test
    /// installs exists: a missing server is a failure, never a skip.
    pub fn binary(self) -> PathBuf {
        match self {
            Redis::Default => RedisServer::default_binary(),
            Redis::V6 => std::env::var_os(REDIS6_ENV)
                .map(PathBuf::from)
                .or_else(|| {
                    // Where scripts/test installs it, for runs of plain `cargo test` afterwards.
                    let cached = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                        .join("../target/redis-6.0.9/redis_server/bin/redis-server");
                    cached.exists().then_some(cached)
                })
                .unwrap_or_else(|| {
                    panic!(
                        "Redis 6.0.9 not found: run scripts/test, which installs it into \
                         target/redis-6.0.9 (or set {REDIS6_ENV} to a redis-server 6.0.9 binary)"
                    )
                }),
        }
    }

    /// Starts a server of this version with `extra_args` and checks that it is that version.
    ///
    /// # Panics
    ///
    /// As [`RedisServer::start`], and if the server reports another version.
    pub fn start(self, extra_args: &[&str]) -> RedisServer {
        self.start_with_files(&[], extra_args)
    }

    /// Like [`Redis::start`], with files written into the server's dir first (see
    /// [`RedisServer::start_with_files`]).
    ///
    /// # Panics
    ///
    /// As [`Redis::start`].
    pub fn start_with_files(self, files: &[(&str, &[u8])], extra_args: &[&str]) -> RedisServer {
        let server = RedisServer::start_with_files(&self.binary(), files, extra_args);
        let version = server.client().info("server")["redis_version"].clone();
        let expected = match self {
            Redis::Default => {
                version
                    .split('.')
                    .next()
                    .and_then(|major| major.parse().ok())
                    >= Some(7u32)
            }
            Redis::V6 => version == "6.0.9",
        };
        assert!(
            expected,
            "{} is Redis {version}, expected {self}",
            self.binary().display()
        );
        server
    }

    /// What its snapshots start with: the RDB magic, and the format version where it is known
    /// (9 for 6.0; 10 or more for 7.x).
    pub fn rdb_prefix(self) -> &'static [u8] {
        match self {
            Redis::Default => b"REDIS00",
            Redis::V6 => b"REDIS0009",
        }
    }
}

impl fmt::Display for Redis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Redis::Default => "7.x",
            Redis::V6 => "6.0.9",
        })
    }
}
