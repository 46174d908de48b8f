//! Polling with a deadline, so tests never rely on a fixed sleep.

use std::thread;
use std::time::{Duration, Instant};

/// How long to pause between two evaluations of a condition.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Polls `cond` about every 10 ms until it returns `true`.
///
/// # Panics
///
/// Panics with a message naming `what` if `cond` is still `false` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    wait_for(what, timeout, || cond().then_some(()))
}

/// Polls `cond` about every 10 ms until it returns `Some(value)`, and returns that value.
///
/// # Panics
///
/// Panics with a message naming `what` if `cond` still returns `None` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut cond: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = cond() {
            return value;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        thread::sleep(POLL_INTERVAL);
    }
}
