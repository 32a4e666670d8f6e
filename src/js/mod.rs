//! The JS face (wasm32 only). `driver.js` (copied into the package) performs each call's I/O
//! — fetch, timers, the caller's signal, bodies — and asks this module's handle API what to do
//! next. Options arrive as bytes (`core::option_bytes`), encoded by `encode.js`.

extern crate std;

mod exports;
