//! The JS face (wasm32 only).
