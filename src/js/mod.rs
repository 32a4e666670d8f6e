//! The JS face (wasm32 only): options from JS objects, the driver that runs the core's call
//! state machine against `fetch`, and the exports that pkg-template's entries wrap.

extern crate std;

mod driver;
mod exports;
mod options;
mod platform;
