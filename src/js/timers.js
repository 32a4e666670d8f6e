// Timers that neither fire early nor get lost.
import { onAbort } from "./signals.js";

// setTimeout fires at once for delays above 2^31-1 ms, so longer waits are chained.
const MAX_TIMER_MS = 2147483647;

export function startTimer(ms, done) {
  let handle;
  const step = (left) => {
    handle = setTimeout(() => (left > MAX_TIMER_MS ? step(left - MAX_TIMER_MS) : done()), Math.min(left, MAX_TIMER_MS));
  };
  step(Math.max(0, ms));
  return () => clearTimeout(handle);
}

// Waits `ms`, or rejects with the signal's reason as soon as it aborts.
export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal && signal.aborted) return reject(signal.reason);
    let cancel = null;
    const unsubscribe = onAbort(signal, (reason) => {
      if (cancel) cancel();
      reject(reason);
    });
    cancel = startTimer(ms, () => {
      unsubscribe();
      resolve();
    });
  });
}
