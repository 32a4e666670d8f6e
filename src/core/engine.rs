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

use super::breaker::{Breaker, Snapshot, StateName};
use super::budget::Budget;
use super::pacer::{Pacer, PacerSnapshot};
use super::policy::{BreakerSettings, BudgetSettings, Policy};
use super::registry::{DEFAULT_CAPACITY, Registry};
use super::stats::Stats;

#[derive(Clone, Debug)]
pub struct KeyState {
    pub breaker: Breaker,
    pub budget: Budget,
    /// Used only by policies with `pacer` set.
    pub pacer: Pacer,
}

/// Which of a key's states a call uses: the settings in which it differs from the instance's,
/// `None` where it does not (so the default is the instance's own state).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Variant {
    breaker: Option<BreakerSettings>,
    budget: Option<BudgetSettings>,
}

#[derive(Clone, Debug)]
pub struct Engine {
    keys: Registry<KeyState, Variant>,
    /// The instance's own settings.
    breaker: Option<BreakerSettings>,
    budget: Option<BudgetSettings>,
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
            stats: Stats::default(),
        }
    }

    fn variant(&self, policy: &Policy) -> Variant {
        Variant {
            breaker: policy.breaker.filter(|s| Some(*s) != self.breaker),
            budget: policy.budget.filter(|s| Some(*s) != self.budget),
        }
    }

    /// The state of `key` for calls with `policy`'s breaker and budget settings, created (with
    /// a full budget) on first use.
    pub fn key_state(&mut self, key: &str, policy: &Policy) -> Option<&mut KeyState> {
        let variant = self.variant(policy);
        let budget = variant.budget.or(self.budget).unwrap_or_default();
        self.keys.touch_tagged(key, variant, || KeyState {
            breaker: Breaker::default(),
            budget: Budget::full(&budget),
            pacer: Pacer::default(),
        })
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
