// The soak, short: 5,000 calls in one workerd isolate (Miniflare) through the fault server,
// over 2,000 breaker keys (the registry holds 1,000), with 503s, 429s with Retry-After 0,
// resets, hangs cut by a 50 ms attempt timeout and flaky paths (see soak-runner.mjs for the
// set-up and why the keys come from a query parameter). The long version, with figures:
// `node scripts/soak.mjs --calls 100000`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { runSoak, formatFigures } from "./soak-runner.mjs";

const CALLS = 5000;
const KEYS = 2000;
const CONCURRENCY = 64;

test(`workerd soak: ${CALLS} calls over ${KEYS} breaker keys all settle, memory stays flat`, { timeout: 120000 }, async (t) => {
  const f = await runSoak({ calls: CALLS, keys: KEYS, batch: 1250, concurrency: CONCURRENCY, heap: true });
  for (const line of formatFigures(f).split("\n")) t.diagnostic(line);

  assert.equal(f.settled, CALLS, "every call settled (resolved or rejected)");
  assert.equal(f.unhandledRejections, 0, `no unhandled rejection in the isolate: ${f.lastUnhandled}`);
  assert.deepEqual(f.runtimeUncaughtLines, [], "nothing uncaught in workerd's output");

  // Every kind of outcome of the mix really happened.
  for (const status of ["200", "429", "503"]) assert.ok(f.responses[status] > 0, `some calls resolved with ${status}`);
  assert.ok(f.errors.TimeoutError > 0, "hangs were cut by the attempt timeout");
  assert.ok(f.errors.Error > 0, "resets rejected with workerd's network error");
  assert.ok(f.errors.CircuitOpenError > 0, "hot keys' breakers opened and refused calls");
  const known = new Set(["TimeoutError", "Error", "CircuitOpenError"]);
  for (const [name, n] of Object.entries(f.errors)) {
    assert.ok(known.has(name), `unexpected rejection ${name} x${n}: ${f.errorExamples[name]}`);
  }
  assert.equal(f.distinctKeys, KEYS, "the calls used every key: twice what the registry holds");

  // The stats agree with what was done.
  const s = f.stats;
  assert.equal(s.calls, CALLS);
  assert.equal(s.successes + s.failures, CALLS);
  assert.equal(s.attempts, f.fetches, "stats.attempts counts every fetch made");
  assert.equal(s.attempts, CALLS - s.breakerRejections + s.retries);
  assert.equal(s.breakerRejections, f.errors.CircuitOpenError);
  assert.ok(f.serverRequests <= s.attempts, `the server saw ${f.serverRequests} of ${s.attempts} attempts`);
  assert.ok(f.serverRequests >= s.attempts * 0.95, `the server saw ${f.serverRequests} of ${s.attempts} attempts`);
  assert.ok(s.retryAfterWaits > 0, "Retry-After: 0 was honoured");

  // Connections: the pool stays about as large as the calls in flight (hung ones are closed
  // when their attempt times out), and nothing is left but idle keep-alive ones.
  assert.ok(f.maxOpenConnections <= 2 * CONCURRENCY, `at most ${f.maxOpenConnections} connections open at once`);
  assert.ok(f.openConnectionsAtEnd <= CONCURRENCY, `${f.openConnectionsAtEnd} connections open at the end`);

  // wasm memory: flat once the registry is full (it grows in 64 KiB pages and never shrinks,
  // so flat means not one more page from the 50% mark to the end).
  const mid = f.checkpoints.find((c) => c.pct === 50);
  const end = f.checkpoints.find((c) => c.pct === 100);
  assert.ok(mid && end, "memory was read at 50% and 100%");
  assert.equal(end.wasmBytes, mid.wasmBytes, `wasm memory ${mid.wasmBytes} B at 50%, ${end.wasmBytes} B at 100%`);
  assert.ok(end.wasmBytes <= 4 * 1048576, `wasm memory ${end.wasmBytes} B`);
  // The isolate's JS heap after a GC (read through the inspector when workerd answers).
  if (mid.heapUsed !== undefined && end.heapUsed !== undefined) {
    assert.ok(end.heapUsed <= mid.heapUsed + 2 * 1048576, `JS heap after GC ${mid.heapUsed} B at 50%, ${end.heapUsed} B at 100%`);
  } else {
    t.diagnostic("the isolate's JS heap could not be read (inspector): not checked");
  }
});
