// The public API, shared by every runtime's entry. The entry has already instantiated the
// wasm module (it imports its loader before this file), so the exports below are ready.
import { presetTable, presetNames } from "./edge_retry.js";
import { createRetryFetch, CircuitOpenError } from "./driver.js";

// The core's service profiles (SPEC 10) as frozen option objects.
function presetsOf(names, table) {
  const out = {};
  names.split(",").forEach((name, i) => {
    const [maxAttempts, baseDelayMs, maxDelayMs, fullJitter] = table.subarray(i * 4, i * 4 + 4);
    const preset = { maxAttempts, baseDelayMs, maxDelayMs };
    if (fullJitter) preset.jitter = "full";
    out[name] = Object.freeze(preset);
  });
  return Object.freeze(out);
}

export const presets = presetsOf(presetNames(), presetTable());
export { createRetryFetch, CircuitOpenError };
export const retryFetch = createRetryFetch();
export default retryFetch;
