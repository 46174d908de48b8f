//! A follower (each adapter's: `replproto_std` and `replproto_tokio`) against real masters that require a password or an ACL user:
//! each case ends as the master dictates (protocol.md §9.1 items 8, 9 and 27), with an error
//! that says what to fix, and a refusal keeps the checkpoint a later link resumes from.

use std::time::Duration;

use replproto::replica::{CloseReason, Event, HandshakeCommand, Phase, ReplicaConfig};
use replproto::Checkpoint;
use replproto_e2e::{
    assert_contiguous, commands, driver_tests, free_port, summary, CutProxy, Delivered, Driver,
    FollowerThread, Redis, RedisServer,
};

const TIMEOUT: Duration = Duration::from_secs(10);
const PASSWORD: &str = "secret";
const NOAUTH: &str = "-NOAUTH Authentication required.";

fn master_with_password(redis: Redis) -> RedisServer {
    redis.start(&["--requirepass", PASSWORD, "--repl-diskless-sync-delay", "0"])
}

/// One link's events, up to and including its `Closed`.
fn one_link(follower: &FollowerThread) -> Vec<Delivered> {
    follower.until("the link to close", TIMEOUT, |e| {
        matches!(e, Event::Closed(_))
    })
}

/// The events of a link as (what, text) pairs, for comparing with the expected sequence.
fn shape(link: &[Delivered]) -> Vec<(String, String)> {
    link.iter()
        .map(|d| match &d.event {
            Event::HandshakeReply { command, reply } => (
                format!("{command:?}"),
                String::from_utf8_lossy(reply).into_owned(),
            ),
            Event::LegacySync { reply } => (
                "LegacySync".into(),
                String::from_utf8_lossy(reply).into_owned(),
            ),
            Event::Closed(CloseReason::Refused { phase, reply }) => {
                (format!("Refused({phase:?})"), format!("-{reply}"))
            }
            other => (summary(other), String::new()),
        })
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// The `Refused` reason a link ended with.
fn refusal(link: &[Delivered]) -> &CloseReason {
    match link.last().map(|d| &d.event) {
        Some(Event::Closed(reason @ CloseReason::Refused { .. })) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The reply text of a command's error, as the master words it in this version.
fn noperm(redis: Redis, command: &str) -> String {
    match redis {
        Redis::Default => {
            format!("-NOPERM this user has no permissions to run the '{command}' command")
        }
        Redis::V6 => format!(
            "-NOPERM this user has no permissions to run the '{command}' command or its subcommand"
        ),
    }
}

fn wrongpass(redis: Redis) -> &'static str {
    match redis {
        Redis::Default => "-WRONGPASS invalid username-password pair or user is disabled.",
        Redis::V6 => "-WRONGPASS invalid username-password pair",
    }
}

/// The master takes our `AUTH`, serves a full sync, and our replica gets its writes.
fn streams_after_auth(
    driver: Driver,
    redis: Redis,
    master: &RedisServer,
    config: ReplicaConfig,
    port: u16,
) {
    let follower = FollowerThread::start_with(driver, master.addr(), config);
    let mut m = master.client();
    let sync = follower.until_synced(&mut m, port, TIMEOUT);
    let fullresync = format!("+FULLRESYNC {} {}", sync.replid.as_str(), sync.offset);
    let handshake: Vec<(String, String)> = sync
        .handshake
        .iter()
        .map(|(c, r)| (format!("{c:?}"), r.clone()))
        .collect();
    assert_eq!(
        handshake,
        pairs(&[
            ("Ping", NOAUTH),
            ("Auth", "+OK"),
            ("ListeningPort", "+OK"),
            ("Capa", "+OK"),
            ("Psync", &fullresync),
        ]),
        "against {redis}"
    );
    assert!(m.cmd(&["SET", "authorized", "yes"]).is_ok());
    follower.until(
        "SET authorized",
        TIMEOUT,
        |e| matches!(e, Event::Command(c) if c.frame.arg(1) == Some(b"authorized")),
    );
    assert_eq!(m.stats().full, 1);
}

fn right_password_scenario(driver: Driver, redis: Redis) {
    let master = master_with_password(redis);
    let port = free_port();
    streams_after_auth(
        driver,
        redis,
        &master,
        ReplicaConfig::new(port).with_password(PASSWORD),
        port,
    );
}

driver_tests! {
    fn right_password_streams_redis7(driver) {
        right_password_scenario(driver, Redis::Default);
    }
}

driver_tests! {
    fn right_password_streams_redis6(driver) {
        right_password_scenario(driver, Redis::V6);
    }
}

/// `AUTH` fails: the link ends right there, the REPLCONF replies unread, and every retry ends
/// the same way.
fn wrong_password_scenario(driver: Driver, redis: Redis) {
    let master = master_with_password(redis);
    let follower = FollowerThread::start_with(
        driver,
        master.addr(),
        ReplicaConfig::new(free_port()).with_password("wrong"),
    );
    for attempt in 0..2 {
        let link = one_link(&follower);
        assert_eq!(
            shape(&link),
            pairs(&[
                ("Ping", NOAUTH),
                ("Auth", wrongpass(redis)),
                ("Refused(Handshake)", wrongpass(redis)),
            ]),
            "attempt {attempt} against {redis}"
        );
        let reason = refusal(&link);
        let CloseReason::Refused { reply, .. } = reason else {
            unreachable!()
        };
        assert_eq!(reply.kind(), b"WRONGPASS");
        let text = reason.to_string();
        assert!(
            text.contains("WRONGPASS") && text.contains("check the user name and password"),
            "{text}"
        );
        assert_eq!(link.last().unwrap().checkpoint, None);
    }
    let mut m = master.client();
    assert_eq!(m.stats().full, 0);
    assert_eq!(m.info_replication()["connected_slaves"], "0");
}

driver_tests! {
    fn wrong_password_is_refused_redis7(driver) {
        wrong_password_scenario(driver, Redis::Default);
    }
}

driver_tests! {
    fn wrong_password_is_refused_redis6(driver) {
        wrong_password_scenario(driver, Redis::V6);
    }
}

/// No password: the REPLCONFs get `-NOAUTH` (ignored), so does `PSYNC`, which makes the
/// replica fall back to `SYNC`, and the `-NOAUTH` answering that ends the link.
fn missing_password_scenario(driver: Driver, redis: Redis) {
    let master = master_with_password(redis);
    let follower =
        FollowerThread::start_with(driver, master.addr(), ReplicaConfig::new(free_port()));
    let link = one_link(&follower);
    assert_eq!(
        shape(&link),
        pairs(&[
            ("Ping", NOAUTH),
            ("ListeningPort", NOAUTH),
            ("Capa", NOAUTH),
            ("Psync", NOAUTH),
            ("LegacySync", NOAUTH),
            ("Refused(SnapshotHeader)", NOAUTH),
        ]),
        "against {redis}"
    );
    let reason = refusal(&link);
    let CloseReason::Refused { reply, .. } = reason else {
        unreachable!()
    };
    assert_eq!(reply.kind(), b"NOAUTH");
    assert!(!reason.is_protocol_error());
    let text = reason.to_string();
    assert!(
        text.contains("NOAUTH") && text.contains("the master needs a password"),
        "{text}"
    );
    assert_eq!(master.client().stats().full, 0);
}

driver_tests! {
    fn missing_password_falls_back_to_sync_and_is_refused_redis7(driver) {
        missing_password_scenario(driver, Redis::Default);
    }
}

driver_tests! {
    fn missing_password_falls_back_to_sync_and_is_refused_redis6(driver) {
        missing_password_scenario(driver, Redis::V6);
    }
}

/// An ACL user with `+psync +replconf +ping` is all a replica needs.
fn acl_user_scenario(driver: Driver, redis: Redis) {
    let master = master_with_password(redis);
    let reply = master.client().cmd(&[
        "ACL",
        "SETUSER",
        "repl",
        "on",
        ">pw",
        "+psync",
        "+replconf",
        "+ping",
    ]);
    assert!(reply.is_ok(), "{reply:?}");
    let port = free_port();
    streams_after_auth(
        driver,
        redis,
        &master,
        ReplicaConfig::new(port).with_user("repl", "pw"),
        port,
    );
}

driver_tests! {
    fn acl_user_with_replication_permissions_streams_redis7(driver) {
        acl_user_scenario(driver, Redis::Default);
    }
}

driver_tests! {
    fn acl_user_with_replication_permissions_streams_redis6(driver) {
        acl_user_scenario(driver, Redis::V6);
    }
}

/// An ACL user without `+psync`: `-NOPERM` to `PSYNC`, the `SYNC` fallback, `-NOPERM` again.
fn acl_user_without_psync_scenario(driver: Driver, redis: Redis) {
    let master = master_with_password(redis);
    let reply = master.client().cmd(&[
        "ACL",
        "SETUSER",
        "replnp",
        "on",
        ">pw",
        "+replconf",
        "+ping",
    ]);
    assert!(reply.is_ok(), "{reply:?}");
    let follower = FollowerThread::start_with(
        driver,
        master.addr(),
        ReplicaConfig::new(free_port()).with_user("replnp", "pw"),
    );
    let link = one_link(&follower);
    let (psync, sync) = (noperm(redis, "psync"), noperm(redis, "sync"));
    assert_eq!(
        shape(&link),
        pairs(&[
            ("Ping", NOAUTH),
            ("Auth", "+OK"),
            ("ListeningPort", "+OK"),
            ("Capa", "+OK"),
            ("Psync", &psync),
            ("LegacySync", &psync),
            ("Refused(SnapshotHeader)", &sync),
        ]),
        "against {redis}"
    );
    let reason = refusal(&link);
    let CloseReason::Refused { reply, .. } = reason else {
        unreachable!()
    };
    assert_eq!(reply.kind(), b"NOPERM");
    let text = reason.to_string();
    assert!(
        text.contains("NOPERM") && text.contains("the ACL user needs permission"),
        "{text}"
    );
    assert_eq!(master.client().stats().full, 0);
}

driver_tests! {
    fn acl_user_without_psync_is_refused_redis7(driver) {
        acl_user_without_psync_scenario(driver, Redis::Default);
    }
}

driver_tests! {
    fn acl_user_without_psync_is_refused_redis6(driver) {
        acl_user_without_psync_scenario(driver, Redis::V6);
    }
}

/// A follower that resumes from `checkpoint` with `config`.
fn resuming(
    driver: Driver,
    master: &RedisServer,
    config: ReplicaConfig,
    checkpoint: Checkpoint,
) -> FollowerThread {
    FollowerThread::resume_with(driver, master.addr(), config, Some(checkpoint))
}

driver_tests! {
    fn checkpoint_survives_refusals_and_resumes(driver) {
        checkpoint_survives_refusals_scenario(driver);
    }
}

/// A refusal is not a protocol error: the checkpoint survives a wrong and a missing password,
/// and the right password then resumes from it with `+CONTINUE`.
fn checkpoint_survives_refusals_scenario(driver: Driver) {
    let master = master_with_password(Redis::Default);
    let proxy = CutProxy::start(master.addr());
    let port = free_port();
    let config = ReplicaConfig::new(port);
    let first =
        FollowerThread::start_with(driver, proxy.addr(), config.clone().with_password(PASSWORD));
    let mut m = master.client();
    let sync = first.until_synced(&mut m, port, TIMEOUT);
    assert!(m.cmd(&["SET", "before-cut", "1"]).is_ok());
    first.until(
        "SET before-cut",
        TIMEOUT,
        |e| matches!(e, Event::Command(c) if c.frame.arg(1) == Some(b"before-cut")),
    );
    proxy.set_blocked(true);
    proxy.cut();
    let closed = one_link(&first);
    let checkpoint = closed
        .last()
        .unwrap()
        .checkpoint
        .expect("a checkpoint survives the cut");
    assert_eq!(checkpoint.replid, sync.replid);
    drop(first);
    assert!(m.cmd(&["SET", "while-away", "1"]).is_ok());

    let wrong = resuming(
        driver,
        &master,
        config.clone().with_password("wrong"),
        checkpoint,
    );
    let link = one_link(&wrong);
    assert!(matches!(
        refusal(&link),
        CloseReason::Refused {
            phase: Phase::Handshake,
            ..
        }
    ));
    assert_eq!(link.last().unwrap().checkpoint, Some(checkpoint));
    drop(wrong);

    let missing = resuming(driver, &master, config.clone(), checkpoint);
    let link = one_link(&missing);
    assert!(matches!(
        refusal(&link),
        CloseReason::Refused {
            phase: Phase::SnapshotHeader,
            ..
        }
    ));
    assert!(link
        .iter()
        .any(|d| matches!(d.event, Event::LegacySync { .. })));
    assert_eq!(link.last().unwrap().checkpoint, Some(checkpoint));
    drop(missing);

    let right = resuming(driver, &master, config.with_password(PASSWORD), checkpoint);
    let resumed = right.until("a partial resync", TIMEOUT, |e| {
        matches!(e, Event::PartialResync { .. })
    });
    let Some(Event::PartialResync { replid, offset, .. }) = resumed.last().map(|d| &d.event) else {
        unreachable!()
    };
    assert_eq!((*replid, *offset), (checkpoint.replid, checkpoint.offset));
    assert_eq!(
        resumed.iter().find_map(|d| match &d.event {
            Event::HandshakeReply {
                command: HandshakeCommand::Psync,
                reply,
            } => Some(String::from_utf8_lossy(reply).into_owned()),
            _ => None,
        }),
        Some(format!("+CONTINUE {}", checkpoint.replid.as_str()))
    );
    let streamed = right.until(
        "SET while-away",
        TIMEOUT,
        |e| matches!(e, Event::Command(c) if c.frame.arg(1) == Some(b"while-away")),
    );
    assert_contiguous(checkpoint.offset, &commands(&streamed));
    let stats = m.stats();
    assert_eq!((stats.full, stats.partial_ok, stats.partial_err), (1, 1, 0));
}
