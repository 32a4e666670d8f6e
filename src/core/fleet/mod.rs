//! Fleet breakers: one breaker per key for every isolate of a Worker, held by a Durable
//! Object (issue 12), and the retry budget of each key with them. The hub ([`hub`]) is what
//! the Durable Object runs; the link ([`link`]) is what each isolate keeps; the ledger
//! ([`ledger`]) is what an isolate's engine spends and what it knows of the fleet's budgets;
//! [`wire`] is the bytes between them. The call path never waits
//! on the hub: isolates report outcomes in batches and refresh their view in the background.

pub mod hub;
pub mod ledger;
pub mod link;
pub mod wire;

pub use hub::Hub;
pub use link::{Link, Verdict};
pub use wire::Settings;

/// Settings the fleet's tests share: opens at half failures over 8, open 1 s (up to 4 s), a
/// probe lease of 500 ms, a budget of 50 tokens (retries cost 5, timeouts 10, refunds 1).
#[cfg(test)]
pub fn test_settings() -> Settings {
    use crate::core::policy::{BreakerSettings, BudgetSettings};
    Settings {
        breaker: BreakerSettings {
            failure_ratio: 0.5,
            minimum_requests: 8,
            window_ms: 10_000,
            open_ms: 1000,
            max_open_ms: 4000,
            half_open_probes: 1,
        },
        lease_ms: 500,
        budget: Some(BudgetSettings { capacity: 50, retry_cost: 5, timeout_cost: 10, success_refund: 1 }),
    }
}
