//! Lifetime counters and call latency percentiles (SPEC 7), in fixed memory.
//!
//! Latencies go into a log-linear histogram: 16 sub-buckets per power of two, so a reported
//! percentile is within about 6% of the true value whatever the number of calls.

const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;
const SLOTS: usize = (64 - SUB_BITS as usize + 1) * SUB as usize;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub calls: u64,
    pub attempts: u64,
    pub retries: u64,
    pub successes: u64,
    pub failures: u64,
    pub breaker_rejections: u64,
    pub budget_denials: u64,
    pub retry_after_waits: u64,
    /// Times a key entered a retry storm (SPEC 8).
    pub storms: u64,
    /// Hedged attempts sent (SPEC 9).
    pub hedges: u64,
}

#[derive(Clone, Debug)]
pub struct Stats {
    pub counters: Counters,
    histogram: [u64; SLOTS],
    recorded: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats { counters: Counters::default(), histogram: [0; SLOTS], recorded: 0 }
    }
}

fn slot_of(value: u64) -> usize {
    if value < SUB {
        return usize::try_from(value).unwrap_or(0);
    }
    let magnitude = 63 - value.leading_zeros(); // >= SUB_BITS
    let shift = magnitude - SUB_BITS;
    let sub = (value >> shift) - SUB; // 0..SUB
    usize::try_from(u64::from(shift + 1) * SUB + sub).unwrap_or(SLOTS - 1)
}

/// The largest value that falls in `slot`: percentiles err on the slow side.
fn slot_ceiling(slot: usize) -> u64 {
    let slot = slot as u64;
    if slot < SUB {
        return slot;
    }
    let shift = slot / SUB - 1;
    let sub = slot % SUB;
    let ceiling = (u128::from(SUB + sub + 1) << shift) - 1;
    u64::try_from(ceiling).unwrap_or(u64::MAX)
}

impl Stats {
    pub fn record_latency(&mut self, ms: u64) {
        if let Some(count) = self.histogram.get_mut(slot_of(ms)) {
            *count += 1;
            self.recorded += 1;
        }
    }

    /// The value below which `per_mille`/1000 of the recorded latencies fall.
    fn quantile(&self, per_mille: u64) -> u64 {
        if self.recorded == 0 {
            return 0;
        }
        let rank = (self.recorded * per_mille).div_ceil(1000).max(1);
        let mut seen = 0;
        for (slot, &count) in self.histogram.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return slot_ceiling(slot);
            }
        }
        0
    }

    pub fn latency(&self) -> Percentiles {
        Percentiles { p50: self.quantile(500), p90: self.quantile(900), p99: self.quantile(990) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_small_exact_values() {
        let mut s = Stats::default();
        for ms in 0..10 {
            s.record_latency(ms);
        }
        assert_eq!(s.latency(), Percentiles { p50: 4, p90: 8, p99: 9 });
    }

    #[test]
    fn percentiles_are_within_the_bucket_precision() {
        let mut s = Stats::default();
        for ms in 1..=10_000u64 {
            s.record_latency(ms);
        }
        let p = s.latency();
        for (got, want) in [(p.p50, 5000.0), (p.p90, 9000.0), (p.p99, 9900.0)] {
            let err = (got as f64 - want).abs() / want;
            assert!(err < 0.07, "{got} vs {want}");
        }
    }

    #[test]
    fn slots_cover_the_whole_range() {
        for v in [0, 1, 15, 16, 17, 1000, u64::MAX / 2, u64::MAX] {
            let slot = slot_of(v);
            assert!(slot < SLOTS);
            assert!(slot_ceiling(slot) >= v, "{v}");
        }
        assert_eq!(Stats::default().latency(), Percentiles { p50: 0, p90: 0, p99: 0 });
    }
}
