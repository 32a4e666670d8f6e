// SPEC §9 in workerd (Miniflare): hedged requests from a module Worker against the fault
// server, and what happens at the Worker's limit of six connections waiting for headers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { uniquePath, until, useWorkerAndFaultServer } from "../runtimes.mjs";

const { srv, mf } = useWorkerAndFaultServer("tests/js/workerd/fixtures/hedge-worker.mjs");

async function many(spec) {
  const res = await mf.dispatchFetch(`http://hedge.local/many?spec=${encodeURIComponent(JSON.stringify(spec))}`);
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`worker answered ${res.status}: ${text.slice(0, 500)}`);
  }
}

const HEDGE = { hedge: { delayMs: 30 }, breaker: false };

test("the hedge wins and the loser's connection closes", async () => {
  const path = uniquePath("w-hedge");
  srv.script(path, [{ status: 200, body: "slow", delayMs: 3000 }, { status: 200, body: "fast" }]);
  const out = await many({ url: srv.url(path), n: 1, retry: HEDGE });
  const [r] = out.results;
  assert.equal(r.body, "fast", JSON.stringify(out));
  assert.ok(r.ms < 1500, `answered by the hedge (${r.ms} ms)`);
  assert.deepEqual(out.attempts.map((a) => [a.attempt, a.hedge, a.status]), [[2, true, 200]]);
  assert.equal(out.stats.hedges, 1);
  assert.ok(await until(() => srv.requests(path)[0]?.closedEarly, 3000), "the server saw the slow request's connection close");
});

test("no hedge for a fast answer, an unkeyed POST or maxAttempts: 1", async () => {
  const fast = uniquePath("w-fast");
  srv.script(fast, [{ status: 200, body: "ok", delayMs: 2 }]);
  // A hedge delay well past a loopback answer, so that a slow moment cannot make it late.
  const out = await many({ url: srv.url(fast), n: 1, retry: { ...HEDGE, hedge: { delayMs: 500 } } });
  assert.equal(out.results[0].body, "ok");
  assert.equal(out.stats.hedges, 0);
  const one = uniquePath("w-one");
  srv.script(one, [{ status: 200, body: "slow", delayMs: 200 }, { status: 200, body: "fast" }]);
  const single = await many({ url: srv.url(one), n: 1, retry: { ...HEDGE, maxAttempts: 1 } });
  assert.equal(single.results[0].body, "slow");
  assert.equal(srv.requests(one).length, 1);
});

test("timeoutMs and abort stop every attempt in flight", async () => {
  const path = uniquePath("w-hang");
  srv.script(path, [{ status: 200, hang: true }]);
  const out = await many({ url: srv.url(path), n: 1, retry: { ...HEDGE, timeoutMs: 300, budget: false } });
  assert.equal(out.results[0].error?.name, "TimeoutError", JSON.stringify(out));
  assert.equal(srv.requests(path).length, 2);
  assert.ok(await until(() => srv.requests(path).every((q) => q.closedEarly), 3000), "both connections closed");
  const aborted = uniquePath("w-abort");
  srv.script(aborted, [{ status: 200, hang: true }]);
  const out2 = await many({ url: srv.url(aborted), n: 1, retry: { hedge: { delayMs: 20, maxHedges: 2 }, maxAttempts: 5, breaker: false, budget: false }, abortAfterMs: 300 });
  assert.equal(out2.results[0].error?.name, "TimeoutError", "AbortSignal.timeout's reason");
  assert.equal(srv.requests(aborted).length, 3);
  assert.ok(await until(() => srv.requests(aborted).every((q) => q.closedEarly), 3000), "every connection closed");
});

test("at the limit: no hedge while six attempts wait for headers", async () => {
  // On Cloudflare a Worker's seventh connection waiting for headers is queued by the runtime;
  // the local workerd does not enforce that (12 of 12 reached the server before this rule), so
  // edge-retry holds hedges itself. Six calls at once, each first attempt slow (600 ms): their
  // hedges, due at 30 ms, would be connections 7 to 12, so none goes.
  const path = uniquePath("w-limit");
  const slow = Array.from({ length: 6 }, () => ({ status: 200, body: "slow", delayMs: 600 }));
  srv.script(path, [...slow, { status: 200, body: "fast" }]);
  const out = await many({ url: srv.url(path), n: 6, retry: { ...HEDGE, budget: false } });
  assert.ok(out.results.every((r) => r.status === 200), JSON.stringify(out.results));
  // Nothing else reached the server while the six waited. (Once the first of them answers, a
  // hedge may go by the rule: the six answer a few ms apart, as they were sent, and a hedge
  // timer set again can fire in between.)
  const arrivals = srv.requests(path).map((q) => q.at).sort((a, b) => a - b);
  const whileSixWaited = arrivals.filter((at) => at < arrivals[0] + 600);
  assert.equal(whileSixWaited.length, 6, `no hedge past the limit: ${JSON.stringify(arrivals.map((at) => at - arrivals[0]))}`);
  // Three calls: three first attempts and three hedges, six waiting at most.
  const three = uniquePath("w-three");
  srv.script(three, [...slow.slice(0, 3), { status: 200, body: "fast" }]);
  const out3 = await many({ url: srv.url(three), n: 3, retry: { ...HEDGE, budget: false } });
  assert.deepEqual(out3.results.map((r) => r.body), ["fast", "fast", "fast"], JSON.stringify(out3.results));
  assert.equal(out3.stats.hedges, 3);
  // Five calls: one hedge fits beside five first attempts; the others wait until one answers.
  const five = uniquePath("w-five");
  srv.script(five, [...slow.slice(0, 5), { status: 200, body: "fast" }]);
  const out5 = await many({ url: srv.url(five), n: 5, retry: { ...HEDGE, budget: false } });
  // Each hedge answers at once and frees its place for the next call's hedge.
  assert.deepEqual(out5.results.map((r) => r.body), ["fast", "fast", "fast", "fast", "fast"], JSON.stringify(out5.results));
  assert.equal(out5.stats.hedges, 5);
  assert.ok(await until(() => srv.requests(five).every((q) => q.respondedAt !== undefined || q.closedAt !== undefined), 3000));
  // Never more than six requests waiting for their headers at once, as the server saw them.
  const edges = srv.requests(five).flatMap((q) => [[q.t, 1], [q.respondedAt ?? q.closedAt, -1]]);
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0, most = 0;
  for (const [, d] of edges) most = Math.max(most, (open += d));
  assert.ok(most <= 6, `at most six waiting at once (${most})`);
});
