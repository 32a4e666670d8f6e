//! Property tests (proptest) for the invariants of the sans-IO core: backoff bounds, the
//! header parser (never panics; agrees with independent formatters), breaker transitions
//! (SPEC 5), the budget (SPEC 6), and whole calls driven through a discrete-event simulation
//! with a virtual clock. Nothing sleeps.
// Native only: the reference formatters (httpdate, chrono) and proptest do not build for wasm32.
#![cfg(not(target_arch = "wasm32"))]

use std::time::{Duration, UNIX_EPOCH};

use chrono::{DateTime, Datelike};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use edge_retry::core::backoff::{backoff_delay, exponential_step};
use edge_retry::core::breaker::{Admission, Breaker, Snapshot, StateName};
use edge_retry::core::budget::Budget;
use edge_retry::core::call::CallError;
use edge_retry::core::classify::RetryReason;
use edge_retry::core::headers::{self, ServerHints};
use edge_retry::core::http_date;
use edge_retry::core::options::{self, Scope, Value};
use edge_retry::core::policy::{DEFAULT_RETRY_ON, StatusSet};
use edge_retry::core::registry::Registry;
use edge_retry::core::stats::{Counters, Stats};
use edge_retry::core::{
    Action, BreakerSettings, BudgetSettings, Call, Engine, Jitter, Outcome, Policy, Settle,
};

// =============================================================================================
// Backoff (SPEC 2)
// =============================================================================================

fn jitter() -> impl Strategy<Value = Jitter> {
    prop_oneof![
        Just(Jitter::None),
        Just(Jitter::Full),
        Just(Jitter::Equal),
        Just(Jitter::Decorrelated),
        prop_oneof![Just(1.0), 1e-6f64..=1.0].prop_map(Jitter::Ratio),
    ]
}

fn multiplier() -> impl Strategy<Value = f64> {
    prop_oneof![Just(1.0), Just(2.0), Just(0.0), 0.0f64..4.0, 4.0f64..1e6]
}

fn backoff_policy() -> impl Strategy<Value = Policy> {
    (0u64..5_000, prop_oneof![0u64..2_000, 0u64..1_000_000_000], multiplier(), jitter()).prop_map(
        |(base, cap, multiplier, jitter)| Policy {
            base_delay_ms: base,
            max_delay_ms: cap,
            multiplier,
            jitter,
            ..Policy::default()
        },
    )
}

/// Random numbers as a caller might really hand them over: mostly in [0, 1), sometimes
/// anything at all (NaN, infinities, negatives, 1.0).
fn random_number() -> impl Strategy<Value = f64> {
    prop_oneof![8 => 0.0f64..1.0, 1 => Just(0.0), 1 => Just(1.0), 2 => any::<f64>()]
}

/// The random number as SPEC 2 means it: a value in [0, 1] (what "uniform" draws from).
fn as_fraction(rnd: f64) -> f64 {
    if rnd.is_nan() || rnd <= 0.0 { 0.0 } else { rnd.min(1.0) }
}

/// `min(maxDelayMs, baseDelayMs * multiplier^(n-1))`, computed directly with `powi`.
fn reference_step(p: &Policy, retry: u32) -> f64 {
    if p.base_delay_ms == 0 {
        return 0.0;
    }
    let raw = p.base_delay_ms as f64 * p.multiplier.powi(retry as i32 - 1);
    raw.min(p.max_delay_ms as f64)
}

/// `|got - want| <= 1`: whole milliseconds may be rounded either way.
fn near(got: u64, want: f64) -> bool {
    (got as f64 - want).abs() <= 1.0 + want * 1e-12
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn no_backoff_delay_is_above_max_delay(
        p in backoff_policy(),
        retry in prop_oneof![1u32..70, Just(u32::MAX)],
        previous in prop_oneof![0u64..100_000, any::<u64>()],
        rnd in random_number(),
    ) {
        let d = backoff_delay(&p, retry, previous, rnd);
        prop_assert!(d <= p.max_delay_ms, "{d} > cap {}", p.max_delay_ms);
    }

    #[test]
    fn the_step_is_base_times_multiplier_to_the_n_minus_1_capped(
        p in backoff_policy(),
        retry in 1u32..70,
    ) {
        let step = exponential_step(&p, retry);
        prop_assert!(step <= p.max_delay_ms);
        let want = reference_step(&p, retry).floor();
        prop_assert!(near(step, want), "step {step}, reference {want}");
        let none = Policy { jitter: Jitter::None, ..p.clone() };
        prop_assert_eq!(backoff_delay(&none, retry, 0, 0.3), step);
        if p.multiplier >= 1.0 {
            prop_assert!(exponential_step(&p, retry + 1) >= step, "steps shrink with multiplier >= 1");
        }
    }

    #[test]
    fn full_jitter_lies_in_zero_to_step(p in backoff_policy(), retry in 1u32..40, rnd in random_number()) {
        let p = Policy { jitter: Jitter::Full, ..p };
        let step = exponential_step(&p, retry);
        let d = backoff_delay(&p, retry, 0, rnd);
        prop_assert!(d <= step, "{d} > step {step}");
        prop_assert!(near(d, as_fraction(rnd) * step as f64), "{d} vs {rnd} of {step}");
    }

    #[test]
    fn equal_jitter_keeps_at_least_half_the_step(p in backoff_policy(), retry in 1u32..40, rnd in random_number()) {
        let p = Policy { jitter: Jitter::Equal, ..p };
        let step = exponential_step(&p, retry);
        let d = backoff_delay(&p, retry, 0, rnd);
        prop_assert!(step / 2 <= d && d <= step, "{d} outside [{}, {step}]", step / 2);
        let half = (step / 2) as f64;
        prop_assert!(near(d, half + as_fraction(rnd) * (step as f64 - half)));
    }

    #[test]
    fn decorrelated_lies_in_base_to_three_times_previous_capped(
        p in backoff_policy(),
        previous in prop_oneof![0u64..100_000, any::<u64>()],
        rnd in random_number(),
    ) {
        let p = Policy { jitter: Jitter::Decorrelated, ..p };
        let (base, cap) = (p.base_delay_ms, p.max_delay_ms);
        let hi = previous.saturating_mul(3).max(base);
        let d = backoff_delay(&p, 1, previous, rnd);
        prop_assert!(d >= base.min(cap), "{d} < base {base}");
        prop_assert!(d <= hi.min(cap), "{d} > min(cap {cap}, 3 x {previous})");
        let want = (base as f64 + as_fraction(rnd) * (hi - base) as f64).min(cap as f64);
        prop_assert!(near(d, want), "{d} vs {want}");
    }

    #[test]
    fn ratio_jitter_lies_around_the_step(
        p in backoff_policy(),
        ratio in prop_oneof![Just(1.0), 1e-6f64..=1.0],
        retry in 1u32..40,
        rnd in random_number(),
    ) {
        let p = Policy { jitter: Jitter::Ratio(ratio), ..p };
        let step = exponential_step(&p, retry) as f64;
        let d = backoff_delay(&p, retry, 0, rnd);
        let (lo, hi) = (step * (1.0 - ratio), step * (1.0 + ratio));
        prop_assert!(d <= p.max_delay_ms);
        prop_assert!(d as f64 >= (lo - 1.0).min(p.max_delay_ms as f64), "{d} < {lo}");
        prop_assert!(d as f64 <= hi + 1.0, "{d} > {hi}");
    }
}

// =============================================================================================
// HTTP dates and server hints (SPEC 4)
// =============================================================================================

/// 9999-12-31T23:59:59Z, the last instant a four-digit year can name.
const MAX_SECS: u64 = 253_402_300_799;
const YEAR_S: i64 = 365 * 86_400;
const RFC850: &str = "%A, %d-%b-%y %H:%M:%S GMT";
const ASCTIME: &str = "%a %b %e %H:%M:%S %Y";

fn imf_fixdate(secs: u64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs))
}

fn chrono_format(secs: i64, format: &str) -> String {
    match DateTime::from_timestamp(secs, 0) {
        Some(t) => t.format(format).to_string(),
        None => String::new(),
    }
}

fn date_like() -> impl Strategy<Value = String> {
    // The grammar's alphabet, with near misses: wrong names, widths, separators, zones.
    proptest::string::string_regex(
        "(Mon|Sun|Sunday|Wednesday|Xyz|)(, | |,)?[0-9 ]{0,3}[- ]?(Jan|Feb|Nov|Dec|Foo)[- ]?[0-9 ]{0,5} \
         ?[0-9]{0,3}:?[0-9]{0,3}:?[0-9]{0,3}( GMT| UTC| [0-9]{2,5}|)[ \t]{0,2}",
    )
    .expect("a valid regex")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_header_parsers_never_panic_on_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..80),
        now_ms in prop_oneof![1_500_000_000_000u64..2_000_000_000_000, any::<u64>()],
        now_s in any::<u64>(),
    ) {
        let parsed = http_date::parse(&bytes, now_s);
        prop_assert!(parsed.is_none_or(|s| s <= MAX_SECS + 1), "{parsed:?}");
        let _ = http_date::parse(&bytes, now_ms / 1000);
        let _ = headers::retry_after_ms(&bytes, now_ms);
        let _ = headers::delta_seconds(&bytes);
        let _ = headers::ratelimit_ms(&bytes);
        let _ = headers::x_ratelimit_reset_ms(&bytes, now_ms);
        let all = ServerHints {
            retry_after: Some(&bytes),
            ratelimit_reset: Some(&bytes),
            ratelimit: Some(&bytes),
            x_ratelimit_reset: Some(&bytes),
        };
        let _ = headers::server_wait_ms(&all, now_ms);
    }

    #[test]
    fn the_date_parser_never_panics_on_near_miss_dates(
        s in date_like(),
        now_s in prop_oneof![0u64..MAX_SECS, any::<u64>()],
    ) {
        let parsed = http_date::parse(s.as_bytes(), now_s);
        prop_assert!(parsed.is_none_or(|v| v <= MAX_SECS + 1));
        let _ = headers::retry_after_ms(s.as_bytes(), now_s.wrapping_mul(1000));
    }

    #[test]
    fn the_date_parser_never_panics_on_a_valid_date_with_one_byte_changed(
        secs in 0..=MAX_SECS,
        format in 0usize..3,
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        now_s in any::<u64>(),
    ) {
        let mut s = match format {
            0 => imf_fixdate(secs),
            1 => chrono_format(secs as i64, RFC850),
            _ => chrono_format(secs as i64, ASCTIME),
        }
        .into_bytes();
        let i = at.index(s.len());
        s[i] = byte;
        let _ = http_date::parse(&s, now_s);
        let _ = http_date::parse(&s, now_s / 1_000_000);
    }

    #[test]
    fn imf_fixdate_agrees_with_httpdate(secs in 0..=MAX_SECS, now_s in 0..=MAX_SECS) {
        let text = imf_fixdate(secs);
        prop_assert_eq!(http_date::parse(text.as_bytes(), now_s), Some(secs), "{}", text);
    }

    #[test]
    fn asctime_agrees_with_chrono(secs in 0..=MAX_SECS, now_s in 0..=MAX_SECS) {
        let text = chrono_format(secs as i64, ASCTIME);
        prop_assert_eq!(http_date::parse(text.as_bytes(), now_s), Some(secs), "{}", text);
    }

    /// RFC 850 has a two-digit year: RFC 9110 reads it as the year with those digits that is
    /// not more than 50 years ahead of now. Any date within 49 years of now must come back.
    #[test]
    fn rfc850_agrees_with_chrono_within_49_years_of_now(
        now_s in 0..=(MAX_SECS as i64 - 50 * YEAR_S),
        offset in -49 * YEAR_S..=49 * YEAR_S,
    ) {
        let secs = now_s + offset;
        let text = chrono_format(secs, RFC850);
        // Dates before 1970 are "long past", as good as the epoch.
        let want = u64::try_from(secs).unwrap_or(0);
        prop_assert_eq!(http_date::parse(text.as_bytes(), now_s as u64), Some(want), "{} at now {}", text, now_s);
    }

    #[test]
    fn year_of_agrees_with_chrono(secs in 0..=MAX_SECS) {
        let year = DateTime::from_timestamp(secs as i64, 0).map(|t| t.year());
        prop_assert_eq!(Some(http_date::year_of(secs) as i32), year);
    }

    /// Retry-After as a date, in each of the three formats, with optional whitespace, is the
    /// time from now until then (0 when it is past).
    #[test]
    fn retry_after_dates_are_measured_from_now(
        secs in 0..=(MAX_SECS - 40 * YEAR_S as u64),
        before in -30i64 * 86_400_000..30 * 86_400_000,
        format in 0usize..3,
        pad in prop_oneof![Just(""), Just(" "), Just("\t "), Just("  ")],
    ) {
        let text = match format {
            0 => imf_fixdate(secs),
            1 => chrono_format(secs as i64, RFC850),
            _ => chrono_format(secs as i64, ASCTIME),
        };
        let now_ms = (secs as i64 * 1000 - before).max(0) as u64;
        let want = (secs * 1000).saturating_sub(now_ms);
        let value = format!("{pad}{text}{pad}");
        prop_assert_eq!(headers::retry_after_ms(value.as_bytes(), now_ms), Some(want), "{}", value);
        // The same date in a Retry-After wins over every other field.
        let hints = ServerHints {
            retry_after: Some(value.as_bytes()),
            ratelimit_reset: Some(b"7"),
            ratelimit: Some(b"t=8"),
            x_ratelimit_reset: Some(b"9"),
        };
        prop_assert_eq!(headers::server_wait_ms(&hints, now_ms), Some(want));
    }

    /// A `RateLimit` list of policies (stacked limiters) whose names are any strings, quotes,
    /// backslashes, `;`, `,` and `=` included: the exhausted policy's `t` (the longest of
    /// several), else the smallest `t`; never a number from inside a name.
    #[test]
    fn ratelimit_policies_with_any_names(
        policies in prop::collection::vec(("[a-z;,=\"\\\\ t0-9]{0,12}", 0u64..3, 0u64..100_000), 1..6),
        space in prop_oneof![Just(""), Just(" ")],
    ) {
        let field = policies
            .iter()
            .map(|(name, r, t)| {
                let quoted = name.replace('\\', "\\\\").replace('"', "\\\"");
                format!("\"{quoted}\";{space}r={r};{space}t={t}")
            })
            .collect::<Vec<_>>()
            .join(&format!(",{space}"));
        let exhausted = policies.iter().filter(|p| p.1 == 0).map(|p| p.2).max();
        let want = exhausted.or(policies.iter().map(|p| p.2).min()).map(|t| t * 1000);
        prop_assert_eq!(headers::ratelimit_ms(field.as_bytes()), want, "{}", field);
    }

    #[test]
    fn delta_seconds_are_read_exactly_or_saturate(n in any::<u64>(), zeros in 0usize..3, pad in prop_oneof![Just(""), Just(" "), Just("\t")], now_ms in any::<u64>()) {
        let value = format!("{pad}{}{n}{pad}", "0".repeat(zeros));
        prop_assert_eq!(headers::retry_after_ms(value.as_bytes(), now_ms), Some(n.saturating_mul(1000)));
        prop_assert_eq!(headers::delta_seconds(value.as_bytes()), Some(n));
        let huge = format!("{n}{}", "9".repeat(20));
        prop_assert_eq!(headers::retry_after_ms(huge.as_bytes(), now_ms), Some(u64::MAX));
        let ratelimit = format!("\"default\";r=0;t={value}");
        prop_assert_eq!(headers::ratelimit_ms(ratelimit.as_bytes()), Some(n.saturating_mul(1000)));
    }
}

/// Regression: RFC 9110 reads a two-digit year as the one not more than 50 years ahead, so
/// from 2050 on the next century's years must be read forward (found by the property above).
#[test]
fn rfc850_years_of_the_next_century_are_read_forward() {
    let at =
        |y, m, d| DateTime::from_timestamp(0, 0).and_then(|t| t.with_year(y)?.with_month(m)?.with_day(d));
    let now = at(2080, 6, 1).map(|t| t.timestamp()).unwrap_or_default();
    let date = at(2105, 1, 1).map(|t| t.timestamp()).unwrap_or_default();
    let text = chrono_format(date, RFC850);
    assert!(text.contains("-05 "), "{text}");
    assert_eq!(http_date::parse(text.as_bytes(), now as u64), Some(date as u64));
    // 2076 is 50 years after 2026 and not more: still ahead. 2077 is more: 1977.
    let now = at(2026, 1, 1).map(|t| t.timestamp()).unwrap_or_default() as u64;
    let y2076 = at(2076, 3, 1).map(|t| t.timestamp()).unwrap_or_default();
    assert_eq!(http_date::parse(chrono_format(y2076, RFC850).as_bytes(), now), Some(y2076 as u64));
    let y1977 = at(1977, 3, 1).map(|t| t.timestamp()).unwrap_or_default();
    assert_eq!(http_date::parse(chrono_format(y1977, RFC850).as_bytes(), now), Some(y1977 as u64));
}

/// Regression: an absurd clock made the two-digit-year arithmetic overflow (a panic in
/// debug builds, a wrapped year in release).
#[test]
fn rfc850_with_an_absurd_clock_does_not_panic() {
    for now_s in [u64::MAX, u64::MAX / 1000, 135_536_013_056_448_000] {
        assert_eq!(http_date::parse(b"Sunday, 06-Nov-94 08:49:37 GMT", now_s), None);
    }
}

// =============================================================================================
// Circuit breaker (SPEC 5)
// =============================================================================================

fn breaker_settings() -> impl Strategy<Value = BreakerSettings> {
    (prop_oneof![Just(0.5), Just(1.0), 0.05f64..=1.0], 1u32..8, 1u64..20_000, 0u64..6_000, 1u32..4).prop_map(
        |(failure_ratio, minimum_requests, window_ms, open_ms, half_open_probes)| BreakerSettings {
            failure_ratio,
            minimum_requests,
            window_ms,
            open_ms,
            // The SPEC's fixed open period, which the reference model follows.
            max_open_ms: open_ms,
            half_open_probes,
        },
    )
}

#[derive(Clone, Debug)]
enum BreakerOp {
    Admit,
    /// Report how one attempt in flight ended.
    Answer {
        pick: prop::sample::Index,
        failure: bool,
    },
    /// A probe ended with no outcome (aborted, cut by the caller's deadline).
    Release {
        pick: prop::sample::Index,
    },
}

fn breaker_op() -> impl Strategy<Value = BreakerOp> {
    prop_oneof![
        4 => Just(BreakerOp::Admit),
        4 => (any::<prop::sample::Index>(), prop::bool::weighted(0.6))
            .prop_map(|(pick, failure)| BreakerOp::Answer { pick, failure }),
        1 => any::<prop::sample::Index>().prop_map(|pick| BreakerOp::Release { pick }),
    ]
}

#[derive(Clone, Copy, Debug)]
struct Flight {
    probe: bool,
    /// The round of probes (`probe_epoch`) that let the probe through.
    epoch: u32,
}

/// The snapshot's own consistency: `opened_at` only when not closed, open exactly until
/// `openMs` has passed.
fn check_snapshot(s: &Snapshot, settings: &BreakerSettings, now: u64) -> Result<(), TestCaseError> {
    match (s.state, s.opened_at) {
        (StateName::Closed, None) => {}
        (StateName::Open, Some(at)) => prop_assert!(now < at + settings.open_ms, "open past openMs: {s:?}"),
        (StateName::HalfOpen, Some(at)) => {
            prop_assert!(now >= at + settings.open_ms, "half-open early: {s:?}")
        }
        _ => prop_assert!(false, "inconsistent snapshot {s:?}"),
    }
    Ok(())
}

/// The window: no outcome counts once `windowMs` has passed since it was recorded, and every
/// one counts until then but for the last bucket width (a tenth of the window, rounded up).
/// `log` holds the outcomes since the breaker last closed from half-open.
fn check_window(
    s: &Snapshot,
    log: &[(u64, bool)],
    settings: &BreakerSettings,
    now: u64,
) -> Result<(), TestCaseError> {
    let width = settings.window_ms.div_ceil(10).max(1);
    for failure in [false, true] {
        let count = |max_age: u64| log.iter().filter(|(t, f)| *f == failure && now - t < max_age).count();
        let (lo, hi) = (count(settings.window_ms.saturating_sub(width - 1)), count(settings.window_ms));
        let got = if failure { s.failures } else { s.successes } as usize;
        prop_assert!(lo <= got && got <= hi, "failure={failure}: {got} not in [{lo}, {hi}] ({s:?})");
    }
    Ok(())
}

fn run_breaker(settings: BreakerSettings, ops: &[(u64, BreakerOp)]) -> Result<(), TestCaseError> {
    let s = &settings;
    let mut b = Breaker::default();
    let mut now = 0u64;
    let mut log: Vec<(u64, bool)> = Vec::new();
    let mut flights: Vec<Flight> = Vec::new();
    // The half-open period in which the breaker has let a probe through (it is then
    // half-open inside too, not only in its snapshot).
    let mut entered: Option<u64> = None;
    let mut prev = b.snapshot(0);
    for (dt, op) in ops {
        now += dt;
        let s0 = b.snapshot(now);
        // Time alone only turns open into half-open.
        match prev.state {
            StateName::Closed => prop_assert_eq!(s0.state, StateName::Closed),
            StateName::HalfOpen => {
                prop_assert_eq!((s0.state, s0.opened_at), (StateName::HalfOpen, prev.opened_at))
            }
            StateName::Open => prop_assert_eq!(s0.opened_at, prev.opened_at),
        }
        check_snapshot(&s0, s, now)?;
        // A probe holds its slot until it answers or is released, however long it takes.
        // What a breaker that opens now reports: half-open at once when openMs is 0.
        let opened = if s.open_ms == 0 { StateName::HalfOpen } else { StateName::Open };
        match op {
            BreakerOp::Admit => {
                let refusing = b.is_refusing(s, now);
                let admission = b.admit(s, now);
                prop_assert_eq!(refusing, matches!(admission, Admission::Refuse { .. }));
                let epoch = b.probe_epoch();
                let current = |f: &Flight| f.probe && f.epoch == epoch;
                match (s0.state, admission) {
                    (StateName::Closed, Admission::Pass { probe: false }) => {
                        flights.push(Flight { probe: false, epoch });
                    }
                    (StateName::Open, Admission::Refuse { retry_after_ms }) => {
                        let opened = s0.opened_at.unwrap_or_default();
                        prop_assert_eq!(retry_after_ms, opened + s.open_ms - now);
                    }
                    (StateName::HalfOpen, Admission::Pass { probe: true }) => {
                        entered = s0.opened_at;
                        flights.push(Flight { probe: true, epoch });
                        let outstanding = flights.iter().filter(|f| current(f)).count();
                        prop_assert!(
                            outstanding <= s.half_open_probes as usize,
                            "{outstanding} probes through, {} allowed",
                            s.half_open_probes
                        );
                    }
                    (StateName::HalfOpen, Admission::Refuse { retry_after_ms }) => {
                        prop_assert!(retry_after_ms <= s.open_ms);
                        // Refused only while a probe is really out: never wedged.
                        prop_assert!(flights.iter().any(current), "half-open refuses with no probe out");
                    }
                    (state, a) => prop_assert!(false, "{state:?} answered {a:?}"),
                }
            }
            BreakerOp::Answer { pick, failure } => {
                if flights.is_empty() {
                    continue;
                }
                let f = flights.remove(pick.index(flights.len()));
                let current = f.probe && f.epoch == b.probe_epoch();
                if f.probe {
                    b.record_probe_of(s, now, *failure, f.epoch);
                } else {
                    b.record(s, now, *failure, false);
                }
                log.push((now, *failure));
                let s1 = b.snapshot(now);
                let inside_half_open = s0.state == StateName::HalfOpen && entered == s0.opened_at;
                if current && inside_half_open {
                    // One success closes it (forgetting the window); a failure opens it again.
                    if *failure {
                        prop_assert_eq!((s1.state, s1.opened_at), (opened, Some(now)));
                        entered = None;
                    } else {
                        prop_assert_eq!((s1.state, s1.failures, s1.successes), (StateName::Closed, 0, 0));
                        log.clear();
                        entered = None;
                    }
                } else if s0.state == StateName::Closed {
                    let total = s1.failures + s1.successes;
                    let reached = f64::from(s1.failures) / f64::from(total.max(1)) >= s.failure_ratio;
                    // Checked on failures only: a success never opens it (issue 13 item 16).
                    let opens = *failure && total >= s.minimum_requests && reached;
                    let want = if opens { (opened, Some(now)) } else { (StateName::Closed, None) };
                    prop_assert_eq!((s1.state, s1.opened_at), want, "after {:?}", s1);
                } else {
                    // Late outcomes while open, or non-probes while half-open: counted only.
                    prop_assert_eq!((s1.state, s1.opened_at), (s0.state, s0.opened_at));
                }
            }
            BreakerOp::Release { pick } => {
                let probes: Vec<usize> = (0..flights.len()).filter(|&i| flights[i].probe).collect();
                if probes.is_empty() {
                    continue;
                }
                let i = probes[pick.index(probes.len())];
                let f = flights.remove(i);
                // A probe of an earlier round frees nothing in this one.
                b.release_probe_of(f.epoch);
                let s1 = b.snapshot(now);
                prop_assert_eq!((s1.state, s1.opened_at), (s0.state, s0.opened_at));
            }
        }
        prev = b.snapshot(now);
        check_snapshot(&prev, s, now)?;
        check_window(&prev, &log, s, now)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(800))]

    #[test]
    fn breaker_transitions_follow_spec_5(
        settings in breaker_settings(),
        ops in prop::collection::vec((prop_oneof![3 => 0u64..300, 1 => 0u64..8_000], breaker_op()), 1..120),
    ) {
        run_breaker(settings, &ops)?;
    }
}

/// A clock step: mostly forward, sometimes back (an NTP correction, a VM restored).
fn clock_step() -> impl Strategy<Value = i64> {
    prop_oneof![6 => 0i64..400, 2 => 0i64..8_000, 2 => -20_000i64..0, 1 => Just(-1)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    /// Issue 13 item 17: whatever the clock does, no refusal lasts longer than `openMs` from
    /// now, and the breaker never reports having opened in the caller's future.
    #[test]
    fn a_refusal_never_lasts_longer_than_open_ms(
        settings in breaker_settings(),
        start in 0u64..40_000,
        ops in prop::collection::vec((clock_step(), breaker_op()), 1..150),
    ) {
        let s = &settings;
        let mut b = Breaker::default();
        let mut now = start;
        let mut flights: Vec<(bool, u32)> = Vec::new();
        for (dt, op) in &ops {
            now = now.saturating_add_signed(*dt);
            match op {
                BreakerOp::Admit => {
                    let refusing = b.is_refusing(s, now);
                    let admission = b.admit(s, now);
                    prop_assert_eq!(refusing, matches!(admission, Admission::Refuse { .. }));
                    match admission {
                        Admission::Refuse { retry_after_ms } => {
                            prop_assert!(retry_after_ms <= s.open_ms, "{} > openMs {}", retry_after_ms, s.open_ms);
                        }
                        Admission::Pass { probe } => flights.push((probe, b.probe_epoch())),
                    }
                }
                BreakerOp::Answer { pick, failure } => {
                    if flights.is_empty() {
                        continue;
                    }
                    let (probe, epoch) = flights.remove(pick.index(flights.len()));
                    if probe {
                        b.record_probe_of(s, now, *failure, epoch);
                    } else {
                        b.record(s, now, *failure, false);
                    }
                }
                BreakerOp::Release { pick } => {
                    if flights.is_empty() {
                        continue;
                    }
                    let (probe, epoch) = flights.remove(pick.index(flights.len()));
                    if probe {
                        b.release_probe_of(epoch);
                    }
                }
            }
            let snap = b.snapshot(now);
            prop_assert!(snap.opened_at.is_none_or(|at| at <= now), "opened in the future: {snap:?} at {now}");
            if snap.state == StateName::Open {
                let at = snap.opened_at.unwrap_or_default();
                prop_assert!(now - at < s.open_ms.max(1), "open for {} ms, openMs {}", now - at, s.open_ms);
            }
        }
    }

    /// Issue 13 item 18: an outcome counts until `windowMs` has passed since it was recorded,
    /// and leaves at most one bucket width (a tenth of the window, rounded up) early.
    #[test]
    fn no_outcome_counts_once_window_ms_has_passed(
        window_ms in prop_oneof![1u64..50, 1u64..20_000, Just(1005), Just(5)],
        events in prop::collection::vec((prop_oneof![0u64..30, 0u64..3_000], any::<bool>(), 0u64..3_000), 1..80),
    ) {
        let s = BreakerSettings { window_ms, minimum_requests: u32::MAX, ..BreakerSettings::default() };
        let mut b = Breaker::default();
        let mut now = 1_000;
        let mut log: Vec<(u64, bool)> = Vec::new();
        for (dt, failure, look) in events {
            now += dt;
            b.record(&s, now, failure, false);
            log.push((now, failure));
            check_window(&b.snapshot(now + look), &log, &s, now + look)?;
        }
    }
}

// =============================================================================================
// Budget (SPEC 6), registry, stats
// =============================================================================================

#[derive(Clone, Debug)]
enum BudgetOp {
    Take(u32),
    Refund(u32),
    /// A take under settings whose capacity was lowered since the bucket was filled.
    TakeLowered {
        capacity: u32,
        cost: u32,
    },
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_budget_is_never_negative_nor_above_capacity(
        capacity in 0u32..1_000,
        ops in prop::collection::vec(prop_oneof![
            (0u32..40).prop_map(BudgetOp::Take),
            (0u32..40).prop_map(BudgetOp::Refund),
            (0u32..1_000, 0u32..40).prop_map(|(capacity, cost)| BudgetOp::TakeLowered { capacity, cost }),
            Just(BudgetOp::Take(u32::MAX)),
            Just(BudgetOp::Refund(u32::MAX)),
        ], 0..120),
    ) {
        let settings = BudgetSettings { capacity, ..BudgetSettings::default() };
        let mut budget = Budget::full(&settings);
        let mut model = i64::from(capacity);
        for op in ops {
            match op {
                BudgetOp::Take(cost) => {
                    let paid = budget.try_take(&settings, cost);
                    prop_assert_eq!(paid, model >= i64::from(cost));
                    if paid { model -= i64::from(cost); }
                }
                BudgetOp::Refund(amount) => {
                    budget.refund(&settings, amount);
                    model = (model + i64::from(amount)).min(i64::from(capacity));
                }
                BudgetOp::TakeLowered { capacity: lowered, cost } => {
                    let lowered = lowered.min(capacity);
                    let low = BudgetSettings { capacity: lowered, ..settings };
                    model = model.min(i64::from(lowered));
                    let paid = budget.try_take(&low, cost);
                    prop_assert_eq!(paid, model >= i64::from(cost));
                    if paid { model -= i64::from(cost); }
                }
            }
            prop_assert_eq!(i64::from(budget.tokens()), model);
            prop_assert!((0..=i64::from(capacity)).contains(&model));
        }
    }

    /// The key registry drops exactly the least recently used key past its capacity.
    #[test]
    fn the_registry_is_an_lru_of_bounded_size(
        capacity in 1usize..6,
        ops in prop::collection::vec((0u8..10, any::<bool>()), 0..200),
    ) {
        let mut registry: Registry<u32> = Registry::new(capacity);
        // Most recently used last.
        let mut model: Vec<(String, u32)> = Vec::new();
        for (k, touch) in ops {
            let key = format!("https://h{k}.test");
            if touch {
                if let Some(v) = registry.touch(&key, || 0) {
                    *v += 1;
                }
                let value = match model.iter().position(|(m, _)| *m == key) {
                    Some(i) => model.remove(i).1 + 1,
                    None => {
                        if model.len() == capacity {
                            model.remove(0);
                        }
                        1
                    }
                };
                model.push((key.clone(), value));
            }
            let want = model.iter().find(|(m, _)| *m == key).map(|(_, v)| *v);
            prop_assert_eq!(registry.peek(&key).copied(), want);
            prop_assert_eq!(registry.len(), model.len());
            prop_assert!(registry.len() <= capacity);
        }
        for (key, value) in &model {
            prop_assert_eq!(registry.peek(key), Some(value));
        }
    }

    /// Latency percentiles are ordered, never below the true (nearest-rank) value, and at most
    /// one sixteenth above it.
    #[test]
    fn latency_percentiles_are_within_the_histogram_precision(
        latencies in prop::collection::vec(prop_oneof![0u64..100, 0u64..100_000, any::<u64>()], 1..300),
    ) {
        let mut stats = Stats::default();
        for &ms in &latencies {
            stats.record_latency(ms);
        }
        let mut sorted = latencies.clone();
        sorted.sort_unstable();
        let p = stats.latency();
        prop_assert!(p.p50 <= p.p90 && p.p90 <= p.p99, "{p:?}");
        for (got, per_mille) in [(p.p50, 500), (p.p90, 900), (p.p99, 990)] {
            let rank = (sorted.len() * per_mille).div_ceil(1000).max(1);
            let truth = sorted[rank - 1];
            prop_assert!(got >= truth, "p{per_mille}: {got} < {truth}");
            prop_assert!(got - truth <= truth / 16, "p{per_mille}: {got} too far above {truth}");
        }
    }
}

// =============================================================================================
// Options (SPEC 2): validation of what JS hands over never panics, and what it accepts is valid
// =============================================================================================

const OPTION_NAMES: [&str; 21] = [
    "maxAttempts",
    "baseDelayMs",
    "maxDelayMs",
    "multiplier",
    "jitter",
    "retryOn",
    "methods",
    "shouldRetry",
    "respectRetryAfter",
    "maxRetryAfterMs",
    "retryAfterJitter",
    "maxReplayBytes",
    "timeoutMs",
    "attemptTimeoutMs",
    "breaker",
    "budget",
    "onRetry",
    "random",
    "fetch",
    "ratio",
    "failureRatio",
];

fn js_number() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(1.0),
        Just(-1.0),
        Just(0.5),
        Just(1.5),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(1e300),
        (0u32..1000).prop_map(f64::from),
        any::<f64>(),
    ]
}

fn js_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Undefined),
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        js_number().prop_map(Value::Number),
        prop_oneof![
            prop::sample::select(vec!["none", "full", "equal", "decorrelated", "GET", "post", "", "G T"]),
            Just("lots")
        ]
        .prop_map(|s| Value::Str(s.to_string())),
        Just(Value::Function),
        Just(Value::Other),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::List),
            prop::collection::vec((option_name(), inner), 0..4).prop_map(Value::Object),
        ]
    })
}

fn option_name() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(OPTION_NAMES.to_vec()).prop_map(String::from),
        1 => prop::sample::select(vec![
            "minimumRequests", "windowMs", "openMs", "halfOpenProbes", "key", "capacity",
            "retryCost", "timeoutCost", "successRefund", "__proto__", "retries",
        ]).prop_map(String::from),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn option_validation_never_panics_and_accepts_only_valid_policies(
        options in prop::collection::vec((option_name(), js_value()), 0..6),
        defaults in any::<bool>(),
    ) {
        let scope = if defaults { Scope::Defaults } else { Scope::PerCall };
        match options::apply(&Policy::default(), &options, scope) {
            Ok(p) => {
                prop_assert!(p.max_attempts >= 1);
                prop_assert!(p.multiplier.is_finite() && p.multiplier >= 0.0);
                prop_assert!((0.0..=1.0).contains(&p.retry_after_jitter));
                if let Jitter::Ratio(r) = p.jitter {
                    prop_assert!(r > 0.0 && r <= 1.0);
                }
                if let Some(b) = p.breaker {
                    prop_assert!(b.failure_ratio > 0.0 && b.failure_ratio <= 1.0);
                    prop_assert!(b.minimum_requests >= 1 && b.half_open_probes >= 1);
                }
                // Every key given was a known option (or undefined, which counts as not set).
                for (key, value) in &options {
                    prop_assert!(*value == Value::Undefined || OPTION_NAMES[..19].contains(&key.as_str()), "{key}");
                }
            }
            Err(e) => {
                // The error names an option that was given (nested ones as parent.child).
                let top = e.option.split('.').next().unwrap_or_default();
                prop_assert!(options.iter().any(|(k, _)| k == top), "{} not among the options", e.option);
                prop_assert!(e.message().contains(&e.option));
            }
        }
    }

    #[test]
    fn valid_numbers_are_applied_as_given(n in 1u32..1_000_000, ms in 0u64..1_000_000_000) {
        let options = vec![
            (String::from("maxAttempts"), Value::Number(f64::from(n))),
            (String::from("baseDelayMs"), Value::Number(ms as f64)),
            (String::from("timeoutMs"), Value::Number(ms as f64)),
        ];
        let p = options::apply(&Policy::default(), &options, Scope::PerCall);
        prop_assert_eq!(p.map(|p| (p.max_attempts, p.base_delay_ms, p.timeout_ms)), Ok((n, ms, Some(ms))));
    }
}

// =============================================================================================
// Whole calls: a discrete-event simulation of several calls on one engine (SPEC 2-7)
// =============================================================================================

const KEYS: [&str; 2] = ["https://a.example", "https://b.example"];

#[derive(Clone, Debug)]
enum Hint {
    Absent,
    RetryAfterSeconds(u64),
    /// A Retry-After date this many seconds from now (negative: in the past).
    RetryAfterDate(i64),
    RetryAfterGarbage(Vec<u8>),
    RateLimitReset(u64),
    RateLimitT(u64),
    XRateLimitReset(u64),
}

#[derive(Clone, Debug)]
enum AfterRetry {
    /// Wait the delay (and, with a lazy timer, a little more), then resume.
    Resume { late_by: u64 },
    /// `shouldRetry` said no.
    Decline,
    /// The caller aborts halfway through the wait.
    Abort,
}

#[derive(Clone, Debug)]
struct Step {
    /// How long the attempt takes, if no timeout cuts it.
    elapsed: u64,
    outcome: Outcome,
    hint: Hint,
    rnd: f64,
    after: AfterRetry,
    /// The caller aborts halfway through the attempt.
    abort: bool,
}

#[derive(Clone, Debug)]
struct CallPlan {
    /// Time from the previous call's start.
    gap: u64,
    key: usize,
    repeatable: bool,
    /// Attempt n follows `steps[(n - 1) % len]`.
    steps: Vec<Step>,
}

fn status() -> impl Strategy<Value = u16> {
    prop_oneof![
        8 => prop::sample::select(vec![200u16, 204, 301, 400, 404, 408, 429, 500, 501, 502, 503, 504]),
        2 => 100u16..600,
        1 => any::<u16>(),
    ]
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![6 => status().prop_map(Outcome::Response), 2 => Just(Outcome::NetworkError), 2 => Just(Outcome::Timeout)]
}

fn hint() -> impl Strategy<Value = Hint> {
    prop_oneof![
        4 => Just(Hint::Absent),
        3 => prop_oneof![0u64..10, 0u64..100].prop_map(Hint::RetryAfterSeconds),
        1 => (-30i64..90).prop_map(Hint::RetryAfterDate),
        1 => prop::collection::vec(any::<u8>(), 0..12).prop_map(Hint::RetryAfterGarbage),
        1 => (0u64..90).prop_map(Hint::RateLimitReset),
        1 => (0u64..90).prop_map(Hint::RateLimitT),
        1 => (0u64..90).prop_map(Hint::XRateLimitReset),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let after = prop_oneof![
        6 => prop_oneof![3 => Just(0u64), 1 => 0u64..50, 1 => 0u64..5_000].prop_map(|late_by| AfterRetry::Resume { late_by }),
        1 => Just(AfterRetry::Decline),
        1 => Just(AfterRetry::Abort),
    ];
    (
        prop_oneof![0u64..200, 0u64..6_000],
        outcome(),
        hint(),
        random_number(),
        after,
        prop::bool::weighted(0.05),
    )
        .prop_map(|(elapsed, outcome, hint, rnd, after, abort)| Step {
            elapsed,
            outcome,
            hint,
            rnd,
            after,
            abort,
        })
}

fn call_plan() -> impl Strategy<Value = CallPlan> {
    (
        prop_oneof![0u64..50, 0u64..3_000],
        0..KEYS.len(),
        prop::bool::weighted(0.85),
        prop::collection::vec(step(), 1..6),
    )
        .prop_map(|(gap, key, repeatable, steps)| CallPlan { gap, key, repeatable, steps })
}

fn budget_settings() -> impl Strategy<Value = BudgetSettings> {
    (prop_oneof![0u32..60, Just(500)], 0u32..10, 0u32..15, 0u32..3).prop_map(
        |(capacity, retry_cost, timeout_cost, success_refund)| BudgetSettings {
            capacity,
            retry_cost,
            timeout_cost,
            success_refund,
        },
    )
}

fn call_policy() -> impl Strategy<Value = Policy> {
    let delays = (1u32..10, 0u64..2_000, prop_oneof![0u64..500, 0u64..30_000], multiplier(), jitter());
    let retry_on = prop_oneof![
        3 => Just(StatusSet::from_slice(&DEFAULT_RETRY_ON)),
        1 => prop::collection::vec(100u16..600, 0..8).prop_map(|s| StatusSet::from_slice(&s)),
    ];
    let server = (
        any::<bool>(),
        prop_oneof![0u64..120_000, Just(60_000)],
        prop_oneof![Just(0.0), Just(0.1), 0.0f64..=1.0],
    );
    let limits = (
        prop::option::of(prop_oneof![0u64..500, 0u64..20_000]),
        prop::option::of(prop_oneof![0u64..300, 0u64..5_000]),
        prop::option::weighted(0.7, breaker_settings()),
        prop::option::weighted(0.7, budget_settings()),
    );
    (delays, retry_on, server, limits).prop_map(
        |(
            (max_attempts, base_delay_ms, max_delay_ms, multiplier, jitter),
            retry_on,
            (respect_retry_after, max_retry_after_ms, retry_after_jitter),
            (timeout_ms, attempt_timeout_ms, breaker, budget),
        )| Policy {
            max_attempts,
            base_delay_ms,
            max_delay_ms,
            multiplier,
            jitter,
            retry_on,
            respect_retry_after,
            max_retry_after_ms,
            retry_after_jitter,
            timeout_ms,
            attempt_timeout_ms,
            breaker,
            budget,
            ..Policy::default()
        },
    )
}

/// The header values of one response, owned so that `ServerHints` can borrow them.
fn header_value(hint: &Hint, now_ms: u64) -> Vec<u8> {
    match hint {
        Hint::Absent => Vec::new(),
        Hint::RetryAfterSeconds(s) | Hint::RateLimitReset(s) | Hint::XRateLimitReset(s) => {
            s.to_string().into_bytes()
        }
        Hint::RetryAfterDate(offset) => {
            let secs = (now_ms / 1000).saturating_add_signed(*offset);
            imf_fixdate(secs).into_bytes()
        }
        Hint::RetryAfterGarbage(bytes) => bytes.clone(),
        Hint::RateLimitT(s) => format!("\"default\";r=0;t={s}").into_bytes(),
    }
}

fn server_hints<'a>(hint: &Hint, value: &'a [u8]) -> ServerHints<'a> {
    let mut h = ServerHints::default();
    match hint {
        Hint::Absent => {}
        Hint::RetryAfterSeconds(_) | Hint::RetryAfterDate(_) | Hint::RetryAfterGarbage(_) => {
            h.retry_after = Some(value)
        }
        Hint::RateLimitReset(_) => h.ratelimit_reset = Some(value),
        Hint::RateLimitT(_) => h.ratelimit = Some(value),
        Hint::XRateLimitReset(_) => h.x_ratelimit_reset = Some(value),
    }
    h
}

/// What the driver will do next for a live call, and when.
#[derive(Clone, Copy, Debug)]
enum Event {
    Report { at: u64, outcome: Outcome },
    Abort { at: u64 },
    Resume { at: u64 },
    Decline { at: u64 },
}

impl Event {
    fn at(self) -> u64 {
        match self {
            Event::Report { at, .. } | Event::Abort { at } | Event::Resume { at } | Event::Decline { at } => {
                at
            }
        }
    }
}

/// Why an action was returned.
#[derive(Clone, Copy, Debug)]
enum Cause {
    Start,
    Report { outcome: Outcome, deadline_timeout: bool, asked: Option<u64> },
    Resume,
    Decline,
    Abort,
}

struct Live {
    plan: usize,
    call: Call,
    deadline: Option<u64>,
    sends: u32,
    /// The last Retry was a server-given wait.
    server_wait: bool,
    deadline_bound: bool,
    event: Event,
}

/// What the engine's counters must say, tallied from what the driver saw.
#[derive(Default)]
struct Tally {
    counters: Counters,
    settled: u64,
}

struct Sim<'a> {
    policy: &'a Policy,
    plans: &'a [CallPlan],
    engine: Engine,
    now: u64,
    tally: Tally,
}

fn is_retryable(policy: &Policy, outcome: Outcome) -> bool {
    match outcome {
        Outcome::Response(status) => policy.retry_on.contains(status),
        Outcome::NetworkError | Outcome::Timeout => true,
    }
}

impl Sim<'_> {
    fn capacity(&self) -> u32 {
        self.policy.budget.unwrap_or_default().capacity
    }

    fn check_shared_state(&self) -> Result<(), TestCaseError> {
        for key in KEYS {
            if let Some(tokens) = self.engine.budget_tokens(key) {
                prop_assert!(
                    tokens <= self.capacity(),
                    "{key}: {tokens} tokens > capacity {}",
                    self.capacity()
                );
                if self.policy.budget.is_none() {
                    prop_assert_eq!(tokens, self.capacity(), "no budget, yet tokens moved");
                }
            }
        }
        let c = &self.engine.stats.counters;
        let t = &self.tally.counters;
        prop_assert_eq!(
            (c.calls, c.attempts, c.retries, c.retry_after_waits, c.breaker_rejections),
            (t.calls, t.attempts, t.retries, t.retry_after_waits, t.breaker_rejections)
        );
        prop_assert_eq!((c.successes, c.failures), (t.successes, t.failures));
        prop_assert_eq!(c.successes + c.failures, self.tally.settled);
        prop_assert!(c.budget_denials <= c.calls * u64::from(self.policy.max_attempts));
        Ok(())
    }

    /// Checks `action`, given why it came, and schedules what the driver does next.
    /// `Ok(false)` when the call has settled.
    fn handle(&mut self, l: &mut Live, action: Action, cause: Cause) -> Result<bool, TestCaseError> {
        let p = self.policy;
        let plan = &self.plans[l.plan];
        let now = self.now;
        if let Cause::Report { outcome, deadline_timeout, .. } = cause {
            // Not retryable, not repeatable, or no attempt left: settled at once.
            if deadline_timeout {
                prop_assert_eq!(action, Action::Settle(Settle::Deadline));
            } else if !is_retryable(p, outcome) || !plan.repeatable || l.sends >= p.max_attempts {
                prop_assert_eq!(action, Action::Settle(Settle::Last), "{:?} after {:?}", action, outcome);
            }
        }
        match action {
            Action::Send { attempt, timeout_ms, deadline_bound } => {
                prop_assert!(matches!(cause, Cause::Start | Cause::Resume), "Send after {cause:?}");
                prop_assert_eq!(attempt, l.sends + 1);
                prop_assert!(attempt <= p.max_attempts, "attempt {attempt} of {}", p.max_attempts);
                match (l.deadline, p.attempt_timeout_ms) {
                    (Some(d), a) => {
                        prop_assert!(now < d, "sent at {now}, deadline {d}");
                        let remaining = d - now;
                        let bound = a.is_none_or(|a| remaining <= a);
                        prop_assert_eq!(deadline_bound, bound);
                        prop_assert_eq!(
                            timeout_ms,
                            Some(if bound { remaining } else { a.unwrap_or(remaining) })
                        );
                    }
                    (None, a) => prop_assert_eq!((timeout_ms, deadline_bound), (a, false)),
                }
                if attempt > 1 {
                    self.tally.counters.retries += 1;
                    if l.server_wait {
                        self.tally.counters.retry_after_waits += 1;
                    }
                }
                self.tally.counters.attempts += 1;
                l.sends = attempt;
                l.deadline_bound = deadline_bound;
                let step = &plan.steps[(attempt as usize - 1) % plan.steps.len()];
                l.event = if step.abort {
                    Event::Abort { at: now + step.elapsed / 2 }
                } else {
                    match timeout_ms {
                        Some(t) if step.elapsed >= t || step.outcome == Outcome::Timeout => {
                            Event::Report { at: now + t, outcome: Outcome::Timeout }
                        }
                        _ => Event::Report { at: now + step.elapsed, outcome: step.outcome },
                    }
                };
                Ok(true)
            }
            Action::Retry { attempt, delay_ms, reason, server_wait } => {
                let Cause::Report { outcome, asked, .. } = cause else {
                    prop_assert!(false, "Retry after {cause:?}");
                    return Ok(false);
                };
                prop_assert_eq!(attempt, l.sends);
                prop_assert!(l.sends < p.max_attempts && plan.repeatable && is_retryable(p, outcome));
                let want_reason = match outcome {
                    Outcome::Response(_) => RetryReason::Status,
                    Outcome::NetworkError => RetryReason::Network,
                    Outcome::Timeout => RetryReason::Timeout,
                };
                prop_assert_eq!(reason, want_reason);
                if let Some(d) = l.deadline {
                    prop_assert!(
                        now + delay_ms < d,
                        "a wait from {now} for {delay_ms} ends past the deadline {d}"
                    );
                }
                match (server_wait, asked) {
                    (false, None) => {
                        prop_assert!(delay_ms <= p.max_delay_ms, "{delay_ms} > cap {}", p.max_delay_ms)
                    }
                    (true, Some(asked)) => {
                        prop_assert!(asked <= p.max_retry_after_ms);
                        let most = asked as f64 * (1.0 + p.retry_after_jitter);
                        prop_assert!(
                            asked <= delay_ms && delay_ms as f64 <= most + 1.0,
                            "{delay_ms} for {asked}"
                        );
                    }
                    _ => prop_assert!(false, "server_wait {server_wait}, but the server asked {asked:?}"),
                }
                l.server_wait = server_wait;
                let step = &plan.steps[(attempt as usize - 1) % plan.steps.len()];
                l.event = match step.after {
                    AfterRetry::Resume { late_by } => Event::Resume { at: now + delay_ms + late_by },
                    AfterRetry::Decline => Event::Decline { at: now },
                    AfterRetry::Abort => Event::Abort { at: now + delay_ms / 2 },
                };
                Ok(true)
            }
            Action::Settle(how) => {
                match how {
                    Settle::CircuitOpen { retry_after_ms } => {
                        prop_assert!(matches!(cause, Cause::Start) && l.sends == 0);
                        let open_ms = p.breaker.map(|b| b.open_ms);
                        prop_assert!(open_ms.is_some_and(|o| retry_after_ms <= o));
                        self.tally.counters.breaker_rejections += 1;
                    }
                    Settle::Deadline => {
                        let d = l.deadline.unwrap_or(u64::MAX);
                        prop_assert!(now >= d, "Deadline at {now} before {d}");
                        let first_with_no_time = matches!(cause, Cause::Start) && p.timeout_ms == Some(0);
                        let cut = matches!(cause, Cause::Report { deadline_timeout: true, .. });
                        prop_assert!(first_with_no_time || cut, "Deadline after {cause:?}");
                    }
                    Settle::Aborted => prop_assert!(matches!(cause, Cause::Abort)),
                    Settle::Last => {
                        prop_assert!(l.sends >= 1);
                        match cause {
                            Cause::Report { .. } | Cause::Decline => {}
                            // A wait ends into a refusal: the deadline has passed or the breaker
                            // refuses.
                            Cause::Resume => prop_assert!(
                                l.deadline.is_some_and(|d| now >= d) || p.breaker.is_some(),
                                "resume settled with no reason"
                            ),
                            Cause::Start | Cause::Abort => prop_assert!(false, "Last after {cause:?}"),
                        }
                    }
                }
                let success = how == Settle::Last
                    && matches!(l.call.last_outcome(), Some(Outcome::Response(s)) if s < 500 && !p.retry_on.contains(s));
                if success {
                    self.tally.counters.successes += 1;
                } else {
                    self.tally.counters.failures += 1;
                }
                self.tally.settled += 1;
                prop_assert!(l.call.is_settled());
                prop_assert_eq!(l.call.attempts(), l.sends);
                // Exactly once: every later report is refused and changes nothing.
                let before = self.engine.stats.counters.clone();
                let e = &mut self.engine;
                let hints = ServerHints::default();
                prop_assert_eq!(l.call.abort(e, p, now), Err(CallError::Settled));
                prop_assert_eq!(l.call.resume(e, p, now), Err(CallError::Settled));
                prop_assert_eq!(l.call.decline(e, p, now), Err(CallError::Settled));
                let late = l.call.on_outcome(e, p, Outcome::Response(200), &hints, now, 0.5);
                prop_assert_eq!(late, Err(CallError::Settled));
                prop_assert_eq!(&self.engine.stats.counters, &before);
                Ok(false)
            }
        }
    }

    fn start(&mut self, index: usize) -> Result<Option<Live>, TestCaseError> {
        let plan = &self.plans[index];
        let (call, action) =
            Call::start(&mut self.engine, self.policy, KEYS[plan.key], plan.repeatable, self.now);
        self.tally.counters.calls += 1;
        let mut live = Live {
            plan: index,
            call,
            deadline: self.policy.timeout_ms.map(|t| self.now + t),
            sends: 0,
            server_wait: false,
            deadline_bound: false,
            event: Event::Abort { at: self.now },
        };
        let alive = self.handle(&mut live, action, Cause::Start)?;
        Ok(alive.then_some(live))
    }

    fn step(&mut self, l: &mut Live) -> Result<bool, TestCaseError> {
        let p = self.policy;
        let now = self.now;
        let key = KEYS[self.plans[l.plan].key];
        let (action, cause) = match l.event {
            Event::Report { outcome, .. } => {
                let step = &self.plans[l.plan].steps[(l.sends as usize - 1) % self.plans[l.plan].steps.len()];
                // Out of phase: refused, nothing changes.
                let before = self.engine.stats.counters.clone();
                prop_assert_eq!(l.call.resume(&mut self.engine, p, now), Err(CallError::NotWaiting));
                prop_assert_eq!(l.call.decline(&mut self.engine, p, now), Err(CallError::NotWaiting));
                prop_assert_eq!(&self.engine.stats.counters, &before);
                let value = header_value(&step.hint, now);
                let hints = server_hints(&step.hint, &value);
                let asked = match outcome {
                    Outcome::Response(_) if p.respect_retry_after => headers::server_wait_ms(&hints, now),
                    _ => None,
                };
                let tokens_before = self.engine.budget_tokens(key);
                let deadline_timeout = l.deadline_bound && outcome == Outcome::Timeout;
                let action = l.call.on_outcome(&mut self.engine, p, outcome, &hints, now, step.rnd);
                prop_assert!(action.is_ok(), "{action:?}");
                let action = action.unwrap_or(Action::Settle(Settle::Last));
                // A denial only when the bucket really cannot pay for this retry.
                let denials = self.engine.stats.counters.budget_denials - before.budget_denials;
                if denials > 0 {
                    prop_assert_eq!(denials, 1);
                    prop_assert_eq!(action, Action::Settle(Settle::Last));
                    let budget = p.budget.unwrap_or_default();
                    let cost = match outcome {
                        Outcome::Response(_) => budget.retry_cost,
                        _ => budget.timeout_cost,
                    };
                    let tokens = tokens_before.unwrap_or(budget.capacity).min(budget.capacity);
                    prop_assert!(
                        p.budget.is_some() && tokens < cost,
                        "denied with {tokens} tokens for {cost}"
                    );
                }
                (action, Cause::Report { outcome, deadline_timeout, asked })
            }
            Event::Resume { .. } => {
                let before = self.engine.stats.counters.clone();
                let hints = ServerHints::default();
                let wrong = l.call.on_outcome(&mut self.engine, p, Outcome::Response(200), &hints, now, 0.0);
                prop_assert_eq!(wrong, Err(CallError::NotInFlight));
                prop_assert_eq!(&self.engine.stats.counters, &before);
                let action = l.call.resume(&mut self.engine, p, now);
                prop_assert!(action.is_ok(), "{action:?}");
                prop_assert_eq!(self.engine.stats.counters.budget_denials, before.budget_denials);
                (action.unwrap_or(Action::Settle(Settle::Last)), Cause::Resume)
            }
            Event::Decline { .. } => {
                let action = l.call.decline(&mut self.engine, p, now);
                prop_assert_eq!(action, Ok(Action::Settle(Settle::Last)));
                (Action::Settle(Settle::Last), Cause::Decline)
            }
            Event::Abort { .. } => {
                let action = l.call.abort(&mut self.engine, p, now);
                prop_assert_eq!(action, Ok(Action::Settle(Settle::Aborted)));
                (Action::Settle(Settle::Aborted), Cause::Abort)
            }
        };
        self.handle(l, action, cause)
    }
}

fn run_calls(policy: &Policy, start: u64, plans: &[CallPlan]) -> Result<(), TestCaseError> {
    let mut sim =
        Sim { policy, plans, engine: Engine::with_defaults(policy), now: start, tally: Tally::default() };
    let mut live: Vec<Live> = Vec::new();
    let mut next = 0;
    let mut next_start = start + plans.first().map_or(0, |p| p.gap);
    loop {
        let due = live.iter().enumerate().min_by_key(|(_, l)| l.event.at()).map(|(i, l)| (i, l.event.at()));
        match due {
            Some((i, at)) if next >= plans.len() || at < next_start => {
                prop_assert!(at >= sim.now, "time ran backwards");
                sim.now = at;
                let mut l = live.swap_remove(i);
                if sim.step(&mut l)? {
                    live.push(l);
                }
            }
            _ if next < plans.len() => {
                sim.now = sim.now.max(next_start);
                if let Some(l) = sim.start(next)? {
                    live.push(l);
                }
                next += 1;
                next_start = sim.now + plans.get(next).map_or(0, |p| p.gap);
            }
            _ => break,
        }
        sim.check_shared_state()?;
    }
    let c = &sim.engine.stats.counters;
    prop_assert_eq!(c.calls, plans.len() as u64);
    prop_assert_eq!(c.successes + c.failures, c.calls);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Attempts never exceed maxAttempts; no wait ends past the deadline; backoff waits stay
    /// under maxDelayMs and server waits within their lengthening; every call settles exactly
    /// once; the budget stays within [0, capacity]; the stats match what the driver saw.
    #[test]
    fn calls_keep_their_invariants(
        policy in call_policy(),
        start in 1_600_000_000_000u64..1_900_000_000_000,
        plans in prop::collection::vec(call_plan(), 1..8),
    ) {
        run_calls(&policy, start, &plans)?;
    }
}
