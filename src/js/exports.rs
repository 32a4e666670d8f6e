//! What the wasm module exports. pkg-template/api.js wraps these into `retryFetch`,
//! `createRetryFetch`, `presets` and `CircuitOpenError`.

use alloc::rc::Rc;
use js_sys::{Object, Promise, Reflect};
use wasm_bindgen::prelude::*;

use super::driver::{Shared, run};
use super::options::{self, Hooks};
use super::platform;
use crate::core::options::Scope;
use crate::core::policy::{Jitter, Policy};
use crate::core::presets::PRESETS;

fn set(object: &Object, key: &str, value: JsValue) {
    let _ = Reflect::set(object, &JsValue::from_str(key), &value);
}

fn number(n: u64) -> JsValue {
    JsValue::from(n as f64)
}

/// One set of defaults with its own breakers, budgets and stats.
#[wasm_bindgen]
pub struct Instance {
    shared: Rc<Shared>,
}

#[wasm_bindgen]
impl Instance {
    /// Validates `defaults` (a TypeError naming the option if wrong).
    #[wasm_bindgen(constructor)]
    pub fn new(defaults: JsValue) -> Result<Instance, JsValue> {
        let (policy, hooks) =
            options::apply(&defaults, &Policy::default(), &Hooks::default(), Scope::Defaults)?;
        Ok(Instance { shared: Rc::new(Shared::new(policy, hooks)) })
    }

    /// `retryFetch(input, init)`.
    pub fn fetch(&self, input: JsValue, init: JsValue) -> Promise {
        wasm_bindgen_futures::future_to_promise(run(self.shared.clone(), input, init))
    }

    /// Lifetime counters and latency percentiles (SPEC 7).
    pub fn stats(&self) -> Result<JsValue, JsValue> {
        let (c, latency) = self.shared.with_engine(|e| (e.stats.counters.clone(), e.stats.latency()))?;
        let out = Object::new();
        set(&out, "calls", number(c.calls));
        set(&out, "attempts", number(c.attempts));
        set(&out, "retries", number(c.retries));
        set(&out, "successes", number(c.successes));
        set(&out, "failures", number(c.failures));
        set(&out, "breakerRejections", number(c.breaker_rejections));
        set(&out, "budgetDenials", number(c.budget_denials));
        set(&out, "retryAfterWaits", number(c.retry_after_waits));
        let percentiles = Object::new();
        set(&percentiles, "p50", number(latency.p50));
        set(&percentiles, "p90", number(latency.p90));
        set(&percentiles, "p99", number(latency.p99));
        set(&out, "latencyMs", percentiles.into());
        Ok(out.into())
    }

    /// The breaker of `key` (an origin, by default) as it stands now (SPEC 5).
    pub fn breaker(&self, key: &str) -> Result<JsValue, JsValue> {
        let now = js_sys::Date::now() as u64;
        let snap = self.shared.with_engine(|e| e.breaker_snapshot(key, now))?;
        let out = Object::new();
        set(&out, "state", JsValue::from_str(snap.state.as_str()));
        set(&out, "failures", JsValue::from(snap.failures));
        set(&out, "successes", JsValue::from(snap.successes));
        if let Some(at) = snap.opened_at {
            set(&out, "openedAt", number(at));
        }
        Ok(out.into())
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

#[wasm_bindgen(js_name = circuitOpenErrorClass)]
pub fn circuit_open_error_class() -> JsValue {
    platform::circuit_open_error_class()
}
