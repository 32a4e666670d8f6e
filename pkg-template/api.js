// The public API, shared by every runtime's entry. The entry has already instantiated the
// wasm module (it imports its loader before this file), so the exports below are ready.
import { initSync, preset } from "./edge_retry.js";
import { createRetryFetch, CircuitOpenError } from "./driver.js";

// The core's service profiles (SPEC 10) as frozen option objects; the core's table holds them
// in this order.
const PRESET_NAMES = ["database", "fileUpload", "apiGateway", "messageQueue", "mlTraining", "videoProcessing", "awsStandard"];

function presetsOf() {
  const out = {};
  PRESET_NAMES.forEach((name, i) => {
    const p = { maxAttempts: preset(i, 0), baseDelayMs: preset(i, 1), maxDelayMs: preset(i, 2) };
    if (preset(i, 3) === 1) p.jitter = "full";
    out[name] = Object.freeze(p);
  });
  return Object.freeze(out);
}

export const presets = presetsOf();

// For the memory tests (tests/js/hostile, tests/js/soak): the wasm module's exports, its memory
// among them (initSync returns the instance made at import; it never instantiates twice). The
// glue is inside each entry's bundle, so it cannot be imported apart. Not API.
Object.defineProperty(createRetryFetch, Symbol.for("edge-retry.wasm"), { value: () => initSync() });
export { createRetryFetch, CircuitOpenError };
export const retryFetch = createRetryFetch();
export default retryFetch;
