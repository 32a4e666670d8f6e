// A server cannot make a call wait longer than its limits, grow memory without bound, or keep
// a connection open after its response is discarded; and a request the platform refuses gives
// the platform's own error after one attempt. Node (pkg/node.js) throughout; the connection
// and refusal checks also in workerd (Miniflare, tests/js/soak/fixtures/worker.mjs).
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import v8 from "node:v8";
import vm from "node:vm";
import { performance } from "node:perf_hooks";
import { createRetryFetch } from "../../../pkg/node.js";
import { sleep } from "../fault-server.mjs";
import { harnessCall, until, useWorkerAndFaultServer } from "../runtimes.mjs";

const T = { timeout: 30000 };
let counter = 0;
const uniquePath = (name) => `/${name}-${++counter}`;
const FAST = { baseDelayMs: 1, jitter: "none", breaker: false, budget: false };

const { srv, mf } = useWorkerAndFaultServer("tests/js/soak/fixtures/worker.mjs");

async function timed(promise) {
  const t0 = performance.now();
  try {
    return { ok: true, value: await promise, ms: performance.now() - t0 };
  } catch (error) {
    return { ok: false, error, ms: performance.now() - t0 };
  }
}

// -------------------------------------------------------------------------------------------
// No response makes a call wait longer than its limits
// -------------------------------------------------------------------------------------------

describe("waits are bounded", () => {
  test("Retry-After above maxRetryAfterMs (the default 60 s): the response comes back at once", T, async () => {
    const p = uniquePath("ra-over-max");
    srv.script(p, [{ status: 503, retryAfter: "61", body: "come back in a minute" }, { status: 200 }]);
    const rf = createRetryFetch({ breaker: false, budget: false });
    const r = await timed(rf(srv.url(p)));
    assert.equal(r.value.status, 503);
    assert.equal(await r.value.text(), "come back in a minute", "the body is the caller's, unread");
    assert.ok(r.ms < 1000, `returned after ${Math.round(r.ms)} ms`);
    await sleep(50);
    assert.equal(srv.requests(p).length, 1);
  });

  test("Retry-After that would end past timeoutMs: the response comes back at once", T, async () => {
    const p = uniquePath("ra-past-deadline");
    srv.script(p, [{ status: 429, retryAfter: "5" }, { status: 200 }]);
    const rf = createRetryFetch({ breaker: false, budget: false });
    const r = await timed(rf(srv.url(p), { retry: { timeoutMs: 3000 } }));
    assert.equal(r.value.status, 429);
    assert.ok(r.ms < 1000, `returned after ${Math.round(r.ms)} ms`);
    assert.equal(srv.requests(p).length, 1);
  });

  test("a body trickled slowly: the call resolves when the headers arrive, and the body is then the caller's", T, async () => {
    const p = uniquePath("trickle");
    // 32 KiB in 1 KiB chunks, 40 ms apart: about 1.3 s for the whole body.
    srv.script(p, [{ status: 200, bodyBytes: 32 * 1024, chunkBytes: 1024, slowBodyMs: 40 }]);
    const rf = createRetryFetch(FAST);
    const r = await timed(rf(srv.url(p), { retry: { attemptTimeoutMs: 300, timeoutMs: 600 } }));
    assert.equal(r.ok, true, r.error && r.error.message);
    assert.ok(r.ms < 400, `resolved after ${Math.round(r.ms)} ms, not after the whole body`);
    // Neither timeout outlives the call: reading the body past both does not abort it.
    const body = await timed(r.value.arrayBuffer());
    assert.equal(body.ok, true, body.error && body.error.message);
    assert.equal(body.value.byteLength, 32 * 1024);
    assert.ok(r.ms + body.ms > 900, "the body really took longer than timeoutMs");
    assert.equal(srv.requests(p).length, 1);
  });

  test("a hang is cut by attemptTimeoutMs, on every attempt, and the hung connections are closed", T, async () => {
    const p = uniquePath("hang");
    srv.script(p, [{ hang: true }]);
    const rf = createRetryFetch(FAST);
    const r = await timed(rf(srv.url(p), { retry: { attemptTimeoutMs: 200, maxAttempts: 2 } }));
    assert.equal(r.ok, false);
    assert.equal(r.error.name, "TimeoutError");
    assert.ok(r.error instanceof DOMException);
    assert.ok(r.ms >= 380 && r.ms < 1500, `rejected after ${Math.round(r.ms)} ms (two attempts of 200 ms)`);
    const reqs = srv.requests(p);
    assert.equal(reqs.length, 2);
    assert.ok(await until(() => reqs.every((q) => q.closedAt !== undefined), 2000), "the server saw both hung requests' connections close");
  });

  test("timeoutMs bounds a chain of 503s with Retry-After", T, async () => {
    const p = uniquePath("ra-chain");
    srv.script(p, [{ status: 503, retryAfter: "1" }]);
    const rf = createRetryFetch({ breaker: false, budget: false });
    const r = await timed(rf(srv.url(p), { retry: { maxAttempts: 10, timeoutMs: 2500, retryAfterJitter: 0 } }));
    assert.equal(r.ok, true);
    assert.equal(r.value.status, 503, "the last 503 resolves: the next wait would end past the deadline");
    assert.ok(r.ms < 2500, `settled after ${Math.round(r.ms)} ms, within timeoutMs`);
    assert.ok(r.ms >= 1900, `settled after ${Math.round(r.ms)} ms: two 1 s waits were made`);
    assert.equal(srv.requests(p).length, 3);
  });

  test("timeoutMs cuts slow 503s with Retry-After 0 mid-attempt: a TimeoutError at the deadline", T, async () => {
    const p = uniquePath("slow-chain");
    srv.script(p, [{ status: 503, retryAfter: "0", delayMs: 400 }]);
    const rf = createRetryFetch({ breaker: false, budget: false });
    const r = await timed(rf(srv.url(p), { retry: { maxAttempts: 10, timeoutMs: 1000, attemptTimeoutMs: 5000 } }));
    assert.equal(r.ok, false);
    assert.equal(r.error.name, "TimeoutError");
    assert.ok(r.ms >= 950 && r.ms < 1600, `rejected after ${Math.round(r.ms)} ms (deadline 1000)`);
    assert.equal(srv.requests(p).length, 3);
  });
});

// -------------------------------------------------------------------------------------------
// Discarded responses release their connection
// -------------------------------------------------------------------------------------------

describe("discarded responses release their connections", () => {
  // 8 MiB in 16 KiB chunks 10 ms apart: 5 s to send it all, unless the client lets go.
  const HUGE_SLOW = { status: 503, bodyBytes: 8 * 1024 * 1024, chunkBytes: 16384, slowBodyMs: 10 };

  test("a 503 with a huge slow body that is retried: the server sees its response stream closed at once", T, async () => {
    const p = uniquePath("huge-503");
    srv.script(p, [HUGE_SLOW, { status: 200, body: "fine" }]);
    const rf = createRetryFetch(FAST);
    const before = srv.openConnections();
    const r = await timed(rf(srv.url(p)));
    assert.equal(r.value.status, 200);
    assert.equal(await r.value.text(), "fine");
    assert.ok(r.ms < 1500, `retried after ${Math.round(r.ms)} ms, not after the 5 s body`);
    const [first] = srv.requests(p);
    assert.ok(await until(() => first.closedAt !== undefined, 2000), "the discarded response's connection closed");
    assert.equal(first.closedEarly, true, "closed before its body was sent");
    assert.ok(first.bytesWritten < HUGE_SLOW.bodyBytes / 4, `only ${first.bytesWritten} bytes were sent`);
    assert.ok(first.closedAt - first.respondedAt < 1000, `closed ${Math.round(first.closedAt - first.respondedAt)} ms after the headers`);
    assert.ok(await until(() => srv.openConnections() <= before + 1, 2000), `open connections: ${srv.openConnections()} (was ${before})`);
  });

  test("the connection is released before a Retry-After wait begins, not after it", T, async () => {
    const p = uniquePath("huge-503-ra");
    srv.script(p, [{ ...HUGE_SLOW, retryAfter: "2" }, { status: 200 }]);
    const rf = createRetryFetch({ ...FAST, retryAfterJitter: 0 });
    const pending = rf(srv.url(p));
    assert.ok(await until(() => srv.requests(p).length === 1 && srv.requests(p)[0].closedAt !== undefined, 1500), "closed during the 2 s wait");
    const [first] = srv.requests(p);
    assert.equal(first.closedEarly, true);
    const res = await pending;
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    assert.ok(srv.requests(p)[1].t - first.closedAt > 1500, "the wait came after the release");
  });

  test("shouldRetry throwing: the discarded body is cancelled too", T, async () => {
    const p = uniquePath("huge-503-throw");
    srv.script(p, [HUGE_SLOW]);
    const rf = createRetryFetch(FAST);
    const boom = new Error("no thanks");
    await assert.rejects(rf(srv.url(p), { retry: { shouldRetry: () => Promise.reject(boom) } }), (e) => e === boom);
    const [first] = srv.requests(p);
    assert.ok(await until(() => first.closedAt !== undefined, 2000));
    assert.equal(first.closedEarly, true);
  });

  test("100 calls whose 503s are discarded leave no connection behind", T, async () => {
    const p = uniquePath("many-503");
    srv.script(p, [{ status: 503, bodyBytes: 256 * 1024, chunkBytes: 16384, slowBodyMs: 20 }]);
    const rf = createRetryFetch({ ...FAST, maxAttempts: 3 });
    const before = srv.openConnections();
    let maxOpen = 0;
    const sampler = setInterval(() => (maxOpen = Math.max(maxOpen, srv.openConnections())), 10);
    try {
      const results = await Promise.all(
        Array.from({ length: 100 }, async () => {
          const res = await rf(srv.url(p));
          res.body.cancel(); // the caller lets go of the last one too
          return res.status;
        }),
      );
      assert.ok(results.every((s) => s === 503));
    } finally {
      clearInterval(sampler);
    }
    assert.equal(srv.requests(p).length, 300);
    assert.ok(maxOpen <= before + 100 + 10, `at most ${maxOpen} connections open at once for 100 calls`);
    assert.ok(await until(() => srv.requests(p).every((q) => q.closedAt !== undefined), 5000), "every response stream was closed");
    assert.ok(srv.requests(p).every((q) => q.closedEarly), "none was sent in full: every body was let go");
  });

  test("a retry stopped after its response was released resolves with that response's status and headers, and an empty readable body", T, async () => {
    // The breaker opens during the wait (another call's failure): the retry is not sent and
    // the call settles with its last outcome, whose body was already cancelled.
    const p = uniquePath("released");
    srv.script(p, [{ status: 503, body: "down", headers: { "x-why": "maintenance" } }]);
    const rf = createRetryFetch({ breaker: { minimumRequests: 2, failureRatio: 0.5, openMs: 60000 }, budget: false, jitter: "none" });
    const waits = [];
    const slow = rf(srv.url(p), { retry: { baseDelayMs: 300, onRetry: (ev) => waits.push(ev.delayMs) } });
    assert.ok(await until(() => waits.length === 1, 1000), "the first call is waiting to retry (its body released)");
    await (await rf(srv.url(p), { retry: { maxAttempts: 1 } })).arrayBuffer();
    assert.equal(rf.breaker(srv.origin).state, "open");
    const res = await slow;
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("x-why"), "maintenance");
    assert.equal(res.url, srv.url(p));
    const body = await timed(res.text());
    assert.equal(body.ok, true, `reading the body threw: ${body.error && body.error.message}`);
    assert.equal(body.value, "");
    assert.equal(srv.requests(p).length, 2, "the stopped retry was not sent");

    // The same at a deadline: the lengthened wait ends just before it, and nothing is sent.
    const q = uniquePath("released-deadline");
    srv.script(q, [{ status: 503, retryAfter: "1", body: "busy" }]);
    const plain = createRetryFetch({ breaker: false, budget: false });
    // Warm the connection, so the first answer comes well within 50 ms.
    await (await plain(srv.url(uniquePath("warm")))).arrayBuffer();
    const r = await timed(plain(srv.url(q), { retry: { timeoutMs: 1100, retryAfterJitter: 1, random: () => 0.99 } }));
    if (r.ok) {
      assert.equal(r.value.status, 503);
      const text = await timed(r.value.text());
      assert.equal(text.ok, true, `reading the body threw: ${text.error && text.error.message}`);
    } else {
      assert.equal(r.error.name, "TimeoutError", "else the retry was cut by the deadline");
    }
    assert.ok(r.ms < 1600, `settled after ${Math.round(r.ms)} ms`);
  });
});

// -------------------------------------------------------------------------------------------
// No response grows memory without bound
// -------------------------------------------------------------------------------------------

test("hostile responses over and over do not grow memory: wasm flat, JS heap bounded", { timeout: 60000 }, async () => {
  v8.setFlagsFromString("--expose-gc");
  const gc = vm.runInNewContext("gc");
  const wasm = createRetryFetch[Symbol.for("edge-retry.wasm")](); // the package's instance (pkg-template/api.js)
  const many = {};
  for (let i = 0; i < 500; i++) many[`x-h${i}`] = "v".repeat(8);
  const p = uniquePath("memory");
  const rf = createRetryFetch({ baseDelayMs: 0, maxDelayMs: 1, jitter: "none", breaker: false, budget: false });
  const round = async (n) => {
    for (let i = 0; i < n; i++) {
      srv.reset();
      srv.script(p, [
        { status: 503, bodyBytes: 256 * 1024, retryAfter: "9".repeat(4000) },
        { status: 429, headers: { ...many, "retry-after": "x".repeat(8000) } },
        { status: 503, headers: { ratelimit: "t=" + "1".repeat(200) + ";" + "r=1;".repeat(500) } },
        { reset: true },
        { status: 502, bodyBytes: 64 * 1024, headers: { "x-ratelimit-reset": "9".repeat(300) + "x" } },
        { status: 200 },
      ]);
      // The first answer's absurd Retry-After returns it at once; the caller drops its body.
      const a = await rf(srv.url(p) + `?i=${i}`);
      a.body.cancel();
      // The rest: 429, 503, reset, 502 (all with malformed wait headers: backoff), then 200.
      const b = await rf(srv.url(p) + `?j=${i}`, { retry: { maxAttempts: 6 } });
      assert.equal(b.status, 200);
      await b.arrayBuffer();
    }
  };
  await round(30); // warm-up: the registry, the slots, the allocator settle
  gc();
  const wasm0 = wasm.memory.buffer.byteLength;
  const heap0 = process.memoryUsage().heapUsed;
  await round(120);
  gc();
  await sleep(50);
  gc();
  const wasm1 = wasm.memory.buffer.byteLength;
  const heap1 = process.memoryUsage().heapUsed;
  assert.equal(wasm1, wasm0, `wasm memory ${wasm0} -> ${wasm1} bytes over 120 rounds`);
  assert.ok(heap1 - heap0 < 8 * 1048576, `JS heap grew ${((heap1 - heap0) / 1048576).toFixed(1)} MB over 120 rounds`);
  const s = rf.stats();
  assert.equal(s.calls, 300);
  assert.equal(s.attempts, 150 + 150 * 5);
});

// -------------------------------------------------------------------------------------------
// Requests the platform refuses: its own error, after one attempt
// -------------------------------------------------------------------------------------------

function describeError(e) {
  return { ctor: e && e.constructor && e.constructor.name, name: e && e.name, message: e && e.message, cause: e && e.cause && e.cause.message };
}

describe("requests the platform refuses (Node)", () => {
  const cases = () => [
    ["an unparsable URL", `http://127.0.0.1:${srv.port}:x/`],
    ["a relative URL", "/relative"],
    ["a port out of range", "http://127.0.0.1:70000/p"],
    ["a URL with credentials", `http://u:p@127.0.0.1:${srv.port}/creds`],
    ["an ftp: URL", `ftp://127.0.0.1:${srv.port}/ftp`],
    ["about:blank", "about:blank"],
    ["an invalid header name", srv.url("/bad-header"), { headers: { "x a": "1" } }],
    ["a header value with a newline", srv.url("/bad-value"), { headers: { "x-a": "a\nb" } }],
    ["a header value with NUL", srv.url("/bad-nul"), { headers: { "x-a": "a\0b" } }],
    ["CONNECT", srv.url("/connect"), { method: "CONNECT" }],
    ["TRACE (a default retried method that fetch refuses)", srv.url("/trace"), { method: "TRACE" }],
    ["a method with a space", srv.url("/bad-method"), { method: "GE T" }],
    ["a body on a GET", srv.url("/get-body"), { method: "GET", body: "x" }],
    ["mode navigate", srv.url("/navigate"), { mode: "navigate" }],
  ];

  test("each rejects with the same error plain fetch gives, after one attempt, and nothing reaches the server", T, async () => {
    const rf = createRetryFetch({ baseDelayMs: 1 });
    const problems = [];
    for (const [what, url, init] of cases()) {
      let plain;
      try {
        const r = await fetch(url, init);
        await r.arrayBuffer();
        plain = { status: r.status };
      } catch (e) {
        plain = describeError(e);
      }
      const s0 = rf.stats();
      let retried = 0;
      const r = await timed(rf(url, { ...(init || {}), retry: { onRetry: () => retried++ } }));
      const mine = r.ok ? { status: r.value.status } : describeError(r.error);
      const s1 = rf.stats();
      if (JSON.stringify(mine) !== JSON.stringify(plain)) problems.push(`${what}: fetch ${JSON.stringify(plain)}, retryFetch ${JSON.stringify(mine)}`);
      if (plain.status !== undefined) problems.push(`${what}: plain fetch did not refuse it`);
      if (retried) problems.push(`${what}: retried ${retried} times`);
      if (s1.attempts - s0.attempts > 1) problems.push(`${what}: ${s1.attempts - s0.attempts} attempts`);
      if (r.ms > 1000) problems.push(`${what}: took ${Math.round(r.ms)} ms`);
    }
    assert.deepEqual(problems, []);
    await sleep(50);
    assert.deepEqual(srv.requests().filter((q) => /bad-|connect|trace|get-body|navigate|creds|ftp/.test(q.path)).map((q) => q.path), []);
  });
});

// -------------------------------------------------------------------------------------------
// The same in workerd
// -------------------------------------------------------------------------------------------

describe("workerd", () => {
  test("requests workerd refuses: the same error as plain fetch, one attempt, nothing sent", T, async () => {
    const u = (p) => srv.url(p);
    const cases = [
      { url: `http://127.0.0.1:${srv.port}:x/` },
      { url: "/relative" },
      { url: "http://127.0.0.1:70000/p" },
      { url: `ftp://127.0.0.1:${srv.port}/w-ftp` },
      { url: "about:blank" },
      { url: "blob:nope" },
      { url: "file:///etc/hostname" },
      { url: `ws://127.0.0.1:${srv.port}/w-ws` },
      { url: u("/w-bad-header"), init: { headers: { "x a": "1" } } },
      { url: u("/w-bad-value"), init: { headers: { "x-a": "a\nb" } } },
      { url: u("/w-connect"), init: { method: "CONNECT" } },
      { url: u("/w-bad-method"), init: { method: "GE T" } },
      { url: u("/w-get-body"), init: { method: "GET", body: "x" } },
      { url: u("/w-redirect"), init: { redirect: "bogus" } },
    ];
    const res = await mf.dispatchFetch(`http://abuse.local/compare?spec=${encodeURIComponent(JSON.stringify({ cases }))}`, { method: "POST" });
    const out = await res.json();
    assert.equal(out.length, cases.length, JSON.stringify(out).slice(0, 500));
    const problems = [];
    for (const c of out) {
      if (c.plain.status !== undefined) problems.push(`${c.url}: plain fetch did not refuse it`);
      if (JSON.stringify(c.mine) !== JSON.stringify(c.plain)) problems.push(`${c.url}: fetch ${JSON.stringify(c.plain)}, retryFetch ${JSON.stringify(c.mine)}`);
      if (c.retries !== 0) problems.push(`${c.url}: retried ${c.retries} times`);
      if (c.attempts > 1) problems.push(`${c.url}: ${c.attempts} attempts`);
    }
    assert.deepEqual(problems, []);
    await sleep(50);
    assert.deepEqual(srv.requests().filter((q) => q.path.startsWith("/w-")).map((q) => q.path), []);
  });

  test("a 503 with a huge slow body that is retried: workerd lets go of its connection", T, async () => {
    const p = uniquePath("w-huge-503");
    srv.script(p, [{ status: 503, bodyBytes: 8 * 1024 * 1024, chunkBytes: 16384, slowBodyMs: 10 }, { status: 200, body: "fine" }]);
    const t0 = performance.now();
    const r = await harnessCall(mf, { url: srv.url(p), retry: FAST });
    const ms = performance.now() - t0;
    assert.equal(r.status, 200, JSON.stringify(r).slice(0, 300));
    assert.equal(r.body, "fine");
    assert.ok(ms < 2000, `retried after ${Math.round(ms)} ms, not after the 5 s body`);
    const [first] = srv.requests(p);
    assert.ok(await until(() => first.closedAt !== undefined, 2000), "the discarded response's connection closed");
    assert.equal(first.closedEarly, true);
    assert.ok(first.bytesWritten < 2 * 1024 * 1024, `only ${first.bytesWritten} bytes were sent`);
  });

  test("a hang cut by attemptTimeoutMs: workerd closes the hung connection", T, async () => {
    const p = uniquePath("w-hang");
    srv.script(p, [{ hang: true }, { status: 200, body: "second" }]);
    const r = await harnessCall(mf, { url: srv.url(p), retry: { ...FAST, attemptTimeoutMs: 200 } });
    assert.equal(r.body, "second", JSON.stringify(r).slice(0, 300));
    const [first] = srv.requests(p);
    assert.ok(await until(() => first.closedAt !== undefined, 2000), "the hung request's connection closed");
  });

  test("a retry stopped after its response was released: the status, headers and a readable empty body", T, async () => {
    const p = uniquePath("w-released");
    srv.script(p, [{ status: 503, body: "down" }]);
    const spec = { url: srv.url(p), instance: "w-released", defaults: { breaker: { minimumRequests: 2, failureRatio: 0.5, openMs: 60000 }, budget: false, jitter: "none" } };
    const slow = harnessCall(mf, { ...spec, retry: { baseDelayMs: 600 } });
    // Once its 503 is answered, the first call is in its wait; a second failure opens the breaker.
    assert.ok(await until(() => srv.requests(p).length === 1 && srv.requests(p)[0].finished, 1000));
    await sleep(50);
    await harnessCall(mf, { ...spec, retry: { maxAttempts: 1 } });
    const r = await slow;
    assert.equal(r.events.length, 1, "the first call had released its 503 and was waiting to retry");
    assert.equal(r.outcome, "response", `the harness could read the body: ${JSON.stringify(r).slice(0, 300)}`);
    assert.equal(r.status, 503);
    assert.equal(r.body, "");
    assert.equal(srv.requests(p).length, 2);
  });
});
