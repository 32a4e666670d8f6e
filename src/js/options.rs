//! JS options objects → the core's validated [`Policy`] plus the JS callbacks.
//! Reading is defensive: getters and proxies that throw become a TypeError naming the option.

use alloc::string::String;
use alloc::vec::Vec;
use js_sys::{Array, Reflect};
use wasm_bindgen::prelude::*;

use crate::core::options::{self, Scope, Value};
use crate::core::policy::Policy;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = Object, js_name = keys, catch)]
    fn object_keys(object: &JsValue) -> Result<Array, JsValue>;
}

/// A `TypeError` with this message.
pub fn option_error(message: &str) -> JsValue {
    js_sys::TypeError::new(message).into()
}

/// Arrays longer than this are not option values anyone means.
const MAX_LIST: u32 = 1024;
/// `options` → `breaker` → its fields: nothing legitimate is deeper.
const MAX_DEPTH: u32 = 3;

fn invalid(option: &str, problem: &'static str) -> JsValue {
    option_error(&options::OptionError::new(option, problem).message())
}

fn read(object: &JsValue, key: &str, path: &str) -> Result<JsValue, JsValue> {
    Reflect::get(object, &JsValue::from_str(key)).map_err(|_| invalid(path, "reading it threw"))
}

fn to_value(v: &JsValue, path: &str, depth: u32) -> Result<Value, JsValue> {
    if v.is_undefined() {
        return Ok(Value::Undefined);
    }
    if v.is_null() {
        return Ok(Value::Null);
    }
    if let Some(b) = v.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Some(n) = v.as_f64() {
        return Ok(Value::Number(n));
    }
    if let Some(s) = v.as_string() {
        return Ok(Value::Str(s));
    }
    if v.is_function() {
        return Ok(Value::Function);
    }
    if !v.is_object() || depth >= MAX_DEPTH {
        return Ok(Value::Other);
    }
    if Array::is_array(v) {
        let len = read(v, "length", path)?.as_f64().unwrap_or(0.0);
        if !(0.0..=f64::from(MAX_LIST)).contains(&len) {
            return Ok(Value::Other);
        }
        let mut items = Vec::new();
        for i in 0..len as u32 {
            let item = Reflect::get_u32(v, i).map_err(|_| invalid(path, "reading it threw"))?;
            items.push(to_value(&item, path, depth + 1)?);
        }
        return Ok(Value::List(items));
    }
    Ok(Value::Object(entries(v, path, path, depth + 1)?))
}

/// The own keys and values of the object at `path` (empty for the options object itself,
/// which errors call `name`).
fn entries(object: &JsValue, path: &str, name: &str, depth: u32) -> Result<Vec<(String, Value)>, JsValue> {
    let keys = object_keys(object).map_err(|_| invalid(name, "reading its keys threw"))?;
    let mut out = Vec::new();
    for key in keys.iter() {
        let key = key.as_string().unwrap_or_default();
        let mut child_path = String::from(path);
        if !child_path.is_empty() {
            child_path.push('.');
        }
        child_path.push_str(&key);
        let value = read(object, &key, &child_path)?;
        out.push((key, to_value(&value, &child_path, depth)?));
    }
    Ok(out)
}

/// Applies a JS options object over `base`. `undefined` leaves everything as it was.
/// (The callbacks it may carry are read by driver.js once the object has passed.)
pub fn apply(object: &JsValue, base: &Policy, scope: Scope) -> Result<Policy, JsValue> {
    if object.is_undefined() {
        return Ok(base.clone());
    }
    let name = if scope == Scope::Defaults { "defaults" } else { "retry" };
    if !object.is_object() || Array::is_array(object) || object.is_function() {
        return Err(invalid(name, "must be an options object"));
    }
    let fields = entries(object, "", name, 0)?;
    options::apply(base, &fields, scope).map_err(|e| option_error(&e.message()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use js_sys::Function;
    use wasm_bindgen_test::wasm_bindgen_test;

    /// A JS value made by running `body` as a function body in the host runtime.
    fn js(body: &str) -> JsValue {
        Function::new_no_args(body).call0(&JsValue::UNDEFINED).unwrap()
    }

    fn message(result: Result<Policy, JsValue>) -> String {
        let error = result.expect_err("the options should have been refused");
        assert!(error.is_instance_of::<js_sys::TypeError>());
        Reflect::get(&error, &"message".into()).unwrap().as_string().unwrap()
    }

    fn per_call(object: &JsValue) -> Result<Policy, JsValue> {
        apply(object, &Policy::default(), Scope::PerCall)
    }

    #[wasm_bindgen_test]
    fn nested_settings_and_callbacks_are_read() {
        let object = js("return { maxAttempts: 5, jitter: { ratio: 0.5 }, retryOn: [503],
                      onRetry() {}, breaker: { openMs: 10, key: (u) => u }, budget: false }");
        let policy = per_call(&object).unwrap();
        assert_eq!(policy.max_attempts, 5);
        assert_eq!(policy.breaker.map(|b| b.open_ms), Some(10));
        assert!(policy.budget.is_none());
        assert!(policy.retry_on.contains(503) && !policy.retry_on.contains(500));
    }

    #[wasm_bindgen_test]
    fn hostile_objects_become_type_errors_naming_the_option() {
        let throwing_getter = js("return { get maxAttempts() { throw new Error('boom'); } }");
        assert!(message(per_call(&throwing_getter)).contains("\"maxAttempts\""));
        let nested_getter = js("return { breaker: { get openMs() { throw 1; } } }");
        assert!(message(per_call(&nested_getter)).contains("\"breaker.openMs\""));
        let proxy = js("return new Proxy({}, { ownKeys() { throw new Error('no keys'); } })");
        assert!(message(per_call(&proxy)).contains("\"retry\""));
        let proto = js("return JSON.parse('{\"__proto__\": {\"maxAttempts\": 1}}')");
        assert!(message(per_call(&proto)).contains("\"__proto__\""));
        let nan = js("return { baseDelayMs: NaN }");
        assert!(message(per_call(&nan)).contains("\"baseDelayMs\""));
        let huge_array = js("return { retryOn: new Array(100000).fill(503) }");
        assert!(message(per_call(&huge_array)).contains("\"retryOn\""));
        let not_object = JsValue::from_str("fast");
        assert!(message(per_call(&not_object)).contains("\"retry\""));
    }

    #[wasm_bindgen_test]
    fn undefined_fields_are_not_set() {
        let object = js("return { maxAttempts: undefined, timeoutMs: undefined }");
        let policy = per_call(&object).unwrap();
        assert_eq!(policy, Policy::default());
    }
}
