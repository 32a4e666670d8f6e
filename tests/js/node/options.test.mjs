// SPEC §2: every option, its default, the backoff formulas, overrides and validation.
import assert from "node:assert/strict";
import { retryFetch, createRetryFetch } from "../../../pkg/node.js";
import {
  test,
  before,
  after,
  describe,
  uniquePath,
  FAST,
  near,
  between,
  timed,
  assertNoMoreRequests,
  sleep,
  useFaultServer,
} from "./_helpers.mjs";

const srv = useFaultServer();

// Runs one call against an always-503 path; returns the onRetry delays and the server's requests.
async function delaysFor(options, { status = 503, init = {}, rf } = {}) {
  const path = uniquePath("delays");
  srv.script(path, [{ status }]);
  const delays = [];
  const inst = rf || createRetryFetch({ breaker: false, budget: false });
  const res = await inst(srv.url(path), {
    ...init,
    retry: { ...options, onRetry: (ev) => delays.push(ev.delayMs) },
  });
  await res.arrayBuffer();
  return { delays, reqs: srv.requests(path), res };
}

function assertDelays(actual, expected, tolerance = 1) {
  assert.equal(actual.length, expected.length, `delays ${JSON.stringify(actual)} vs ${JSON.stringify(expected)}`);
  actual.forEach((d, i) => near(d, expected[i], tolerance, `delay #${i + 1} (${JSON.stringify(actual)})`));
}

// The server saw the waits: gap between arrivals >= the announced delay (timers never fire early).
function assertGaps(reqs, delays) {
  for (let i = 1; i < reqs.length; i++) {
    const gap = reqs[i].t - reqs[i - 1].t;
    assert.ok(gap >= delays[i - 1] - 3, `gap ${gap.toFixed(1)} ms before attempt ${i + 1} < delay ${delays[i - 1]}`);
  }
}

describe("§2 defaults", () => {
  test("maxAttempts 3, baseDelayMs 100, multiplier 2, jitter full (random 0.5 -> 50, 100)", async () => {
    const path = uniquePath("defaults");
    srv.script(path, [{ status: 503 }]);
    const delays = [];
    const rf = createRetryFetch({ random: () => 0.5, onRetry: (ev) => delays.push(ev.delayMs) });
    const { ms, value } = await timed(rf(srv.url(path)));
    assert.equal(value.status, 503);
    const reqs = srv.requests(path);
    assert.equal(reqs.length, 3, "default maxAttempts is 3");
    assertDelays(delays, [50, 100]);
    assertGaps(reqs, delays);
    assert.ok(ms < 2000, `took ${ms}`);
  });

  test("jitter defaults to full: random 0 -> no wait at all", async () => {
    const { delays } = await delaysFor({ baseDelayMs: 100, random: () => 0 });
    assertDelays(delays, [0, 0], 0);
  });

  test("default maxDelayMs is 20000 (a 25000 base is capped)", async () => {
    const path = uniquePath("maxdelay-default");
    srv.script(path, [{ status: 503 }]);
    const seen = [];
    const rf = createRetryFetch({ breaker: false, budget: false });
    const res = await rf(srv.url(path), {
      retry: {
        baseDelayMs: 25000,
        jitter: "none",
        shouldRetry: (ctx) => {
          seen.push(ctx.delayMs);
          return false;
        },
      },
    });
    assert.equal(res.status, 503);
    assert.deepEqual(seen, [20000]);
  });

  test("default retryOn: 408, 429, 500, 502, 503, 504 are retried", async () => {
    for (const status of [408, 429, 500, 502, 503, 504]) {
      const { reqs, res } = await delaysFor({ ...FAST, maxAttempts: 2 }, { status });
      assert.equal(res.status, status);
      assert.equal(reqs.length, 2, `status ${status} is retried`);
    }
  });

  test("default retryOn: 200, 301, 400, 404, 409, 501, 505 are not retried", async () => {
    for (const status of [200, 301, 400, 404, 409, 501, 505]) {
      const path = uniquePath("noretry");
      srv.script(path, [{ status, headers: status === 301 ? { location: "/elsewhere" } : {} }, { status: 200 }]);
      const rf = createRetryFetch({ ...FAST });
      const res = await rf(srv.url(path), { redirect: "manual" });
      assert.equal(res.status, status);
      assert.equal(srv.requests(path).length, 1, `status ${status} is not retried`);
    }
  });

  test("default methods: GET HEAD OPTIONS PUT DELETE TRACE are retried", async () => {
    for (const method of ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]) {
      const { reqs } = await delaysFor({ ...FAST, maxAttempts: 2 }, { init: { method } });
      assert.equal(reqs.length, 2, `${method} is retried`);
      assert.ok(reqs.every((r) => r.method === method));
    }
  });

  test("TRACE is in the default methods (fetch itself refuses TRACE: a custom fetch stands in)", async () => {
    let calls = 0;
    const rf = createRetryFetch({
      ...FAST,
      fetch: async (input, init) => {
        calls++;
        assert.equal(init.method, "TRACE");
        return new Response("busy", { status: 503 });
      },
    });
    const res = await rf("http://127.0.0.1:1/trace", { method: "TRACE" });
    assert.equal(res.status, 503);
    assert.equal(calls, 3);
  });
});

describe("§2 maxAttempts, baseDelayMs, multiplier, maxDelayMs", () => {
  test("maxAttempts 1 sends one attempt; 5 sends five", async () => {
    assert.equal((await delaysFor({ ...FAST, maxAttempts: 1 })).reqs.length, 1);
    assert.equal((await delaysFor({ ...FAST, maxAttempts: 5 })).reqs.length, 5);
  });

  test("baseDelayMs and multiplier: base 10, x3 -> 10, 30, 90 (jitter none), and the server saw the waits", async () => {
    const { delays, reqs } = await delaysFor({ maxAttempts: 4, baseDelayMs: 10, multiplier: 3, jitter: "none" });
    assertDelays(delays, [10, 30, 90], 0);
    assertGaps(reqs, delays);
  });

  test("multiplier 1 keeps the step constant", async () => {
    const { delays } = await delaysFor({ maxAttempts: 4, baseDelayMs: 7, multiplier: 1, jitter: "none" });
    assertDelays(delays, [7, 7, 7], 0);
  });

  test("maxDelayMs caps each step: base 10, x10, max 50 -> 10, 50, 50", async () => {
    const { delays } = await delaysFor({ maxAttempts: 4, baseDelayMs: 10, multiplier: 10, maxDelayMs: 50, jitter: "none" });
    assertDelays(delays, [10, 50, 50], 0);
  });

  test("baseDelayMs 0 retries with no wait", async () => {
    const { delays, reqs } = await delaysFor({ maxAttempts: 3, baseDelayMs: 0, jitter: "none" });
    assertDelays(delays, [0, 0], 0);
    assert.equal(reqs.length, 3);
  });
});

describe("§2 jitter", () => {
  test('"none" waits the step', async () => {
    const { delays } = await delaysFor({ maxAttempts: 4, baseDelayMs: 20, jitter: "none", random: () => 0.9 });
    assertDelays(delays, [20, 40, 80], 0);
  });

  test('"full" is uniform in [0, step]: random 0 -> 0, 0.5 -> step/2, ~1 -> step', async () => {
    assertDelays((await delaysFor({ maxAttempts: 3, baseDelayMs: 20, jitter: "full", random: () => 0 })).delays, [0, 0]);
    assertDelays((await delaysFor({ maxAttempts: 3, baseDelayMs: 20, jitter: "full", random: () => 0.5 })).delays, [10, 20]);
    assertDelays((await delaysFor({ maxAttempts: 3, baseDelayMs: 20, jitter: "full", random: () => 0.999999 })).delays, [20, 40]);
  });

  test('"equal" is step/2 + uniform in [0, step/2]', async () => {
    assertDelays((await delaysFor({ maxAttempts: 3, baseDelayMs: 40, jitter: "equal", random: () => 0 })).delays, [20, 40]);
    assertDelays((await delaysFor({ maxAttempts: 3, baseDelayMs: 40, jitter: "equal", random: () => 0.5 })).delays, [30, 60]);
    assertDelays((await delaysFor({ maxAttempts: 3, baseDelayMs: 40, jitter: "equal", random: () => 0.999999 })).delays, [40, 80]);
  });

  test('"decorrelated" is min(max, uniform in [base, prev*3]) from prev = base', async () => {
    // random 0: always base
    assertDelays((await delaysFor({ maxAttempts: 4, baseDelayMs: 10, jitter: "decorrelated", random: () => 0 })).delays, [10, 10, 10]);
    // random 0.5: [10,30] -> 20; [10,60] -> 35; [10,105] -> 57.5
    assertDelays((await delaysFor({ maxAttempts: 4, baseDelayMs: 10, jitter: "decorrelated", random: () => 0.5 })).delays, [20, 35, 57.5], 1);
    // capped by maxDelayMs
    assertDelays(
      (await delaysFor({ maxAttempts: 4, baseDelayMs: 10, maxDelayMs: 25, jitter: "decorrelated", random: () => 0.5 })).delays,
      [20, 25, 25],
      1,
    );
  });

  test("{ ratio } is uniform in [step(1-r), step(1+r)], then capped", async () => {
    assertDelays((await delaysFor({ maxAttempts: 3, baseDelayMs: 40, jitter: { ratio: 0.5 }, random: () => 0 })).delays, [20, 40]);
    assertDelays((await delaysFor({ maxAttempts: 3, baseDelayMs: 40, jitter: { ratio: 0.5 }, random: () => 0.5 })).delays, [40, 80]);
    assertDelays((await delaysFor({ maxAttempts: 3, baseDelayMs: 40, jitter: { ratio: 0.5 }, random: () => 0.999999 })).delays, [60, 120]);
    assertDelays((await delaysFor({ maxAttempts: 3, baseDelayMs: 40, jitter: { ratio: 1 }, random: () => 0 })).delays, [0, 0]);
    // capped: step 40 -> 60, but maxDelayMs 50
    assertDelays(
      (await delaysFor({ maxAttempts: 2, baseDelayMs: 40, maxDelayMs: 50, jitter: { ratio: 0.5 }, random: () => 0.999999 })).delays,
      [50],
    );
  });

  test("random is the source of jitter (it is called) and jittered waits stay within [0, step]", async () => {
    let n = 0;
    const values = [0.1, 0.9, 0.3, 0.7];
    const { delays } = await delaysFor({ maxAttempts: 5, baseDelayMs: 10, jitter: "full", random: () => values[n++ % 4] });
    assert.ok(n >= 1, "random was called");
    [10, 20, 40, 80].forEach((step, i) => between(delays[i], 0, step, `delay ${i + 1}`));
  });

  test("the secure default source gives jitter within bounds", async () => {
    const { delays } = await delaysFor({ maxAttempts: 4, baseDelayMs: 10, jitter: "full" });
    [10, 20, 40].forEach((step, i) => between(delays[i], 0, step, `delay ${i + 1}`));
  });
});

describe("§2 retryOn and methods", () => {
  test("a custom retryOn replaces the default list", async () => {
    const a = await delaysFor({ ...FAST, maxAttempts: 2, retryOn: [418] }, { status: 418 });
    assert.equal(a.reqs.length, 2, "418 retried");
    const b = await delaysFor({ ...FAST, maxAttempts: 2, retryOn: [418] }, { status: 503 });
    assert.equal(b.reqs.length, 1, "503 no longer retried");
    assert.equal(b.res.status, 503);
  });

  test("retryOn [] retries only network errors", async () => {
    const a = await delaysFor({ ...FAST, maxAttempts: 3, retryOn: [] }, { status: 503 });
    assert.equal(a.reqs.length, 1);
    const path = uniquePath("retryon-empty-net");
    srv.script(path, [{ reset: true }, { status: 200 }]);
    const rf = createRetryFetch({ ...FAST, retryOn: [] });
    assert.equal((await rf(srv.url(path))).status, 200);
    assert.equal(srv.requests(path).length, 2);
  });

  test("a custom methods list: POST retried when listed, PUT not when absent", async () => {
    const a = await delaysFor({ ...FAST, maxAttempts: 2, methods: ["POST"] }, { init: { method: "POST", body: "x" } });
    assert.equal(a.reqs.length, 2);
    const b = await delaysFor({ ...FAST, maxAttempts: 2, methods: ["GET"] }, { init: { method: "PUT", body: "x" } });
    assert.equal(b.reqs.length, 1);
  });
});

describe("§2 timeoutMs (no wait is started that would end after it)", () => {
  test("a backoff wait that would pass the deadline settles at once with the last response", async () => {
    const path = uniquePath("deadline-wait");
    srv.script(path, [{ status: 503 }, { status: 200 }]);
    const rf = createRetryFetch({ ...FAST });
    const { ms, value } = await timed(rf(srv.url(path), { retry: { baseDelayMs: 1000, timeoutMs: 300 } }));
    assert.equal(value.status, 503);
    assert.ok(ms < 250, `settled at once (${ms.toFixed(0)} ms)`);
    await assertNoMoreRequests(srv, path, 1, 50);
  });

  test("waits that fit are made; the one that would not fit is not", async () => {
    const path = uniquePath("deadline-fit");
    srv.script(path, [{ status: 503 }]);
    const rf = createRetryFetch({ ...FAST });
    const delays = [];
    // none jitter: 40, 80, 160 ... ; deadline 200: 40 and 80 fit (ends ~120 + request time), 160 does not
    const { ms, value } = await timed(
      rf(srv.url(path), { retry: { baseDelayMs: 40, maxAttempts: 10, timeoutMs: 200, onRetry: (ev) => delays.push(ev.delayMs) } }),
    );
    assert.equal(value.status, 503);
    assert.deepEqual(delays, [40, 80]);
    assert.equal(srv.requests(path).length, 3);
    assert.ok(ms < 200, `never passes the deadline (${ms.toFixed(0)} ms)`);
  });
});

describe("§2 per-call options override defaults field by field", () => {
  test("a per-call maxAttempts keeps the defaults' baseDelayMs, jitter and onRetry", async () => {
    const path = uniquePath("override");
    srv.script(path, [{ status: 503 }]);
    const events = [];
    const rf = createRetryFetch({ maxAttempts: 4, baseDelayMs: 7, jitter: "none", breaker: false, budget: false, onRetry: (ev) => events.push(ev.delayMs) });
    const res = await rf(srv.url(path), { retry: { maxAttempts: 2 } });
    assert.equal(res.status, 503);
    assert.equal(srv.requests(path).length, 2);
    assert.deepEqual(events, [7]);
  });

  test("a per-call baseDelayMs keeps the defaults' maxAttempts and multiplier", async () => {
    const path = uniquePath("override2");
    srv.script(path, [{ status: 503 }]);
    const events = [];
    const rf = createRetryFetch({ maxAttempts: 4, baseDelayMs: 50, multiplier: 3, jitter: "none", breaker: false, budget: false, onRetry: (ev) => events.push(ev.delayMs) });
    await rf(srv.url(path), { retry: { baseDelayMs: 2 } });
    assert.equal(srv.requests(path).length, 4);
    assert.deepEqual(events, [2, 6, 18]);
  });

  test("a per-call hook replaces the default one; the defaults are untouched for the next call", async () => {
    const path = uniquePath("override3");
    srv.script(path, [{ status: 503 }]);
    const a = [];
    const b = [];
    const rf = createRetryFetch({ ...FAST, maxAttempts: 2, onRetry: () => a.push(1) });
    await rf(srv.url(path), { retry: { onRetry: () => b.push(1) } });
    assert.deepEqual([a.length, b.length], [0, 1]);
    await rf(srv.url(path));
    assert.deepEqual([a.length, b.length], [1, 1]);
  });

  test("retry: false on an instance with defaults sends one attempt", async () => {
    const path = uniquePath("override-false");
    srv.script(path, [{ status: 503 }]);
    const rf = createRetryFetch({ ...FAST, maxAttempts: 6 });
    assert.equal((await rf(srv.url(path), { retry: false })).status, 503);
    await assertNoMoreRequests(srv, path, 1, 50);
  });

  test("an option set to undefined counts as not set (per call: the default applies)", async () => {
    const path = uniquePath("undef");
    srv.script(path, [{ status: 503 }]);
    const rf = createRetryFetch({ ...FAST, maxAttempts: 4 });
    await rf(srv.url(path), { retry: { maxAttempts: undefined, baseDelayMs: undefined, jitter: undefined, shouldRetry: undefined } });
    assert.equal(srv.requests(path).length, 4);
  });

  test("an option set to undefined counts as not set (defaults: SPEC default applies)", async () => {
    const path = uniquePath("undef2");
    srv.script(path, [{ status: 503 }]);
    const rf = createRetryFetch({ maxAttempts: undefined, baseDelayMs: 1, jitter: "none", timeoutMs: undefined, onRetry: undefined, breaker: undefined, budget: undefined });
    await rf(srv.url(path));
    assert.equal(srv.requests(path).length, 3);
  });
});

describe("§2 invalid options", () => {
  // [options, the option name the message must contain]
  const INVALID = [
    [{ bogus: 1 }, "bogus"],
    [{ maxAttempts: 0 }, "maxAttempts"],
    [{ maxAttempts: 2.5 }, "maxAttempts"],
    [{ maxAttempts: -1 }, "maxAttempts"],
    [{ maxAttempts: NaN }, "maxAttempts"],
    [{ maxAttempts: Infinity }, "maxAttempts"],
    [{ maxAttempts: "3" }, "maxAttempts"],
    [{ baseDelayMs: -1 }, "baseDelayMs"],
    [{ baseDelayMs: NaN }, "baseDelayMs"],
    [{ baseDelayMs: Infinity }, "baseDelayMs"],
    [{ baseDelayMs: "100" }, "baseDelayMs"],
    [{ maxDelayMs: -5 }, "maxDelayMs"],
    [{ maxDelayMs: Infinity }, "maxDelayMs"],
    [{ multiplier: NaN }, "multiplier"],
    [{ multiplier: -2 }, "multiplier"],
    [{ multiplier: "2" }, "multiplier"],
    [{ jitter: "bogus" }, "jitter"],
    [{ jitter: 5 }, "jitter"],
    [{ jitter: { ratio: 0 } }, "jitter"],
    [{ jitter: { ratio: 1.5 } }, "jitter"],
    [{ jitter: { ratio: -0.5 } }, "jitter"],
    [{ jitter: { ratio: NaN } }, "jitter"],
    [{ jitter: { ratio: 0.5, bogus: 1 } }, /jitter|bogus/],
    [{ jitter: {} }, /jitter|ratio/],
    [{ retryOn: 503 }, "retryOn"],
    [{ retryOn: ["503"] }, "retryOn"],
    [{ methods: "GET" }, "methods"],
    [{ methods: [1] }, "methods"],
    [{ shouldRetry: true }, "shouldRetry"],
    [{ respectRetryAfter: "yes" }, "respectRetryAfter"],
    [{ maxRetryAfterMs: -1 }, "maxRetryAfterMs"],
    [{ maxRetryAfterMs: NaN }, "maxRetryAfterMs"],
    [{ retryAfterJitter: 1.5 }, "retryAfterJitter"],
    [{ retryAfterJitter: -0.1 }, "retryAfterJitter"],
    [{ retryAfterJitter: NaN }, "retryAfterJitter"],
    [{ maxReplayBytes: -1 }, "maxReplayBytes"],
    [{ maxReplayBytes: 1.5 }, "maxReplayBytes"],
    [{ maxReplayBytes: Infinity }, "maxReplayBytes"],
    [{ timeoutMs: -1 }, "timeoutMs"],
    [{ timeoutMs: NaN }, "timeoutMs"],
    [{ timeoutMs: Infinity }, "timeoutMs"],
    [{ timeoutMs: "1000" }, "timeoutMs"],
    [{ attemptTimeoutMs: -1 }, "attemptTimeoutMs"],
    [{ attemptTimeoutMs: NaN }, "attemptTimeoutMs"],
    [{ breaker: "on" }, "breaker"],
    [{ breaker: 1 }, "breaker"],
    [{ breaker: { bogus: 1 } }, "bogus"],
    [{ breaker: { failureRatio: NaN } }, "failureRatio"],
    [{ breaker: { failureRatio: -0.5 } }, "failureRatio"],
    [{ breaker: { failureRatio: 1.5 } }, "failureRatio"],
    [{ breaker: { minimumRequests: -1 } }, "minimumRequests"],
    [{ breaker: { windowMs: Infinity } }, "windowMs"],
    [{ breaker: { openMs: -1 } }, "openMs"],
    [{ breaker: { halfOpenProbes: NaN } }, "halfOpenProbes"],
    [{ breaker: { key: "origin" } }, "key"],
    [{ budget: "on" }, "budget"],
    [{ budget: { bogus: 1 } }, "bogus"],
    [{ budget: { capacity: -1 } }, "capacity"],
    [{ budget: { retryCost: NaN } }, "retryCost"],
    [{ budget: { timeoutCost: Infinity } }, "timeoutCost"],
    [{ budget: { successRefund: -1 } }, "successRefund"],
    [{ onRetry: "log" }, "onRetry"],
    [{ random: 0.5 }, "random"],
  ];

  test("each invalid per-call option rejects with a TypeError naming it, and no request is sent", async () => {
    const path = uniquePath("invalid");
    const rf = createRetryFetch();
    for (const [opts, name] of INVALID) {
      let promise;
      assert.doesNotThrow(() => {
        promise = rf(srv.url(path), { retry: opts });
      }, `calling with ${JSON.stringify(opts)} must not throw synchronously`);
      await assert.rejects(
        promise,
        (e) => e instanceof TypeError && (name instanceof RegExp ? name.test(e.message) : String(e.message).includes(name)),
        `${JSON.stringify(opts)} (${String(opts[Object.keys(opts)[0]])}) rejects with a TypeError naming "${name}"`,
      );
    }
    // the same through the default instance
    for (const [opts, name] of INVALID.slice(0, 8)) {
      await assert.rejects(retryFetch(srv.url(path), { retry: opts }), (e) => e instanceof TypeError && e.message.includes(String(name)));
    }
    await sleep(50);
    assert.equal(srv.requests(path).length, 0, "no request was sent for any invalid call");
  });

  test("createRetryFetch throws a TypeError naming the option synchronously on invalid defaults", () => {
    for (const [opts, name] of INVALID) {
      assert.throws(
        () => createRetryFetch(opts),
        (e) => e instanceof TypeError && (name instanceof RegExp ? name.test(e.message) : String(e.message).includes(name)),
        `createRetryFetch(${JSON.stringify(opts)}) throws a TypeError naming "${name}"`,
      );
    }
  });

  test("createRetryFetch's own fetch option must be a function", () => {
    assert.throws(() => createRetryFetch({ fetch: 5 }), (e) => e instanceof TypeError && e.message.includes("fetch"));
  });

  test("init.retry of a wrong type (a number, a string) is refused with a TypeError naming retry", async () => {
    const path = uniquePath("invalid-retry");
    const rf = createRetryFetch();
    for (const retry of [5, "no"]) {
      await assert.rejects(rf(srv.url(path), { retry }), (e) => e instanceof TypeError && /retry/.test(e.message), `retry: ${String(retry)}`);
    }
    await sleep(30);
    assert.equal(srv.requests(path).length, 0);
  });

  test("valid edge values are accepted: maxAttempts 1, ratio 1, retryAfterJitter 0 and 1, maxReplayBytes 0", async () => {
    const path = uniquePath("valid-edges");
    const rf = createRetryFetch({ breaker: false });
    for (const retry of [
      { maxAttempts: 1 },
      { jitter: { ratio: 1 } },
      { retryAfterJitter: 0 },
      { retryAfterJitter: 1 },
      { maxReplayBytes: 0 },
      { baseDelayMs: 0 },
      { breaker: false, budget: false },
      { retryOn: [] },
    ]) {
      const res = await rf(srv.url(path), { retry });
      assert.equal(res.status, 200, JSON.stringify(retry));
    }
  });
});
