//! The sans-IO engine. Nothing here reads a clock, draws a random number or touches the
//! network: time (`u64` milliseconds since the Unix epoch) and randomness (`f64` in [0, 1))
//! come in as arguments, so every decision is a pure function that tests can replay.

pub mod backoff;
pub mod breaker;
pub mod budget;
pub mod call;
pub mod classify;
pub mod engine;
pub mod fleet;
pub mod headers;
pub mod hedge;
pub mod http_date;
pub mod option_bytes;
pub mod options;
pub mod origin;
pub mod pacer;
pub mod policy;
pub mod presets;
pub mod registry;
pub mod retry_cap;
pub mod rng;
pub mod stats;
pub mod storm;
pub mod window;

pub use call::{Action, Call, Settle};
pub use classify::Outcome;
pub use engine::Engine;
pub use pacer::PacerSettings;
pub use policy::{BreakerSettings, BudgetSettings, Jitter, Policy};
pub use retry_cap::RetryCapSettings;
pub use storm::StormSettings;
