// SPEC §1 (surface) and §8 (presets), against the built package on a real local server.
import assert from "node:assert/strict";
import { retryFetch, createRetryFetch, presets, CircuitOpenError } from "../../../pkg/node.js";
import {
  test,
  before,
  after,
  refusedOrigin,
  uniquePath,
  FAST,
  assertNoMoreRequests,
  timed,
  useFaultServer,
} from "./_helpers.mjs";

const srv = useFaultServer();

test("§1 exports: retryFetch, createRetryFetch, presets, CircuitOpenError", () => {
  assert.equal(typeof retryFetch, "function");
  assert.equal(typeof retryFetch.stats, "function");
  assert.equal(typeof retryFetch.breaker, "function");
  assert.equal(typeof createRetryFetch, "function");
  assert.equal(typeof presets, "object");
  assert.equal(typeof CircuitOpenError, "function");
  const e = new CircuitOpenError("k", 5);
  assert.ok(e instanceof Error);
  assert.equal(e.name, "CircuitOpenError");
});

test("§1 createRetryFetch returns a callable with .stats() and .breaker(key)", async () => {
  const rf = createRetryFetch();
  assert.equal(typeof rf, "function");
  assert.equal(typeof rf.stats, "function");
  assert.equal(typeof rf.breaker, "function");
  const s = rf.stats();
  for (const k of ["calls", "attempts", "retries", "successes", "failures", "breakerRejections", "budgetDenials", "retryAfterWaits"]) {
    assert.equal(s[k], 0, `fresh stats.${k}`);
  }
  assert.equal(typeof s.latencyMs, "object");
  for (const k of ["p50", "p90", "p99"]) assert.equal(typeof s.latencyMs[k], "number", `latencyMs.${k}`);
  const b = rf.breaker(srv.origin);
  assert.equal(b.state, "closed");
  assert.equal(b.failures, 0);
  assert.equal(b.successes, 0);
});

test("§1 the default instance behaves like fetch for a 200 (status, headers, body, method, request headers)", async () => {
  const path = uniquePath("plain");
  srv.script(path, [{ status: 200, body: "hello", headers: { "x-thing": "1" } }]);
  const before = retryFetch.stats();
  const res = await retryFetch(srv.url(path) + "?q=1", { headers: { "x-client": "yes" } });
  assert.ok(res instanceof Response);
  assert.equal(res.status, 200);
  assert.equal(res.ok, true);
  assert.equal(res.headers.get("x-thing"), "1");
  assert.equal(await res.text(), "hello");
  const reqs = srv.requests(path);
  assert.equal(reqs.length, 1);
  assert.equal(reqs[0].method, "GET");
  assert.equal(reqs[0].url, path + "?q=1");
  assert.equal(reqs[0].headers["x-client"], "yes");
  const after = retryFetch.stats();
  assert.equal(after.calls, before.calls + 1);
  assert.equal(after.attempts, before.attempts + 1);
  assert.equal(after.successes, before.successes + 1);
  assert.equal(retryFetch.breaker(srv.origin).state, "closed");
});

test("§1 input may be a URL object or a Request", async () => {
  const path = uniquePath("inputs");
  const r1 = await retryFetch(new URL(srv.url(path)));
  assert.equal(r1.status, 200);
  const r2 = await retryFetch(new Request(srv.url(path), { method: "DELETE", headers: { "x-r": "2" } }));
  assert.equal(r2.status, 200);
  const reqs = srv.requests(path);
  assert.equal(reqs.length, 2);
  assert.equal(reqs[1].method, "DELETE");
  assert.equal(reqs[1].headers["x-r"], "2");
});

test("§1 createRetryFetch instances have their own stats, separate from the default instance", async () => {
  const path = uniquePath("own");
  const a = createRetryFetch();
  const b = createRetryFetch();
  const defBefore = retryFetch.stats().calls;
  await (await a(srv.url(path))).text();
  await (await a(srv.url(path))).text();
  await (await b(srv.url(path))).text();
  assert.equal(a.stats().calls, 2);
  assert.equal(b.stats().calls, 1);
  assert.equal(retryFetch.stats().calls, defBefore);
});

test("§1 a final 503 after the attempts are spent RESOLVES as a 503 (body readable)", async () => {
  const path = uniquePath("final503");
  srv.script(path, [{ status: 503, body: "down" }]);
  const rf = createRetryFetch({ ...FAST, maxAttempts: 3 });
  const res = await rf(srv.url(path));
  assert.equal(res.status, 503);
  assert.equal(await res.text(), "down");
  assert.equal(srv.requests(path).length, 3);
});

test("§1 a network error after the attempts are spent rejects with a TypeError (socket reset)", async () => {
  const path = uniquePath("reset");
  srv.script(path, [{ reset: true }]);
  const rf = createRetryFetch({ ...FAST, maxAttempts: 3 });
  await assert.rejects(rf(srv.url(path)), (e) => e instanceof TypeError);
  await assertNoMoreRequests(srv, path, 3, 50);
});

test("§1 a network error after the attempts are spent rejects with a TypeError (connection refused)", async () => {
  const origin = await refusedOrigin();
  const rf = createRetryFetch({ ...FAST, maxAttempts: 2 });
  await assert.rejects(rf(origin + "/x"), (e) => e instanceof TypeError);
  assert.equal(rf.stats().attempts, 2);
});

test("§1 a recovery (503, 503, 200) resolves with the 200", async () => {
  const path = uniquePath("recover");
  srv.script(path, [{ status: 503 }, { status: 503 }, { status: 200, body: "fine" }]);
  const rf = createRetryFetch({ ...FAST });
  const res = await rf(srv.url(path));
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "fine");
  assert.equal(srv.requests(path).length, 3);
});

test("§1 retry: false sends exactly one attempt (503 resolves, network error rejects)", async () => {
  const p1 = uniquePath("nofail");
  srv.script(p1, [{ status: 503 }, { status: 200 }]);
  const rf = createRetryFetch({ ...FAST, maxAttempts: 5 });
  const res = await rf(srv.url(p1), { retry: false });
  assert.equal(res.status, 503);
  await assertNoMoreRequests(srv, p1, 1, 50);

  const p2 = uniquePath("nofail-reset");
  srv.script(p2, [{ reset: true }, { status: 200 }]);
  await assert.rejects(rf(srv.url(p2), { retry: false }), (e) => e instanceof TypeError);
  await assertNoMoreRequests(srv, p2, 1, 50);

  // the default instance too
  const p3 = uniquePath("nofail-default");
  srv.script(p3, [{ status: 503 }, { status: 200 }]);
  const r3 = await retryFetch(srv.url(p3), { retry: false });
  assert.equal(r3.status, 503);
  await assertNoMoreRequests(srv, p3, 1, 50);
});

test("§1 createRetryFetch({ fetch }) sends every attempt through the given fetch", async () => {
  const path = uniquePath("customfetch");
  srv.script(path, [{ status: 503 }, { status: 200 }]);
  const seen = [];
  const rf = createRetryFetch({
    ...FAST,
    fetch: (input, init) => {
      seen.push(typeof input === "string" ? input : input.url);
      return fetch(input, init);
    },
  });
  const res = await rf(srv.url(path));
  assert.equal(res.status, 200);
  assert.equal(seen.length, 2);
  assert.ok(seen.every((u) => u === srv.url(path)));
});

test("§1 the default instance retries (defaults on): 503 then 200", async () => {
  const path = uniquePath("default-retry");
  srv.script(path, [{ status: 503 }, { status: 200 }]);
  // per-call options keep it fast; the default instance's defaults are SPEC §2's
  const res = await retryFetch(srv.url(path), { retry: { baseDelayMs: 1 } });
  assert.equal(res.status, 200);
  assert.equal(srv.requests(path).length, 2);
});

// ---- §8 presets ----

const TABLE = {
  database: [10, 1000, 3],
  fileUpload: [100, 60000, 10],
  apiGateway: [50, 5000, 5],
  messageQueue: [25, 2000, 4],
  mlTraining: [1000, 600000, 5],
  videoProcessing: [500, 300000, 8],
  awsStandard: [100, 20000, 2],
};

test("§8 presets hold the table's values (maxAttempts = max retries + 1)", () => {
  assert.deepEqual(Object.keys(presets).sort(), Object.keys(TABLE).sort());
  for (const [name, [base, max, retries]] of Object.entries(TABLE)) {
    const p = presets[name];
    assert.equal(p.baseDelayMs, base, `${name}.baseDelayMs`);
    assert.equal(p.maxDelayMs, max, `${name}.maxDelayMs`);
    assert.equal(p.maxAttempts, retries + 1, `${name}.maxAttempts`);
  }
  assert.equal(presets.awsStandard.jitter, "full", "awsStandard uses full jitter");
});

test("§8 a preset is usable as retry options: database sends 4 attempts", async () => {
  const path = uniquePath("preset-db");
  srv.script(path, [{ status: 503 }]);
  const rf = createRetryFetch({ breaker: false, budget: false });
  const { ms, value } = await timed(rf(srv.url(path), { retry: presets.database }));
  assert.equal(value.status, 503);
  assert.equal(srv.requests(path).length, 4);
  // full jitter on 10, 20, 40 ms steps: at most 70 ms of waiting
  assert.ok(ms < 1500, `took ${ms} ms`);
});

test("§8 a preset can be spread and overridden", async () => {
  const path = uniquePath("preset-spread");
  srv.script(path, [{ status: 503 }]);
  const rf = createRetryFetch({ breaker: false, budget: false });
  const delays = [];
  const res = await rf(srv.url(path), {
    retry: { ...presets.apiGateway, baseDelayMs: 2, jitter: "none", onRetry: (ev) => delays.push(ev.delayMs) },
  });
  assert.equal(res.status, 503);
  assert.equal(srv.requests(path).length, 6, "apiGateway: 5 retries + 1");
  assert.deepEqual(delays, [2, 4, 8, 16, 32]);
});

test("§8 presets work as createRetryFetch defaults", async () => {
  const path = uniquePath("preset-defaults");
  srv.script(path, [{ status: 503 }]);
  const rf = createRetryFetch({ ...presets.messageQueue, baseDelayMs: 1, breaker: false, budget: false });
  const res = await rf(srv.url(path));
  assert.equal(res.status, 503);
  assert.equal(srv.requests(path).length, 5);
});
