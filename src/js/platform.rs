//! Bindings to `platform.js` (timers, attempts, bodies, errors) and to the JS globals used.

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/js/platform.js")]
extern "C" {
    #[wasm_bindgen(js_name = circuitOpenErrorClass)]
    pub fn circuit_open_error_class() -> JsValue;
    #[wasm_bindgen(js_name = circuitOpenError)]
    pub fn circuit_open_error(key: &str, retry_after_ms: f64) -> JsValue;
    #[wasm_bindgen(js_name = timeoutError)]
    pub fn timeout_error() -> JsValue;
    #[wasm_bindgen(js_name = optionError)]
    pub fn option_error(message: &str) -> JsValue;
    pub fn sleep(ms: f64, signal: &JsValue) -> Promise;
    pub fn attempt(
        fetch: &Function,
        input: &JsValue,
        init: &JsValue,
        body: &JsValue,
        timeout_ms: Option<f64>,
        signal: &JsValue,
    ) -> Promise;
    #[wasm_bindgen(js_name = bufferBody)]
    pub fn buffer_body(stream: &JsValue, max: f64) -> Promise;
    #[wasm_bindgen(js_name = streamBody)]
    pub fn stream_body(input: &JsValue, init: &JsValue) -> JsValue;
    #[wasm_bindgen(js_name = requestFacts)]
    pub fn request_facts(input: &JsValue, init: &JsValue) -> js_sys::Array;
    #[wasm_bindgen(js_name = originOf)]
    pub fn origin_of(url: &str) -> String;
    #[wasm_bindgen(js_name = cancelBody)]
    pub fn cancel_body(response: &JsValue);
    pub fn header(response: &JsValue, name: &str) -> Option<String>;
    pub fn status(response: &JsValue) -> u16;
    #[wasm_bindgen(js_name = isFunction)]
    pub fn is_function(value: &JsValue) -> bool;
    #[wasm_bindgen(js_name = secureSeed)]
    pub fn secure_seed() -> f64;
}

/// Outcome kinds as `attempt` reports them.
pub const RESPONSE: u32 = 0;
pub const NETWORK: u32 = 1;
pub const TIMEOUT: u32 = 2;
pub const ABORTED: u32 = 3;
pub const INVALID: u32 = 4;

/// The global `fetch`, looked up at call time so polyfills and test doubles apply.
pub fn global_fetch() -> Result<Function, JsValue> {
    js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("fetch"))?.dyn_into::<Function>().map_err(
        |_| option_error("edge-retry: no global fetch in this runtime; pass `fetch` to createRetryFetch"),
    )
}
