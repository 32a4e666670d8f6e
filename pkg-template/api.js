// The public API, shared by every runtime's entry. The entry has already instantiated the
// wasm module (it imports its loader before this file), so the exports below are ready.
import { Instance, presets as corePresets, circuitOpenErrorClass } from "./edge_retry.js";

export const CircuitOpenError = circuitOpenErrorClass();

function freezeAll(object) {
  for (const value of Object.values(object)) Object.freeze(value);
  return Object.freeze(object);
}

export const presets = freezeAll(corePresets());

function wrap(instance) {
  const retryFetch = (input, init) => instance.fetch(input, init);
  retryFetch.stats = () => instance.stats();
  retryFetch.breaker = (key) => instance.breaker(String(key));
  return retryFetch;
}

export function createRetryFetch(defaults) {
  return wrap(new Instance(defaults));
}

export const retryFetch = createRetryFetch();
export default retryFetch;
