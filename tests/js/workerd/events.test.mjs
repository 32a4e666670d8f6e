// SPEC §8 in workerd (Miniflare): onBreaker, storm + onStorm, onAttempt and stats().storms, in
// one isolate whose instances persist across requests; callbacks that throw break nothing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { harnessCall, harnessGet, uniquePath, sleep, useWorkerAndFaultServer } from "../runtimes.mjs";

const { srv, mf } = useWorkerAndFaultServer("tests/js/workerd/fixtures/entry-pkg.mjs");

const DEFAULTS = {
  baseDelayMs: 1, jitter: "none", maxAttempts: 2, budget: false,
  breaker: { minimumRequests: 4, failureRatio: 0.5, windowMs: 10000, openMs: 200 },
  storm: { ratio: 0.2, windowMs: 60000, minimumAttempts: 4 },
};

for (const mode of [true, "throw"]) {
  test(`breaker, storm and attempt events as they happen (callbacks ${mode === "throw" ? "that throw" : "that record"})`, async () => {
    const instance = `events-${mode}`;
    const defaults = { ...DEFAULTS, recordEvents: mode };
    const p = uniquePath("events");
    srv.script(p, [{ status: 503 }, { status: 503 }, { status: 503 }, { status: 503 }, { status: 200, body: "ok" }]);
    for (let i = 0; i < 2; i++) {
      const r = await harnessCall(mf, { url: srv.url(p), instance, defaults });
      assert.equal(r.status, 503, JSON.stringify(r));
    }
    const refused = await harnessCall(mf, { url: srv.url(p), instance, defaults });
    assert.equal(refused.error && refused.error.isCircuitOpenError, true, JSON.stringify(refused));
    await sleep(250);
    const ok = await harnessCall(mf, { url: srv.url(p), instance, defaults });
    assert.equal(ok.status, 200, JSON.stringify(ok));

    const events = await harnessGet(mf, "events", { instance });
    const breaker = events.filter((e) => e.type === "breaker");
    assert.deepEqual(breaker.map((e) => e.state), ["open", "half-open", "closed"]);
    assert.ok(breaker.every((e) => e.key === srv.origin && typeof e.at === "number"));
    const storms = events.filter((e) => e.type === "storm");
    assert.equal(storms.length, 1, JSON.stringify(storms));
    assert.equal(storms[0].state, "storm");
    assert.equal(storms[0].windowMs, 60000);
    assert.ok(storms[0].retryRatio > 0.2);
    const attempts = events.filter((e) => e.type === "attempt");
    assert.deepEqual(attempts.map((e) => [e.attempt, e.status]), [[1, 503], [2, 503], [1, 503], [2, 503], [1, 200]]);
    assert.ok(attempts.every((e) => e.hedge === false && e.url === srv.url(p) && e.durationMs >= 0));
    const stats = await harnessGet(mf, "stats", { instance });
    assert.equal(stats.storms, 1);
    assert.equal(stats.hedges, 0);
  });
}
