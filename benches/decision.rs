//! The core's own cost per decision, natively (criterion). `cargo bench --bench decision`.
//!
//! - `success_call`: one whole successful call as the driver makes it: the method check,
//!   `Call::start` (breaker admission, stats), the 200 reported (classify, breaker record,
//!   budget refund) and the settlement (stats counters and latency histogram).
//! - `success_call_kept_place`: the same with the key's place kept between calls, as the JS
//!   driver keeps it (no hashing of the key).
//! - `retry_503_*`: a call whose first attempt got a 503: `Call::start`, the 503 reported with
//!   its wait headers (Retry-After parsing or backoff with jitter, breaker, budget take), which
//!   answers `Retry`; then `decline` settles it (so the budget gets its tokens back and every
//!   iteration starts from the same state).
//!
//! The clock moves on between iterations (1 ms for successes; a whole breaker window for the
//! 503s, so the breaker sees an occasional failure and stays closed, as in steady traffic).
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use edge_retry::core::classify::method_is_retryable;
use edge_retry::core::headers::ServerHints;
use edge_retry::core::{Action, Call, Engine, Outcome, Policy, Settle};

const KEY: &str = "https://api.example.com";
const NOW: u64 = 1_795_000_000_000;

// `kept_place`: as the JS driver makes calls, keeping where its key's state is between calls
// that repeat a key (exports.rs, `Instance::start`), so no call hashes or compares the key.
fn success(c: &mut Criterion, name: &str, kept_place: bool) {
    let policy = Policy::default();
    let mut engine = Engine::new();
    let mut now = NOW;
    let mut kept = engine.place(KEY, &policy);
    c.bench_function(name, |b| {
        b.iter(|| {
            now += 1;
            let repeatable = method_is_retryable(&policy, black_box("GET"), false);
            let (mut call, first) = if kept_place {
                Call::start_at(&mut engine, &policy, kept.clone(), repeatable, now, now)
            } else {
                Call::start(&mut engine, &policy, black_box(KEY), repeatable, now)
            };
            debug_assert!(matches!(first, Action::Send { attempt: 1, .. }));
            let hints = ServerHints::default();
            let settled = call.on_outcome(
                &mut engine,
                &policy,
                Outcome::Response(black_box(200)),
                &hints,
                now + 3,
                0.5,
            );
            if kept_place {
                kept.clone_from(call.place());
            }
            debug_assert_eq!(settled, Ok(Action::Settle(Settle::Last)));
            black_box(settled)
        })
    });
}

fn successes(c: &mut Criterion) {
    success(c, "success_call", false);
    success(c, "success_call_kept_place", true);
}

fn retry_503(c: &mut Criterion, name: &str, hints: ServerHints<'static>) {
    let policy = Policy::default();
    let mut engine = Engine::new();
    let mut now = NOW;
    c.bench_function(name, |b| {
        b.iter(|| {
            now += 30_001; // a breaker window: the breaker sees one failure at a time
            let repeatable = method_is_retryable(&policy, black_box("GET"), false);
            let (mut call, _) = Call::start(&mut engine, &policy, black_box(KEY), repeatable, now);
            let decision = call.on_outcome(
                &mut engine,
                &policy,
                Outcome::Response(black_box(503)),
                black_box(&hints),
                now + 3,
                0.37,
            );
            debug_assert!(matches!(decision, Ok(Action::Retry { .. })), "{decision:?}");
            let _ = call.decline(&mut engine, &policy, now + 4);
            black_box(decision)
        })
    });
}

fn retries(c: &mut Criterion) {
    retry_503(c, "retry_503_backoff", ServerHints::default());
    retry_503(
        c,
        "retry_503_retry_after_seconds",
        ServerHints { retry_after: Some(b"2"), ..ServerHints::default() },
    );
    // An IMF-fixdate in the past by the time the clock has moved on: the whole date is
    // parsed and the wait is 0, which is still a retry.
    retry_503(
        c,
        "retry_503_retry_after_date",
        ServerHints { retry_after: Some(b"Wed, 18 Nov 2026 11:06:50 GMT"), ..ServerHints::default() },
    );
}

criterion_group!(benches, successes, retries);
criterion_main!(benches);
