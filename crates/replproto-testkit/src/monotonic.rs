//! Values that must never decrease over a run (offsets, ACKs), checked as they are seen.

use std::fmt::Debug;

/// The last value seen of something that may only stay or grow.
#[derive(Debug, Clone, Copy, Default)]
pub struct Monotonic<T> {
    last: Option<T>,
}

impl<T: PartialOrd + Copy + Debug> Monotonic<T> {
    /// Nothing seen yet.
    pub const fn new() -> Self {
        Monotonic { last: None }
    }

    /// Records `value`; panics, naming `what`, if it is below the last one seen.
    #[track_caller]
    pub fn observe(&mut self, value: T, what: &str) {
        if let Some(last) = self.last {
            assert!(value >= last, "{what} moved back: {last:?} then {value:?}");
        }
        self.last = Some(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_and_larger_values_pass() {
        let mut seen = Monotonic::new();
        for v in [1, 1, 2, 5, 5] {
            seen.observe(v, "value");
        }
    }

    #[test]
    #[should_panic(expected = "value moved back: 5 then 4")]
    fn a_smaller_value_panics() {
        let mut seen = Monotonic::new();
        seen.observe(5, "value");
        seen.observe(4, "value");
    }
}
