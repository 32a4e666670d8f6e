//! What the wasm module exports: an `Instance` (one set of breakers, budgets and stats) with a
//! handle API that driver.js runs each call through, plus the presets' table. Only numbers,
//! byte arrays and a few strings cross; no JS object is read or built here.
//!
//! | export | arguments | returns |
//! |---|---|---|
//! | `new Instance()` | | an instance with the built-in defaults |
//! | `configure` | defaults, as option bytes (core::option_bytes) | true, or false with `text(TEXT_ERROR)` set |
//! | `open` | the call's `init.retry` as option bytes (undefined: the defaults; false: one attempt), and a place (0-7) to keep the checked policy at, for `openAt` (any other number: kept nowhere) | a slot id, or ERROR with `text(TEXT_ERROR)` set |
//! | `openAt` | a place `open` kept a policy at, or DEFAULTS_PLACE 8 (a call with no `init.retry`) | `open` with no bytes to pass or check: a slot id, or ERROR for an empty place |
//! | `setText` | TEXT_KEY 0 / TEXT_METHOD 1, a string | the key the next `start` is for (driver.js sends it only when it changes); the method of a `start` given OTHER_METHOD |
//! | `text` | TEXT_ERROR 0 / TEXT_EVENT_KEY 1 | the last option error's message, naming the option; the key of the event `nextEvent` took |
//! | `start` | slot, method code (METHODS' index, or OTHER_METHOD), flags (START_IDEMPOTENCY_KEY 1, START_REPLAYABLE 2, START_ADMITTED 4: the first attempt went out already under a lease, so the breaker is not asked), began, now | action code (SEND_LEASED 11: SEND, and a lease; SEND_LEASED_TIMED 12: SEND_TIMED, and a lease; below) |
//! | `outcome` | slot, kind (0 response, 1 network, 2 timeout), status, four wait headers, now, random or NaN | action code |
//! | `response` | slot, status, began (read only for LEASED), now | `outcome` for a 2xx response (no headers, no random number); a call that is not hedged and settles with it (SETTLE_LAST) is closed too, so no `close` follows. For LEASED + a place, a 2xx of a call sent under a lease: SEND_LEASED (recorded; the lease goes on), SETTLE_LAST (recorded; it ends) or MISUSE (a status the policy retries: nothing recorded, start the call admitted) |
//! | `act` | ACT_RESUME 0 / ACT_DECLINE 1 / ACT_ABORT 2 / ACT_HEDGE 3, slot, now | action code (ACT_HEDGE: the hedge delay passed; SEND or NO_HEDGE) |
//! | `get` | what, n (a slot, or which of a group) | GET_PARAM 0 (the current action's number: SEND's timeout or -1, RETRY's delay, CIRCUIT_OPEN's retry-after), GET_ATTEMPT 1, GET_REASON 2 (reason code), GET_REPLAY_LIMIT 3 (maxReplayBytes), GET_TIMEOUT_MS 4 (or -1), GET_HEDGE_AFTER 5 (after a SEND of a hedged call: ms until ACT_HEDGE may be asked, or -1); GET_STAT 6 (n: calls, attempts, retries, successes, failures, breakerRejections, budgetDenials, retryAfterWaits, p50, p90, p99, storms, hedges), GET_BREAKER 7 (n: failures, successes, openedAt of the breaker last asked for; openedAt -1: none), GET_EVENT 8 (n: at, state, retryRatio, attempts, windowMs of the event last taken), GET_FLEET_SETTING 9 (see `fleetSetting` below); -1 for an unknown `what` |
//! | `set` | SET_SEED 0 (two u32 from `Math.random`) / SET_LISTEN 1 (1: keep breaker changes and storms as events, SPEC 8) / SET_ANSWERED 2 (slot, attempt: a hedged call's next `outcome` is that attempt's, which may answer PENDING) | |
//! | `close` | slot, now | frees the slot (aborting a call left unsettled) |
//! | `originLength` | url | the length of the origin a plain http(s) URL starts with, or 0 |
//! | `breaker` | key, now | its state (0 closed, 1 open, 2 half-open); GET_BREAKER gives the rest |
//! | `nextEvent` | | takes the oldest event: 0 none, 1 breaker, 2 storm (state, breaker: 0 closed, 1 open, 2 half-open; storm: 1 storm, 0 calm) |
//! | `preset` | index, field: maxAttempts, baseDelayMs, maxDelayMs, full jitter | that number (-1 past the end) |
//! | `fleetSetting` (GET_FLEET_SETTING) | which: failureRatio, minimumRequests, windowMs, openMs, maxOpenMs; budget capacity, retryCost, timeoutCost, successRefund | the instance's breaker (0-4) or budget (5-8) setting (-1: none), for `edge-retry/fleet` |
//! | `fleet` | op, n: 0 share the budget with the fleet (n: staleMs; retries then also need the fleet's tokens, core::fleet::ledger), 1 owes, 2 forget the fleet's levels, 3 count a call the fleet refused as a breaker rejection | for 1: whether budget spending waits for a report |
//! | `fleetLedger` | | takes that spending, as ledger bytes for `FleetLink.recordSpending` |
//! | `fleetLevel` | key, tokens, now | the fleet's budget of a key, from a view |
//! | `fleetClose` | key, now | closes the key's local breaker (the fleet saw it recover, or leased this isolate its probe) |
//! | `fleetFailure` | kind, status | whether the outcome counts as a breaker failure under the instance's defaults |
//!
//! The numbers of `get`, `act`, `set`, `setText` and `text`, and the action codes, are
//! src/js/codes.js's. Each export costs the module a wrapper and the glue a method, so the
//! rarely used ones share one.
//!
//! The fleet's own classes (`fleet_exports.rs`): `FleetLink` (per isolate: `admit(key, now)`
//! 0 pass, 1 probe, 2 refused with `param()`; `record`, `recordProbe`, `due`, `begin`,
//! `apply`, `failed`, `nextToClose`) and `FleetHub` (the Durable Object's: `sync(report,
//! now)` gives the view's bytes, or undefined with `error()`).
//!
//! Action codes: SEND 0 (with no timeout), RETRY 1, SETTLE_LAST 2, SETTLE_DEADLINE 3,
//! SETTLE_CIRCUIT_OPEN 4, SETTLE_ABORTED 5, MISUSE 6 (a report that did not fit the call's
//! phase: a driver bug), SEND_TIMED 10 (send, cut after GET_PARAM's timeout). A SEND needs no
//! GET_PARAM: most calls have no timeout and ask nothing more.
//!
//! Leases: `start` answers SEND_LEASED instead of SEND (SEND_LEASED_TIMED instead of SEND_TIMED)
//! for a call whose policy does not hedge, sent with the breaker closed (or with none): calls
//! to the same key with the same policy would be sent alike while the breaker stays closed,
//! each cut after the same timeout (GET_PARAM, read once), so driver.js sends them without
//! `openAt` or `start` until it reports a failure (`outcome` with anything but a 2xx, a
//! timeout included), or new options take the policy's place. Each such call's 2xx is then
//! one `response` with LEASED; anything else opens a slot and starts with START_ADMITTED, then
//! goes on as usual.
//!
//! Hedged calls (SPEC 9): `start` answers SEND_HEDGED 7 instead of SEND for a call whose
//! policy hedges and whose request may be sent again, so a call without `hedge` never asks
//! anything more. driver.js then runs it with several attempts in flight: after each SEND it
//! asks GET_HEDGE_AFTER, acts ACT_HEDGE when that timer fires, and reports each attempt with
//! SET_ANSWERED then `outcome`, which answers PENDING 8 for a retryable outcome while other
//! attempts are still out (wait for them); any other code ends the attempts still out. ACT_HEDGE answers NO_HEDGE 9
//! when no hedge may go.

use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use wasm_bindgen::prelude::*;

use crate::core::breaker::StateName;
use crate::core::call::{Action, Call, CallError, Settle};
use crate::core::classify::{Outcome, method_is_retryable};
use crate::core::engine::{Engine, Event, EventKind};
use crate::core::headers::ServerHints;
use crate::core::options::{self, Scope};
use crate::core::origin;
use crate::core::policy::{Jitter, Policy};
use crate::core::presets::PRESETS;
use crate::core::registry::Place;
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
/// Send with a timeout (GET_PARAM gives it).
const SEND_TIMED: u32 = 10;
/// `start`: SEND, and a lease (see `Call::leases`): plain calls to this key with this policy
/// may go out without `open` or `start` until a failure is reported, each 2xx then reported
/// by `response` with LEASED and the policy's place in place of a slot.
const SEND_LEASED: u32 = 11;
/// `start`: SEND_TIMED, and a lease whose calls are each cut after that timeout.
const SEND_LEASED_TIMED: u32 = 12;
/// `response`'s slot bit for a call sent under a lease (the rest: the policy's place).
const LEASED: u32 = 0x8000_0000;
/// `start`'s flags: the request has an Idempotency-Key; its body can be sent again; its
/// first attempt went out already under a lease (do not ask the breaker).
const START_IDEMPOTENCY_KEY: u32 = 1;
const START_REPLAYABLE: u32 = 2;
const START_ADMITTED: u32 = 4;
/// How many checked per-call policies `open` keeps for `openAt` (driver.js decides which:
/// it compares the option bytes, so the core never holds or compares them).
const RECENT_OPTIONS: usize = 8;
/// `openAt`'s place for the instance's defaults (a call with no `init.retry`).
const DEFAULTS_PLACE: u32 = RECENT_OPTIONS as u32;
/// What `open` returns for options it refused (`error()` says why).
const ERROR: u32 = u32::MAX;
/// The methods `start` takes as a number (their index; driver.js has the same list), so the
/// common call passes no string: anything else is sent with `setMethod` first.
const METHODS: [&str; 8] = ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE", "POST", "PATCH"];

// Outcome kinds, as driver.js reports them.
const RESPONSE: u32 = 0;
const TIMEOUT: u32 = 2;

struct Slot {
    policy: Rc<Policy>,
    call: Option<Call>,
    action: Action,
    /// A hedged call: the attempt whose outcome `outcome` reports next (set by SET_ANSWERED).
    answered: u32,
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
    /// Seeded by driver.js from `Math.random` on the first call (Workers forbid
    /// drawing random numbers at load).
    rng: SplitMix64,
    /// The message of the last refused options.
    error: String,
    /// The key and (for a method not in METHODS) the method of the next `start`.
    key: String,
    method: String,
    /// The breaker snapshot last asked for (`breaker`, then GET_BREAKER).
    snapshot: [f64; 3],
    /// The event `nextEvent` took last.
    event: Option<Event>,
    /// Where the state of `key` is for calls with this policy, as the last `start` found it:
    /// calls mostly repeat a key and a policy, so the next one needs no lookup. Cleared when
    /// the key or the engine changes; a place gone stale is found again by the engine.
    place: Option<(Rc<Policy>, Place)>,
    /// Per-call policies kept by `open` at the places driver.js chose, for `openAt`.
    recent: [Option<Rc<Policy>>; RECENT_OPTIONS],
}

fn code(action: Action) -> u32 {
    match action {
        Action::Send { timeout_ms: Some(_), .. } => SEND_TIMED,
        Action::Send { .. } => SEND,
        Action::Retry { .. } => RETRY,
        Action::Settle(Settle::Last) => SETTLE_LAST,
        Action::Settle(Settle::Deadline) => SETTLE_DEADLINE,
        Action::Settle(Settle::CircuitOpen { .. }) => SETTLE_CIRCUIT_OPEN,
        Action::Settle(Settle::Aborted) => SETTLE_ABORTED,
    }
}

#[wasm_bindgen]
impl Instance {
    /// An instance with the built-in defaults (`configure` sets others).
    #[wasm_bindgen(constructor)]
    pub fn new() -> Instance {
        let policy = Policy::default();
        Instance {
            engine: Engine::with_defaults(&policy),
            single: Rc::new(single_attempt(&policy)),
            defaults: Rc::new(policy),
            slots: Vec::new(),
            free: Vec::new(),
            rng: SplitMix64::new(0),
            error: String::new(),
            key: String::new(),
            method: String::new(),
            snapshot: [0.0; 3],
            event: None,
            place: None,
            recent: Default::default(),
        }
    }

    /// Sets the instance's defaults (`createRetryFetch(defaults)`), given as option bytes.
    /// False when they are refused; `error()` names the option.
    pub fn configure(&mut self, defaults: &[u8]) -> bool {
        match self.read(defaults, &Policy::default(), Scope::Defaults) {
            Ok(policy) => {
                self.engine = Engine::with_defaults(&policy);
                self.place = None;
                self.recent = Default::default();
                self.single = Rc::new(single_attempt(&policy));
                self.defaults = Rc::new(policy);
                true
            }
            Err(()) => false,
        }
    }

    /// Opens a call with its options (`init.retry` as option bytes: undefined, false or an
    /// object) and returns its slot, or ERROR for options refused (nothing is sent). The
    /// policy is kept at `place` (below RECENT_OPTIONS; else nowhere) for `openAt`.
    pub fn open(&mut self, retry: &[u8], place: u32) -> u32 {
        let policy = match retry {
            [0] => self.defaults.clone(),
            [2] => self.single.clone(),
            _ => match self.read(retry, &self.defaults.clone(), Scope::PerCall) {
                Ok(policy) => Rc::new(policy),
                Err(()) => return ERROR,
            },
        };
        if let Some(kept) = self.recent.get_mut(place as usize) {
            *kept = Some(policy.clone());
        }
        self.open_with(policy)
    }

    /// Opens a call with the policy `open` kept at `place` (the same options as a recent call,
    /// which code that writes them inline makes afresh each time: checked once, shared since),
    /// or with the defaults (DEFAULTS_PLACE). ERROR for a place holding nothing.
    #[wasm_bindgen(js_name = openAt)]
    pub fn open_at(&mut self, place: u32) -> u32 {
        let policy = match self.policy_at(place) {
            Some(policy) => policy,
            None => {
                self.error = String::from("edge-retry: no options kept at that place (an edge-retry bug)");
                return ERROR;
            }
        };
        self.open_with(policy)
    }

    /// Frees a call's slot once driver.js has settled it. A call closed unsettled (driver.js
    /// always settles first; this is a safeguard) is aborted, so a half-open probe or a
    /// retry's tokens it holds are given back rather than held for ever.
    pub fn close(&mut self, id: u32, now: f64) {
        if let Some(entry @ Some(_)) = self.slots.get_mut(id as usize) {
            if let Some(Slot { policy, call: Some(call), .. }) = entry.as_mut() {
                if !call.is_settled() {
                    let _ = call.abort(&mut self.engine, policy, now as u64);
                }
            }
            *entry = None;
            self.free.push(id);
        }
    }

    /// How long the origin at the start of a plain http(s) URL is, written as `URL.origin`
    /// writes it; 0 for driver.js to ask `URL`. (A number: a returned string costs a 2 KB shim.)
    #[wasm_bindgen(js_name = originLength)]
    pub fn origin_length(&self, url: &str) -> u32 {
        u32::try_from(origin::prefix_len(url)).unwrap_or(0)
    }

    /// Starts the call for the key last set, which began at `began` (its deadline and latency
    /// count from then): the first action's code (SEND, or a settlement). `method` indexes
    /// METHODS; a larger number means the one last given to `setMethod`.
    pub fn start(&mut self, id: u32, method: u32, flags: u32, began: f64, now: f64) -> u32 {
        let Some(slot) = self.slots.get_mut(id as usize).and_then(Option::as_mut) else { return MISUSE };
        let method = METHODS.get(method as usize).copied().unwrap_or(self.method.as_str());
        let idempotency_key = flags & START_IDEMPOTENCY_KEY != 0;
        let replayable = flags & START_REPLAYABLE != 0;
        let repeatable = replayable && method_is_retryable(&slot.policy, method, idempotency_key);
        let policy = slot.policy.clone();
        let place = self.place_of(&policy);
        let (call, action) = if flags & START_ADMITTED != 0 {
            Call::start_admitted(&mut self.engine, &policy, place, repeatable, began as u64)
        } else {
            Call::start_at(&mut self.engine, &policy, place, repeatable, began as u64, now as u64)
        };
        self.keep_place(call.place());
        let answer = match code(action) {
            SEND | SEND_TIMED if call.is_hedged() => SEND_HEDGED,
            SEND if flags & START_ADMITTED == 0 && call.leases(&policy) => SEND_LEASED,
            SEND_TIMED if flags & START_ADMITTED == 0 && call.leases(&policy) => SEND_LEASED_TIMED,
            other => other,
        };
        if let Some(slot) = self.slots.get_mut(id as usize).and_then(Option::as_mut) {
            slot.call = Some(call);
            slot.action = action;
        }
        answer
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
        let hints = hints_of(&retry_after, &ratelimit_reset, &ratelimit, &x_ratelimit_reset);
        self.report(id, kind, status, &hints, now, rnd)
    }

    /// `outcome` for a response the driver has no wait headers to pass with (a 2xx: nothing
    /// waits on it), so nothing but numbers crosses. A call that is not hedged and settles
    /// here is closed too: the common call ends with this one crossing, not two.
    pub fn response(&mut self, id: u32, status: u16, began: f64, now: f64) -> u32 {
        if id & LEASED != 0 {
            return self.leased_response(id & !LEASED, status, began, now);
        }
        let action = self.report(id, RESPONSE, status, &ServerHints::default(), now, f64::NAN);
        let plain = self.slot(id).and_then(|s| s.call.as_ref()).is_some_and(|c| !c.is_hedged());
        if action == SETTLE_LAST && plain {
            self.close(id, now);
        }
        action
    }

    /// The breaker of `key` (an origin, by default) as it stands at `now` (SPEC 5): its state
    /// (0 closed, 1 open, 2 half-open); GET_BREAKER then gives the rest.
    pub fn breaker(&mut self, key: &str, now: f64) -> u32 {
        let snap = self.engine.breaker_snapshot(key, now as u64);
        self.snapshot = [
            f64::from(snap.failures),
            f64::from(snap.successes),
            snap.opened_at.map_or(-1.0, |at| at as f64),
        ];
        match snap.state {
            StateName::Closed => 0,
            StateName::Open => 1,
            StateName::HalfOpen => 2,
        }
    }

    /// A number about the instance or a call (see GET_* for `what`; `n` is the slot, or which
    /// counter of the group). -1 for a `what` it does not know.
    pub fn get(&self, what: u32, n: u32) -> f64 {
        match what {
            GET_PARAM => self.param(n),
            GET_ATTEMPT => f64::from(self.attempt(n)),
            GET_REASON => f64::from(self.reason(n)),
            GET_REPLAY_LIMIT => self.replay_limit(n),
            GET_TIMEOUT_MS => self.timeout_ms(n),
            GET_HEDGE_AFTER => self.hedge_after(n),
            GET_STAT => self.stat(n),
            GET_BREAKER => self.breaker_count(n),
            GET_EVENT => self.event_number(n),
            #[cfg(feature = "fleet-isolate")]
            GET_FLEET_SETTING => self.fleet_setting(n),
            _ => -1.0,
        }
    }

    /// A step of the call in slot `id` (see ACT_*): its action code.
    pub fn act(&mut self, op: u32, id: u32, now: f64) -> u32 {
        let Some(slot) = self.slots.get_mut(id as usize).and_then(Option::as_mut) else { return MISUSE };
        let Some(call) = slot.call.as_mut() else { return MISUSE };
        let (engine, policy, now) = (&mut self.engine, &slot.policy, now as u64);
        // One match over the steps, not a copy of the slot's lookup per step.
        let stepped = match op {
            ACT_RESUME => call.resume(engine, policy, now),
            ACT_DECLINE => call.decline(engine, policy, now),
            ACT_HEDGE => match call.hedge(engine, policy, now) {
                Ok(Some(action)) => Ok(action),
                Ok(None) => return NO_HEDGE,
                Err(e) => Err(e),
            },
            _ => call.abort(engine, policy, now),
        };
        match stepped {
            Ok(action) => {
                slot.action = action;
                code(action)
            }
            Err(_) => MISUSE,
        }
    }

    /// SET_SEED (a, b: two u32 from `Math.random`), SET_LISTEN (a: 1 keep events, 0 not),
    /// SET_ANSWERED (a: slot, b: the attempt the next `outcome` reports).
    pub fn set(&mut self, what: u32, a: u32, b: u32) {
        match what {
            SET_SEED => self.seed(a, b),
            SET_LISTEN => self.listen(a != 0),
            SET_ANSWERED => self.answered(a, b),
            _ => {}
        }
    }

    /// TEXT_KEY: the key of the calls `start` starts from now on; TEXT_METHOD: the method of a
    /// `start` given a code past METHODS.
    #[wasm_bindgen(js_name = setText)]
    pub fn set_text(&mut self, which: u32, text: &str) {
        let into = if which == TEXT_KEY {
            self.place = None; // kept for the key it replaces
            &mut self.key
        } else {
            &mut self.method
        };
        into.clear();
        into.push_str(text);
    }

    /// TEXT_ERROR: the message of the options last refused; TEXT_EVENT_KEY: the key of the
    /// event `nextEvent` took.
    pub fn text(&self, which: u32) -> String {
        if which == TEXT_ERROR { self.error() } else { self.event_key() }
    }

    /// Takes the oldest event: 0 none, 1 breaker change, 2 storm change.
    #[wasm_bindgen(js_name = nextEvent)]
    pub fn take_event(&mut self) -> u32 {
        self.next_event()
    }
}

// `get`'s questions: of a slot (n: its id) ...
const GET_PARAM: u32 = 0;
const GET_ATTEMPT: u32 = 1;
const GET_REASON: u32 = 2;
const GET_REPLAY_LIMIT: u32 = 3;
const GET_TIMEOUT_MS: u32 = 4;
const GET_HEDGE_AFTER: u32 = 5;
// ... or of the instance (n: which of the group).
const GET_STAT: u32 = 6;
const GET_BREAKER: u32 = 7;
const GET_EVENT: u32 = 8;
#[cfg(feature = "fleet-isolate")]
const GET_FLEET_SETTING: u32 = 9;
// `act`'s steps (anything else aborts).
const ACT_RESUME: u32 = 0;
const ACT_DECLINE: u32 = 1;
const ACT_ABORT: u32 = 2;
const ACT_HEDGE: u32 = 3;
// `set`'s settings.
const SET_SEED: u32 = 0;
const SET_LISTEN: u32 = 1;
const SET_ANSWERED: u32 = 2;
// `setText` and `text`.
const TEXT_KEY: u32 = 0;
const TEXT_ERROR: u32 = 0;

/// What the dispatchers above reach (and the tests call directly): one export for many,
/// since each export costs the module a wrapper and the glue a method.
impl Instance {
    /// Seeds the random source used when no `random` callback is given.
    pub fn seed(&mut self, high: u32, low: u32) {
        self.rng = SplitMix64::new((u64::from(high) << 32) | u64::from(low));
    }

    /// The message of the options last refused.
    pub fn error(&self) -> String {
        self.error.clone()
    }

    /// How many bytes of a stream body this call may keep for replay.
    pub fn replay_limit(&self, id: u32) -> f64 {
        self.slot(id).map_or(0.0, |s| s.policy.max_replay_bytes as f64)
    }

    /// The call's `timeoutMs`, or -1 for none (driver.js applies it while reading a body).
    pub fn timeout_ms(&self, id: u32) -> f64 {
        self.slot(id).and_then(|s| s.policy.timeout_ms).map_or(-1.0, |t| t as f64)
    }

    /// The key (an origin, or what `breaker.key` gave) of the calls `start` starts from now on.
    pub fn set_key(&mut self, key: &str) {
        self.key.clear();
        self.key.push_str(key);
    }

    /// The method of a `start` given a code past METHODS.
    pub fn set_method(&mut self, method: &str) {
        self.method.clear();
        self.method.push_str(method);
    }

    /// The wait is over: SEND, or a settlement.
    pub fn resume(&mut self, id: u32, now: f64) -> u32 {
        self.act(ACT_RESUME, id, now)
    }

    /// `shouldRetry` said no.
    pub fn decline(&mut self, id: u32, now: f64) -> u32 {
        self.act(ACT_DECLINE, id, now)
    }

    /// The caller aborted, or a callback threw: free what the call holds.
    pub fn abort(&mut self, id: u32, now: f64) -> u32 {
        self.act(ACT_ABORT, id, now)
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

    /// One lifetime counter or latency percentile (SPEC 7), `which` in the order of the table
    /// above. (Numbers one by one: a returned array costs a shim of its own.)
    pub fn stat(&self, which: u32) -> f64 {
        let c = &self.engine.stats.counters;
        let n = match which {
            0 => c.calls,
            1 => c.attempts,
            2 => c.retries,
            3 => c.successes,
            4 => c.failures,
            5 => c.breaker_rejections,
            6 => c.budget_denials,
            7 => c.retry_after_waits,
            8 => self.engine.stats.latency().p50,
            9 => self.engine.stats.latency().p90,
            10 => self.engine.stats.latency().p99,
            11 => c.storms,
            12 => c.hedges,
            _ => return -1.0,
        };
        n as f64
    }

    /// Of the breaker last asked for: 0 failures, 1 successes, 2 openedAt (or -1).
    pub fn breaker_count(&self, which: u32) -> f64 {
        self.snapshot.get(which as usize).copied().unwrap_or(-1.0)
    }
}

/// An outcome as driver.js reports it: kind 0 response (with `status`), 2 timeout, else a
/// network error.
fn outcome_of_kind(kind: u32, status: u16) -> Outcome {
    match kind {
        RESPONSE => Outcome::Response(status),
        TIMEOUT => Outcome::Timeout,
        _ => Outcome::NetworkError,
    }
}

/// A response's four wait headers, as the core reads them.
fn hints_of<'a>(
    retry_after: &'a Option<String>,
    ratelimit_reset: &'a Option<String>,
    ratelimit: &'a Option<String>,
    x_ratelimit_reset: &'a Option<String>,
) -> ServerHints<'a> {
    ServerHints {
        retry_after: retry_after.as_deref().map(str::as_bytes),
        ratelimit_reset: ratelimit_reset.as_deref().map(str::as_bytes),
        ratelimit: ratelimit.as_deref().map(str::as_bytes),
        x_ratelimit_reset: x_ratelimit_reset.as_deref().map(str::as_bytes),
    }
}

/// (Set after a clone, not written with `..policy.clone()`: that form copies the struct field
/// by field, 0.4 KB of wasm.)
fn single_attempt(policy: &Policy) -> Policy {
    let mut single = policy.clone();
    single.max_attempts = 1;
    single.breaker = None;
    single.budget = None;
    single
}

impl Instance {
    /// Keep events (driver.js has `onBreaker` or `onStorm`), or stop keeping them.
    pub fn listen(&mut self, on: bool) {
        self.engine.set_listening(on);
    }

    /// Takes the oldest event: 0 none, 1 breaker change, 2 storm change.
    pub fn next_event(&mut self) -> u32 {
        self.event = self.engine.next_event();
        match self.event.as_ref().map(|e| e.kind) {
            None => 0,
            Some(EventKind::Breaker(_)) => 1,
            Some(EventKind::Storm { .. }) => 2,
        }
    }

    pub fn event_key(&self) -> String {
        self.event.as_ref().map(|e| e.key.clone()).unwrap_or_default()
    }

    /// Of the event `nextEvent` took: 0 at, 1 state, 2 retry ratio, 3 attempts, 4 windowMs.
    pub fn event_number(&self, which: u32) -> f64 {
        match which {
            0 => self.event_at(),
            1 => f64::from(self.event_state()),
            2 => self.event_ratio(),
            3 => f64::from(self.event_attempts()),
            4 => self.event_window_ms(),
            _ => -1.0,
        }
    }

    pub fn event_at(&self) -> f64 {
        self.event.as_ref().map_or(0.0, |e| e.at as f64)
    }

    /// Breaker: 0 closed, 1 open, 2 half-open. Storm: 1 storm, 0 calm.
    pub fn event_state(&self) -> u32 {
        match self.event.as_ref().map(|e| e.kind) {
            Some(EventKind::Breaker(StateName::Open)) => 1,
            Some(EventKind::Breaker(StateName::HalfOpen)) => 2,
            Some(EventKind::Storm { change, .. }) => u32::from(change.storm),
            _ => 0,
        }
    }

    pub fn event_ratio(&self) -> f64 {
        match self.event.as_ref().map(|e| e.kind) {
            Some(EventKind::Storm { change, .. }) => change.retry_ratio,
            _ => 0.0,
        }
    }

    pub fn event_attempts(&self) -> u32 {
        match self.event.as_ref().map(|e| e.kind) {
            Some(EventKind::Storm { change, .. }) => change.attempts,
            _ => 0,
        }
    }

    pub fn event_window_ms(&self) -> f64 {
        match self.event.as_ref().map(|e| e.kind) {
            Some(EventKind::Storm { window_ms, .. }) => window_ms as f64,
            _ => 0.0,
        }
    }
}

impl Instance {
    /// What `outcome` and `response` share (kept out of line: one copy, not two).
    #[inline(never)]
    fn report(&mut self, id: u32, kind: u32, status: u16, hints: &ServerHints, now: f64, rnd: f64) -> u32 {
        let outcome = outcome_of_kind(kind, status);
        let rnd = if rnd.is_nan() { self.next_random() } else { rnd };
        if let Some(Slot { policy, call: Some(call), action, answered }) =
            self.slots.get_mut(id as usize).and_then(Option::as_mut)
        {
            if call.is_hedged() {
                // Several attempts may be out: the one SET_ANSWERED named.
                let reported =
                    call.on_outcome_of(&mut self.engine, policy, *answered, outcome, hints, now as u64, rnd);
                return match reported {
                    Ok(Some(next)) => {
                        *action = next;
                        code(next)
                    }
                    Ok(None) => PENDING,
                    Err(_) => MISUSE,
                };
            }
        }
        self.step(id, |call, engine, policy| call.on_outcome(engine, policy, outcome, hints, now as u64, rnd))
    }

    /// A 2xx, at `now`, of a call sent at `began` under a lease (see `start`) with the policy
    /// kept at `place`, for the key last set: recorded as the call it was, started admitted
    /// and settled by this response, with no slot. SEND_LEASED while the lease may go on
    /// (the breaker is closed, or the policy has none); SETTLE_LAST when it must end; MISUSE,
    /// with nothing recorded, for a status that is not a 2xx or that the policy retries, or a
    /// place holding nothing (driver.js then runs the call through a slot, from this response).
    fn leased_response(&mut self, place: u32, status: u16, began: f64, now: f64) -> u32 {
        let Some(policy) = self.policy_at(place) else { return MISUSE };
        if !(200..300).contains(&status) || policy.retry_on.contains(status) {
            return MISUSE;
        }
        let mut at = self.place_of(&policy);
        let closed =
            Call::record_leased_success(&mut self.engine, &policy, &mut at, began as u64, now as u64, status);
        self.keep_place(&at);
        if closed { SEND_LEASED } else { SETTLE_LAST }
    }

    /// Where the state of the key last set is for calls with `policy`: as the last call with
    /// the same policy found it, or looked up.
    fn place_of(&mut self, policy: &Rc<Policy>) -> Place {
        match &self.place {
            Some((kept, place)) if Rc::ptr_eq(kept, policy) => place.clone(),
            _ => {
                let place = self.engine.place(&self.key, policy);
                self.place = Some((policy.clone(), place.clone()));
                place
            }
        }
    }

    /// Keeps where a call's step found the key's state (it may have found it elsewhere, or
    /// made it), for the next call with the same policy.
    fn keep_place(&mut self, found: &Place) {
        if let Some((_, kept)) = self.place.as_mut() {
            kept.clone_from(found);
        }
    }

    /// The policy kept at `place`, or the defaults at DEFAULTS_PLACE.
    fn policy_at(&self, place: u32) -> Option<Rc<Policy>> {
        match self.recent.get(place as usize) {
            Some(kept) => kept.clone(),
            None if place == DEFAULTS_PLACE => Some(self.defaults.clone()),
            None => None,
        }
    }

    fn open_with(&mut self, policy: Rc<Policy>) -> u32 {
        let slot = Slot { policy, call: None, action: Action::Settle(Settle::Last), answered: 0 };
        match self.free.pop() {
            Some(id) => {
                if let Some(entry) = self.slots.get_mut(id as usize) {
                    *entry = Some(slot);
                }
                id
            }
            None => {
                self.slots.push(Some(slot));
                u32::try_from(self.slots.len() - 1).unwrap_or(ERROR)
            }
        }
    }

    fn slot(&self, id: u32) -> Option<&Slot> {
        self.slots.get(id as usize).and_then(Option::as_ref)
    }

    fn next_random(&mut self) -> f64 {
        self.rng.next_f64()
    }

    /// Decodes option bytes and applies them over `base`; a refusal's message goes to `error`.
    fn read(&mut self, bytes: &[u8], base: &Policy, scope: Scope) -> Result<Policy, ()> {
        options::apply_bytes(base, bytes, scope).map_err(|e| self.error = e.message())
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

/// `fleet`'s operations: share the budget (n: staleMs), whether spending waits for a report,
/// forget the fleet's levels, count a call the fleet refused.
#[cfg(feature = "fleet-isolate")]
const FLEET_SHARE: u32 = 0;
#[cfg(feature = "fleet-isolate")]
const FLEET_OWES: u32 = 1;
#[cfg(feature = "fleet-isolate")]
const FLEET_FORGET: u32 = 2;
#[cfg(feature = "fleet-isolate")]
const FLEET_REFUSED: u32 = 3;

/// For `edge-retry/fleet` (see the table above); never on a call's path. Not in the module
/// inlined for browsers (feature `fleet-isolate`).
#[cfg(feature = "fleet-isolate")]
impl Instance {
    pub fn fleet_setting(&self, which: u32) -> f64 {
        let (breaker, budget) = (self.defaults.breaker.as_ref(), self.defaults.budget.as_ref());
        let setting = match which {
            0 => breaker.map(|b| b.failure_ratio),
            1 => breaker.map(|b| f64::from(b.minimum_requests)),
            2 => breaker.map(|b| b.window_ms as f64),
            3 => breaker.map(|b| b.open_ms as f64),
            4 => breaker.map(|b| b.max_open_ms as f64),
            5 => budget.map(|b| f64::from(b.capacity)),
            6 => budget.map(|b| f64::from(b.retry_cost)),
            7 => budget.map(|b| f64::from(b.timeout_cost)),
            8 => budget.map(|b| f64::from(b.success_refund)),
            _ => None,
        };
        setting.unwrap_or(-1.0)
    }
}

#[cfg(feature = "fleet-isolate")]
#[wasm_bindgen]
impl Instance {
    /// The fleet's budget (one export for four: each export costs the module a wrapper).
    pub fn fleet(&mut self, op: u32, n: f64) -> bool {
        match op {
            FLEET_SHARE => self.engine.share_budget(n as u64),
            FLEET_OWES => return self.engine.ledger().is_some_and(|l| l.owes()),
            FLEET_FORGET => {
                if let Some(ledger) = self.engine.ledger() {
                    ledger.forget();
                }
            }
            FLEET_REFUSED => self.engine.count_fleet_refusal(),
            _ => {}
        }
        false
    }

    #[wasm_bindgen(js_name = fleetLedger)]
    pub fn fleet_ledger(&mut self) -> Vec<u8> {
        self.engine.ledger().map(|l| l.take()).unwrap_or_default()
    }

    #[wasm_bindgen(js_name = fleetLevel)]
    pub fn fleet_level(&mut self, key: &str, tokens: u32, now: f64) {
        if let Some(ledger) = self.engine.ledger() {
            ledger.set_level(key, tokens, now as u64);
        }
    }

    #[wasm_bindgen(js_name = fleetClose)]
    pub fn fleet_close(&mut self, key: &str, now: f64) {
        let defaults = self.defaults.clone();
        self.engine.with_breaker(key, &defaults, now as u64, |b, _| b.close_for_fleet());
    }

    #[wasm_bindgen(js_name = fleetFailure)]
    pub fn fleet_failure(&self, kind: u32, status: u16) -> bool {
        outcome_of_kind(kind, status).is_breaker_failure(&self.defaults)
    }
}

// Hedged calls (SPEC 9; see the module comment).
const SEND_HEDGED: u32 = 7;
const PENDING: u32 = 8;
const NO_HEDGE: u32 = 9;

impl Instance {
    /// After a SEND of a hedged call: ms until ACT_HEDGE may be asked, or -1 for no hedge.
    pub fn hedge_after(&self, id: u32) -> f64 {
        self.slot(id).and_then(|s| s.call.as_ref()).and_then(Call::hedge_after).map_or(-1.0, |ms| ms as f64)
    }

    /// The hedge delay has passed: SEND (the hedge; GET_ATTEMPT and GET_PARAM give its number
    /// and timeout), NO_HEDGE, or MISUSE.
    pub fn hedge(&mut self, id: u32, now: f64) -> u32 {
        self.act(ACT_HEDGE, id, now)
    }

    /// A hedged call: the next `outcome` reports attempt number `attempt`.
    pub fn answered(&mut self, id: u32, attempt: u32) {
        if let Some(slot) = self.slots.get_mut(id as usize).and_then(Option::as_mut) {
            slot.answered = attempt;
        }
    }
}

/// A service profile (SPEC 10), by its place in the table (api.js names them in this order):
/// field 0 maxAttempts, 1 baseDelayMs, 2 maxDelayMs, 3 full jitter (1) or unset (0); -1 past
/// the end.
#[wasm_bindgen]
pub fn preset(index: u32, field: u32) -> f64 {
    let Some(p) = PRESETS.get(index as usize) else { return -1.0 };
    match field {
        0 => f64::from(p.max_attempts),
        1 => p.base_delay_ms as f64,
        2 => p.max_delay_ms as f64,
        3 if p.jitter == Some(Jitter::Full) => 1.0,
        3 => 0.0,
        _ => -1.0,
    }
}

/// The boundary as driver.js uses it, run in a real wasm instance (`wasm-pack test --node`).
#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use alloc::vec;
    use wasm_bindgen_test::wasm_bindgen_test;

    /// `{ name: number }` in option bytes.
    fn one_number(name: &str, value: f64) -> Vec<u8> {
        let mut bytes = vec![7, 1, 0, 0, 0];
        bytes.extend_from_slice(&(name.len() as u32).to_le_bytes());
        bytes.extend_from_slice(name.as_bytes());
        bytes.push(4);
        bytes.extend_from_slice(&value.to_le_bytes());
        bytes
    }

    #[wasm_bindgen_test]
    fn a_503_then_a_200_through_the_handle_api() {
        let mut instance = Instance::new();
        instance.seed(1, 2);
        let id = instance.open(&one_number("maxAttempts", 2.0), NOWHERE);
        assert_eq!(start(&mut instance, id, "http://a.test", "GET", 0.0), SEND_LEASED);
        assert_eq!(instance.outcome(id, RESPONSE, 503, None, None, None, None, 5.0, 0.5), RETRY);
        assert_eq!(instance.attempt(id), 1);
        assert_eq!(instance.resume(id, 100.0), SEND);
        assert_eq!(instance.outcome(id, RESPONSE, 200, None, None, None, None, 110.0, f64::NAN), SETTLE_LAST);
        instance.close(id, 120.0);
        assert_eq!((instance.stat(0), instance.stat(1), instance.stat(3)), (1.0, 2.0, 1.0));
        assert_eq!(instance.breaker("http://a.test", 130.0), 0);
        assert_eq!((instance.breaker_count(0), instance.breaker_count(1)), (1.0, 1.0));
    }

    #[wasm_bindgen_test]
    fn refused_options_name_the_option_and_open_nothing() {
        let mut instance = Instance::new();
        assert_eq!(instance.open(&one_number("maxAttempts", 0.0), NOWHERE), ERROR);
        assert!(instance.error().contains("\"maxAttempts\""));
        assert!(!instance.configure(&one_number("retries", 3.0)));
        assert!(instance.error().contains("\"retries\""));
        assert_eq!(instance.open(&[5, 1, 0, 0, 0, b'x'], NOWHERE), ERROR, "a string is no options object");
        assert!(instance.error().contains("\"retry\""));
        assert_eq!(instance.open(&[42], NOWHERE), ERROR, "bytes no encoder writes");
        // Reports out of phase are a code, never a trap.
        assert_eq!(instance.resume(7, 0.0), MISUSE);
        assert_eq!(instance.outcome(7, RESPONSE, 200, None, None, None, None, 0.0, 0.0), MISUSE);
    }

    #[wasm_bindgen_test]
    fn options_kept_at_a_place_open_again_without_bytes_and_refusals_are_never_kept() {
        let mut instance = Instance::new();
        let bytes = one_number("maxAttempts", 2.0);
        let a = instance.open(&bytes, 3);
        let b = instance.open_at(3);
        let same = Rc::ptr_eq(&instance.slot(a).unwrap().policy, &instance.slot(b).unwrap().policy);
        assert!(same, "the second call reuses the first one's policy");
        assert_eq!(instance.open(&one_number("maxAttempts", 0.5), 4), ERROR);
        assert_eq!(instance.open_at(4), ERROR, "a refusal is kept nowhere");
        assert!(instance.error().contains("bug"));
        let defaults = instance.open_at(DEFAULTS_PLACE);
        assert!(Rc::ptr_eq(&instance.slot(defaults).unwrap().policy, &instance.defaults));
        assert_eq!(instance.open_at(DEFAULTS_PLACE + 1), ERROR);
        // A place is overwritten by the next `open` given it; configure forgets them all.
        let c = instance.open(&one_number("maxAttempts", 4.0), 3);
        let d = instance.open_at(3);
        assert!(Rc::ptr_eq(&instance.slot(c).unwrap().policy, &instance.slot(d).unwrap().policy));
        assert!(!Rc::ptr_eq(&instance.slot(a).unwrap().policy, &instance.slot(d).unwrap().policy));
        assert!(instance.configure(&one_number("maxAttempts", 5.0)));
        assert_eq!(instance.open_at(3), ERROR);
    }

    #[wasm_bindgen_test]
    fn a_2xx_closes_a_plain_call_and_a_timeout_sends_timed() {
        let mut instance = Instance::new();
        let id = instance.open(&[0], NOWHERE);
        assert_eq!(start(&mut instance, id, "k", "GET", 0.0), SEND_LEASED);
        assert_eq!(instance.response(id, 200, 0.0, 1.0), SETTLE_LAST);
        assert!(instance.slot(id).is_none(), "closed with its response");
        assert_eq!(instance.stat(3), 1.0);
        let timed = instance.open(&one_number("timeoutMs", 500.0), NOWHERE);
        assert_eq!(start(&mut instance, timed, "k", "GET", 2.0), SEND_LEASED_TIMED);
        assert_eq!(instance.param(timed), 500.0);
        assert_eq!(instance.response(timed, 503, 2.0, 3.0), RETRY, "a 503 keeps the call open");
        assert!(instance.slot(timed).is_some());
    }

    #[wasm_bindgen_test]
    fn a_lease_records_2xx_without_a_slot_until_the_breaker_leaves_closed() {
        let mut instance = Instance::new();
        let id = instance.open(&[0], NOWHERE);
        assert_eq!(start(&mut instance, id, "k", "GET", 0.0), SEND_LEASED);
        assert_eq!(instance.response(id, 200, 0.0, 4.0), SETTLE_LAST);
        // Calls sent under the lease: each 2xx is the whole call, with no slot.
        let slots = instance.slots.len();
        for at in 1..=3 {
            let at = f64::from(at) * 10.0;
            assert_eq!(instance.response(LEASED | DEFAULTS_PLACE, 204, at, at + 6.0), SEND_LEASED);
        }
        assert_eq!(instance.slots.len(), slots, "no slot opened");
        let counts = |i: &Instance| [0, 1, 2, 3, 4].map(|n| i.stat(n));
        assert_eq!(
            counts(&instance),
            [4.0, 4.0, 0.0, 4.0, 0.0],
            "calls, attempts, retries, successes, failures"
        );
        assert_eq!(instance.stat(8), 6.0, "the latency counts from when the call was sent");
        assert_eq!((instance.breaker("k", 40.0), instance.breaker_count(1)), (0, 4.0), "four successes");
        // A status the policy retries is not a leased success: nothing is recorded.
        assert_eq!(instance.response(LEASED | DEFAULTS_PLACE, 503, 40.0, 41.0), MISUSE);
        assert_eq!(instance.response(LEASED | 3, 200, 40.0, 41.0), MISUSE, "an empty place");
        assert_eq!(counts(&instance)[0], 4.0);
        // Such a call goes on through a slot, admitted when it was sent.
        for _ in 0..60 {
            let id = instance.open(&[0], NOWHERE);
            start(&mut instance, id, "k", "GET", 50.0);
            instance.outcome(id, RESPONSE, 503, None, None, None, None, 50.0, 0.0);
            instance.close(id, 50.0);
        }
        assert_eq!(instance.breaker("k", 50.0), 1, "open after the 503s");
        let admitted = instance.open(&[0], NOWHERE);
        assert_eq!(
            instance.start(admitted, 0, START_REPLAYABLE | START_ADMITTED, 45.0, 50.0),
            SEND,
            "not refused"
        );
        assert_eq!(instance.attempt(admitted), 1);
        instance.close(admitted, 50.0);
        let refused = instance.open(&[0], NOWHERE);
        assert_eq!(instance.start(refused, 0, START_REPLAYABLE, 50.0, 50.0), SETTLE_CIRCUIT_OPEN);
        instance.close(refused, 50.0);
        // A 2xx sent under the lease before the breaker opened is recorded, and ends it.
        let calls = instance.stat(0);
        assert_eq!(instance.response(LEASED | DEFAULTS_PLACE, 200, 45.0, 50.0), SETTLE_LAST);
        assert_eq!(instance.stat(0), calls + 1.0);
    }

    #[wasm_bindgen_test]
    fn a_timed_lease_says_its_timeout_and_none_for_a_probe_or_an_admitted_start() {
        let mut instance = Instance::new();
        for option in ["attemptTimeoutMs", "timeoutMs"] {
            let timed = instance.open(&one_number(option, 500.0), NOWHERE);
            assert_eq!(start(&mut instance, timed, "k", "GET", 0.0), SEND_LEASED_TIMED, "{option}");
            assert_eq!(instance.param(timed), 500.0, "{option}: each leased call is cut after it");
            instance.close(timed, 0.0);
            let admitted = instance.open(&one_number(option, 500.0), NOWHERE);
            assert_eq!(instance.start(admitted, 0, START_ADMITTED, 0.0, 0.0), SEND_TIMED);
            instance.close(admitted, 0.0);
        }
        for at in 0..10 {
            let id = instance.open(&[0], NOWHERE);
            start(&mut instance, id, "k", "GET", f64::from(at));
            instance.outcome(id, RESPONSE, 503, None, None, None, None, f64::from(at), 0.0);
            instance.close(id, f64::from(at));
        }
        let probe = instance.open(&[0], NOWHERE);
        assert_eq!(start(&mut instance, probe, "k", "GET", 1_000_000.0), SEND, "a half-open probe");
        instance.close(probe, 1_000_000.0);
        let admitted = instance.open(&[0], NOWHERE);
        assert_eq!(instance.start(admitted, 0, START_ADMITTED, 0.0, 0.0), SEND);
    }

    #[cfg(feature = "fleet-isolate")]
    #[wasm_bindgen_test]
    fn the_fleet_reads_the_breaker_settings_classifies_and_closes_a_local_breaker() {
        let mut instance = Instance::new();
        assert_eq!((instance.fleet_setting(0), instance.fleet_setting(1)), (0.9, 10.0));
        assert!(instance.fleet_failure(RESPONSE, 503) && instance.fleet_failure(TIMEOUT, 0));
        assert!(!instance.fleet_failure(RESPONSE, 429) && !instance.fleet_failure(RESPONSE, 200));
        for at in 0..10 {
            let id = instance.open(&[0], NOWHERE);
            start(&mut instance, id, "k", "GET", f64::from(at));
            instance.outcome(id, RESPONSE, 503, None, None, None, None, f64::from(at), 0.0);
            instance.close(id, f64::from(at));
        }
        assert_eq!(instance.breaker("k", 10.0), 1, "open after ten 503s");
        instance.fleet_close("k", 11.0);
        assert_eq!(instance.breaker("k", 11.0), 0, "closed by the fleet");
        assert!(
            instance.configure(&[7, 1, 0, 0, 0, 7, 0, 0, 0, b'b', b'r', b'e', b'a', b'k', b'e', b'r', 2])
        );
        assert_eq!(instance.fleet_setting(0), -1.0, "breaker: false");
    }

    #[cfg(feature = "fleet-isolate")]
    #[wasm_bindgen_test]
    fn the_fleet_reads_the_budget_moves_its_ledger_and_counts_its_refusals() {
        let mut instance = Instance::new();
        assert_eq!((instance.fleet_setting(5), instance.fleet_setting(6)), (500.0, 5.0));
        assert!(instance.fleet_ledger().is_empty(), "not shared: no ledger");
        instance.fleet(FLEET_SHARE, 300.0);
        instance.fleet_level("k", 5, 0.0);
        // One call to an origin answering 503: the retries it sent.
        let call = |instance: &mut Instance, at: f64| {
            let id = instance.open(&[0], NOWHERE);
            start(instance, id, "k", "GET", at);
            let mut retries = 0;
            while instance.outcome(id, RESPONSE, 503, None, None, None, None, at, 0.0) == RETRY {
                assert_eq!(instance.resume(id, at), SEND);
                retries += 1;
            }
            instance.close(id, at);
            retries
        };
        assert_eq!(call(&mut instance, 1.0), 1, "the fleet's 5 tokens pay one retry");
        assert_eq!(instance.stat(6), 1.0, "the second is a budget denial");
        assert!(instance.fleet(FLEET_OWES, 0.0));
        assert_eq!(instance.fleet_ledger(), [1, 0, b'k', 5, 0, 0, 0, 0, 0, 0, 0]);
        assert!(!instance.fleet(FLEET_OWES, 0.0));
        instance.fleet(FLEET_FORGET, 0.0);
        assert_eq!(call(&mut instance, 3.0), 2, "the fleet forgotten: the own budget decides");
        let calls = instance.stat(0);
        instance.fleet(FLEET_REFUSED, 0.0);
        assert_eq!((instance.stat(0), instance.stat(5)), (calls + 1.0, 1.0), "a breaker rejection");
    }

    /// An `open` place past RECENT_OPTIONS: the policy is kept nowhere.
    const NOWHERE: u32 = u32::MAX;

    /// `start` as driver.js makes it: the key first, then the method as a code where it has one.
    fn start(instance: &mut Instance, id: u32, key: &str, method: &str, at: f64) -> u32 {
        instance.set_key(key);
        let code = METHODS.iter().position(|m| *m == method).map_or_else(
            || {
                instance.set_method(method);
                u32::MAX
            },
            |i| i as u32,
        );
        instance.start(id, code, START_REPLAYABLE, at, at)
    }

    #[wasm_bindgen_test]
    fn methods_by_code_and_by_name() {
        let mut instance = Instance::new();
        for (method, retried) in
            [("GET", true), ("POST", false), ("get", true), ("PROPFIND", false), ("PUT", true)]
        {
            let id = instance.open(&[0], NOWHERE);
            assert_eq!(start(&mut instance, id, "k", method, 0.0), SEND_LEASED, "{method}");
            let expected = if retried { RETRY } else { SETTLE_LAST };
            assert_eq!(
                instance.outcome(id, RESPONSE, 503, None, None, None, None, 1.0, 0.0),
                expected,
                "{method}"
            );
            instance.close(id, 1.0);
        }
        assert_eq!(instance.start(99, 0, START_REPLAYABLE, 0.0, 0.0), MISUSE, "no such slot");
    }

    #[wasm_bindgen_test]
    fn undefined_and_false_take_the_instance_s_policies() {
        let mut instance = Instance::new();
        assert!(instance.configure(&one_number("maxAttempts", 5.0)));
        let defaults = instance.open(&[0], NOWHERE);
        assert_eq!(start(&mut instance, defaults, "k", "GET", 0.0), SEND_LEASED);
        assert_eq!(instance.outcome(defaults, RESPONSE, 503, None, None, None, None, 1.0, 0.0), RETRY);
        let single = instance.open(&[2], NOWHERE);
        assert_eq!(start(&mut instance, single, "k", "GET", 0.0), SEND_LEASED);
        assert_eq!(instance.outcome(single, RESPONSE, 503, None, None, None, None, 1.0, 0.0), SETTLE_LAST);
        assert_eq!(instance.origin_length("http://a.test:8080/x"), "http://a.test:8080".len() as u32);
        assert_eq!(preset(0, 0), 4.0);
        assert_eq!(preset(99, 0), -1.0);
    }

    #[wasm_bindgen_test]
    fn a_hedged_call_through_the_handle_api() {
        // { hedge: { delayMs: 20 } } in option bytes.
        let mut bytes = vec![7, 1, 0, 0, 0, 5, 0, 0, 0];
        bytes.extend_from_slice(b"hedge");
        bytes.push(7);
        bytes.extend_from_slice(&1u32.to_le_bytes());
        bytes.extend_from_slice(&7u32.to_le_bytes());
        bytes.extend_from_slice(b"delayMs");
        bytes.push(4);
        bytes.extend_from_slice(&20.0f64.to_le_bytes());
        let mut instance = Instance::new();
        let id = instance.open(&bytes, NOWHERE);
        assert_eq!(start(&mut instance, id, "http://a.test", "GET", 0.0), SEND_HEDGED);
        assert_eq!(instance.hedge_after(id), 20.0);
        assert_eq!(instance.hedge(id, 20.0), SEND);
        assert_eq!(instance.attempt(id), 2);
        instance.answered(id, 1);
        assert_eq!(instance.outcome(id, RESPONSE, 503, None, None, None, None, 25.0, 0.5), PENDING);
        instance.answered(id, 2);
        assert_eq!(instance.outcome(id, RESPONSE, 200, None, None, None, None, 30.0, 0.5), SETTLE_LAST);
        assert_eq!(instance.hedge(id, 40.0), MISUSE, "settled");
        instance.close(id, 40.0);
        assert_eq!((instance.stat(1), instance.stat(12)), (2.0, 1.0));
        // An unkeyed POST is not hedged: plain SEND, no hedge.
        let post = instance.open(&bytes, NOWHERE);
        assert_eq!(start(&mut instance, post, "http://a.test", "POST", 50.0), SEND);
        assert_eq!(instance.hedge_after(post), -1.0);
        assert_eq!(instance.hedge(post, 70.0), NO_HEDGE);
        // Without hedge, start answers SEND, with a lease.
        let plain = instance.open(&[0], NOWHERE);
        assert_eq!(start(&mut instance, plain, "http://a.test", "GET", 0.0), SEND_LEASED);
    }
}
