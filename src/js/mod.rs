//! The JS face (wasm32 only). `driver.js` (copied into the package) performs each call's I/O
//! — fetch, timers, the caller's signal, bodies — and asks this module's handle API what to do
//! next; `options` turns JS option objects into the core's validated policy.

extern crate std;

mod exports;
mod options;
