// Hostile input to ONE instance of the built package (pkg/node.js): options that are wrong in
// every way JS allows (each a TypeError naming the option, nothing sent), responses whose wait
// headers are garbage, absurd or huge (each settles within its limits), and timers longer than
// setTimeout can hold. At the end the same instance must still serve a normal call, and its
// stats must agree with what the fault server saw.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { createRetryFetch } from "../../../pkg/node.js";
import { startFaultServer, sleep } from "../fault-server.mjs";

const T = { timeout: 30000 }; // a call that never settles fails its test, not the run
let counter = 0;
const uniquePath = (name) => `/${name}-${++counter}`;

let srv;
let rf; // the one instance every test drives
let fetchCount = 0; // attempts as its fetch saw them
let validCalls = 0; // calls that passed validation (each counts once in stats.calls)
const warnings = [];
const onWarning = (w) => warnings.push(w);

before(async () => {
  process.on("warning", onWarning);
  srv = await startFaultServer();
  rf = createRetryFetch({
    baseDelayMs: 1,
    maxDelayMs: 20,
    jitter: "none",
    maxRetryAfterMs: 5000,
    retryAfterJitter: 0,
    // One breaker and budget per path, so one test's failures never refuse another's calls.
    breaker: { key: (url) => new URL(url).pathname },
    fetch: (input, init) => {
      fetchCount++;
      return fetch(input, init);
    },
  });
});
after(async () => {
  process.off("warning", onWarning);
  if (srv) await srv.close();
});

async function timed(promise) {
  const t0 = performance.now();
  try {
    return { ok: true, value: await promise, ms: performance.now() - t0 };
  } catch (error) {
    return { ok: false, error, ms: performance.now() - t0 };
  }
}

// -------------------------------------------------------------------------------------------
// Hostile options
// -------------------------------------------------------------------------------------------

const throwing = () => {
  throw new Error("a hostile getter");
};
const big = (fill) => new Array(100000).fill(fill);
let deep = {};
for (let i = 0; i < 10000; i++) deep = { a: deep };
const cyclic = {};
cyclic.self = cyclic;
const throwingIndex = Object.defineProperty([503], 0, { get: throwing, enumerable: true });
const onlyOnce = (first, name) => {
  let reads = 0;
  return {
    get [name]() {
      if (reads++ > 0) throw new Error("read twice");
      return first;
    },
  };
};
const proxyGetOnce = (target) => {
  let reads = 0;
  return new Proxy(target, {
    get(t, p) {
      if (p === "random" && reads++ > 0) throw new Error("trap on the second read");
      return Reflect.get(t, p);
    },
  });
};

// [what, init.retry, the option the message must name]
const HOSTILE = [
  ["NaN", { baseDelayMs: NaN }, "baseDelayMs"],
  ["+Infinity", { maxDelayMs: Infinity }, "maxDelayMs"],
  ["-Infinity", { timeoutMs: -Infinity }, "timeoutMs"],
  ["a negative number", { attemptTimeoutMs: -1 }, "attemptTimeoutMs"],
  ["-0.5", { maxRetryAfterMs: -0.5 }, "maxRetryAfterMs"],
  ["a huge negative number", { maxReplayBytes: -1e308 }, "maxReplayBytes"],
  ["-MAX_VALUE in budget", { budget: { capacity: -Number.MAX_VALUE } }, "budget.capacity"],
  ["a huge status", { retryOn: [1e9] }, "retryOn"],
  ["a fractional status", { retryOn: [503.5] }, "retryOn"],
  ["a fractional maxAttempts", { maxAttempts: 2.5 }, "maxAttempts"],
  ["maxAttempts 0", { maxAttempts: 0 }, "maxAttempts"],
  ["a huge multiplier sign flip", { multiplier: -1e308 }, "multiplier"],
  ["retryAfterJitter above 1", { retryAfterJitter: 1e300 }, "retryAfterJitter"],
  ["failureRatio NaN", { breaker: { failureRatio: NaN } }, "breaker.failureRatio"],
  ["halfOpenProbes Infinity", { breaker: { halfOpenProbes: Infinity } }, "breaker.halfOpenProbes"],
  ["a string for a number", { maxAttempts: "3" }, "maxAttempts"],
  ["an empty string", { timeoutMs: "" }, "timeoutMs"],
  ["a numeric string in budget", { budget: { retryCost: "5" } }, "budget.retryCost"],
  ["a jitter name in capitals", { jitter: "FULL" }, "jitter"],
  ["a string for a boolean", { respectRetryAfter: "false" }, "respectRetryAfter"],
  ["null for a number", { maxAttempts: null }, "maxAttempts"],
  ["a nested object for a number", { maxAttempts: { n: 3 } }, "maxAttempts"],
  ["an object with valueOf", { baseDelayMs: { valueOf: () => 5 } }, "baseDelayMs"],
  ["a boxed Number", { maxAttempts: new Number(3) }, "maxAttempts"],
  ["a Date", { timeoutMs: new Date() }, "timeoutMs"],
  ["a BigInt", { maxAttempts: 3n }, "maxAttempts"],
  ["a Symbol", { timeoutMs: Symbol("t") }, "timeoutMs"],
  ["an object for a breaker number", { breaker: { failureRatio: { x: 1 } } }, "breaker.failureRatio"],
  ["10,000 levels of nesting", { breaker: deep }, "breaker.a"],
  ["a cycle", { budget: cyclic }, "budget.self"],
  ["a jitter ratio with an extra key", { jitter: { ratio: 0.5, extra: 1 } }, "jitter"],
  ["a jitter ratio of NaN", { jitter: { ratio: NaN } }, "jitter"],
  ["own __proto__ (JSON.parse)", JSON.parse('{"__proto__": {"maxAttempts": 1}}'), "__proto__"],
  ["own __proto__ in breaker", { breaker: JSON.parse('{"__proto__": {"openMs": 1}}') }, "breaker.__proto__"],
  ["own __proto__ in budget", { budget: JSON.parse('{"__proto__": null}') }, "budget.__proto__"],
  ["own constructor (JSON.parse)", JSON.parse('{"constructor": {"prototype": {}}}'), "constructor"],
  ["constructor: Object", { constructor: Object }, "constructor"],
  ["prototype", { prototype: {} }, "prototype"],
  ["an unknown key", { retries: 3 }, "retries"],
  ["fetch per call", { fetch: globalThis.fetch }, "fetch"],
  ["a throwing getter", { get maxAttempts() { return throwing(); } }, "maxAttempts"],
  ["a throwing getter in breaker", { breaker: { get openMs() { return throwing(); } } }, "breaker.openMs"],
  ["a throwing getter in budget", { budget: { get capacity() { return throwing(); } } }, "budget.capacity"],
  ["a throwing getter for a callback", { get onRetry() { return throwing(); } }, "onRetry"],
  ["a throwing getter for breaker.key", { breaker: { get key() { return throwing(); } } }, "breaker.key"],
  ["a throwing array index", { retryOn: throwingIndex }, "retryOn"],
  ["a getter that throws on its second read", onlyOnce({ openMs: 10 }, "breaker"), "breaker"],
  ["a proxy whose get throws on the second read", proxyGetOnce({ random: () => 0.5 }), "random"],
  ["an inherited throwing getter (never validated)", Object.create({ get onRetry() { return throwing(); } }), "onRetry"],
  ["a non-enumerable throwing getter", Object.defineProperty({}, "shouldRetry", { get: throwing }), "shouldRetry"],
  ["a proxy whose get throws", new Proxy({ maxAttempts: 2 }, { get: throwing }), "maxAttempts"],
  ["a proxy whose ownKeys throws, in breaker", { breaker: new Proxy({}, { ownKeys: throwing }) }, "breaker"],
  ["a proxy whose ownKeys throws, in budget", { budget: new Proxy({}, { ownKeys: throwing }) }, "budget"],
  ["100k-element retryOn", { retryOn: big(503) }, "retryOn"],
  ["100k-element methods", { methods: big("GET") }, "methods"],
  ["100k unknown keys", Object.fromEntries(Array.from({ length: 100000 }, (_, i) => [`k${i}`, i])), "k0"],
  ["a method with a space", { methods: ["GE T"] }, "methods"],
  ["a function for breaker", { breaker: () => ({}) }, "breaker"],
  ["a function for budget", { budget() {} }, "budget"],
  ["a function for jitter", { jitter: () => "full" }, "jitter"],
  ["an array for breaker", { breaker: [1, 2] }, "breaker"],
  ["a string for onRetry", { onRetry: "console.log" }, "onRetry"],
  ["an object for shouldRetry", { shouldRetry: {} }, "shouldRetry"],
  ["a number for random", { random: 0.5 }, "random"],
  ["a string for breaker.key", { breaker: { key: "origin" } }, "breaker.key"],
  ["a function for retry", () => ({}), "retry"],
  ["a string for retry", "fast", "retry"],
  ["a number for retry", 3, "retry"],
  ["true for retry", true, "retry"],
  ["null for retry", null, "retry"],
  ["an array for retry", [{ maxAttempts: 2 }], "retry"],
];

test("hostile options: each rejects with a TypeError naming the option, and nothing is sent", T, async () => {
  const before = rf.stats();
  const fetched = fetchCount;
  const failures = [];
  for (const [what, retry, name] of HOSTILE) {
    const path = uniquePath("bad-option");
    const r = await timed(rf(srv.url(path), { retry }));
    if (r.ok) {
      failures.push(`${what}: resolved with ${r.value.status}`);
      continue;
    }
    if (!(r.error instanceof TypeError)) failures.push(`${what}: rejected with ${r.error && r.error.name}: ${r.error && r.error.message}`);
    else if (!String(r.error.message).includes(`"${name}"`)) failures.push(`${what}: message ${JSON.stringify(r.error.message.slice(0, 200))} does not name "${name}"`);
    if (r.ms > 1000) failures.push(`${what}: took ${Math.round(r.ms)} ms to reject`);
  }
  assert.deepEqual(failures, []);
  await sleep(50);
  assert.equal(srv.requests().length, 0, "no request was sent for any call with invalid options");
  assert.equal(fetchCount, fetched, "fetch was never called");
  const after = rf.stats();
  assert.equal(after.calls, before.calls, "refused calls do not count as calls");
  assert.equal(after.attempts, before.attempts);
});

test("a throwing init.retry getter rejects with a TypeError naming retry; nothing is sent", T, async () => {
  const path = uniquePath("retry-getter");
  const init = {
    get retry() {
      return throwing();
    },
  };
  await assert.rejects(rf(srv.url(path), init), (e) => e instanceof TypeError && e.message.includes('"retry"'));
  const proxyInit = new Proxy({}, { get: (t, p) => (p === "retry" ? throwing() : undefined) });
  await assert.rejects(rf(srv.url(path), proxyInit), (e) => e instanceof TypeError && e.message.includes('"retry"'));
  await sleep(30);
  assert.equal(srv.requests(path).length, 0);
});

test(
  "a proxy whose ownKeys throws, as init.retry itself, is a TypeError naming retry",
  T,
  async () => {
    const path = uniquePath("proxy-keys");
    for (const trap of ["ownKeys", "getOwnPropertyDescriptor"]) {
      const retry = new Proxy({ maxAttempts: 2 }, { [trap]: throwing });
      const r = await timed(rf(srv.url(path), { retry }));
      assert.equal(r.ok, false, `${trap}: the call was refused`);
      assert.ok(r.error instanceof TypeError, `${trap}: a TypeError`);
      assert.match(r.error.message, /"retry"/, `${trap}: ${r.error.message}`);
    }
    assert.equal(srv.requests(path).length, 0);
  },
);

test("hostile defaults: createRetryFetch throws a TypeError naming the option, at once", T, () => {
  const cases = [
    [{ maxAttempts: NaN }, "maxAttempts"],
    [{ get fetch() { return throwing(); } }, "fetch"],
    [Object.create({ get onRetry() { return throwing(); } }), "onRetry"],
    [{ fetch: "fetch" }, "fetch"],
    [{ breaker: { key: 42 } }, "breaker.key"],
    [JSON.parse('{"__proto__": {}}'), "__proto__"],
    [() => ({}), "defaults"],
  ];
  for (const [defaults, name] of cases) {
    assert.throws(() => createRetryFetch(defaults), (e) => e instanceof TypeError && e.message.includes(`"${name}"`), name);
  }
});

test("valid but absurd options are taken and do not hang or spin (huge yet finite numbers)", T, async () => {
  const path = uniquePath("absurd-ok");
  srv.script(path, [{ status: 503 }, { status: 200, body: "fine" }]);
  const before = fetchCount;
  // maxDelayMs caps; a huge multiplier and base saturate rather than overflow to NaN or 0.
  const events = [];
  const r = await timed(
    rf(srv.url(path), {
      retry: {
        baseDelayMs: 1,
        multiplier: 1e308,
        maxDelayMs: 3,
        maxRetryAfterMs: Number.MAX_VALUE,
        maxReplayBytes: 0,
        timeoutMs: 1e300,
        budget: { capacity: 4294967295 },
        onRetry: (ev) => events.push(ev.delayMs),
      },
    }),
  );
  assert.equal(r.ok, true, r.error && r.error.message);
  assert.equal(r.value.status, 200);
  assert.equal(await r.value.text(), "fine");
  assert.deepEqual(events, [1]);
  assert.equal(fetchCount - before, 2);
  validCalls++;
});

// -------------------------------------------------------------------------------------------
// Hostile responses: the first answer is hostile, the second a 200 "second"
// -------------------------------------------------------------------------------------------

function manyHeaders(n) {
  const h = {};
  for (let i = 0; i < n; i++) h[`x-h${i}`] = "v";
  return h;
}

// expect: "backoff" (malformed: ignored, retried after the 1 ms backoff), "returned" (above
// maxRetryAfterMs: the hostile response comes back at once, one request), "server-zero" (a
// server-given wait of 0), or "settles" (the platform may refuse the response itself: then it
// is a network error, retried; either way a prompt answer within two attempts).
const RESPONSES = [
  ["Retry-After 1e309", { status: 503, retryAfter: "1e309" }, "backoff"],
  ["Retry-After -1", { status: 503, retryAfter: "-1" }, "backoff"],
  ["Retry-After 1.5", { status: 429, retryAfter: "1.5" }, "backoff"],
  ["Retry-After 0x10", { status: 503, retryAfter: "0x10" }, "backoff"],
  ["Retry-After of 40 digits", { status: 503, retryAfter: "1".repeat(40) }, "returned"],
  ["Retry-After 2^64 seconds", { status: 429, retryAfter: "18446744073709551616" }, "returned"],
  ["Retry-After 86400 (a day)", { status: 503, retryAfter: "86400" }, "returned"],
  ["Retry-After: a date in year 9999", { status: 503, retryAfter: "Fri, 31 Dec 9999 23:59:59 GMT" }, "returned"],
  ["Retry-After: day 99", { status: 503, retryAfter: "Sun, 99 Nov 1994 08:49:37 GMT" }, "backoff"],
  ["Retry-After: hour 25", { status: 503, retryAfter: "Sun, 06 Nov 2094 25:61:61 GMT" }, "backoff"],
  ["Retry-After: month Foo", { status: 503, retryAfter: "Sun, 06 Foo 2094 08:49:37 GMT" }, "backoff"],
  ["Retry-After: bad zone", { status: 503, retryAfter: "Sun, 06 Nov 2094 08:49:37 XYZ" }, "backoff"],
  ["Retry-After: half a date", { status: 503, retryAfter: "Sun, 06 Nov" }, "backoff"],
  ["Retry-After: words", { status: 503, retryAfter: "tomorrow, maybe" }, "backoff"],
  ["Retry-After: empty", { status: 503, retryAfter: "" }, "backoff"],
  ["Retry-After twice (0 and 99999)", { status: 503, headers: { "retry-after": ["0", "99999"] } }, "backoff"],
  ["Retry-After: fullwidth digit", { status: 503, headers: { "retry-after": Buffer.from("５", "utf8").toString("latin1") } }, "backoff"],
  ["Retry-After: latin-1 letters", { status: 503, headers: { "retry-after": "\u00e9\u00e8\u00ff" } }, "backoff"],
  ["Retry-After: arabic-indic digits (utf-8 bytes)", { status: 503, headers: { "retry-after": Buffer.from("١٢", "utf8").toString("latin1") } }, "backoff"],
  ["Retry-After: 8 KB of 9s", { status: 503, retryAfter: "9".repeat(8192) }, "returned"],
  ["Retry-After: 12 KB of letters", { status: 503, retryAfter: "x".repeat(12 * 1024) }, "backoff"],
  ["Retry-After: 64 KB", { status: 503, retryAfter: "1".repeat(65536) }, "settles"],
  ["Retry-After: 64 KB non-ASCII", { status: 503, headers: { "retry-after": "\u00e9".repeat(65536) } }, "settles"],
  ["RateLimit garbage", { status: 429, headers: { ratelimit: "garbage;;;t=;t=-1;t=abc;t=", "ratelimit-reset": "soon", "x-ratelimit-reset": "1e99" } }, "backoff"],
  ["RateLimit t= of 50 digits", { status: 429, headers: { ratelimit: `"default";r=0;t=${"9".repeat(50)}` } }, "returned"],
  ["RateLimit-Reset of 40 digits", { status: 429, headers: { "ratelimit-reset": "7".repeat(40) } }, "returned"],
  ["X-RateLimit-Reset: epoch in year 2286", { status: 429, headers: { "x-ratelimit-reset": "9999999999" } }, "returned"],
  ["X-RateLimit-Reset of 30 digits", { status: 429, headers: { "x-ratelimit-reset": "9".repeat(30) } }, "returned"],
  ["RateLimit: 10 KB of parameters", { status: 429, headers: { ratelimit: "r=1;".repeat(2500) + "t=0" } }, "backoff"],
  ["RateLimit-Reset 0 among 1,000 headers", { status: 503, headers: { ...manyHeaders(1000), "ratelimit-reset": "0" } }, "server-zero"],
  ["3,000 headers", { status: 503, headers: manyHeaders(3000) }, "settles"],
  ["10,000 headers and Retry-After 0", { status: 503, retryAfter: "0", headers: manyHeaders(10000) }, "settles"],
];

for (const [what, step, expect] of RESPONSES) {
  test(`hostile response: ${what} -> ${expect}`, T, async () => {
    const path = uniquePath("hostile-response");
    srv.script(path, [step, { status: 200, body: "second" }]);
    const events = [];
    const before = fetchCount;
    const r = await timed(rf(srv.url(path), { retry: { onRetry: (ev) => events.push(ev) } }));
    validCalls++;
    const reqs = srv.requests(path);
    const desc = JSON.stringify({ ok: r.ok, status: r.value && r.value.status, error: r.error && String(r.error), events: events.map((e) => [e.reason, e.delayMs]), requests: reqs.length });
    assert.equal(fetchCount - before, reqs.length, "every attempt reached the server");
    assert.ok(r.ms < 2000, `settled in ${Math.round(r.ms)} ms: ${desc}`);
    if (expect === "returned") {
      assert.equal(r.ok, true, desc);
      assert.equal(r.value.status, step.status, desc);
      assert.equal(events.length, 0, desc);
      assert.equal(reqs.length, 1, desc);
      await r.value.arrayBuffer();
    } else if (expect === "backoff" || expect === "server-zero") {
      assert.equal(r.ok, true, desc);
      assert.equal(r.value.status, 200, desc);
      assert.equal(await r.value.text(), "second");
      assert.equal(events.length, 1, desc);
      assert.equal(events[0].reason, "status", desc);
      assert.equal(events[0].delayMs, expect === "backoff" ? 1 : 0, desc);
      assert.equal(reqs.length, 2, desc);
    } else {
      // The platform may refuse the response (Node: headers over 16 KB are a network error).
      assert.ok(reqs.length >= 1 && reqs.length <= 2, desc);
      assert.ok(events.length <= 1, desc);
      if (r.ok) {
        assert.ok([200, step.status].includes(r.value.status), desc);
        await r.value.arrayBuffer();
      } else {
        assert.ok(r.error instanceof TypeError, desc);
      }
      if (events.length === 1) assert.ok(events[0].delayMs <= 20, `no wait beyond maxDelayMs: ${desc}`);
    }
  });
}

// -------------------------------------------------------------------------------------------
// Timers longer than setTimeout can hold (2^31-1 ms)
// -------------------------------------------------------------------------------------------

const LONG = 2 ** 31 + 5000;

for (const option of ["attemptTimeoutMs", "timeoutMs"]) {
  test(`${option} of 2^31 + 5000 does not fire early: a 300 ms answer still succeeds`, T, async () => {
    const path = uniquePath(`long-${option}`);
    srv.script(path, [{ delayMs: 300, body: "slow but fine" }]);
    const r = await timed(rf(srv.url(path), { retry: { [option]: LONG } }));
    validCalls++;
    assert.equal(r.ok, true, r.error && `${r.error.name}: ${r.error.message}`);
    assert.equal(r.value.status, 200);
    assert.equal(await r.value.text(), "slow but fine");
    assert.ok(r.ms >= 280, `answered after ${Math.round(r.ms)} ms`);
    assert.equal(srv.requests(path).length, 1, "one attempt, not cut and retried");
  });
}

test("both long timeouts together, on a call that is retried", T, async () => {
  const path = uniquePath("long-both");
  srv.script(path, [{ status: 503, delayMs: 150 }, { delayMs: 150, body: "second" }]);
  const r = await timed(rf(srv.url(path), { retry: { attemptTimeoutMs: LONG, timeoutMs: LONG + 1 } }));
  validCalls++;
  assert.equal(r.ok, true, r.error && r.error.message);
  assert.equal(await r.value.text(), "second");
  assert.equal(srv.requests(path).length, 2);
});

test("a backoff wait above 2^31-1 ms is neither fired early nor lost: an abort settles it", T, async () => {
  const path = uniquePath("long-wait");
  srv.script(path, [{ status: 503 }]);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 200);
  const events = [];
  const r = await timed(
    rf(srv.url(path), {
      signal: controller.signal,
      retry: { baseDelayMs: 2 ** 32, maxDelayMs: 2 ** 33, jitter: "none", onRetry: (ev) => events.push(ev.delayMs) },
    }),
  );
  clearTimeout(timer);
  validCalls++;
  assert.deepEqual(events, [2 ** 32], "the wait really computed is above 2^31-1");
  assert.equal(r.ok, false);
  assert.equal(r.error.name, "AbortError");
  assert.ok(r.ms >= 180 && r.ms < 1500, `settled ${Math.round(r.ms)} ms after the start (abort at 200)`);
  await sleep(300);
  assert.equal(srv.requests(path).length, 1, "the wait did not fire early: no second attempt");
});

test("a server-given wait above 2^31-1 ms (Retry-After 2,200,000 s) is chained too", T, async () => {
  const path = uniquePath("long-retry-after");
  srv.script(path, [{ status: 503, retryAfter: "2200000" }]);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 200);
  const events = [];
  const r = await timed(
    rf(srv.url(path), {
      signal: controller.signal,
      retry: { maxRetryAfterMs: 2 ** 33, onRetry: (ev) => events.push(ev.delayMs) },
    }),
  );
  clearTimeout(timer);
  validCalls++;
  assert.deepEqual(events, [2200000000]);
  assert.equal(r.ok, false);
  assert.equal(r.error.name, "AbortError");
  assert.ok(r.ms < 1500, `settled after ${Math.round(r.ms)} ms`);
  await sleep(300);
  assert.equal(srv.requests(path).length, 1);
});

test("no timer was ever handed more than 2^31-1 ms (Node warns with TimeoutOverflowWarning)", () => {
  const overflow = warnings.filter((w) => w.name === "TimeoutOverflowWarning");
  assert.deepEqual(overflow.map((w) => w.message), []);
});

// A fetch of its own (a wrapper, as some libraries return) whose Response-like reports a 503
// for its first two reads of `status` and a 200 after. Whatever the driver reads, the call
// must settle once and free its slot: slots are reused, so a leak shows as ever higher ids.
test("a Response-like whose status changes between reads leaks no slot", T, async () => {
  // A server of its own: the file's last test counts every request the shared one saw.
  const own = await startFaultServer();
  const path = uniquePath("flipping-status");
  own.script(path, Array.from({ length: 20 }, () => ({ status: 503, body: "busy" })));
  const flipping = createRetryFetch({
    maxAttempts: 1,
    breaker: false, // twenty 503s in a row would open it
    fetch: async (input, init) => {
      const real = await fetch(input, init);
      let reads = 0;
      return { get status() { return ++reads <= 2 ? 503 : 200; }, headers: real.headers, body: real.body, text: () => real.text() };
    },
  });
  try {
    for (let i = 0; i < 20; i++) {
      const res = await flipping(own.url(path));
      assert.equal(typeof res.status, "number");
      await res.text();
    }
  } finally {
    await own.close();
  }
  assert.equal(flipping.stats().calls, 20);
  const instance = flipping[Symbol.for("edge-retry.instance")];
  const id = instance.openAt(8); // DEFAULTS_PLACE: a slot as a call would open it
  instance.close(id, Date.now());
  assert.ok(id < 2, `the next call's slot is ${id}: the earlier calls' slots were not freed`);
});

// -------------------------------------------------------------------------------------------
// After all that: the same instance still works, and its stats add up
// -------------------------------------------------------------------------------------------

test("the same instance still serves a normal call, and its stats agree with the server", T, async () => {
  const path = uniquePath("normal");
  srv.script(path, [{ status: 503, retryAfter: "0" }, { status: 200, body: "normal" }]);
  const events = [];
  const s0 = rf.stats();
  const res = await rf(srv.url(path), { retry: { onRetry: (ev) => events.push(ev) } });
  validCalls++;
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "normal");
  assert.deepEqual(events.map((e) => [e.attempt, e.reason, e.status, e.delayMs]), [[1, "status", 503, 0]]);
  const s = rf.stats();
  assert.equal(s.calls, s0.calls + 1);
  assert.equal(s.attempts, s0.attempts + 2);
  assert.equal(s.retries, s0.retries + 1);
  assert.equal(s.successes, s0.successes + 1);
  assert.equal(s.retryAfterWaits, s0.retryAfterWaits + 1);

  // Over the file: every valid call counted once, every attempt reached the server.
  assert.equal(s.calls, validCalls, "stats.calls: the calls that passed validation");
  assert.equal(s.attempts, fetchCount, "stats.attempts: fetch calls");
  assert.equal(s.attempts, srv.requests().length, "stats.attempts: requests the server saw");
  assert.equal(s.attempts, s.calls + s.retries, "every call made one first attempt; the rest are retries");
  assert.equal(s.successes + s.failures, s.calls);
  assert.equal(s.breakerRejections, 0);
  assert.equal(s.budgetDenials, 0);
  for (const k of ["p50", "p90", "p99"]) assert.ok(Number.isFinite(s.latencyMs[k]) && s.latencyMs[k] >= 0, `latencyMs.${k}`);
  assert.ok(s.latencyMs.p50 <= s.latencyMs.p90 && s.latencyMs.p90 <= s.latencyMs.p99);
  // Its breakers are all closed: the hostile responses were spread over their own paths.
  assert.equal(rf.breaker(path).state, "closed");
});
