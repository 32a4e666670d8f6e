//! Hedged requests (SPEC 9): the settings, and the small per-key latency record that
//! `delayMs: "auto"` reads its p95 from.
//!
//! A hedge is a second copy of a request sent when the first has been out longer than most
//! answers take ("The Tail at Scale", Dean and Barroso, 2013). The call state machine
//! ([`super::call`]) decides when one may go; this module only knows how long to wait.

/// `hedge.delayMs`: a fixed wait, or the key's recent p95 attempt latency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HedgeDelay {
    Fixed(u64),
    Auto,
}

/// `hedge: { delayMs, maxHedges }` (SPEC 9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HedgeSettings {
    pub delay: HedgeDelay,
    /// Extra attempts a call may have in flight beside its first, 1 to [`MAX_HEDGES`].
    pub max_hedges: u32,
}

impl Default for HedgeSettings {
    fn default() -> Self {
        HedgeSettings { delay: HedgeDelay::Auto, max_hedges: 1 }
    }
}

pub const MAX_HEDGES: u32 = 3;
/// `"auto"` never hedges sooner than this: below it a hedge mostly doubles load on a fast key.
pub const AUTO_FLOOR_MS: u64 = 10;
/// `"auto"` does not hedge until the key has this many latencies recorded.
pub const AUTO_MIN_SAMPLES: u32 = 20;
/// Latencies kept per key: the recent p95 is over the last this many attempts.
const SAMPLES: usize = 64;

/// The last [`SAMPLES`] attempt latencies of a key, in fixed memory (256 bytes), kept only for
/// keys that a call with `delayMs: "auto"` has used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LatencyWindow {
    ring: [u32; SAMPLES],
    /// Where the next sample goes.
    next: usize,
    /// Samples recorded in all (saturating): `"auto"` waits for [`AUTO_MIN_SAMPLES`].
    seen: u32,
}

impl Default for LatencyWindow {
    fn default() -> Self {
        LatencyWindow { ring: [0; SAMPLES], next: 0, seen: 0 }
    }
}

impl LatencyWindow {
    /// Records one attempt's latency. An attempt cut short because another answered first is
    /// recorded with how long it had been out: that is at least the hedge delay, so it still
    /// counts as slow, which is all a percentile needs of it.
    pub fn record(&mut self, ms: u64) {
        if let Some(slot) = self.ring.get_mut(self.next) {
            *slot = u32::try_from(ms).unwrap_or(u32::MAX);
        }
        self.next = (self.next + 1) % SAMPLES;
        self.seen = self.seen.saturating_add(1);
    }

    pub fn seen(&self) -> u32 {
        self.seen
    }

    /// The 95th percentile of the samples held (nearest rank), or `None` with none held.
    pub fn p95(&self) -> Option<u64> {
        let held = usize::try_from(self.seen).unwrap_or(SAMPLES).min(SAMPLES);
        let mut sorted = self.ring;
        let part = sorted.get_mut(..held)?;
        if part.is_empty() {
            return None;
        }
        // Insertion sort of at most 64 numbers: a few µs, and far less wasm than the
        // standard library's selection or sort.
        for i in 1..part.len() {
            let mut j = i;
            while j > 0 {
                let (Some(&a), Some(&b)) = (part.get(j - 1), part.get(j)) else { break };
                if a <= b {
                    break;
                }
                part.swap(j - 1, j);
                j -= 1;
            }
        }
        let rank = (held * 95).div_ceil(100).max(1) - 1;
        part.get(rank).map(|n| u64::from(*n))
    }

    /// The wait `"auto"` gives: the p95, at least [`AUTO_FLOOR_MS`]; none before
    /// [`AUTO_MIN_SAMPLES`] samples.
    pub fn auto_delay(&self) -> Option<u64> {
        if self.seen < AUTO_MIN_SAMPLES {
            return None;
        }
        self.p95().map(|p| p.max(AUTO_FLOOR_MS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p95_of_a_long_tail() {
        let mut w = LatencyWindow::default();
        assert_eq!(w.p95(), None);
        for i in 0..64u64 {
            // 3 of 64 (under 5 %) at 500 ms, the rest at 5 ms.
            w.record(if i % 20 == 19 { 500 } else { 5 });
        }
        assert_eq!(w.p95(), Some(5));
        assert_eq!(w.auto_delay(), Some(AUTO_FLOOR_MS), "the floor");
        for _ in 0..10 {
            w.record(300);
        }
        assert_eq!(w.p95(), Some(300), "the tail grew past 5 %");
    }

    #[test]
    fn auto_waits_for_twenty_samples_and_forgets_old_ones() {
        let mut w = LatencyWindow::default();
        for _ in 0..19 {
            w.record(40);
        }
        assert_eq!(w.auto_delay(), None);
        w.record(40);
        assert_eq!(w.auto_delay(), Some(40));
        for _ in 0..SAMPLES {
            w.record(u64::MAX);
        }
        assert_eq!(w.p95(), Some(u64::from(u32::MAX)), "saturates, old samples gone");
    }
}
