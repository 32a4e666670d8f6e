// SPEC §8: onBreaker, storm + onStorm, onAttempt and stats().storms, against the fault server.
import assert from "node:assert/strict";
import { createRetryFetch, CircuitOpenError } from "../../../pkg/node.js";
import { test, uniquePath, sleep, until, useFaultServer } from "./_helpers.mjs";

const srv = useFaultServer();

const BREAKER = { minimumRequests: 4, failureRatio: 0.5, windowMs: 10000, openMs: 200, maxOpenMs: 200 };

test("onBreaker reports open, half-open and closed as they happen, with the key and the time", async () => {
  const events = [];
  const rf = createRetryFetch({ maxAttempts: 1, budget: false, breaker: BREAKER, onBreaker: (ev) => events.push(ev) });
  const path = uniquePath("breaker");
  srv.script(path, [{ status: 503 }, { status: 503 }, { status: 503 }, { status: 503 }, { status: 200, body: "ok" }]);
  const before = Date.now();
  for (let i = 0; i < 4; i++) await (await rf(srv.url(path))).arrayBuffer();
  assert.deepEqual(events.map((e) => e.state), ["open"]);
  assert.equal(events[0].key, srv.origin);
  assert.ok(events[0].at >= before && events[0].at <= Date.now(), "at is ms since the epoch, now");
  await assert.rejects(rf(srv.url(path)), CircuitOpenError);
  await sleep(250);
  const res = await rf(srv.url(path));
  assert.equal(res.status, 200);
  assert.deepEqual(events.map((e) => e.state), ["open", "half-open", "closed"]);
  assert.deepEqual(Object.keys(events[1]).sort(), ["at", "key", "state"]);
});

test("onStorm fires once entering a storm and once leaving it; stats().storms counts entries", async () => {
  const events = [];
  const rf = createRetryFetch({
    baseDelayMs: 1, jitter: "none", maxAttempts: 2, breaker: false, budget: false,
    storm: { ratio: 0.2, windowMs: 60000, minimumAttempts: 6 },
    onStorm: (ev) => events.push(ev),
  });
  const bad = uniquePath("storm"), good = uniquePath("calm");
  srv.script(bad, [{ status: 503 }]);
  // 4 calls of 2 attempts each: 8 attempts, 4 retries (0.5 > 0.2).
  for (let i = 0; i < 4; i++) await (await rf(srv.url(bad))).arrayBuffer();
  assert.equal(events.length, 1);
  const [storm] = events;
  assert.equal(storm.key, srv.origin);
  assert.equal(storm.state, "storm");
  assert.ok(storm.retryRatio > 0.2 && storm.retryRatio <= 0.5, `retryRatio ${storm.retryRatio}`);
  assert.ok(storm.attempts >= 6);
  assert.equal(storm.windowMs, 60000);
  assert.equal(typeof storm.at, "number");
  assert.equal(rf.stats().storms, 1);
  // Healthy calls dilute the retries until they are half the ratio or less: calm, once.
  for (let i = 0; i < 40 && events.length < 2; i++) await (await rf(srv.url(good))).arrayBuffer();
  assert.equal(events.length, 2);
  assert.equal(events[1].state, "calm");
  assert.ok(events[1].retryRatio <= 0.1);
  for (let i = 0; i < 5; i++) await (await rf(srv.url(good))).arrayBuffer();
  assert.equal(events.length, 2, "no more events while calm");
  assert.equal(rf.stats().storms, 1);
  assert.equal(rf.stats().hedges, 0);
});

test("storm: false turns detection off", async () => {
  const events = [];
  const rf = createRetryFetch({ baseDelayMs: 1, maxAttempts: 3, breaker: false, budget: false, storm: false, onStorm: (e) => events.push(e) });
  const path = uniquePath("off");
  srv.script(path, [{ status: 503 }]);
  for (let i = 0; i < 10; i++) await (await rf(srv.url(path))).arrayBuffer();
  assert.equal(events.length, 0);
  assert.equal(rf.stats().storms, 0);
});

test("onAttempt reports every attempt, per instance and per call", async () => {
  const seen = [], perCall = [];
  const rf = createRetryFetch({ baseDelayMs: 1, jitter: "none", breaker: false, budget: false, onAttempt: (ev) => seen.push(ev) });
  const path = uniquePath("attempts");
  srv.script(path, [{ status: 503 }, { status: 200, body: "ok" }]);
  const res = await rf(srv.url(path));
  assert.equal(res.status, 200);
  assert.deepEqual(seen.map((e) => [e.attempt, e.status, e.hedge]), [[1, 503, false], [2, 200, false]]);
  for (const ev of seen) {
    assert.equal(ev.key, srv.origin);
    assert.equal(ev.url, srv.url(path));
    assert.ok(ev.durationMs >= 0);
  }
  // A network error has `error`, no status; a per-call onAttempt replaces the instance's.
  const dead = "http://127.0.0.1:1/x";
  await assert.rejects(rf(dead, { retry: { maxAttempts: 1, onAttempt: (ev) => perCall.push(ev) } }));
  assert.equal(perCall.length, 1);
  assert.equal(perCall[0].status, undefined);
  assert.ok(perCall[0].error);
  assert.equal(seen.length, 2);
});

test("a callback that throws or rejects never breaks a call or the instance", async () => {
  const boom = () => { throw new Error("boom"); };
  const rejects = () => Promise.reject(new Error("later"));
  const rf = createRetryFetch({
    baseDelayMs: 1, maxAttempts: 2, budget: false,
    breaker: { ...BREAKER, minimumRequests: 2 },
    storm: { ratio: 0.1, windowMs: 10000, minimumAttempts: 2 },
    onBreaker: boom, onStorm: rejects, onAttempt: boom,
  });
  let unhandled = 0;
  const count = () => unhandled++;
  process.on("unhandledRejection", count);
  try {
    const path = uniquePath("throws");
    srv.script(path, [{ status: 503 }, { status: 503 }, { status: 200, body: "ok" }]);
    const res = await rf(srv.url(path));
    assert.equal(res.status, 503); // two attempts, both 503: the breaker opened on the way
    await assert.rejects(rf(srv.url(path)), CircuitOpenError);
    await sleep(250);
    const ok = await rf(srv.url(path));
    assert.equal(ok.status, 200);
    await until(() => false, 50);
    assert.equal(unhandled, 0);
    assert.equal(rf.stats().storms, 1);
  } finally {
    process.off("unhandledRejection", count);
  }
});

test("the event options are checked: instance-only ones are refused per call", async () => {
  assert.throws(() => createRetryFetch({ onBreaker: 1 }), /onBreaker/);
  assert.throws(() => createRetryFetch({ storm: { ratio: 2 } }), /storm\.ratio/);
  const rf = createRetryFetch();
  await assert.rejects(rf(srv.url("/x"), { retry: { onStorm() {} } }), /onStorm/);
  await assert.rejects(rf(srv.url("/x"), { retry: { storm: false } }), /storm/);
});

test("onBreaker hears of half-open before the probe is sent, and of closed before the probe's call settles", async () => {
  const order = [];
  const rf = createRetryFetch({
    maxAttempts: 1, budget: false, breaker: BREAKER,
    fetch: (input, init) => {
      order.push("fetch");
      return fetch(input, init);
    },
    onBreaker: (ev) => order.push(ev.state),
  });
  const path = uniquePath("order");
  srv.script(path, [{ status: 503 }, { status: 503 }, { status: 503 }, { status: 503 }, { status: 200, body: "ok" }]);
  for (let i = 0; i < 4; i++) await (await rf(srv.url(path))).arrayBuffer();
  await sleep(250);
  order.length = 0;
  const res = await rf(srv.url(path));
  order.push("settled");
  assert.equal(res.status, 200);
  assert.deepEqual(order, ["half-open", "fetch", "closed", "settled"]);
});
