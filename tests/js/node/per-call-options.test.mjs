// Per-call options as code writes them (a fresh object on every call) and the slots calls
// run in: driver.js keeps the bytes of recent options and opens a call with the place where
// the core keeps their checked policy (kept-options.js); a 2xx closes the call's slot in the
// core with its report. These tests count what the server saw, so a call opened with another
// call's policy, or a slot closed twice, shows.
import assert from "node:assert/strict";
import { createRetryFetch } from "../../../pkg/node.js";
import { test, uniquePath, sleep, useFaultServer } from "./_helpers.mjs";

const srv = useFaultServer();

// One call with `retry` to an always-503 path: how many attempts the server saw.
async function attemptsWith(rf, retry) {
  const path = uniquePath("attempts");
  srv.script(path, [{ status: 503 }]);
  const res = await rf(srv.url(path), { retry });
  await res.arrayBuffer();
  assert.equal(res.status, 503);
  return srv.requests(path).length;
}

const QUIET = { breaker: false, budget: false, retryCap: false, storm: false };

test("inline options keep their own policy through more distinct sets than are kept (8), in any order", async () => {
  const rf = createRetryFetch(QUIET);
  // 11 distinct sets, then again in another order: the first ones were replaced meanwhile.
  const counts = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const order = [...counts, 3, 11, 1, 7, 2, 10, 9, 4, 8, 6, 5, 5, 11, 1];
  for (const n of order) {
    assert.equal(await attemptsWith(rf, { maxAttempts: n, baseDelayMs: 0 }), n, `maxAttempts ${n}`);
  }
});

test("a refused set between kept ones rejects naming the option and disturbs none of them", async () => {
  const rf = createRetryFetch(QUIET);
  assert.equal(await attemptsWith(rf, { maxAttempts: 2, baseDelayMs: 0 }), 2);
  assert.equal(await attemptsWith(rf, { maxAttempts: 3, baseDelayMs: 0 }), 3);
  const path = uniquePath("refused");
  await assert.rejects(rf(srv.url(path), { retry: { maxAttempts: 0, baseDelayMs: 0 } }), (e) => e instanceof TypeError && /"maxAttempts"/.test(e.message));
  assert.equal(srv.requests(path).length, 0, "nothing sent");
  // The same refused set again is refused again (a refusal is kept nowhere).
  await assert.rejects(rf(srv.url(path), { retry: { maxAttempts: 0, baseDelayMs: 0 } }), TypeError);
  assert.equal(await attemptsWith(rf, { maxAttempts: 4, baseDelayMs: 0 }), 4);
  assert.equal(await attemptsWith(rf, { maxAttempts: 2, baseDelayMs: 0 }), 2);
  assert.equal(await attemptsWith(rf, { maxAttempts: 3, baseDelayMs: 0 }), 3);
});

test("one options object changed between calls is read afresh each call", async () => {
  const rf = createRetryFetch(QUIET);
  const options = { maxAttempts: 2, baseDelayMs: 0 };
  assert.equal(await attemptsWith(rf, options), 2);
  options.maxAttempts = 4;
  assert.equal(await attemptsWith(rf, options), 4);
  options.retryOn = [500];
  assert.equal(await attemptsWith(rf, options), 1, "503 is no longer retried");
});

test("options with a list or an object inside are told apart by what is inside", async () => {
  const rf = createRetryFetch(QUIET);
  for (const [retryOn, expected] of [[[503], 3], [[500], 1], [[503], 3], [[502, 503], 3], [[502], 1]]) {
    assert.equal(await attemptsWith(rf, { maxAttempts: 3, baseDelayMs: 0, retryOn }), expected, `retryOn ${retryOn}`);
  }
  const withBreaker = (maxAttempts) => ({ maxAttempts, baseDelayMs: 0, breaker: { failureRatio: 0.9 } });
  assert.equal(await attemptsWith(rf, withBreaker(2)), 2);
  assert.equal(await attemptsWith(rf, withBreaker(3)), 3);
  assert.equal(await attemptsWith(rf, withBreaker(2)), 2);
});

test("the same options with other callbacks call the callbacks of their own call", async () => {
  const rf = createRetryFetch(QUIET);
  const seen = [];
  for (const name of ["a", "b", "c"]) {
    await attemptsWith(rf, { maxAttempts: 2, baseDelayMs: 0, onRetry: () => seen.push(name) });
  }
  assert.deepEqual(seen, ["a", "b", "c"]);
  // And the same bytes with no callback at all: none of theirs is called.
  await attemptsWith(rf, { maxAttempts: 2, baseDelayMs: 0 });
  assert.deepEqual(seen, ["a", "b", "c"]);
});

test("a call started by onBreaker as a 2xx closes the breaker runs in its own slot to the end", async () => {
  const inner = [];
  let rf;
  rf = createRetryFetch({
    maxAttempts: 1, budget: false,
    breaker: { minimumRequests: 2, failureRatio: 0.5, windowMs: 10000, openMs: 100, maxOpenMs: 100 },
    // The 2xx that closes the breaker has just closed its own call's slot in the core when this
    // runs: the call started here may take that slot, and must keep it.
    onBreaker: (ev) => {
      if (ev.state === "closed") inner.push(rf(srv.url(innerPath), { retry: { maxAttempts: 3, baseDelayMs: 0 } }));
    },
  });
  const path = uniquePath("probe");
  const innerPath = `${uniquePath("other")}`;
  srv.script(path, [{ status: 503 }, { status: 503 }, { status: 200, body: "probe" }]);
  srv.script(innerPath, [{ status: 503 }, { status: 200, body: "inner" }]);
  for (let i = 0; i < 2; i++) await (await rf(srv.url(path))).arrayBuffer();
  assert.equal(rf.breaker(srv.origin).state, "open");
  await sleep(150);
  const probe = await rf(srv.url(path));
  assert.equal(await probe.text(), "probe");
  assert.equal(inner.length, 1, "onBreaker saw the breaker close");
  const res = await inner[0];
  assert.equal(await res.text(), "inner", "the inner call retried its 503 in its own slot");
  assert.equal(srv.requests(innerPath).length, 2);
  assert.equal(rf.breaker(srv.origin).state, "closed");
  const stats = rf.stats();
  assert.equal(stats.calls, 4);
  assert.equal(stats.successes, 2);
});
