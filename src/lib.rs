//! edge-retry: a retrying `fetch` for Workers, browsers and Node.
//!
//! [`core`] is the sans-IO engine: every decision, no clock, no randomness, no I/O, `no_std`.
//! `js` (wasm32 only) drives that engine against the platform's `fetch`.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable,
    clippy::todo,
    clippy::unimplemented
)]

extern crate alloc;

pub mod core;

#[cfg(all(target_arch = "wasm32", feature = "js"))]
mod js;
