//! The proof harness of `replproto`: our replica against our master, in memory.
//!
//! - [`clock`]: a simulated clock (a base `Instant` plus a simulated `Duration`);
//! - [`netem`]: a byte-level network for one direction of a link (split, delay, cut);
//! - [`monotonic`]: values that may never decrease (offsets, ACKs), checked as seen;
//! - [`store`] and [`log`]: the applications' data and the stream the master must produce;
//! - [`pair`]: the pair harness, driven step by step, checking every property as it goes;
//! - [`scenario`]: the `Op`/`Scenario` vocabulary, with a proptest `Strategy` and
//!   `arbitrary::Arbitrary`, and the one [`scenario::apply`] both use;
//! - [`fuzzing`]: the bodies of the fuzz targets, so tests can replay them.

pub mod clock;
pub mod fuzzing;
pub mod log;
pub mod monotonic;
pub mod netem;
pub mod pair;
pub mod scenario;
pub mod store;

pub use clock::SimClock;
pub use monotonic::Monotonic;
pub use netem::{Dir, NetemConfig, Pipe};
pub use pair::{LinkReport, Pair, PairConfig, Report, Resync};
pub use scenario::{apply, Op, Scenario};
pub use store::{Store, Write};
