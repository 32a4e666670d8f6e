//! The per-call state machine (`Call`) with the breaker and budget of one shared `Engine`,
//! under arbitrary sequences of calls, outcomes, server hints, random numbers, driver mistakes
//! (a report in the wrong phase), aborts, declines and clock moves (backwards too), on four
//! keys and up to three (valid) policies.
//!
//! Checked after every step:
//! - attempts are numbered 1, 2, … and never exceed `maxAttempts`; a call that is not
//!   repeatable sends once;
//! - no attempt is sent at or after the deadline, no attempt timeout runs past it, and no wait
//!   is started that would end at or after it;
//! - waits: a backoff wait is the SPEC's backoff, at most `maxDelayMs`; a server-given wait is
//!   at least what the server asked, at most `maxRetryAfterMs`, lengthened by at most
//!   `retryAfterJitter` of itself; a retry is made whenever nothing forbids it;
//! - every call settles exactly once, and a report in the wrong phase is an error that changes
//!   nothing; how a call settles (Last, Deadline, CircuitOpen, Aborted) fits what happened;
//! - the stats counters add up; the budget moves exactly by the SPEC's costs and refunds and
//!   stays within capacity; the breaker snapshot is consistent (an open time when not closed,
//!   counts no more than the outcomes recorded) and changes state only as SPEC 5 allows;
//!   `is_refusing` agrees with `admit`; the storms counted are the storm events reported, each
//!   entered and left as SPEC 8's rule says;
//! - leases: a call started as usual grants one only with the breaker closed (or none) and a
//!   policy that neither hedges nor retries a 2xx, and its first attempt is cut after the sooner of the policy's
//!   two timeouts (what every call sent under the lease gets); a call started admitted (sent
//!   under a lease) sends its first attempt whatever the breaker says.
#![no_main]

use arbitrary::Arbitrary;
use edge_retry::core::backoff::backoff_delay;
use edge_retry::core::breaker::{Admission, Snapshot, StateName};
use edge_retry::core::call::{CallError, is_success};
use edge_retry::core::classify::Outcome;
use edge_retry::core::engine::EventKind;
use edge_retry::core::headers::{ServerHints, server_wait_ms};
use edge_retry::core::pacer::PacerSnapshot;
use edge_retry::core::policy::{BreakerSettings, BudgetSettings, Jitter, PacerSettings, Policy, StatusSet};
use edge_retry::core::stats::Counters;
use edge_retry::core::{Action, Call, Engine, Settle, StormSettings};
use edge_retry_fuzz::{asctime, imf_fixdate, rfc850};
use libfuzzer_sys::fuzz_target;

const KEYS: [&str; 4] = ["https://a.test", "https://b.test", "https://c.test", "https://d.test"];
const MAX_CALLS: usize = 24;

// ---------------------------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------------------------

/// A duration or instant in ms, small values being the interesting ones.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Ms {
    Small(u8),
    Medium(u16),
    Large(u32),
    Any(u64),
}

impl Ms {
    fn get(self) -> u64 {
        match self {
            Ms::Small(v) => u64::from(v),
            Ms::Medium(v) => u64::from(v),
            Ms::Large(v) => u64::from(v),
            Ms::Any(v) => v,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum FJitter {
    None,
    Full,
    Equal,
    Decorrelated,
    Ratio(u16),
}

#[derive(Arbitrary, Debug)]
enum FMultiplier {
    Known(u8),
    Bits(u64),
}

#[derive(Arbitrary, Debug)]
enum FRetryOn {
    Default,
    Only(Vec<u16>),
}

#[derive(Arbitrary, Debug)]
struct FBreaker {
    ratio: u8,
    minimum_requests: u8,
    window: Ms,
    open: Ms,
    probes: u8,
}

#[derive(Arbitrary, Debug)]
struct FBudget {
    capacity: u16,
    retry_cost: u8,
    timeout_cost: u8,
    success_refund: u8,
}

#[derive(Arbitrary, Debug)]
struct FPacer {
    increase: u8,
    decrease: u8,
    seed_ratio: u8,
}

#[derive(Arbitrary, Debug)]
struct FPolicy {
    max_attempts: u8,
    base_delay: Ms,
    max_delay: Ms,
    multiplier: FMultiplier,
    jitter: FJitter,
    retry_on: FRetryOn,
    respect_retry_after: bool,
    max_retry_after: Ms,
    retry_after_jitter: u8,
    timeout: Option<Ms>,
    attempt_timeout: Option<Ms>,
    breaker: Option<FBreaker>,
    budget: Option<FBudget>,
    pacer: Option<FPacer>,
}

impl FPolicy {
    /// Always a policy that `options::apply` could have produced.
    #[allow(clippy::needless_update)] // `..Policy::default()`: for fields added later
    fn policy(&self) -> Policy {
        const MULTIPLIERS: [f64; 9] = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 10.0, 1e10, f64::MAX];
        let multiplier = match self.multiplier {
            FMultiplier::Known(i) => MULTIPLIERS[usize::from(i) % MULTIPLIERS.len()],
            FMultiplier::Bits(bits) => {
                let m = f64::from_bits(bits);
                if m.is_finite() && m >= 0.0 { m } else { 2.0 }
            }
        };
        Policy {
            max_attempts: if self.max_attempts == 255 {
                u32::MAX
            } else {
                u32::from(self.max_attempts % 10) + 1
            },
            base_delay_ms: self.base_delay.get(),
            max_delay_ms: self.max_delay.get(),
            multiplier,
            jitter: match self.jitter {
                FJitter::None => Jitter::None,
                FJitter::Full => Jitter::Full,
                FJitter::Equal => Jitter::Equal,
                FJitter::Decorrelated => Jitter::Decorrelated,
                FJitter::Ratio(r) => Jitter::Ratio((f64::from(r) + 1.0) / 65_536.0),
            },
            retry_on: match &self.retry_on {
                FRetryOn::Default => Policy::default().retry_on,
                FRetryOn::Only(list) => {
                    let statuses: Vec<u16> = list.iter().map(|s| 100 + s % 500).collect();
                    StatusSet::from_slice(&statuses)
                }
            },
            methods: Policy::default().methods,
            respect_retry_after: self.respect_retry_after,
            max_retry_after_ms: self.max_retry_after.get(),
            retry_after_jitter: f64::from(self.retry_after_jitter) / 255.0,
            max_replay_bytes: 1024,
            timeout_ms: self.timeout.map(Ms::get),
            attempt_timeout_ms: self.attempt_timeout.map(Ms::get),
            breaker: self.breaker.as_ref().map(|b| BreakerSettings {
                failure_ratio: (f64::from(b.ratio) + 1.0) / 256.0,
                minimum_requests: u32::from(b.minimum_requests % 16) + 1,
                window_ms: b.window.get(),
                open_ms: b.open.get(),
                // The fixed open period the reference follows.
                max_open_ms: b.open.get(),
                half_open_probes: u32::from(b.probes % 4) + 1,
            }),
            budget: self.budget.as_ref().map(|b| BudgetSettings {
                capacity: u32::from(b.capacity),
                retry_cost: u32::from(b.retry_cost),
                timeout_cost: u32::from(b.timeout_cost),
                success_refund: u32::from(b.success_refund),
            }),
            pacer: self.pacer.as_ref().map(|p| PacerSettings {
                increase: 1.0 + f64::from(p.increase) / 64.0,
                decrease: (f64::from(p.decrease) + 1.0) / 256.0,
                seed_ratio: (f64::from(p.seed_ratio) + 1.0) / 64.0,
            }),
            // Anything newer stays at its default.
            ..Policy::default()
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum FOutcome {
    Common(u8),
    Status(u16),
    Network,
    Timeout,
}

impl FOutcome {
    fn get(self) -> Outcome {
        const COMMON: [u16; 13] = [200, 204, 301, 400, 404, 408, 429, 500, 501, 502, 503, 504, 599];
        match self {
            FOutcome::Common(i) => Outcome::Response(COMMON[usize::from(i) % COMMON.len()]),
            FOutcome::Status(s) => Outcome::Response(s),
            FOutcome::Network => Outcome::NetworkError,
            FOutcome::Timeout => Outcome::Timeout,
        }
    }
}

/// A header value: well-formed ones around now, or raw bytes.
#[derive(Arbitrary, Debug)]
enum Hint {
    Seconds(u16),
    Imf(i32),
    Rfc850(i32),
    Asctime(i32),
    RateLimit(u16),
    Epoch(i32),
    Raw(Vec<u8>),
}

impl Hint {
    fn bytes(&self, now: u64) -> Vec<u8> {
        let at = |offset: i32| u64::try_from(i128::from(now / 1000) + i128::from(offset)).ok();
        let date = |offset: i32, write: fn(u64) -> Option<String>| {
            at(offset).and_then(write).unwrap_or_else(|| String::from("Sun, 06 Nov 1994 08:49:37 GMT"))
        };
        match self {
            Hint::Seconds(s) => s.to_string().into_bytes(),
            Hint::Imf(o) => date(*o, imf_fixdate).into_bytes(),
            Hint::Rfc850(o) => date(*o, rfc850).into_bytes(),
            Hint::Asctime(o) => date(*o, asctime).into_bytes(),
            Hint::RateLimit(t) => format!("\"default\";r=0;t={t}").into_bytes(),
            Hint::Epoch(o) => at(*o).unwrap_or(0).to_string().into_bytes(),
            Hint::Raw(b) => b.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct FHints {
    retry_after: Option<Hint>,
    ratelimit_reset: Option<Hint>,
    ratelimit: Option<Hint>,
    x_ratelimit_reset: Option<Hint>,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum FRnd {
    Unit(u16),
    Bits(u64),
}

impl FRnd {
    fn get(self) -> f64 {
        match self {
            FRnd::Unit(x) => f64::from(x) / 65_536.0,
            FRnd::Bits(b) => f64::from_bits(b),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// `flags`: bit 0 repeatable, bit 1 started admitted (as a call sent under a lease). (A
    /// byte, as the bool it replaced: its bit 0 is what the corpus's inputs meant by it.)
    Start { key: u8, policy: u8, flags: u8 },
    Outcome { call: u8, outcome: FOutcome, hints: FHints, rnd: FRnd },
    Resume { call: u8 },
    Decline { call: u8 },
    Abort { call: u8 },
    Advance(Ms),
    Back(Ms),
    Inspect { key: u8, policy: u8 },
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// 0: 1000 keys, else 1 to 4; bits 2-3 pick the storm detection (see `fuzz_target!`).
    key_capacity: u8,
    start: Ms,
    policy: FPolicy,
    more_policies: Vec<FPolicy>,
    ops: Vec<Op>,
}

// ---------------------------------------------------------------------------------------------
// The harness's own record of each call
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    InFlight { deadline_bound: bool },
    Waiting { tokens: u32, server_wait: bool },
    Settled,
}

struct Tracked {
    call: Call,
    policy: usize,
    key: usize,
    repeatable: bool,
    /// Started admitted: its first attempt went out without asking the breaker.
    admitted: bool,
    deadline: Option<u64>,
    sends: u32,
    previous_delay: u64,
    last: Option<Outcome>,
    phase: Phase,
    settles: u32,
}

/// What led to an action, for the checks that depend on it.
#[derive(Clone, Copy, Debug)]
enum Origin {
    Start,
    Outcome { outcome: Outcome, asked: Option<u64>, rnd: f64, deadline_cut: bool },
    Resume,
    Decline,
    Abort,
}

struct Harness {
    engine: Engine,
    key_capacity: usize,
    storm: Option<StormSettings>,
    policies: Vec<Policy>,
    calls: Vec<Tracked>,
    now: u64,
    monotonic: bool,
    expected: Counters,
    /// Outcomes recorded into each key's breaker (an upper bound on its counts).
    recorded: [u64; KEYS.len()],
}

fuzz_target!(|input: Input| {
    let mut policies = vec![input.policy.policy()];
    policies.extend(input.more_policies.iter().take(2).map(FPolicy::policy));
    let key_capacity = match input.key_capacity {
        0 => 1000,
        n => usize::from(n % 4) + 1,
    };
    // The byte's next two bits pick the instance's storm detection, which changes nothing but
    // events and a counter (so the rest of each input in the corpus means what it did).
    let storm = match (input.key_capacity >> 2) % 4 {
        0 => Some(StormSettings::default()),
        1 => Some(StormSettings { ratio: 0.1, window_ms: 1000, minimum_attempts: 2 }),
        2 => Some(StormSettings { ratio: 0.0, window_ms: 1, minimum_attempts: 1 }),
        _ => None,
    };
    let mut engine = Engine::for_instance(&Policy { storm, ..Policy::default() }, key_capacity);
    // Storms are counted from the events, so the harness listens as onStorm does.
    engine.set_listening(true);
    let mut h = Harness {
        engine,
        key_capacity,
        storm,
        policies,
        calls: Vec::new(),
        now: input.start.get(),
        monotonic: true,
        expected: Counters::default(),
        recorded: [0; KEYS.len()],
    };
    for op in input.ops.iter().take(256) {
        h.step(op);
        h.collect_events();
        h.check_global();
    }
    // Whatever is still open is aborted: every call settles exactly once.
    for i in 0..h.calls.len() {
        if h.calls[i].phase != Phase::Settled {
            h.act(i, |c, e, p, now| c.abort(e, p, now), Origin::Abort);
            assert_eq!(h.calls[i].phase, Phase::Settled);
        }
        assert_eq!(h.calls[i].settles, 1, "a call settled {} times", h.calls[i].settles);
    }
    h.collect_events();
    h.check_global();
    let c = &h.engine.stats.counters;
    assert_eq!(c.calls, h.calls.len() as u64);
    assert_eq!(c.successes + c.failures, c.calls, "{c:?}");
});

impl Harness {
    fn step(&mut self, op: &Op) {
        match *op {
            Op::Start { key, policy, flags } => {
                let (repeatable, admitted) = (flags & 1 != 0, flags & 2 != 0);
                if self.calls.len() >= MAX_CALLS {
                    return;
                }
                let key = usize::from(key) % KEYS.len();
                let pi = usize::from(policy) % self.policies.len();
                let p = self.policies[pi].clone();
                let now = self.now;
                let before = self.key_view(key, &p);
                let (call, action) = if admitted {
                    let place = self.engine.place(KEYS[key], &p);
                    Call::start_admitted(&mut self.engine, &p, place, repeatable, now)
                } else {
                    Call::start(&mut self.engine, &p, KEYS[key], repeatable, now)
                };
                // (Unless a deadline is already due.)
                if admitted && p.timeout_ms.is_none_or(|t| now.saturating_add(t) > now) {
                    assert!(matches!(action, Action::Send { .. }), "an admitted start not sent: {action:?}");
                }
                if call.leases(&p) {
                    let closed = p.breaker.is_none() || self.key_view(key, &p).0.state == StateName::Closed;
                    assert!(admitted || closed, "a lease granted with the breaker not closed");
                    assert!(p.hedge.is_none(), "a lease granted to a hedging policy");
                    assert!((200..300).all(|s| !p.retry_on.contains(s)), "a lease granted to a policy retrying a 2xx");
                    // Every call sent under it is cut after the timeout this one got: the
                    // sooner of the per-attempt timeout and the deadline, from the start.
                    // (The deadline saturates at u64::MAX for the fuzzer's far clocks.)
                    let remaining = p.timeout_ms.map(|t| now.saturating_add(t) - now);
                    let cut = [p.attempt_timeout_ms, remaining].into_iter().flatten().min();
                    assert!(matches!(action, Action::Send { timeout_ms, .. } if timeout_ms == cut), "{action:?}");
                }
                self.expected.calls += 1;
                self.calls.push(Tracked {
                    call,
                    policy: pi,
                    key,
                    repeatable,
                    admitted,
                    deadline: p.timeout_ms.map(|t| now.saturating_add(t)),
                    sends: 0,
                    previous_delay: p.base_delay_ms,
                    last: None,
                    phase: Phase::Waiting { tokens: 0, server_wait: false },
                    settles: 0,
                });
                let i = self.calls.len() - 1;
                assert_eq!(self.calls[i].call.key(), KEYS[key]);
                self.absorb(i, action, Origin::Start, before);
            }
            Op::Outcome { call, outcome, ref hints, rnd } => {
                let Some(i) = self.pick(call) else { return };
                let outcome = outcome.get();
                let rnd = rnd.get();
                let now = self.now;
                let values: [Option<Vec<u8>>; 4] = [
                    hints.retry_after.as_ref().map(|h| h.bytes(now)),
                    hints.ratelimit_reset.as_ref().map(|h| h.bytes(now)),
                    hints.ratelimit.as_ref().map(|h| h.bytes(now)),
                    hints.x_ratelimit_reset.as_ref().map(|h| h.bytes(now)),
                ];
                let server_hints = ServerHints {
                    retry_after: values[0].as_deref(),
                    ratelimit_reset: values[1].as_deref(),
                    ratelimit: values[2].as_deref(),
                    x_ratelimit_reset: values[3].as_deref(),
                };
                let p = self.policies[self.calls[i].policy].clone();
                let asked = match outcome {
                    Outcome::Response(_) if p.respect_retry_after => server_wait_ms(&server_hints, now),
                    _ => None,
                };
                let deadline_cut = matches!(self.calls[i].phase, Phase::InFlight { deadline_bound: true })
                    && outcome == Outcome::Timeout;
                let origin = Origin::Outcome { outcome, asked, rnd, deadline_cut };
                self.act(i, |c, e, p, now| c.on_outcome(e, p, outcome, &server_hints, now, rnd), origin);
            }
            Op::Resume { call } => {
                if let Some(i) = self.pick(call) {
                    self.act(i, |c, e, p, now| c.resume(e, p, now), Origin::Resume);
                }
            }
            Op::Decline { call } => {
                if let Some(i) = self.pick(call) {
                    self.act(i, |c, e, p, now| c.decline(e, p, now), Origin::Decline);
                }
            }
            Op::Abort { call } => {
                if let Some(i) = self.pick(call) {
                    self.act(i, |c, e, p, now| c.abort(e, p, now), Origin::Abort);
                }
            }
            Op::Advance(ms) => self.now = self.now.saturating_add(ms.get()),
            Op::Back(ms) => {
                let back = ms.get();
                if back > 0 && self.now > 0 {
                    self.monotonic = false;
                }
                self.now = self.now.saturating_sub(back);
            }
            Op::Inspect { key, policy } => self.inspect(usize::from(key) % KEYS.len(), usize::from(policy)),
        }
    }

    fn pick(&self, call: u8) -> Option<usize> {
        (!self.calls.is_empty()).then(|| usize::from(call) % self.calls.len())
    }

    /// What is visible of a key, as calls with `p` see it (their breaker and budget
    /// settings pick the key's state), without touching it.
    fn key_view(&self, key: usize, p: &Policy) -> (Snapshot, Option<u32>, Option<PacerSnapshot>) {
        let k = KEYS[key];
        (
            self.engine.breaker_snapshot_of(k, p, self.now),
            self.engine.budget_tokens_of(k, p),
            self.engine.pacer_snapshot_of(k, p),
        )
    }

    /// The wait the SPEC's backoff gives call `i`'s next retry, then spaced by the key's pacer
    /// when its policy has one (`next_slot` as it was before the outcome; none for a new key).
    fn planned_wait(&self, i: usize, rnd: f64, next_slot: Option<u64>) -> u64 {
        let t = &self.calls[i];
        let p = &self.policies[t.policy];
        let own = backoff_delay(p, t.sends, t.previous_delay, rnd);
        if p.pacer.is_none() {
            return own;
        }
        // SPEC of the pacer: the own backoff is a floor, the next free slot is the other; a
        // schedule full past maxDelayMs falls back to the own backoff.
        let slot = next_slot.unwrap_or(0).max(self.now.saturating_add(own));
        let wait = slot - self.now;
        if wait > p.max_delay_ms { own.min(p.max_delay_ms) } else { wait }
    }

    /// Runs one report on call `i`. A report in the wrong phase must be refused and change
    /// nothing; otherwise its action is checked.
    fn act(
        &mut self,
        i: usize,
        f: impl FnOnce(&mut Call, &mut Engine, &Policy, u64) -> Result<Action, CallError>,
        origin: Origin,
    ) {
        let p = self.policies[self.calls[i].policy].clone();
        let key = self.calls[i].key;
        let phase = self.calls[i].phase;
        let want_ok = match origin {
            Origin::Outcome { .. } => matches!(phase, Phase::InFlight { .. }),
            Origin::Resume | Origin::Decline => matches!(phase, Phase::Waiting { .. }),
            Origin::Abort => phase != Phase::Settled,
            Origin::Start => true,
        };
        let before = self.key_view(key, &p);
        let counters = self.engine.stats.counters.clone();
        let key_count = self.engine.key_count();
        let now = self.now;
        let result = f(&mut self.calls[i].call, &mut self.engine, &p, now);
        match result {
            Ok(action) => {
                assert!(want_ok, "{origin:?} accepted in phase {phase:?}");
                self.absorb(i, action, origin, before);
            }
            Err(e) => {
                assert!(!want_ok, "{origin:?} refused in phase {phase:?}: {e:?}");
                let want = match phase {
                    Phase::Settled => CallError::Settled,
                    Phase::InFlight { .. } => CallError::NotWaiting,
                    Phase::Waiting { .. } => CallError::NotInFlight,
                };
                assert_eq!(e, want);
                assert_eq!(self.engine.stats.counters, counters, "a refused report changed the stats");
                assert_eq!(self.key_view(key, &p), before, "a refused report changed the key");
                assert_eq!(self.engine.key_count(), key_count);
            }
        }
    }

    /// Checks an action against the SPEC and the harness's record, and records it.
    fn absorb(
        &mut self,
        i: usize,
        action: Action,
        origin: Origin,
        before: (Snapshot, Option<u32>, Option<PacerSnapshot>),
    ) {
        let now = self.now;
        let p = self.policies[self.calls[i].policy].clone();
        let key = self.calls[i].key;
        let (snap_before, tokens_before, pacer_before) = before;
        let next_slot_before = pacer_before.map(|s| s.next_slot_at);
        let created = p.budget.unwrap_or_default().capacity;
        let (snap, tokens, pacer) = self.key_view(key, &p);
        if let (Some(b), Some(a)) = (pacer_before, pacer) {
            assert!(a.next_slot_at >= b.next_slot_at, "the pacer's schedule went back: {b:?} → {a:?}");
        }
        let planned = match origin {
            Origin::Outcome { rnd, .. } => self.planned_wait(i, rnd, next_slot_before),
            _ => 0,
        };
        let denied = self.engine.stats.counters.budget_denials - self.expected.budget_denials;
        assert!(denied <= 1);
        self.expected.budget_denials += denied;
        if denied == 1 {
            assert!(matches!(origin, Origin::Outcome { .. }) && action == Action::Settle(Settle::Last));
        }
        let t = &mut self.calls[i];
        assert_ne!(t.phase, Phase::Settled, "an action for a settled call");
        let was_waiting = t.phase;
        if let Origin::Outcome { outcome, .. } = origin {
            t.last = Some(outcome);
        }
        assert_eq!(t.call.last_outcome(), t.last);

        // What the budget must hold after this step (None: unchanged, or just created full).
        let mut want_tokens: Option<u32> = None;
        let refund_waiting = |tokens_now: Option<u32>| match (was_waiting, p.budget) {
            (Phase::Waiting { tokens, .. }, Some(s)) if tokens > 0 => {
                Some(tokens_now.unwrap_or(created).saturating_add(tokens).min(s.capacity))
            }
            _ => None,
        };

        match action {
            Action::Send { attempt, timeout_ms, deadline_bound } => {
                assert!(matches!(origin, Origin::Start | Origin::Resume), "{origin:?} sent");
                assert_eq!(attempt, t.sends + 1, "attempts are numbered 1, 2, …");
                assert!(attempt <= p.max_attempts, "attempt {attempt} > maxAttempts {}", p.max_attempts);
                assert!(attempt == 1 || t.repeatable, "a call that is not repeatable sent twice");
                assert_eq!(t.call.attempts(), attempt);
                let want = match (p.attempt_timeout_ms, t.deadline) {
                    (a, Some(d)) => {
                        assert!(now < d, "attempt {attempt} sent at {now}, deadline {d}");
                        let r = d - now;
                        match a {
                            Some(a) if a < r => (Some(a), false),
                            _ => (Some(r), true),
                        }
                    }
                    (a, None) => (a, false),
                };
                assert_eq!((timeout_ms, deadline_bound), want, "attempt timeout at {now}");
                if p.breaker.is_some() && !(t.admitted && attempt == 1) {
                    assert_ne!(snap.state, StateName::Open, "sent through an open breaker");
                }
                self.expected.attempts += 1;
                if let (Phase::Waiting { server_wait, .. }, Origin::Resume) = (was_waiting, origin) {
                    self.expected.retries += 1;
                    self.expected.retry_after_waits += u64::from(server_wait);
                }
                t.sends = attempt;
                t.phase = Phase::InFlight { deadline_bound };
            }
            Action::Retry { attempt, delay_ms, reason, server_wait } => {
                let Origin::Outcome { outcome, asked, rnd, deadline_cut } = origin else {
                    panic!("{origin:?} gave a retry")
                };
                assert!(!deadline_cut);
                assert_eq!(attempt, t.sends);
                assert!(attempt < p.max_attempts, "a retry after attempt {attempt} of {}", p.max_attempts);
                assert!(t.repeatable && outcome.is_retryable(&p));
                assert_eq!(reason, outcome.reason());
                if let Some(d) = t.deadline {
                    assert!(now < d && delay_ms < d - now, "a wait of {delay_ms} at {now} ends past {d}");
                }
                match asked {
                    Some(asked) => {
                        assert!(server_wait, "the server's wait was not used");
                        assert!(asked <= p.max_retry_after_ms);
                        assert!(delay_ms >= asked, "waits {delay_ms}, the server asked {asked}");
                        let extra = (delay_ms - asked) as f64;
                        assert!(extra <= p.retry_after_jitter * asked as f64 + 1.0, "{delay_ms} for {asked}");
                    }
                    None => {
                        assert!(!server_wait);
                        assert!(delay_ms <= p.max_delay_ms);
                        let own = backoff_delay(&p, attempt, t.previous_delay, rnd);
                        // (Unless now + backoff is past the end of time: then the pacer's slot
                        // is u64::MAX and the wait ends there.)
                        let saturated = now.checked_add(own).is_none();
                        assert!(delay_ms >= own || saturated, "a wait of {delay_ms} below the backoff {own}");
                        assert_eq!(delay_ms, planned);
                        let slot = next_slot_before.unwrap_or(0).max(now.saturating_add(own));
                        if p.pacer.is_some() && slot - now <= p.max_delay_ms {
                            // The slot is reserved: the next retry of the key leaves after it.
                            let next = pacer.map_or(0, |s| s.next_slot_at);
                            assert!(next > slot || slot == u64::MAX, "slot {slot} not reserved: {pacer:?}");
                        }
                    }
                }
                if p.breaker.is_some() {
                    assert_ne!(snap.state, StateName::Open, "a retry through an open breaker");
                }
                let mut held = 0;
                let mut left = tokens_before.unwrap_or(created);
                if let Some(s) = p.budget {
                    if is_success(outcome, &p) {
                        left = left.saturating_add(s.success_refund).min(s.capacity);
                    }
                    let cost = match outcome {
                        Outcome::Response(_) => s.retry_cost,
                        _ => s.timeout_cost,
                    };
                    let available = left.min(s.capacity);
                    assert!(available >= cost, "a retry costing {cost} with {available} tokens");
                    left = available - cost;
                    held = cost;
                }
                want_tokens = Some(left);
                t.previous_delay = delay_ms;
                t.phase = Phase::Waiting { tokens: held, server_wait };
            }
            Action::Settle(how) => {
                t.settles += 1;
                assert!(t.call.is_settled());
                match how {
                    Settle::Last => {
                        assert!(t.sends >= 1 && t.last.is_some(), "settled with no outcome");
                        match origin {
                            Origin::Outcome { deadline_cut, .. } => assert!(!deadline_cut),
                            Origin::Resume => {
                                let deadline_passed = t.deadline.is_some_and(|d| now >= d);
                                assert!(
                                    deadline_passed || snap.state != StateName::Closed,
                                    "a wait ended in no retry, with time left and a closed breaker"
                                );
                            }
                            Origin::Decline => {}
                            Origin::Start | Origin::Abort => panic!("{origin:?} settled with Last"),
                        }
                    }
                    Settle::Deadline => match origin {
                        Origin::Start => assert!(t.deadline.is_some_and(|d| now >= d)),
                        Origin::Outcome { deadline_cut, .. } => assert!(deadline_cut),
                        _ => panic!("{origin:?} settled at the deadline"),
                    },
                    Settle::CircuitOpen { retry_after_ms } => {
                        assert!(matches!(origin, Origin::Start) && t.sends == 0 && !t.admitted);
                        assert!(p.breaker.is_some());
                        assert_ne!(snap.state, StateName::Closed, "a closed breaker refused");
                        if self.monotonic {
                            let longest = self.policies.iter().filter_map(|p| p.breaker).map(|b| b.open_ms);
                            assert!(
                                retry_after_ms <= longest.max().unwrap_or(0),
                                "retry after {retry_after_ms}"
                            );
                        }
                        self.expected.breaker_rejections += 1;
                    }
                    Settle::Aborted => assert!(matches!(origin, Origin::Abort)),
                }
                if matches!(origin, Origin::Abort) {
                    assert_eq!(how, Settle::Aborted);
                }
                if matches!(origin, Origin::Decline) {
                    assert_eq!(how, Settle::Last);
                }
                let success = how == Settle::Last && t.last.is_some_and(|o| is_success(o, &p));
                if success {
                    self.expected.successes += 1;
                } else {
                    self.expected.failures += 1;
                }
                // Tokens held for a retry that was not sent go back.
                if matches!(origin, Origin::Resume | Origin::Decline | Origin::Abort) {
                    want_tokens = refund_waiting(tokens_before);
                }
                t.phase = Phase::Settled;
            }
        }

        // Outcomes (but not a cut by the call's own deadline) are recorded and refund.
        if let Origin::Outcome { outcome, asked, rnd: _, deadline_cut: false } = origin {
            if p.breaker.is_some() {
                self.recorded[key] += 1;
            }
            if !matches!(action, Action::Retry { .. }) {
                let mut left = tokens_before.unwrap_or(created);
                if let Some(s) = p.budget {
                    if is_success(outcome, &p) {
                        left = left.saturating_add(s.success_refund).min(s.capacity);
                    }
                    if denied == 1 {
                        let cost = match outcome {
                            Outcome::Response(_) => s.retry_cost,
                            _ => s.timeout_cost,
                        };
                        left = left.min(s.capacity);
                        assert!(left < cost, "budget denied with {left} tokens for a cost of {cost}");
                    }
                }
                want_tokens = Some(left);
                self.check_no_retry_was_due(i, outcome, asked, planned, denied == 1, snap.state);
            }
        }

        match want_tokens {
            Some(t) => assert_eq!(tokens, Some(t), "budget of {} after {origin:?} → {action:?}", KEYS[key]),
            None => assert!(
                tokens == tokens_before || (tokens_before.is_none() && tokens == Some(created)),
                "budget moved from {tokens_before:?} to {tokens:?} on {origin:?} → {action:?}"
            ),
        }
        self.check_transition(i, origin, snap_before, snap);
    }

    /// An outcome that settled the call: some rule must have said no retry.
    fn check_no_retry_was_due(
        &self,
        i: usize,
        outcome: Outcome,
        asked: Option<u64>,
        planned: u64,
        denied: bool,
        breaker: StateName,
    ) {
        let t = &self.calls[i];
        let p = &self.policies[t.policy];
        let remaining = t.deadline.map(|d| d.saturating_sub(self.now));
        let wait_fits = match asked {
            Some(a) => a <= p.max_retry_after_ms && remaining.is_none_or(|r| a < r),
            None => remaining.is_none_or(|r| planned < r),
        };
        let due = outcome.is_retryable(p)
            && t.repeatable
            && t.sends < p.max_attempts
            && wait_fits
            && !denied
            && (p.breaker.is_none() || breaker == StateName::Closed);
        assert!(!due, "no retry after {outcome:?} although nothing forbade one");
    }

    /// The breaker changes state only as SPEC 5 says (both snapshots are at the same now).
    fn check_transition(&self, i: usize, origin: Origin, before: Snapshot, after: Snapshot) {
        let t = &self.calls[i];
        let p = &self.policies[t.policy];
        let recorded = match origin {
            Origin::Outcome { outcome, deadline_cut: false, .. } => p.breaker.map(|s| (s, outcome)),
            _ => None,
        };
        if (before.state, before.opened_at) == (after.state, after.opened_at) {
            return;
        }
        let Some((s, outcome)) = recorded else {
            panic!("the breaker went from {before:?} to {after:?} on {origin:?}")
        };
        let failure = outcome.is_breaker_failure(p);
        match (before.state, after.state) {
            (StateName::Closed, StateName::Open | StateName::HalfOpen) => {
                // Checked on failures only (issue 13 item 16): only a failure opens it.
                assert!(failure, "opened on a success");
                let total = after.failures + after.successes;
                assert!(total >= s.minimum_requests, "opened on {total} < {} requests", s.minimum_requests);
                let ratio = f64::from(after.failures) / f64::from(total);
                assert!(ratio >= s.failure_ratio, "opened at a failure ratio of {ratio}");
                assert_eq!(after.opened_at, Some(self.now));
            }
            (StateName::HalfOpen, StateName::Open | StateName::HalfOpen) => {
                assert!(failure, "reopened on a success");
                assert_eq!(after.opened_at, Some(self.now));
            }
            (StateName::HalfOpen, StateName::Closed) => {
                assert!(!failure, "closed on a failure");
                assert_eq!((after.failures, after.successes), (0, 0), "closed with old counts");
            }
            _ => panic!("the breaker went from {before:?} to {after:?} on {outcome:?}"),
        }
    }

    /// `is_refusing` agrees with `admit`, and a budget take moves by exactly its cost.
    fn inspect(&mut self, key: usize, policy: usize) {
        let p = self.policies[policy % self.policies.len()].clone();
        if self.engine.budget_tokens_of(KEYS[key], &p).is_none() {
            return; // do not create keys
        }
        let now = self.now;
        let snap = self.engine.breaker_snapshot_of(KEYS[key], &p, now);
        let Some(state) = self.engine.key_state(KEYS[key], &p) else { panic!("key_state gave None") };
        if let Some(s) = &p.breaker {
            let refusing = state.breaker.is_refusing(s, now);
            let admission = state.breaker.clone().admit(s, now);
            assert_eq!(refusing, matches!(admission, Admission::Refuse { .. }), "{admission:?}");
            match snap.state {
                StateName::Closed => assert!(!refusing),
                StateName::Open => assert!(refusing),
                StateName::HalfOpen => {}
            }
        }
        if let Some(s) = &p.budget {
            let mut budget = state.budget;
            let held = budget.tokens().min(s.capacity);
            if budget.try_take(s, s.retry_cost) {
                assert_eq!(budget.tokens(), held - s.retry_cost);
            } else {
                assert!(held < s.retry_cost);
                assert_eq!(budget.tokens(), held);
            }
        }
    }

    /// Takes the engine's events: each storm entered counts once in the stats, and a storm is
    /// entered and left only as SPEC 8's rule says.
    fn collect_events(&mut self) {
        while let Some(event) = self.engine.next_event() {
            assert!(KEYS.contains(&event.key.as_str()), "an event for {:?}", event.key);
            let EventKind::Storm { change, window_ms } = event.kind else { continue };
            let Some(rule) = self.storm else { panic!("a storm event with storms off: {change:?}") };
            assert_eq!(window_ms, rule.window_ms);
            let enough = change.attempts >= rule.minimum_attempts;
            if change.storm {
                assert!(enough && change.retry_ratio > rule.ratio, "entered a storm at {change:?}");
                self.expected.storms += 1;
            } else {
                assert!(!enough || change.retry_ratio <= rule.ratio / 2.0, "left a storm at {change:?}");
            }
        }
    }

    fn check_global(&self) {
        assert_eq!(self.engine.stats.counters, self.expected, "stats counters");
        assert!(self.engine.key_count() <= self.key_capacity);
        let most = self.policies.iter().map(|p| p.budget.unwrap_or_default().capacity).max().unwrap_or(0);
        for (k, key) in KEYS.iter().enumerate() {
            let snap = self.engine.breaker_snapshot(key, self.now);
            assert_eq!(snap.state == StateName::Closed, snap.opened_at.is_none(), "{snap:?}");
            if self.monotonic {
                assert!(snap.opened_at.is_none_or(|t| t <= self.now), "opened in the future: {snap:?}");
            }
            let counted = u64::from(snap.failures) + u64::from(snap.successes);
            assert!(counted <= self.recorded[k], "{snap:?} but {} recorded", self.recorded[k]);
            if let Some(tokens) = self.engine.budget_tokens(key) {
                assert!(tokens <= most, "{tokens} tokens, capacity {most}");
            }
        }
        let longest_cap = self.policies.iter().map(|p| p.max_delay_ms).max().unwrap_or(0) as f64;
        for key in KEYS {
            if let Some(s) = self.engine.pacer_snapshot(key) {
                assert!(
                    s.interval_ms.is_finite() && (0.0..=longest_cap.max(1.0)).contains(&s.interval_ms),
                    "{s:?}"
                );
                assert!(s.smoothed_attempt_ms.is_finite() && s.smoothed_attempt_ms >= 0.0, "{s:?}");
            }
        }
        let l = self.engine.stats.latency();
        assert!(l.p50 <= l.p90 && l.p90 <= l.p99, "{l:?}");
    }
}
