//! Scenario tests of the per-call state machine (`core::call::Call`), driven by hand with a
//! virtual clock (`u64` ms) and injected random numbers. Nothing sleeps: "waiting" is adding
//! to a number. Expected values are worked out from SPEC 2-6 in the comments next to them.
// Native only: the reference formatters (httpdate, chrono) and proptest do not build for wasm32.
#![cfg(not(target_arch = "wasm32"))]

use std::time::{Duration, UNIX_EPOCH};

use edge_retry::core::breaker::StateName;
use edge_retry::core::call::CallError;
use edge_retry::core::classify::{RetryReason, method_is_retryable};
use edge_retry::core::headers::ServerHints;
use edge_retry::core::options::{self, Scope, Value};
use edge_retry::core::stats::Counters;
use edge_retry::core::{
    Action, BreakerSettings, BudgetSettings, Call, Engine, Jitter, Outcome, Policy, Settle,
};

const KEY: &str = "https://api.example.com";

/// Defaults, but with no jitter, no breaker and no budget, so every number is exact.
fn plain() -> Policy {
    Policy { jitter: Jitter::None, breaker: None, budget: None, ..Policy::default() }
}

fn no_hints() -> ServerHints<'static> {
    ServerHints::default()
}

fn retry_after(value: &[u8]) -> ServerHints<'_> {
    ServerHints { retry_after: Some(value), ..ServerHints::default() }
}

fn send(attempt: u32) -> Action {
    Action::Send { attempt, timeout_ms: None, deadline_bound: false }
}

fn backoff(attempt: u32, delay_ms: u64, reason: RetryReason) -> Action {
    Action::Retry { attempt, delay_ms, reason, server_wait: false }
}

fn server(attempt: u32, delay_ms: u64) -> Action {
    Action::Retry { attempt, delay_ms, reason: RetryReason::Status, server_wait: true }
}

fn outcome(call: &mut Call, engine: &mut Engine, policy: &Policy, o: Outcome, now: u64) -> Action {
    call.on_outcome(engine, policy, o, &no_hints(), now, 0.0).expect("an attempt is in flight")
}

fn resume(call: &mut Call, engine: &mut Engine, policy: &Policy, now: u64) -> Action {
    call.resume(engine, policy, now).expect("the call is waiting")
}

/// A call with one attempt that ends with `o` after 10 ms.
fn one_shot(engine: &mut Engine, policy: &Policy, now: u64, o: Outcome) -> Action {
    let (mut call, first) = Call::start(engine, policy, KEY, true, now);
    if !matches!(first, Action::Send { attempt: 1, .. }) {
        return first;
    }
    outcome(&mut call, engine, policy, o, now + 10)
}

fn counters(engine: &Engine) -> Counters {
    engine.stats.counters.clone()
}

// ---------------------------------------------------------------------------------------------
// What is retried (SPEC 2, 3)
// ---------------------------------------------------------------------------------------------

#[test]
fn a_503_is_retried_until_max_attempts_then_settles_with_the_last_response() {
    let p = plain(); // maxAttempts 3, base 100, multiplier 2, no jitter
    let mut e = Engine::with_defaults(&p);
    let (mut c, a) = Call::start(&mut e, &p, KEY, true, 1000);
    assert_eq!(a, send(1));
    // Retry 1 waits step 1 = 100.
    assert_eq!(
        outcome(&mut c, &mut e, &p, Outcome::Response(503), 1010),
        backoff(1, 100, RetryReason::Status)
    );
    assert_eq!(resume(&mut c, &mut e, &p, 1110), send(2));
    // Retry 2 waits step 2 = 100 * 2 = 200.
    assert_eq!(
        outcome(&mut c, &mut e, &p, Outcome::Response(503), 1120),
        backoff(2, 200, RetryReason::Status)
    );
    assert_eq!(resume(&mut c, &mut e, &p, 1320), send(3));
    // Third attempt of three: no more.
    assert_eq!(outcome(&mut c, &mut e, &p, Outcome::Response(503), 1330), Action::Settle(Settle::Last));
    assert!(c.is_settled());
    assert_eq!(c.attempts(), 3);
    assert_eq!(c.last_outcome(), Some(Outcome::Response(503)));
    assert_eq!(
        counters(&e),
        Counters { calls: 1, attempts: 3, retries: 2, failures: 1, ..Counters::default() }
    );
    // The call took 330 ms (waits included); the histogram is within ~6% on the slow side.
    let p50 = e.stats.latency().p50;
    assert!((330..=352).contains(&p50), "{p50}");
}

#[test]
fn the_step_grows_by_the_multiplier_and_stops_at_max_delay() {
    let p = Policy { max_attempts: 5, base_delay_ms: 100, multiplier: 10.0, max_delay_ms: 1500, ..plain() };
    let mut e = Engine::with_defaults(&p);
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 0);
    let mut now = 0;
    // 100, 1000, then 10000 and 100000 capped at 1500.
    for (n, want) in [(1, 100), (2, 1000), (3, 1500), (4, 1500)] {
        now += 5;
        assert_eq!(
            outcome(&mut c, &mut e, &p, Outcome::NetworkError, now),
            backoff(n, want, RetryReason::Network)
        );
        now += want;
        assert_eq!(resume(&mut c, &mut e, &p, now), send(n + 1));
    }
    assert_eq!(outcome(&mut c, &mut e, &p, Outcome::NetworkError, now + 5), Action::Settle(Settle::Last));
}

#[test]
fn full_jitter_scales_the_step_by_the_injected_random_number() {
    let p = Policy { jitter: Jitter::Full, max_attempts: 4, ..plain() };
    let mut e = Engine::with_defaults(&p);
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 0);
    let hints = no_hints();
    // Uniform in [0, step]: 0.5 of 100, 0.5 of 200, 0.75 of 400.
    let mut now = 0;
    for (n, rnd, want) in [(1, 0.5, 50), (2, 0.5, 100), (3, 0.75, 300)] {
        now += 10;
        let a = c.on_outcome(&mut e, &p, Outcome::Response(502), &hints, now, rnd).unwrap();
        assert_eq!(a, backoff(n, want, RetryReason::Status));
        now += want;
        resume(&mut c, &mut e, &p, now);
    }
    // A random source that misbehaves is clamped into [0, 1): still within [0, step].
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 0);
    let a = c.on_outcome(&mut e, &p, Outcome::Response(502), &hints, 10, f64::NAN).unwrap();
    assert_eq!(a, backoff(1, 0, RetryReason::Status));
}

#[test]
fn decorrelated_jitter_grows_from_the_previous_wait() {
    let p = Policy { jitter: Jitter::Decorrelated, max_attempts: 4, ..plain() };
    let mut e = Engine::with_defaults(&p);
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 0);
    let hints = no_hints();
    // prev starts at base (100): uniform [100, 300] at 0.5 = 200; then [100, 600] = 350;
    // then [100, 1050] = 575.
    let mut now = 0;
    for (n, want) in [(1, 200), (2, 350), (3, 575)] {
        now += 10;
        let a = c.on_outcome(&mut e, &p, Outcome::Response(503), &hints, now, 0.5).unwrap();
        assert_eq!(a, backoff(n, want, RetryReason::Status));
        now += want;
        resume(&mut c, &mut e, &p, now);
    }
}

#[test]
fn a_success_after_retries_resolves_and_earns_the_refund() {
    let p = Policy { budget: Some(BudgetSettings::default()), ..plain() };
    let mut e = Engine::with_defaults(&p);
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 0);
    outcome(&mut c, &mut e, &p, Outcome::Response(503), 10);
    assert_eq!(e.budget_tokens(KEY), Some(495)); // 500 - retryCost 5
    resume(&mut c, &mut e, &p, 110);
    outcome(&mut c, &mut e, &p, Outcome::Response(503), 120);
    assert_eq!(e.budget_tokens(KEY), Some(490));
    resume(&mut c, &mut e, &p, 320);
    assert_eq!(outcome(&mut c, &mut e, &p, Outcome::Response(200), 330), Action::Settle(Settle::Last));
    assert_eq!(e.budget_tokens(KEY), Some(491)); // + successRefund 1
    assert_eq!(
        counters(&e),
        Counters { calls: 1, attempts: 3, retries: 2, successes: 1, ..Counters::default() }
    );
}

#[test]
fn a_404_is_not_retried() {
    let p = plain();
    let mut e = Engine::with_defaults(&p);
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 0);
    assert_eq!(outcome(&mut c, &mut e, &p, Outcome::Response(404), 10), Action::Settle(Settle::Last));
    assert_eq!(c.attempts(), 1);
    // Resolved with a response that is neither retried nor a server error: a success (README).
    assert_eq!(counters(&e), Counters { calls: 1, attempts: 1, successes: 1, ..Counters::default() });
    // A 501 is not in retryOn either: not retried, but a server error, so a failure.
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 100);
    assert_eq!(outcome(&mut c, &mut e, &p, Outcome::Response(501), 110), Action::Settle(Settle::Last));
    assert_eq!((e.stats.counters.successes, e.stats.counters.failures), (1, 1));
}

#[test]
fn a_post_without_an_idempotency_key_is_sent_once() {
    let p = plain();
    let mut e = Engine::with_defaults(&p);
    let repeatable = method_is_retryable(&p, "POST", false);
    assert!(!repeatable);
    let (mut c, _) = Call::start(&mut e, &p, KEY, repeatable, 0);
    assert_eq!(outcome(&mut c, &mut e, &p, Outcome::Response(503), 10), Action::Settle(Settle::Last));
    assert_eq!(c.attempts(), 1);
    let (mut c, _) = Call::start(&mut e, &p, KEY, repeatable, 100);
    assert_eq!(outcome(&mut c, &mut e, &p, Outcome::NetworkError, 110), Action::Settle(Settle::Last));
    assert_eq!(counters(&e), Counters { calls: 2, attempts: 2, failures: 2, ..Counters::default() });

    // With an Idempotency-Key it is retried like a GET.
    let keyed = method_is_retryable(&p, "post", true);
    let (mut c, _) = Call::start(&mut e, &p, KEY, keyed, 200);
    assert_eq!(
        outcome(&mut c, &mut e, &p, Outcome::Response(503), 210),
        backoff(1, 100, RetryReason::Status)
    );
}

#[test]
fn retry_false_means_one_attempt() {
    let p = Policy { max_attempts: 1, ..plain() };
    let mut e = Engine::with_defaults(&p);
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 0);
    assert_eq!(outcome(&mut c, &mut e, &p, Outcome::NetworkError, 10), Action::Settle(Settle::Last));
    assert_eq!(c.last_outcome(), Some(Outcome::NetworkError));
}

#[test]
fn network_errors_and_attempt_timeouts_are_retried_and_cost_timeout_cost() {
    let p = Policy {
        attempt_timeout_ms: Some(300),
        budget: Some(BudgetSettings::default()),
        max_attempts: 4,
        ..plain()
    };
    let mut e = Engine::with_defaults(&p);
    let (mut c, a) = Call::start(&mut e, &p, KEY, true, 0);
    // attemptTimeoutMs is handed to the driver, and it is not the call's deadline.
    assert_eq!(a, Action::Send { attempt: 1, timeout_ms: Some(300), deadline_bound: false });
    assert_eq!(outcome(&mut c, &mut e, &p, Outcome::Timeout, 300), backoff(1, 100, RetryReason::Timeout));
    assert_eq!(e.budget_tokens(KEY), Some(490)); // timeoutCost 10
    resume(&mut c, &mut e, &p, 400);
    assert_eq!(
        outcome(&mut c, &mut e, &p, Outcome::NetworkError, 450),
        backoff(2, 200, RetryReason::Network)
    );
    assert_eq!(e.budget_tokens(KEY), Some(480)); // a network error also costs timeoutCost (README)
    resume(&mut c, &mut e, &p, 650);
    assert_eq!(
        outcome(&mut c, &mut e, &p, Outcome::Response(500), 700),
        backoff(3, 400, RetryReason::Status)
    );
    assert_eq!(e.budget_tokens(KEY), Some(475)); // a status costs retryCost 5
}

// ---------------------------------------------------------------------------------------------
// Retry-After (SPEC 4)
// ---------------------------------------------------------------------------------------------

#[test]
fn retry_after_seconds_win_over_backoff_and_are_lengthened_by_the_jitter() {
    let p = plain(); // retryAfterJitter 0.1
    let mut e = Engine::with_defaults(&p);
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 0);
    // 2 s asked; lengthened by 0.5 * 0.1 of itself = 100 ms.
    let a = c.on_outcome(&mut e, &p, Outcome::Response(503), &retry_after(b"2"), 10, 0.5).unwrap();
    assert_eq!(a, server(1, 2100));
    assert_eq!(resume(&mut c, &mut e, &p, 2110), send(2));
    assert_eq!(e.stats.counters.retry_after_waits, 1);
    // rnd 0: exactly what the server asked; 429 is retried with its Retry-After too.
    let a = c.on_outcome(&mut e, &p, Outcome::Response(429), &retry_after(b"3"), 2120, 0.0).unwrap();
    assert_eq!(a, server(2, 3000));
    resume(&mut c, &mut e, &p, 5120);
    assert_eq!(e.stats.counters.retry_after_waits, 2);

    // retryAfterJitter 0: never lengthened.
    let exact = Policy { retry_after_jitter: 0.0, ..plain() };
    let (mut c, _) = Call::start(&mut e, &exact, KEY, true, 0);
    let a = c.on_outcome(&mut e, &exact, Outcome::Response(503), &retry_after(b"2"), 10, 0.99).unwrap();
    assert_eq!(a, server(1, 2000));
}

#[test]
fn retry_after_as_an_http_date_is_measured_against_the_clock() {
    let p = plain();
    let mut e = Engine::with_defaults(&p);
    let now_ms = 1_795_000_000_250;
    // Formatted by an independent implementation (the httpdate crate): 10 s after the
    // whole second that contains now, so 9750 ms from now.
    let date = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(1_795_000_010));
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, now_ms - 10);
    let a = c.on_outcome(&mut e, &p, Outcome::Response(503), &retry_after(date.as_bytes()), now_ms, 0.0);
    assert_eq!(a, Ok(server(1, 9750)));

    // A date in the past means 0.
    let past = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(1_000_000_000));
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, now_ms);
    let a = c.on_outcome(&mut e, &p, Outcome::Response(503), &retry_after(past.as_bytes()), now_ms, 0.7);
    assert_eq!(a, Ok(server(1, 0)));
}

#[test]
fn retry_after_above_max_retry_after_returns_the_response_at_once() {
    let p = Policy { budget: Some(BudgetSettings::default()), ..plain() }; // maxRetryAfterMs 60000
    let mut e = Engine::with_defaults(&p);
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 0);
    let a = c.on_outcome(&mut e, &p, Outcome::Response(503), &retry_after(b"61"), 10, 0.0).unwrap();
    assert_eq!(a, Action::Settle(Settle::Last));
    assert_eq!(c.attempts(), 1);
    assert_eq!(e.budget_tokens(KEY), Some(500)); // nothing spent on a retry not made
    // Exactly the maximum is allowed; the check is on the server's value, before lengthening.
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 0);
    let a = c.on_outcome(&mut e, &p, Outcome::Response(503), &retry_after(b"60"), 10, 0.5).unwrap();
    assert_eq!(a, server(1, 63_000));
    assert_eq!(e.stats.counters.retry_after_waits, 0); // counted when the wait is really made
}

#[test]
fn retry_after_is_ignored_when_malformed_or_not_respected() {
    let mut e = Engine::new();
    let p = plain();
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 0);
    let a = c.on_outcome(&mut e, &p, Outcome::Response(503), &retry_after(b"soon"), 10, 0.0).unwrap();
    assert_eq!(a, backoff(1, 100, RetryReason::Status));

    let deaf = Policy { respect_retry_after: false, ..plain() };
    let (mut c, _) = Call::start(&mut e, &deaf, KEY, true, 0);
    let a = c.on_outcome(&mut e, &deaf, Outcome::Response(503), &retry_after(b"2"), 10, 0.0).unwrap();
    assert_eq!(a, backoff(1, 100, RetryReason::Status));
    resume(&mut c, &mut e, &deaf, 110);
    assert_eq!(e.stats.counters.retry_after_waits, 0);
}

#[test]
fn ratelimit_fields_are_used_when_retry_after_is_absent() {
    let p = plain();
    let mut e = Engine::with_defaults(&p);
    let now = 1_795_000_000_000;
    let cases: [(ServerHints, u64); 3] = [
        (ServerHints { ratelimit_reset: Some(b"4"), ..ServerHints::default() }, 4000),
        (ServerHints { ratelimit: Some(b"\"default\";r=0;t=3"), ..ServerHints::default() }, 3000),
        // Epoch seconds, 7 s after now.
        (ServerHints { x_ratelimit_reset: Some(b"1795000007"), ..ServerHints::default() }, 7000),
    ];
    for (hints, want) in cases {
        let (mut c, _) = Call::start(&mut e, &p, KEY, true, now - 10);
        assert_eq!(c.on_outcome(&mut e, &p, Outcome::Response(429), &hints, now, 0.0), Ok(server(1, want)));
    }
}

// ---------------------------------------------------------------------------------------------
// Deadlines (timeoutMs, attemptTimeoutMs)
// ---------------------------------------------------------------------------------------------

#[test]
fn a_deadline_that_would_cut_a_wait_settles_with_the_last_outcome() {
    let p = Policy { timeout_ms: Some(250), budget: Some(BudgetSettings::default()), ..plain() };
    let mut e = Engine::with_defaults(&p);
    let (mut c, a) = Call::start(&mut e, &p, KEY, true, 1000);
    // No attemptTimeoutMs: the attempt is cut by the deadline itself.
    assert_eq!(a, Action::Send { attempt: 1, timeout_ms: Some(250), deadline_bound: true });
    // 240 ms left, wait 100: fine.
    assert_eq!(
        outcome(&mut c, &mut e, &p, Outcome::Response(503), 1010),
        backoff(1, 100, RetryReason::Status)
    );
    assert_eq!(
        resume(&mut c, &mut e, &p, 1110),
        Action::Send { attempt: 2, timeout_ms: Some(140), deadline_bound: true }
    );
    // 130 ms left, wait 200 would end past it: resolve with the 503 now.
    assert_eq!(outcome(&mut c, &mut e, &p, Outcome::Response(503), 1120), Action::Settle(Settle::Last));
    assert_eq!(c.last_outcome(), Some(Outcome::Response(503)));
    assert_eq!(e.budget_tokens(KEY), Some(495)); // only the retry really made was paid
    assert_eq!(
        counters(&e),
        Counters { calls: 1, attempts: 2, retries: 1, failures: 1, ..Counters::default() }
    );
}

#[test]
fn a_wait_must_end_before_the_deadline_with_time_left_for_the_attempt() {
    let p = Policy { timeout_ms: Some(250), ..plain() };
    let mut e = Engine::with_defaults(&p);
    // Deadline 250. At 149, 101 ms are left: a 100 ms wait ends at 249 and is allowed.
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 0);
    assert_eq!(
        outcome(&mut c, &mut e, &p, Outcome::Response(503), 149),
        backoff(1, 100, RetryReason::Status)
    );
    // At 150 it would end exactly at the deadline, leaving no time to send: settle.
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 0);
    assert_eq!(outcome(&mut c, &mut e, &p, Outcome::Response(503), 150), Action::Settle(Settle::Last));
}

#[test]
fn a_server_wait_past_the_deadline_settles_and_its_lengthening_is_trimmed() {
    let p = Policy { timeout_ms: Some(5000), ..plain() };
    let mut e = Engine::with_defaults(&p);
    // At 700, 4300 ms are left. 5 s asked: past the deadline, no wait.
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 0);
    let a = c.on_outcome(&mut e, &p, Outcome::Response(503), &retry_after(b"5"), 700, 0.0);
    assert_eq!(a, Ok(Action::Settle(Settle::Last)));
    // 4 s asked fits; lengthened by 0.99 * 0.1 * 4000 = 396 to 4396, trimmed to end 1 ms
    // before the deadline: 4299.
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 0);
    let a = c.on_outcome(&mut e, &p, Outcome::Response(503), &retry_after(b"4"), 700, 0.99);
    assert_eq!(a, Ok(server(1, 4299)));
    assert_eq!(
        resume(&mut c, &mut e, &p, 4999),
        Action::Send { attempt: 2, timeout_ms: Some(1), deadline_bound: true }
    );
}

#[test]
fn a_deadline_reached_during_an_attempt_rejects_with_deadline() {
    let p = Policy { timeout_ms: Some(1000), ..plain() };
    let mut e = Engine::with_defaults(&p);
    let (mut c, a) = Call::start(&mut e, &p, KEY, true, 0);
    assert_eq!(a, Action::Send { attempt: 1, timeout_ms: Some(1000), deadline_bound: true });
    assert_eq!(outcome(&mut c, &mut e, &p, Outcome::Timeout, 1000), Action::Settle(Settle::Deadline));
    assert_eq!(counters(&e), Counters { calls: 1, attempts: 1, failures: 1, ..Counters::default() });
}

#[test]
fn attempt_timeouts_give_way_to_the_deadline_when_it_is_nearer() {
    let p = Policy { timeout_ms: Some(1000), attempt_timeout_ms: Some(300), ..plain() };
    let mut e = Engine::with_defaults(&p);
    let (mut c, a) = Call::start(&mut e, &p, KEY, true, 0);
    assert_eq!(a, Action::Send { attempt: 1, timeout_ms: Some(300), deadline_bound: false });
    assert_eq!(outcome(&mut c, &mut e, &p, Outcome::Timeout, 300), backoff(1, 100, RetryReason::Timeout));
    // 600 left at 400: the attempt timeout is nearer.
    assert_eq!(
        resume(&mut c, &mut e, &p, 400),
        Action::Send { attempt: 2, timeout_ms: Some(300), deadline_bound: false }
    );
    // At 700, 300 left, wait 200: allowed.
    assert_eq!(outcome(&mut c, &mut e, &p, Outcome::Timeout, 700), backoff(2, 200, RetryReason::Timeout));
    // At 900, 100 left: the deadline is nearer and bounds the attempt.
    assert_eq!(
        resume(&mut c, &mut e, &p, 900),
        Action::Send { attempt: 3, timeout_ms: Some(100), deadline_bound: true }
    );
    assert_eq!(outcome(&mut c, &mut e, &p, Outcome::Timeout, 1000), Action::Settle(Settle::Deadline));
}

#[test]
fn a_zero_timeout_sends_nothing() {
    let p = Policy { timeout_ms: Some(0), ..plain() };
    let mut e = Engine::with_defaults(&p);
    let (c, a) = Call::start(&mut e, &p, KEY, true, 0);
    assert_eq!(a, Action::Settle(Settle::Deadline));
    assert_eq!(c.attempts(), 0);
    assert_eq!(counters(&e), Counters { calls: 1, failures: 1, ..Counters::default() });
}

#[test]
fn a_late_resume_past_the_deadline_settles_last_and_refunds_the_retry() {
    let p = Policy { timeout_ms: Some(500), budget: Some(BudgetSettings::default()), ..plain() };
    let mut e = Engine::with_defaults(&p);
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 0);
    assert_eq!(outcome(&mut c, &mut e, &p, Outcome::Response(503), 10), backoff(1, 100, RetryReason::Status));
    assert_eq!(e.budget_tokens(KEY), Some(495));
    // The driver's timer fired very late (a suspended tab): the deadline has passed.
    assert_eq!(resume(&mut c, &mut e, &p, 600), Action::Settle(Settle::Last));
    assert_eq!(e.budget_tokens(KEY), Some(500));
    assert_eq!(counters(&e), Counters { calls: 1, attempts: 1, failures: 1, ..Counters::default() });
}

// ---------------------------------------------------------------------------------------------
// Circuit breaker (SPEC 5)
// ---------------------------------------------------------------------------------------------

fn breaker_settings() -> BreakerSettings {
    BreakerSettings {
        failure_ratio: 0.5,
        minimum_requests: 4,
        window_ms: 10_000,
        open_ms: 5_000,
        max_open_ms: 5_000,
        half_open_probes: 1,
    }
}

fn guarded(max_attempts: u32) -> Policy {
    Policy {
        max_attempts,
        breaker: Some(breaker_settings()),
        budget: Some(BudgetSettings::default()),
        ..plain()
    }
}

/// Four one-attempt failures at 100, 200, 300, 400 (reported 10 ms later): opens at 410.
fn trip(e: &mut Engine) {
    let p = guarded(1);
    for (i, now) in [100, 200, 300, 400].into_iter().enumerate() {
        assert_eq!(e.breaker_snapshot(KEY, now).state, StateName::Closed, "before failure {}", i + 1);
        assert_eq!(one_shot(e, &p, now, Outcome::Response(503)), Action::Settle(Settle::Last));
    }
    let snap = e.breaker_snapshot(KEY, 410);
    assert_eq!((snap.state, snap.opened_at, snap.failures), (StateName::Open, Some(410), 4));
}

#[test]
fn the_breaker_opens_after_enough_failures_and_refuses_with_no_send() {
    let mut e = Engine::with_defaults(&guarded(1));
    trip(&mut e);
    let p = guarded(3);
    let (c, a) = Call::start(&mut e, &p, KEY, true, 1000);
    // Half-open at 410 + 5000; 4410 ms from now.
    assert_eq!(a, Action::Settle(Settle::CircuitOpen { retry_after_ms: 4410 }));
    assert_eq!(c.attempts(), 0);
    assert_eq!(
        counters(&e),
        Counters { calls: 5, attempts: 4, failures: 5, breaker_rejections: 1, ..Counters::default() }
    );
    // Another origin is not affected.
    let (_, a) = Call::start(&mut e, &p, "https://other.example.com", true, 1000);
    assert_eq!(a, send(1));
}

#[test]
fn the_breaker_opens_when_the_failure_ratio_is_reached_not_before() {
    let p = guarded(1);
    let mut e = Engine::with_defaults(&p);
    // ok, fail, ok: 3 outcomes, below minimumRequests 4. ok: 1 of 4 failed (0.25).
    for (now, o) in [(0, 200), (10, 503), (20, 200), (30, 200)] {
        one_shot(&mut e, &p, now, Outcome::Response(o));
    }
    assert_eq!(e.breaker_snapshot(KEY, 100).state, StateName::Closed);
    // fail: 2 of 5 (0.4). Then fail: 3 of 6 = 0.5, reached.
    one_shot(&mut e, &p, 40, Outcome::NetworkError);
    assert_eq!(e.breaker_snapshot(KEY, 100).state, StateName::Closed);
    one_shot(&mut e, &p, 50, Outcome::NetworkError);
    let snap = e.breaker_snapshot(KEY, 100);
    assert_eq!((snap.state, snap.failures, snap.successes), (StateName::Open, 3, 3));
}

#[test]
fn the_condition_is_checked_on_failures_only() {
    // Issue 13 item 16: fail, fail, ok, ok is 4 outcomes at 0.5, reached by the last success.
    // A success never opens the breaker (as in Polly); the next failure, at 3 of 5, does.
    let p = guarded(1);
    let mut e = Engine::with_defaults(&p);
    for (now, o) in [(0, 503), (10, 503), (20, 200), (30, 200)] {
        one_shot(&mut e, &p, now, Outcome::Response(o));
    }
    assert_eq!(e.breaker_snapshot(KEY, 40).state, StateName::Closed);
    one_shot(&mut e, &p, 40, Outcome::Response(503)); // recorded at 50
    let snap = e.breaker_snapshot(KEY, 55);
    assert_eq!(
        (snap.state, snap.failures, snap.successes, snap.opened_at),
        (StateName::Open, 3, 2, Some(50))
    );
    let (_, a) = Call::start(&mut e, &p, KEY, true, 60);
    assert_eq!(a, Action::Settle(Settle::CircuitOpen { retry_after_ms: 4990 }));
}

#[test]
fn a_probe_slower_than_open_ms_holds_its_slot_and_its_success_closes() {
    // Issue 13 item 14: openMs 500, a recovered origin answering in 600 ms, a call every
    // 100 ms for 10 s. Before the fix a second probe went out 500 ms after the first, the
    // first one's success was ignored as belonging to an old round, and the breaker was still
    // half-open after 21 probes.
    let settings = BreakerSettings { open_ms: 500, ..breaker_settings() };
    let p = Policy { max_attempts: 1, breaker: Some(settings), ..plain() };
    let mut e = Engine::with_defaults(&p);
    for now in [0, 10, 20, 30] {
        one_shot(&mut e, &p, now, Outcome::NetworkError);
    }
    assert_eq!(e.breaker_snapshot(KEY, 40).opened_at, Some(40)); // half-open from 540
    let mut in_flight: Vec<(u64, Call)> = Vec::new();
    let (mut probes, mut most_probes_out, mut refusals) = (0, 0, 0);
    let mut closed_at = None;
    for tick in 1..=100u64 {
        let now = tick * 100;
        // The origin answers each attempt 600 ms after it was sent.
        let (due, rest): (Vec<_>, Vec<_>) = in_flight.into_iter().partition(|(at, _)| *at <= now);
        in_flight = rest;
        for (_, mut call) in due {
            assert_eq!(
                outcome(&mut call, &mut e, &p, Outcome::Response(200), now),
                Action::Settle(Settle::Last)
            );
            if closed_at.is_none() && e.breaker_snapshot(KEY, now).state == StateName::Closed {
                closed_at = Some(now);
            }
        }
        let before = e.breaker_snapshot(KEY, now).state;
        let (call, a) = Call::start(&mut e, &p, KEY, true, now);
        match a {
            Action::Send { .. } => {
                if before != StateName::Closed {
                    probes += 1;
                }
                in_flight.push((now + 600, call));
            }
            Action::Settle(Settle::CircuitOpen { retry_after_ms }) => {
                assert!(retry_after_ms <= 500, "{retry_after_ms}");
                refusals += 1;
            }
            other => panic!("at {now}: {other:?}"),
        }
        let out = in_flight.iter().filter(|(at, _)| closed_at.is_none() && *at > now).count();
        most_probes_out = most_probes_out.max(if closed_at.is_none() { out } else { 0 });
    }
    // One probe, sent at 600 (the first call after 540), answered at 1200: closed.
    assert_eq!((probes, most_probes_out, closed_at), (1, 1, Some(1200)));
    // Refused: 100..=500 while open, 700..=1100 while the probe was out.
    assert_eq!(refusals, 10);
    assert_eq!(e.breaker_snapshot(KEY, 10_000).state, StateName::Closed);
}

#[test]
fn four_hundreds_do_not_trip_the_breaker() {
    let p = guarded(1);
    let mut e = Engine::with_defaults(&p);
    for i in 0..20 {
        one_shot(&mut e, &p, i * 10, Outcome::Response(if i % 2 == 0 { 429 } else { 408 }));
    }
    let snap = e.breaker_snapshot(KEY, 300);
    assert_eq!((snap.state, snap.failures, snap.successes), (StateName::Closed, 0, 20));
}

#[test]
fn half_open_after_open_ms_lets_one_probe_through_and_a_success_closes() {
    let mut e = Engine::with_defaults(&guarded(1));
    trip(&mut e);
    let p = guarded(1);
    assert_eq!(e.breaker_snapshot(KEY, 5409).state, StateName::Open);
    let (_, a) = Call::start(&mut e, &p, KEY, true, 5409);
    assert_eq!(a, Action::Settle(Settle::CircuitOpen { retry_after_ms: 1 }));
    // Half-open with no call needed.
    assert_eq!(e.breaker_snapshot(KEY, 5410).state, StateName::HalfOpen);
    let (mut probe, a) = Call::start(&mut e, &p, KEY, true, 5410);
    assert_eq!(a, send(1));
    // The one probe slot is taken: other calls are refused; the slot frees after openMs at most.
    let (_, a) = Call::start(&mut e, &p, KEY, true, 5411);
    assert_eq!(a, Action::Settle(Settle::CircuitOpen { retry_after_ms: 4999 }));
    assert_eq!(outcome(&mut probe, &mut e, &p, Outcome::Response(200), 5420), Action::Settle(Settle::Last));
    let snap = e.breaker_snapshot(KEY, 5420);
    assert_eq!((snap.state, snap.failures, snap.successes, snap.opened_at), (StateName::Closed, 0, 0, None));
    let (_, a) = Call::start(&mut e, &p, KEY, true, 5430);
    assert_eq!(a, send(1));
    assert_eq!(e.stats.counters.breaker_rejections, 2);
}

#[test]
fn a_failed_probe_opens_the_breaker_again() {
    let mut e = Engine::with_defaults(&guarded(1));
    trip(&mut e);
    let p = guarded(3);
    let (mut probe, _) = Call::start(&mut e, &p, KEY, true, 5410);
    // The probe's own failure reopens it, so the probe's call does not retry either.
    assert_eq!(outcome(&mut probe, &mut e, &p, Outcome::Response(503), 5420), Action::Settle(Settle::Last));
    assert_eq!(e.budget_tokens(KEY), Some(500));
    let snap = e.breaker_snapshot(KEY, 5420);
    assert_eq!((snap.state, snap.opened_at), (StateName::Open, Some(5420)));
    let (_, a) = Call::start(&mut e, &p, KEY, true, 5500);
    assert_eq!(a, Action::Settle(Settle::CircuitOpen { retry_after_ms: 4920 }));
}

#[test]
fn retries_under_way_stop_with_their_last_outcome_when_the_breaker_opens() {
    let mut e = Engine::with_defaults(&guarded(1));
    let p = guarded(3);
    let one = guarded(1);
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 0);
    assert_eq!(outcome(&mut c, &mut e, &p, Outcome::Response(503), 10), backoff(1, 100, RetryReason::Status));
    assert_eq!(e.budget_tokens(KEY), Some(495));
    // Three more failures while it waits: 4 of 4, the breaker opens at 50.
    for now in [20, 30, 40] {
        one_shot(&mut e, &one, now, Outcome::NetworkError);
    }
    assert_eq!(e.breaker_snapshot(KEY, 50).state, StateName::Open);
    // Not a CircuitOpenError: the call resolves with its 503, and the unused retry is refunded.
    assert_eq!(resume(&mut c, &mut e, &p, 110), Action::Settle(Settle::Last));
    assert_eq!(c.last_outcome(), Some(Outcome::Response(503)));
    assert_eq!(e.budget_tokens(KEY), Some(500));
    assert_eq!(counters(&e), Counters { calls: 4, attempts: 4, failures: 4, ..Counters::default() });
}

#[test]
fn a_call_whose_own_failure_opens_the_breaker_does_not_retry() {
    let mut e = Engine::with_defaults(&guarded(1));
    let one = guarded(1);
    for now in [0, 10, 20] {
        one_shot(&mut e, &one, now, Outcome::Response(502));
    }
    let p = guarded(3);
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 30);
    assert_eq!(outcome(&mut c, &mut e, &p, Outcome::Response(502), 40), Action::Settle(Settle::Last));
    assert_eq!(e.budget_tokens(KEY), Some(500));
}

#[test]
fn abort_frees_a_half_open_probe() {
    let mut e = Engine::with_defaults(&guarded(1));
    trip(&mut e);
    let p = guarded(1);
    let (mut probe, a) = Call::start(&mut e, &p, KEY, true, 6000);
    assert_eq!(a, send(1));
    let (_, a) = Call::start(&mut e, &p, KEY, true, 6001);
    assert!(matches!(a, Action::Settle(Settle::CircuitOpen { .. })));
    assert_eq!(probe.abort(&mut e, &p, 6002), Ok(Action::Settle(Settle::Aborted)));
    // The slot is free again at once, not after openMs.
    let (_, a) = Call::start(&mut e, &p, KEY, true, 6003);
    assert_eq!(a, send(1));
    assert_eq!(e.breaker_snapshot(KEY, 6003).state, StateName::HalfOpen);
}

#[test]
fn a_probe_cut_by_its_deadline_frees_exactly_its_own_slot() {
    // Two probe slots. One probe's call hits its deadline: one slot frees, not two.
    let settings = BreakerSettings { half_open_probes: 2, ..breaker_settings() };
    let p = Policy { max_attempts: 1, breaker: Some(settings), timeout_ms: Some(1000), ..plain() };
    let mut e = Engine::with_defaults(&p);
    for now in [0, 10, 20, 30] {
        one_shot(&mut e, &p, now, Outcome::NetworkError);
    }
    let t = 40 + 5000; // opened at 40
    let (mut a, first) = Call::start(&mut e, &p, KEY, true, t);
    assert_eq!(first, Action::Send { attempt: 1, timeout_ms: Some(1000), deadline_bound: true });
    let (_b, first) = Call::start(&mut e, &p, KEY, true, t + 1);
    assert!(matches!(first, Action::Send { .. }));
    let (_, first) = Call::start(&mut e, &p, KEY, true, t + 2);
    assert!(matches!(first, Action::Settle(Settle::CircuitOpen { .. })), "{first:?}");
    assert_eq!(outcome(&mut a, &mut e, &p, Outcome::Timeout, t + 1000), Action::Settle(Settle::Deadline));
    // b is still in flight: one slot is free.
    let (_d, first) = Call::start(&mut e, &p, KEY, true, t + 1001);
    assert!(matches!(first, Action::Send { .. }), "{first:?}");
    let (_, first) = Call::start(&mut e, &p, KEY, true, t + 1002);
    assert!(matches!(first, Action::Settle(Settle::CircuitOpen { .. })), "{first:?}");
}

#[test]
fn no_breaker_no_refusals() {
    let p = Policy { max_attempts: 1, ..plain() };
    let mut e = Engine::with_defaults(&p);
    for i in 0..50 {
        assert_eq!(one_shot(&mut e, &p, i, Outcome::NetworkError), Action::Settle(Settle::Last));
    }
    assert_eq!(e.stats.counters.breaker_rejections, 0);
    assert_eq!(e.stats.counters.attempts, 50);
}

// ---------------------------------------------------------------------------------------------
// Per-call breaker and budget settings (issue 13 item 15): a call whose settings differ from
// the instance's gets its own state, and never changes the instance's
// ---------------------------------------------------------------------------------------------

/// The instance's defaults, with no jitter so that every wait is exact.
fn instance() -> Policy {
    Policy {
        jitter: Jitter::None,
        breaker: Some(BreakerSettings {
            failure_ratio: 0.5,
            open_ms: 30_000,
            max_open_ms: 30_000,
            ..BreakerSettings::default()
        }),
        ..Policy::default()
    }
}

/// `init.retry = { [group]: { [setting]: value } }` merged onto `base`, as a call's options are.
fn per_call(base: &Policy, group: &str, setting: &str, value: f64) -> Policy {
    let inner = Value::Object(vec![(setting.to_string(), Value::Number(value))]);
    options::apply(base, &[(group.to_string(), inner)], Scope::PerCall).expect("valid options")
}

#[test]
fn a_per_call_budget_capacity_does_not_change_the_shared_bucket() {
    let inst = instance();
    let mut e = Engine::with_defaults(&inst);
    one_shot(&mut e, &inst, 0, Outcome::Response(200));
    assert_eq!(e.budget_tokens(KEY), Some(500));
    let small = per_call(&inst, "budget", "capacity", 10.0);
    // Before the fix, this success's refund cut the shared bucket from 500 to 10.
    assert_eq!(one_shot(&mut e, &small, 10, Outcome::Response(200)), Action::Settle(Settle::Last));
    assert_eq!(e.budget_tokens(KEY), Some(500));
    assert_eq!(e.budget_tokens_of(KEY, &small), Some(10));
    // Its retries spend from its own bucket of 10.
    let (mut c, _) = Call::start(&mut e, &small, KEY, true, 20);
    assert_eq!(
        outcome(&mut c, &mut e, &small, Outcome::Response(503), 30),
        backoff(1, 100, RetryReason::Status)
    );
    assert_eq!((e.budget_tokens(KEY), e.budget_tokens_of(KEY, &small)), (Some(500), Some(5)));
}

#[test]
fn a_per_call_capacity_of_zero_does_not_empty_the_shared_bucket() {
    let inst = instance();
    let mut e = Engine::with_defaults(&inst);
    let (mut c, _) = Call::start(&mut e, &inst, KEY, true, 0);
    assert_eq!(
        outcome(&mut c, &mut e, &inst, Outcome::Response(503), 10),
        backoff(1, 100, RetryReason::Status)
    );
    assert_eq!(e.budget_tokens(KEY), Some(495));
    let none = per_call(&inst, "budget", "capacity", 0.0);
    // Its own bucket holds nothing: its 503 is not retried.
    assert_eq!(one_shot(&mut e, &none, 20, Outcome::Response(503)), Action::Settle(Settle::Last));
    assert_eq!(e.stats.counters.budget_denials, 1);
    // Before the fix the shared bucket was emptied: the waiting call's retry still goes, and
    // the next default call's retry is paid.
    assert_eq!(e.budget_tokens(KEY), Some(495));
    assert_eq!(resume(&mut c, &mut e, &inst, 110), send(2));
    let (mut d, _) = Call::start(&mut e, &inst, KEY, true, 200);
    assert_eq!(
        outcome(&mut d, &mut e, &inst, Outcome::Response(503), 210),
        backoff(1, 100, RetryReason::Status)
    );
    assert_eq!(e.budget_tokens(KEY), Some(490));
}

#[test]
fn calls_with_different_windows_do_not_reset_each_other() {
    // Defaults: minimumRequests 10, failureRatio 0.5, openMs 30 s.
    let inst = Policy { max_attempts: 1, ..instance() };
    let a = per_call(&inst, "breaker", "windowMs", 1_000.0);
    let b = per_call(&inst, "breaker", "windowMs", 60_000.0);
    let mut e = Engine::with_defaults(&inst);
    // 20 failures under each, interleaved, in 400 ms. Before the fix each call's window reset
    // the other's buckets: `failures: 1`, never open.
    for i in 0..20u64 {
        for (policy, offset) in [(&a, 0), (&b, 10)] {
            let now = i * 20 + offset;
            let want_open = i >= 10;
            let snap = e.breaker_snapshot_of(KEY, policy, now);
            assert_eq!(snap.state == StateName::Open, want_open, "call {i} at {now}: {snap:?}");
            let got = one_shot(&mut e, policy, now, Outcome::Response(503));
            if want_open {
                assert!(matches!(got, Action::Settle(Settle::CircuitOpen { .. })), "{got:?}");
            }
        }
    }
    assert_eq!(e.stats.counters.breaker_rejections, 20);
    // Each opened at its tenth failure (reported 10 ms after it was sent).
    assert_eq!(e.breaker_snapshot_of(KEY, &a, 400).opened_at, Some(190));
    assert_eq!(e.breaker_snapshot_of(KEY, &b, 400).opened_at, Some(200));
    // The instance's own breaker saw none of it.
    let snap = e.breaker_snapshot(KEY, 400);
    assert_eq!((snap.state, snap.failures, snap.successes), (StateName::Closed, 0, 0));
    assert_eq!(one_shot(&mut e, &inst, 400, Outcome::Response(200)), Action::Settle(Settle::Last));
}

#[test]
fn calls_that_repeat_the_same_per_call_settings_share_one_state() {
    let inst = Policy { max_attempts: 1, ..instance() };
    let mut e = Engine::with_defaults(&inst);
    // Each call merges its own options: equal settings, separate policies.
    for (i, now) in [0u64, 10, 20, 30, 40].into_iter().enumerate() {
        let p = per_call(&inst, "breaker", "minimumRequests", 5.0);
        assert_eq!(
            one_shot(&mut e, &p, now, Outcome::NetworkError),
            Action::Settle(Settle::Last),
            "call {i}"
        );
    }
    let p = per_call(&inst, "breaker", "minimumRequests", 5.0);
    let (_, a) = Call::start(&mut e, &p, KEY, true, 60);
    assert_eq!(a, Action::Settle(Settle::CircuitOpen { retry_after_ms: 29_990 }));
    // Settings equal to the instance's, given per call, share the instance's state.
    let same = per_call(&inst, "breaker", "minimumRequests", 10.0);
    assert_eq!(same, inst);
    assert_eq!(one_shot(&mut e, &same, 70, Outcome::NetworkError), Action::Settle(Settle::Last));
    let snap = e.breaker_snapshot(KEY, 80);
    assert_eq!((snap.state, snap.failures), (StateName::Closed, 1));
    assert_eq!(e.key_count(), 2);
}

// ---------------------------------------------------------------------------------------------
// Retry budget (SPEC 6)
// ---------------------------------------------------------------------------------------------

#[test]
fn an_empty_budget_settles_with_the_last_outcome_and_counts_a_denial() {
    let budget = BudgetSettings { capacity: 12, retry_cost: 5, timeout_cost: 10, success_refund: 1 };
    let p = Policy { max_attempts: 5, budget: Some(budget), ..plain() };
    let mut e = Engine::with_defaults(&p);
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 0);
    // 12 -> 7 -> 2, and the third retry cannot be paid.
    assert_eq!(outcome(&mut c, &mut e, &p, Outcome::Response(503), 10), backoff(1, 100, RetryReason::Status));
    resume(&mut c, &mut e, &p, 110);
    assert_eq!(
        outcome(&mut c, &mut e, &p, Outcome::Response(503), 120),
        backoff(2, 200, RetryReason::Status)
    );
    resume(&mut c, &mut e, &p, 320);
    assert_eq!(outcome(&mut c, &mut e, &p, Outcome::Response(503), 330), Action::Settle(Settle::Last));
    assert_eq!(e.budget_tokens(KEY), Some(2));
    assert_eq!(
        counters(&e),
        Counters { calls: 1, attempts: 3, retries: 2, failures: 1, budget_denials: 1, ..Counters::default() }
    );
    // The first attempt of a call never needs tokens; its retry does.
    let (mut c, a) = Call::start(&mut e, &p, KEY, true, 400);
    assert_eq!(a, send(1));
    assert_eq!(outcome(&mut c, &mut e, &p, Outcome::Response(503), 410), Action::Settle(Settle::Last));
    assert_eq!(e.stats.counters.budget_denials, 2);
    // Three successes earn 3 tokens: 5, enough for one status retry again.
    for now in [500, 510, 520] {
        one_shot(&mut e, &p, now, Outcome::Response(200));
    }
    assert_eq!(e.budget_tokens(KEY), Some(5));
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 600);
    assert_eq!(
        outcome(&mut c, &mut e, &p, Outcome::Response(503), 610),
        backoff(1, 100, RetryReason::Status)
    );
    assert_eq!(e.budget_tokens(KEY), Some(0));
}

#[test]
fn refunds_never_fill_the_bucket_above_capacity() {
    let budget = BudgetSettings { capacity: 3, retry_cost: 1, timeout_cost: 1, success_refund: 2 };
    let p = Policy { max_attempts: 1, budget: Some(budget), ..plain() };
    let mut e = Engine::with_defaults(&p);
    for now in 0..10 {
        one_shot(&mut e, &p, now * 10, Outcome::Response(204));
        assert_eq!(e.budget_tokens(KEY), Some(3));
    }
}

#[test]
fn decline_gives_the_tokens_back() {
    let p = Policy { budget: Some(BudgetSettings::default()), ..plain() };
    let mut e = Engine::with_defaults(&p);
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 0);
    assert_eq!(outcome(&mut c, &mut e, &p, Outcome::NetworkError, 10), backoff(1, 100, RetryReason::Network));
    assert_eq!(e.budget_tokens(KEY), Some(490));
    // shouldRetry said no.
    assert_eq!(c.decline(&mut e, &p, 11), Ok(Action::Settle(Settle::Last)));
    assert_eq!(e.budget_tokens(KEY), Some(500));
    assert_eq!(c.last_outcome(), Some(Outcome::NetworkError));
    assert_eq!(c.resume(&mut e, &p, 110), Err(CallError::Settled));
    assert_eq!(counters(&e), Counters { calls: 1, attempts: 1, failures: 1, ..Counters::default() });
}

#[test]
fn abort_during_a_wait_gives_the_tokens_back() {
    let p = Policy { budget: Some(BudgetSettings::default()), ..plain() };
    let mut e = Engine::with_defaults(&p);
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 0);
    outcome(&mut c, &mut e, &p, Outcome::Response(503), 10);
    assert_eq!(e.budget_tokens(KEY), Some(495));
    assert_eq!(c.abort(&mut e, &p, 50), Ok(Action::Settle(Settle::Aborted)));
    assert_eq!(e.budget_tokens(KEY), Some(500));
    assert_eq!(e.stats.counters.failures, 1);
}

// ---------------------------------------------------------------------------------------------
// Exactly one settlement; reports out of phase are errors, never panics
// ---------------------------------------------------------------------------------------------

#[test]
fn reports_out_of_phase_are_refused_and_change_nothing() {
    let p = Policy { budget: Some(BudgetSettings::default()), ..plain() };
    let mut e = Engine::with_defaults(&p);
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 0);
    // In flight: nothing to resume or decline.
    assert_eq!(c.resume(&mut e, &p, 1), Err(CallError::NotWaiting));
    assert_eq!(c.decline(&mut e, &p, 1), Err(CallError::NotWaiting));
    outcome(&mut c, &mut e, &p, Outcome::Response(503), 10);
    // Waiting: no outcome to report.
    let before = counters(&e);
    let again = c.on_outcome(&mut e, &p, Outcome::Response(200), &no_hints(), 20, 0.0);
    assert_eq!(again, Err(CallError::NotInFlight));
    assert_eq!(counters(&e), before);
    assert_eq!(e.budget_tokens(KEY), Some(495));
    // Settle, then every report is refused.
    assert_eq!(c.abort(&mut e, &p, 30), Ok(Action::Settle(Settle::Aborted)));
    let settled = counters(&e);
    assert_eq!(c.abort(&mut e, &p, 31), Err(CallError::Settled));
    assert_eq!(c.resume(&mut e, &p, 31), Err(CallError::Settled));
    assert_eq!(c.decline(&mut e, &p, 31), Err(CallError::Settled));
    assert_eq!(
        c.on_outcome(&mut e, &p, Outcome::Response(200), &no_hints(), 31, 0.0),
        Err(CallError::Settled)
    );
    assert_eq!(counters(&e), settled);
    assert_eq!(settled.successes + settled.failures, settled.calls);
    assert_eq!(e.budget_tokens(KEY), Some(500));
}

#[test]
fn stats_add_up_over_a_mixed_run() {
    let mut e = Engine::with_defaults(&guarded(1));
    let p = guarded(3); // breaker: opens at >= 4 outcomes with >= 50% failures
    // 1. 503 (F), then 200 (S) after a Retry-After wait: 2 attempts, 1 retry, 1 server wait.
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 0);
    c.on_outcome(&mut e, &p, Outcome::Response(503), &retry_after(b"1"), 10, 0.0).unwrap();
    resume(&mut c, &mut e, &p, 1010);
    assert_eq!(outcome(&mut c, &mut e, &p, Outcome::Response(200), 1020), Action::Settle(Settle::Last));
    // 2. A 404 and 3. a 200: one attempt each, successes. Breaker: 1 failure of 4.
    one_shot(&mut e, &p, 2000, Outcome::Response(404));
    one_shot(&mut e, &p, 2500, Outcome::Response(200));
    // 4. A network error: 2 of 5 = 0.4, still closed, so a retry is offered; shouldRetry
    //    declines it. 1 attempt, failure.
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 3000);
    assert_eq!(
        outcome(&mut c, &mut e, &p, Outcome::NetworkError, 3010),
        backoff(1, 100, RetryReason::Network)
    );
    c.decline(&mut e, &p, 3010).unwrap();
    // 5. A 503: 3 of 6 = 0.5 reaches the ratio and opens the breaker, so no retry.
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 4000);
    assert_eq!(outcome(&mut c, &mut e, &p, Outcome::Response(503), 4010), Action::Settle(Settle::Last));
    // 6. Refused by the open breaker: no attempt.
    let (_, a) = Call::start(&mut e, &p, KEY, true, 4200);
    assert!(matches!(a, Action::Settle(Settle::CircuitOpen { .. })));
    assert_eq!(
        counters(&e),
        Counters {
            calls: 6,
            attempts: 2 + 1 + 1 + 1 + 1,
            retries: 1,
            successes: 3,
            failures: 3,
            breaker_rejections: 1,
            budget_denials: 0,
            retry_after_waits: 1,
            storms: 0,
            hedges: 0,
        }
    );
    // Budget: 500 - 5 (call 1's retry) + 3 refunds (three successes); the declined retry was
    // given back.
    assert_eq!(e.budget_tokens(KEY), Some(498));
}

// ---------------------------------------------------------------------------------------------
// Events (SPEC 8): breaker changes and storms, recorded by the core for the driver
// ---------------------------------------------------------------------------------------------

#[test]
fn breaker_changes_and_storms_are_recorded_as_events_while_listened_for() {
    use edge_retry::core::StormSettings;
    use edge_retry::core::engine::EventKind;
    let p = Policy {
        breaker: Some(breaker_settings()), // 4 outcomes at 0.5, open 5 s
        storm: Some(StormSettings { ratio: 0.1, window_ms: 10_000, minimum_attempts: 4 }),
        max_attempts: 2,
        ..plain()
    };
    let mut e = Engine::with_defaults(&p);
    e.set_listening(true);
    // Two calls, each a 503 then a retried 503: 4 attempts, 2 of them retries, 4 failures.
    for at in [0, 1000] {
        let (mut c, _) = Call::start(&mut e, &p, KEY, true, at);
        outcome(&mut c, &mut e, &p, Outcome::Response(503), at + 10);
        resume(&mut c, &mut e, &p, at + 200);
        outcome(&mut c, &mut e, &p, Outcome::Response(503), at + 210);
    }
    let mut seen = Vec::new();
    while let Some(ev) = e.next_event() {
        seen.push((ev.at, ev.kind));
    }
    assert!(matches!(seen.first(), Some((1200, EventKind::Storm { change, window_ms: 10_000 }))
        if change.storm && change.attempts == 4 && (change.retry_ratio - 0.5).abs() < 1e-9));
    assert_eq!(seen.get(1), Some(&(1210, EventKind::Breaker(StateName::Open))));
    assert_eq!(e.stats.counters.storms, 1);
    // Half-open when the next call finds it (5 s later), closed by the probe's success.
    let (mut c, _) = Call::start(&mut e, &p, KEY, true, 6300);
    outcome(&mut c, &mut e, &p, Outcome::Response(200), 6310);
    let kinds: Vec<_> = std::iter::from_fn(|| e.next_event()).map(|ev| (ev.at, ev.kind)).collect();
    assert_eq!(
        kinds,
        vec![(6300, EventKind::Breaker(StateName::HalfOpen)), (6310, EventKind::Breaker(StateName::Closed))]
    );
    // Nobody listening: nothing is kept (the storm count still is).
    e.set_listening(false);
    let (mut c, _) = Call::start(&mut e, &p, "https://other.test", true, 7000);
    outcome(&mut c, &mut e, &p, Outcome::Response(503), 7010);
    assert_eq!(e.pending_events(), 0);
}

// ---------------------------------------------------------------------------------------------
// The retry cap (README, "Defaults that never make things worse"): on with the default budget
// ---------------------------------------------------------------------------------------------

#[test]
fn the_default_budget_is_spec_6_and_the_retry_cap_holds_a_busy_key_to_a_tenth() {
    assert_eq!(
        BudgetSettings::default(),
        BudgetSettings { capacity: 500, retry_cost: 5, timeout_cost: 10, success_refund: 1 }
    );
    let p = Policy { jitter: Jitter::None, breaker: None, ..Policy::default() };
    let mut e = Engine::with_defaults(&p);
    // 99 calls that fail once each and retry: below minimumCalls (100) the cap does not bind,
    // and the bucket pays (99 x 5 = 495 of 500).
    for i in 0..99 {
        let (mut c, _) = Call::start(&mut e, &p, KEY, true, i);
        assert_eq!(
            outcome(&mut c, &mut e, &p, Outcome::Response(503), i + 1),
            backoff(1, 100, RetryReason::Status)
        );
    }
    assert_eq!(e.budget_tokens(KEY), Some(5));
    // Successes refill the bucket, but 99 retries in the window are past a tenth of the calls.
    for i in 0..500 {
        one_shot(&mut e, &p, 200 + i, Outcome::Response(200));
    }
    assert_eq!(e.budget_tokens(KEY), Some(500));
    assert_eq!(one_shot(&mut e, &p, 800, Outcome::Response(503)), Action::Settle(Settle::Last));
    assert_eq!(e.stats.counters.budget_denials, 1);
    // 400 more calls: 1000 calls in the window allow 100 retries, one more than the 99 taken.
    for i in 0..399 {
        one_shot(&mut e, &p, 900 + i, Outcome::Response(200));
    }
    assert_eq!(one_shot(&mut e, &p, 1400, Outcome::Response(503)), backoff(1, 100, RetryReason::Status));
    assert_eq!(one_shot(&mut e, &p, 1401, Outcome::Response(503)), Action::Settle(Settle::Last));
    // A window (10 s) later the old calls and retries are gone: quiet again.
    assert_eq!(one_shot(&mut e, &p, 12_000, Outcome::Response(503)), backoff(1, 100, RetryReason::Status));
}

#[test]
fn options_that_set_the_budget_or_retry_cap_false_turn_the_cap_off() {
    let budget = Value::Object(vec![(String::from("capacity"), Value::Number(500.0))]);
    let with_budget =
        options::apply(&Policy::default(), &[(String::from("budget"), budget.clone())], Scope::Defaults);
    assert_eq!(with_budget.map(|p| p.retry_cap), Ok(None));
    let both = [(String::from("budget"), budget), (String::from("retryCap"), Value::Bool(true))];
    let kept = options::apply(&Policy::default(), &both, Scope::PerCall).map(|p| p.retry_cap.is_some());
    assert_eq!(kept, Ok(true));
    let off =
        options::apply(&Policy::default(), &[(String::from("retryCap"), Value::Bool(false))], Scope::PerCall);
    assert_eq!(off.map(|p| p.retry_cap), Ok(None));
    let bad = Value::Object(vec![(String::from("ratio"), Value::Number(1.5))]);
    let e = options::apply(&Policy::default(), &[(String::from("retryCap"), bad)], Scope::Defaults)
        .map_err(|e| e.option);
    assert_eq!(e, Err(String::from("retryCap.ratio")));
    // Without the cap a busy key retries as far as the bucket pays.
    let p = Policy { jitter: Jitter::None, breaker: None, retry_cap: None, ..Policy::default() };
    let mut e = Engine::with_defaults(&p);
    for i in 0..200 {
        one_shot(&mut e, &p, i, Outcome::Response(200));
    }
    assert!(
        (0..100)
            .all(|i| one_shot(&mut e, &p, 300 + i, Outcome::Response(503)) != Action::Settle(Settle::Last))
    );
}
