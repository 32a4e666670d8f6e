//! Retry-storm detection of one key (SPEC 8): a storm is when retries make up more than
//! `ratio` of the key's attempts in the last `windowMs`, with at least `minimumAttempts`
//! attempts in it.
//!
//! Attempts are counted in a [`Window`] (ten buckets of a tenth of `windowMs`), so memory is
//! fixed. The state is checked at every attempt. A key leaves the
//! storm when retries fall to half of `ratio` or fewer (or the window holds fewer than
//! `minimumAttempts`): without that margin a key sitting at the threshold would enter and
//! leave at every other attempt.

use super::window::Window;

/// Storm detection settings. JS option (instance only): `storm: false | { ratio, windowMs,
/// minimumAttempts }`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StormSettings {
    pub ratio: f64,
    pub window_ms: u64,
    pub minimum_attempts: u32,
}

impl Default for StormSettings {
    fn default() -> Self {
        StormSettings { ratio: 0.1, window_ms: 10_000, minimum_attempts: 20 }
    }
}

/// A change of a key's storm state, as the detector reports it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Change {
    pub storm: bool,
    pub retry_ratio: f64,
    pub attempts: u32,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Storm {
    window: Window,
    in_storm: bool,
}

impl Storm {
    pub fn in_storm(&self) -> bool {
        self.in_storm
    }

    /// Counts an attempt sent at `now` (`retry`: not a call's first) and says whether the key
    /// entered or left a storm with it.
    pub fn record(&mut self, settings: &StormSettings, now: u64, retry: bool) -> Option<Change> {
        let [attempts, retries] = self.window.add_then_totals(settings.window_ms, now, [1, u32::from(retry)]);
        // No retries is a ratio of 0 (the common case, and no division for it).
        let retry_ratio = if retries == 0 { 0.0 } else { f64::from(retries) / f64::from(attempts.max(1)) };
        let enough = attempts >= settings.minimum_attempts;
        let storm = if self.in_storm {
            enough && retry_ratio > settings.ratio / 2.0
        } else {
            enough && retry_ratio > settings.ratio
        };
        if storm == self.in_storm {
            return None;
        }
        self.in_storm = storm;
        Some(Change { storm, retry_ratio, attempts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enters_past_the_ratio_and_leaves_at_half_of_it() {
        let s = StormSettings { ratio: 0.1, window_ms: 1000, minimum_attempts: 20 };
        let mut storm = Storm::default();
        // 19 first attempts and 3 retries: 22 attempts, 3/22 > 0.1, but only from the 20th.
        let mut changes = alloc::vec::Vec::new();
        for i in 0..22u32 {
            changes.extend(storm.record(&s, 10, i % 7 == 6));
        }
        assert_eq!(changes.len(), 1);
        assert!(changes.iter().all(|c| c.storm && c.retry_ratio > 0.1 && c.attempts >= 20));
        assert!(storm.in_storm());
        // Still in it at 6%: leaving needs 5% or less.
        for _ in 0..28 {
            assert_eq!(storm.record(&s, 20, false), None);
        }
        let calm = (0..20).find_map(|_| storm.record(&s, 30, false));
        assert!(calm.is_some_and(|c| !c.storm && c.retry_ratio <= 0.05));
        assert!(!storm.in_storm());
    }

    #[test]
    fn an_old_window_leaves_and_too_few_attempts_is_calm() {
        let s = StormSettings { ratio: 0.1, window_ms: 1000, minimum_attempts: 4 };
        let mut storm = Storm::default();
        for _ in 0..4 {
            storm.record(&s, 0, true);
        }
        assert!(storm.in_storm());
        // A second later the window holds one attempt: below the minimum, so calm.
        let change = storm.record(&s, 1000, false);
        assert_eq!(change.map(|c| (c.storm, c.attempts)), Some((false, 1)));
    }
}
