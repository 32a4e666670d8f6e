// SPEC §6: the retry budget (a token bucket per key, as the AWS SDK's standard mode).
import assert from "node:assert/strict";
import { createRetryFetch } from "../../../pkg/node.js";
import {
  test,
  before,
  after,
  describe,
  uniquePath,
  assertNoMoreRequests,
  useFaultServer,
} from "./_helpers.mjs";

const srv = useFaultServer();

const QUICK = { baseDelayMs: 0, jitter: "none", breaker: false, maxAttempts: 10 };
const SMALL = { capacity: 10, retryCost: 5, timeoutCost: 10, successRefund: 1 };

async function callCount(rf, url, init) {
  const path = new URL(url).pathname;
  const before = srv.requests(path).length;
  try {
    const res = await rf(url, init);
    await res.arrayBuffer();
  } catch {
    /* counted below */
  }
  return srv.requests(path).length - before;
}

async function succeed(rf, url, n) {
  for (let i = 0; i < n; i++) {
    const res = await rf(url);
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  }
}

describe("§6 retry budget", () => {
  test("exhaustion: retries take retryCost until the bucket cannot pay; the call settles with its last response", async () => {
    const path = uniquePath("exhaust");
    srv.script(path, [{ status: 503, body: "last" }]);
    const rf = createRetryFetch({ ...QUICK, budget: SMALL });
    const res = await rf(srv.url(path));
    assert.equal(res.status, 503, "settles with the last response");
    assert.equal(await res.text(), "last");
    assert.equal(srv.requests(path).length, 3, "10 tokens pay for two retries at 5");
    assert.equal(rf.stats().budgetDenials, 1);
    assert.equal(rf.stats().retries, 2);
    // empty bucket: the first attempt still goes, no retry
    assert.equal(await callCount(rf, srv.url(path)), 1, "a first attempt never needs tokens");
    assert.equal(rf.stats().budgetDenials, 2);
  });

  test("refund: each success returns successRefund; five successes pay for one more retry", async () => {
    const bad = uniquePath("refund-bad");
    const good = uniquePath("refund-good");
    srv.script(bad, [{ status: 503 }]);
    const rf = createRetryFetch({ ...QUICK, budget: SMALL });
    assert.equal(await callCount(rf, srv.url(bad)), 3);
    await succeed(rf, srv.url(good), 4);
    assert.equal(await callCount(rf, srv.url(bad)), 1, "4 tokens cannot pay 5");
    await succeed(rf, srv.url(good), 5);
    assert.equal(await callCount(rf, srv.url(bad)), 2, "5 tokens pay one retry");
  });

  test("refunds never fill the bucket above capacity", async () => {
    const bad = uniquePath("cap-bad");
    const good = uniquePath("cap-good");
    srv.script(bad, [{ status: 503 }]);
    const rf = createRetryFetch({ ...QUICK, budget: SMALL });
    await succeed(rf, srv.url(good), 20);
    assert.equal(await callCount(rf, srv.url(bad)), 3, "still only 10 tokens");
  });

  test("a success reached through retries also refunds", async () => {
    const path = uniquePath("retry-success");
    const bad = uniquePath("retry-success-bad");
    srv.script(bad, [{ status: 503 }]);
    srv.script(path, [{ status: 503 }, { status: 200 }]);
    const rf = createRetryFetch({ ...QUICK, budget: { ...SMALL, capacity: 14 } });
    // 14 - 5 (retry) + 1 (success) = 10: two more retries (without the refund, 9: only one)
    assert.equal(await callCount(rf, srv.url(path)), 2);
    assert.equal(await callCount(rf, srv.url(bad)), 3);
  });

  test("a retry after a network error costs timeoutCost", async () => {
    const path = uniquePath("net-cost");
    srv.script(path, [{ reset: true }]);
    const rf = createRetryFetch({ ...QUICK, budget: { ...SMALL, capacity: 20 } });
    await assert.rejects(rf(srv.url(path)), TypeError, "settles with the last network error");
    await assertNoMoreRequests(srv, path, 3, 50); // 20 tokens, 10 per retry
    assert.equal(rf.stats().budgetDenials, 1);
  });

  test("a retry after an attempt timeout costs timeoutCost", async () => {
    const path = uniquePath("timeout-cost");
    srv.script(path, [{ hang: true }]);
    const rf = createRetryFetch({ ...QUICK, attemptTimeoutMs: 40, budget: { ...SMALL, capacity: 15 } });
    await assert.rejects(rf(srv.url(path)), (e) => e.name === "TimeoutError");
    await assertNoMoreRequests(srv, path, 2, 50); // 15 tokens: one retry at 10
  });

  test("a retry after a retryable status costs retryCost (429 included)", async () => {
    const path = uniquePath("status-cost");
    srv.script(path, [{ status: 429 }]);
    const rf = createRetryFetch({ ...QUICK, budget: { ...SMALL, capacity: 15, retryCost: 3 } });
    await callCount(rf, srv.url(path));
    assert.equal(srv.requests(path).length, 6, "15 tokens, 3 per retry: five retries");
  });

  test("the bucket is per key (origin): exhausting 127.0.0.1 leaves localhost untouched", async () => {
    const path = uniquePath("per-key");
    srv.script(path, [{ status: 503 }]);
    const rf = createRetryFetch({ ...QUICK, budget: SMALL });
    assert.equal(await callCount(rf, srv.url(path)), 3);
    assert.equal(await callCount(rf, srv.url(path)), 1);
    assert.equal(await callCount(rf, srv.altUrl(path)), 3, "another origin has its own bucket");
  });

  test("the bucket follows a custom breaker key", async () => {
    const path = uniquePath("shared-key");
    srv.script(path, [{ status: 503 }]);
    const rf = createRetryFetch({ ...QUICK, budget: SMALL, breaker: { key: () => "one-bucket" } });
    assert.equal(await callCount(rf, srv.url(path)), 3);
    assert.equal(await callCount(rf, srv.altUrl(path)), 1, "same key, same (empty) bucket");
  });

  test("per-call budget: false retries although the bucket is empty", async () => {
    const path = uniquePath("bypass");
    srv.script(path, [{ status: 503 }]);
    const rf = createRetryFetch({ ...QUICK, budget: SMALL });
    assert.equal(await callCount(rf, srv.url(path)), 3);
    assert.equal(await callCount(rf, srv.url(path)), 1);
    assert.equal(await callCount(rf, srv.url(path), { retry: { budget: false, maxAttempts: 4 } }), 4);
  });

  test("instances have their own buckets", async () => {
    const path = uniquePath("instances");
    srv.script(path, [{ status: 503 }]);
    const a = createRetryFetch({ ...QUICK, budget: SMALL });
    const b = createRetryFetch({ ...QUICK, budget: SMALL });
    assert.equal(await callCount(a, srv.url(path)), 3);
    assert.equal(await callCount(b, srv.url(path)), 3);
  });

  test("budget: false never denies", async () => {
    const path = uniquePath("off");
    srv.script(path, [{ status: 503 }]);
    const rf = createRetryFetch({ ...QUICK, maxAttempts: 40, budget: false });
    assert.equal(await callCount(rf, srv.url(path)), 40);
    assert.equal(await callCount(rf, srv.url(path)), 40);
    assert.equal(rf.stats().budgetDenials, 0);
  });
});

describe("§6 defaults { capacity 500, retryCost 5, timeoutCost 10, successRefund 1 }", () => {
  test("capacity 500 at retryCost 5: 100 retries, then denial; successRefund 1", async () => {
    const path = uniquePath("default-status");
    const good = uniquePath("default-good");
    srv.script(path, [{ status: 503 }]);
    const rf = createRetryFetch({ ...QUICK, maxAttempts: 1000 });
    assert.equal(await callCount(rf, srv.url(path)), 101);
    assert.equal(rf.stats().budgetDenials, 1);
    await succeed(rf, srv.url(good), 5);
    assert.equal(await callCount(rf, srv.url(path)), 2, "five refunds of 1 pay one retry of 5");
  });

  test("timeoutCost 10 for network errors: 50 retries from a full bucket", async () => {
    const path = uniquePath("default-net");
    srv.script(path, [{ reset: true }]);
    const rf = createRetryFetch({ ...QUICK, maxAttempts: 1000 });
    await assert.rejects(rf(srv.url(path)), TypeError);
    await assertNoMoreRequests(srv, path, 51, 50);
  });
});

describe("retry cap (README: scenario table): on with the default budget, for busy keys only", () => {
  test("a busy key's retries stay within ratio of its calls; the denial counts in budgetDenials", async () => {
    const good = uniquePath("cap-good");
    const path = uniquePath("cap-503");
    srv.script(path, [{ status: 503 }]);
    const rf = createRetryFetch({ ...QUICK, maxAttempts: 2, retryCap: { minimumCalls: 10, ratio: 0.2 } });
    await succeed(rf, srv.url(good), 10);
    // 11 calls allow 2.2 retries, 12 allow 2.4: two calls retry; the third (13 calls, 3 > 2.6) does not.
    assert.equal(await callCount(rf, srv.url(path)), 2);
    assert.equal(await callCount(rf, srv.url(path)), 2);
    assert.equal(await callCount(rf, srv.url(path)), 1);
    assert.equal(rf.stats().budgetDenials, 1);
  });

  test("options that set budget (and not retryCap) get the bucket alone; retryCap: false too", async () => {
    for (const options of [{ budget: { capacity: 500 } }, { retryCap: false }]) {
      const good = uniquePath("nocap-good");
      const path = uniquePath("nocap-503");
      srv.script(path, [{ status: 503 }]);
      const rf = createRetryFetch({ ...QUICK, maxAttempts: 2, ...options });
      await succeed(rf, srv.url(good), 100);
      // 120 calls, 20 retries: past the default cap's 10%, within the bucket (20 x 5 of 500).
      for (let i = 0; i < 20; i++) assert.equal(await callCount(rf, srv.url(path)), 2);
      assert.equal(rf.stats().budgetDenials, 0);
    }
    assert.throws(() => createRetryFetch({ retryCap: { ratio: 2 } }), (e) => e instanceof TypeError && /retryCap\.ratio/.test(e.message));
  });
});
