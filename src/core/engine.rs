//! The shared state of one `retryFetch` instance: breakers and budgets per key, and stats.
//!
//! A key's state (breaker, budget, pacer) belongs to the settings it was made with. A call
//! whose breaker and budget settings (per-call options merged onto the instance's defaults)
//! are the instance's own shares the key's state with every such call. A call with other
//! breaker or budget settings gets a state of its own, held under the key and those settings
//! in the same bounded registry, and shared with the calls that repeat them, as if they had an
//! instance of their own. So a per-call setting never changes another call's breaker or
//! budget, and each setting keeps its meaning. A call that uses no breaker (or no budget)
//! counts as having the instance's, since it never touches that part.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;

use super::breaker::{Breaker, Snapshot, StateName};
use super::budget::Budget;
use super::fleet::ledger::Ledger;
use super::hedge::LatencyWindow;
use super::pacer::{Pacer, PacerSnapshot};
use super::policy::{BreakerSettings, BudgetSettings, Policy};
use super::registry::{DEFAULT_CAPACITY, Place, Registry};
use super::retry_cap::RetryCap;
use super::stats::Stats;
use super::storm::{Change, Storm, StormSettings};

/// What happened to a key, for `onBreaker` and `onStorm` (SPEC 8). `at` is the caller's clock.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub key: String,
    pub at: u64,
    pub kind: EventKind,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum EventKind {
    /// The key's breaker changed to this state.
    Breaker(StateName),
    /// The key entered (`storm: true`) or left a retry storm, over `window_ms`.
    Storm { change: Change, window_ms: u64 },
}

/// Events kept for the driver to collect; past this the oldest are dropped.
const MAX_EVENTS: usize = 256;

#[derive(Clone, Debug)]
pub struct KeyState {
    pub breaker: Breaker,
    pub budget: Budget,
    /// Used only by policies with `pacer` set.
    pub pacer: Pacer,
    pub storm: Storm,
    /// Used only by policies with `retry_cap` set.
    pub retry_cap: RetryCap,
    /// Recent attempt latencies, for `hedge.delayMs: "auto"`; made when such a call first
    /// reports (see [`super::hedge`]), so other keys pay 8 bytes for it.
    pub latency: Option<Box<LatencyWindow>>,
}

/// Which of a key's states a call uses: the settings in which it differs from the instance's,
/// `None` where it does not (so the default is the instance's own state).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Variant {
    breaker: Option<BreakerSettings>,
    budget: Option<BudgetSettings>,
}

/// What makes a key's state on first use: everything fresh, the budget full.
fn maker(instance_budget: Option<BudgetSettings>, variant: Variant) -> impl FnOnce() -> KeyState {
    move || KeyState {
        breaker: Breaker::default(),
        budget: Budget::full(&variant.budget.or(instance_budget).unwrap_or_default()),
        pacer: Pacer::default(),
        storm: Storm::default(),
        retry_cap: RetryCap::default(),
        latency: None,
    }
}

#[derive(Clone, Debug)]
pub struct Engine {
    keys: Registry<KeyState, Variant>,
    /// The instance's own settings.
    breaker: Option<BreakerSettings>,
    budget: Option<BudgetSettings>,
    storm: Option<StormSettings>,
    /// Breaker changes and storms not yet collected, kept only while someone listens.
    events: VecDeque<Event>,
    listening: bool,
    /// The fleet's budgets (`edge-retry/fleet`), when connected to one.
    fleet: Option<Box<Ledger>>,
    pub stats: Stats,
}

impl Default for Engine {
    fn default() -> Self {
        Engine::with_key_capacity(DEFAULT_CAPACITY)
    }
}

impl Engine {
    /// An engine whose instance settings are the defaults (`Policy::default()`).
    pub fn new() -> Self {
        Engine::default()
    }

    pub fn with_key_capacity(capacity: usize) -> Self {
        Engine::for_instance(&Policy::default(), capacity)
    }

    /// An engine for an instance made with `defaults` (see the module comment).
    pub fn with_defaults(defaults: &Policy) -> Self {
        Engine::for_instance(defaults, DEFAULT_CAPACITY)
    }

    pub fn for_instance(defaults: &Policy, key_capacity: usize) -> Self {
        Engine {
            keys: Registry::new(key_capacity),
            breaker: defaults.breaker,
            budget: defaults.budget,
            storm: defaults.storm,
            events: VecDeque::new(),
            listening: false,
            fleet: None,
            stats: Stats::default(),
        }
    }

    fn variant(&self, policy: &Policy) -> Variant {
        // Compared in place, not as copied `Option`s (every call starts with this).
        let breaker = match (&policy.breaker, &self.breaker) {
            (Some(own), Some(instance)) if own == instance => None,
            (own, _) => *own,
        };
        let budget = match (&policy.budget, &self.budget) {
            (Some(own), Some(instance)) if own == instance => None,
            (own, _) => *own,
        };
        Variant { breaker, budget }
    }

    /// The state of `key` for calls with `policy`'s breaker and budget settings, created (with
    /// a full budget) on first use.
    pub fn key_state(&mut self, key: &str, policy: &Policy) -> Option<&mut KeyState> {
        let variant = self.variant(policy);
        self.keys.touch_tagged(key, variant, maker(self.budget, variant))
    }

    /// Where the state of `key` for calls with `policy` is, to reach it through
    /// [`Engine::state`]. Makes no state: a call whose policy needs none never has one made.
    #[inline]
    pub fn place(&self, key: &str, policy: &Policy) -> Place {
        self.keys.place(key, &self.variant(policy))
    }

    /// [`Engine::key_state`] for the key at `place`: while that state stays where it was
    /// found, straight to it, without hashing or comparing the key or the settings again
    /// (a call is given the same policy at each of its steps).
    pub fn state(&mut self, place: &mut Place, policy: &Policy) -> Option<&mut KeyState> {
        if !self.keys.holds(place) {
            self.find(place, policy);
        }
        self.keys.touch_held(place)
    }

    /// Points `place` at its state, made if absent (the first step of a call on a new key, or
    /// its state was dropped or moved meanwhile). Out of line: the usual visit stays a leaf.
    #[cold]
    #[inline(never)]
    fn find(&mut self, place: &mut Place, policy: &Policy) {
        let variant = self.variant(policy);
        self.keys.find_or_make_at(place, variant, maker(self.budget, variant));
    }

    /// Runs `op` on the state of the call's key at `place`, and records a change of its
    /// breaker's state as an event.
    pub fn with_state_at<R>(
        &mut self,
        place: &mut Place,
        policy: &Policy,
        now: u64,
        op: impl FnOnce(&mut KeyState) -> R,
    ) -> Option<R> {
        let state = self.state(place, policy)?;
        let before = state.breaker.stored_state();
        let out = op(state);
        let after = state.breaker.stored_state();
        if before != after {
            self.push(place.key(), now, EventKind::Breaker(after));
        }
        Some(out)
    }

    /// Keep events for [`Engine::next_event`] (the driver has `onBreaker` or `onStorm`).
    pub fn set_listening(&mut self, on: bool) {
        self.listening = on;
        if !on {
            self.events.clear();
        }
    }

    /// The oldest event not yet collected.
    pub fn next_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub fn pending_events(&self) -> usize {
        self.events.len()
    }

    fn push(&mut self, key: &str, at: u64, kind: EventKind) {
        if !self.listening {
            return;
        }
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(Event { key: String::from(key), at, kind });
    }

    /// Runs `op` on the breaker of `key` for calls with `policy` (which has one), and records
    /// a change of its state as an event.
    pub fn with_breaker<R>(
        &mut self,
        key: &str,
        policy: &Policy,
        now: u64,
        op: impl FnOnce(&mut Breaker, &BreakerSettings) -> R,
    ) -> Option<R> {
        policy.breaker.as_ref()?; // no breaker: no place to look up
        let mut place = self.place(key, policy);
        self.with_breaker_at(&mut place, policy, now, op)
    }

    /// [`Engine::with_breaker`] for a call's key.
    pub fn with_breaker_at<R>(
        &mut self,
        key: &mut Place,
        policy: &Policy,
        now: u64,
        op: impl FnOnce(&mut Breaker, &BreakerSettings) -> R,
    ) -> Option<R> {
        let settings = policy.breaker.as_ref()?;
        self.with_state_at(key, policy, now, |state| op(&mut state.breaker, settings))
    }

    /// Counts an attempt of `key` sent at `now` for storm detection and, a call's first
    /// (`retry` false), for the retry cap.
    pub fn note_attempt(&mut self, key: &mut Place, policy: &Policy, now: u64, retry: bool) {
        let storm = self.storm;
        if storm.is_none() && (retry || policy.retry_cap.is_none()) {
            return;
        }
        let Some(state) = self.state(key, policy) else { return };
        if let (Some(settings), false) = (&policy.retry_cap, retry) {
            state.retry_cap.note_call(settings, now);
        }
        let Some(settings) = storm else { return };
        if let Some(change) = state.storm.record(&settings, now, retry) {
            if change.storm {
                self.stats.counters.storms += 1;
            }
            self.push(key.key(), now, EventKind::Storm { change, window_ms: settings.window_ms });
        }
    }

    /// Shares the instance's budget with a fleet: retries also need the fleet's tokens, and
    /// what they spend is kept for the fleet (see [`Ledger`]; levels count for `stale_ms`).
    pub fn share_budget(&mut self, stale_ms: u64) {
        self.fleet.get_or_insert_with(|| Box::new(Ledger::new(stale_ms)));
    }

    /// The fleet's ledger, when the budget is shared. None in a build without
    /// `fleet-isolate`, so the optimiser drops every fleet path from the call's code.
    pub fn ledger(&mut self) -> Option<&mut Ledger> {
        if cfg!(feature = "fleet-isolate") { self.fleet.as_deref_mut() } else { None }
    }

    /// Whether calls with `policy` share their budget with the fleet: the instance's own
    /// budget only (a per-call budget is a budget of its own, as in the module comment).
    pub fn shares_budget(&self, policy: &Policy) -> bool {
        cfg!(feature = "fleet-isolate")
            && self.fleet.is_some()
            && policy.budget.is_some()
            && policy.budget == self.budget
    }

    /// Whether the fleet's budget can pay `cost` for a retry of `key` (yes when the call does
    /// not share it).
    pub fn fleet_can_pay(&mut self, policy: &Policy, key: &str, cost: u32, now: u64) -> bool {
        if !self.shares_budget(policy) {
            return true;
        }
        self.ledger().is_none_or(|ledger| ledger.can_pay(key, cost, now))
    }

    /// A retry of `key` took `tokens`: kept for the fleet when the call shares its budget.
    pub fn fleet_spend(&mut self, policy: &Policy, key: &str, tokens: u32) {
        if self.shares_budget(policy) {
            if let Some(ledger) = self.ledger() {
                ledger.spend(key, tokens);
            }
        }
    }

    /// `tokens` of `key` given back (a success's refund, a retry not sent): kept for the fleet
    /// when the call shares its budget.
    pub fn fleet_give_back(&mut self, policy: &Policy, key: &str, tokens: u32) {
        if let (Some(settings), true) = (&policy.budget, self.shares_budget(policy)) {
            let capacity = settings.capacity;
            if let Some(ledger) = self.ledger() {
                ledger.give_back(key, tokens, capacity);
            }
        }
    }

    /// A call the fleet refused as open, counted as a call refused by its own breaker is.
    pub fn count_fleet_refusal(&mut self) {
        let stats = &mut self.stats;
        stats.counters.calls += 1;
        stats.counters.breaker_rejections += 1;
        stats.counters.failures += 1;
        stats.record_latency(0);
    }

    /// How many states are held (one per key and distinct per-call settings).
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// `breaker(key)`: the breaker under the instance's own settings; a key never seen is
    /// closed with nothing counted.
    pub fn breaker_snapshot(&self, key: &str, now: u64) -> Snapshot {
        Engine::snapshot_of(self.keys.peek(key), now)
    }

    /// The breaker of `key` as calls with `policy` see it.
    pub fn breaker_snapshot_of(&self, key: &str, policy: &Policy, now: u64) -> Snapshot {
        Engine::snapshot_of(self.keys.peek_tagged(key, &self.variant(policy)), now)
    }

    fn snapshot_of(state: Option<&KeyState>, now: u64) -> Snapshot {
        state.map(|k| k.breaker.snapshot(now)).unwrap_or(Snapshot {
            state: StateName::Closed,
            failures: 0,
            successes: 0,
            opened_at: None,
        })
    }

    /// The retry pacer of `key` under the instance's settings, if held (see [`super::pacer`]).
    pub fn pacer_snapshot(&self, key: &str) -> Option<PacerSnapshot> {
        self.keys.peek(key).map(|k| k.pacer.snapshot())
    }

    /// The retry pacer of `key` as calls with `policy` see it, if held.
    pub fn pacer_snapshot_of(&self, key: &str, policy: &Policy) -> Option<PacerSnapshot> {
        self.keys.peek_tagged(key, &self.variant(policy)).map(|k| k.pacer.snapshot())
    }

    /// The budget of `key` under the instance's own settings, if held.
    pub fn budget_tokens(&self, key: &str) -> Option<u32> {
        self.keys.peek(key).map(|k| k.budget.tokens())
    }

    /// The budget of `key` as calls with `policy` see it, if held.
    pub fn budget_tokens_of(&self, key: &str, policy: &Policy) -> Option<u32> {
        self.keys.peek_tagged(key, &self.variant(policy)).map(|k| k.budget.tokens())
    }
}
