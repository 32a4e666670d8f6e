//! The validated settings of one call: what `RetryOptions` becomes once checked.

use alloc::string::String;

pub use super::hedge::{HedgeDelay, HedgeSettings};
pub use super::pacer::PacerSettings;
pub use super::retry_cap::RetryCapSettings;
pub use super::storm::StormSettings;

/// How a backoff step is randomised (SPEC 2).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Jitter {
    None,
    Full,
    Equal,
    Decorrelated,
    /// Uniform in [step·(1−r), step·(1+r)], 0 < r <= 1.
    Ratio(f64),
}

/// Circuit breaker settings (SPEC 5).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BreakerSettings {
    pub failure_ratio: f64,
    pub minimum_requests: u32,
    pub window_ms: u64,
    pub open_ms: u64,
    /// The longest open period: a failed probe doubles the period, from `open_ms` up to this
    /// (never below `open_ms`).
    pub max_open_ms: u64,
    pub half_open_probes: u32,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            // Measured in the storm simulator's scenarios (README, "Defaults that never make
            // things worse"): a breaker that opens at half failures refuses calls a brownout
            // would have served, and every call refused after the server is back is lost: an
            // open period of P ms loses about P/2 of them, and a single half-open probe makes
            // every other call wait out its round trip. So it opens only when nearly
            // everything fails, re-checks after 10 ms, and lets traffic through as probes
            // while half-open (the first success closes it): a shedder for busy keys, never
            // a wall.
            failure_ratio: 0.9,
            minimum_requests: 10,
            window_ms: 30_000,
            open_ms: 10,
            max_open_ms: 10,
            half_open_probes: 1000,
        }
    }
}

/// Retry budget settings (SPEC 6): a token bucket per key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetSettings {
    pub capacity: u32,
    pub retry_cost: u32,
    pub timeout_cost: u32,
    pub success_refund: u32,
}

impl Default for BudgetSettings {
    fn default() -> Self {
        // SPEC 6. Busy keys are held nearer 10 % by the retry cap (`Policy::retry_cap`).
        BudgetSettings { capacity: 500, retry_cost: 5, timeout_cost: 10, success_refund: 1 }
    }
}

/// A set of HTTP statuses 0..=639 as a bitset: membership is one shift and one mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct StatusSet([u64; 10]);

impl StatusSet {
    pub const fn empty() -> Self {
        StatusSet([0; 10])
    }

    pub fn from_slice(statuses: &[u16]) -> Self {
        let mut set = StatusSet::empty();
        for &s in statuses {
            set.insert(s);
        }
        set
    }

    pub fn insert(&mut self, status: u16) {
        if let Some(word) = self.0.get_mut(usize::from(status / 64)) {
            *word |= 1u64 << (status % 64);
        }
    }

    pub fn contains(&self, status: u16) -> bool {
        self.0.get(usize::from(status / 64)).is_some_and(|word| word & (1u64 << (status % 64)) != 0)
    }

    /// Whether any 2xx (200-299) is in the set: bits 8.. of word 3 and ..=43 of word 4.
    pub fn has_success(&self) -> bool {
        self.0[3] >> 8 != 0 || self.0[4] & ((1u64 << 44) - 1) != 0
    }
}

/// A list of method names, kept as one string of names each followed by a space: a policy
/// clones it with one copy, where a `Vec<String>` cost a loop of allocations (and its
/// collecting and cloning code 0.8 KB of wasm).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Methods(String);

impl Methods {
    /// No method.
    pub const fn new() -> Self {
        Methods(String::new())
    }

    /// Adds `name` (a token: it holds no space), in upper case.
    pub fn push(&mut self, name: &str) {
        let from = self.0.len();
        self.0.push_str(name);
        if let Some(added) = self.0.get_mut(from..) {
            added.make_ascii_uppercase();
        }
        self.0.push(' ');
    }

    /// The names, in the order given. (Bytes searched by hand: `str::split_once` links memchr.)
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let mut rest = self.0.as_str();
        core::iter::from_fn(move || {
            let end = rest.bytes().position(|b| b == b' ')?;
            let name = rest.get(..end)?;
            rest = rest.get(end + 1..)?;
            Some(name)
        })
    }
}

impl Default for Methods {
    /// The names in DEFAULT_METHODS.
    fn default() -> Self {
        let mut methods = Methods::new();
        for name in DEFAULT_METHODS {
            methods.push(name);
        }
        methods
    }
}

/// Every setting of one call (SPEC 2), validated.
#[derive(Debug, PartialEq)]
pub struct Policy {
    pub max_attempts: u32,
    pub base_delay_ms: u64,
    pub max_delay_ms: u64,
    pub multiplier: f64,
    pub jitter: Jitter,
    pub retry_on: StatusSet,
    /// Upper-case method names retried without an `Idempotency-Key`.
    pub methods: Methods,
    pub respect_retry_after: bool,
    pub max_retry_after_ms: u64,
    pub retry_after_jitter: f64,
    pub max_replay_bytes: u64,
    pub timeout_ms: Option<u64>,
    pub attempt_timeout_ms: Option<u64>,
    pub breaker: Option<BreakerSettings>,
    pub budget: Option<BudgetSettings>,
    /// Adaptive retry pacing shared by the key's callers (see [`super::pacer`]); off by default.
    pub pacer: Option<PacerSettings>,
    /// Retry-storm detection (an instance setting: only the defaults' counts).
    pub storm: Option<StormSettings>,
    /// Retries of a busy key at most a share of its calls (see [`super::retry_cap`]); on by
    /// default, off where options set `budget` without it.
    pub retry_cap: Option<RetryCapSettings>,
    /// Hedged requests (SPEC 9); off by default.
    pub hedge: Option<HedgeSettings>,
}

/// By hand: every field but `methods` is `Copy`, so the rest is one copy of the struct, where
/// a derived clone copied field by field (0.3 KB more of wasm).
impl Clone for Policy {
    fn clone(&self) -> Self {
        Policy { methods: self.methods.clone(), ..*self }
    }
}

pub const DEFAULT_RETRY_ON: [u16; 6] = [408, 429, 500, 502, 503, 504];
pub const DEFAULT_METHODS: [&str; 6] = ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"];

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_attempts: 3,
            base_delay_ms: 100,
            max_delay_ms: 20_000,
            multiplier: 2.0,
            jitter: Jitter::Full,
            retry_on: StatusSet::from_slice(&DEFAULT_RETRY_ON),
            methods: Methods::default(),
            respect_retry_after: true,
            max_retry_after_ms: 60_000,
            retry_after_jitter: 0.1,
            max_replay_bytes: 1_048_576,
            timeout_ms: None,
            attempt_timeout_ms: None,
            breaker: Some(BreakerSettings::default()),
            budget: Some(BudgetSettings::default()),
            pacer: None,
            storm: Some(StormSettings::default()),
            retry_cap: Some(RetryCapSettings::default()),
            hedge: None,
        }
    }
}
