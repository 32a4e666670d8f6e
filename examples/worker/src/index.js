// A Cloudflare Worker that calls an upstream through edge-retry and reports, as JSON, what
// happened: the final status and body, every retry (attempt, reason, wait, status), the
// circuit breaker's state for the upstream's origin, or the error the call rejected with.
//
//   GET  /?url=https://api.example.com/thing     call that URL (default: env.UPSTREAM)
//   PUT  /?url=...  (with a body)                forward the method, body and content-type;
//                                                the streamed body is replayed on each retry
//   POST /?url=...  with Idempotency-Key         POST is only retried with that header
//   GET  /__stats                                this isolate's retry statistics
//   GET  /__breaker?url=...                      the breaker for that URL's origin
//   GET  /__events                               breaker and storm events not yet reported
//
// Every JSON answer carries `events`: what onBreaker and onStorm (SPEC 8) reported since the
// last answer, e.g. { type: "breaker", key, state: "open", at } or { type: "storm", key,
// state: "storm", retryRatio, attempts, windowMs, at }. A real Worker would send these to
// its logs or alerting (console.log shows them in `wrangler tail`).
//
// Per-request knobs (query parameters, all optional): attempts, baseDelayMs, attemptTimeoutMs,
// timeoutMs, abortAfterMs (abort the call from the outside after that long).
//
// The retry instance lives in module scope, so its per-origin circuit breakers, retry budgets
// and stats last as long as the isolate: one request's failures protect the next ones.
import { createRetryFetch, CircuitOpenError } from "edge-retry";

let retryFetch = null;

// onBreaker and onStorm events, kept until the next answer reports them (at most 100).
const events = [];
function record(type, ev) {
  events.push({ type, ...ev });
  if (events.length > 100) events.shift();
}

// Built on the first request, from the Worker's vars (env is not visible at module scope).
function client(env) {
  if (retryFetch) return retryFetch;
  const num = (name, fallback) => {
    const value = env[name];
    return value === undefined || value === "" ? fallback : Number(value);
  };
  // A var left unset leaves the library's default (an option set to undefined is not set).
  retryFetch = createRetryFetch({
    maxAttempts: num("MAX_ATTEMPTS", 4),
    baseDelayMs: num("BASE_DELAY_MS", 100),
    breaker: {
      minimumRequests: num("BREAKER_MIN_REQUESTS"),
      failureRatio: num("BREAKER_FAILURE_RATIO"),
      windowMs: num("BREAKER_WINDOW_MS"),
      openMs: num("BREAKER_OPEN_MS"),
      maxOpenMs: num("BREAKER_MAX_OPEN_MS"),
    },
    storm: {
      ratio: num("STORM_RATIO"),
      windowMs: num("STORM_WINDOW_MS"),
      minimumAttempts: num("STORM_MIN_ATTEMPTS"),
    },
    onBreaker: (ev) => record("breaker", ev),
    onStorm: (ev) => record("storm", ev),
  });
  return retryFetch;
}

function json(value, status = 200) {
  value = { ...value, events: events.splice(0) };
  return new Response(JSON.stringify(value, null, 2) + "\n", {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
}

function describeError(error) {
  if (error instanceof CircuitOpenError) {
    return { name: error.name, message: error.message, key: error.key, retryAfterMs: error.retryAfterMs };
  }
  if (error && typeof error === "object") return { name: error.name, message: error.message };
  return { name: "Error", message: String(error) };
}

function targetOf(url, env) {
  const target = url.searchParams.get("url") || env.UPSTREAM;
  if (!target) throw new TypeError("no upstream: pass ?url= or set the UPSTREAM var");
  return new URL(target);
}

function optionalNumber(params, name) {
  const value = params.get(name);
  return value === null || value === "" ? undefined : Number(value);
}

async function callUpstream(request, env, url) {
  const fetchWithRetry = client(env);
  const target = targetOf(url, env);
  const retries = [];
  const retry = {
    maxAttempts: optionalNumber(url.searchParams, "attempts"),
    baseDelayMs: optionalNumber(url.searchParams, "baseDelayMs"),
    attemptTimeoutMs: optionalNumber(url.searchParams, "attemptTimeoutMs"),
    timeoutMs: optionalNumber(url.searchParams, "timeoutMs"),
    onRetry(ev) {
      const event = { attempt: ev.attempt, reason: ev.reason, delayMs: ev.delayMs };
      if (ev.status !== undefined) event.status = ev.status;
      if (ev.error !== undefined) event.error = describeError(ev.error);
      retries.push(event);
    },
  };

  const headers = new Headers();
  for (const name of ["content-type", "idempotency-key", "accept"]) {
    const value = request.headers.get(name);
    if (value !== null) headers.set(name, value);
  }
  const init = { method: request.method, headers, retry };
  if (request.body !== null && request.method !== "GET" && request.method !== "HEAD") init.body = request.body;

  const abortAfterMs = optionalNumber(url.searchParams, "abortAfterMs");
  let abortTimer;
  if (abortAfterMs !== undefined) {
    const controller = new AbortController();
    abortTimer = setTimeout(() => controller.abort(new Error(`aborted by the caller after ${abortAfterMs} ms`)), abortAfterMs);
    init.signal = controller.signal;
  }

  const started = Date.now();
  const report = { upstream: target.href, method: request.method };
  try {
    const response = await fetchWithRetry(target, init);
    const body = await response.text();
    Object.assign(report, {
      outcome: "response",
      status: response.status,
      body: body.length > 2000 ? body.slice(0, 2000) + "…" : body,
    });
  } catch (error) {
    Object.assign(report, { outcome: "error", error: describeError(error) });
  } finally {
    clearTimeout(abortTimer);
  }
  report.retries = retries;
  report.elapsedMs = Date.now() - started;
  report.breaker = fetchWithRetry.breaker(target.origin);
  return json(report);
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    try {
      if (url.pathname === "/__stats") return json(client(env).stats());
      if (url.pathname === "/__events") return json({});
      if (url.pathname === "/__breaker") {
        const origin = targetOf(url, env).origin;
        return json({ origin, breaker: client(env).breaker(origin) });
      }
      return await callUpstream(request, env, url);
    } catch (error) {
      return json({ outcome: "error", error: describeError(error) }, 400);
    }
  },
};
