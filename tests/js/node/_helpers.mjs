// Shared by the Node suite (not a test file itself: node --test only runs *.test.mjs here).
import assert from "node:assert/strict";
import * as nodeTest from "node:test";
import { performance } from "node:perf_hooks";
import { startFaultServer, refusedOrigin } from "../fault-server.mjs";

export { startFaultServer, refusedOrigin, performance };

// node:test's test() with a default timeout, so a package that never settles a call fails the
// test instead of hanging the run (the file's after hook then closes the server).
export const TEST_TIMEOUT_MS = 20000;
export function test(name, options, fn) {
  if (typeof options === "function") [fn, options] = [options, {}];
  return nodeTest.test(name, { timeout: TEST_TIMEOUT_MS, ...options }, fn);
}
export const { describe, before, after, beforeEach, afterEach } = nodeTest;

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Polls `pred` every 10 ms for at most `timeoutMs`; returns whether it became true.
export async function until(pred, timeoutMs = 2000) {
  const end = performance.now() + timeoutMs;
  for (let i = 0; i < 10000 && performance.now() < end; i++) {
    if (await pred()) return true;
    await sleep(10);
  }
  return Boolean(await pred());
}

// A unique path per use, so tests never share a script.
let counter = 0;
export const uniquePath = (name = "p") => `/${name}-${++counter}-${Math.random().toString(36).slice(2, 8)}`;

// Options that make retries fast and reproducible, with breaker and budget out of the way.
export const FAST = Object.freeze({ baseDelayMs: 1, jitter: "none", breaker: false, budget: false });

// Resolves with how long `promise` took to settle (ms) and its outcome.
export async function timed(promise) {
  const t0 = performance.now();
  try {
    const value = await promise;
    return { ms: performance.now() - t0, value, error: undefined, ok: true };
  } catch (error) {
    return { ms: performance.now() - t0, value: undefined, error, ok: false };
  }
}

export function near(actual, expected, tolerance, message) {
  assert.ok(
    Math.abs(actual - expected) <= tolerance,
    `${message || "value"}: expected ${expected} ± ${tolerance}, got ${actual}`,
  );
}

export function between(actual, lo, hi, message) {
  assert.ok(actual >= lo && actual <= hi, `${message || "value"}: expected in [${lo}, ${hi}], got ${actual}`);
}

// Waits until the server has recorded `n` requests to `path` (bounded), then returns them.
export async function requestsAfter(srv, path, n, timeoutMs = 2000) {
  await until(() => srv.requests(path).length >= n, timeoutMs);
  return srv.requests(path);
}

// After a call settles, makes sure no further request arrives for `path` (waits `ms`).
export async function assertNoMoreRequests(srv, path, count, ms = 150) {
  await sleep(ms);
  assert.equal(srv.requests(path).length, count, `exactly ${count} request(s) reach the server at ${path}`);
}

// One fault server per test file, started before its tests, reset before each and closed
// after. The returned object stands for the server from the moment it is up.
export function useFaultServer(options) {
  let server = null;
  nodeTest.before(async () => {
    server = await startFaultServer(options);
  });
  nodeTest.after(async () => {
    if (server) await server.close();
  });
  nodeTest.beforeEach(() => server.reset());
  return new Proxy(
    {},
    {
      get(_, name) {
        const value = server[name];
        return typeof value === "function" ? value.bind(server) : value;
      },
    },
  );
}
