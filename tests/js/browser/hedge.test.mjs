// SPEC §9 in headless Chromium: hedged requests from a page (the unbundled browser entry)
// against the fault server that serves it.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startFaultServer } from "../fault-server.mjs";
import { PKG, launchChromium, tempDir, uniquePath, until } from "../runtimes.mjs";

const fixtures = fileURLToPath(new URL("./fixtures/", import.meta.url));
let tmp, srv, chromium, page;

before(async () => {
  tmp = tempDir("browser-hedge");
  fs.symlinkSync(PKG, path.join(tmp.dir, "pkg"), "dir");
  fs.copyFileSync(path.join(fixtures, "unbundled.html"), path.join(tmp.dir, "unbundled.html"));
  srv = await startFaultServer({ staticDir: tmp.dir });
  chromium = await launchChromium();
  page = await chromium.newPage(srv.url("/unbundled.html"));
  await page.waitForFunction(() => window.edgeRetry && document.querySelector("#status").textContent === "ready", null, { timeout: 10000 });
});
after(async () => {
  if (chromium) await chromium.close();
  if (srv) await srv.close();
  if (tmp) tmp.remove();
});

// One hedged call in the page: what it resolved with, its onAttempt events and the stats.
function hedgedCall(spec) {
  return page.evaluate(async ({ url, defaults, init = {}, abortAfterMs }) => {
    const attempts = [];
    const rf = window.edgeRetry.createRetryFetch({ ...defaults, onAttempt: (ev) => attempts.push({ attempt: ev.attempt, hedge: ev.hedge, status: ev.status }) });
    const t0 = performance.now();
    const requestInit = { ...init };
    if (abortAfterMs !== undefined) requestInit.signal = AbortSignal.timeout(abortAfterMs);
    try {
      const res = await rf(url, requestInit);
      return { status: res.status, body: await res.text(), ms: performance.now() - t0, attempts, stats: rf.stats() };
    } catch (e) {
      return { error: { name: e.name, message: e.message }, ms: performance.now() - t0, attempts, stats: rf.stats() };
    }
  }, spec);
}

const HEDGE = { hedge: { delayMs: 30 }, breaker: false };

test("the hedge wins and the loser's connection closes", async () => {
  const p = uniquePath("b-hedge");
  srv.script(p, [{ status: 200, body: "slow", delayMs: 3000 }, { status: 200, body: "fast" }]);
  const r = await hedgedCall({ url: srv.url(p), defaults: HEDGE });
  assert.equal(r.body, "fast", JSON.stringify(r));
  assert.ok(r.ms < 1500, `answered by the hedge (${r.ms} ms)`);
  assert.deepEqual(r.attempts, [{ attempt: 2, hedge: true, status: 200 }]);
  assert.equal(r.stats.hedges, 1);
  assert.ok(await until(() => srv.requests(p)[0]?.closedEarly, 3000), "the server saw the slow request's connection close");
});

test("no hedge for a fast answer, an unkeyed POST, an empty budget or maxAttempts: 1", async () => {
  const fast = uniquePath("b-fast");
  srv.script(fast, [{ status: 200, body: "ok" }]);
  // A hedge delay well past a loopback answer, so that a slow moment of the machine cannot
  // make the fast answer late (with 30 ms, CI once saw it miss).
  assert.equal((await hedgedCall({ url: srv.url(fast), defaults: { ...HEDGE, hedge: { delayMs: 500 } } })).stats.hedges, 0);
  for (const [name, defaults, init] of [
    ["post", HEDGE, { method: "POST", body: "x" }],
    ["budget", { ...HEDGE, budget: { capacity: 0 } }, {}],
    ["one", { ...HEDGE, maxAttempts: 1 }, {}],
  ]) {
    const p = uniquePath(`b-${name}`);
    srv.script(p, [{ status: 200, body: "slow", delayMs: 200 }, { status: 200, body: "fast" }]);
    const r = await hedgedCall({ url: srv.url(p), defaults, init });
    assert.equal(r.body, "slow", `${name}: ${JSON.stringify(r)}`);
    assert.equal(srv.requests(p).length, 1, name);
  }
});

test("abort and timeoutMs stop every attempt in flight", async () => {
  const p = uniquePath("b-deadline");
  srv.script(p, [{ status: 200, hang: true }]);
  const r = await hedgedCall({ url: srv.url(p), defaults: { ...HEDGE, timeoutMs: 300, budget: false } });
  assert.equal(r.error?.name, "TimeoutError", JSON.stringify(r));
  assert.equal(srv.requests(p).length, 2);
  assert.ok(await until(() => srv.requests(p).every((q) => q.closedEarly), 3000), "both connections closed");
  const a = uniquePath("b-abort");
  srv.script(a, [{ status: 200, hang: true }]);
  const r2 = await hedgedCall({ url: srv.url(a), defaults: { hedge: { delayMs: 20, maxHedges: 2 }, maxAttempts: 5, breaker: false, budget: false }, abortAfterMs: 300 });
  assert.equal(r2.error?.name, "TimeoutError", JSON.stringify(r2));
  assert.equal(srv.requests(a).length, 3);
  assert.ok(await until(() => srv.requests(a).every((q) => q.closedEarly), 3000), "every connection closed");
  assert.deepEqual(chromium.errors, []);
});
