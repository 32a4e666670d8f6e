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
            for (count, more) in bucket.counts.iter_mut().zip(add) {
                *count = count.saturating_add(more);
            }
        }
    }

    /// The two counts over the window that ends at `now`.
    pub fn totals(&self, window_ms: u64, now: u64) -> [u32; 2] {
        let width = window_ms.div_ceil(BUCKETS as u64).max(1);
        self.buckets
            .iter()
            .filter(|b| {
                let start = b.slice.saturating_mul(width);
                start <= now && start.saturating_add(window_ms) > now
            })
            .fold([0, 0], |[a, b], bucket| {
                [a.saturating_add(bucket.counts[0]), b.saturating_add(bucket.counts[1])]
            })
    }
}

#[cfg(test)]
mod tests {
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
}
