//! Fleet breakers: one breaker per key for every isolate of a Worker, held by a Durable
//! Object (issue 12). The hub ([`hub`]) is what the Durable Object runs; the link ([`link`])
//! is what each isolate keeps; [`wire`] is the bytes between them. The call path never waits
//! on the hub: isolates report outcomes in batches and refresh their view in the background.

pub mod hub;
pub mod link;
pub mod wire;

pub use hub::Hub;
pub use link::{Link, Verdict};
pub use wire::Settings;
