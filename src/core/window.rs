//! Two counts of one key over the last `window_ms`, in ten buckets of a tenth of it (rounded
//! up), so memory is fixed whatever the traffic. Used by storm detection (attempts, retries),
//! the retry cap (calls, retries) and the breaker (successes, failures).

use core::num::NonZeroU64;

const BUCKETS: usize = 10;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Bucket {
    slice: u64,
    counts: [u32; 2],
}

/// The bucket width for `window_ms` and the slice of time (with its bucket) that a time was
/// last found in: a later time in the same slice costs a subtraction, not a division. Any
/// time may come next (a clock stepping back, another `window_ms`); that costs a division.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Cursor {
    window_ms: u64,
    /// 0: nothing located yet.
    width: u64,
    /// The slice `start / width` and its bucket; `start..start + width` is in it.
    start: u64,
    slice: u64,
    index: usize,
}

impl Cursor {
    /// The bucket width for `window_ms`, and the slice holding `now` and that slice's bucket.
    fn locate(&mut self, window_ms: u64, now: u64) -> (u64, u64, usize) {
        if window_ms != self.window_ms || now.wrapping_sub(self.start) >= self.width {
            let width = match NonZeroU64::new(self.width) {
                Some(width) if window_ms == self.window_ms => width,
                _ => width_of(window_ms),
            };
            let slice = now / width;
            let index = usize::try_from(slice % BUCKETS as u64).unwrap_or(0);
            *self = Cursor { window_ms, width: width.get(), start: slice * width.get(), slice, index };
        }
        (self.width, self.slice, self.index)
    }
}

/// The totals of the buckets whose slices are in `lo..=hi`: the last range read, kept by
/// [`Window::add`] while its buckets only grow, so reading it again scans no bucket. Summed in
/// `u64` and saturated when read, which is exact: they differ from the buckets' sum only when a
/// bucket saturated, and then both are past `u32::MAX`. (The default is exact: every bucket
/// is empty.) Whole words: a read right after an add is forwarded from its store (two `u32`s
/// written apart and read as one word stall it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Sums {
    lo: u64,
    hi: u64,
    first: u64,
    second: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Window {
    buckets: [Bucket; BUCKETS],
    cursor: Cursor,
    sums: Sums,
}

/// The bucket width for `window_ms`: a tenth of it, rounded up, at least 1 ms.
fn width_of(window_ms: u64) -> NonZeroU64 {
    NonZeroU64::new(window_ms.div_ceil(BUCKETS as u64)).unwrap_or(NonZeroU64::MIN)
}

/// Which slices of time (`width` ms each) count in the window of `window_ms` that ends at
/// `now`, as a range `lo..=hi` (`hi`: the slice holding `now`): those that started less than
/// `window_ms` before `now`, and not after it (`start <= now && start + window_ms > now`, both
/// saturating). Worked out once, so that a bucket costs two comparisons, no multiplication.
/// `None`: none can count (at `u64::MAX` that sum never exceeds `now`).
fn counted_slices(width: u64, window_ms: u64, now: u64, hi: u64) -> Option<(u64, u64)> {
    if now == u64::MAX {
        return None;
    }
    // The earliest start that counts is `floor`: the first slice with `slice * width >=
    // floor`. A window is at most ten widths, so no slice before `hi - 10` can count: from
    // there, a step or two finds it (for windows of 90 ms and more; at most eleven), with no
    // division. The start of no slice up to `hi` wraps: `hi` is the slice holding `now`, so
    // `hi * width <= now`. (A plain product: in wasm32 a checked or saturating u64 product is a
    // call to a 128-bit multiply, once a step.)
    let floor = (now + 1).saturating_sub(window_ms);
    let mut lo = hi.saturating_sub(BUCKETS as u64);
    while lo <= hi && lo.wrapping_mul(width) < floor {
        lo += 1;
    }
    Some((lo, hi))
}

fn narrow(total: u64) -> u32 {
    u32::try_from(total).unwrap_or(u32::MAX)
}

fn plus([a, b]: [u32; 2], [more_a, more_b]: [u32; 2]) -> [u32; 2] {
    [a.saturating_add(more_a), b.saturating_add(more_b)]
}

impl Window {
    /// Adds `add` to the counts of the bucket holding `now`.
    pub fn add(&mut self, window_ms: u64, now: u64, add: [u32; 2]) {
        let (_, slice, index) = self.cursor.locate(window_ms, now);
        if let Some(bucket) = self.buckets.get_mut(index) {
            if bucket.slice != slice {
                *bucket = Bucket { slice, counts: [0, 0] };
                // Counts leave: the next read sums afresh (once a slice). No range is this one:
                // `counted_slices` never answers `lo` past `hi + 1`.
                (self.sums.lo, self.sums.hi) = (u64::MAX, 0);
            }
            bucket.counts = plus(bucket.counts, add);
            let sums = &mut self.sums;
            if slice >= sums.lo && slice <= sums.hi {
                let [a, b] = add;
                sums.first = sums.first.saturating_add(u64::from(a));
                sums.second = sums.second.saturating_add(u64::from(b));
            }
        }
    }

    /// The two counts over the window that ends at `now` (see [`counted_slices`]).
    pub fn totals(&mut self, window_ms: u64, now: u64) -> [u32; 2] {
        let (width, hi, _) = self.cursor.locate(window_ms, now);
        let Some((lo, hi)) = counted_slices(width, window_ms, now, hi) else { return [0, 0] };
        if (lo, hi) != (self.sums.lo, self.sums.hi) {
            // Plain loops: the wasm is built for size, where iterator adaptors stay calls.
            let (mut first, mut second) = (0u64, 0u64);
            // One comparison a bucket: `lo..=hi` holds `hi + 1 - lo` slices (`lo <= hi + 1`,
            // and `hi < u64::MAX` as `now` is).
            let slices = hi + 1 - lo;
            for bucket in &self.buckets {
                if bucket.slice.wrapping_sub(lo) < slices {
                    let [a, b] = bucket.counts;
                    first += u64::from(a);
                    second += u64::from(b);
                }
            }
            self.sums = Sums { lo, hi, first, second };
        }
        [narrow(self.sums.first), narrow(self.sums.second)]
    }

    /// The `window_ms` last located with (0 before any).
    pub fn window_ms(&self) -> u64 {
        self.cursor.window_ms
    }

    /// Empties the window when `window_ms` has buckets of another width than it holds.
    pub fn keep_width(&mut self, window_ms: u64) {
        if window_ms != self.cursor.window_ms && width_of(window_ms).get() != self.cursor.width {
            *self = Window::default();
        }
    }

    /// [`Window::add`], then [`Window::totals`] at the same `now`.
    pub fn add_then_totals(&mut self, window_ms: u64, now: u64, add: [u32; 2]) -> [u32; 2] {
        self.add(window_ms, now, add);
        self.totals(window_ms, now)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn counts_fall_out_of_the_window() {
        let mut w = Window::default();
        w.add(1000, 0, [3, 1]);
        w.add(1000, 550, [2, 0]);
        assert_eq!(w.totals(1000, 990), [5, 1]);
        assert_eq!(w.totals(1000, 1000), [2, 0]);
        assert_eq!(w.totals(1000, 1600), [0, 0]);
    }

    /// The sum as first written: a saturating `start + window_ms > now` per bucket.
    fn totals_by_sum(w: &Window, window_ms: u64, now: u64) -> [u32; 2] {
        let width = window_ms.div_ceil(BUCKETS as u64).max(1);
        w.buckets
            .iter()
            .filter(|b| {
                let start = b.slice.saturating_mul(width);
                start <= now && start.saturating_add(window_ms) > now
            })
            .fold([0, 0], |[a, b], bucket| {
                [a.saturating_add(bucket.counts[0]), b.saturating_add(bucket.counts[1])]
            })
    }

    #[test]
    fn totals_agree_with_the_sum_per_bucket_at_the_edges_too() {
        let mut rng = crate::core::rng::SplitMix64::new(8);
        let edges = [0, 1, 9, 10, 11, 999, 1000, 10_000, u64::MAX / 3, u64::MAX - 1, u64::MAX];
        for round in 0..3000 {
            let base = edges[round % edges.len()];
            let pick = |rng: &mut crate::core::rng::SplitMix64| match rng.next_u64() % 4 {
                0 => edges[(rng.next_u64() % edges.len() as u64) as usize],
                1 => base.saturating_add(rng.next_u64() % 30).saturating_sub(rng.next_u64() % 30),
                2 => rng.next_u64() % 50_000,
                _ => rng.next_u64(),
            };
            let mut w = Window::default();
            // Added with one width, read with another as often as not (a key's retry cap may
            // be used with several settings).
            for _ in 0..12 {
                let (window_ms, now) = (pick(&mut rng) % 64, pick(&mut rng));
                w.add(window_ms, now, [(rng.next_u64() % 3) as u32, u32::MAX - 1]);
            }
            for i in 0..12 {
                let window_ms = if i % 2 == 0 { pick(&mut rng) % 64 } else { pick(&mut rng) };
                let now = pick(&mut rng);
                assert_eq!(w.totals(window_ms, now), totals_by_sum(&w, window_ms, now), "{window_ms} {now}");
            }
        }
    }

    #[test]
    fn running_sums_stay_exact_as_adds_and_reads_interleave_and_the_clock_steps_back() {
        let mut rng = crate::core::rng::SplitMix64::new(11);
        for round in 0..2000u64 {
            let mut w = Window::default();
            let mut now = rng.next_u64() % 100_000;
            // Mostly one window (as in use), now and then another; big counts to saturate.
            let windows = [1000, 10_000, 7, 0, rng.next_u64() % 64];
            for _ in 0..40 {
                let window_ms =
                    if rng.next_u64() % 8 == 0 { windows[(rng.next_u64() % 5) as usize] } else { 1000 };
                now = match rng.next_u64() % 6 {
                    0 => now.saturating_sub(rng.next_u64() % 3000), // back
                    1 => now.saturating_add(rng.next_u64() % 20_000),
                    2 if round % 50 == 0 => u64::MAX - rng.next_u64() % 3,
                    _ => now.saturating_add(rng.next_u64() % 200),
                };
                let big = if round % 3 == 0 { u32::MAX / 2 } else { 1 };
                if rng.next_u64() % 2 == 0 {
                    w.add(window_ms, now, [(rng.next_u64() % 3) as u32, big]);
                }
                assert_eq!(w.totals(window_ms, now), totals_by_sum(&w, window_ms, now), "{window_ms} {now}");
            }
        }
    }
}
