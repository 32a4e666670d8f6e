// 1,000 concurrent calls in one isolate (workerd through Miniflare, and Node) sharing one
// breaker and one budget (one origin), checked EXACTLY against what the fault server recorded:
// every attempt the stats count is a request the server saw, call by call, and every counter
// (retries, Retry-After waits, budget denials, breaker rejections, successes) is what the
// server's answers imply. The same scenario code (fixtures/scenario.mjs) runs in both.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as nodeApi from "../../../pkg/node.js";
import { sleep, useWorkerAndFaultServer } from "../runtimes.mjs";
import { runConcurrent, report } from "./fixtures/scenario.mjs";

const T = { timeout: 60000 };
const N = 1000;
const PARTS = 10; // workerd: ten requests to the worker at once, 100 calls each

const { srv, mf } = useWorkerAndFaultServer("tests/js/soak/fixtures/worker.mjs");

async function workerJson(route, spec) {
  const q = spec === undefined ? "" : `spec=${encodeURIComponent(JSON.stringify(spec))}`;
  const res = await mf.dispatchFetch(`http://scenario.local${route}${route.includes("?") ? "&" : "?"}${q}`, { method: spec === undefined ? "GET" : "POST" });
  const text = await res.text();
  const value = JSON.parse(text);
  if (value && value.harnessError) throw new Error(`the worker failed: ${text.slice(0, 800)}`);
  return value;
}

const RUNTIMES = {
  node: {
    networkError: (r) => r.typeError === true && r.error === "TypeError",
    run: (spec) => runConcurrent(nodeApi, spec),
    report: async (name, key) => report(name, key),
  },
  workerd: {
    // workerd rejects fetch on a lost connection with a plain Error.
    networkError: (r) => r.error === "Error" && /connection/i.test(r.message),
    run: (spec) => workerJson("/scenario/concurrent", spec),
    report: (name, key) => workerJson(`/scenario/report?name=${encodeURIComponent(name)}&key=${encodeURIComponent(key)}`),
  },
};

// `n` calls numbered from `from`, in `parts` concurrent batches (all started at once).
async function wave(rt, spec, n, from, parts) {
  const size = Math.ceil(n / parts);
  const batches = [];
  for (let k = 0; k < parts; k++) {
    const count = Math.min(size, n - k * size);
    if (count > 0) batches.push(rt.run({ ...spec, n: count, from: from + k * size }));
  }
  return (await Promise.all(batches)).flat().sort((a, b) => a.c - b.c);
}

// The server's records for `path`, grouped by call (the `c` parameter), in arrival order.
function serverCalls(path) {
  const byCall = new Map();
  for (const r of srv.requests(path).sort((a, b) => a.seq - b.seq)) {
    const c = new URLSearchParams(r.search).get("c");
    if (!byCall.has(c)) byCall.set(c, []);
    byCall.get(c).push(r.reset ? "reset" : r.status);
  }
  return byCall;
}

// Every attempt counted is a request the server saw, call by call.
function assertAttemptsMatch(rep, byCall, path) {
  const seen = srv.requests(path).length;
  assert.equal(rep.fetches, rep.stats.attempts, "fetch was called once per attempt counted");
  assert.equal(rep.stats.attempts, seen, "stats.attempts == requests the server saw");
  const mismatched = [];
  for (const [c, outcomes] of byCall) {
    if ((rep.fetchesByCall[c] || 0) !== outcomes.length) mismatched.push(`call ${c}: fetched ${rep.fetchesByCall[c]}, server saw ${outcomes.length}`);
  }
  for (const c of Object.keys(rep.fetchesByCall)) if (!byCall.has(c)) mismatched.push(`call ${c}: fetched, never seen`);
  assert.deepEqual(mismatched.slice(0, 10), []);
}

const RETRY_ON = new Set([408, 429, 500, 502, 503, 504]);
const retryable = (o) => o === "reset" || RETRY_ON.has(o);

for (const [runtime, rt] of Object.entries(RUNTIMES)) {
  describe(`${runtime}: ${N} concurrent calls in one isolate`, () => {
    test("one shared budget: retries, Retry-After waits and budget denials are exactly what the server's answers imply", T, async (t) => {
      const p = `/conc-${runtime}-budget`;
      const name = `${runtime}-budget`;
      // Answers in arrival order: 60% retryable (503, 429 with Retry-After 0, 500 with a
      // malformed Retry-After, 502, resets), 40% 200.
      const cycle = [{ status: 200 }, { status: 503 }, { status: 429, retryAfter: "0" }, { status: 200 }, { status: 500, retryAfter: "soon" }, { reset: true }, { status: 200 }, { status: 503 }, { status: 502 }, { status: 200 }];
      srv.script(p, Array.from({ length: 3 * N }, (_, i) => cycle[i % cycle.length]));
      const CAPACITY = 3000;
      const defaults = {
        maxAttempts: 3,
        baseDelayMs: 1,
        maxDelayMs: 5,
        jitter: "none",
        retryAfterJitter: 0,
        breaker: false,
        // No refunds: every token spent stays spent, so the bucket's end state is exact.
        budget: { capacity: CAPACITY, retryCost: 5, timeoutCost: 10, successRefund: 0 },
      };
      const results = await wave(rt, { name, defaults, base: srv.origin, path: p }, N, 0, runtime === "workerd" ? PARTS : 1);
      const rep = await rt.report(name, srv.origin);
      const byCall = serverCalls(p);

      assert.equal(results.length, N, "every call settled");
      assertAttemptsMatch(rep, byCall, p);

      // Each call ended with the server's last answer to it.
      const wrong = [];
      let statusRetries = 0;
      let networkRetries = 0;
      let serverWaits = 0;
      let expectDenials = 0;
      let successes = 0;
      for (const r of results) {
        const outcomes = byCall.get(String(r.c)) || [];
        const last = outcomes[outcomes.length - 1];
        if (outcomes.length < 1 || outcomes.length > 3) wrong.push(`call ${r.c}: ${outcomes.length} attempts`);
        if (r.status !== undefined) {
          if (r.status !== last) wrong.push(`call ${r.c}: resolved ${r.status}, server's last answer ${last}`);
          if (r.status === 200) successes++;
        } else if (last !== "reset" || !rt.networkError(r)) {
          wrong.push(`call ${r.c}: rejected ${r.error} (${r.message}), server's last answer ${last}`);
        }
        for (let i = 1; i < outcomes.length; i++) {
          if (outcomes[i - 1] === "reset") networkRetries++;
          else statusRetries++;
          if (outcomes[i - 1] === 429) serverWaits++;
        }
        // A retryable last answer with attempts left: only the budget can have stopped it.
        if (retryable(last) && outcomes.length < 3) expectDenials++;
      }
      assert.deepEqual(wrong.slice(0, 10), []);

      const s = rep.stats;
      t.diagnostic(`attempts ${s.attempts}, retries ${s.retries} (${statusRetries} after a status, ${networkRetries} after a reset), Retry-After waits ${s.retryAfterWaits}, budget denials ${s.budgetDenials}, successes ${s.successes}`);
      assert.equal(s.calls, N);
      assert.equal(s.successes, successes);
      assert.equal(s.failures, N - successes);
      assert.equal(s.retries, s.attempts - N, "every call made one first attempt; the rest are retries");
      assert.equal(s.retries, statusRetries + networkRetries);
      assert.equal(s.retryAfterWaits, serverWaits, "a retry after each 429 with Retry-After: 0, and no other");
      assert.equal(s.breakerRejections, 0);
      assert.equal(s.budgetDenials, expectDenials, "budget denials: the calls stopped with a retryable answer and attempts left");
      assert.ok(expectDenials > 0, "the shared bucket ran dry (the scenario exercises denials)");
      const spent = 5 * statusRetries + 10 * networkRetries;
      assert.ok(spent <= CAPACITY, `spent ${spent} of ${CAPACITY} tokens`);
      assert.ok(CAPACITY - spent < 10, `denied retries left ${CAPACITY - spent} tokens unspent in the bucket`);
    });

    test("one shared breaker: it opens under the load, refuses the next wave, and every count agrees", T, async (t) => {
      const p = `/conc-${runtime}-breaker`;
      const name = `${runtime}-breaker`;
      srv.script(p, [{ status: 503, body: "down" }]);
      const MIN = 20;
      const defaults = {
        maxAttempts: 3,
        baseDelayMs: 20,
        jitter: "none",
        budget: false,
        breaker: { minimumRequests: MIN, failureRatio: 0.5, windowMs: 60000, openMs: 60000 },
      };
      const spec = { name, defaults, base: srv.origin, path: p };
      const first = await wave(rt, spec, N, 0, runtime === "workerd" ? PARTS : 1);
      let rep = await rt.report(name, srv.origin);
      const byCall = serverCalls(p);
      assertAttemptsMatch(rep, byCall, p);

      const refused = first.filter((r) => r.circuitOpen);
      const other = first.filter((r) => !r.circuitOpen && r.status !== 503);
      assert.deepEqual(other.slice(0, 5), [], "every call resolved with the 503 or was refused by the breaker");
      for (const r of refused) assert.equal(byCall.has(String(r.c)), false, `refused call ${r.c} sent nothing`);
      let s = rep.stats;
      t.diagnostic(`first wave: attempts ${s.attempts}, retries ${s.retries}, refused ${refused.length}, resolved 503 ${N - refused.length}`);
      assert.equal(s.calls, N);
      assert.equal(s.breakerRejections, refused.length);
      assert.equal(s.attempts, N - refused.length + s.retries);
      assert.equal(s.successes, 0);
      assert.equal(s.failures, N);
      // Only the first MIN - 1 failures came before the breaker opened: no more retries can
      // have been let through, whatever the interleaving.
      assert.ok(s.retries <= MIN - 1, `${s.retries} retries got through`);
      assert.equal(rep.breaker.state, "open");

      const seen = srv.requests(p).length;
      const second = await wave(rt, spec, 100, N, runtime === "workerd" ? 4 : 1);
      assert.equal(second.filter((r) => r.circuitOpen).length, 100, "the next wave is refused whole");
      assert.ok(second.every((r) => r.error === "CircuitOpenError"));
      rep = await rt.report(name, srv.origin);
      s = rep.stats;
      assert.equal(srv.requests(p).length, seen, "the refused wave sent nothing");
      assert.equal(s.calls, N + 100);
      assert.equal(s.breakerRejections, refused.length + 100);
      assert.equal(s.attempts, seen);
      assert.equal(rep.fetches, seen);
    });

    test("half-open under 200 concurrent calls: exactly one probe reaches the server", T, async () => {
      const p = `/conc-${runtime}-half-open`;
      const name = `${runtime}-half-open`;
      // Ten failures open it; then the probe's answer takes 300 ms, while 199 more calls arrive.
      srv.script(p, [...Array.from({ length: 10 }, () => ({ status: 503 })), { status: 200, delayMs: 300, body: "probe" }]);
      const defaults = { maxAttempts: 1, budget: false, breaker: { minimumRequests: 10, failureRatio: 0.5, openMs: 300, halfOpenProbes: 1 } };
      const spec = { name, defaults, base: srv.origin, path: p };
      const opening = await wave(rt, spec, 10, 0, 1);
      assert.ok(opening.every((r) => r.status === 503));
      let rep = await rt.report(name, srv.origin);
      assert.equal(rep.breaker.state, "open");
      let halfOpen = false;
      for (let i = 0; i < 100 && !halfOpen; i++) {
        await sleep(20);
        halfOpen = (await rt.report(name, srv.origin)).breaker.state === "half-open";
      }
      assert.ok(halfOpen, "half-open after openMs");

      const probeWave = await wave(rt, spec, 200, 10, runtime === "workerd" ? 4 : 1);
      const ok = probeWave.filter((r) => r.status === 200);
      const refused = probeWave.filter((r) => r.circuitOpen);
      assert.equal(ok.length, 1, "one probe went through");
      assert.equal(refused.length, 199, "every other call was refused while it was in flight");
      assert.equal(srv.requests(p).length, 11, "the server saw the ten failures and one probe");
      rep = await rt.report(name, srv.origin);
      assert.equal(rep.breaker.state, "closed", "the probe's success closed it");
      assert.equal(rep.stats.calls, 210);
      assert.equal(rep.stats.attempts, 11);
      assert.equal(rep.fetches, 11);
      assert.equal(rep.stats.breakerRejections, 199);
      assert.equal(rep.stats.successes, 1);
      assert.equal(rep.stats.failures, 209);
    });
  });
}
