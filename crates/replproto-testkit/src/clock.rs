//! A simulated clock: a fixed base `Instant` plus a simulated `Duration`. Nothing here sleeps
//! or reads the system clock after construction.

use std::time::{Duration, Instant};

/// Simulated time. `now()` is `base + elapsed`; only [`SimClock::advance`] and
/// [`SimClock::jump_to`] move it, and never backwards.
#[derive(Debug, Clone, Copy)]
pub struct SimClock {
    base: Instant,
    elapsed: Duration,
}

impl SimClock {
    /// A clock at simulated time zero, anchored at `base`.
    pub fn new(base: Instant) -> SimClock {
        SimClock {
            base,
            elapsed: Duration::ZERO,
        }
    }

    /// A clock anchored at one `Instant` taken once per process, so every clock agrees.
    pub fn start() -> SimClock {
        static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        SimClock::new(*BASE.get_or_init(Instant::now))
    }

    /// The current simulated instant.
    pub fn now(&self) -> Instant {
        self.base + self.elapsed
    }

    /// Simulated time since the start.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// The instant `at` simulated time after the start.
    pub fn at(&self, at: Duration) -> Instant {
        self.base + at
    }

    /// Moves time forward by `by`.
    pub fn advance(&mut self, by: Duration) {
        self.elapsed += by;
    }

    /// Moves time forward to `to`; an instant in the past leaves the clock where it is.
    pub fn jump_to(&mut self, to: Instant) {
        let target = to.saturating_duration_since(self.base);
        if target > self.elapsed {
            self.elapsed = target;
        }
    }
}
