//! Finding the `$EOF:` end mark in snapshot bytes: exactly (the first occurrence wherever it
//! falls, in linear time whatever the payload holds) and at close to memory speed.
//!
//! A filter looks at two bytes of every position a mark could start at: the mark's first byte
//! there and its last byte 39 bytes on. A block of positions where both match is looked at
//! again with the mark's middle byte too (payloads of hex text, like the mark itself, pass the
//! first look in most blocks), and only a block that passes both goes to `memchr`'s exact
//! searcher. A payload full of near-misses therefore costs at most two filter passes plus one
//! exact search. On x86-64 CPUs with AVX-512BW the filter is compiled for those
//! instructions and chosen at run time: it is then twice as fast as the exact searcher
//! alone, which decides whether a diskless snapshot keeps up with a plain copy of its bytes.
//! Elsewhere the exact searcher runs alone, as the filter compiled for the baseline CPU would
//! be slower than it.

use memchr::memmem::Finder;

/// Length of the diskless end mark.
pub(super) const MARK_LEN: usize = 40;

/// Start positions the filter judges at a time: one AVX-512 vector of bytes. Small, so that
/// on hex payloads, where about one block in five passes the first look, the second look and
/// its branch stay rare.
const BLOCK: usize = 64;

/// The mark's byte the second look checks besides its first and last.
const MIDDLE: usize = MARK_LEN / 2;

/// Searches snapshot bytes for one end mark.
#[derive(Debug)]
pub(super) struct MarkFinder {
    exact: Finder<'static>,
    first: u8,
    middle: u8,
    last: u8,
}

impl MarkFinder {
    pub(super) fn new(mark: &[u8; MARK_LEN]) -> Self {
        MarkFinder {
            exact: Finder::new(mark).into_owned(),
            first: mark[0],
            middle: mark[MIDDLE],
            last: mark[MARK_LEN - 1],
        }
    }

    /// The mark searched for.
    pub(super) fn mark(&self) -> &[u8] {
        self.exact.needle()
    }

    /// Where the first whole mark in `haystack` starts.
    ///
    /// `ahead` are the bytes the caller reads next. Where the filter runs, it asks memory for
    /// them a cache line per block while it computes, so that they are in cache when the
    /// caller gets to them: a search over bytes already in cache then costs next to nothing
    /// beside a pass that streams from memory.
    pub(super) fn find(&self, haystack: &[u8], ahead: &[u8]) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512bw") {
            return self.find_avx512(haystack, ahead);
        }
        let _ = ahead;
        self.exact.find(haystack)
    }

    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    fn find_avx512(&self, haystack: &[u8], ahead: &[u8]) -> Option<usize> {
        // SAFETY: `filtered_avx512` is safe code whose only requirement is that the CPU has
        // AVX-512BW, which the caller detected.
        unsafe { self.filtered_avx512(haystack, ahead) }
    }

    /// [`Self::filtered`] compiled for AVX-512BW, which judges each block with a few vector
    /// compares.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512bw")]
    fn filtered_avx512(&self, haystack: &[u8], ahead: &[u8]) -> Option<usize> {
        self.filtered(haystack, ahead)
    }

    /// The filter, then the exact search over the blocks it lets through. Built on other
    /// CPUs too, for the tests, but only run where it is compiled for AVX-512.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    #[inline(always)]
    fn filtered(&self, haystack: &[u8], ahead: &[u8]) -> Option<usize> {
        // Positions at which a whole mark could start, and those of them in whole blocks.
        let starts = (haystack.len() + 1).saturating_sub(MARK_LEN);
        let in_blocks = starts - starts % BLOCK;
        if in_blocks > 0 {
            // Three views of the haystack, at the offsets of the mark's bytes the filter
            // reads, cut into blocks of the same positions. Fixed-size blocks from
            // `as_chunks` leave the loop without bounds checks, which would otherwise cost as
            // much as the compares.
            let at = |offset: usize| haystack[offset..offset + in_blocks].as_chunks::<BLOCK>().0;
            let blocks = at(0).iter().zip(at(MIDDLE)).zip(at(MARK_LEN - 1));
            let mut lines_ahead = ahead.iter().step_by(CACHE_LINE);
            for (index, ((firsts, middles), lasts)) in blocks.enumerate() {
                if let Some(byte) = lines_ahead.next() {
                    prefetch(byte);
                }
                if self.may_start_in::<false>(firsts, middles, lasts)
                    && self.may_start_in::<true>(firsts, middles, lasts)
                {
                    let block = index * BLOCK;
                    if let Some(at) = self
                        .exact
                        .find(&haystack[block..block + BLOCK + MARK_LEN - 1])
                    {
                        return Some(block + at);
                    }
                }
            }
        }
        self.exact
            .find(&haystack[in_blocks..])
            .map(|at| in_blocks + at)
    }

    /// Whether a mark may start at one of a block's positions, given the bytes at those
    /// positions (`firsts`) and at the offsets of the mark's middle and last bytes from them.
    /// Judged by the first and last bytes, and by the middle one too with `WITH_MIDDLE`. A
    /// fixed-size loop without early exits, so that the compiler turns it into vector compares.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    #[inline(always)]
    fn may_start_in<const WITH_MIDDLE: bool>(
        &self,
        firsts: &[u8; BLOCK],
        middles: &[u8; BLOCK],
        lasts: &[u8; BLOCK],
    ) -> bool {
        let mut hits = 0u8;
        for lane in 0..BLOCK {
            let mut hit = u8::from(firsts[lane] == self.first) & u8::from(lasts[lane] == self.last);
            if WITH_MIDDLE {
                hit &= u8::from(middles[lane] == self.middle);
            }
            hits |= hit;
        }
        hits != 0
    }
}

/// Bytes in a cache line; a block is one too, so one prefetch a block keeps pace.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const CACHE_LINE: usize = 64;

/// Asks memory for the cache line holding `byte`, without waiting for it: unlike a load, a
/// prefetch does not hold up the instructions after it while memory answers. Only x86-64
/// runs the filter outside tests, so elsewhere this does nothing.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[inline(always)]
fn prefetch(byte: &u8) {
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    // SAFETY: a prefetch is a hint that changes no memory and never faults, whatever the
    // address; this one comes from a live reference anyway.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(byte).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = byte;
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const MARK: &[u8; MARK_LEN] = b"0123456789abcdef0123456789abcdef01234567";

    fn naive(haystack: &[u8], mark: &[u8]) -> Option<usize> {
        haystack.windows(mark.len()).position(|w| w == mark)
    }

    /// Both ways: the filtered search as built for any CPU, and the one `find` picks here.
    fn check(finder: &MarkFinder, haystack: &[u8]) {
        let want = naive(haystack, finder.mark());
        assert_eq!(finder.filtered(haystack, haystack), want);
        assert_eq!(finder.find(haystack, &[]), want);
    }

    #[test]
    fn a_mark_is_found_at_every_position_of_several_blocks() {
        let finder = MarkFinder::new(MARK);
        for len in [0, 1, 39, 40, 41, 295, 296, 297, 600, 1100] {
            let plain = vec![b'x'; len];
            check(&finder, &plain);
            for at in 0..=len.saturating_sub(MARK_LEN) {
                if len < MARK_LEN {
                    break;
                }
                let mut haystack = plain.clone();
                haystack[at..at + MARK_LEN].copy_from_slice(MARK);
                check(&finder, &haystack);
            }
        }
    }

    #[test]
    fn near_misses_everywhere_still_give_the_first_whole_mark() {
        // Every position matches the filter's two bytes; only the exact search can tell.
        let mut mark40 = [b'-'; MARK_LEN];
        mark40[0] = b'a';
        mark40[MARK_LEN - 1] = b'a';
        let finder = MarkFinder::new(&mark40);
        let mut haystack = vec![b'a'; 5000];
        check(&finder, &haystack);
        haystack[4000..4040].copy_from_slice(&mark40);
        check(&finder, &haystack);
    }

    proptest! {
        #[test]
        fn the_first_mark_is_found_exactly(
            // A three-letter alphabet shared with the mark: the filter lets many blocks
            // through and partial marks abound.
            noise in proptest::collection::vec(prop_oneof![Just(b'0'), Just(b'7'), Just(b'z')], 0..2000),
            plants in proptest::collection::vec(
                (any::<prop::sample::Index>(), prop_oneof![Just(MARK_LEN), 1usize..MARK_LEN]),
                0..4,
            ),
        ) {
            let mark = *b"0zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz7";
            let finder = MarkFinder::new(&mark);
            let mut haystack = noise;
            for (at, len) in plants {
                if haystack.len() >= len {
                    let at = at.index(haystack.len() - len + 1);
                    haystack[at..at + len].copy_from_slice(&mark[..len]);
                }
            }
            let want = naive(&haystack, &mark);
            prop_assert_eq!(finder.filtered(&haystack, &haystack), want);
            prop_assert_eq!(finder.find(&haystack, &[]), want);
        }
    }
}
