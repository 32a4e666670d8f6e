//! Hedged requests (SPEC 9) in the call state machine, driven by hand with a virtual clock:
//! several attempts in flight, which outcome wins, and every reason a hedge is refused.
#![cfg(not(target_arch = "wasm32"))]

use edge_retry::core::call::CallError;
use edge_retry::core::headers::ServerHints;
use edge_retry::core::hedge::{HedgeDelay, HedgeSettings};
use edge_retry::core::{
    Action, BreakerSettings, BudgetSettings, Call, Engine, Jitter, Outcome, Policy, Settle,
};
use proptest::prelude::*;

const KEY: &str = "https://tail.example.com";

fn hedged(delay: HedgeDelay, max_hedges: u32) -> Policy {
    Policy {
        jitter: Jitter::None,
        breaker: None,
        hedge: Some(HedgeSettings { delay, max_hedges }),
        ..Policy::default()
    }
}

fn fixed(ms: u64) -> Policy {
    hedged(HedgeDelay::Fixed(ms), 1)
}

fn send(attempt: u32) -> Action {
    Action::Send { attempt, timeout_ms: None, deadline_bound: false }
}

fn report(
    c: &mut Call,
    e: &mut Engine,
    p: &Policy,
    attempt: u32,
    o: Outcome,
    now: u64,
) -> Result<Option<Action>, CallError> {
    c.on_outcome_of(e, p, attempt, o, &ServerHints::default(), now, 0.0)
}

#[test]
fn the_hedge_wins_and_pays_retry_cost() {
    let p = fixed(20);
    let mut e = Engine::with_defaults(&p);
    let (mut c, a) = Call::start(&mut e, &p, KEY, true, 1000);
    assert_eq!(a, send(1));
    assert!(c.is_hedged());
    assert_eq!(c.hedge_after(), Some(20));
    assert_eq!(c.hedge(&mut e, &p, 1020), Ok(Some(send(2))));
    assert_eq!(c.hedge_after(), None, "maxHedges 1: no second hedge");
    assert_eq!(e.budget_tokens(KEY), Some(495), "retryCost 5 paid");
    // The hedge answers first: it settles the call; the first attempt is the driver's to abort.
    assert_eq!(
        report(&mut c, &mut e, &p, 2, Outcome::Response(200), 1025),
        Ok(Some(Action::Settle(Settle::Last)))
    );
    assert_eq!(report(&mut c, &mut e, &p, 1, Outcome::Response(200), 1500), Err(CallError::Settled));
    let k = &e.stats.counters;
    assert_eq!((k.calls, k.attempts, k.hedges, k.retries, k.successes), (1, 2, 1, 0, 1));
}

#[test]
fn a_fast_answer_sends_no_hedge() {
    let p = fixed(20);
    let mut e = Engine::with_defaults(&p);
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 0);
    assert_eq!(
        report(&mut c, &mut e, &p, 1, Outcome::Response(200), 5),
        Ok(Some(Action::Settle(Settle::Last)))
    );
    // A hedge timer that fires late finds the call settled.
    assert_eq!(c.hedge(&mut e, &p, 20), Err(CallError::Settled));
    assert_eq!(e.stats.counters.hedges, 0);
}

#[test]
fn a_retryable_outcome_with_another_attempt_out_starts_no_retry() {
    let p = fixed(20);
    let mut e = Engine::with_defaults(&p);
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 0);
    assert_eq!(c.hedge(&mut e, &p, 20), Ok(Some(send(2))));
    // The first attempt's 503: the hedge is still out, so wait for it.
    assert_eq!(report(&mut c, &mut e, &p, 1, Outcome::Response(503), 30), Ok(None));
    assert_eq!(
        report(&mut c, &mut e, &p, 2, Outcome::Response(200), 40),
        Ok(Some(Action::Settle(Settle::Last)))
    );
    assert_eq!(e.stats.counters.retries, 0);
}

#[test]
fn when_every_attempt_out_fails_the_last_one_retries_and_hedges_count_as_attempts() {
    let p = fixed(20); // maxAttempts 3
    let mut e = Engine::with_defaults(&p);
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 0);
    assert_eq!(c.hedge(&mut e, &p, 20), Ok(Some(send(2))));
    assert_eq!(report(&mut c, &mut e, &p, 2, Outcome::NetworkError, 25), Ok(None));
    let retry = report(&mut c, &mut e, &p, 1, Outcome::Response(503), 30);
    assert!(matches!(retry, Ok(Some(Action::Retry { attempt: 2, .. }))), "{retry:?}");
    assert_eq!(c.resume(&mut e, &p, 130), Ok(send(3)));
    assert_eq!(c.hedge_after(), None, "three attempts of three: no room for a hedge");
    assert_eq!(
        report(&mut c, &mut e, &p, 3, Outcome::Response(503), 140),
        Ok(Some(Action::Settle(Settle::Last)))
    );
    assert_eq!(e.stats.counters.attempts, 3);
}

#[test]
fn an_attempt_not_in_flight_is_misuse_not_a_panic() {
    let p = fixed(20);
    let mut e = Engine::with_defaults(&p);
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 0);
    assert_eq!(report(&mut c, &mut e, &p, 7, Outcome::Response(200), 5), Err(CallError::UnknownAttempt));
    assert_eq!(report(&mut c, &mut e, &p, 0, Outcome::Response(200), 5), Err(CallError::UnknownAttempt));
    assert_eq!(c.hedge(&mut e, &p, 20), Ok(Some(send(2))));
    // Plain `on_outcome` cannot say which attempt: refused while the other is out.
    let plain = c.on_outcome(&mut e, &p, Outcome::Response(503), &ServerHints::default(), 25, 0.0);
    assert_eq!(plain, Err(CallError::OthersInFlight));
}

#[test]
fn no_hedge_for_a_request_that_cannot_be_repeated_or_with_one_attempt() {
    let p = fixed(20);
    let mut e = Engine::with_defaults(&p);
    let (mut c, _) = Call::start(&mut e, &p, KEY, false, 0);
    assert!(!c.is_hedged());
    assert_eq!(c.hedge_after(), None);
    assert_eq!(c.hedge(&mut e, &p, 20), Ok(None));
    let one = Policy { max_attempts: 1, ..fixed(20) };
    let (mut c, _) = Call::start(&mut e, &one, KEY, true, 0);
    assert_eq!(c.hedge_after(), None);
    assert_eq!(c.hedge(&mut e, &one, 20), Ok(None));
    assert_eq!(e.stats.counters.hedges, 0);
}

#[test]
fn no_hedge_without_tokens() {
    let p = Policy {
        budget: Some(BudgetSettings { capacity: 4, ..BudgetSettings::default() }),
        retry_cap: None,
        ..fixed(20)
    };
    let mut e = Engine::with_defaults(&p);
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 0);
    assert_eq!(c.hedge_after(), Some(20), "asked for; refused when the timer fires");
    assert_eq!(c.hedge(&mut e, &p, 20), Ok(None));
    assert_eq!(c.hedge_after(), None);
    assert_eq!(e.budget_tokens(KEY), Some(4));
    assert_eq!(
        report(&mut c, &mut e, &p, 1, Outcome::Response(200), 400),
        Ok(Some(Action::Settle(Settle::Last)))
    );
}

#[test]
fn no_hedge_while_the_breaker_is_open_or_half_open() {
    let settings = BreakerSettings {
        failure_ratio: 0.5,
        minimum_requests: 2,
        window_ms: 10_000,
        open_ms: 1000,
        max_open_ms: 1000,
        half_open_probes: 1,
    };
    let p = Policy { breaker: Some(settings), ..fixed(20) };
    let mut e = Engine::with_defaults(&p);
    let (mut slow, _) = Call::start(&mut e, &p, KEY, true, 0);
    // Two other calls fail: the breaker opens while `slow` is out.
    for t in [1, 2] {
        let single = Policy { max_attempts: 1, ..p.clone() };
        let (mut c, _) = Call::start(&mut e, &single, KEY, true, t);
        assert!(matches!(
            report(&mut c, &mut e, &single, 1, Outcome::NetworkError, t + 1),
            Ok(Some(Action::Settle(_)))
        ));
    }
    assert_eq!(slow.hedge(&mut e, &p, 20), Ok(None), "open");
    // Half-open: the probe goes, but no hedge beside it.
    let (mut probe, a) = Call::start(&mut e, &p, KEY, true, 1100);
    assert_eq!(a, send(1));
    assert_eq!(probe.hedge(&mut e, &p, 1120), Ok(None), "half-open");
    assert_eq!(e.stats.counters.hedges, 0);
}

#[test]
fn no_hedge_that_could_only_go_at_the_deadline() {
    let p = Policy { timeout_ms: Some(50), ..fixed(60) };
    let mut e = Engine::with_defaults(&p);
    let (c, a) = Call::start(&mut e, &p, KEY, true, 0);
    assert_eq!(a, Action::Send { attempt: 1, timeout_ms: Some(50), deadline_bound: true });
    assert_eq!(c.hedge_after(), None);
    // Within the deadline: the hedge's timeout is what is left.
    let p = Policy { timeout_ms: Some(50), ..fixed(20) };
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 0);
    assert_eq!(
        c.hedge(&mut e, &p, 20),
        Ok(Some(Action::Send { attempt: 2, timeout_ms: Some(30), deadline_bound: true }))
    );
    // The deadline cuts both: the first report settles with Deadline.
    assert_eq!(
        report(&mut c, &mut e, &p, 2, Outcome::Timeout, 50),
        Ok(Some(Action::Settle(Settle::Deadline)))
    );
}

#[test]
fn up_to_max_hedges_each_after_the_delay_and_abort_settles_all() {
    let p = Policy { max_attempts: 10, ..hedged(HedgeDelay::Fixed(10), 3) };
    let mut e = Engine::with_defaults(&p);
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 0);
    for (n, t) in [(2, 10), (3, 20), (4, 30)] {
        assert_eq!(c.hedge_after(), Some(10));
        assert_eq!(c.hedge(&mut e, &p, t), Ok(Some(send(n))));
    }
    assert_eq!(c.hedge_after(), None);
    assert_eq!(c.hedge(&mut e, &p, 40), Ok(None));
    assert_eq!(c.abort(&mut e, &p, 45), Ok(Action::Settle(Settle::Aborted)));
    assert_eq!(report(&mut c, &mut e, &p, 1, Outcome::Response(200), 50), Err(CallError::Settled));
    assert_eq!(e.stats.counters.hedges, 3);
}

#[test]
fn auto_waits_for_twenty_calls_then_hedges_at_the_p95_with_a_10_ms_floor() {
    let p = hedged(HedgeDelay::Auto, 1);
    let mut e = Engine::with_defaults(&p);
    let mut now = 0;
    for i in 0..20u64 {
        let (mut c, _) = Call::start(&mut e, &p, KEY, true, now);
        assert_eq!(c.hedge_after(), None, "call {i}: too few latencies seen");
        now += 3;
        assert!(matches!(
            report(&mut c, &mut e, &p, 1, Outcome::Response(200), now),
            Ok(Some(Action::Settle(_)))
        ));
    }
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, now);
    assert_eq!(c.hedge_after(), Some(10), "p95 is 3 ms; the floor is 10");
    now += 3;
    let _ = report(&mut c, &mut e, &p, 1, Outcome::Response(200), now);
    // Slower answers raise it.
    for _ in 0..64 {
        let (mut c, _) = Call::start(&mut e, &p, KEY, true, now);
        now += 40;
        let _ = report(&mut c, &mut e, &p, 1, Outcome::Response(200), now);
    }
    let (c, _) = Call::start(&mut e, &p, KEY, true, now);
    assert_eq!(c.hedge_after(), Some(40));
    // A key of its own has seen nothing.
    let (c, _) = Call::start(&mut e, &p, "https://other.example.com", true, now);
    assert_eq!(c.hedge_after(), None);
}

#[test]
fn a_call_without_hedge_is_as_before() {
    let p = Policy { jitter: Jitter::None, breaker: None, ..Policy::default() };
    let mut e = Engine::with_defaults(&p);
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 0);
    assert!(!c.is_hedged());
    assert_eq!(c.hedge_after(), None);
    assert_eq!(c.hedge(&mut e, &p, 20), Ok(None));
    assert_eq!(
        report(&mut c, &mut e, &p, 1, Outcome::Response(200), 30),
        Ok(Some(Action::Settle(Settle::Last)))
    );
}

/// One step a driver may take: fire the hedge timer, or report an attempt in flight.
#[derive(Clone, Debug)]
enum Step {
    Hedge,
    Report { pick: usize, outcome: u8 },
    Resume,
    Abort,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::Hedge),
        5 => (0usize..4, 0u8..4).prop_map(|(pick, outcome)| Step::Report { pick, outcome }),
        2 => Just(Step::Resume),
        1 => Just(Step::Abort),
    ]
}

proptest! {
    /// Whatever the driver does in whatever order: never more than 1 + maxHedges attempts
    /// out, attempts never past maxAttempts, the hedges counted are the hedges sent, tokens
    /// never appear from nowhere, and a settled call sends nothing.
    #[test]
    fn hedging_keeps_its_bounds(max_hedges in 1u32..=3, max_attempts in 1u32..6, capacity in 0u32..30,
                                steps in proptest::collection::vec(step(), 1..40)) {
        let p = Policy {
            max_attempts,
            budget: Some(BudgetSettings { capacity, ..BudgetSettings::default() }),
            retry_cap: None,
            ..hedged(HedgeDelay::Fixed(5), max_hedges)
        };
        let mut e = Engine::with_defaults(&p);
        let (mut c, _) = Call::start(&mut e, &p, KEY, true, 0);
        let mut out: Vec<u32> = vec![1];
        let mut sent = 1u32;
        let mut hedges = 0u32;
        let mut now = 0;
        for s in steps {
            now += 7;
            let before = e.budget_tokens(KEY).unwrap_or(capacity);
            match s {
                Step::Hedge => match c.hedge(&mut e, &p, now) {
                    Ok(Some(Action::Send { attempt, .. })) => {
                        out.push(attempt);
                        sent += 1;
                        hedges += 1;
                        prop_assert_eq!(e.budget_tokens(KEY), Some(before - 5));
                    }
                    Ok(None) | Err(_) => {}
                    Ok(Some(other)) => prop_assert!(false, "hedge gave {:?}", other),
                },
                Step::Report { pick, outcome } => {
                    let Some(&attempt) = out.get(pick % out.len().max(1)) else { continue };
                    let o = [Outcome::Response(200), Outcome::Response(503), Outcome::NetworkError, Outcome::Timeout][usize::from(outcome)];
                    let r = report(&mut c, &mut e, &p, attempt, o, now);
                    prop_assert!(r.is_ok(), "{:?}", r);
                    out.retain(|a| *a != attempt);
                    match r {
                        Ok(Some(Action::Settle(_))) => out.clear(),
                        Ok(None) => prop_assert!(!out.is_empty()),
                        _ => {}
                    }
                }
                Step::Resume => if let Ok(Action::Send { attempt, .. }) = c.resume(&mut e, &p, now) {
                    out.push(attempt);
                    sent += 1;
                },
                Step::Abort => {
                    let _ = c.abort(&mut e, &p, now);
                    out.clear();
                }
            }
            prop_assert!(out.len() as u32 <= 1 + max_hedges);
            prop_assert!(sent <= max_attempts);
            prop_assert_eq!(u64::from(hedges), e.stats.counters.hedges);
            prop_assert!(e.budget_tokens(KEY).unwrap_or(0) <= capacity);
            if c.is_settled() {
                prop_assert_eq!(c.hedge(&mut e, &p, now), Err(CallError::Settled));
            }
        }
    }
}
