//! What the wasm module exports: an `Instance` (one set of breakers, budgets and stats) with a
//! handle API that driver.js runs each call through, plus `presets`.
//!
//! A call is a slot: `open` validates the call's options, `start` sends it on its way, and
//! each report (`outcome`, `resume`, `decline`, `abort`) answers with the next action's code;
//! `param`, `attempt` and `reason` describe that action. `close` frees the slot.
//!
//! Events (SPEC 8): `listen(true)` has the core keep breaker changes and storms; `nextEvent`
//! takes the oldest (0 none, 1 breaker, 2 storm) and `eventKey`, `eventAt`, `eventState`
//! (breaker: 0 closed, 1 open, 2 half-open; storm: 1 storm, 0 calm), `eventRatio`,
//! `eventAttempts` and `eventWindowMs` describe it, for driver.js to build the event object.

use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;

use super::options::{self, option_error};
use crate::core::call::{Action, Call, CallError, Settle};
use crate::core::classify::{Outcome, method_is_retryable};
use crate::core::breaker::StateName;
use crate::core::engine::{Engine, Event, EventKind};
use crate::core::headers::ServerHints;
use crate::core::options::Scope;
use crate::core::origin;
use crate::core::policy::{Jitter, Policy};
use crate::core::presets::PRESETS;
use crate::core::rng::SplitMix64;

// Action codes, as driver.js reads them.
const SEND: u32 = 0;
const RETRY: u32 = 1;
const SETTLE_LAST: u32 = 2;
const SETTLE_DEADLINE: u32 = 3;
const SETTLE_CIRCUIT_OPEN: u32 = 4;
const SETTLE_ABORTED: u32 = 5;
/// A report that did not fit the call's phase, or an unknown slot: a driver bug, not a panic.
const MISUSE: u32 = 6;

// Outcome kinds, as driver.js reports them.
const RESPONSE: u32 = 0;
const TIMEOUT: u32 = 2;

struct Slot {
    policy: Rc<Policy>,
    call: Option<Call>,
    action: Action,
}

/// One set of defaults with its own breakers, budgets and stats.
#[wasm_bindgen]
pub struct Instance {
    engine: Engine,
    defaults: Rc<Policy>,
    /// The defaults as `retry: false` leaves them: one attempt, no breaker, no budget.
    single: Rc<Policy>,
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    /// Seeded from the platform's secure source on first use (Workers forbid it at load).
    rng: Option<SplitMix64>,
    /// The event `nextEvent` took last.
    event: Option<Event>,
}

fn set(object: &Object, key: &str, value: JsValue) {
    // Setting a fresh plain object's own property cannot fail.
    let _ = Reflect::set(object, &JsValue::from_str(key), &value);
}

fn number(n: u64) -> JsValue {
    JsValue::from(n as f64)
}

fn code(action: Action) -> u32 {
    match action {
        Action::Send { .. } => SEND,
        Action::Retry { .. } => RETRY,
        Action::Settle(Settle::Last) => SETTLE_LAST,
        Action::Settle(Settle::Deadline) => SETTLE_DEADLINE,
        Action::Settle(Settle::CircuitOpen { .. }) => SETTLE_CIRCUIT_OPEN,
        Action::Settle(Settle::Aborted) => SETTLE_ABORTED,
    }
}

/// 64 bits from `crypto.getRandomValues`, or the clock where a runtime has no `crypto`.
fn secure_seed() -> u64 {
    let words = js_sys::Uint32Array::new_with_length(2);
    let filled = Reflect::get(&js_sys::global(), &"crypto".into())
        .and_then(|crypto| {
            let get = Reflect::get(&crypto, &"getRandomValues".into())?;
            get.dyn_into::<js_sys::Function>()?.call1(&crypto, &words)
        })
        .is_ok();
    if filled {
        (u64::from(words.get_index(0)) << 32) | u64::from(words.get_index(1))
    } else {
        js_sys::Date::now() as u64
    }
}

#[wasm_bindgen]
impl Instance {
    /// Validates `defaults` (a TypeError naming the option if wrong).
    #[wasm_bindgen(constructor)]
    pub fn new(defaults: JsValue) -> Result<Instance, JsValue> {
        let policy = options::apply(&defaults, &Policy::default(), Scope::Defaults)?;
        let single = Policy { max_attempts: 1, breaker: None, budget: None, ..policy.clone() };
        Ok(Instance {
            engine: Engine::with_defaults(&policy),
            defaults: Rc::new(policy),
            single: Rc::new(single),
            slots: Vec::new(),
            free: Vec::new(),
            rng: None,
            event: None,
        })
    }

    /// Opens a call with its options (`init.retry`: undefined, false or an object) and returns
    /// its slot. Invalid options throw a TypeError naming the option; nothing is sent.
    pub fn open(&mut self, retry: JsValue) -> Result<u32, JsValue> {
        let policy = if retry.is_undefined() {
            self.defaults.clone()
        } else if retry.as_bool() == Some(false) {
            self.single.clone()
        } else {
            Rc::new(options::apply(&retry, &self.defaults, Scope::PerCall)?)
        };
        let slot = Slot { policy, call: None, action: Action::Settle(Settle::Last) };
        match self.free.pop() {
            Some(id) => {
                if let Some(entry) = self.slots.get_mut(id as usize) {
                    *entry = Some(slot);
                }
                Ok(id)
            }
            None => {
                self.slots.push(Some(slot));
                u32::try_from(self.slots.len() - 1).map_err(|_| option_error("edge-retry: too many calls"))
            }
        }
    }

    /// Frees a call's slot once driver.js has settled it. A call closed unsettled (driver.js
    /// always settles first; this is a safeguard) is aborted, so a half-open probe or a
    /// retry's tokens it holds are given back rather than held for ever.
    pub fn close(&mut self, id: u32) {
        if let Some(entry @ Some(_)) = self.slots.get_mut(id as usize) {
            if let Some(Slot { policy, call: Some(call), .. }) = entry.as_mut() {
                if !call.is_settled() {
                    let _ = call.abort(&mut self.engine, policy, js_sys::Date::now() as u64);
                }
            }
            *entry = None;
            self.free.push(id);
        }
    }

    /// How many bytes of a stream body this call may keep for replay.
    #[wasm_bindgen(js_name = replayLimit)]
    pub fn replay_limit(&self, id: u32) -> f64 {
        self.slot(id).map_or(0.0, |s| s.policy.max_replay_bytes as f64)
    }

    /// The origin of a plain absolute http(s) URL, or "" for driver.js to ask `URL`.
    /// (A plain string: an `Option` costs a 2 KB shim.)
    pub fn origin(&self, url: &str) -> String {
        origin::of_absolute_http(url).unwrap_or_default()
    }

    /// The call's `timeoutMs`, or -1 for none (driver.js applies it while reading a body).
    #[wasm_bindgen(js_name = timeoutMs)]
    pub fn timeout_ms(&self, id: u32) -> f64 {
        self.slot(id).and_then(|s| s.policy.timeout_ms).map_or(-1.0, |t| t as f64)
    }

    /// Starts the call, which began at `began` (its deadline and latency count from then):
    /// the first action's code (SEND, or a settlement).
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        &mut self,
        id: u32,
        key: &str,
        method: &str,
        idempotency_key: bool,
        replayable: bool,
        began: f64,
        now: f64,
    ) -> u32 {
        let Some(slot) = self.slots.get_mut(id as usize).and_then(Option::as_mut) else { return MISUSE };
        let repeatable = replayable && method_is_retryable(&slot.policy, method, idempotency_key);
        let (call, action) =
            Call::start_from(&mut self.engine, &slot.policy, key, repeatable, began as u64, now as u64);
        slot.call = Some(call);
        slot.action = action;
        code(action)
    }

    /// Reports how the attempt ended (kind: 0 response, 1 network error, 2 timeout), with the
    /// wait headers of a response and a random number in [0, 1) (NaN: use the seeded source).
    #[allow(clippy::too_many_arguments)]
    pub fn outcome(
        &mut self,
        id: u32,
        kind: u32,
        status: u16,
        retry_after: Option<String>,
        ratelimit_reset: Option<String>,
        ratelimit: Option<String>,
        x_ratelimit_reset: Option<String>,
        now: f64,
        rnd: f64,
    ) -> u32 {
        let outcome = match kind {
            RESPONSE => Outcome::Response(status),
            TIMEOUT => Outcome::Timeout,
            _ => Outcome::NetworkError,
        };
        let hints = ServerHints {
            retry_after: retry_after.as_deref().map(str::as_bytes),
            ratelimit_reset: ratelimit_reset.as_deref().map(str::as_bytes),
            ratelimit: ratelimit.as_deref().map(str::as_bytes),
            x_ratelimit_reset: x_ratelimit_reset.as_deref().map(str::as_bytes),
        };
        let rnd = if rnd.is_nan() { self.next_random() } else { rnd };
        self.step(id, |call, engine, policy| {
            call.on_outcome(engine, policy, outcome, &hints, now as u64, rnd)
        })
    }

    /// The wait is over: SEND, or a settlement.
    pub fn resume(&mut self, id: u32, now: f64) -> u32 {
        self.step(id, |call, engine, policy| call.resume(engine, policy, now as u64))
    }

    /// `shouldRetry` said no.
    pub fn decline(&mut self, id: u32, now: f64) -> u32 {
        self.step(id, |call, engine, policy| call.decline(engine, policy, now as u64))
    }

    /// The caller aborted, or a callback threw: free what the call holds.
    pub fn abort(&mut self, id: u32, now: f64) -> u32 {
        self.step(id, |call, engine, policy| call.abort(engine, policy, now as u64))
    }

    /// The current action's number: SEND's timeout in ms (-1 for none), RETRY's delay,
    /// SETTLE_CIRCUIT_OPEN's retry-after.
    pub fn param(&self, id: u32) -> f64 {
        match self.slot(id).map(|s| s.action) {
            Some(Action::Send { timeout_ms: Some(t), .. }) => t as f64,
            Some(Action::Retry { delay_ms, .. }) => delay_ms as f64,
            Some(Action::Settle(Settle::CircuitOpen { retry_after_ms })) => retry_after_ms as f64,
            _ => -1.0,
        }
    }

    /// RETRY's failed attempt number (from 1).
    pub fn attempt(&self, id: u32) -> u32 {
        match self.slot(id).map(|s| s.action) {
            Some(Action::Retry { attempt, .. } | Action::Send { attempt, .. }) => attempt,
            _ => 0,
        }
    }

    /// RETRY's reason: 0 status, 1 network, 2 timeout.
    pub fn reason(&self, id: u32) -> u32 {
        match self.slot(id).map(|s| s.action) {
            Some(Action::Retry { reason, .. }) => reason as u32,
            _ => 0,
        }
    }

    /// Lifetime counters and latency percentiles (SPEC 7).
    pub fn stats(&self) -> JsValue {
        let c = &self.engine.stats.counters;
        let latency = self.engine.stats.latency();
        let out = Object::new();
        set(&out, "calls", number(c.calls));
        set(&out, "attempts", number(c.attempts));
        set(&out, "retries", number(c.retries));
        set(&out, "successes", number(c.successes));
        set(&out, "failures", number(c.failures));
        set(&out, "breakerRejections", number(c.breaker_rejections));
        set(&out, "budgetDenials", number(c.budget_denials));
        set(&out, "retryAfterWaits", number(c.retry_after_waits));
        set(&out, "storms", number(c.storms));
        set(&out, "hedges", number(c.hedges));
        let percentiles = Object::new();
        set(&percentiles, "p50", number(latency.p50));
        set(&percentiles, "p90", number(latency.p90));
        set(&percentiles, "p99", number(latency.p99));
        set(&out, "latencyMs", percentiles.into());
        out.into()
    }

    /// The breaker of `key` (an origin, by default) as it stands now (SPEC 5).
    pub fn breaker(&self, key: &str) -> JsValue {
        let snap = self.engine.breaker_snapshot(key, js_sys::Date::now() as u64);
        let out = Object::new();
        set(&out, "state", JsValue::from_str(snap.state.as_str()));
        set(&out, "failures", JsValue::from(snap.failures));
        set(&out, "successes", JsValue::from(snap.successes));
        if let Some(at) = snap.opened_at {
            set(&out, "openedAt", number(at));
        }
        out.into()
    }
}

#[wasm_bindgen]
impl Instance {
    /// Keep events (driver.js has `onBreaker` or `onStorm`), or stop keeping them.
    pub fn listen(&mut self, on: bool) {
        self.engine.set_listening(on);
    }

    /// Takes the oldest event: 0 none, 1 breaker change, 2 storm change.
    #[wasm_bindgen(js_name = nextEvent)]
    pub fn next_event(&mut self) -> u32 {
        self.event = self.engine.next_event();
        match self.event.as_ref().map(|e| e.kind) {
            None => 0,
            Some(EventKind::Breaker(_)) => 1,
            Some(EventKind::Storm { .. }) => 2,
        }
    }

    #[wasm_bindgen(js_name = eventKey)]
    pub fn event_key(&self) -> String {
        self.event.as_ref().map(|e| e.key.clone()).unwrap_or_default()
    }

    #[wasm_bindgen(js_name = eventAt)]
    pub fn event_at(&self) -> f64 {
        self.event.as_ref().map_or(0.0, |e| e.at as f64)
    }

    /// Breaker: 0 closed, 1 open, 2 half-open. Storm: 1 storm, 0 calm.
    #[wasm_bindgen(js_name = eventState)]
    pub fn event_state(&self) -> u32 {
        match self.event.as_ref().map(|e| e.kind) {
            Some(EventKind::Breaker(StateName::Open)) => 1,
            Some(EventKind::Breaker(StateName::HalfOpen)) => 2,
            Some(EventKind::Storm { change, .. }) => u32::from(change.storm),
            _ => 0,
        }
    }

    #[wasm_bindgen(js_name = eventRatio)]
    pub fn event_ratio(&self) -> f64 {
        match self.event.as_ref().map(|e| e.kind) {
            Some(EventKind::Storm { change, .. }) => change.retry_ratio,
            _ => 0.0,
        }
    }

    #[wasm_bindgen(js_name = eventAttempts)]
    pub fn event_attempts(&self) -> u32 {
        match self.event.as_ref().map(|e| e.kind) {
            Some(EventKind::Storm { change, .. }) => change.attempts,
            _ => 0,
        }
    }

    #[wasm_bindgen(js_name = eventWindowMs)]
    pub fn event_window_ms(&self) -> f64 {
        match self.event.as_ref().map(|e| e.kind) {
            Some(EventKind::Storm { window_ms, .. }) => window_ms as f64,
            _ => 0.0,
        }
    }
}

impl Instance {
    fn slot(&self, id: u32) -> Option<&Slot> {
        self.slots.get(id as usize).and_then(Option::as_ref)
    }

    fn next_random(&mut self) -> f64 {
        self.rng.get_or_insert_with(|| SplitMix64::new(secure_seed())).next_f64()
    }

    fn step(
        &mut self,
        id: u32,
        report: impl FnOnce(&mut Call, &mut Engine, &Policy) -> Result<Action, CallError>,
    ) -> u32 {
        let Some(slot) = self.slots.get_mut(id as usize).and_then(Option::as_mut) else { return MISUSE };
        let Some(call) = slot.call.as_mut() else { return MISUSE };
        match report(call, &mut self.engine, &slot.policy) {
            Ok(action) => {
                slot.action = action;
                code(action)
            }
            Err(_) => MISUSE,
        }
    }
}

/// The service profiles of SPEC 8, as plain option objects.
#[wasm_bindgen]
pub fn presets() -> JsValue {
    let out = Object::new();
    for p in PRESETS.iter() {
        let preset = Object::new();
        set(&preset, "maxAttempts", JsValue::from(p.max_attempts));
        set(&preset, "baseDelayMs", number(p.base_delay_ms));
        set(&preset, "maxDelayMs", number(p.max_delay_ms));
        if p.jitter == Some(Jitter::Full) {
            set(&preset, "jitter", JsValue::from_str("full"));
        }
        set(&out, p.name, preset.into());
    }
    out.into()
}
