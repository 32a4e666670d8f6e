//! The circuit breaker of one key (SPEC 5): a failure ratio over a sliding window, open for a
//! while, then half-open with a few probes.
//!
//! The window is ten buckets of a tenth of `windowMs` each, so memory per key is fixed
//! whatever the traffic; an outcome leaves the window between 0.9 and 1.0 `windowMs` after it
//! was recorded.

use super::policy::BreakerSettings;

const BUCKETS: usize = 10;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Bucket {
    /// Which slice of time (`now / width`) these counts belong to.
    slice: u64,
    successes: u32,
    failures: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Closed,
    Open { opened_at: u64, half_open_at: u64 },
    HalfOpen { opened_at: u64, in_flight: u32, last_probe_at: u64 },
}

/// What the breaker says to an attempt about to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead; `probe` marks a half-open trial whose outcome decides the state.
    Pass { probe: bool },
    /// Refused; the breaker may let attempts through again after this long.
    Refuse { retry_after_ms: u64 },
}

/// The state as `breaker(key)` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateName {
    Closed,
    Open,
    HalfOpen,
}

impl StateName {
    pub fn as_str(self) -> &'static str {
        match self {
            StateName::Closed => "closed",
            StateName::Open => "open",
            StateName::HalfOpen => "half-open",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub state: StateName,
    pub failures: u32,
    pub successes: u32,
    pub opened_at: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Breaker {
    state: State,
    width_ms: u64,
    buckets: [Bucket; BUCKETS],
    /// Which round of probes is current: bumped when a half-open period starts and when the
    /// slots of probes that never reported are taken back, so a late probe of an earlier
    /// round can neither free a slot nor decide the state of this one.
    probe_epoch: u32,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker { state: State::Closed, width_ms: 1, buckets: [Bucket::default(); BUCKETS], probe_epoch: 0 }
    }
}

fn bucket_width(settings: &BreakerSettings) -> u64 {
    settings.window_ms.div_ceil(BUCKETS as u64).max(1)
}

impl Breaker {
    /// Outcomes in the window ending at `now`, as (successes, failures).
    fn window_counts(&self, now: u64) -> (u32, u32) {
        let current = now / self.width_ms;
        let oldest = current.saturating_sub(BUCKETS as u64 - 1);
        self.buckets
            .iter()
            .filter(|b| b.slice >= oldest && b.slice <= current && (b.successes | b.failures) != 0)
            .fold((0u32, 0u32), |(s, f), b| (s.saturating_add(b.successes), f.saturating_add(b.failures)))
    }

    fn count(&mut self, settings: &BreakerSettings, now: u64, failure: bool) {
        let width = bucket_width(settings);
        if width != self.width_ms {
            // The window's size changed: old slices no longer line up, start afresh.
            self.width_ms = width;
            self.buckets = [Bucket::default(); BUCKETS];
        }
        let slice = now / width;
        let index = usize::try_from(slice % BUCKETS as u64).unwrap_or(0);
        if let Some(bucket) = self.buckets.get_mut(index) {
            if bucket.slice != slice {
                *bucket = Bucket { slice, successes: 0, failures: 0 };
            }
            if failure {
                bucket.failures = bucket.failures.saturating_add(1);
            } else {
                bucket.successes = bucket.successes.saturating_add(1);
            }
        }
    }

    fn open(&mut self, settings: &BreakerSettings, now: u64) {
        self.state = State::Open { opened_at: now, half_open_at: now.saturating_add(settings.open_ms) };
    }

    /// May an attempt start now? A pass with `probe: true` must later be answered by
    /// [`Breaker::record`] or [`Breaker::release_probe`].
    pub fn admit(&mut self, settings: &BreakerSettings, now: u64) -> Admission {
        if let State::Open { opened_at, half_open_at } = self.state {
            if now < half_open_at {
                return Admission::Refuse { retry_after_ms: half_open_at - now };
            }
            self.state = State::HalfOpen { opened_at, in_flight: 0, last_probe_at: now };
            self.probe_epoch = self.probe_epoch.wrapping_add(1);
        }
        match &mut self.state {
            State::Closed | State::Open { .. } => Admission::Pass { probe: false },
            State::HalfOpen { in_flight, last_probe_at, .. } => {
                // A probe that never reported (its caller vanished) must not wedge the key.
                if now.saturating_sub(*last_probe_at) >= settings.open_ms.max(1) && *in_flight > 0 {
                    *in_flight = 0;
                    self.probe_epoch = self.probe_epoch.wrapping_add(1);
                }
                if *in_flight < settings.half_open_probes {
                    *in_flight += 1;
                    *last_probe_at = now;
                    Admission::Pass { probe: true }
                } else {
                    let wait = settings.open_ms.saturating_sub(now.saturating_sub(*last_probe_at));
                    Admission::Refuse { retry_after_ms: wait }
                }
            }
        }
    }

    /// Would an attempt be refused now? Like [`Breaker::admit`] but changes nothing and
    /// counts a half-open breaker with no free probe as refusing.
    pub fn is_refusing(&self, settings: &BreakerSettings, now: u64) -> bool {
        match self.state {
            State::Closed => false,
            State::Open { half_open_at, .. } => now < half_open_at,
            State::HalfOpen { in_flight, last_probe_at, .. } => {
                in_flight >= settings.half_open_probes
                    && now.saturating_sub(last_probe_at) < settings.open_ms.max(1)
            }
        }
    }

    /// Records an attempt's outcome. `probe` is what [`Breaker::admit`] said for it.
    pub fn record(&mut self, settings: &BreakerSettings, now: u64, failure: bool, probe: bool) {
        self.count(settings, now, failure);
        match self.state {
            State::HalfOpen { .. } if probe => {
                if failure {
                    self.open(settings, now);
                } else {
                    self.state = State::Closed;
                    self.buckets = [Bucket::default(); BUCKETS];
                }
            }
            State::Closed => {
                let (successes, failures) = self.window_counts(now);
                let total = successes.saturating_add(failures);
                let ratio = f64::from(failures) / f64::from(total.max(1));
                if failure && total >= settings.minimum_requests && ratio >= settings.failure_ratio {
                    self.open(settings, now);
                }
            }
            // Late outcomes of attempts admitted before the breaker opened only count.
            State::Open { .. } | State::HalfOpen { .. } => {}
        }
    }

    /// The current round of probes; a probe remembers it from its admission.
    pub fn probe_epoch(&self) -> u32 {
        self.probe_epoch
    }

    /// Records the outcome of a probe admitted in round `epoch`. A probe of an earlier round
    /// only counts in the window, like any late outcome.
    pub fn record_probe_of(&mut self, settings: &BreakerSettings, now: u64, failure: bool, epoch: u32) {
        let current = epoch == self.probe_epoch;
        self.record(settings, now, failure, current);
    }

    /// A probe of round `epoch` ended with no outcome: free its slot if that round is current.
    pub fn release_probe_of(&mut self, epoch: u32) {
        if epoch == self.probe_epoch {
            self.release_probe();
        }
    }

    /// A probe ended with no outcome (aborted, or cut by the caller's deadline): free its slot.
    pub fn release_probe(&mut self) {
        if let State::HalfOpen { in_flight, .. } = &mut self.state {
            *in_flight = in_flight.saturating_sub(1);
        }
    }

    pub fn snapshot(&self, now: u64) -> Snapshot {
        let (successes, failures) = self.window_counts(now);
        let (state, opened_at) = match self.state {
            State::Closed => (StateName::Closed, None),
            State::Open { opened_at, half_open_at } if now < half_open_at => {
                (StateName::Open, Some(opened_at))
            }
            State::Open { opened_at, .. } | State::HalfOpen { opened_at, .. } => {
                (StateName::HalfOpen, Some(opened_at))
            }
        };
        Snapshot { state, failures, successes, opened_at }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> BreakerSettings {
        BreakerSettings {
            failure_ratio: 0.5,
            minimum_requests: 4,
            window_ms: 1000,
            open_ms: 500,
            half_open_probes: 1,
        }
    }

    fn fill(b: &mut Breaker, s: &BreakerSettings, now: u64, failures: u32, successes: u32) {
        for _ in 0..successes {
            assert_eq!(b.admit(s, now), Admission::Pass { probe: false });
            b.record(s, now, false, false);
        }
        for _ in 0..failures {
            b.admit(s, now);
            b.record(s, now, true, false);
        }
    }

    #[test]
    fn stays_closed_below_minimum_requests() {
        let s = settings();
        let mut b = Breaker::default();
        fill(&mut b, &s, 10, 3, 0);
        assert_eq!(b.snapshot(10).state, StateName::Closed);
        assert_eq!(b.snapshot(10).failures, 3);
    }

    #[test]
    fn opens_at_the_failure_ratio_and_refuses() {
        let s = settings();
        let mut b = Breaker::default();
        fill(&mut b, &s, 10, 2, 2);
        let snap = b.snapshot(10);
        assert_eq!((snap.state, snap.opened_at), (StateName::Open, Some(10)));
        assert_eq!(b.admit(&s, 110), Admission::Refuse { retry_after_ms: 400 });
        assert!(b.is_refusing(&s, 110));
    }

    #[test]
    fn a_low_failure_ratio_keeps_it_closed() {
        let s = settings();
        let mut b = Breaker::default();
        fill(&mut b, &s, 10, 2, 3);
        assert_eq!(b.snapshot(10).state, StateName::Closed);
    }

    #[test]
    fn half_open_after_open_ms_then_one_success_closes() {
        let s = settings();
        let mut b = Breaker::default();
        fill(&mut b, &s, 0, 4, 0);
        assert_eq!(b.snapshot(499).state, StateName::Open);
        assert_eq!(b.snapshot(500).state, StateName::HalfOpen);
        assert_eq!(b.admit(&s, 500), Admission::Pass { probe: true });
        assert!(matches!(b.admit(&s, 501), Admission::Refuse { .. }));
        b.record(&s, 510, false, true);
        let snap = b.snapshot(510);
        assert_eq!((snap.state, snap.failures, snap.successes), (StateName::Closed, 0, 0));
    }

    #[test]
    fn a_failed_probe_opens_again() {
        let s = settings();
        let mut b = Breaker::default();
        fill(&mut b, &s, 0, 4, 0);
        assert_eq!(b.admit(&s, 600), Admission::Pass { probe: true });
        b.record(&s, 650, true, true);
        assert_eq!(b.snapshot(650).state, StateName::Open);
        assert_eq!(b.snapshot(650).opened_at, Some(650));
        assert_eq!(b.admit(&s, 700), Admission::Refuse { retry_after_ms: 450 });
    }

    #[test]
    fn released_and_stale_probes_free_their_slot() {
        let s = settings();
        let mut b = Breaker::default();
        fill(&mut b, &s, 0, 4, 0);
        assert_eq!(b.admit(&s, 500), Admission::Pass { probe: true });
        b.release_probe();
        assert_eq!(b.admit(&s, 501), Admission::Pass { probe: true });
        assert!(matches!(b.admit(&s, 502), Admission::Refuse { .. }));
        // Never answered: after open_ms the slot is given again.
        assert_eq!(b.admit(&s, 1001), Admission::Pass { probe: true });
    }

    #[test]
    fn a_late_probe_of_an_earlier_round_changes_nothing() {
        let s = settings();
        let mut b = Breaker::default();
        fill(&mut b, &s, 0, 4, 0);
        assert_eq!(b.admit(&s, 500), Admission::Pass { probe: true });
        let stale = b.probe_epoch();
        // The first probe never reports; after open_ms its slot goes to a second probe.
        assert_eq!(b.admit(&s, 1000), Admission::Pass { probe: true });
        let current = b.probe_epoch();
        assert_ne!(stale, current);
        // The first probe is aborted late: the second still holds the only slot.
        b.release_probe_of(stale);
        assert!(matches!(b.admit(&s, 1001), Admission::Refuse { .. }));
        // Its late success does not close the breaker either; the current probe's does.
        b.record_probe_of(&s, 1002, false, stale);
        assert_eq!(b.snapshot(1002).state, StateName::HalfOpen);
        b.record_probe_of(&s, 1003, false, current);
        assert_eq!(b.snapshot(1003).state, StateName::Closed);
    }

    #[test]
    fn old_outcomes_leave_the_window() {
        let s = settings();
        let mut b = Breaker::default();
        fill(&mut b, &s, 0, 3, 0);
        // 1000 ms later the three failures are gone; one more does not open it.
        fill(&mut b, &s, 1000, 1, 0);
        assert_eq!(b.snapshot(1000).state, StateName::Closed);
        assert_eq!(b.snapshot(1000).failures, 1);
    }
}
