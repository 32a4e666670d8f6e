//! Two counts of one key over the last `window_ms`, in ten buckets of a tenth of it (rounded
//! up), so memory is fixed whatever the traffic. Used by storm detection (attempts, retries)
//! and the retry cap (calls, retries).

const BUCKETS: usize = 10;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Bucket {
    slice: u64,
    counts: [u32; 2],
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Window {
    buckets: [Bucket; BUCKETS],
}

impl Window {
    /// Adds `add` to the counts of the bucket holding `now`.
    pub fn add(&mut self, window_ms: u64, now: u64, add: [u32; 2]) {
        let width = window_ms.div_ceil(BUCKETS as u64).max(1);
        let slice = now / width;
        let index = usize::try_from(slice % BUCKETS as u64).unwrap_or(0);
        if let Some(bucket) = self.buckets.get_mut(index) {
            if bucket.slice != slice {
                *bucket = Bucket { slice, counts: [0, 0] };
            }
            let [a, b] = bucket.counts;
            let [more_a, more_b] = add;
            bucket.counts = [a.saturating_add(more_a), b.saturating_add(more_b)];
        }
    }

    /// The two counts over the window that ends at `now`: the buckets whose slice of time
    /// started less than `window_ms` before `now`, and not after it.
    pub fn totals(&self, window_ms: u64, now: u64) -> [u32; 2] {
        let width = window_ms.div_ceil(BUCKETS as u64).max(1);
        // `start + window_ms > now` as `start >= floor`, with no addition per bucket. At
        // `u64::MAX` nothing counts, as that sum (saturating) can never exceed it.
        if now == u64::MAX {
            return [0, 0];
        }
        let floor = (now + 1).saturating_sub(window_ms);
        // Plain loops: the wasm is built for size, where iterator adaptors stay calls.
        let [mut first, mut second] = [0u32, 0u32];
        for bucket in &self.buckets {
            let start = bucket.slice.saturating_mul(width);
            if start >= floor && start <= now {
                let [a, b] = bucket.counts;
                first = first.saturating_add(a);
                second = second.saturating_add(b);
            }
        }
        [first, second]
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
}
