//! Commands against the [`Store`]: the exact reply Redis gives, and what to propagate.
//!
//! Only the data commands live here. The node-level ones (`INFO`, `ROLE`, `WAIT`,
//! `REPLICAOF`, `QUIT`) need the replication state and are answered by the server; `PING`,
//! `AUTH`, `REPLCONF`, `PSYNC` and `SYNC` never get this far, the core's session answers them.
//!
//! Propagation follows Redis 7: a relative expiry is turned into an absolute one
//! (`SET k v EX 10` → `SET k v PXAT <ms>`, `EXPIRE k 10` → `PEXPIREAT k <ms>`), an expiry in
//! the past deletes the key and propagates `DEL`, a key found expired on access is deleted and
//! its `DEL` propagated before the command's own effect, and a command that changed nothing
//! propagates nothing.

use bytes::{Bytes, BytesMut};
use replproto::resp::parse_decimal;

use crate::store::{ExpiryPolicy, Store, DATABASES};

/// Who answers a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// [`execute`] does, against the store.
    Data,
    /// The server does (it needs the replication state).
    Node,
}

/// What the server needs to know about a command before running it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// The lower-case name, as errors spell it.
    pub name: &'static str,
    /// Redis's arity rule: `n > 0` exactly `n` words, `n < 0` at least `-n`.
    pub arity: i32,
    /// Whether it writes (refused on a replica, and subject to the min-replicas check).
    pub write: bool,
    /// Who answers it.
    pub scope: Scope,
}

const fn data(name: &'static str, arity: i32, write: bool) -> Spec {
    Spec {
        name,
        arity,
        write,
        scope: Scope::Data,
    }
}

const fn node(name: &'static str, arity: i32) -> Spec {
    Spec {
        name,
        arity,
        write: false,
        scope: Scope::Node,
    }
}

/// Every command this server knows besides those the session answers.
pub const COMMANDS: &[Spec] = &[
    data("get", 2, false),
    data("set", -3, true),
    data("del", -2, true),
    data("exists", -2, false),
    data("incr", 2, true),
    data("decr", 2, true),
    data("expire", -3, true),
    data("pexpire", -3, true),
    data("expireat", -3, true),
    data("pexpireat", -3, true),
    data("ttl", 2, false),
    data("pttl", 2, false),
    data("dbsize", 1, false),
    data("flushall", -1, true),
    data("flushdb", -1, true),
    data("select", 2, false),
    data("echo", 2, false),
    data("command", -1, false),
    node("info", -1),
    node("role", 1),
    node("wait", 3),
    node("replicaof", 3),
    node("slaveof", 3),
    node("quit", -1),
];

/// Finds a command by name, ignoring case.
pub fn spec(name: &[u8]) -> Option<&'static Spec> {
    COMMANDS
        .iter()
        .find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
}

/// Looks the command up and checks its arity: the spec, or the exact error reply.
pub fn check(args: &[Bytes]) -> Result<&'static Spec, BytesMut> {
    let Some(spec) = args.first().and_then(|name| spec(name)) else {
        return Err(unknown_command(args));
    };
    let argc = args.len() as i32;
    if (spec.arity > 0 && argc != spec.arity) || argc < -spec.arity {
        return Err(reply::error(&format!(
            "ERR wrong number of arguments for '{}' command",
            spec.name
        )));
    }
    Ok(spec)
}

/// `-ERR unknown command '<name>', with args beginning with: '<a>' '<b>' ` (at most about 128
/// bytes of arguments), as Redis words it.
pub fn unknown_command(args: &[Bytes]) -> BytesMut {
    let name = args.first().map(|n| &n[..n.len().min(128)]).unwrap_or(b"");
    let mut listed = Vec::new();
    for arg in args.iter().skip(1) {
        if listed.len() >= 128 {
            break;
        }
        let room = 128 - listed.len();
        listed.push(b'\'');
        listed.extend_from_slice(&arg[..arg.len().min(room)]);
        listed.extend_from_slice(b"' ");
    }
    let mut text = b"ERR unknown command '".to_vec();
    text.extend_from_slice(name);
    text.extend_from_slice(b"', with args beginning with: ");
    text.extend_from_slice(&listed);
    reply::error_bytes(&text)
}

/// RESP2 replies, written by the core's encoders (errors excepted, see [`reply::error_bytes`]).
pub mod reply {
    use bytes::{BufMut, BytesMut};
    use replproto::resp::{encode_array_header, encode_bulk, encode_integer, encode_simple};

    /// `+OK`.
    pub fn ok() -> BytesMut {
        BytesMut::from(&b"+OK\r\n"[..])
    }

    /// A simple string (no CR or LF).
    pub fn status(text: &str) -> BytesMut {
        let mut out = BytesMut::with_capacity(text.len() + 3);
        encode_simple(&mut out, text.as_bytes());
        out
    }

    /// An error line; `text` starts with its kind (`ERR …`). CR and LF become spaces.
    pub fn error(text: &str) -> BytesMut {
        error_bytes(text.as_bytes())
    }

    /// An error line from bytes; CR and LF become spaces (the core's encoder takes neither, and
    /// these texts can quote a client's arguments).
    pub fn error_bytes(text: &[u8]) -> BytesMut {
        let mut out = BytesMut::with_capacity(text.len() + 3);
        out.put_u8(b'-');
        out.extend(
            text.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        out.put_slice(b"\r\n");
        out
    }

    /// An integer.
    pub fn int(value: i64) -> BytesMut {
        let mut out = BytesMut::with_capacity(24);
        encode_integer(&mut out, value);
        out
    }

    /// The null bulk string.
    pub fn nil() -> BytesMut {
        BytesMut::from(&b"$-1\r\n"[..])
    }

    /// A bulk string, appended to `out`.
    pub fn push_bulk(out: &mut BytesMut, data: &[u8]) {
        encode_bulk(out, data);
    }

    /// A bulk string.
    pub fn bulk(data: &[u8]) -> BytesMut {
        let mut out = BytesMut::with_capacity(data.len() + 16);
        encode_bulk(&mut out, data);
        out
    }

    /// An array header, appended to `out`.
    pub fn push_array(out: &mut BytesMut, len: usize) {
        encode_array_header(out, len);
    }

    /// An integer, appended to `out`.
    pub fn push_int(out: &mut BytesMut, value: i64) {
        encode_integer(out, value);
    }
}

const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
const SYNTAX: &str = "ERR syntax error";

/// What running a command did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effect {
    /// The complete RESP reply.
    pub reply: BytesMut,
    /// Commands to propagate, in order, all in the client's database (several are one unit,
    /// wrapped in `MULTI`/`EXEC`).
    pub propagate: Vec<Vec<Bytes>>,
    /// Keys found expired and deleted on the way.
    pub expired: u64,
}

/// Runs a data command in database `*db` (which `SELECT` changes). `args` passed
/// [`check`]. `policy` says how expired keys are treated: [`ExpiryPolicy::Delete`] on a master,
/// [`ExpiryPolicy::Hide`] for a replica's clients, [`ExpiryPolicy::Ignore`] for commands from
/// the replication stream.
pub fn execute(
    store: &mut Store,
    db: &mut u32,
    args: &[Bytes],
    now_ms: u64,
    policy: ExpiryPolicy,
) -> Effect {
    let mut run = Run {
        store,
        db: *db,
        now_ms,
        policy,
        propagate: Vec::new(),
        expired: 0,
    };
    let name = args[0].to_ascii_lowercase();
    let reply = match &name[..] {
        b"get" => run.get(&args[1]),
        b"set" => run.set(args),
        b"del" => run.del(args),
        b"exists" => run.exists(args),
        b"incr" => run.incr_by(args, 1),
        b"decr" => run.incr_by(args, -1),
        b"expire" => run.expire(args, Unit::Seconds, Base::Now),
        b"pexpire" => run.expire(args, Unit::Millis, Base::Now),
        b"expireat" => run.expire(args, Unit::Seconds, Base::Epoch),
        b"pexpireat" => run.expire(args, Unit::Millis, Base::Epoch),
        b"ttl" => run.ttl(&args[1], false),
        b"pttl" => run.ttl(&args[1], true),
        b"dbsize" => reply::int(run.store.len(run.db) as i64),
        b"flushall" | b"flushdb" => run.flush(args, &name == b"flushall"),
        b"select" => match parse_decimal(&args[1]) {
            None => reply::error(NOT_INTEGER),
            Some(n) if !(0..i64::from(DATABASES)).contains(&n) => {
                reply::error("ERR DB index is out of range")
            }
            Some(n) => {
                run.db = n as u32;
                reply::ok()
            }
        },
        b"echo" => reply::bulk(&args[1]),
        b"command" => command(args),
        _ => unknown_command(args),
    };
    *db = run.db;
    Effect {
        reply,
        propagate: run.propagate,
        expired: run.expired,
    }
}

/// Applies a command received from this node's own master: no reply, no propagation (the
/// caller relays the exact bytes), expired keys still exist. Whether the command was known.
pub fn apply_replicated(store: &mut Store, db: u32, args: &[Bytes], now_ms: u64) -> bool {
    match check(args) {
        Ok(spec) if spec.scope == Scope::Data && spec.write => {
            let mut db = db;
            execute(store, &mut db, args, now_ms, ExpiryPolicy::Ignore);
            true
        }
        _ => false,
    }
}

fn command(args: &[Bytes]) -> BytesMut {
    let Some(sub) = args.get(1) else {
        // Enough for redis-cli, which only wants command hints.
        return BytesMut::from(&b"*0\r\n"[..]);
    };
    match &sub.to_ascii_lowercase()[..] {
        b"count" => reply::int(COMMANDS.len() as i64),
        b"docs" | b"info" | b"list" => BytesMut::from(&b"*0\r\n"[..]),
        _ => reply::error_bytes(
            &[
                &b"ERR unknown subcommand '"[..],
                &sub[..],
                b"'. Try COMMAND HELP.",
            ]
            .concat(),
        ),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Seconds,
    Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    Now,
    Epoch,
}

/// Converts a user expiry to absolute Unix milliseconds; `None` on overflow.
fn absolute_ms(value: i64, unit: Unit, base: Base, now_ms: u64) -> Option<i64> {
    let ms = match unit {
        Unit::Seconds => value.checked_mul(1000)?,
        Unit::Millis => value,
    };
    match base {
        Base::Now => ms.checked_add(i64::try_from(now_ms).ok()?),
        Base::Epoch => Some(ms),
    }
}

struct Run<'a> {
    store: &'a mut Store,
    db: u32,
    now_ms: u64,
    policy: ExpiryPolicy,
    propagate: Vec<Vec<Bytes>>,
    expired: u64,
}

impl Run<'_> {
    /// The live value of `key`, deleting it (and propagating `DEL`) if it just expired.
    fn lookup(&mut self, key: &Bytes) -> Option<(Bytes, Option<u64>)> {
        let access = self.store.access(self.db, key, self.now_ms, self.policy);
        let found = access.entry.map(|e| (e.value.clone(), e.expire_at_ms));
        if access.expired_deleted {
            self.expired += 1;
            self.propagate
                .push(vec![Bytes::from_static(b"DEL"), key.clone()]);
        }
        found
    }

    fn get(&mut self, key: &Bytes) -> BytesMut {
        match self.lookup(key) {
            Some((value, _)) => reply::bulk(&value),
            None => reply::nil(),
        }
    }

    fn set(&mut self, args: &[Bytes]) -> BytesMut {
        #[derive(PartialEq)]
        enum Cond {
            Always,
            Nx,
            Xx,
        }
        let (key, value) = (&args[1], &args[2]);
        let mut cond = Cond::Always;
        let mut get = false;
        let mut keep_ttl = false;
        let mut expire: Option<(Unit, Base, &Bytes)> = None;
        let mut i = 3;
        while i < args.len() {
            let flag = args[i].to_ascii_lowercase();
            let next = args.get(i + 1);
            match (&flag[..], next) {
                (b"nx", _) if cond != Cond::Xx => cond = Cond::Nx,
                (b"xx", _) if cond != Cond::Nx => cond = Cond::Xx,
                (b"get", _) => get = true,
                (b"keepttl", _) if expire.is_none() => keep_ttl = true,
                (b"ex" | b"px" | b"exat" | b"pxat", Some(v)) if expire.is_none() && !keep_ttl => {
                    let unit = if flag[0] == b'e' {
                        Unit::Seconds
                    } else {
                        Unit::Millis
                    };
                    let base = if flag.len() == 4 {
                        Base::Epoch
                    } else {
                        Base::Now
                    };
                    expire = Some((unit, base, v));
                    i += 1;
                }
                _ => return reply::error(SYNTAX),
            }
            i += 1;
        }
        let mut at_ms = None;
        if let Some((unit, base, v)) = expire {
            let Some(n) = parse_decimal(v) else {
                return reply::error(NOT_INTEGER);
            };
            match absolute_ms(n, unit, base, self.now_ms) {
                Some(at) if n > 0 && at > 0 => at_ms = Some(at as u64),
                _ => return reply::error("ERR invalid expire time in 'set' command"),
            }
        }
        let old = self.lookup(key);
        let old_reply = || match &old {
            Some((v, _)) => reply::bulk(v),
            None => reply::nil(),
        };
        let blocked = match cond {
            Cond::Always => false,
            Cond::Nx => old.is_some(),
            Cond::Xx => old.is_none(),
        };
        if blocked {
            return if get { old_reply() } else { reply::nil() };
        }
        let expire_at = if keep_ttl {
            old.as_ref().and_then(|(_, at)| *at)
        } else {
            at_ms
        };
        self.store
            .set(self.db, key.clone(), value.clone(), expire_at);
        let absolute_already =
            expire.is_some_and(|(u, b, _)| u == Unit::Millis && b == Base::Epoch);
        match at_ms {
            Some(at) if !absolute_already => self.propagate.push(vec![
                Bytes::from_static(b"SET"),
                key.clone(),
                value.clone(),
                Bytes::from_static(b"PXAT"),
                Bytes::from(at.to_string()),
            ]),
            _ => self.propagate.push(args.to_vec()),
        }
        if get {
            old_reply()
        } else {
            reply::ok()
        }
    }

    fn del(&mut self, args: &[Bytes]) -> BytesMut {
        let mut deleted = 0;
        for key in &args[1..] {
            if self.lookup(key).is_some() {
                self.store.remove(self.db, key);
                deleted += 1;
            }
        }
        if deleted > 0 {
            self.propagate.push(args.to_vec());
        }
        reply::int(deleted)
    }

    fn exists(&mut self, args: &[Bytes]) -> BytesMut {
        let found = args[1..]
            .iter()
            .filter(|key| self.lookup(key).is_some())
            .count();
        reply::int(found as i64)
    }

    fn incr_by(&mut self, args: &[Bytes], by: i64) -> BytesMut {
        let key = &args[1];
        let (current, expire_at) = match self.lookup(key) {
            None => (0, None),
            Some((value, at)) => match parse_decimal(&value) {
                Some(n) => (n, at),
                None => return reply::error(NOT_INTEGER),
            },
        };
        let Some(next) = current.checked_add(by) else {
            return reply::error("ERR increment or decrement would overflow");
        };
        self.store.set(
            self.db,
            key.clone(),
            Bytes::from(next.to_string()),
            expire_at,
        );
        self.propagate.push(args.to_vec());
        reply::int(next)
    }

    fn expire(&mut self, args: &[Bytes], unit: Unit, base: Base) -> BytesMut {
        let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
        for flag in &args[3..] {
            match &flag.to_ascii_lowercase()[..] {
                b"nx" => nx = true,
                b"xx" => xx = true,
                b"gt" => gt = true,
                b"lt" => lt = true,
                _ => {
                    return reply::error_bytes(
                        &[&b"ERR Unsupported option "[..], &flag[..]].concat(),
                    )
                }
            }
        }
        if nx && (xx || gt || lt) {
            return reply::error(
                "ERR NX and XX, GT or LT options at the same time are not compatible",
            );
        }
        if gt && lt {
            return reply::error("ERR GT and LT options at the same time are not compatible");
        }
        let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        let Some(n) = parse_decimal(&args[2]) else {
            return reply::error(NOT_INTEGER);
        };
        let Some(at) = absolute_ms(n, unit, base, self.now_ms) else {
            return reply::error(&format!("ERR invalid expire time in '{name}' command"));
        };
        let key = &args[1];
        let Some((_, current)) = self.lookup(key) else {
            return reply::int(0);
        };
        let refused = match current {
            Some(cur) => nx || (gt && at <= cur as i64) || (lt && at >= cur as i64),
            // No expiry counts as an infinite one.
            None => xx || gt,
        };
        if refused {
            return reply::int(0);
        }
        if self.policy != ExpiryPolicy::Ignore && at <= self.now_ms as i64 {
            self.store.remove(self.db, key);
            self.propagate
                .push(vec![Bytes::from_static(b"DEL"), key.clone()]);
            return reply::int(1);
        }
        // A negative absolute time is already past: keep it at the epoch.
        let at = at.max(0) as u64;
        self.store.set_expire(self.db, key, at);
        if unit == Unit::Millis && base == Base::Epoch {
            self.propagate.push(args.to_vec());
        } else {
            self.propagate.push(vec![
                Bytes::from_static(b"PEXPIREAT"),
                key.clone(),
                Bytes::from(at.to_string()),
            ]);
        }
        reply::int(1)
    }

    fn ttl(&mut self, key: &Bytes, ms: bool) -> BytesMut {
        match self.lookup(key) {
            None => reply::int(-2),
            Some((_, None)) => reply::int(-1),
            Some((_, Some(at))) => {
                let left = at.saturating_sub(self.now_ms) as i64;
                reply::int(if ms { left } else { (left + 500) / 1000 })
            }
        }
    }

    fn flush(&mut self, args: &[Bytes], all: bool) -> BytesMut {
        match args.get(1).map(|a| a.to_ascii_lowercase()) {
            None => {}
            Some(mode) if args.len() == 2 && (mode == b"sync" || mode == b"async") => {}
            Some(_) => return reply::error(SYNTAX),
        }
        if all {
            self.store.flush_all();
        } else {
            self.store.flush_db(self.db);
        }
        self.propagate.push(args.to_vec());
        reply::ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    fn args(line: &str) -> Vec<Bytes> {
        line.split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    fn run(store: &mut Store, db: &mut u32, line: &str) -> (String, Vec<String>) {
        let a = args(line);
        let effect = match check(&a) {
            Ok(_) => execute(store, db, &a, NOW, ExpiryPolicy::Delete),
            Err(reply) => Effect {
                reply,
                ..Effect::default()
            },
        };
        let propagated = effect
            .propagate
            .iter()
            .map(|c| {
                c.iter()
                    .map(|w| String::from_utf8_lossy(w).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        (
            String::from_utf8(effect.reply.to_vec()).unwrap(),
            propagated,
        )
    }

    #[test]
    fn replies_match_redis() {
        let mut store = Store::new();
        let mut db = 0;
        let cases: &[(&str, &str)] = &[
            (
                "foo a b",
                "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n",
            ),
            (
                "foo",
                "-ERR unknown command 'foo', with args beginning with: \r\n",
            ),
            (
                "GET",
                "-ERR wrong number of arguments for 'get' command\r\n",
            ),
            (
                "get a b",
                "-ERR wrong number of arguments for 'get' command\r\n",
            ),
            (
                "SET k v EX 0",
                "-ERR invalid expire time in 'set' command\r\n",
            ),
            (
                "SET k v EX -1",
                "-ERR invalid expire time in 'set' command\r\n",
            ),
            (
                "SET k v EX abc",
                "-ERR value is not an integer or out of range\r\n",
            ),
            ("SET k v PX 10 EX 10", "-ERR syntax error\r\n"),
            ("SET k v NX XX", "-ERR syntax error\r\n"),
            ("SET k v KEEPTTL EX 5", "-ERR syntax error\r\n"),
            ("INCR k", ":1\r\n"),
            ("SET k v GET", "$1\r\n1\r\n"),
            ("INCR k", "-ERR value is not an integer or out of range\r\n"),
            ("SET n 9223372036854775807", "+OK\r\n"),
            ("INCR n", "-ERR increment or decrement would overflow\r\n"),
            ("SELECT 16", "-ERR DB index is out of range\r\n"),
            ("SELECT -1", "-ERR DB index is out of range\r\n"),
            (
                "SELECT x",
                "-ERR value is not an integer or out of range\r\n",
            ),
            (
                "EXPIRE k x",
                "-ERR value is not an integer or out of range\r\n",
            ),
            (
                "EXPIRE k 9223372036854775807",
                "-ERR invalid expire time in 'expire' command\r\n",
            ),
            ("EXPIRE nokey 10", ":0\r\n"),
            (
                "DBSIZE x",
                "-ERR wrong number of arguments for 'dbsize' command\r\n",
            ),
            ("FLUSHALL x", "-ERR syntax error\r\n"),
            (
                "COMMAND x",
                "-ERR unknown subcommand 'x'. Try COMMAND HELP.\r\n",
            ),
            (
                "DEL",
                "-ERR wrong number of arguments for 'del' command\r\n",
            ),
            ("GET nokey", "$-1\r\n"),
            ("DBSIZE", ":2\r\n"),
        ];
        for (line, expected) in cases {
            assert_eq!(run(&mut store, &mut db, line).0, *expected, "{line}");
        }
    }

    #[test]
    fn propagation_matches_redis_7() {
        let mut store = Store::new();
        let mut db = 0;
        let at = NOW + 100_000;
        let cases: &[(&str, &[&str])] = &[
            ("SET a 1 EX 100", &[&format!("SET a 1 PXAT {at}")]),
            ("SET b 2 PX 100000", &[&format!("SET b 2 PXAT {at}")]),
            ("SET f 1 NX EX 100", &[&format!("SET f 1 PXAT {at}")]),
            ("SET f 2 XX", &["SET f 2 XX"]),
            ("SET f 3 NX", &[]),
            ("SET g v KEEPTTL", &["SET g v KEEPTTL"]),
            ("SET e 5 EXAT 1", &["SET e 5 PXAT 1000"]),
            ("SET h 5 PXAT 123", &["SET h 5 PXAT 123"]),
            ("EXPIRE a 100", &[&format!("PEXPIREAT a {at}")]),
            ("EXPIRE a 0", &["DEL a"]),
            ("DEL nothing", &[]),
            // e expired at 1000 ms: the access deletes it first.
            ("DEL e b", &["DEL e", "DEL e b"]),
            ("GET h", &["DEL h"]),
            ("INCR ctr", &["INCR ctr"]),
            ("FLUSHALL", &["FLUSHALL"]),
            ("GET nothing", &[]),
        ];
        for (line, expected) in cases {
            assert_eq!(run(&mut store, &mut db, line).1, *expected, "{line}");
        }
    }

    #[test]
    fn incr_keeps_the_ttl_and_select_switches_db() {
        let mut store = Store::new();
        let mut db = 0;
        run(&mut store, &mut db, "SET c 41 EX 10");
        assert_eq!(run(&mut store, &mut db, "INCR c").0, ":42\r\n");
        assert_eq!(run(&mut store, &mut db, "PTTL c").0, ":10000\r\n");
        assert_eq!(run(&mut store, &mut db, "TTL c").0, ":10\r\n");
        assert_eq!(run(&mut store, &mut db, "SELECT 5").0, "+OK\r\n");
        assert_eq!(db, 5);
        assert_eq!(run(&mut store, &mut db, "GET c").0, "$-1\r\n");
        assert_eq!(run(&mut store, &mut db, "TTL c").0, ":-2\r\n");
    }

    #[test]
    fn replicated_commands_ignore_expiry() {
        let mut store = Store::new();
        assert!(apply_replicated(
            &mut store,
            2,
            &args("SET k v PXAT 5"),
            NOW
        ));
        assert!(apply_replicated(&mut store, 2, &args("INCR n"), NOW));
        assert!(!apply_replicated(&mut store, 2, &args("HSET h f v"), NOW));
        assert!(!apply_replicated(&mut store, 2, &args("GET k"), NOW));
        assert_eq!(store.get_raw(2, b"k").unwrap().expire_at_ms, Some(5));
        assert!(apply_replicated(&mut store, 2, &args("PEXPIREAT n 7"), NOW));
        assert_eq!(store.get_raw(2, b"n").unwrap().expire_at_ms, Some(7));
    }
}
