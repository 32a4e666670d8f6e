// The errors a call can reject with besides the platform's own.

export class CircuitOpenError extends Error {
  constructor(key, retryAfterMs) {
    super(`edge-retry: circuit open for ${key}; calls are refused for about ${retryAfterMs} ms`);
    this.name = "CircuitOpenError";
    this.key = key;
    this.retryAfterMs = retryAfterMs;
  }
}

// What AbortSignal.timeout() rejects with, for attempt timeouts and the call's deadline.
export function timeoutError() {
  return new DOMException("The operation timed out.", "TimeoutError");
}
