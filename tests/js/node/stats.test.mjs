// SPEC §7: instance.stats() matches what the server recorded.
import assert from "node:assert/strict";
import { createRetryFetch, CircuitOpenError } from "../../../pkg/node.js";
import { test, uniquePath, FAST, sleep, between, useFaultServer } from "./_helpers.mjs";

const srv = useFaultServer();

const drain = async (p) => {
  try {
    const r = await p;
    await r.arrayBuffer();
    return r.status;
  } catch (e) {
    return e;
  }
};

test("§7 counts: calls, attempts, retries, successes, failures, breakerRejections, budgetDenials, retryAfterWaits", async () => {
  const rf = createRetryFetch({
    ...FAST,
    maxAttempts: 3,
    breaker: { minimumRequests: 100, openMs: 60000 },
    budget: { capacity: 1000 },
  });
  const A = uniquePath("A"); // 503, 200: one retry, success
  const B = uniquePath("B"); // 503 x3: failure (resolved 503)
  const C = uniquePath("C"); // 404: success
  const D = uniquePath("D"); // 501: failure (status >= 500)
  const E = uniquePath("E"); // 429 with Retry-After 0, then 200: a header wait
  const F = uniquePath("F"); // reset x3: failure (rejected)
  const G = uniquePath("G"); // 429 x3 (in retryOn): failure
  srv.script(A, [{ status: 503 }, { status: 200 }]);
  srv.script(B, [{ status: 503 }]);
  srv.script(C, [{ status: 404 }]);
  srv.script(D, [{ status: 501 }]);
  srv.script(E, [{ status: 429, retryAfter: 0 }, { status: 200 }]);
  srv.script(F, [{ reset: true }]);
  srv.script(G, [{ status: 429 }]);
  assert.equal(await drain(rf(srv.url(A))), 200);
  assert.equal(await drain(rf(srv.url(B))), 503);
  assert.equal(await drain(rf(srv.url(C))), 404);
  assert.equal(await drain(rf(srv.url(D))), 501);
  assert.equal(await drain(rf(srv.url(E))), 200);
  assert.ok((await drain(rf(srv.url(F)))) instanceof TypeError);
  assert.equal(await drain(rf(srv.url(G))), 429);
  assert.equal(await drain(rf(srv.url(A), { retry: false })), 200, "retry: false calls count too");

  const s = rf.stats();
  const serverAttempts = srv.requests().length;
  assert.equal(serverAttempts, 2 + 3 + 1 + 1 + 2 + 3 + 3 + 1);
  assert.equal(s.calls, 8);
  assert.equal(s.attempts, serverAttempts, "attempts == requests the server saw");
  assert.equal(s.retries, serverAttempts - s.calls, "retries == attempts - first attempts");
  assert.equal(s.successes, 4, "A, C, E and the retry:false call");
  assert.equal(s.failures, 4, "B, D, F, G");
  assert.equal(s.successes + s.failures, s.calls);
  assert.equal(s.breakerRejections, 0);
  assert.equal(s.budgetDenials, 0);
  assert.equal(s.retryAfterWaits, 1);
});

test("§7 breaker rejections are counted, and counted as failures", async () => {
  const path = uniquePath("rej");
  srv.script(path, [{ status: 503 }]);
  const rf = createRetryFetch({ ...FAST, maxAttempts: 1, breaker: { minimumRequests: 2, openMs: 60000 } });
  await drain(rf(srv.url(path)));
  await drain(rf(srv.url(path)));
  assert.ok((await drain(rf(srv.url(path)))) instanceof CircuitOpenError);
  assert.ok((await drain(rf(srv.url(path)))) instanceof CircuitOpenError);
  const s = rf.stats();
  assert.equal(s.calls, 4);
  assert.equal(s.attempts, 2);
  assert.equal(srv.requests(path).length, 2);
  assert.equal(s.breakerRejections, 2);
  assert.equal(s.failures, 4);
  assert.equal(s.successes, 0);
});

test("§7 budget denials are counted", async () => {
  const path = uniquePath("deny");
  srv.script(path, [{ status: 503 }]);
  const rf = createRetryFetch({ ...FAST, maxAttempts: 5, budget: { capacity: 5, retryCost: 5 } });
  await drain(rf(srv.url(path)));
  await drain(rf(srv.url(path)));
  const s = rf.stats();
  assert.equal(s.attempts, srv.requests(path).length);
  assert.equal(s.attempts, 3);
  assert.equal(s.retries, 1);
  assert.equal(s.budgetDenials, 2);
});

test("§7 latencyMs per call, waits included: p50 <= p90 <= p99, in line with the measured calls", async () => {
  const rf = createRetryFetch({ ...FAST });
  const fast = uniquePath("fast");
  const slow = uniquePath("slow");
  srv.script(slow, [{ status: 503 }, { status: 200 }]);
  for (let i = 0; i < 8; i++) await drain(rf(srv.url(fast)));
  // two slow calls: a 150 ms backoff wait each
  for (let i = 0; i < 2; i++) {
    srv.script(slow, [{ status: 503 }, { status: 200 }]);
    await drain(rf(srv.url(slow), { retry: { baseDelayMs: 150 } }));
  }
  const { p50, p90, p99 } = rf.stats().latencyMs;
  assert.ok(p50 <= p90 && p90 <= p99, `ordered: ${p50} ${p90} ${p99}`);
  between(p50, 0, 100, "p50: the fast calls");
  between(p99, 145, 2000, "p99: a call with its wait");
});

test("§7 a call rejected for invalid options is not sent and leaves attempts at 0", async () => {
  const rf = createRetryFetch();
  await drain(rf(srv.url("/x"), { retry: { maxAttempts: 0 } }));
  await sleep(20);
  assert.equal(rf.stats().attempts, 0);
  assert.equal(srv.requests().length, 0);
});

test("§7 aborted calls are failures, not successes", async () => {
  const rf = createRetryFetch({ ...FAST });
  const r = await drain(rf(srv.url("/y"), { signal: AbortSignal.abort() }));
  assert.ok(r instanceof DOMException);
  const s = rf.stats();
  assert.equal(s.successes, 0);
  assert.equal(s.successes + s.failures, s.calls);
});

test("§7 concurrent calls on one instance: stats add up to what the server saw", async () => {
  const rf = createRetryFetch({ ...FAST, baseDelayMs: 5, jitter: "full", breaker: false, budget: false });
  const paths = [];
  for (let i = 0; i < 40; i++) {
    const p = uniquePath("conc");
    paths.push(p);
    // i % 4: 0 -> 200; 1 -> 503, 200; 2 -> 503 x3 (resolves 503); 3 -> reset, 200
    const kind = i % 4;
    srv.script(p, kind === 0 ? [{ status: 200 }] : kind === 1 ? [{ status: 503 }, { status: 200, delayMs: 10 }] : kind === 2 ? [{ status: 503, delayMs: 5 }] : [{ reset: true }, { status: 200 }]);
  }
  const outcomes = await Promise.all(paths.map((p) => drain(rf(srv.url(p)))));
  outcomes.forEach((o, i) => assert.equal(o, i % 4 === 2 ? 503 : 200, `call ${i}`));
  const s = rf.stats();
  assert.equal(s.calls, 40);
  assert.equal(s.attempts, srv.requests().length);
  assert.equal(s.attempts, 10 * (1 + 2 + 3 + 2));
  assert.equal(s.retries, s.attempts - 40);
  assert.equal(s.successes, 30);
  assert.equal(s.failures, 10);
  paths.forEach((p, i) => assert.equal(srv.requests(p).length, [1, 2, 3, 2][i % 4], `requests for call ${i}`));
});
