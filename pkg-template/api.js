// The public API, shared by every runtime's entry. The entry has already instantiated the
// wasm module (it imports its loader before this file), so the exports below are ready.
import { presets as corePresets } from "./edge_retry.js";
import { createRetryFetch, CircuitOpenError } from "./driver.js";

function freezeAll(object) {
  for (const value of Object.values(object)) Object.freeze(value);
  return Object.freeze(object);
}

export const presets = freezeAll(corePresets());
export { createRetryFetch, CircuitOpenError };
export const retryFetch = createRetryFetch();
export default retryFetch;
