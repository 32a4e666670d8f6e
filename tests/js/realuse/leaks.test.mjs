// A long-running process with one AbortSignal for every call (as shutdown handling does):
// 20,000 calls per path must leave the signal's listeners and the heap flat (issue 13,
// items 5 and 6). Calls go through a stub fetch so each path runs in a second or two; the
// paths are the driver's, the same with a real fetch.
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import v8 from "node:v8";
import vm from "node:vm";
import { createRetryFetch } from "../../../pkg/node.js";
import { test, describe, sleep } from "../node/_helpers.mjs";

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc");

const CALLS = 20000;
const WARMUP = 2000;
const CONCURRENCY = 50;
const LEAK_TEST_TIMEOUT_MS = 120000;

async function collect() {
  // Twice with turns between, so FinalizationRegistry callbacks get to run.
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(5);
  }
  return process.memoryUsage().heapUsed;
}

// Stub fetches: an answer per attempt, with the body a real fetch would give.
const ok = async () => new Response("ok");
// Fails each call's first attempt (calls have URLs of their own), answers its retry.
function failingFirst(makeFailure) {
  const failedOnce = new Set(); // calls between their two attempts: at most CONCURRENCY
  return async (input) => {
    const url = String(input);
    if (failedOnce.delete(url)) return new Response("ok");
    failedOnce.add(url);
    return makeFailure();
  };
}
let sequence = 0;

const payload = new Uint8Array(4096).fill(7);
const streamOf = () => new ReadableStream({ start(c) { c.enqueue(payload); c.close(); } });

const PATHS = [
  ["attemptTimeoutMs", { fetch: ok, attemptTimeoutMs: 5000 }, () => ({})],
  ["timeoutMs", { fetch: ok, timeoutMs: 5000 }, () => ({})],
  ["retry: false with an attempt timeout", { fetch: ok, attemptTimeoutMs: 5000 }, () => ({ retry: false })],
  ["a retried 503 (attempt timeout set)", { fetch: failingFirst(() => new Response("busy", { status: 503 })), attemptTimeoutMs: 5000 }, () => ({})],
  ["a retried network error", { fetch: failingFirst(() => Promise.reject(new TypeError("fetch failed"))) }, () => ({})],
  ["a stream body (4 KiB)", { fetch: ok, timeoutMs: 5000 }, () => ({ method: "PUT", body: streamOf(), duplex: "half" })],
  // Options written inline: the same set each call (kept, matched by its fields), and one of
  // 997 sets each call (nearly every call checks a new set and replaces a kept one).
  ["per-call options, the same set each call", { fetch: ok }, () => ({ retry: { maxAttempts: 2, baseDelayMs: 0 } })],
  ["per-call options, a new set nearly every call", { fetch: ok }, () => ({ retry: { maxAttempts: 2, timeoutMs: 1000 + (sequence % 997), breaker: { openMs: 100 } } })],
  ["an async-iterable body (4 KiB)", { fetch: ok }, () => ({ method: "PUT", body: (async function* () { yield payload; })(), duplex: "half" })],
];

describe("one long-lived signal, 20,000 calls per path, 50 at a time (item 5)", () => {
  for (const [name, options, makeInit] of PATHS) {
    test(`${name}: listeners and heap flat`, { timeout: LEAK_TEST_TIMEOUT_MS }, async () => {
      const warnings = [];
      const onWarning = (w) => warnings.push(w.name);
      process.on("warning", onWarning);
      const signal = new AbortController().signal; // never aborts, lives for the whole run
      const rf = createRetryFetch({ baseDelayMs: 0, jitter: "none", breaker: false, budget: false, ...options });
      let maxListeners = 0;
      // Calls go in waves of CONCURRENCY, as requests to a server do.
      const one = async () => {
        const res = await rf(`http://127.0.0.1:9/leak?call=${++sequence}`, { ...makeInit(), signal });
        await res.arrayBuffer();
      };
      const run = async (n) => {
        for (let i = 0; i < n; i += CONCURRENCY) {
          const wave = Array.from({ length: CONCURRENCY }, one);
          maxListeners = Math.max(maxListeners, getEventListeners(signal, "abort").length);
          await Promise.all(wave);
        }
      };
      try {
        await run(WARMUP);
        const before = await collect();
        await run(CALLS - WARMUP);
        const after = await collect();
        const listeners = getEventListeners(signal, "abort").length;
        assert.ok(maxListeners <= 1, `at most one listener on the signal while calls run, saw ${maxListeners}`);
        assert.equal(listeners, 0, "no listener left on the signal once the responses are gone");
        const grownKiB = (after - before) / 1024;
        assert.ok(grownKiB < 1024, `heap grew ${grownKiB.toFixed(0)} KiB over ${CALLS - WARMUP} calls`);
        assert.deepEqual(warnings.filter((w) => w === "MaxListenersExceededWarning"), []);
      } finally {
        process.off("warning", onWarning);
      }
    });
  }

  test("a response the caller keeps still aborts its body when the signal does", async () => {
    const controller = new AbortController();
    const rf = createRetryFetch({ fetch: (input, init) => fetchWithSignalBody(init.signal), attemptTimeoutMs: 5000 });
    const res = await rf("http://127.0.0.1:9/keep", { signal: controller.signal });
    const reading = res.text();
    controller.abort(new Error("shut down"));
    await assert.rejects(reading, (e) => e && e.message === "shut down");
  });
});

// A response whose body errors with the signal's reason when its signal aborts, as fetch's do.
function fetchWithSignalBody(signal) {
  const body = new ReadableStream({
    start(c) {
      signal.addEventListener("abort", () => c.error(signal.reason), { once: true });
    },
  });
  return Promise.resolve(new Response(body));
}

test("a network error does not copy the request body (item 6)", async () => {
  const RealRequest = globalThis.Request;
  let bodiesCopied = 0;
  globalThis.Request = new Proxy(RealRequest, {
    construct(target, args) {
      if (args[1] && args[1].body != null) bodiesCopied++;
      return Reflect.construct(target, args);
    },
  });
  try {
    const big = new Uint8Array(8 * 1024 * 1024);
    let attempts = 0;
    const rf = createRetryFetch({
      baseDelayMs: 0, breaker: false, budget: false,
      fetch: async () => (attempts++ < 2 ? Promise.reject(new TypeError("fetch failed")) : new Response("ok")),
    });
    const res = await rf("http://127.0.0.1:9/big", { method: "PUT", body: big });
    assert.equal(res.status, 200);
    assert.equal(attempts, 3);
    assert.equal(bodiesCopied, 0, "no Request was built with the body to classify the error");
  } finally {
    globalThis.Request = RealRequest;
  }
});
