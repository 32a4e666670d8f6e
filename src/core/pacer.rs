//! Adaptive retry pacing of one key (opt-in, `Policy::pacer`): the backoff retries of every
//! caller sharing the engine leave one per `interval`, and the interval adapts to every
//! caller's outcomes.
//!
//! Full jitter spreads each caller's retries at random, blind to the others; callers in one
//! isolate can do better, because the isolate sees every outcome. The pacer keeps a schedule
//! of retry slots per key:
//!
//! - A retry leaves at `max(now + its own backoff, next free slot)`, and the slot after it is
//!   `interval` later. The call's own jittered backoff stays a floor, so one caller alone
//!   backs off exactly as without pacing; pacing only spreads retries that would bunch up.
//! - A wait is never longer than `maxDelayMs`. A retry whose slot lies beyond that backs off
//!   on its own, as without pacing, and reserves nothing: the schedule never holds more than
//!   `maxDelayMs` of retries. (Waiting `maxDelayMs` instead does a little better in occ, but
//!   in the outage storm it carries the outage's retries past the recovery and the server
//!   never drains: success 0.55 and a backlog that never clears, against 0.81 and 3.4 s.)
//! - The interval starts, whenever a failure finds no retry scheduled ahead (the pacer is
//!   idle), at `seed_ratio` × the smoothed attempt time (sent to outcome): a little under one
//!   paced retry in flight at a time, the conservative restart TCP makes after an idle
//!   period. Starting from the base delay instead learns too slowly on slow networks.
//! - Server-given waits (`Retry-After`) are not paced; declined and aborted retries keep the
//!   slot they reserved (a hole in the schedule, never a collision).
//! - A failure (an outcome the rules would retry) multiplies it by `increase`, at most once
//!   per round: only a failure of an attempt sent after the last increase counts, so a burst
//!   of failures that were already on the wire together counts once. A success multiplies it
//!   by `decrease`. It stays within [1 ms, `maxDelayMs`].
//!
//! In the occ storm (`examples/storm/occ.rs`, N callers contending for one row) this beats
//! full jitter on both total calls (−53% to −72%) and completion time (−32% to −49%) for
//! N = 10..100 (docs/storm-occ.csv, docs/storm-occ-vs-fulljitter.svg), and still beats it with
//! hops 3× shorter or longer (docs/storm-candidates.csv, with what else was tried). It is not
//! a load shedder: in the outage storm it does what full jitter does; the budget sheds.
//!
//! Like the rest of the core it reads no clock and draws no random number: time comes in.

/// Pacing settings. JS option: `pacer: false | true | { increase, decrease, seedRatio }`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PacerSettings {
    /// Factor the interval grows by on a failure (once per round), >= 1.
    pub increase: f64,
    /// Factor it shrinks by on a success, in (0, 1].
    pub decrease: f64,
    /// The interval after idle, as a multiple of the smoothed attempt time, > 0.
    pub seed_ratio: f64,
}

impl Default for PacerSettings {
    fn default() -> Self {
        PacerSettings { increase: 1.05, decrease: 0.99, seed_ratio: 0.75 }
    }
}

impl PacerSettings {
    /// The settings with anything out of range (NaN, infinite, wrong side of 1) replaced by
    /// its default, so no setting can stall or explode the schedule.
    fn sane(&self) -> PacerSettings {
        let d = PacerSettings::default();
        let finite = |x: f64| x.is_finite();
        PacerSettings {
            increase: if finite(self.increase) && self.increase >= 1.0 { self.increase } else { d.increase },
            decrease: if self.decrease > 0.0 && self.decrease <= 1.0 { self.decrease } else { d.decrease },
            seed_ratio: if finite(self.seed_ratio) && self.seed_ratio > 0.0 {
                self.seed_ratio
            } else {
                d.seed_ratio
            },
        }
    }
}

/// What an outcome tells the pacer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// An outcome the rules would retry (a status in `retryOn`, a network error, a timeout).
    Failure,
    /// A success (see [`super::call::is_success`]).
    Success,
    /// Anything else (a 404, say): only the attempt time is learnt.
    Neutral,
}

/// A retry's wait as the pacer plans it; [`Pacer::commit`] reserves its slot once the retry
/// is really made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    pub delay_ms: u64,
    /// The slot to reserve, or `None` when the wait was cut to the cap (nothing reserved).
    slot: Option<u64>,
}

/// The pacer's state as [`super::Engine::pacer_snapshot`] reports it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PacerSnapshot {
    pub interval_ms: f64,
    pub smoothed_attempt_ms: f64,
    /// The first free slot (ms since the epoch); at or before now when idle.
    pub next_slot_at: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Pacer {
    interval_ms: f64,
    /// Smoothed attempt time (sent to outcome), as TCP's SRTT with gain 1/8; 0 before any.
    srtt_ms: f64,
    sampled: bool,
    next_at: u64,
    last_increase_at: u64,
}

const SRTT_GAIN: f64 = 0.125;
const MIN_INTERVAL_MS: f64 = 1.0;

/// `x` kept within [1 ms, cap] (the cap wins if it is below 1 ms); NaN becomes 1 ms.
fn bound(x: f64, cap_ms: u64) -> f64 {
    let x = if x >= MIN_INTERVAL_MS { x } else { MIN_INTERVAL_MS };
    let cap = cap_ms as f64;
    if x > cap { cap.max(0.0) } else { x }
}

impl Pacer {
    /// Learns from the outcome of an attempt sent at `sent_at` and ended at `now`.
    /// `cap_ms` is the policy's `maxDelayMs`. Out of line: the pacer is off by default, and V8
    /// compiles a wasm function on its first call (see `Call::plan_retry`).
    #[cfg_attr(target_arch = "wasm32", inline(never))]
    pub fn observe(&mut self, settings: &PacerSettings, sent_at: u64, now: u64, signal: Signal, cap_ms: u64) {
        let s = settings.sane();
        let sample = now.saturating_sub(sent_at) as f64;
        self.srtt_ms = if self.sampled { self.srtt_ms + SRTT_GAIN * (sample - self.srtt_ms) } else { sample };
        self.sampled = true;
        match signal {
            Signal::Failure if self.next_at <= now => {
                // Idle: nothing is scheduled ahead, so start again from the attempt time.
                self.interval_ms = bound(self.srtt_ms * s.seed_ratio, cap_ms);
                self.last_increase_at = now;
            }
            Signal::Failure if sent_at >= self.last_increase_at => {
                self.interval_ms = bound(self.interval_ms * s.increase, cap_ms);
                self.last_increase_at = now;
            }
            Signal::Failure | Signal::Neutral => {}
            Signal::Success => self.interval_ms = bound(self.interval_ms * s.decrease, cap_ms),
        }
    }

    /// The wait for a retry whose own backoff is `own_ms`, at `now`, capped at `cap_ms`.
    pub fn plan(&self, now: u64, own_ms: u64, cap_ms: u64) -> Plan {
        let slot = self.next_at.max(now.saturating_add(own_ms));
        let wait = slot.saturating_sub(now);
        if wait > cap_ms {
            // The schedule is full up to the cap: back off as without pacing, reserve nothing.
            Plan { delay_ms: own_ms.min(cap_ms), slot: None }
        } else {
            Plan { delay_ms: wait, slot: Some(slot) }
        }
    }

    /// Reserves the planned slot: the next retry leaves at least one interval after it.
    pub fn commit(&mut self, plan: Plan) {
        if let Some(slot) = plan.slot {
            // `as` saturates, and the interval is at least 1 ms once set (0 before any failure).
            let step = ((self.interval_ms + 0.5) as u64).max(1);
            self.next_at = slot.saturating_add(step);
        }
    }

    pub fn snapshot(&self) -> PacerSnapshot {
        PacerSnapshot {
            interval_ms: self.interval_ms,
            smoothed_attempt_ms: self.srtt_ms,
            next_slot_at: self.next_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: u64 = 2_000;

    /// Round numbers, so the tests do not move when the defaults are retuned.
    fn settings() -> PacerSettings {
        PacerSettings { increase: 1.1, decrease: 0.98, seed_ratio: 1.0 }
    }

    fn fail(p: &mut Pacer, sent: u64, now: u64) {
        p.observe(&settings(), sent, now, Signal::Failure, CAP);
    }

    fn schedule(p: &mut Pacer, now: u64, own: u64) -> u64 {
        let plan = p.plan(now, own, CAP);
        p.commit(plan);
        plan.delay_ms
    }

    #[test]
    fn a_burst_of_failures_is_spread_one_attempt_time_apart() {
        let mut p = Pacer::default();
        // Ten attempts sent at 0 all fail at 40: the first seeds the interval at 40 ms, the
        // other nine were already on the wire and do not grow it.
        for _ in 0..10 {
            fail(&mut p, 0, 40);
        }
        assert_eq!(p.snapshot().interval_ms, 40.0);
        let waits: alloc::vec::Vec<u64> = (0..4).map(|_| schedule(&mut p, 40, 0)).collect();
        assert_eq!(waits, [0, 40, 80, 120]);
    }

    #[test]
    fn the_defaults_start_at_three_quarters_of_the_attempt_time() {
        let d = PacerSettings::default();
        assert_eq!((d.increase, d.decrease, d.seed_ratio), (1.05, 0.99, 0.75));
        let mut p = Pacer::default();
        for _ in 0..10 {
            p.observe(&d, 0, 40, Signal::Failure, CAP);
        }
        assert_eq!(p.snapshot().interval_ms, 30.0);
        let waits: alloc::vec::Vec<u64> = (0..3).map(|_| schedule(&mut p, 40, 0)).collect();
        assert_eq!(waits, [0, 30, 60]);
    }

    #[test]
    fn own_backoff_is_a_floor_and_a_lone_caller_is_not_delayed() {
        let mut p = Pacer::default();
        fail(&mut p, 0, 10);
        assert_eq!(schedule(&mut p, 10, 250), 250);
        // Long after: the pacer is idle, the caller's own backoff alone decides.
        fail(&mut p, 5_000, 5_010);
        assert_eq!(schedule(&mut p, 5_010, 37), 37);
    }

    #[test]
    fn failures_grow_the_interval_once_per_round() {
        let mut p = Pacer::default();
        fail(&mut p, 0, 100); // seeds at 100
        assert_eq!(schedule(&mut p, 100, 0), 0); // next slot 200
        fail(&mut p, 100, 150); // sent after the seed: grows
        let grown = p.snapshot().interval_ms;
        assert!((grown - 110.0).abs() < 1e-9, "{grown}");
        fail(&mut p, 120, 160); // sent before that growth: same round, ignored
        assert_eq!(p.snapshot().interval_ms, grown);
        fail(&mut p, 150, 170); // sent at the growth: a new round
        assert!((p.snapshot().interval_ms - 121.0).abs() < 1e-9);
    }

    #[test]
    fn successes_shrink_the_interval_down_to_one_millisecond() {
        let mut p = Pacer::default();
        fail(&mut p, 0, 50);
        for _ in 0..1_000 {
            p.observe(&settings(), 60, 70, Signal::Success, CAP);
        }
        assert_eq!(p.snapshot().interval_ms, 1.0);
        // Neutral outcomes only teach the attempt time.
        let before = p.snapshot().interval_ms;
        p.observe(&settings(), 70, 90, Signal::Neutral, CAP);
        assert_eq!(p.snapshot().interval_ms, before);
    }

    #[test]
    fn no_wait_exceeds_the_cap_and_an_overflow_reserves_nothing() {
        let mut p = Pacer::default();
        fail(&mut p, 0, 1_500); // interval 1500
        assert_eq!(schedule(&mut p, 1_500, 0), 0);
        assert_eq!(schedule(&mut p, 1_500, 0), 1_500);
        let next = p.snapshot().next_slot_at;
        assert_eq!(next, 4_500);
        // The next slot (4500) is 3000 ms away, past the cap: the caller backs off on its own.
        assert_eq!(schedule(&mut p, 1_500, 123), 123);
        assert_eq!(p.snapshot().next_slot_at, next);
        assert_eq!(p.plan(1_500, 5_000, CAP).delay_ms, CAP);
        // The interval itself is capped too: a failure per round, a hundred rounds.
        for t in 1_600..1_700 {
            fail(&mut p, t, t);
        }
        assert_eq!(p.snapshot().interval_ms, CAP as f64);
    }

    #[test]
    fn a_planned_slot_not_committed_is_not_taken() {
        let mut p = Pacer::default();
        fail(&mut p, 0, 30);
        let plan = p.plan(30, 0, CAP);
        assert_eq!(plan.delay_ms, 0);
        // Declined (budget, breaker, deadline): the next retry gets the same slot.
        assert_eq!(p.plan(30, 0, CAP), plan);
    }

    #[test]
    fn hostile_settings_and_times_do_not_panic_or_stall() {
        let bad = [
            PacerSettings { increase: f64::NAN, decrease: f64::NAN, seed_ratio: f64::NAN },
            PacerSettings { increase: f64::INFINITY, decrease: 0.0, seed_ratio: -1.0 },
            PacerSettings { increase: 0.5, decrease: 7.0, seed_ratio: f64::INFINITY },
        ];
        for s in bad {
            let mut p = Pacer::default();
            p.observe(&s, u64::MAX, 0, Signal::Failure, CAP);
            p.observe(&s, 0, u64::MAX, Signal::Failure, CAP);
            p.observe(&s, 0, u64::MAX, Signal::Success, CAP);
            let snap = p.snapshot();
            assert!(snap.interval_ms >= 1.0 && snap.interval_ms <= CAP as f64, "{snap:?}");
            let plan = p.plan(u64::MAX, u64::MAX, CAP);
            assert!(plan.delay_ms <= CAP);
            p.commit(plan);
        }
        // A zero cap: every wait is zero, and the interval stays finite.
        let mut p = Pacer::default();
        p.observe(&settings(), 0, 10, Signal::Failure, 0);
        assert_eq!(p.plan(10, 0, 0).delay_ms, 0);
        assert!(p.snapshot().interval_ms.is_finite());
    }

    mod through_calls {
        use super::super::super::call::{Action, Call};
        use super::super::super::classify::Outcome;
        use super::super::super::engine::Engine;
        use super::super::super::headers::ServerHints;
        use super::super::super::policy::{BudgetSettings, Jitter, Policy};
        use super::*;

        const KEY: &str = "https://pacer.test";

        fn policy(pacer: Option<PacerSettings>) -> Policy {
            Policy {
                jitter: Jitter::None,
                max_attempts: 5,
                base_delay_ms: 10,
                breaker: None,
                budget: None,
                pacer,
                ..Policy::default()
            }
        }

        fn wait_after_503(c: &mut Call, e: &mut Engine, p: &Policy, now: u64) -> Option<u64> {
            match c.on_outcome(e, p, Outcome::Response(503), &ServerHints::default(), now, 0.5) {
                Ok(Action::Retry { delay_ms, .. }) => Some(delay_ms),
                _ => None,
            }
        }

        #[test]
        fn callers_sharing_an_engine_get_successive_slots() {
            let p = policy(Some(settings()));
            let mut e = Engine::new();
            let mut calls: alloc::vec::Vec<Call> =
                (0..3).map(|_| Call::start(&mut e, &p, KEY, true, 0).0).collect();
            // All three fail at 40 (attempt time 40 ms); own backoff is 10 ms.
            let waits: alloc::vec::Vec<Option<u64>> =
                calls.iter_mut().map(|c| wait_after_503(c, &mut e, &p, 40)).collect();
            assert_eq!(waits, [Some(10), Some(50), Some(90)]);
            let snap = e.pacer_snapshot(KEY);
            assert_eq!(snap.map(|s| (s.interval_ms, s.next_slot_at)), Some((40.0, 170)));
        }

        #[test]
        fn without_a_pacer_nothing_changes() {
            let p = policy(None);
            let mut e = Engine::new();
            let mut calls: alloc::vec::Vec<Call> =
                (0..3).map(|_| Call::start(&mut e, &p, KEY, true, 0).0).collect();
            let waits: alloc::vec::Vec<Option<u64>> =
                calls.iter_mut().map(|c| wait_after_503(c, &mut e, &p, 40)).collect();
            assert_eq!(waits, [Some(10), Some(10), Some(10)]);
            assert_eq!(e.pacer_snapshot(KEY), Some(Pacer::default().snapshot()));
        }

        #[test]
        fn a_retry_the_budget_refuses_takes_no_slot() {
            let budget = BudgetSettings { capacity: 5, retry_cost: 5, timeout_cost: 5, success_refund: 5 };
            let p = Policy { budget: Some(budget), ..policy(Some(settings())) };
            let mut e = Engine::with_defaults(&p);
            let (mut a, _) = Call::start(&mut e, &p, KEY, true, 0);
            let (mut b, _) = Call::start(&mut e, &p, KEY, true, 0);
            let (mut c, _) = Call::start(&mut e, &p, KEY, true, 0);
            assert_eq!(wait_after_503(&mut a, &mut e, &p, 40), Some(10)); // slot 50, next 90
            assert_eq!(wait_after_503(&mut b, &mut e, &p, 40), None); // budget empty: settles
            assert_eq!(e.pacer_snapshot(KEY).map(|s| s.next_slot_at), Some(90));
            // a's retry succeeds and refills the budget; c's retry gets the slot b did not take.
            assert!(matches!(a.resume(&mut e, &p, 50), Ok(Action::Send { .. })));
            let done = a.on_outcome(&mut e, &p, Outcome::Response(200), &ServerHints::default(), 60, 0.5);
            assert!(matches!(done, Ok(Action::Settle(_))));
            assert_eq!(wait_after_503(&mut c, &mut e, &p, 60), Some(30));
        }
    }
}
