// The built package inside a module worker in workerd (Miniflare's JS API), loaded through
// its `workerd` entry (pkg/workerd.js, the .wasm imported as a compiled module), calling the
// fault server on 127.0.0.1. One isolate for the whole file: breaker state and stats are
// checked across separate requests to the worker.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { harnessCall, harnessGet, uniquePath, sleep, until, useWorkerAndFaultServer } from "../runtimes.mjs";

const { srv, mf } = useWorkerAndFaultServer("tests/js/workerd/fixtures/entry-pkg.mjs");

// Fast, deterministic retries with the breaker and budget out of the way.
const FAST = { baseDelayMs: 5, jitter: "none", breaker: false, budget: false };

async function timedCall(spec, options) {
  const t0 = Date.now();
  const report = await harnessCall(mf, spec, options);
  report.wallMs = Date.now() - t0;
  return report;
}

test("the workerd entry loads with no init call and exports the surface", async () => {
  const exp = await harnessGet(mf, "exports");
  assert.deepEqual(exp.keys, ["CircuitOpenError", "createRetryFetch", "default", "presets", "retryFetch"]);
  assert.equal(exp.retryFetch, "function");
  assert.deepEqual(exp.presets, ["apiGateway", "awsStandard", "database", "fileUpload", "messageQueue", "mlTraining", "videoProcessing"]);
});

test("503s are retried with backoff until a 200", async () => {
  const p = uniquePath("503");
  srv.script(p, [{ status: 503 }, { status: 503 }, { status: 200, body: "fine" }]);
  const r = await timedCall({ url: srv.url(p), retry: { ...FAST, baseDelayMs: 40 } });
  assert.equal(r.outcome, "response", JSON.stringify(r));
  assert.equal(r.status, 200);
  assert.equal(r.body, "fine");
  assert.deepEqual(r.events.map((e) => [e.attempt, e.reason, e.status, e.delayMs]), [
    [1, "status", 503, 40],
    [2, "status", 503, 80],
  ]);
  assert.equal(r.events[0].url, srv.url(p));
  const reqs = srv.requests(p);
  assert.equal(reqs.length, 3);
  assert.ok(reqs[1].at - reqs[0].at >= 30, `first wait ${reqs[1].at - reqs[0].at} ms, expected ~40`);
  assert.ok(reqs[2].at - reqs[1].at >= 65, `second wait ${reqs[2].at - reqs[1].at} ms, expected ~80`);
});

test("the last 503 resolves as a 503 once attempts are spent", async () => {
  const p = uniquePath("spent");
  srv.script(p, [{ status: 503, body: "still down" }]);
  const r = await timedCall({ url: srv.url(p), retry: { ...FAST, maxAttempts: 3 } });
  assert.equal(r.outcome, "response");
  assert.equal(r.status, 503);
  assert.equal(r.body, "still down");
  assert.equal(r.events.length, 2);
  await sleep(100);
  assert.equal(srv.requests(p).length, 3);
});

test("Retry-After (seconds) is waited for instead of backoff", async () => {
  const p = uniquePath("retry-after");
  srv.script(p, [{ status: 503, retryAfter: "1" }, { status: 200 }]);
  const before = (await harnessGet(mf, "stats")).retryAfterWaits;
  const r = await timedCall({ url: srv.url(p), retry: { ...FAST, retryAfterJitter: 0 } });
  assert.equal(r.status, 200, JSON.stringify(r));
  assert.equal(r.events.length, 1);
  assert.equal(r.events[0].delayMs, 1000);
  const reqs = srv.requests(p);
  assert.equal(reqs.length, 2);
  const gap = reqs[1].at - reqs[0].at;
  assert.ok(gap >= 950 && gap < 3000, `waited ${gap} ms between attempts, expected ~1000`);
  const after = (await harnessGet(mf, "stats")).retryAfterWaits;
  assert.equal(after, before + 1, "stats.retryAfterWaits counts the server-given wait");
});

test("Retry-After as an HTTP-date in the past means no wait; above maxRetryAfterMs means no retry", async () => {
  const p = uniquePath("ra-date");
  srv.script(p, [{ status: 503, retryAfter: "Sun, 06 Nov 1994 08:49:37 GMT" }, { status: 200 }]);
  const r = await timedCall({ url: srv.url(p), retry: { ...FAST, baseDelayMs: 5000 } });
  assert.equal(r.status, 200);
  assert.equal(r.events[0].delayMs, 0);
  assert.ok(r.wallMs < 2500, `took ${r.wallMs} ms`);

  const q = uniquePath("ra-long");
  srv.script(q, [{ status: 429, retryAfter: "120" }, { status: 200 }]);
  const r2 = await timedCall({ url: srv.url(q), retry: { ...FAST, maxRetryAfterMs: 5000 } });
  assert.equal(r2.status, 429, "a server asking for too long a wait gets its response back at once");
  assert.equal(r2.events.length, 0);
  assert.equal(srv.requests(q).length, 1);
});

test("a connection reset is a network error and is retried", async () => {
  const p = uniquePath("reset");
  srv.script(p, [{ reset: true }, { reset: true }, { status: 200, body: "after resets" }]);
  const r = await timedCall({ url: srv.url(p), retry: FAST });
  assert.equal(r.outcome, "response", JSON.stringify(r));
  assert.equal(r.body, "after resets");
  assert.deepEqual(r.events.map((e) => e.reason), ["network", "network"]);
  assert.ok(r.events[0].error && r.events[0].error.message, "onRetry gets the network error");
  assert.equal(r.events[0].status, undefined);
  assert.equal(srv.requests(p).length, 3);
});

test("network errors on every attempt reject with the last one", async () => {
  const p = uniquePath("reset-all");
  srv.script(p, [{ reset: true }]);
  const r = await timedCall({ url: srv.url(p), retry: { ...FAST, maxAttempts: 2 } });
  assert.equal(r.outcome, "error", JSON.stringify(r));
  assert.notEqual(r.error.name, "CircuitOpenError");
  assert.equal(r.events.length, 1);
  assert.equal(srv.requests(p).length, 2);
});

test("attemptTimeoutMs: a hanging attempt times out and is retried", async () => {
  const p = uniquePath("hang");
  srv.script(p, [{ hang: true }, { status: 200, body: "second try" }]);
  const r = await timedCall({ url: srv.url(p), retry: { ...FAST, attemptTimeoutMs: 300 } });
  assert.equal(r.outcome, "response", JSON.stringify(r));
  assert.equal(r.body, "second try");
  assert.equal(r.events.length, 1);
  assert.equal(r.events[0].reason, "timeout");
  assert.equal(r.events[0].error.name, "TimeoutError");
  assert.ok(r.wallMs >= 280 && r.wallMs < 5000, `took ${r.wallMs} ms`);
  assert.equal(srv.requests(p).length, 2);
});

test("attemptTimeoutMs on every attempt rejects with a TimeoutError DOMException", async () => {
  const p = uniquePath("hang-all");
  srv.script(p, [{ hang: true }]);
  const r = await timedCall({ url: srv.url(p), retry: { ...FAST, attemptTimeoutMs: 150, maxAttempts: 2 } });
  assert.equal(r.outcome, "error");
  assert.equal(r.error.name, "TimeoutError");
  assert.equal(r.error.isDOMException, true);
  assert.equal(srv.requests(p).length, 2);
});

test("a stream body is replayed whole on every attempt", async () => {
  const p = uniquePath("stream");
  const body = "a streamed request body, sent in 7-byte chunks: 0123456789";
  srv.script(p, [{ status: 503 }, { status: 502 }, { status: 200 }]);
  const r = await timedCall({ url: srv.url(p), method: "PUT", body, stream: true, headers: { "content-type": "text/plain" }, retry: FAST });
  assert.equal(r.status, 200, JSON.stringify(r));
  const reqs = srv.requests(p);
  assert.equal(reqs.length, 3);
  for (const req of reqs) {
    assert.equal(req.method, "PUT");
    assert.equal(req.body.toString(), body);
    assert.equal(req.bodyComplete, true);
  }
});

test("the incoming request's body stream, forwarded by the worker, is replayed", async () => {
  const p = uniquePath("forward");
  const body = "x".repeat(50000) + "-end";
  srv.script(p, [{ status: 503 }, { status: 200 }]);
  const r = await timedCall({ url: srv.url(p), method: "PUT", forwardBody: true, retry: FAST }, { body });
  assert.equal(r.status, 200, JSON.stringify(r).slice(0, 500));
  const reqs = srv.requests(p);
  assert.equal(reqs.length, 2);
  for (const req of reqs) assert.equal(req.body.toString(), body);
});

test("a Request input's body is replayed; POST with Idempotency-Key is retried", async () => {
  const p = uniquePath("request-input");
  srv.script(p, [{ status: 503 }, { status: 200 }]);
  const r = await timedCall({ url: srv.url(p), method: "POST", asRequest: true, body: "{\"order\":42}", headers: { "idempotency-key": "k-1", "content-type": "application/json" }, retry: FAST });
  assert.equal(r.status, 200, JSON.stringify(r));
  const reqs = srv.requests(p);
  assert.equal(reqs.length, 2);
  for (const req of reqs) {
    assert.equal(req.method, "POST");
    assert.equal(req.body.toString(), "{\"order\":42}");
    assert.equal(req.headers["idempotency-key"], "k-1");
  }
});

test("POST without Idempotency-Key is sent once", async () => {
  const p = uniquePath("post");
  srv.script(p, [{ status: 503 }, { status: 200 }]);
  const r = await timedCall({ url: srv.url(p), method: "POST", body: "payload", retry: FAST });
  assert.equal(r.status, 503);
  assert.equal(r.events.length, 0);
  await sleep(100);
  assert.equal(srv.requests(p).length, 1);
});

test("a stream longer than maxReplayBytes is sent whole, once, and not retried", async () => {
  const p = uniquePath("too-long");
  const body = "0123456789".repeat(10);
  srv.script(p, [{ status: 503 }, { status: 200 }]);
  const r = await timedCall({ url: srv.url(p), method: "PUT", body, stream: true, retry: { ...FAST, maxReplayBytes: 30 } });
  assert.equal(r.status, 503, JSON.stringify(r));
  await sleep(100);
  const reqs = srv.requests(p);
  assert.equal(reqs.length, 1);
  assert.equal(reqs[0].body.toString(), body);
});

test("breaker state persists across requests to the worker: open, refuse, half-open, close", async () => {
  const p = uniquePath("breaker");
  const key = srv.origin;
  const spec = {
    url: srv.url(p),
    instance: "breaker-test",
    defaults: { baseDelayMs: 5, jitter: "none", maxAttempts: 2, breaker: { minimumRequests: 4, failureRatio: 0.5, openMs: 800 } },
  };
  srv.script(p, [{ status: 503 }]);
  // Each worker request is a separate call; only the isolate's memory links them.
  let opened = false;
  for (let i = 0; i < 6 && !opened; i++) {
    const r = await timedCall(spec);
    assert.equal(r.outcome, "response", JSON.stringify(r));
    assert.equal(r.status, 503);
    opened = (await harnessGet(mf, "breaker", { instance: "breaker-test", key })).state === "open";
  }
  assert.ok(opened, "the breaker opened after the failures of earlier requests");
  const b = await harnessGet(mf, "breaker", { instance: "breaker-test", key });
  assert.equal(b.state, "open");
  assert.ok(b.failures >= 4, JSON.stringify(b));

  const seen = srv.requests(p).length;
  for (let i = 0; i < 3; i++) {
    const r = await timedCall(spec);
    assert.equal(r.outcome, "error", JSON.stringify(r));
    assert.equal(r.error.name, "CircuitOpenError");
    assert.equal(r.error.isCircuitOpenError, true);
    assert.equal(r.error.key, key);
    assert.ok(r.error.retryAfterMs > 0 && r.error.retryAfterMs <= 800, `retryAfterMs ${r.error.retryAfterMs}`);
    assert.ok(r.wallMs < 500, `refused in ${r.wallMs} ms`);
  }
  await sleep(50);
  assert.equal(srv.requests(p).length, seen, "no request reaches the server while the breaker is open");

  // The default instance has its own breaker, still closed for this origin.
  assert.equal((await harnessGet(mf, "breaker", { key })).state, "closed");

  assert.ok(await until(async () => (await harnessGet(mf, "breaker", { instance: "breaker-test", key })).state === "half-open", 3000), "half-open after openMs");
  srv.script(p, [{ status: 200, body: "recovered" }]);
  const probe = await timedCall(spec);
  assert.equal(probe.status, 200, JSON.stringify(probe));
  assert.equal(probe.body, "recovered");
  assert.equal((await harnessGet(mf, "breaker", { instance: "breaker-test", key })).state, "closed");
  assert.equal(srv.requests(p).length, seen + 1);
  const stats = await harnessGet(mf, "stats", { instance: "breaker-test" });
  assert.equal(stats.breakerRejections, 3);
});

test("stats accumulate across requests within the isolate", async () => {
  const spec = (p) => ({ url: srv.url(p), instance: "stats-test", defaults: { baseDelayMs: 2, jitter: "none", breaker: false } });
  const s0 = await harnessGet(mf, "stats", { instance: "stats-test" });
  assert.equal(s0.calls, 0);
  const ok = uniquePath("stats-ok");
  const flaky = uniquePath("stats-flaky");
  srv.script(ok, [{ status: 200 }]);
  srv.script(flaky, [{ status: 503 }, { status: 200 }]);
  await timedCall(spec(ok));
  await timedCall(spec(flaky));
  await timedCall(spec(ok));
  const s = await harnessGet(mf, "stats", { instance: "stats-test" });
  assert.equal(s.calls, 3);
  assert.equal(s.attempts, 4);
  assert.equal(s.retries, 1);
  assert.equal(s.successes, 3);
  assert.equal(s.failures, 0);
  for (const k of ["p50", "p90", "p99"]) assert.equal(typeof s.latencyMs[k], "number");

  // The default instance counts every call made through it, across requests.
  const d0 = await harnessGet(mf, "stats");
  await timedCall({ url: srv.url(ok), retry: FAST });
  await timedCall({ url: srv.url(ok), retry: FAST });
  const d1 = await harnessGet(mf, "stats");
  assert.equal(d1.calls, d0.calls + 2);
  assert.equal(d1.successes, d0.successes + 2);
});

test("abort during a backoff wait settles at once and nothing more is sent", async () => {
  const p = uniquePath("abort-wait");
  srv.script(p, [{ status: 503 }]);
  const r = await timedCall({ url: srv.url(p), abortAfterMs: 200, retry: { ...FAST, baseDelayMs: 5000, maxAttempts: 3 } });
  assert.equal(r.outcome, "error", JSON.stringify(r));
  assert.equal(r.error.name, "AbortError");
  assert.equal(r.events.length, 1, "onRetry fired before the wait that was cut short");
  assert.ok(r.wallMs < 2500, `settled after ${r.wallMs} ms, not after the 5 s wait`);
  await sleep(300);
  assert.equal(srv.requests(p).length, 1, "nothing is sent after the abort");
});

test("abort during an attempt rejects with the signal's reason", async () => {
  const p = uniquePath("abort-attempt");
  srv.script(p, [{ hang: true }]);
  const r = await timedCall({ url: srv.url(p), abortAfterMs: 200, retry: FAST });
  assert.equal(r.outcome, "error", JSON.stringify(r));
  assert.equal(r.error.name, "AbortError");
  assert.equal(r.events.length, 0);
  assert.ok(r.wallMs < 2500, `settled after ${r.wallMs} ms`);
  await sleep(200);
  assert.equal(srv.requests(p).length, 1);
  // The call's promise was rejected by the abort before anything awaited it in the driver.
  const unhandled = await harnessGet(mf, "unhandled");
  assert.deepEqual(unhandled, [], "no rejection left unhandled in the isolate");
});

test("retry: false sends exactly one attempt", async () => {
  const p = uniquePath("no-retry");
  srv.script(p, [{ status: 503 }, { status: 200 }]);
  const r = await timedCall({ url: srv.url(p), retry: false });
  assert.equal(r.status, 503);
  await sleep(100);
  assert.equal(srv.requests(p).length, 1);
});

test("invalid options reject with a TypeError naming the option, and nothing is sent", async () => {
  const p = uniquePath("invalid");
  const r = await timedCall({ url: srv.url(p), retry: { maxAttempts: 0 } });
  assert.equal(r.outcome, "error");
  assert.equal(r.error.isTypeError, true);
  assert.match(r.error.message, /maxAttempts/);
  await sleep(50);
  assert.equal(srv.requests(p).length, 0);
});
