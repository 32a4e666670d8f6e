//! The circuit breaker of one key (SPEC 5): a failure ratio over a sliding window, open for a
//! while, then half-open with a few probes.
//!
//! The window is ten buckets of a tenth of `windowMs` each (rounded up), so memory per key is
//! fixed whatever the traffic. A bucket counts only while the start of its slice of time is
//! less than `windowMs` ago, so no outcome counts once `windowMs` has passed since it was
//! recorded; one may leave up to one bucket width early. (`windowMs: 0` counts nothing.)
//!
//! The condition is checked when a failure is recorded (as Polly does), never on a success: a
//! success is the origin answering, and opening on it would refuse the calls right after a
//! good answer. Fail, fail, ok, ok at 0.5 over 4 stays closed; the next failure opens it. A half-open probe holds its slot until its outcome is
//! recorded or it is released (its call aborted or ended); a slot is never taken back by
//! elapsed time, however slow the probe.
//!
//! The caller's clock may step back. The breaker keeps its own time, which never does: a
//! backward step is absorbed into an offset (the breaker's time stands still for that instant,
//! then moves on with the clock), so nothing stored is stretched by it. An open period never
//! lasts longer than `openMs` from now, outcomes leave the window `windowMs` after they were
//! recorded however the clock moved meanwhile, and `opened_at` is reported on the caller's
//! clock, never in its future. (A forward step is time passing, as it must be.)

use super::policy::BreakerSettings;
use super::window::Window;

/// Times are the breaker's own (see the module comment).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Closed,
    /// `period`: how long this open spell lasts (see [`Breaker::open`]).
    Open {
        opened_at: u64,
        half_open_at: u64,
        period: u64,
    },
    HalfOpen {
        opened_at: u64,
        in_flight: u32,
        last_probe_at: u64,
        period: u64,
    },
}

/// What the breaker says to an attempt about to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead; `probe` marks a half-open trial whose outcome decides the state.
    Pass { probe: bool },
    /// Refused; the breaker may let attempts through again after this long (at most `openMs`).
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
    /// On the caller's clock.
    pub opened_at: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Breaker {
    state: State,
    /// Successes and failures, in breaker time, with the settings' `windowMs` as last recorded.
    window: Window,
    /// Which round of probes is current: bumped when a half-open period starts, so a late
    /// probe of an earlier round can neither free a slot nor decide the state of this one.
    probe_epoch: u32,
    /// Breaker time = caller's time + `offset`: the sum of the backward steps seen.
    offset: u64,
    /// The latest breaker time seen.
    latest: u64,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker { state: State::Closed, window: Window::default(), probe_epoch: 0, offset: 0, latest: 0 }
    }
}

impl Breaker {
    /// The breaker's time at the caller's `now`, as [`Breaker::advance`] would make it.
    fn time(&self, now: u64) -> u64 {
        now.saturating_add(self.offset).max(self.latest)
    }

    /// Moves the breaker's time to the caller's `now`; a step back is absorbed into the offset.
    fn advance(&mut self, now: u64) -> u64 {
        let t = now.saturating_add(self.offset);
        if t < self.latest {
            self.offset = self.offset.saturating_add(self.latest - t);
        }
        self.latest = self.latest.max(t);
        self.latest
    }

    fn count(&mut self, settings: &BreakerSettings, t: u64, failure: bool) {
        // A window of another size starts afresh: old slices no longer line up. (A key's state
        // belongs to one set of settings, see `Engine`; this is only a safeguard.)
        self.window.keep_width(settings.window_ms);
        self.window.add(settings.window_ms, t, [u32::from(!failure), u32::from(failure)]);
    }

    /// Opens for `openMs` from closed; a failed probe opens it again for twice the last
    /// period, up to `maxOpenMs` (never below `openMs`): the open period grows while the key
    /// stays down and starts short again once a probe closes it.
    fn open(&mut self, settings: &BreakerSettings, t: u64, previous: Option<u64>) {
        // min then max, not `clamp`: the same here (cap >= openMs), and no assertion of it to
        // panic with in the wasm.
        let cap = settings.max_open_ms.max(settings.open_ms);
        let period =
            previous.map_or(settings.open_ms, |p| p.saturating_mul(2).min(cap).max(settings.open_ms));
        self.state = State::Open { opened_at: t, half_open_at: t.saturating_add(period), period };
    }

    /// The state as stored (an open period that has run out still says open until an
    /// attempt finds it): what changes of state are reported against.
    pub fn stored_state(&self) -> StateName {
        match self.state {
            State::Closed => StateName::Closed,
            State::Open { .. } => StateName::Open,
            State::HalfOpen { .. } => StateName::HalfOpen,
        }
    }

    /// The open period under way (or of the last half-open round), if not closed.
    fn period(&self) -> Option<u64> {
        match self.state {
            State::Closed => None,
            State::Open { period, .. } | State::HalfOpen { period, .. } => Some(period),
        }
    }

    /// May an attempt start now? A pass with `probe: true` must later be answered by
    /// [`Breaker::record_probe_of`] or [`Breaker::release_probe_of`].
    pub fn admit(&mut self, settings: &BreakerSettings, now: u64) -> Admission {
        let t = self.advance(now);
        if let State::Open { opened_at, half_open_at, period } = self.state {
            if t < half_open_at {
                return Admission::Refuse { retry_after_ms: (half_open_at - t).min(period) };
            }
            self.state = State::HalfOpen { opened_at, in_flight: 0, last_probe_at: t, period };
            self.probe_epoch = self.probe_epoch.wrapping_add(1);
        }
        match &mut self.state {
            State::Closed | State::Open { .. } => Admission::Pass { probe: false },
            State::HalfOpen { in_flight, last_probe_at, period, .. } => {
                if *in_flight < settings.half_open_probes {
                    *in_flight += 1;
                    *last_probe_at = t;
                    Admission::Pass { probe: true }
                } else {
                    // When a probe answers is unknown: the hint is the open period from the
                    // last probe (at least 1 ms while one is out, never more than the period).
                    let waited = t.saturating_sub(*last_probe_at);
                    let wait = period.saturating_sub(waited).max(1).min(*period);
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
            State::Open { half_open_at, .. } => self.time(now) < half_open_at,
            State::HalfOpen { in_flight, .. } => in_flight >= settings.half_open_probes,
        }
    }

    /// Records an attempt's outcome. `probe` is what [`Breaker::admit`] said for it, and
    /// whether it belongs to the current round (see [`Breaker::record_probe_of`]).
    pub fn record(&mut self, settings: &BreakerSettings, now: u64, failure: bool, probe: bool) {
        let t = self.advance(now);
        self.count(settings, t, failure);
        match self.state {
            State::HalfOpen { .. } if probe => {
                if failure {
                    let previous = self.period();
                    self.open(settings, t, previous);
                } else {
                    self.state = State::Closed;
                    self.window = Window::default();
                }
            }
            State::Closed if failure => {
                // On a failure only: a success never opens it (see the module comment).
                // The buckets whose slice started less than `windowMs` ago.
                let [successes, failures] = self.window.totals(settings.window_ms, t);
                let total = successes.saturating_add(failures);
                // The ratio only once there are enough outcomes (no division before).
                if total >= settings.minimum_requests
                    && f64::from(failures) / f64::from(total.max(1)) >= settings.failure_ratio
                {
                    self.open(settings, t, None);
                }
            }
            // Late outcomes of attempts admitted before the breaker opened only count.
            State::Closed | State::Open { .. } | State::HalfOpen { .. } => {}
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
        let t = self.time(now);
        // Read from a copy: a snapshot changes nothing, not even the window's remembered sums.
        let mut window = self.window.clone();
        let [successes, failures] = window.totals(window.window_ms(), t);
        let (state, opened_at) = match self.state {
            State::Closed => (StateName::Closed, None),
            State::Open { opened_at, half_open_at, .. } if t < half_open_at => {
                (StateName::Open, Some(opened_at))
            }
            State::Open { opened_at, .. } | State::HalfOpen { opened_at, .. } => {
                (StateName::HalfOpen, Some(opened_at))
            }
        };
        // On the caller's clock: as long ago as on the breaker's.
        let opened_at = opened_at.map(|at| now.saturating_sub(t.saturating_sub(at)));
        Snapshot { state, failures, successes, opened_at }
    }
}

/// What the fleet (`super::fleet`) needs of a breaker besides the calls' own use.
impl Breaker {
    /// How long an open breaker still refuses at the caller's `now` (0 once its period has
    /// run out); `None` when it is not open.
    pub fn open_remaining(&self, now: u64) -> Option<u64> {
        match self.state {
            State::Open { half_open_at, .. } => Some(half_open_at.saturating_sub(self.time(now))),
            State::Closed | State::HalfOpen { .. } => None,
        }
    }

    /// An isolate's own breaker opened (see `core::fleet::hub`): a closed breaker opens for
    /// `openMs`, as if it had counted the failures itself.
    pub fn open_for_fleet(&mut self, settings: &BreakerSettings, now: u64) {
        if self.state == State::Closed {
            let t = self.advance(now);
            self.open(settings, t, None);
        }
    }

    /// The fleet saw the key recover (or granted this isolate its probe): closed with nothing
    /// counted. A local probe still out belongs to an earlier round and changes nothing.
    pub fn close_for_fleet(&mut self) {
        self.state = State::Closed;
        self.window = Window::default();
        self.probe_epoch = self.probe_epoch.wrapping_add(1);
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
            max_open_ms: 500,
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
    fn the_open_period_doubles_while_probes_fail_and_starts_short_again() {
        let s = BreakerSettings { max_open_ms: 1500, ..settings() };
        let mut b = Breaker::default();
        fill(&mut b, &s, 0, 4, 0);
        // 500, then 1000, then 1500 (the cap), 1500...
        let mut at = 0;
        for period in [500, 1000, 1500, 1500] {
            assert_eq!(b.admit(&s, at + period - 1), Admission::Refuse { retry_after_ms: 1 });
            assert_eq!(b.stored_state(), StateName::Open);
            assert_eq!(b.admit(&s, at + period), Admission::Pass { probe: true });
            assert_eq!(b.stored_state(), StateName::HalfOpen);
            at += period;
            b.record(&s, at, true, true);
        }
        assert_eq!(b.admit(&s, at + 1500), Admission::Pass { probe: true });
        b.record(&s, at + 1500, false, true);
        assert_eq!(b.stored_state(), StateName::Closed);
        // Open again from closed: openMs, the first period, as the user set it.
        fill(&mut b, &s, 10_000, 4, 0);
        assert_eq!(b.admit(&s, 10_100), Admission::Refuse { retry_after_ms: 400 });
        assert_eq!(b.admit(&s, 10_500), Admission::Pass { probe: true });
    }

    #[test]
    fn released_probes_free_their_slot() {
        let s = settings();
        let mut b = Breaker::default();
        fill(&mut b, &s, 0, 4, 0);
        assert_eq!(b.admit(&s, 500), Admission::Pass { probe: true });
        b.release_probe();
        assert_eq!(b.admit(&s, 501), Admission::Pass { probe: true });
        assert!(matches!(b.admit(&s, 502), Admission::Refuse { .. }));
        // Not answered yet: the slot stays taken, however long the probe takes.
        assert_eq!(b.admit(&s, 1001), Admission::Refuse { retry_after_ms: 1 });
    }

    #[test]
    fn a_late_probe_of_an_earlier_round_changes_nothing() {
        let s = BreakerSettings { half_open_probes: 2, ..settings() };
        let mut b = Breaker::default();
        fill(&mut b, &s, 0, 4, 0);
        assert_eq!(b.admit(&s, 500), Admission::Pass { probe: true });
        assert_eq!(b.admit(&s, 500), Admission::Pass { probe: true });
        let stale = b.probe_epoch();
        // The first probe fails: open again, then half-open in a new round at 1100.
        b.record_probe_of(&s, 600, true, stale);
        assert_eq!(b.admit(&s, 1100), Admission::Pass { probe: true });
        assert_eq!(b.admit(&s, 1100), Admission::Pass { probe: true });
        let current = b.probe_epoch();
        assert_ne!(stale, current);
        // The second probe of the first round is aborted late: both slots stay taken.
        b.release_probe_of(stale);
        assert!(matches!(b.admit(&s, 1101), Admission::Refuse { .. }));
        // Its late success does not close the breaker either; a current probe's does.
        b.record_probe_of(&s, 1102, false, stale);
        assert_eq!(b.snapshot(1102).state, StateName::HalfOpen);
        b.record_probe_of(&s, 1103, false, current);
        assert_eq!(b.snapshot(1103).state, StateName::Closed);
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

    #[test]
    fn a_slow_probe_keeps_its_slot_until_it_answers() {
        // Issue 13 item 14: no slot is taken back by elapsed time.
        let s = settings();
        let mut b = Breaker::default();
        fill(&mut b, &s, 0, 4, 0);
        assert_eq!(b.admit(&s, 500), Admission::Pass { probe: true });
        let epoch = b.probe_epoch();
        for now in [1000, 1100, 5000] {
            assert!(b.is_refusing(&s, now));
            assert!(
                matches!(b.admit(&s, now), Admission::Refuse { retry_after_ms } if retry_after_ms <= 500)
            );
        }
        b.record_probe_of(&s, 5100, false, epoch);
        assert_eq!(b.snapshot(5100).state, StateName::Closed);
    }

    #[test]
    fn a_success_never_opens_the_next_failure_does() {
        // Issue 13 item 16: fail, fail, ok, ok is 4 outcomes at 0.5, reached by a success:
        // checked on failures only, so still closed; one more failure (3 of 5) opens it.
        let s = settings();
        let mut b = Breaker::default();
        fill(&mut b, &s, 10, 2, 0);
        fill(&mut b, &s, 10, 0, 2);
        assert_eq!(b.snapshot(10).state, StateName::Closed);
        fill(&mut b, &s, 10, 1, 0);
        assert_eq!(b.snapshot(10).state, StateName::Open);
    }

    #[test]
    fn a_backward_clock_step_never_stretches_the_open_period() {
        // Issue 13 item 17: openMs 500, the clock steps back 10 s.
        let s = settings();
        let mut b = Breaker::default();
        fill(&mut b, &s, 10_000, 4, 0);
        assert_eq!(b.admit(&s, 10_100), Admission::Refuse { retry_after_ms: 400 });
        assert_eq!(b.admit(&s, 100), Admission::Refuse { retry_after_ms: 400 });
        assert!(b.is_refusing(&s, 499));
        assert_eq!(b.snapshot(499).state, StateName::Open);
        assert_eq!(b.snapshot(500).state, StateName::HalfOpen);
        assert_eq!(b.admit(&s, 500), Admission::Pass { probe: true });
        // Reported on the caller's clock, never in its future.
        // On the caller's clock, 500 ms before now: never in its future.
        assert_eq!(b.snapshot(500).opened_at, Some(0));
    }

    #[test]
    fn a_backward_clock_step_keeps_the_window_s_outcomes_for_the_rest_of_their_time() {
        let s = settings(); // windowMs 1000
        let mut b = Breaker::default();
        fill(&mut b, &s, 10_000, 3, 0);
        assert_eq!(b.admit(&s, 10_100), Admission::Pass { probe: false });
        // Back 10 s, 100 ms after they were recorded: they still count...
        b.record(&s, 100, false, false);
        assert_eq!((b.snapshot(100).failures, b.snapshot(100).successes), (3, 1));
        // ...until windowMs has passed since they were recorded, not 10 s more.
        assert_eq!(b.snapshot(999).failures, 3);
        assert_eq!(b.snapshot(1000).failures, 0);
        assert_eq!(b.snapshot(1099).successes, 1);
        assert_eq!(b.snapshot(1100).successes, 0);
    }

    #[test]
    fn no_outcome_counts_once_window_ms_has_passed() {
        // Issue 13 item 18: windows that are not a multiple of ten.
        for window_ms in [5, 1005, 7, 13, 999] {
            let s = BreakerSettings { window_ms, minimum_requests: 100, ..settings() };
            let width = window_ms.div_ceil(10);
            for at in [0, 1, width - 1, 12_345] {
                let mut b = Breaker::default();
                b.record(&s, at, true, false);
                assert_eq!(b.snapshot(at + window_ms - 1 - (width - 1)).failures, 1, "{window_ms} at {at}");
                assert_eq!(b.snapshot(at + window_ms).failures, 0, "{window_ms} at {at}");
                assert_eq!(b.snapshot(at + window_ms + 4).failures, 0, "{window_ms} at {at}");
            }
        }
    }

    #[test]
    fn a_window_of_another_width_starts_afresh_and_a_snapshot_changes_nothing() {
        let s = settings(); // windowMs 1000: buckets of 100 ms
        let mut b = Breaker::default();
        fill(&mut b, &s, 10, 2, 1);
        let before = b.clone();
        assert_eq!((b.snapshot(20).failures, b.snapshot(20).successes), (2, 1));
        assert_eq!(b, before);
        // 1005 ms has buckets of 101 ms: the old slices no longer line up.
        let wider = BreakerSettings { window_ms: 1005, ..s };
        b.record(&wider, 30, true, false);
        assert_eq!((b.snapshot(30).failures, b.snapshot(30).successes), (1, 0));
        // 999 ms keeps buckets of 100 ms: its outcomes stay.
        let mut c = before.clone();
        c.record(&BreakerSettings { window_ms: 999, ..s }, 30, true, false);
        assert_eq!((c.snapshot(30).failures, c.snapshot(30).successes), (3, 1));
    }
}
