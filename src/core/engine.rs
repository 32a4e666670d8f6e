//! The shared state of one `retryFetch` instance: breakers and budgets per key, and stats.

use super::breaker::{Breaker, Snapshot, StateName};
use super::budget::Budget;
use super::pacer::{Pacer, PacerSnapshot};
use super::policy::Policy;
use super::registry::{DEFAULT_CAPACITY, Registry};
use super::stats::Stats;

#[derive(Clone, Debug)]
pub struct KeyState {
    pub breaker: Breaker,
    pub budget: Budget,
    /// Used only by policies with `pacer` set.
    pub pacer: Pacer,
}

#[derive(Clone, Debug)]
pub struct Engine {
    keys: Registry<KeyState>,
    pub stats: Stats,
}

impl Default for Engine {
    fn default() -> Self {
        Engine::with_key_capacity(DEFAULT_CAPACITY)
    }
}

impl Engine {
    pub fn new() -> Self {
        Engine::default()
    }

    pub fn with_key_capacity(capacity: usize) -> Self {
        Engine { keys: Registry::new(capacity), stats: Stats::default() }
    }

    /// The state of `key`, created (with a full budget) on first use.
    pub fn key_state(&mut self, key: &str, policy: &Policy) -> Option<&mut KeyState> {
        let budget = policy.budget.unwrap_or_default();
        self.keys.touch(key, || KeyState {
            breaker: Breaker::default(),
            budget: Budget::full(&budget),
            pacer: Pacer::default(),
        })
    }

    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// `breaker(key)`: a key never seen is closed with nothing counted.
    pub fn breaker_snapshot(&self, key: &str, now: u64) -> Snapshot {
        self.keys.peek(key).map(|k| k.breaker.snapshot(now)).unwrap_or(Snapshot {
            state: StateName::Closed,
            failures: 0,
            successes: 0,
            opened_at: None,
        })
    }

    /// The retry pacer of `key`, if the key is held (see [`super::pacer`]).
    pub fn pacer_snapshot(&self, key: &str) -> Option<PacerSnapshot> {
        self.keys.peek(key).map(|k| k.pacer.snapshot())
    }

    pub fn budget_tokens(&self, key: &str) -> Option<u32> {
        self.keys.peek(key).map(|k| k.budget.tokens())
    }
}
