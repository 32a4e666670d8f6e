//! Options validation (SPEC 2). The driver hands a JS options object over as option bytes
//! ([`super::option_bytes`]); this module checks every key, reading the bytes in place, and
//! applies it over a base [`Policy`]. Errors name the option.

use alloc::string::String;
use alloc::vec::Vec;

use super::hedge::{HedgeDelay, MAX_HEDGES};
use super::option_bytes::{self, Fields, Item};
use super::policy::{Jitter, Methods, Policy, StatusSet};

/// A JS value, as far as validation needs to know it: how a Rust caller gives options
/// ([`apply`], [`apply_value`]); they are checked as the option bytes it encodes to.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Undefined,
    Null,
    Bool(bool),
    Number(f64),
    Str(String),
    List(Vec<Value>),
    Object(Vec<(String, Value)>),
    Function,
    /// Anything else (symbol, bigint, …), or a value whose reading threw.
    Other,
}

/// Which option is wrong, and what it must be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionError {
    /// `maxAttempts`, or `breaker.failureRatio` for a nested one.
    pub option: String,
    pub expected: &'static str,
}

impl OptionError {
    pub fn new(option: &str, expected: &'static str) -> Self {
        OptionError { option: String::from(option), expected }
    }

    fn nested(parent: &str, child: OptionError) -> Self {
        let mut option = String::from(parent);
        option.push('.');
        option.push_str(&child.option);
        OptionError { option, expected: child.expected }
    }

    /// `edge-retry: invalid option "maxAttempts": must be an integer >= 1`
    pub fn message(&self) -> String {
        let mut m = String::from("edge-retry: invalid option \"");
        m.push_str(&self.option);
        m.push_str("\": ");
        m.push_str(self.expected);
        m
    }
}

/// Where options are given: `createRetryFetch` also takes `fetch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Defaults,
    PerCall,
}

type Check<T> = Result<T, &'static str>;

fn number(v: Item) -> Check<f64> {
    match v {
        Item::Number(n) if n.is_finite() && n >= 0.0 => Ok(n),
        _ => Err("must be a finite number >= 0"),
    }
}

/// Every f64 from 2^53 up is a whole number. (Found by fuzzing: `n == (n as u64) as f64` alone
/// refused whole numbers past 2^64, such as `maxAttempts: 1e300`, as "not an integer", while
/// 2^64 itself was taken; `as` saturates, so any of them now gives the field's largest value.)
const ALL_WHOLE_FROM: f64 = 9_007_199_254_740_992.0;

fn whole(v: Item, min: f64, expected: &'static str) -> Check<u64> {
    match v {
        Item::Number(n) if n.is_finite() && n >= min && (n >= ALL_WHOLE_FROM || n == (n as u64) as f64) => {
            Ok(n as u64)
        }
        _ => Err(expected),
    }
}

fn boolean(v: Item) -> Check<bool> {
    match v {
        Item::Bool(b) => Ok(b),
        _ => Err("must be true or false"),
    }
}

fn function(v: Item) -> Check<()> {
    match v {
        Item::Function => Ok(()),
        _ => Err("must be a function"),
    }
}

fn ratio_in(v: Item, zero_allowed: bool, expected: &'static str) -> Check<f64> {
    match v {
        Item::Number(n) if n.is_finite() && n <= 1.0 && (n > 0.0 || (zero_allowed && n == 0.0)) => Ok(n),
        _ => Err(expected),
    }
}

fn jitter(v: Item) -> Check<Jitter> {
    const EXPECTED: &str =
        "must be \"none\", \"full\", \"equal\", \"decorrelated\" or { ratio } with 0 < ratio <= 1";
    match v {
        Item::Str(s) => match s {
            "none" => Ok(Jitter::None),
            "full" => Ok(Jitter::Full),
            "equal" => Ok(Jitter::Equal),
            "decorrelated" => Ok(Jitter::Decorrelated),
            _ => Err(EXPECTED),
        },
        Item::Object(mut fields) => match (fields.next(), fields.next()) {
            (Some(("ratio", value)), None) => ratio_in(value, false, EXPECTED).map(Jitter::Ratio),
            _ => Err(EXPECTED),
        },
        _ => Err(EXPECTED),
    }
}

fn statuses(v: Item) -> Check<StatusSet> {
    const EXPECTED: &str = "must be an array of integer statuses from 100 to 599";
    let Item::List(items) = v else { return Err(EXPECTED) };
    let mut set = StatusSet::empty();
    for item in items {
        let status = whole(item, 100.0, EXPECTED)?;
        set.insert(u16::try_from(status).ok().filter(|s| *s <= 599).ok_or(EXPECTED)?);
    }
    Ok(set)
}

/// (A `matches!`, not a byte slice's `contains`, which links a 380-byte memchr.)
fn is_token(s: &str) -> bool {
    let symbol =
        |b| matches!(b, b'!' | b'#'..=b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~');
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || symbol(b))
}

fn methods(v: Item) -> Check<Methods> {
    const EXPECTED: &str = "must be an array of HTTP method names";
    let Item::List(items) = v else { return Err(EXPECTED) };
    let mut methods = Methods::new();
    for item in items {
        match item {
            Item::Str(s) if is_token(s) => methods.push(s),
            _ => return Err(EXPECTED),
        }
    }
    Ok(methods)
}

fn fields<'a>(v: Item<'a>, expected: &'static str) -> Check<Fields<'a>> {
    match v {
        Item::Object(fields) => Ok(fields),
        _ => Err(expected),
    }
}

/// How one field of a settings object (`breaker`, `budget`, `pacer`, `storm`, `retryCap`) is
/// checked. One table-driven reader serves all five objects: five hand-written readers cost
/// about 3 KB of wasm.
#[derive(Clone, Copy)]
enum Rule {
    /// A finite number >= 0 (a duration in ms).
    Millis,
    /// An integer >= 0.
    Count0,
    /// An integer >= 1.
    Count1,
    /// A number in (0, 1].
    Ratio,
    /// A number in [0, 1].
    RatioOrZero,
    /// A finite number >= 1.
    AtLeastOne,
    /// A finite number > 0.
    Positive,
    /// A function (read by the driver, not stored here).
    Function,
    /// A finite number >= 0, or "auto" (read as [`AUTO`]).
    DelayOrAuto,
    /// An integer from 1 to [`MAX_HEDGES`].
    Hedges,
}

/// How [`Rule::DelayOrAuto`] reads "auto": no number it takes is negative.
const AUTO: f64 = -1.0;

impl Rule {
    /// The value as a number, or what it must be.
    fn check(self, v: Item) -> Check<f64> {
        let n = match v {
            Item::Number(n) => n,
            _ => f64::NAN,
        };
        let (ok, expected) = match self {
            Rule::Millis => return number(v),
            Rule::Count0 => return whole(v, 0.0, "must be an integer >= 0").map(|n| n as f64),
            Rule::Count1 => return whole(v, 1.0, "must be an integer >= 1").map(|n| n as f64),
            Rule::Ratio => (n > 0.0 && n <= 1.0, "must be a number in (0, 1]"),
            Rule::RatioOrZero => ((0.0..=1.0).contains(&n), "must be a number in [0, 1]"),
            Rule::AtLeastOne => (n.is_finite() && n >= 1.0, "must be a finite number >= 1"),
            Rule::Positive => (n.is_finite() && n > 0.0, "must be a finite number > 0"),
            Rule::Function => return function(v).map(|()| 0.0),
            Rule::DelayOrAuto if v == Item::Str("auto") => return Ok(AUTO),
            Rule::DelayOrAuto => {
                return number(v).map_err(|_| "must be a finite number >= 0 or \"auto\"");
            }
            Rule::Hedges => (
                whole(v, 1.0, "").is_ok_and(|n| n <= u64::from(MAX_HEDGES)),
                "must be an integer from 1 to 3",
            ),
        };
        if ok { Ok(n) } else { Err(expected) }
    }
}

/// A settings object's shape: its option name, what it must be, the error for a key it does
/// not have, its fields, how it is turned on (the base's settings, else the defaults) or off,
/// and where its field number `i` goes. The numbers go straight into the policy: no array of
/// values to fill and convert back per kind of settings (0.5 KB of wasm).
struct Shape {
    name: &'static str,
    expected: &'static str,
    unknown: &'static str,
    fields: &'static [(&'static str, Rule)],
    switch: fn(&mut Policy, &Policy, bool),
    set: fn(&mut Policy, usize, f64),
}

/// Reads `false` (off), `true` (on: the base's settings, or the defaults) or an object of
/// fields over those. One copy of this code serves every shape.
fn settings(v: Item, shape: &Shape, p: &mut Policy, base: &Policy) -> Result<(), OptionError> {
    if let Item::Bool(on) = v {
        (shape.switch)(p, base, on);
        return Ok(());
    }
    let fields = fields(v, shape.expected).map_err(|e| OptionError::new(shape.name, e))?;
    (shape.switch)(p, base, true);
    for (key, value) in fields {
        if matches!(value, Item::Undefined) {
            continue;
        }
        let checked = match shape.fields.iter().enumerate().find(|(_, (name, _))| *name == key) {
            Some((_, (_, Rule::Function))) => Rule::Function.check(value).map(|_| ()),
            Some((i, (_, rule))) => rule.check(value).map(|n| (shape.set)(p, i, n)),
            None => Err(shape.unknown),
        };
        checked.map_err(|e| OptionError::nested(shape.name, OptionError::new(key, e)))?;
    }
    Ok(())
}

/// A whole number read by [`settings`] (already checked, so only saturation is left).
fn to_u32(n: f64) -> u32 {
    n as u32
}

const BREAKER: Shape = Shape {
    name: "breaker",
    expected: "must be false, true or an object of breaker settings",
    unknown: "is not a breaker setting",
    fields: &[
        ("failureRatio", Rule::Ratio),
        ("minimumRequests", Rule::Count1),
        ("windowMs", Rule::Millis),
        ("openMs", Rule::Millis),
        ("maxOpenMs", Rule::Millis),
        ("halfOpenProbes", Rule::Count1),
        ("key", Rule::Function),
    ],
    switch: |p, base, on| p.breaker = on.then(|| base.breaker.unwrap_or_default()),
    set: |p, i, n| {
        let Some(s) = &mut p.breaker else { return };
        match i {
            0 => s.failure_ratio = n,
            1 => s.minimum_requests = to_u32(n),
            2 => s.window_ms = n as u64,
            3 => s.open_ms = n as u64,
            4 => s.max_open_ms = n as u64,
            _ => s.half_open_probes = to_u32(n),
        }
    },
};

const BUDGET: Shape = Shape {
    name: "budget",
    expected: "must be false, true or an object of budget settings",
    unknown: "is not a budget setting",
    fields: &[
        ("capacity", Rule::Count0),
        ("retryCost", Rule::Count0),
        ("timeoutCost", Rule::Count0),
        ("successRefund", Rule::Count0),
    ],
    switch: |p, base, on| p.budget = on.then(|| base.budget.unwrap_or_default()),
    set: |p, i, n| {
        let Some(s) = &mut p.budget else { return };
        match i {
            0 => s.capacity = to_u32(n),
            1 => s.retry_cost = to_u32(n),
            2 => s.timeout_cost = to_u32(n),
            _ => s.success_refund = to_u32(n),
        }
    },
};

const PACER: Shape = Shape {
    name: "pacer",
    expected: "must be false, true or an object of pacer settings",
    unknown: "is not a pacer setting",
    fields: &[("increase", Rule::AtLeastOne), ("decrease", Rule::Ratio), ("seedRatio", Rule::Positive)],
    switch: |p, base, on| p.pacer = on.then(|| base.pacer.unwrap_or_default()),
    set: |p, i, n| {
        let Some(s) = &mut p.pacer else { return };
        match i {
            0 => s.increase = n,
            1 => s.decrease = n,
            _ => s.seed_ratio = n,
        }
    },
};

const STORM: Shape = Shape {
    name: "storm",
    expected: "must be false, true or an object of storm settings",
    unknown: "is not a storm setting",
    fields: &[("ratio", Rule::RatioOrZero), ("windowMs", Rule::Millis), ("minimumAttempts", Rule::Count1)],
    switch: |p, base, on| p.storm = on.then(|| base.storm.unwrap_or_default()),
    set: |p, i, n| {
        if let Some(s) = &mut p.storm {
            set_ratio_window_minimum((&mut s.ratio, &mut s.window_ms, &mut s.minimum_attempts), i, n);
        }
    },
};

/// Field `i` of settings made of a ratio, a window in ms and a minimum count (storm, retry cap).
fn set_ratio_window_minimum((ratio, window_ms, minimum): (&mut f64, &mut u64, &mut u32), i: usize, n: f64) {
    match i {
        0 => *ratio = n,
        1 => *window_ms = n as u64,
        _ => *minimum = to_u32(n),
    }
}

const RETRY_CAP: Shape = Shape {
    name: "retryCap",
    expected: "must be false, true or an object of retry cap settings",
    unknown: "is not a retry cap setting",
    fields: &[("ratio", Rule::RatioOrZero), ("windowMs", Rule::Millis), ("minimumCalls", Rule::Count1)],
    switch: |p, base, on| p.retry_cap = on.then(|| base.retry_cap.unwrap_or_default()),
    set: |p, i, n| {
        if let Some(s) = &mut p.retry_cap {
            set_ratio_window_minimum((&mut s.ratio, &mut s.window_ms, &mut s.minimum_calls), i, n);
        }
    },
};

/// `hedge: false | true | { delayMs: number | "auto", maxHedges: 1..3 }` (SPEC 9) over the
/// base's; unset fields are "auto" and 1.
const HEDGE: Shape = Shape {
    name: "hedge",
    expected: "must be false, true or an object { delayMs, maxHedges }",
    unknown: "is not a hedge setting",
    fields: &[("delayMs", Rule::DelayOrAuto), ("maxHedges", Rule::Hedges)],
    switch: |p, base, on| p.hedge = on.then(|| base.hedge.unwrap_or_default()),
    set: |p, i, n| {
        let Some(s) = &mut p.hedge else { return };
        match i {
            0 if n == AUTO => s.delay = HedgeDelay::Auto,
            0 => s.delay = HedgeDelay::Fixed(n as u64),
            _ => s.max_hedges = to_u32(n),
        }
    },
};

/// How a top-level option is read.
#[derive(Clone, Copy)]
enum Opt {
    /// One number, stored by [`set_scalar`] by its place in [`OPTIONS`].
    Number(Rule),
    Jitter,
    Statuses,
    Methods,
    Boolean,
    /// A settings object.
    Settings(&'static Shape),
    /// An instance's settings object: `createRetryFetch`'s options only.
    InstanceSettings(&'static Shape),
    Function,
    /// A function of `createRetryFetch`'s options only.
    DefaultsFunction,
}

/// Every top-level option, the numbers first (in [`set_scalar`]'s order): one table looked up
/// with one loop, rather than a `match` comparing the names each in turn.
const OPTIONS: &[(&str, Opt)] = &[
    ("maxAttempts", Opt::Number(Rule::Count1)),
    ("baseDelayMs", Opt::Number(Rule::Millis)),
    ("maxDelayMs", Opt::Number(Rule::Millis)),
    ("multiplier", Opt::Number(Rule::Millis)),
    ("maxRetryAfterMs", Opt::Number(Rule::Millis)),
    ("retryAfterJitter", Opt::Number(Rule::RatioOrZero)),
    ("maxReplayBytes", Opt::Number(Rule::Count0)),
    ("timeoutMs", Opt::Number(Rule::Millis)),
    ("attemptTimeoutMs", Opt::Number(Rule::Millis)),
    ("jitter", Opt::Jitter),
    ("retryOn", Opt::Statuses),
    ("methods", Opt::Methods),
    ("respectRetryAfter", Opt::Boolean),
    ("breaker", Opt::Settings(&BREAKER)),
    ("budget", Opt::Settings(&BUDGET)),
    ("pacer", Opt::Settings(&PACER)),
    ("retryCap", Opt::Settings(&RETRY_CAP)),
    ("hedge", Opt::Settings(&HEDGE)),
    ("storm", Opt::InstanceSettings(&STORM)),
    ("shouldRetry", Opt::Function),
    ("onRetry", Opt::Function),
    ("onAttempt", Opt::Function),
    ("random", Opt::Function),
    ("fetch", Opt::DefaultsFunction),
    ("onBreaker", Opt::DefaultsFunction),
    ("onStorm", Opt::DefaultsFunction),
];

/// Stores the checked number `n` of `OPTIONS[index]` (whole numbers saturate, as `as` does).
fn set_scalar(p: &mut Policy, index: usize, n: f64) {
    match index {
        0 => p.max_attempts = to_u32(n),
        1 => p.base_delay_ms = n as u64,
        2 => p.max_delay_ms = n as u64,
        3 => p.multiplier = n,
        4 => p.max_retry_after_ms = n as u64,
        5 => p.retry_after_jitter = n,
        6 => p.max_replay_bytes = n as u64,
        7 => p.timeout_ms = Some(n as u64),
        _ => p.attempt_timeout_ms = Some(n as u64),
    }
}

/// Applies `options` (a JS object's own keys and values) over `base`, field by field.
/// `undefined` counts as not set. The first wrong option is the error.
pub fn apply(base: &Policy, options: &[(String, Value)], scope: Scope) -> Result<Policy, OptionError> {
    apply_value(base, &Value::Object(options.to_vec()), scope)
}

/// [`apply`] over an object's fields as option bytes hold them.
fn apply_fields(base: &Policy, options: Fields, scope: Scope) -> Result<Policy, OptionError> {
    let mut p = base.clone();
    for (name, value) in options {
        if matches!(value, Item::Undefined) {
            continue;
        }
        let found = OPTIONS.iter().enumerate().find(|(_, (k, _))| *k == name);
        let defaults = scope == Scope::Defaults;
        let checked = match found.map(|(index, (_, opt))| (index, *opt)) {
            Some((index, Opt::Number(rule))) => rule.check(value).map(|n| set_scalar(&mut p, index, n)),
            Some((_, Opt::Jitter)) => jitter(value).map(|j| p.jitter = j),
            Some((_, Opt::Statuses)) => statuses(value).map(|s| p.retry_on = s),
            Some((_, Opt::Methods)) => methods(value).map(|m| p.methods = m),
            Some((_, Opt::Boolean)) => boolean(value).map(|b| p.respect_retry_after = b),
            Some((_, Opt::Settings(shape))) => {
                settings(value, shape, &mut p, base)?;
                Ok(())
            }
            Some((_, Opt::InstanceSettings(shape))) if defaults => {
                settings(value, shape, &mut p, base)?;
                Ok(())
            }
            Some((_, Opt::Function)) => function(value),
            Some((_, Opt::DefaultsFunction)) if defaults => function(value),
            _ => Err("is not a retry option"),
        };
        checked.map_err(|e| OptionError::new(name, e))?;
    }
    // The retry cap belongs to the default budget: options that set `budget` and say nothing
    // of `retryCap` get exactly the bucket of SPEC 6 (see `super::retry_cap`).
    let set = |name: &str| {
        let mut fields = options;
        fields.any(|(k, v)| k == name && !matches!(v, Item::Undefined))
    };
    if set("budget") && !set("retryCap") {
        p.retry_cap = None;
    }
    Ok(p)
}

/// Applies a whole options value over `base`: `undefined` leaves everything as it was;
/// anything but an object is refused, named as the options object itself (`defaults` or
/// `retry`).
pub fn apply_value(base: &Policy, value: &Value, scope: Scope) -> Result<Policy, OptionError> {
    apply_bytes(base, &option_bytes::encode(value), scope)
}

/// [`apply_value`] for a value as option bytes (how the JS side hands it over).
pub fn apply_bytes(base: &Policy, bytes: &[u8], scope: Scope) -> Result<Policy, OptionError> {
    match option_bytes::decode(bytes) {
        Some(Item::Undefined) => Ok(base.clone()),
        Some(Item::Object(fields)) => apply_fields(base, fields, scope),
        Some(_) => {
            let name = if scope == Scope::Defaults { "defaults" } else { "retry" };
            Err(OptionError::new(name, "must be an options object"))
        }
        None => Err(OptionError::new("retry", "could not be read (an edge-retry bug)")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::policy::{PacerSettings, StormSettings};
    use super::*;
    use alloc::vec;

    #[test]
    fn a_whole_value_must_be_an_object() {
        let base = Policy::default();
        assert_eq!(apply_value(&base, &Value::Undefined, Scope::PerCall), Ok(base.clone()));
        let e = apply_value(&base, &Value::Str(String::from("fast")), Scope::PerCall);
        assert_eq!(e.map_err(|e| e.option), Err(String::from("retry")));
        let e = apply_value(&base, &Value::List(vec![]), Scope::Defaults);
        assert_eq!(e.map_err(|e| e.option), Err(String::from("defaults")));
    }

    fn opt(key: &str, value: Value) -> Vec<(String, Value)> {
        vec![(String::from(key), value)]
    }

    fn err(key: &str, value: Value) -> String {
        match apply(&Policy::default(), &opt(key, value), Scope::PerCall) {
            Err(e) => e.option,
            Ok(_) => String::from("(accepted)"),
        }
    }

    #[test]
    fn valid_options_are_applied_field_by_field() {
        let options = vec![
            (String::from("maxAttempts"), Value::Number(5.0)),
            (String::from("jitter"), Value::Object(vec![(String::from("ratio"), Value::Number(0.2))])),
            (String::from("methods"), Value::List(vec![Value::Str(String::from("post"))])),
            (String::from("timeoutMs"), Value::Undefined),
            (String::from("breaker"), Value::Object(vec![(String::from("openMs"), Value::Number(5.0))])),
        ];
        let p = apply(&Policy::default(), &options, Scope::PerCall).unwrap_or_default();
        assert_eq!(p.max_attempts, 5);
        assert_eq!(p.jitter, Jitter::Ratio(0.2));
        assert_eq!(p.methods.iter().collect::<Vec<_>>(), ["POST"]);
        assert_eq!(p.timeout_ms, None);
        let b = p.breaker.unwrap_or_default();
        assert_eq!((b.open_ms, b.minimum_requests), (5, 10));
        assert_eq!(p.base_delay_ms, 100);
    }

    #[test]
    fn every_kind_of_wrong_value_names_its_option() {
        assert_eq!(err("maxAttempts", Value::Number(0.0)), "maxAttempts");
        assert_eq!(err("maxAttempts", Value::Number(2.5)), "maxAttempts");
        assert_eq!(err("maxAttempts", Value::Str(String::from("3"))), "maxAttempts");
        assert_eq!(err("baseDelayMs", Value::Number(-1.0)), "baseDelayMs");
        assert_eq!(err("maxDelayMs", Value::Number(f64::INFINITY)), "maxDelayMs");
        assert_eq!(err("multiplier", Value::Number(f64::NAN)), "multiplier");
        assert_eq!(err("jitter", Value::Str(String::from("lots"))), "jitter");
        assert_eq!(err("jitter", Value::Object(opt("ratio", Value::Number(1.5)))), "jitter");
        assert_eq!(err("jitter", Value::Object(opt("ratio", Value::Number(0.0)))), "jitter");
        assert_eq!(err("retryOn", Value::List(vec![Value::Number(99.0)])), "retryOn");
        assert_eq!(err("methods", Value::List(vec![Value::Str(String::from("G T"))])), "methods");
        assert_eq!(err("respectRetryAfter", Value::Number(1.0)), "respectRetryAfter");
        assert_eq!(err("retryAfterJitter", Value::Number(2.0)), "retryAfterJitter");
        assert_eq!(err("maxReplayBytes", Value::Number(1.5)), "maxReplayBytes");
        assert_eq!(err("shouldRetry", Value::Bool(true)), "shouldRetry");
        assert_eq!(
            err("breaker", Value::Object(opt("failureRatio", Value::Number(0.0)))),
            "breaker.failureRatio"
        );
        assert_eq!(err("breaker", Value::Object(opt("colour", Value::Number(1.0)))), "breaker.colour");
        assert_eq!(err("budget", Value::Number(3.0)), "budget");
        assert_eq!(err("budget", Value::Object(opt("capacity", Value::Number(-5.0)))), "budget.capacity");
        assert_eq!(err("retries", Value::Number(3.0)), "retries");
        assert_eq!(err("fetch", Value::Function), "fetch");
        assert_eq!(err("pacer", Value::Number(1.0)), "pacer");
        assert_eq!(err("pacer", Value::Object(opt("increase", Value::Number(0.5)))), "pacer.increase");
        assert_eq!(err("pacer", Value::Object(opt("decrease", Value::Number(0.0)))), "pacer.decrease");
        assert_eq!(err("pacer", Value::Object(opt("rate", Value::Number(1.0)))), "pacer.rate");
        assert_eq!(err("__proto__", Value::Object(vec![])), "__proto__");
        assert_eq!(err("onBreaker", Value::Function), "onBreaker");
        assert_eq!(err("storm", Value::Bool(false)), "storm");
        assert_eq!(err("onAttempt", Value::Number(1.0)), "onAttempt");
        assert_eq!(err("breaker", Value::Object(opt("maxOpenMs", Value::Number(-1.0)))), "breaker.maxOpenMs");
    }

    #[test]
    fn fetch_is_a_default_only_option_and_false_turns_parts_off() {
        let defaults = apply(&Policy::default(), &opt("fetch", Value::Function), Scope::Defaults);
        assert!(defaults.is_ok());
        let off = apply(&Policy::default(), &opt("breaker", Value::Bool(false)), Scope::PerCall);
        assert_eq!(off.map(|p| p.breaker), Ok(None));
        let paced = apply(&Policy::default(), &opt("pacer", Value::Bool(true)), Scope::PerCall);
        assert_eq!(paced.map(|p| p.pacer), Ok(Some(PacerSettings::default())));
    }

    #[test]
    fn storm_and_the_event_callbacks_are_instance_options() {
        let storm = Value::Object(vec![
            (String::from("ratio"), Value::Number(0.2)),
            (String::from("minimumAttempts"), Value::Number(5.0)),
        ]);
        let p = apply(&Policy::default(), &opt("storm", storm), Scope::Defaults);
        let want = StormSettings { ratio: 0.2, minimum_attempts: 5, ..StormSettings::default() };
        assert_eq!(p.map(|p| p.storm), Ok(Some(want)));
        let off = apply(&Policy::default(), &opt("storm", Value::Bool(false)), Scope::Defaults);
        assert_eq!(off.map(|p| p.storm), Ok(None));
        let bad = Value::Object(opt("ratio", Value::Number(2.0)));
        let e = apply(&Policy::default(), &opt("storm", bad), Scope::Defaults).map_err(|e| e.option);
        assert_eq!(e, Err(String::from("storm.ratio")));
        for name in ["onBreaker", "onStorm", "onAttempt"] {
            assert!(apply(&Policy::default(), &opt(name, Value::Function), Scope::Defaults).is_ok());
        }
        assert!(apply(&Policy::default(), &opt("onAttempt", Value::Function), Scope::PerCall).is_ok());
    }

    #[test]
    fn hedge_settings_are_checked_and_merge_over_the_instance_s() {
        use super::super::hedge::{HedgeDelay, HedgeSettings};
        let set = |v: Value| apply(&Policy::default(), &opt("hedge", v), Scope::PerCall).map(|p| p.hedge);
        assert_eq!(Policy::default().hedge, None, "off by default");
        assert_eq!(set(Value::Bool(false)), Ok(None));
        assert_eq!(set(Value::Bool(true)), Ok(Some(HedgeSettings::default())));
        let fixed = Value::Object(opt("delayMs", Value::Number(20.0)));
        assert_eq!(set(fixed), Ok(Some(HedgeSettings { delay: HedgeDelay::Fixed(20), max_hedges: 1 })));
        let auto = Value::Object(vec![
            (String::from("delayMs"), Value::Str(String::from("auto"))),
            (String::from("maxHedges"), Value::Number(3.0)),
        ]);
        assert_eq!(set(auto), Ok(Some(HedgeSettings { delay: HedgeDelay::Auto, max_hedges: 3 })));
        assert_eq!(err("hedge", Value::Number(1.0)), "hedge");
        assert_eq!(err("hedge", Value::Object(opt("maxHedges", Value::Number(4.0)))), "hedge.maxHedges");
        assert_eq!(err("hedge", Value::Object(opt("maxHedges", Value::Number(0.0)))), "hedge.maxHedges");
        assert_eq!(err("hedge", Value::Object(opt("maxHedges", Value::Number(1.5)))), "hedge.maxHedges");
        assert_eq!(err("hedge", Value::Object(opt("delayMs", Value::Number(-1.0)))), "hedge.delayMs");
        assert_eq!(
            err("hedge", Value::Object(opt("delayMs", Value::Str(String::from("p95"))))),
            "hedge.delayMs"
        );
        assert_eq!(err("hedge", Value::Object(opt("after", Value::Number(5.0)))), "hedge.after");
        let e = apply(
            &Policy::default(),
            &opt("hedge", Value::Object(opt("maxHedges", Value::Number(9.0)))),
            Scope::PerCall,
        );
        assert_eq!(
            e.map_err(|e| e.message()),
            Err(String::from(
                "edge-retry: invalid option \"hedge.maxHedges\": must be an integer from 1 to 3"
            ))
        );
        // A call's setting goes over the instance's field by field.
        let base = Policy {
            hedge: Some(HedgeSettings { delay: HedgeDelay::Fixed(30), max_hedges: 2 }),
            ..Policy::default()
        };
        let p =
            apply(&base, &opt("hedge", Value::Object(opt("maxHedges", Value::Number(1.0)))), Scope::PerCall);
        assert_eq!(
            p.map(|p| p.hedge),
            Ok(Some(HedgeSettings { delay: HedgeDelay::Fixed(30), max_hedges: 1 }))
        );
    }

    #[test]
    fn huge_whole_numbers_are_integers() {
        // Fuzzing regression: 1e300 is a whole number >= 1, so valid (SPEC 2); it saturates.
        let p = apply(&Policy::default(), &opt("maxAttempts", Value::Number(1e300)), Scope::PerCall);
        assert_eq!(p.map(|p| p.max_attempts), Ok(u32::MAX));
        let p = apply(&Policy::default(), &opt("maxReplayBytes", Value::Number(1e30)), Scope::PerCall);
        assert_eq!(p.map(|p| p.max_replay_bytes), Ok(u64::MAX));
        let cap = Value::Object(opt("capacity", Value::Number(1.2e21)));
        let p = apply(&Policy::default(), &opt("budget", cap), Scope::PerCall);
        assert_eq!(p.map(|p| p.budget.map(|b| b.capacity)), Ok(Some(u32::MAX)));
        assert_eq!(err("maxAttempts", Value::Number(4_503_599_627_370_495.5)), "maxAttempts");
    }

    #[test]
    fn the_message_names_the_option() {
        let e = OptionError::new("maxAttempts", "must be an integer >= 1");
        assert_eq!(e.message(), "edge-retry: invalid option \"maxAttempts\": must be an integer >= 1");
    }
}
