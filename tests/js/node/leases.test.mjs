// Leases (driver.js's `run`): after a plain call's first attempt, the core may let calls like
// it (same key, same options) go out without asking it, while no failure is reported. What a
// user sees must not change: the same stats and breaker counts, a breaker that still opens
// and fails fast, retries under the call's own options, and a call sent before the breaker
// opened still taken as admitted. Against real servers on 127.0.0.1.
import assert from "node:assert/strict";
import { createRetryFetch, CircuitOpenError } from "../../../pkg/node.js";
import { test, describe, after, uniquePath, sleep, useFaultServer, startFaultServer, FAST } from "./_helpers.mjs";

const srv = useFaultServer();
const second = await startFaultServer(); // another origin
after(() => second.close());
const INSTANCE = Symbol.for("edge-retry.instance");

// Counts the core's `start` calls: a call sent under a lease makes none.
function countStarts(retryFetch) {
  const instance = retryFetch[INSTANCE];
  const start = instance.start;
  const counter = { starts: 0 };
  instance.start = function (...args) {
    counter.starts++;
    return start.apply(this, args);
  };
  return counter;
}

// Fails the test rather than hanging it when a call that should be cut is not.
function within(promise, ms) {
  let timer;
  const late = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

async function read(promise) {
  const res = await promise;
  await res.arrayBuffer();
  return res;
}

describe("leases", () => {
  test("calls after a 2xx skip the core's start, and count as the same calls made one by one", async () => {
    const path = uniquePath("lease");
    const leased = createRetryFetch({ budget: false });
    const timed = createRetryFetch({ budget: false, attemptTimeoutMs: 60000 });
    // onAttempt: every call asks the core (no lease), otherwise the same policy.
    const asked = createRetryFetch({ budget: false, onAttempt() {} });
    const leasedStarts = countStarts(leased);
    const timedStarts = countStarts(timed);
    const askedStarts = countStarts(asked);
    for (let i = 0; i < 20; i++) {
      assert.equal((await read(leased(srv.url(path)))).status, 200);
      assert.equal((await read(timed(srv.url(path)))).status, 200);
      assert.equal((await read(asked(srv.url(path)))).status, 200);
    }
    assert.equal(leasedStarts.starts, 1, "only the first call starts in the core");
    assert.equal(timedStarts.starts, 1, "a timeout is leased too");
    assert.equal(askedStarts.starts, 20, "a call with onAttempt is never leased");
    const counts = (rf) => {
      const { calls, attempts, retries, successes, failures, breakerRejections, budgetDenials } = rf.stats();
      return { calls, attempts, retries, successes, failures, breakerRejections, budgetDenials };
    };
    assert.deepEqual(counts(leased), counts(asked));
    assert.deepEqual(counts(timed), counts(asked));
    assert.equal(counts(leased).successes, 20);
    assert.deepEqual(leased.breaker(srv.origin), asked.breaker(srv.origin));
    assert.deepEqual(timed.breaker(srv.origin), asked.breaker(srv.origin));
    assert.ok(leased.stats().latencyMs.p99 > 0, "latency recorded");
  });

  test("a failure ends the lease: the breaker opens and fails fast as without one", async () => {
    const path = uniquePath("lease-open");
    const rf = createRetryFetch({ maxAttempts: 1, budget: false, breaker: { minimumRequests: 4, failureRatio: 0.5, openMs: 10000 } });
    for (let i = 0; i < 3; i++) assert.equal((await read(rf(srv.url(path)))).status, 200);
    srv.script(path, [{ status: 503 }]);
    for (let i = 0; i < 3; i++) assert.equal((await read(rf(srv.url(path)))).status, 503);
    assert.equal(rf.breaker(srv.origin).state, "open");
    const sent = srv.requests(path).length;
    await assert.rejects(rf(srv.url(path)), CircuitOpenError);
    assert.equal(srv.requests(path).length, sent, "no request while open");
  });

  test("a call sent under a lease and answered 503 is retried under its own options", async () => {
    const path = uniquePath("lease-retry");
    const rf = createRetryFetch({ ...FAST, maxAttempts: 3 });
    assert.equal((await read(rf(srv.url(path)))).status, 200);
    srv.script(path, [{ status: 503 }, { status: 503 }, { status: 200 }]);
    assert.equal((await read(rf(srv.url(path)))).status, 200);
    assert.equal(srv.requests(path).length, 4);
    assert.equal(rf.stats().retries, 2);
  });

  test("a call sent under a lease before the breaker opened is taken as admitted", async () => {
    const slow = uniquePath("lease-slow");
    const failing = uniquePath("lease-failing");
    const rf = createRetryFetch({ maxAttempts: 1, budget: false, breaker: { minimumRequests: 4, failureRatio: 0.5, openMs: 10000 } });
    assert.equal((await read(rf(srv.url(slow)))).status, 200);
    srv.script(slow, [{ status: 503, delayMs: 300 }]);
    srv.script(failing, [{ status: 503 }]);
    const out = rf(srv.url(slow)); // under the lease
    await sleep(20);
    for (let i = 0; i < 3; i++) assert.equal((await read(rf(srv.url(failing)))).status, 503);
    assert.equal(rf.breaker(srv.origin).state, "open");
    // Sent while the breaker was closed: its 503 is its answer, not a CircuitOpenError.
    assert.equal((await read(out)).status, 503);
  });

  test("options that take a place while a call sent under its lease is out do not change that call's options", async () => {
    const slow = uniquePath("lease-place");
    const other = uniquePath("lease-other");
    const retry = () => ({ ...FAST, maxAttempts: 3 });
    const rf = createRetryFetch();
    assert.equal((await read(rf(srv.url(slow), { retry: retry() }))).status, 200);
    srv.script(slow, [{ status: 503, delayMs: 300 }, { status: 503 }, { status: 200 }]);
    const out = rf(srv.url(slow), { retry: retry() }); // under the lease, at the first place
    await sleep(20);
    // Nine more sets of options, each new: more than the places kept.
    for (let i = 0; i < 9; i++) {
      assert.equal((await read(rf(srv.url(other), { retry: { ...FAST, maxAttempts: 1, baseDelayMs: 2 + i } }))).status, 200);
    }
    assert.equal((await read(out)).status, 200, "retried twice, as maxAttempts: 3 allows");
    assert.equal(srv.requests(slow).length, 4);
  });

  for (const [what, options] of [["", {}], [" timed", { attemptTimeoutMs: 5000 }]]) {
    test(`a call sent under a${what} lease with the caller's signal rejects as soon as it aborts, even with a fetch that ignores the signal; the late response is released`, async () => {
      let calls = 0;
      let cancelled = false;
      // Answers the first call at once, the next after 300 ms whatever its signal says.
      const fetch = () => {
        if (++calls === 1) return Promise.resolve(new Response("first"));
        const body = new ReadableStream({ cancel: () => void (cancelled = true) });
        return new Promise((resolve) => setTimeout(() => resolve(new Response(body)), 300));
      };
      const rf = createRetryFetch({ fetch, budget: false, ...options });
      const starts = countStarts(rf);
      const signal = new AbortController().signal; // a server's long-lived signal
      assert.equal((await read(rf("http://127.0.0.1:9/a", { signal }))).status, 200);
      const controller = new AbortController();
      const out = rf("http://127.0.0.1:9/a", { signal: controller.signal });
      assert.equal(starts.starts, 1, "sent under the lease");
      const t0 = performance.now();
      setTimeout(() => controller.abort(new Error("stop")), 20);
      await assert.rejects(out, /stop/);
      assert.ok(performance.now() - t0 < 250, "rejected at the abort, not when fetch answered (nor at a timeout)");
      const { calls: n, successes, failures } = rf.stats();
      assert.deepEqual({ n, successes, failures }, { n: 2, successes: 1, failures: 1 });
      for (let i = 0; i < 50 && !cancelled; i++) await sleep(10);
      assert.ok(cancelled, "the response that came after the abort had its body cancelled");
    });
  }

  test("a call sent under a timed lease is cut after its attempt timeout and retried; the timeout ends the lease", async () => {
    const path = uniquePath("lease-timed");
    const rf = createRetryFetch({ ...FAST, attemptTimeoutMs: 150, maxAttempts: 2 });
    const starts = countStarts(rf);
    assert.equal((await read(rf(srv.url(path)))).status, 200);
    srv.script(path, [{ hang: true }, { status: 200, body: "second" }]);
    const t0 = performance.now();
    const res = await read(within(rf(srv.url(path)), 3000)); // under the lease
    const took = performance.now() - t0;
    assert.equal(res.status, 200);
    assert.ok(took >= 140 && took < 1500, `cut after about 150 ms (took ${took.toFixed(0)})`);
    assert.equal(srv.requests(path).length, 3);
    const { calls, attempts, retries, successes, failures } = rf.stats();
    assert.deepEqual({ calls, attempts, retries, successes, failures }, { calls: 2, attempts: 3, retries: 1, successes: 2, failures: 0 });
    assert.equal(starts.starts, 2, "the timed-out call went on in the core, admitted");
    assert.equal((await read(rf(srv.url(path)))).status, 200);
    assert.equal(starts.starts, 3, "the timeout ended the lease: the next call asks again");
    assert.equal((await read(rf(srv.url(path)))).status, 200);
    assert.equal(starts.starts, 3, "and is granted it again");
  });

  test("a call sent under a lease with a deadline rejects with a TimeoutError at the deadline", async () => {
    const path = uniquePath("lease-deadline");
    const rf = createRetryFetch({ ...FAST, timeoutMs: 150, maxAttempts: 3 });
    const starts = countStarts(rf);
    assert.equal((await read(rf(srv.url(path)))).status, 200);
    srv.script(path, [{ hang: true }]);
    const t0 = performance.now();
    await assert.rejects(within(rf(srv.url(path)), 3000), (e) => e.name === "TimeoutError");
    const took = performance.now() - t0;
    assert.ok(took >= 140 && took < 1500, `at the deadline (took ${took.toFixed(0)})`);
    assert.equal(starts.starts, 2);
    assert.equal(srv.requests(path).length, 2, "no retry after the deadline");
    const { calls, successes, failures } = rf.stats();
    assert.deepEqual({ calls, successes, failures }, { calls: 2, successes: 1, failures: 1 });
  });

  test("2xx recorded later, in a burst, still count before the failures that follow them: the breaker stays closed", async () => {
    const path = uniquePath("lease-burst");
    const rf = createRetryFetch({ maxAttempts: 1, budget: false, breaker: { minimumRequests: 10, failureRatio: 0.5, openMs: 10000 } });
    for (let i = 0; i < 20; i++) assert.equal((await read(rf(srv.url(path)))).status, 200);
    srv.script(path, Array.from({ length: 10 }, () => ({ status: 503 })));
    for (let i = 0; i < 10; i++) assert.equal((await read(rf(srv.url(path)))).status, 503);
    const breaker = rf.breaker(srv.origin);
    assert.deepEqual([breaker.state, breaker.successes, breaker.failures], ["closed", 20, 10], "10 failures of 30");
  });

  test("2xx recorded later go to their own key, and the core is given back the key it was given", async () => {
    const path = uniquePath("lease-rekey");
    const rf = createRetryFetch({ budget: false });
    assert.equal((await read(rf(srv.url(path)))).status, 200); // a lease on srv's origin
    srv.script(path, Array.from({ length: 5 }, () => ({ status: 200, delayMs: 150 })));
    const out = Array.from({ length: 5 }, () => rf(srv.url(path))); // five out under it
    await sleep(20);
    assert.equal((await read(rf(second.url(path)))).status, 200); // the core's key: second's origin
    for (const res of await Promise.all(out)) await res.arrayBuffer(); // their 2xx wait in the queue
    // Options of its own: not under the lease. Its slot opens (the queue is recorded first,
    // for srv's origin), then it starts for second's origin.
    assert.equal((await read(rf(second.url(path), { retry: { maxAttempts: 2 } }))).status, 200);
    assert.equal(rf.breaker(srv.origin).successes, 6);
    assert.equal(rf.breaker(second.origin).successes, 2);
  });

  test("every method of the core is wrapped to record waiting 2xx first, and fits the wrapper (no accessor, at most nine arguments)", () => {
    const instance = createRetryFetch()[INSTANCE];
    const prototype = Object.getPrototypeOf(instance);
    const names = Object.getOwnPropertyNames(prototype).filter((n) => n !== "constructor");
    assert.ok(names.includes("response") && names.includes("start") && names.includes("get"));
    for (const name of names) {
      const { value, get, set } = Object.getOwnPropertyDescriptor(prototype, name);
      assert.equal(get ?? set, undefined, `${name} is an accessor`);
      assert.ok(value.length <= 9, `${name} takes ${value.length} arguments`);
      assert.ok(Object.hasOwn(instance, name) && instance[name] !== value, `${name} is wrapped`);
    }
  });

  test("options that retry a 2xx get no lease: each such response is retried as the options say", async () => {
    const path = uniquePath("lease-2xx");
    const rf = createRetryFetch({ ...FAST, retryOn: [200, 503], maxAttempts: 2 });
    const starts = countStarts(rf);
    for (let i = 0; i < 3; i++) assert.equal((await read(rf(srv.url(path)))).status, 200);
    assert.equal(starts.starts, 3);
    assert.equal(srv.requests(path).length, 6, "each 200 retried once");
  });

  test("a call sent under a lease is recorded for its own key when another key was used meanwhile", async () => {
    const path = uniquePath("lease-keys");
    const rf = createRetryFetch({ budget: false });
    assert.equal((await read(rf(srv.url(path)))).status, 200);
    srv.script(path, [{ status: 200, delayMs: 200 }]);
    const out = rf(srv.url(path)); // under the lease of srv's origin
    await sleep(20);
    assert.equal((await read(rf(second.url(path)))).status, 200);
    assert.equal((await read(out)).status, 200);
    assert.equal(rf.breaker(srv.origin).successes, 2);
    assert.equal(rf.breaker(second.origin).successes, 1);
  });
});
