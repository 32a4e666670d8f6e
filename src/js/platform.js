// Platform pieces the Rust driver calls: timers, one fetch attempt with its timeout, stream
// buffering, body cancelling and error objects. Each does one small I/O job; every decision
// stays in the Rust core. Works in workerd, browsers, Node >= 18 and Deno.

// setTimeout fires at once for delays above 2^31-1 ms, so longer waits are chained.
const MAX_TIMER_MS = 2147483647;

function startTimer(ms, done) {
  let handle;
  const step = (left) => {
    handle = setTimeout(() => (left > MAX_TIMER_MS ? step(left - MAX_TIMER_MS) : done()), Math.min(left, MAX_TIMER_MS));
  };
  step(Math.max(0, ms));
  return () => clearTimeout(handle);
}

export class CircuitOpenError extends Error {
  constructor(key, retryAfterMs) {
    super(`edge-retry: circuit open for ${key}; calls are refused for about ${retryAfterMs} ms`);
    this.name = "CircuitOpenError";
    this.key = key;
    this.retryAfterMs = retryAfterMs;
  }
}

export function circuitOpenErrorClass() {
  return CircuitOpenError;
}

export function circuitOpenError(key, retryAfterMs) {
  return new CircuitOpenError(key, retryAfterMs);
}

export function timeoutError() {
  return new DOMException("The operation timed out.", "TimeoutError");
}

export function optionError(message) {
  return new TypeError(message);
}

// Waits `ms`, or rejects with the signal's reason as soon as it aborts.
export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal && signal.aborted) return reject(signal.reason);
    let cancel = null;
    const onAbort = () => {
      if (cancel) cancel();
      reject(signal.reason);
    };
    cancel = startTimer(ms, () => {
      if (signal) signal.removeEventListener("abort", onAbort);
      resolve();
    });
    if (signal) signal.addEventListener("abort", onAbort, { once: true });
  });
}

// Outcome kinds, as the driver reads them.
// INVALID: the platform refused the request itself (a bad URL or header): never retried.
const RESPONSE = 0, NETWORK = 1, TIMEOUT = 2, ABORTED = 3, INVALID = 4;

// Did fetch reject because the request cannot be made at all, rather than the network failing?
// Asked only after a rejection, so the success path pays nothing for it.
function refusesRequest(input, init) {
  if (init && init.body instanceof ReadableStream) return false; // already consumed by the attempt
  try {
    new Request(input, init);
    return false;
  } catch {
    return true;
  }
}

// One attempt. Resolves (never rejects) with [kind, value]: the Response, the error, or the
// caller's abort reason. `body` replaces init.body when defined (a replay buffer or a one-shot
// stream); with a timeout or a caller signal, the attempt gets its own AbortController.
export function attempt(fetchFn, input, init, body, timeoutMs, signal) {
  let attemptInit = init;
  let cancelTimer = null;
  let timedOut = false;
  let onAbort = null;
  if (body !== undefined || timeoutMs !== undefined) {
    attemptInit = init ? { ...init } : {};
    if (body !== undefined) {
      attemptInit.body = body;
      if (body instanceof ReadableStream) attemptInit.duplex = "half";
    }
    if (timeoutMs !== undefined) {
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
    if (onAbort) signal.removeEventListener("abort", onAbort);
    if (ok) return [RESPONSE, value];
    if (signal && signal.aborted) return [ABORTED, signal.reason];
    if (timedOut) return [TIMEOUT, value];
    return [value instanceof TypeError && refusesRequest(input, attemptInit) ? INVALID : NETWORK, value];
  };
  let pending;
  try {
    pending = fetchFn.call(globalThis, input, attemptInit);
  } catch (error) {
    return Promise.resolve(settle(error, false));
  }
  return Promise.resolve(pending).then((r) => settle(r, true), (e) => settle(e, false));
}

// Reads a stream body into a replay buffer of at most `max` bytes. Resolves with
// [true, Uint8Array] when the whole body fits, or [false, ReadableStream] that sends what was
// read and then the rest, once. Rejects with the stream's own error.
export async function bufferBody(stream, max) {
  const reader = stream.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const chunk = value instanceof Uint8Array ? value : new Uint8Array(value);
    chunks.push(chunk);
    size += chunk.byteLength;
    if (size > max) {
      let i = 0;
      return [false, new ReadableStream({
        async pull(controller) {
          if (i < chunks.length) return controller.enqueue(chunks[i++]);
          const next = await reader.read();
          if (next.done) controller.close();
          else controller.enqueue(next.value);
        },
        cancel(reason) {
          return reader.cancel(reason);
        },
      })];
    }
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return [true, bytes];
}

// The request's stream body, if it has one: a ReadableStream in init.body, or the body of a
// Request input when init gives none. Other body types can be sent again as they are.
export function streamBody(input, init) {
  const body = init ? init.body : undefined;
  if (body != null) return body instanceof ReadableStream ? body : undefined;
  if (input instanceof Request && input.body) return input.body;
  return undefined;
}

// Method, URL and whether an Idempotency-Key header is present.
export function requestFacts(input, init) {
  const isRequest = input instanceof Request;
  const method = (init && init.method) || (isRequest ? input.method : "GET");
  const url = isRequest ? input.url : String(input instanceof URL ? input.href : input);
  let headers = init && init.headers;
  if (headers === undefined && isRequest) headers = input.headers;
  let hasKey = false;
  if (headers) {
    if (headers instanceof Headers) hasKey = headers.has("idempotency-key");
    else if (Array.isArray(headers)) hasKey = headers.some((h) => String(h[0]).toLowerCase() === "idempotency-key");
    else hasKey = Object.keys(headers).some((k) => k.toLowerCase() === "idempotency-key");
  }
  const signal = (init && init.signal) || (isRequest ? input.signal : undefined) || undefined;
  return [String(method), url, hasKey, signal];
}

export function originOf(url) {
  try {
    const base = globalThis.location ? globalThis.location.href : undefined;
    return new URL(url, base).origin;
  } catch {
    return url;
  }
}

// Releases a discarded response's connection. Errors here are of no interest to the caller.
export function cancelBody(response) {
  if (response && response.body) response.body.cancel().catch(() => {});
}

export function status(response) {
  return response.status;
}

export function header(response, name) {
  return response.headers.get(name) ?? undefined;
}

export function isFunction(value) {
  return typeof value === "function";
}

export function secureSeed() {
  const words = new Uint32Array(2);
  globalThis.crypto.getRandomValues(words);
  return words[0] * 4294967296 + words[1];
}
