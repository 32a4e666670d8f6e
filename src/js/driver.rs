//! Runs one call: the core's state machine against `fetch`, timers and the caller's signal.
//! Every decision is the core's; this file only performs the actions and reports back.

use alloc::rc::Rc;
use alloc::string::String;
use core::cell::RefCell;
use js_sys::{Array, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::options::{self, Hooks};
use super::platform::{self, ABORTED, INVALID, NETWORK, RESPONSE, TIMEOUT};
use crate::core::call::{Action, Call, Settle};
use crate::core::classify::{Outcome, method_is_retryable};
use crate::core::engine::Engine;
use crate::core::headers::ServerHints;
use crate::core::options::Scope;
use crate::core::origin;
use crate::core::policy::Policy;
use crate::core::rng::SplitMix64;

/// What one `retryFetch` instance shares across its calls.
pub struct Shared {
    pub engine: RefCell<Engine>,
    pub defaults: Rc<Policy>,
    /// The defaults as `retry: false` leaves them: one attempt, no breaker, no budget.
    pub single: Rc<Policy>,
    pub hooks: Rc<Hooks>,
    /// Seeded from the platform's secure source on first use (Workers forbid it at load).
    rng: RefCell<Option<SplitMix64>>,
}

impl Shared {
    pub fn new(defaults: Policy, hooks: Hooks) -> Self {
        let single = Policy { max_attempts: 1, breaker: None, budget: None, ..defaults.clone() };
        Shared {
            engine: RefCell::new(Engine::new()),
            defaults: Rc::new(defaults),
            single: Rc::new(single),
            hooks: Rc::new(hooks),
            rng: RefCell::new(None),
        }
    }

    /// Runs `f` on the engine. Borrows never span an await or a JS callback, so this cannot
    /// fail in practice; if it ever did, the call gets an error instead of a panic.
    pub fn with_engine<T>(&self, f: impl FnOnce(&mut Engine) -> T) -> Result<T, JsValue> {
        let mut engine = self.engine.try_borrow_mut().map_err(|_| internal_error())?;
        Ok(f(&mut engine))
    }

    fn default_random(&self) -> f64 {
        let Ok(mut slot) = self.rng.try_borrow_mut() else { return 0.5 };
        slot.get_or_insert_with(|| SplitMix64::new(platform::secure_seed() as u64)).next_f64()
    }
}

fn internal_error() -> JsValue {
    platform::option_error("edge-retry: internal state error")
}

fn now() -> u64 {
    js_sys::Date::now() as u64
}

fn set(object: &Object, key: &str, value: &JsValue) {
    // Setting a fresh plain object's own property cannot fail.
    let _ = Reflect::set(object, &JsValue::from_str(key), value);
}

async fn resolve(value: JsValue) -> Result<JsValue, JsValue> {
    if value.is_instance_of::<Promise>() || Reflect::has(&value, &"then".into()).unwrap_or(false) {
        JsFuture::from(Promise::resolve(&value)).await
    } else {
        Ok(value)
    }
}

/// The per-call policy and callbacks: the instance's defaults overridden by `init.retry`.
fn call_settings(shared: &Shared, init: &JsValue) -> Result<(Rc<Policy>, Rc<Hooks>), JsValue> {
    let retry = if init.is_object() {
        Reflect::get(init, &JsValue::from_str("retry"))
            .map_err(|_| platform::option_error("edge-retry: invalid option \"retry\": reading it threw"))?
    } else {
        JsValue::UNDEFINED
    };
    if retry.is_undefined() {
        return Ok((shared.defaults.clone(), shared.hooks.clone()));
    }
    if retry.as_bool() == Some(false) {
        return Ok((shared.single.clone(), shared.hooks.clone()));
    }
    let (policy, hooks) = options::apply(&retry, &shared.defaults, &shared.hooks, Scope::PerCall)?;
    Ok((Rc::new(policy), Rc::new(hooks)))
}

/// What the last attempt gave: a Response, or the error or timeout to reject with.
struct Last {
    kind: u32,
    value: JsValue,
}

/// One `retryFetch(input, init)` call, start to settlement.
pub async fn run(shared: Rc<Shared>, input: JsValue, init: JsValue) -> Result<JsValue, JsValue> {
    let (policy, hooks) = call_settings(&shared, &init)?;
    let facts = platform::request_facts(&input, &init);
    let method = facts.get(0).as_string().unwrap_or_default();
    let url = facts.get(1).as_string().unwrap_or_default();
    let has_idempotency_key = facts.get(2).is_truthy();
    let signal = facts.get(3);
    // (Reflect.get on undefined throws, and a thrown error costs microseconds: check first.)
    if !signal.is_undefined() && Reflect::get(&signal, &"aborted".into()).is_ok_and(|a| a.is_truthy()) {
        return Err(Reflect::get(&signal, &"reason".into()).unwrap_or(JsValue::UNDEFINED));
    }
    let key = match &hooks.key {
        Some(key_fn) => {
            let k = key_fn.call1(&JsValue::UNDEFINED, &JsValue::from_str(&url))?;
            k.as_string().unwrap_or_else(|| String::from(js_sys::JsString::from(k)))
        }
        None => origin::of_absolute_http(&url).unwrap_or_else(|| platform::origin_of(&url)),
    };

    // A stream body is read into a replay buffer before anything is sent (SPEC 3).
    let mut body = JsValue::UNDEFINED;
    let mut replayable = true;
    let stream = platform::stream_body(&input, &init);
    if !stream.is_undefined() {
        let buffered: Array = JsFuture::from(platform::buffer_body(&stream, policy.max_replay_bytes as f64))
            .await?
            .unchecked_into();
        replayable = buffered.get(0).is_truthy();
        body = buffered.get(1);
    }
    let repeatable = replayable && method_is_retryable(&policy, &method, has_idempotency_key);

    let (mut call, mut action) =
        shared.with_engine(|engine| Call::start(engine, &policy, &key, repeatable, now()))?;
    let mut last: Option<Last> = None;
    loop {
        action = match action {
            Action::Send { timeout_ms, .. } => {
                let fetch = match &hooks.fetch {
                    Some(f) => f.clone(),
                    None => match platform::global_fetch() {
                        Ok(f) => f,
                        Err(e) => {
                            let _ = shared.with_engine(|engine| call.abort(engine, &policy, now()));
                            return Err(e);
                        }
                    },
                };
                let timeout = timeout_ms.map(|t| t as f64);
                let pending = platform::attempt(&fetch, &input, &init, &body, timeout, &signal);
                let result: Array = JsFuture::from(pending).await?.unchecked_into();
                let kind = result.get(0).as_f64().unwrap_or(f64::from(NETWORK)) as u32;
                let value = result.get(1);
                // An abort, or a request the platform refuses outright: settle with its error.
                if kind == ABORTED || kind == INVALID {
                    let _ = shared.with_engine(|engine| call.abort(engine, &policy, now()));
                    return Err(value);
                }
                let outcome = match kind {
                    RESPONSE => Outcome::Response(platform::status(&value)),
                    TIMEOUT => Outcome::Timeout,
                    _ => Outcome::NetworkError,
                };
                let retryable = outcome.is_retryable(&policy);
                let hints = if retryable && policy.respect_retry_after && kind == RESPONSE {
                    [
                        platform::header(&value, "retry-after"),
                        platform::header(&value, "ratelimit-reset"),
                        platform::header(&value, "ratelimit"),
                        platform::header(&value, "x-ratelimit-reset"),
                    ]
                } else {
                    [None, None, None, None]
                };
                let [retry_after, ratelimit_reset, ratelimit, x_ratelimit_reset] = &hints;
                let hints = ServerHints {
                    retry_after: retry_after.as_deref().map(str::as_bytes),
                    ratelimit_reset: ratelimit_reset.as_deref().map(str::as_bytes),
                    ratelimit: ratelimit.as_deref().map(str::as_bytes),
                    x_ratelimit_reset: x_ratelimit_reset.as_deref().map(str::as_bytes),
                };
                let rnd = if retryable { random(&shared, &hooks)? } else { 0.0 };
                last = Some(Last { kind, value });
                shared
                    .with_engine(|engine| call.on_outcome(engine, &policy, outcome, &hints, now(), rnd))?
                    .map_err(|_| internal_error())?
            }
            Action::Retry { attempt, delay_ms, reason, .. } => {
                let step =
                    RetryStep { attempt, delay_ms, reason: reason.as_str(), url: &url, signal: &signal };
                match retry(&shared, &mut call, &policy, &hooks, last.as_ref(), step).await {
                    Ok(next) => next,
                    Err(e) => {
                        let _ = shared.with_engine(|engine| call.abort(engine, &policy, now()));
                        return Err(e);
                    }
                }
            }
            Action::Settle(how) => return settle(how, last, &key, &signal),
        };
    }
}

fn settle(how: Settle, last: Option<Last>, key: &str, signal: &JsValue) -> Result<JsValue, JsValue> {
    match how {
        Settle::Last => match last {
            Some(Last { kind: RESPONSE, value }) => Ok(value),
            Some(Last { kind: TIMEOUT, .. }) | None => Err(platform::timeout_error()),
            Some(Last { value, .. }) => Err(value),
        },
        Settle::Deadline => Err(platform::timeout_error()),
        Settle::CircuitOpen { retry_after_ms } => {
            Err(platform::circuit_open_error(key, retry_after_ms as f64))
        }
        Settle::Aborted => Err(Reflect::get(signal, &"reason".into()).unwrap_or(JsValue::UNDEFINED)),
    }
}

/// The next random number in [0, 1): the caller's `random` option, or the seeded generator.
fn random(shared: &Shared, hooks: &Hooks) -> Result<f64, JsValue> {
    match &hooks.random {
        Some(f) => Ok(f.call0(&JsValue::UNDEFINED)?.as_f64().unwrap_or(0.0)),
        None => Ok(shared.default_random()),
    }
}

struct RetryStep<'a> {
    attempt: u32,
    delay_ms: u64,
    reason: &'static str,
    url: &'a str,
    signal: &'a JsValue,
}

/// Between attempts: ask `shouldRetry`, release the discarded body, tell `onRetry`, wait, and
/// resume the call. An error (a throwing callback, an abort) ends the call with that error.
async fn retry(
    shared: &Shared,
    call: &mut Call,
    policy: &Policy,
    hooks: &Hooks,
    last: Option<&Last>,
    step: RetryStep<'_>,
) -> Result<Action, JsValue> {
    let (kind, value) = last.map_or((NETWORK, JsValue::UNDEFINED), |l| (l.kind, l.value.clone()));
    let error = match kind {
        RESPONSE => None,
        TIMEOUT => Some(platform::timeout_error()),
        _ => Some(value.clone()),
    };
    let attempt = JsValue::from(step.attempt);
    let delay = JsValue::from(step.delay_ms as f64);
    if let Some(should_retry) = &hooks.should_retry {
        let context = Object::new();
        set(&context, "attempt", &attempt);
        set(&context, "delayMs", &delay);
        match &error {
            None => set(&context, "response", &value),
            Some(e) => set(&context, "error", e),
        }
        let verdict = match should_retry.call1(&JsValue::UNDEFINED, &context) {
            Ok(v) => resolve(v).await,
            Err(e) => Err(e),
        };
        match verdict {
            Ok(v) if v.is_truthy() => {}
            Ok(_) => {
                return shared.with_engine(|e| call.decline(e, policy, now()))?.map_err(|_| internal_error());
            }
            Err(e) => {
                if kind == RESPONSE {
                    platform::cancel_body(&value);
                }
                return Err(e);
            }
        }
    }
    if kind == RESPONSE {
        platform::cancel_body(&value);
    }
    if let Some(on_retry) = &hooks.on_retry {
        let event = Object::new();
        set(&event, "attempt", &attempt);
        set(&event, "delayMs", &delay);
        set(&event, "reason", &JsValue::from_str(step.reason));
        match &error {
            None => set(&event, "status", &JsValue::from(platform::status(&value))),
            Some(e) => set(&event, "error", e),
        }
        set(&event, "url", &JsValue::from_str(step.url));
        on_retry.call1(&JsValue::UNDEFINED, &event)?;
    }
    JsFuture::from(platform::sleep(step.delay_ms as f64, step.signal)).await?;
    shared.with_engine(|e| call.resume(e, policy, now()))?.map_err(|_| internal_error())
}
