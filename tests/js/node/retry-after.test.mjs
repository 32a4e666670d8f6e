// SPEC §4 (Retry-After and the RateLimit fallbacks), respectRetryAfter, maxRetryAfterMs and
// retryAfterJitter (§2). Most tests read the wait the call would make through shouldRetry's
// ctx.delayMs and then decline, so nothing waits; one test makes a real server-given wait.
import assert from "node:assert/strict";
import { createRetryFetch } from "../../../pkg/node.js";
import {
  test,
  before,
  after,
  describe,
  uniquePath,
  near,
  between,
  timed,
  assertNoMoreRequests,
  useFaultServer,
} from "./_helpers.mjs";

const srv = useFaultServer();

const BASE = { breaker: false, budget: false, baseDelayMs: 30, jitter: "none" };

// The wait the call would make after a 503 carrying `headers`; declines the retry.
async function waitFor(headers, options = {}, status = 503) {
  const path = uniquePath("ra");
  srv.script(path, [{ status, headers }, { status: 200 }]);
  const seen = [];
  const rf = createRetryFetch({ ...BASE, retryAfterJitter: 0 });
  const t = await timed(
    rf(srv.url(path), {
      retry: {
        ...options,
        shouldRetry: (ctx) => {
          seen.push(ctx.delayMs);
          return false;
        },
      },
    }),
  );
  assert.ok(t.ok, `call resolved (${t.error})`);
  assert.equal(t.value.status, status);
  return { delay: seen[0], asked: seen.length, reqs: srv.requests(path), ms: t.ms };
}

// HTTP-date formats of RFC 9110, for a time `ms` since the epoch.
const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const LONG_DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const p2 = (n) => String(n).padStart(2, "0");
const hms = (d) => `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}`;
const imfFixdate = (ms) => new Date(ms).toUTCString();
function rfc850(ms) {
  const d = new Date(ms);
  return `${LONG_DAYS[d.getUTCDay()]}, ${p2(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${p2(d.getUTCFullYear() % 100)} ${hms(d)} GMT`;
}
function asctime(ms) {
  const d = new Date(ms);
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, " ")} ${hms(d)} ${d.getUTCFullYear()}`;
}

test("the date helpers produce RFC 9110's examples", () => {
  const t = Date.UTC(1994, 10, 6, 8, 49, 37);
  assert.equal(imfFixdate(t), "Sun, 06 Nov 1994 08:49:37 GMT");
  assert.equal(rfc850(t), "Sunday, 06-Nov-94 08:49:37 GMT");
  assert.equal(asctime(t), "Sun Nov  6 08:49:37 1994");
});

describe("§4 Retry-After forms", () => {
  test("delta-seconds: '2' -> 2000 ms", async () => {
    const r = await waitFor({ "retry-after": "2" });
    assert.equal(r.delay, 2000);
    assert.equal(r.reqs.length, 1);
  });

  test("delta-seconds '0' -> 0 ms", async () => {
    assert.equal((await waitFor({ "retry-after": "0" })).delay, 0);
  });

  for (const [name, fmt] of [
    ["IMF-fixdate", imfFixdate],
    ["RFC 850", rfc850],
    ["asctime", asctime],
  ]) {
    test(`HTTP-date as ${name}, 3 s ahead -> about 2000..3000 ms`, async () => {
      const r = await waitFor({ "retry-after": () => fmt(Date.now() + 3000) });
      assert.equal(typeof r.delay, "number", `a wait was computed (${r.delay})`);
      between(r.delay, 1900, 3100, `${name} wait`);
    });

    test(`HTTP-date as ${name} in the past -> 0 ms, and the retry happens`, async () => {
      const path = uniquePath("past");
      srv.script(path, [{ status: 503, headers: { "retry-after": () => fmt(Date.now() - 60000) } }, { status: 200 }]);
      const delays = [];
      const rf = createRetryFetch({ ...BASE, retryAfterJitter: 0 });
      const res = await rf(srv.url(path), { retry: { onRetry: (ev) => delays.push(ev.delayMs) } });
      assert.equal(res.status, 200);
      assert.deepEqual(delays, [0]);
      assert.equal(srv.requests(path).length, 2);
    });
  }

  for (const bad of ["soon", "-5", "12abc", "Fri, 32 Foo 2024 99:99:99 GMT", "   ", "1e3"]) {
    test(`malformed Retry-After ${JSON.stringify(bad)} is ignored: backoff applies`, async () => {
      const r = await waitFor({ "retry-after": bad });
      assert.equal(r.delay, 30, `backoff step (baseDelayMs 30, jitter none), got ${r.delay}`);
    });
  }

  test("a real server-given wait: Retry-After 1 with the default retryAfterJitter 0.1 (random 0.5) waits 1050 ms", async () => {
    const path = uniquePath("ra-real");
    srv.script(path, [{ status: 503, retryAfter: 1 }, { status: 200 }]);
    const delays = [];
    const rf = createRetryFetch({ breaker: false, budget: false, random: () => 0.5 });
    const res = await rf(srv.url(path), { retry: { onRetry: (ev) => delays.push(ev.delayMs) } });
    assert.equal(res.status, 200);
    assertNear1(delays, 1050);
    const reqs = srv.requests(path);
    assert.equal(reqs.length, 2);
    const gap = reqs[1].t - reqs[0].t;
    assert.ok(gap >= 1045, `the server saw a ${gap.toFixed(0)} ms gap`);
    assert.ok(gap < 2500, `and not much more (${gap.toFixed(0)} ms)`);
    assert.equal(rf.stats().retryAfterWaits, 1);
  });

  test("Retry-After on a 429 is honoured", async () => {
    const r = await waitFor({ "retry-after": "3" }, {}, 429);
    assert.equal(r.delay, 3000);
  });

  test("Retry-After on a response that is not retried changes nothing (501, 200)", async () => {
    for (const status of [501, 200]) {
      const r = await waitFor({ "retry-after": "0" }, {}, status);
      assert.equal(r.asked, 0, `no retry for ${status}`);
      assert.equal(r.reqs.length, 1);
    }
  });
});

function assertNear1(delays, expected) {
  assert.equal(delays.length, 1, JSON.stringify(delays));
  near(delays[0], expected, 1, "delay");
}

describe("§4 fallbacks when Retry-After is absent", () => {
  test("RateLimit-Reset (seconds)", async () => {
    assert.equal((await waitFor({ "ratelimit-reset": "2" })).delay, 2000);
  });

  test("the t= parameter of RateLimit", async () => {
    assert.equal((await waitFor({ ratelimit: '"default";r=0;t=4' })).delay, 4000);
  });

  test("X-RateLimit-Reset as delta seconds", async () => {
    assert.equal((await waitFor({ "x-ratelimit-reset": "3" })).delay, 3000);
  });

  test("X-RateLimit-Reset as epoch seconds (larger than now)", async () => {
    const r = await waitFor({ "x-ratelimit-reset": () => String(Math.floor(Date.now() / 1000) + 3) });
    between(r.delay, 1900, 3100, "epoch wait");
  });

  test("Retry-After wins over the RateLimit headers", async () => {
    const r = await waitFor({ "retry-after": "1", "ratelimit-reset": "5", ratelimit: '"d";r=0;t=6', "x-ratelimit-reset": "7" });
    assert.equal(r.delay, 1000);
  });

  test("the fallbacks also count as server-given waits in stats.retryAfterWaits", async () => {
    const path = uniquePath("rl-stat");
    srv.script(path, [{ status: 503, headers: { "ratelimit-reset": "0" } }, { status: 503 }, { status: 200 }]);
    const rf = createRetryFetch({ ...BASE, baseDelayMs: 1 });
    const res = await rf(srv.url(path));
    assert.equal(res.status, 200);
    const s = rf.stats();
    assert.equal(s.retries, 2);
    assert.equal(s.retryAfterWaits, 1, "one header wait, one backoff wait");
  });
});

describe("§2/§4 respectRetryAfter, maxRetryAfterMs, retryAfterJitter, deadline", () => {
  test("respectRetryAfter: false -> the backoff applies, not the header", async () => {
    const path = uniquePath("norespect");
    srv.script(path, [{ status: 503, retryAfter: 5 }, { status: 200 }]);
    const delays = [];
    const rf = createRetryFetch({ ...BASE, baseDelayMs: 10 });
    const { ms, value } = await timed(rf(srv.url(path), { retry: { respectRetryAfter: false, onRetry: (ev) => delays.push(ev.delayMs) } }));
    assert.equal(value.status, 200);
    assert.deepEqual(delays, [10]);
    assert.ok(ms < 1000, `${ms}`);
    assert.equal(rf.stats().retryAfterWaits, 0);
  });

  test("maxRetryAfterMs: a longer ask is not retried and the response returns at once", async () => {
    const path = uniquePath("too-long");
    srv.script(path, [{ status: 503, retryAfter: 5, body: "later" }, { status: 200 }]);
    let asked = 0;
    const rf = createRetryFetch({ ...BASE });
    const { ms, value } = await timed(rf(srv.url(path), { retry: { maxRetryAfterMs: 1000, shouldRetry: () => (asked++, true) } }));
    assert.equal(value.status, 503);
    assert.equal(await value.text(), "later");
    assert.ok(ms < 300, `returned at once (${ms.toFixed(0)} ms)`);
    assert.equal(asked, 0, "shouldRetry is not asked about a retry the rules refuse");
    await assertNoMoreRequests(srv, path, 1, 50);
  });

  test("maxRetryAfterMs defaults to 60000: 61 s is refused, 59 s is accepted", async () => {
    const long = await waitFor({ "retry-after": "61" });
    assert.equal(long.asked, 0, "61 s: no retry");
    assert.ok(long.ms < 300);
    const ok = await waitFor({ "retry-after": "59" });
    assert.equal(ok.delay, 59000);
  });

  test("maxRetryAfterMs is checked against the server's own value, before lengthening", async () => {
    const r = await waitFor({ "retry-after": "1" }, { maxRetryAfterMs: 1000, retryAfterJitter: 0.5, random: () => 0.5 });
    near(r.delay, 1250, 1, "1000 lengthened by 0.5 * 0.5");
  });

  test("retryAfterJitter lengthens by uniform [0, ratio] of the server's value", async () => {
    near((await waitFor({ "retry-after": "2" }, { retryAfterJitter: 0.5, random: () => 0 })).delay, 2000, 1);
    near((await waitFor({ "retry-after": "2" }, { retryAfterJitter: 0.5, random: () => 0.5 })).delay, 2500, 1);
    between((await waitFor({ "retry-after": "2" }, { retryAfterJitter: 0.5, random: () => 0.999999 })).delay, 2990, 3000, "near the top");
    assert.equal((await waitFor({ "retry-after": "2" }, { retryAfterJitter: 0, random: () => 0.9 })).delay, 2000, "0 turns it off");
  });

  test("retryAfterJitter defaults to 0.1", async () => {
    const path = uniquePath("raj-default");
    srv.script(path, [{ status: 503, retryAfter: 2 }]);
    const seen = [];
    const rf = createRetryFetch({ breaker: false, budget: false, random: () => 0.999999 });
    await rf(srv.url(path), { retry: { shouldRetry: (ctx) => (seen.push(ctx.delayMs), false) } });
    between(seen[0], 2190, 2200, "2000 + up to 10%");
  });

  test("a server-given wait that would end past timeoutMs is not made: the response returns at once", async () => {
    const path = uniquePath("ra-deadline");
    srv.script(path, [{ status: 503, retryAfter: 1 }, { status: 200 }]);
    const rf = createRetryFetch({ ...BASE });
    const { ms, value } = await timed(rf(srv.url(path), { retry: { timeoutMs: 500 } }));
    assert.equal(value.status, 503);
    assert.ok(ms < 300, `at once (${ms.toFixed(0)} ms)`);
    await assertNoMoreRequests(srv, path, 1, 50);
  });

  test("the deadline is checked against the server's own value; the lengthening is trimmed to end by it", async () => {
    const r = await waitFor({ "retry-after": "1" }, { timeoutMs: 1300, retryAfterJitter: 1, random: () => 0.999999 });
    assert.equal(typeof r.delay, "number", "the retry is allowed (1000 <= 1300)");
    between(r.delay, 1000, 1300, "trimmed to the deadline");
  });
});
