//! Follows a master and prints what it streams: `cargo run --example follow -- 127.0.0.1:6379`.

use replproto::replica::{Event, ReplicaConfig};
use replproto_std::Follower;

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:6379".into());
    let mut config = ReplicaConfig::new(0);
    if let Ok(password) = std::env::var("REDISCLI_AUTH") {
        config = config.with_password(password);
    }
    let mut follower = Follower::new(addr.as_str(), config);
    loop {
        match follower.next_event() {
            Ok(Event::Command(cmd)) => println!("{} db={} {:?}", cmd.offset, cmd.db, cmd.frame),
            Ok(Event::SnapshotChunk(_)) => {}
            Ok(Event::Closed(reason)) => eprintln!("closed: {reason}"),
            Ok(event) => eprintln!("{event:?}"),
            Err(e) => eprintln!("cannot connect to {addr}: {e}"),
        }
    }
}
