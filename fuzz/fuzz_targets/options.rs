//! Options validation (SPEC 2) on arbitrary option structures: a `createRetryFetch` defaults
//! object, then a per-call `retry` object over the result, each an arbitrary tree of JS-like
//! values under keys that are mostly real option names.
//!
//! Checked against a reference written from the SPEC, independently of `options.rs`:
//! - `apply` accepts exactly when every option is valid, and then the policy is the base with
//!   each given option set (field by field; `breaker` / `budget` objects over the base's);
//! - an error names the first wrong option (`breaker.failureRatio` for a nested one), never an
//!   empty name, and its message is the documented one;
//! - every accepted policy satisfies the validation rules (maxAttempts >= 1, jitter ratio in
//!   (0, 1], finite non-negative numbers, statuses 100..=599, method tokens, …);
//! - `undefined` counts as not set: removing those entries changes nothing.
#![no_main]

use arbitrary::Arbitrary;
use edge_retry::core::options::{self, OptionError, Scope, Value};
use edge_retry::core::policy::{
    BreakerSettings, BudgetSettings, HedgeDelay, HedgeSettings, Jitter, Methods, PacerSettings, Policy, RetryCapSettings,
    StatusSet, StormSettings,
};
use libfuzzer_sys::fuzz_target;

/// Names the fuzzer picks from: every option at every level, and near misses.
const NAMES: &[&str] = &[
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
    "pacer",
    "onRetry",
    "random",
    "fetch",
    "failureRatio",
    "minimumRequests",
    "windowMs",
    "openMs",
    "halfOpenProbes",
    "key",
    "capacity",
    "retryCost",
    "timeoutCost",
    "successRefund",
    "increase",
    "decrease",
    "seedRatio",
    "ratio",
    "",
    "maxattempts",
    "retries",
    "__proto__",
    "constructor",
    "retryCap",
    "storm",
    "onAttempt",
    "onBreaker",
    "onStorm",
    "maxOpenMs",
    "minimumCalls",
    "minimumAttempts",
    "hedge",
    "delayMs",
    "maxHedges",
];

/// Strings the fuzzer picks from: jitter names, methods, near misses.
const STRINGS: &[&str] = &[
    "none",
    "full",
    "equal",
    "decorrelated",
    "Full",
    "ratio",
    "GET",
    "get",
    "post",
    "PATCH",
    "G T",
    "",
    "M-SEARCH",
    "x~y",
    "GET\n",
    "3",
    "é",
    "auto",
    "Auto",
];

/// Numbers the fuzzer picks from: the edges of every rule.
const NUMBERS: &[f64] = &[
    0.0,
    -0.0,
    1.0,
    2.0,
    3.0,
    0.5,
    1.5,
    -1.0,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    99.0,
    100.0,
    408.0,
    503.0,
    599.0,
    600.0,
    639.0,
    640.0,
    65_636.0,
    4_294_967_295.0,
    4_294_967_296.0,
    9_007_199_254_740_993.0,
    18_446_744_073_709_551_615.0,
    1e30,
    1e300,
    5e-324,
    0.999_999_999_999_999_9,
    1.000_000_000_000_000_2,
    f64::MAX,
];

#[derive(Arbitrary, Debug)]
enum Name {
    Known(u8),
    Raw(Vec<u8>),
}

impl Name {
    fn text(&self) -> String {
        match self {
            Name::Known(i) => NAMES[usize::from(*i) % NAMES.len()].to_string(),
            Name::Raw(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Num {
    Known(u8),
    Int(u16),
    Bits(u64),
}

#[derive(Arbitrary, Debug)]
enum Str {
    Known(u8),
    Name(Name),
}

#[derive(Arbitrary, Debug)]
enum Val {
    Undefined,
    Null,
    Bool(bool),
    Num(Num),
    Str(Str),
    List(Vec<Val>),
    Object(Vec<(Name, Val)>),
    Function,
    Other,
}

/// Deeper than any option goes; below this everything is `Other`.
const MAX_DEPTH: usize = 4;

fn value(v: &Val, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::Other;
    }
    match v {
        Val::Undefined => Value::Undefined,
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(*b),
        Val::Num(Num::Known(i)) => Value::Number(NUMBERS[usize::from(*i) % NUMBERS.len()]),
        Val::Num(Num::Int(n)) => Value::Number(f64::from(*n)),
        Val::Num(Num::Bits(bits)) => Value::Number(f64::from_bits(*bits)),
        Val::Str(Str::Known(i)) => Value::Str(STRINGS[usize::from(*i) % STRINGS.len()].to_string()),
        Val::Str(Str::Name(n)) => Value::Str(n.text()),
        Val::List(items) => Value::List(items.iter().map(|i| value(i, depth + 1)).collect()),
        Val::Object(fields) => Value::Object(object(fields, depth + 1)),
        Val::Function => Value::Function,
        Val::Other => Value::Other,
    }
}

/// A JS object's own keys are distinct: the first of a repeated name is kept.
fn object(fields: &[(Name, Val)], depth: usize) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = Vec::new();
    for (name, v) in fields {
        let name = name.text();
        if !out.iter().any(|(k, _)| *k == name) {
            out.push((name, value(v, depth)));
        }
    }
    out
}

#[derive(Arbitrary, Debug)]
struct Input {
    defaults: Vec<(Name, Val)>,
    per_call: Vec<(Name, Val)>,
}

fuzz_target!(|input: Input| {
    let defaults = object(&input.defaults, 1);
    let per_call = object(&input.per_call, 1);
    let base = Policy::default();
    let first = check(&base, &defaults, Scope::Defaults);
    let base = first.unwrap_or(base);
    let _ = check(&base, &per_call, Scope::PerCall);
});

fn check(base: &Policy, opts: &[(String, Value)], scope: Scope) -> Result<Policy, OptionError> {
    let got = options::apply(base, opts, scope);
    let want = reference(base, opts, scope);
    match (&got, &want) {
        (Ok(p), Ok(q)) => {
            assert_eq!(p, q, "options {opts:?}");
            assert_valid(p);
        }
        (Err(e), Err(name)) => {
            // Only an option whose own name is empty ("": 1) gives an empty name.
            assert!(!e.option.is_empty() || opts.iter().any(|(k, _)| k.is_empty()), "unnamed: {e:?}");
            assert!(!e.expected.is_empty());
            assert_eq!(&e.option, name, "options {opts:?}");
            let message = e.message();
            assert_eq!(message, format!("edge-retry: invalid option \"{}\": {}", e.option, e.expected));
        }
        _ => panic!("apply gave {got:?}, the SPEC says {want:?}, for {opts:?} ({scope:?})"),
    }
    // `undefined` counts as not set, at the top level and inside breaker / budget objects.
    let stripped: Vec<(String, Value)> = opts
        .iter()
        .filter(|(_, v)| *v != Value::Undefined)
        .map(|(k, v)| match (k.as_str(), v) {
            ("breaker" | "budget" | "pacer", Value::Object(fields)) => {
                let kept = fields.iter().filter(|(_, v)| *v != Value::Undefined).cloned().collect();
                (k.clone(), Value::Object(kept))
            }
            _ => (k.clone(), v.clone()),
        })
        .collect();
    assert_eq!(options::apply(base, &stripped, scope), got, "undefined entries changed the result");
    got
}

/// The rules every validated policy keeps (SPEC 2, 5, 6).
fn assert_valid(p: &Policy) {
    assert!(p.max_attempts >= 1);
    assert!(p.multiplier.is_finite() && p.multiplier >= 0.0);
    if let Jitter::Ratio(r) = p.jitter {
        assert!(r > 0.0 && r <= 1.0, "jitter ratio {r}");
    }
    assert!((0.0..=1.0).contains(&p.retry_after_jitter));
    for s in (0..100).chain(600..700) {
        assert!(!p.retry_on.contains(s), "status {s} in retryOn");
    }
    for m in p.methods.iter() {
        assert!(is_token(m) && m.bytes().all(|b| !b.is_ascii_lowercase()), "method {m:?}");
    }
    if let Some(b) = &p.breaker {
        assert!(b.failure_ratio > 0.0 && b.failure_ratio <= 1.0);
        assert!(b.minimum_requests >= 1 && b.half_open_probes >= 1);
    }
    if let Some(h) = &p.hedge {
        assert!((1..=3).contains(&h.max_hedges), "maxHedges {}", h.max_hedges);
    }
    if let Some(s) = &p.pacer {
        assert!(s.increase.is_finite() && s.increase >= 1.0);
        assert!(s.decrease > 0.0 && s.decrease <= 1.0);
        assert!(s.seed_ratio.is_finite() && s.seed_ratio > 0.0);
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

// ---------------------------------------------------------------------------------------------
// The reference: SPEC 2's table, read directly.
// ---------------------------------------------------------------------------------------------

/// A JS number that is a whole number (any size: SPEC 2 sets no upper bound; the policy
/// keeps the largest value its field holds).
fn integer(v: &Value, min: f64) -> Option<f64> {
    match v {
        Value::Number(n) if n.is_finite() && n.fract() == 0.0 && *n >= min => Some(*n),
        _ => None,
    }
}

fn non_negative(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) if n.is_finite() && *n >= 0.0 => Some(*n),
        _ => None,
    }
}

fn to_u32(n: f64) -> u32 {
    if n >= 4_294_967_295.0 { u32::MAX } else { n as u32 }
}

fn to_u64(n: f64) -> u64 {
    // Whole milliseconds, rounded down; past u64 range the largest.
    if n >= 18_446_744_073_709_551_615.0 { u64::MAX } else { n.floor() as u64 }
}

/// The expected policy, or the name of the first wrong option.
fn reference(base: &Policy, opts: &[(String, Value)], scope: Scope) -> Result<Policy, String> {
    let mut p = base.clone();
    for (key, v) in opts {
        if *v == Value::Undefined {
            continue;
        }
        let wrong = || Err(key.clone());
        match key.as_str() {
            "maxAttempts" => match integer(v, 1.0) {
                Some(n) => p.max_attempts = to_u32(n),
                None => return wrong(),
            },
            "baseDelayMs" | "maxDelayMs" | "maxRetryAfterMs" | "timeoutMs" | "attemptTimeoutMs" => {
                let Some(n) = non_negative(v) else { return wrong() };
                let ms = to_u64(n);
                match key.as_str() {
                    "baseDelayMs" => p.base_delay_ms = ms,
                    "maxDelayMs" => p.max_delay_ms = ms,
                    "maxRetryAfterMs" => p.max_retry_after_ms = ms,
                    "timeoutMs" => p.timeout_ms = Some(ms),
                    _ => p.attempt_timeout_ms = Some(ms),
                }
            }
            "multiplier" => match non_negative(v) {
                Some(n) => p.multiplier = n,
                None => return wrong(),
            },
            "jitter" => {
                p.jitter = match v {
                    Value::Str(s) if s == "none" => Jitter::None,
                    Value::Str(s) if s == "full" => Jitter::Full,
                    Value::Str(s) if s == "equal" => Jitter::Equal,
                    Value::Str(s) if s == "decorrelated" => Jitter::Decorrelated,
                    Value::Object(fields) => match fields.as_slice() {
                        [(k, Value::Number(r))] if k == "ratio" && *r > 0.0 && *r <= 1.0 => Jitter::Ratio(*r),
                        _ => return wrong(),
                    },
                    _ => return wrong(),
                }
            }
            "retryOn" => {
                let Value::List(items) = v else { return wrong() };
                let mut set = StatusSet::empty();
                for item in items {
                    match integer(item, 100.0) {
                        Some(s) if s <= 599.0 => set.insert(s as u16),
                        _ => return wrong(),
                    }
                }
                p.retry_on = set;
            }
            "methods" => {
                let Value::List(items) = v else { return wrong() };
                let mut methods = Methods::new();
                for item in items {
                    match item {
                        Value::Str(s) if is_token(s) => methods.push(s),
                        _ => return wrong(),
                    }
                }
                p.methods = methods;
            }
            "respectRetryAfter" => match v {
                Value::Bool(b) => p.respect_retry_after = *b,
                _ => return wrong(),
            },
            "retryAfterJitter" => match v {
                Value::Number(r) if (0.0..=1.0).contains(r) => p.retry_after_jitter = *r,
                _ => return wrong(),
            },
            "maxReplayBytes" => match integer(v, 0.0) {
                Some(n) => p.max_replay_bytes = to_u64(n),
                None => return wrong(),
            },
            "breaker" => p.breaker = reference_breaker(v, base.breaker)?,
            "budget" => p.budget = reference_budget(v, base.budget)?,
            "pacer" => p.pacer = reference_pacer(v, base.pacer)?,
            "retryCap" => p.retry_cap = reference_retry_cap(v, base.retry_cap)?,
            "hedge" => p.hedge = reference_hedge(v, base.hedge)?,
            "storm" if scope == Scope::Defaults => p.storm = reference_storm(v, base.storm)?,
            "shouldRetry" | "onRetry" | "onAttempt" | "random" => {
                if *v != Value::Function {
                    return wrong();
                }
            }
            "fetch" | "onBreaker" | "onStorm" if scope == Scope::Defaults => {
                if *v != Value::Function {
                    return wrong();
                }
            }
            _ => return wrong(),
        }
    }
    // Options that set `budget` and say nothing of `retryCap` get SPEC 6's bucket alone.
    let set = |name: &str| opts.iter().any(|(k, v)| k == name && *v != Value::Undefined);
    if set("budget") && !set("retryCap") {
        p.retry_cap = None;
    }
    Ok(p)
}

/// `{ ratio in [0, 1], windowMs >= 0, <count> integer >= 1 }`, or true/false: the shape the
/// retry cap and storm detection share.
fn reference_ratio_window_count(
    v: &Value,
    name: &str,
    count: &str,
    base: (f64, u64, u32),
) -> Result<Option<(f64, u64, u32)>, String> {
    let fields = match v {
        Value::Bool(false) => return Ok(None),
        Value::Bool(true) => return Ok(Some(base)),
        Value::Object(fields) => fields,
        _ => return Err(String::from(name)),
    };
    let (mut ratio, mut window, mut n) = base;
    for (key, v) in fields {
        if *v == Value::Undefined {
            continue;
        }
        let ok = match (key.as_str(), v) {
            ("ratio", Value::Number(r)) if (0.0..=1.0).contains(r) => {
                ratio = *r;
                true
            }
            ("windowMs", _) => non_negative(v).map(|w| window = to_u64(w)).is_some(),
            (k, _) if k == count => integer(v, 1.0).map(|c| n = to_u32(c)).is_some(),
            _ => false,
        };
        if !ok {
            return Err(format!("{name}.{key}"));
        }
    }
    Ok(Some((ratio, window, n)))
}

fn reference_retry_cap(v: &Value, base: Option<RetryCapSettings>) -> Result<Option<RetryCapSettings>, String> {
    let b = base.unwrap_or_default();
    let got = reference_ratio_window_count(v, "retryCap", "minimumCalls", (b.ratio, b.window_ms, b.minimum_calls))?;
    Ok(got.map(|(ratio, window_ms, minimum_calls)| RetryCapSettings { ratio, window_ms, minimum_calls }))
}

fn reference_storm(v: &Value, base: Option<StormSettings>) -> Result<Option<StormSettings>, String> {
    let b = base.unwrap_or_default();
    let got = reference_ratio_window_count(v, "storm", "minimumAttempts", (b.ratio, b.window_ms, b.minimum_attempts))?;
    Ok(got.map(|(ratio, window_ms, minimum_attempts)| StormSettings { ratio, window_ms, minimum_attempts }))
}

fn reference_breaker(v: &Value, base: Option<BreakerSettings>) -> Result<Option<BreakerSettings>, String> {
    let fields = match v {
        Value::Bool(false) => return Ok(None),
        Value::Bool(true) => return Ok(Some(base.unwrap_or_default())),
        Value::Object(fields) => fields,
        _ => return Err(String::from("breaker")),
    };
    let mut s = base.unwrap_or_default();
    for (key, v) in fields {
        if *v == Value::Undefined {
            continue;
        }
        let ok = match (key.as_str(), v) {
            ("failureRatio", Value::Number(r)) if *r > 0.0 && *r <= 1.0 => {
                s.failure_ratio = *r;
                true
            }
            ("minimumRequests" | "halfOpenProbes", _) => match integer(v, 1.0) {
                Some(n) if key == "minimumRequests" => {
                    s.minimum_requests = to_u32(n);
                    true
                }
                Some(n) => {
                    s.half_open_probes = to_u32(n);
                    true
                }
                None => false,
            },
            ("windowMs" | "openMs" | "maxOpenMs", _) => match non_negative(v) {
                Some(n) if key == "windowMs" => {
                    s.window_ms = to_u64(n);
                    true
                }
                Some(n) if key == "openMs" => {
                    s.open_ms = to_u64(n);
                    true
                }
                Some(n) => {
                    s.max_open_ms = to_u64(n);
                    true
                }
                None => false,
            },
            ("key", Value::Function) => true,
            _ => false,
        };
        if !ok {
            return Err(format!("breaker.{key}"));
        }
    }
    Ok(Some(s))
}

fn reference_budget(v: &Value, base: Option<BudgetSettings>) -> Result<Option<BudgetSettings>, String> {
    let fields = match v {
        Value::Bool(false) => return Ok(None),
        Value::Bool(true) => return Ok(Some(base.unwrap_or_default())),
        Value::Object(fields) => fields,
        _ => return Err(String::from("budget")),
    };
    let mut s = base.unwrap_or_default();
    for (key, v) in fields {
        if *v == Value::Undefined {
            continue;
        }
        let Some(n) = integer(v, 0.0) else { return Err(format!("budget.{key}")) };
        let n = to_u32(n);
        match key.as_str() {
            "capacity" => s.capacity = n,
            "retryCost" => s.retry_cost = n,
            "timeoutCost" => s.timeout_cost = n,
            "successRefund" => s.success_refund = n,
            _ => return Err(format!("budget.{key}")),
        }
    }
    Ok(Some(s))
}

/// SPEC 9: `false`, `true` (delayMs "auto", maxHedges 1), or `{ delayMs: number >= 0 |
/// "auto", maxHedges: integer 1..=3 }` over the base's.
fn reference_hedge(v: &Value, base: Option<HedgeSettings>) -> Result<Option<HedgeSettings>, String> {
    let fields = match v {
        Value::Bool(false) => return Ok(None),
        Value::Bool(true) => return Ok(Some(base.unwrap_or(HedgeSettings { delay: HedgeDelay::Auto, max_hedges: 1 }))),
        Value::Object(fields) => fields,
        _ => return Err(String::from("hedge")),
    };
    let mut s = base.unwrap_or(HedgeSettings { delay: HedgeDelay::Auto, max_hedges: 1 });
    for (key, v) in fields {
        if *v == Value::Undefined {
            continue;
        }
        let ok = match (key.as_str(), v) {
            ("delayMs", Value::Str(a)) if a == "auto" => {
                s.delay = HedgeDelay::Auto;
                true
            }
            ("delayMs", _) => non_negative(v).map(|n| s.delay = HedgeDelay::Fixed(to_u64(n))).is_some(),
            ("maxHedges", _) => match integer(v, 1.0) {
                Some(n) if n <= 3.0 => {
                    s.max_hedges = n as u32;
                    true
                }
                _ => false,
            },
            _ => false,
        };
        if !ok {
            return Err(format!("hedge.{key}"));
        }
    }
    Ok(Some(s))
}

fn reference_pacer(v: &Value, base: Option<PacerSettings>) -> Result<Option<PacerSettings>, String> {
    let fields = match v {
        Value::Bool(false) => return Ok(None),
        Value::Bool(true) => return Ok(Some(base.unwrap_or_default())),
        Value::Object(fields) => fields,
        _ => return Err(String::from("pacer")),
    };
    let mut s = base.unwrap_or_default();
    for (key, v) in fields {
        if *v == Value::Undefined {
            continue;
        }
        let ok = match (key.as_str(), v) {
            ("increase", Value::Number(n)) if n.is_finite() && *n >= 1.0 => {
                s.increase = *n;
                true
            }
            ("decrease", Value::Number(n)) if *n > 0.0 && *n <= 1.0 => {
                s.decrease = *n;
                true
            }
            ("seedRatio", Value::Number(n)) if n.is_finite() && *n > 0.0 => {
                s.seed_ratio = *n;
                true
            }
            _ => false,
        };
        if !ok {
            return Err(format!("pacer.{key}"));
        }
    }
    Ok(Some(s))
}
