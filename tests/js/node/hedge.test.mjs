// SPEC §9: hedged requests against a real server on 127.0.0.1 whose answers are slow on cue.
import assert from "node:assert/strict";
import { createRetryFetch } from "../../../pkg/node.js";
import { test, uniquePath, until, timed, between, requestsAfter, assertNoMoreRequests, useFaultServer } from "./_helpers.mjs";

const srv = useFaultServer();

// The first request to a path hangs for `slowMs`; later ones answer at once.
function slowFirst(path, slowMs = 2000) {
  srv.script(path, [{ status: 200, body: "slow", delayMs: slowMs }, { status: 200, body: "fast" }]);
}

const HEDGE = { hedge: { delayMs: 30 }, breaker: false };

test("a hedge is sent after delayMs, wins, and the loser's connection is closed", async () => {
  const attempts = [];
  const rf = createRetryFetch({ ...HEDGE, onAttempt: (ev) => attempts.push(ev) });
  const path = uniquePath("hedge-wins");
  slowFirst(path);
  const r = await timed(rf(srv.url(path)));
  assert.ok(r.ok, String(r.error));
  assert.equal(await r.value.text(), "fast");
  between(r.ms, 25, 1000, "answered by the hedge, long before the slow first attempt");
  const reqs = srv.requests(path);
  assert.equal(reqs.length, 2);
  between(reqs[1].t - reqs[0].t, 10, 500, "hedge sent about delayMs after the first (its connection set-up included)");
  // The server sees the first (slow) request's connection close before it answered.
  assert.ok(await until(() => srv.requests(path)[0].closedEarly, 2000), "the loser was aborted");
  assert.deepEqual(attempts.map((a) => [a.attempt, a.hedge, a.status]), [[2, true, 200]]);
  const s = rf.stats();
  assert.equal(s.hedges, 1);
  assert.equal(s.attempts, 2);
  assert.equal(s.retries, 0);
});

test("no hedge for a fast answer", async () => {
  const rf = createRetryFetch(HEDGE);
  const path = uniquePath("fast");
  srv.script(path, [{ status: 200, body: "ok", delayMs: 2 }]);
  const res = await rf(srv.url(path));
  assert.equal(await res.text(), "ok");
  await assertNoMoreRequests(srv, path, 1, 100);
  assert.equal(rf.stats().hedges, 0);
});

test("no hedge for a POST without Idempotency-Key; one for a keyed POST", async () => {
  const rf = createRetryFetch(HEDGE);
  const path = uniquePath("post");
  slowFirst(path, 300);
  const res = await rf(srv.url(path), { method: "POST", body: "x" });
  assert.equal(await res.text(), "slow");
  assert.equal(srv.requests(path).length, 1);
  const keyed = uniquePath("post-keyed");
  slowFirst(keyed, 2000);
  const res2 = await rf(srv.url(keyed), { method: "POST", body: "payload", headers: { "idempotency-key": "k1" } });
  assert.equal(await res2.text(), "fast");
  const reqs = srv.requests(keyed);
  assert.equal(reqs.length, 2);
  assert.deepEqual(reqs.map((q) => q.body.toString()), ["payload", "payload"], "the whole body both times");
  assert.equal(rf.stats().hedges, 1);
});

test("no hedge when the budget cannot pay retryCost", async () => {
  const rf = createRetryFetch({ ...HEDGE, budget: { capacity: 4, retryCost: 5 } });
  const path = uniquePath("budget");
  slowFirst(path, 300);
  const r = await timed(rf(srv.url(path)));
  assert.equal(await r.value.text(), "slow");
  between(r.ms, 280, 2000);
  assert.equal(srv.requests(path).length, 1);
  assert.equal(rf.stats().hedges, 0);
});

test("no hedge while the breaker is open", async () => {
  const rf = createRetryFetch({
    hedge: { delayMs: 30 },
    budget: false,
    breaker: { minimumRequests: 2, failureRatio: 0.5, openMs: 60000, windowMs: 60000 },
  });
  const slow = uniquePath("breaker-slow");
  const bad = uniquePath("breaker-bad");
  srv.script(slow, [{ status: 200, body: "slow", delayMs: 400 }, { status: 200, body: "fast" }]);
  srv.script(bad, [{ status: 503 }]);
  // The slow call goes out first; two failures on the same origin open the breaker meanwhile.
  const pending = rf(srv.url(slow));
  for (let i = 0; i < 2; i++) await (await rf(srv.url(bad), { retry: { maxAttempts: 1 } })).arrayBuffer();
  assert.equal(rf.breaker(new URL(srv.url("/")).origin).state, "open");
  const res = await pending;
  assert.equal(await res.text(), "slow", "no hedge went; the first attempt answered");
  assert.equal(srv.requests(slow).length, 1);
  assert.equal(rf.stats().hedges, 0);
});

test("no hedge with maxAttempts: 1 (hedges count as attempts)", async () => {
  const rf = createRetryFetch({ ...HEDGE, maxAttempts: 1 });
  const path = uniquePath("one");
  slowFirst(path, 300);
  assert.equal(await (await rf(srv.url(path))).text(), "slow");
  assert.equal(srv.requests(path).length, 1);
});

test("a 503 from one attempt while the other is out starts no retry", async () => {
  const rf = createRetryFetch({ ...HEDGE, baseDelayMs: 1, jitter: "none", budget: false });
  const path = uniquePath("503-pending");
  // First: 200 after 300 ms. Hedge: 503 at once. The call waits for the first.
  srv.script(path, [{ status: 200, body: "first", delayMs: 300 }, { status: 503 }]);
  const res = await rf(srv.url(path));
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "first");
  await assertNoMoreRequests(srv, path, 2, 100);
  assert.equal(rf.stats().retries, 0);
});

test("abort stops every attempt in flight", async () => {
  const rf = createRetryFetch({ hedge: { delayMs: 20, maxHedges: 2 }, maxAttempts: 5, breaker: false, budget: false });
  const path = uniquePath("abort");
  srv.script(path, [{ status: 200, hang: true }]);
  const controller = new AbortController();
  const call = timed(rf(srv.url(path), { signal: controller.signal }));
  await requestsAfter(srv, path, 3, 2000);
  const reason = new Error("stop");
  controller.abort(reason);
  const r = await call;
  assert.equal(r.error, reason);
  assert.ok(await until(() => srv.requests(path).every((q) => q.closedEarly), 2000), "every connection closed");
  assert.equal(srv.requests(path).length, 3);
});

test("timeoutMs stops every attempt in flight", async () => {
  const rf = createRetryFetch({ hedge: { delayMs: 20 }, timeoutMs: 200, breaker: false, budget: false });
  const path = uniquePath("deadline");
  srv.script(path, [{ status: 200, hang: true }]);
  const r = await timed(rf(srv.url(path)));
  assert.equal(r.error?.name, "TimeoutError");
  between(r.ms, 180, 1000);
  assert.equal(srv.requests(path).length, 2);
  assert.ok(await until(() => srv.requests(path).every((q) => q.closedEarly), 2000), "both connections closed");
});

test('"auto" hedges at the key\'s p95 only after 20 calls', async () => {
  const rf = createRetryFetch({ hedge: { delayMs: "auto" }, breaker: false, budget: false });
  const path = uniquePath("auto");
  srv.script(path, [{ status: 200, body: "ok", delayMs: 5 }]);
  for (let i = 0; i < 19; i++) await (await rf(srv.url(path))).text();
  const slow = uniquePath("auto-slow");
  slowFirst(slow, 300);
  // Call 20 of the key: too few latencies yet, so no hedge.
  assert.equal(await (await rf(srv.url(slow))).text(), "slow", `stats ${JSON.stringify(rf.stats())}`);
  assert.equal(srv.requests(slow).length, 1);
  for (let i = 0; i < 5; i++) await (await rf(srv.url(path))).text();
  const slow2 = uniquePath("auto-slow2");
  slowFirst(slow2, 2000);
  const r = await timed(rf(srv.url(slow2)));
  assert.equal(await r.value.text(), "fast", `stats ${JSON.stringify(rf.stats())}`);
  // The p95 is about 5-10 ms here (floor 10), more on a busy machine; the slow attempt takes
  // 2000, so an answer well before it came from a hedge.
  between(r.ms, 8, 1200, "hedged after the p95, long before the slow attempt's 2000 ms");
  assert.equal(rf.stats().hedges, 1);
});

test("invalid hedge options reject naming the option, and nothing is sent", async () => {
  const rf = createRetryFetch();
  const path = uniquePath("bad");
  for (const [hedge, name] of [
    [{ maxHedges: 4 }, "hedge.maxHedges"],
    [{ delayMs: "p95" }, "hedge.delayMs"],
    [{ delayMs: -1 }, "hedge.delayMs"],
    [{ after: 5 }, "hedge.after"],
    [3, "hedge"],
  ]) {
    await assert.rejects(rf(srv.url(path), { retry: { hedge } }), (e) => e instanceof TypeError && e.message.includes(`"${name}"`));
  }
  assert.throws(() => createRetryFetch({ hedge: { maxHedges: 0 } }), /"hedge.maxHedges"/);
  assert.equal(srv.requests(path).length, 0);
});

test("a per-call hedge: false turns off the instance's hedging", async () => {
  const rf = createRetryFetch(HEDGE);
  const path = uniquePath("off");
  slowFirst(path, 200);
  assert.equal(await (await rf(srv.url(path), { retry: { hedge: false } })).text(), "slow");
  assert.equal(srv.requests(path).length, 1);
});

test("an onAttempt that throws or rejects breaks no hedged call", async () => {
  let rejections = 0;
  const onUnhandled = () => rejections++;
  process.on("unhandledRejection", onUnhandled);
  try {
    for (const onAttempt of [() => { throw new Error("boom"); }, async () => { throw new Error("async boom"); }]) {
      const rf = createRetryFetch({ ...HEDGE, onAttempt });
      const path = uniquePath("throwing-hook");
      slowFirst(path, 1000);
      assert.equal(await (await rf(srv.url(path))).text(), "fast");
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(rejections, 0);
  } finally {
    process.off("unhandledRejection", onUnhandled);
  }
});
