// One fetch attempt with its own timeout, classified for the core.
import { startTimer } from "./timers.js";
import { timeoutError } from "./errors.js";

// Outcome kinds; the first three are reported to the core, ABORTED and INVALID end the call.
export const RESPONSE = 0, NETWORK = 1, TIMEOUT = 2, ABORTED = 3, INVALID = 4;

// Did fetch reject because the request cannot be made at all (a bad URL or header, a scheme
// fetch cannot load such as ftp: or about:), rather than the network failing? Asked only
// after a rejection, so success pays nothing for it.
function refusesRequest(input, init) {
  if (init && init.body instanceof ReadableStream) return false; // consumed by the attempt
  let url;
  try {
    url = new Request(input, init).url;
  } catch {
    return true;
  }
  return !/^https?:/i.test(url);
}

// One attempt. Resolves (never rejects) with [kind, value]. `body` replaces init.body when
// defined (a replay buffer or a one-shot stream); with a timeout, the attempt gets its own
// AbortController that the caller's signal also aborts.
export function attempt(fetchFn, input, init, body, timeoutMs, signal) {
  let attemptInit = init;
  let cancelTimer = null;
  let timedOut = false;
  let onAbort = null;
  if (body !== undefined || timeoutMs >= 0) {
    attemptInit = init ? { ...init } : {};
    if (body !== undefined) {
      attemptInit.body = body;
      if (body instanceof ReadableStream) attemptInit.duplex = "half";
    }
    if (timeoutMs >= 0) {
      const controller = new AbortController();
      attemptInit.signal = controller.signal;
      cancelTimer = startTimer(timeoutMs, () => {
        timedOut = true;
        controller.abort(timeoutError());
      });
      if (signal) {
        onAbort = () => controller.abort(signal.reason);
        if (signal.aborted) onAbort();
        else signal.addEventListener("abort", onAbort, { once: true });
      }
    }
  }
  const settle = (value, ok) => {
    if (cancelTimer) cancelTimer();
    // A response keeps the caller's abort wired to its body, as fetch does; a failed attempt
    // lets go of it.
    if (ok) return [RESPONSE, value];
    if (onAbort) signal.removeEventListener("abort", onAbort);
    if (signal && signal.aborted) return [ABORTED, signal.reason];
    if (timedOut) return [TIMEOUT, value];
    return [value instanceof TypeError && refusesRequest(input, attemptInit) ? INVALID : NETWORK, value];
  };
  let pending;
  try {
    // Workers and browsers throw "Illegal invocation" unless fetch is called on the global.
    pending = fetchFn.call(globalThis, input, attemptInit);
  } catch (error) {
    return Promise.resolve(settle(error, false));
  }
  return Promise.resolve(pending).then((r) => settle(r, true), (e) => settle(e, false));
}

