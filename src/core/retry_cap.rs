//! The retry cap of one key (on by default with the default budget): over the last
//! `windowMs`, a busy key's retries stay at or below `ratio` of its calls, so retries add at
//! most that share to the load a server sees (the per-client budget of the Google SRE book and
//! Finagle's `RetryBudget`, both near 10 %).
//!
//! The token bucket of SPEC 6 pays retries in proportion to successes: 500 tokens at 5 a retry
//! and 1 back a success is a retry for every five successes, so when half the requests fail
//! (a brownout) retries reach 1/9 of attempts, an amplification of 1.11. The cap bounds it by
//! calls instead. It binds only on keys with at least `minimumCalls` calls in the window, so a
//! quiet key (and everything SPEC 6 describes of the bucket) is as without it. A retry it
//! refuses counts in `budgetDenials`. Calls are counted when their first attempt is sent and
//! retries when they are granted (a retry waiting out its backoff already counts).
//!
//! JS option: `retryCap: false | true | { ratio, windowMs, minimumCalls }`. It follows the
//! budget: options that set `budget` (even to its default values) and not `retryCap` turn the
//! cap off, so explicit budget settings keep exactly the meaning SPEC 6 gives them.

use super::window::Window;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryCapSettings {
    /// Retries allowed per call over the window, in [0, 1].
    pub ratio: f64,
    pub window_ms: u64,
    /// Below this many calls in the window the cap does not bind.
    pub minimum_calls: u32,
}

impl Default for RetryCapSettings {
    fn default() -> Self {
        RetryCapSettings { ratio: 0.1, window_ms: 10_000, minimum_calls: 100 }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetryCap {
    /// Calls (first attempts sent) and retries granted.
    window: Window,
}

impl RetryCap {
    /// Counts a call whose first attempt is sent at `now`.
    pub fn note_call(&mut self, settings: &RetryCapSettings, now: u64) {
        self.window.add(settings.window_ms, now, [1, 0]);
    }

    /// Whether one more retry at `now` keeps the key within the cap.
    pub fn allows(&mut self, settings: &RetryCapSettings, now: u64) -> bool {
        let [calls, retries] = self.window.totals(settings.window_ms, now);
        calls < settings.minimum_calls
            || f64::from(retries.saturating_add(1)) <= settings.ratio * f64::from(calls)
    }

    /// Counts a retry granted at `now`.
    pub fn note_retry(&mut self, settings: &RetryCapSettings, now: u64) {
        self.window.add(settings.window_ms, now, [0, 1]);
    }

    #[cfg(test)]
    fn try_retry(&mut self, settings: &RetryCapSettings, now: u64) -> bool {
        let allowed = self.allows(settings, now);
        if allowed {
            self.note_retry(settings, now);
        }
        allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_key_retries_at_most_ratio_of_its_calls() {
        let s = RetryCapSettings { ratio: 0.1, window_ms: 1000, minimum_calls: 20 };
        let mut cap = RetryCap::default();
        // Quiet: below the minimum nothing is refused.
        for _ in 0..19 {
            cap.note_call(&s, 0);
        }
        assert!((0..30).all(|_| cap.try_retry(&s, 1)));
        // 40 calls, 30 retries already: busy and over the cap.
        for _ in 0..21 {
            cap.note_call(&s, 2);
        }
        assert!(!cap.try_retry(&s, 3));
        // A window later only new calls count: 50 calls allow 5 retries.
        for _ in 0..50 {
            cap.note_call(&s, 1500);
        }
        assert_eq!((0..10).filter(|_| cap.try_retry(&s, 1501)).count(), 5);
    }
}
