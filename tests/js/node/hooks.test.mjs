// SPEC §2 shouldRetry and onRetry (§7: onRetry fires before each wait).
import assert from "node:assert/strict";
import { createRetryFetch } from "../../../pkg/node.js";
import {
  test,
  before,
  after,
  describe,
  uniquePath,
  FAST,
  sleep,
  timed,
  assertNoMoreRequests,
  performance,
  useFaultServer,
} from "./_helpers.mjs";

const srv = useFaultServer();

describe("§2 shouldRetry", () => {
  test("sync false stops: settles with that response after one attempt", async () => {
    const path = uniquePath("sr-false");
    srv.script(path, [{ status: 503, body: "no more" }, { status: 200 }]);
    const rf = createRetryFetch({ ...FAST, shouldRetry: () => false });
    const res = await rf(srv.url(path));
    assert.equal(res.status, 503);
    assert.equal(await res.text(), "no more");
    await assertNoMoreRequests(srv, path, 1, 50);
  });

  test("async false stops; async true continues", async () => {
    const p1 = uniquePath("sr-async-false");
    srv.script(p1, [{ status: 503 }, { status: 200 }]);
    const rf = createRetryFetch({ ...FAST });
    const r1 = await rf(srv.url(p1), { retry: { shouldRetry: async () => (await sleep(10), false) } });
    assert.equal(r1.status, 503);
    await assertNoMoreRequests(srv, p1, 1, 50);

    const p2 = uniquePath("sr-async-true");
    srv.script(p2, [{ status: 503 }, { status: 200 }]);
    const r2 = await rf(srv.url(p2), { retry: { shouldRetry: async () => (await sleep(10), true) } });
    assert.equal(r2.status, 200);
    assert.equal(srv.requests(p2).length, 2);
  });

  test("false after a network error rejects with that error", async () => {
    const path = uniquePath("sr-net");
    srv.script(path, [{ reset: true }, { status: 200 }]);
    const rf = createRetryFetch({ ...FAST, shouldRetry: () => false });
    await assert.rejects(rf(srv.url(path)), TypeError);
    await assertNoMoreRequests(srv, path, 1, 50);
  });

  test("ctx for a response: { attempt, response, delayMs }, with no error; the body may be read", async () => {
    const path = uniquePath("sr-ctx");
    srv.script(path, [{ status: 503, body: "first" }, { status: 502, body: "second" }, { status: 200 }]);
    const ctxs = [];
    const bodies = [];
    const rf = createRetryFetch({ ...FAST, baseDelayMs: 3, multiplier: 2 });
    const res = await rf(srv.url(path), {
      retry: {
        shouldRetry: async (ctx) => {
          ctxs.push(ctx);
          bodies.push(await ctx.response.text());
          return true;
        },
      },
    });
    assert.equal(res.status, 200);
    assert.equal(ctxs.length, 2);
    assert.deepEqual(
      ctxs.map((c) => [c.attempt, c.response.status, c.delayMs, c.error]),
      [
        [1, 503, 3, undefined],
        [2, 502, 6, undefined],
      ],
    );
    assert.deepEqual(bodies, ["first", "second"]);
    assert.ok(ctxs[0].response instanceof Response);
  });

  test("ctx for a network error and for an attempt timeout: { attempt, error, delayMs }, no response", async () => {
    const path = uniquePath("sr-ctx-err");
    srv.script(path, [{ reset: true }, { hang: true }, { status: 200 }]);
    const ctxs = [];
    const rf = createRetryFetch({ ...FAST, attemptTimeoutMs: 60, shouldRetry: (ctx) => (ctxs.push(ctx), true) });
    const res = await rf(srv.url(path));
    assert.equal(res.status, 200);
    assert.equal(ctxs.length, 2);
    assert.equal(ctxs[0].attempt, 1);
    assert.ok(ctxs[0].error instanceof TypeError, `network error: ${ctxs[0].error}`);
    assert.equal(ctxs[0].response, undefined);
    assert.equal(ctxs[0].delayMs, 1);
    assert.equal(ctxs[1].attempt, 2);
    assert.equal(ctxs[1].error && ctxs[1].error.name, "TimeoutError");
    assert.equal(ctxs[1].response, undefined);
  });

  test("asked only before retries the rules allow: not for a success, not after the last attempt, not for POST", async () => {
    const path = uniquePath("sr-count");
    srv.script(path, [{ status: 503 }]);
    let asked = 0;
    const rf = createRetryFetch({ ...FAST, maxAttempts: 4, shouldRetry: () => (asked++, true) });
    await rf(srv.url(path));
    assert.equal(asked, 3, "maxAttempts 4: three retries, three questions");
    asked = 0;
    const ok = uniquePath("sr-ok");
    await rf(srv.url(ok));
    assert.equal(asked, 0, "not for a 200");
    await rf(srv.url(path), { method: "POST", body: "x" });
    assert.equal(asked, 0, "not for a POST");
    const nr = uniquePath("sr-404");
    srv.script(nr, [{ status: 404 }]);
    await rf(srv.url(nr));
    assert.equal(asked, 0, "not for a 404");
  });

  test("a shouldRetry that throws rejects the call with its error", async () => {
    const path = uniquePath("sr-throw");
    srv.script(path, [{ status: 503 }, { status: 200 }]);
    const boom = new Error("hook failed");
    const rf = createRetryFetch({ ...FAST, shouldRetry: () => { throw boom; } });
    await assert.rejects(rf(srv.url(path)), (e) => e === boom);
    await assertNoMoreRequests(srv, path, 1, 50);
  });

  test("shouldRetry's delayMs is the wait really made", async () => {
    const path = uniquePath("sr-delay");
    srv.script(path, [{ status: 503 }, { status: 200 }]);
    let delay;
    const rf = createRetryFetch({ ...FAST, baseDelayMs: 120, shouldRetry: (ctx) => ((delay = ctx.delayMs), true) });
    await rf(srv.url(path));
    assert.equal(delay, 120);
    const [a, b] = srv.requests(path);
    assert.ok(b.t - a.t >= 117, `waited ${(b.t - a.t).toFixed(0)} ms`);
  });
});

describe("§2 onRetry", () => {
  test("ev fields for a status retry: attempt, delayMs, reason 'status', status, url; no error", async () => {
    const path = uniquePath("or-status");
    srv.script(path, [{ status: 503 }, { status: 429 }, { status: 200 }]);
    const events = [];
    const rf = createRetryFetch({ ...FAST, baseDelayMs: 2, onRetry: (ev) => events.push(ev) });
    const url = srv.url(path) + "?a=1";
    await rf(url);
    assert.equal(events.length, 2);
    assert.deepEqual(
      events.map((e) => [e.attempt, e.delayMs, e.reason, e.status, e.url, e.error]),
      [
        [1, 2, "status", 503, url, undefined],
        [2, 4, "status", 429, url, undefined],
      ],
    );
  });

  test("ev for a network error: reason 'network', error is the TypeError, no status", async () => {
    const path = uniquePath("or-net");
    srv.script(path, [{ reset: true }, { status: 200 }]);
    const events = [];
    const rf = createRetryFetch({ ...FAST, onRetry: (ev) => events.push(ev) });
    await rf(srv.url(path));
    assert.equal(events.length, 1);
    assert.equal(events[0].attempt, 1);
    assert.equal(events[0].reason, "network");
    assert.ok(events[0].error instanceof TypeError);
    assert.equal(events[0].status, undefined);
    assert.equal(events[0].url, srv.url(path));
  });

  test("ev for an attempt timeout: reason 'timeout', error a TimeoutError", async () => {
    const path = uniquePath("or-timeout");
    srv.script(path, [{ hang: true }, { status: 200 }]);
    const events = [];
    const rf = createRetryFetch({ ...FAST, attemptTimeoutMs: 50, onRetry: (ev) => events.push(ev) });
    await rf(srv.url(path));
    assert.equal(events.length, 1);
    assert.equal(events[0].reason, "timeout");
    assert.equal(events[0].error && events[0].error.name, "TimeoutError");
  });

  test("url is the request's URL for URL and Request inputs", async () => {
    const path = uniquePath("or-url");
    srv.script(path, [{ status: 503 }, { status: 200 }]);
    const events = [];
    const rf = createRetryFetch({ ...FAST, maxAttempts: 2, onRetry: (ev) => events.push(ev.url) });
    await rf(new URL(srv.url(path)));
    srv.script(path, [{ status: 503 }, { status: 200 }]);
    await rf(new Request(srv.url(path)));
    assert.deepEqual(events, [srv.url(path), srv.url(path)]);
  });

  test("fires before each wait (before the next attempt reaches the server), after shouldRetry allowed it", async () => {
    const path = uniquePath("or-order");
    srv.script(path, [{ status: 503 }, { status: 503 }, { status: 200 }]);
    const order = [];
    const rf = createRetryFetch({
      ...FAST,
      baseDelayMs: 30,
      shouldRetry: (ctx) => (order.push(["should", ctx.attempt]), true),
      onRetry: (ev) => order.push(["onRetry", ev.attempt, performance.now(), srv.requests(path).length]),
    });
    await rf(srv.url(path));
    assert.deepEqual(order.map((o) => o.slice(0, 2)), [["should", 1], ["onRetry", 1], ["should", 2], ["onRetry", 2]]);
    const reqs = srv.requests(path);
    const on = order.filter((o) => o[0] === "onRetry");
    assert.equal(on[0][3], 1, "one request so far at the first onRetry");
    assert.equal(on[1][3], 2);
    assert.ok(on[0][2] <= reqs[1].t && reqs[1].t - on[0][2] >= 27, "the wait comes after onRetry");
  });

  test("not fired when shouldRetry declines, or when nothing is retried", async () => {
    const path = uniquePath("or-none");
    srv.script(path, [{ status: 503 }]);
    let n = 0;
    const rf = createRetryFetch({ ...FAST, onRetry: () => n++ });
    await rf(srv.url(path), { retry: { shouldRetry: () => false } });
    await rf(srv.url(uniquePath("or-ok")));
    await rf(srv.url(path), { retry: { maxAttempts: 1 } });
    assert.equal(n, 0);
  });

  test("an onRetry that throws rejects the call with its error; no further attempt", async () => {
    const path = uniquePath("or-throw");
    srv.script(path, [{ status: 503 }, { status: 200 }]);
    const boom = new Error("onRetry failed");
    const rf = createRetryFetch({ ...FAST, onRetry: () => { throw boom; } });
    const { error } = await timed(rf(srv.url(path)));
    assert.equal(error, boom);
    await assertNoMoreRequests(srv, path, 1, 50);
  });
});
