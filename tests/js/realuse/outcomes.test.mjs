// Crashes, hangs and wrong outcomes seen in real use (issue 13, items 7-13): callbacks that
// reject or throw, abort and deadline while shouldRetry thinks, custom fetches that ignore
// their signal, return no Response or throw programming errors, node-fetch, and fetch
// failures that are the same on every attempt (redirects).
import assert from "node:assert/strict";
import nodeFetch from "node-fetch";
import { createRetryFetch } from "../../../pkg/node.js";
import { test, describe, uniquePath, FAST, sleep, timed, until, assertNoMoreRequests, useFaultServer } from "../node/_helpers.mjs";

const srv = useFaultServer();

function flaky(attempts = 3, last = { status: 200, body: "done" }) {
  const path = uniquePath("out");
  srv.script(path, [...Array(attempts - 1).fill({ status: 503 }), last]);
  return path;
}

// Resolves after `ms` with a Response, whatever its signal says.
const deafFetch = (ms) => () => sleep(ms).then(() => new Response("late"));

describe("callbacks", () => {
  test("a random callback that throws releases the discarded response's body (item 7)", async () => {
    // The body stands for the connection: fetch releases it when its body is cancelled.
    let cancelled = 0;
    const busy = async () => new Response(new ReadableStream({ pull() {}, cancel() { cancelled++; } }), { status: 503 });
    const boom = new Error("random boom");
    const rf = createRetryFetch({ ...FAST, fetch: busy, random: () => { throw boom; } });
    await assert.rejects(rf("http://127.0.0.1:9/x"), (e) => e === boom);
    assert.ok(await until(() => cancelled === 1, 1000), "the response's body was cancelled");
  });

  test("an async onRetry that rejects is no unhandled rejection; the call goes on (item 8)", async () => {
    const unhandled = [];
    const onUnhandled = (reason) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const path = flaky();
      let calls = 0;
      const rf = createRetryFetch({ ...FAST, onRetry: async () => { calls++; throw new Error("async onRetry boom"); } });
      const res = await rf(srv.url(path));
      assert.equal(res.status, 200);
      assert.equal(calls, 2);
      await sleep(50);
      assert.deepEqual(unhandled, []);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });
});

describe("abort and the deadline hold while shouldRetry is pending (item 9)", () => {
  const slowVerdict = () => sleep(1500).then(() => true);

  test("an abort at 100 ms rejects with its reason at once", async () => {
    const path = flaky();
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("stop now")), 100);
    const rf = createRetryFetch({ ...FAST, shouldRetry: slowVerdict });
    const { ms, error } = await timed(rf(srv.url(path), { signal: controller.signal }));
    assert.equal(error && error.message, "stop now");
    assert.ok(ms < 900, `settled after ${ms} ms, not after shouldRetry's 1.5 s`);
    await assertNoMoreRequests(srv, path, 1);
  });

  test("a 200 ms deadline resolves with the last response at once", async () => {
    const path = flaky();
    const rf = createRetryFetch({ ...FAST, timeoutMs: 200, shouldRetry: slowVerdict });
    const { ms, value } = await timed(rf(srv.url(path)));
    assert.equal(value && value.status, 503);
    assert.ok(ms < 900, `settled after ${ms} ms`);
    await assertNoMoreRequests(srv, path, 1);
  });
});

describe("shouldRetry: only false stops", () => {
  for (const [name, verdict] of [["undefined", undefined], ["null", null], ["true", true], ["0", 0]]) {
    for (const promised of [false, true]) {
      test(`${promised ? "a Promise of " : ""}${name} leaves it to the rules`, async () => {
        const path = flaky();
        const rf = createRetryFetch({ ...FAST, shouldRetry: () => (promised ? Promise.resolve(verdict) : verdict) });
        const res = await rf(srv.url(path));
        assert.equal(res.status, 200);
        assert.equal(srv.requests(path).length, 3);
      });
    }
  }
  for (const promised of [false, true]) {
    test(`${promised ? "a Promise of " : ""}false stops with that outcome`, async () => {
      const path = flaky();
      const rf = createRetryFetch({ ...FAST, shouldRetry: () => (promised ? Promise.resolve(false) : false) });
      const res = await rf(srv.url(path));
      assert.equal(res.status, 503);
      await assertNoMoreRequests(srv, path, 1);
    });
  }
});

describe("a custom fetch that ignores init.signal (item 10)", () => {
  test("attemptTimeoutMs is enforced: each attempt times out, the call rejects TimeoutError", async () => {
    const rf = createRetryFetch({ ...FAST, fetch: deafFetch(1000), attemptTimeoutMs: 100, maxAttempts: 2 });
    const { ms, error } = await timed(rf("http://127.0.0.1:9/x"));
    assert.equal(error && error.name, "TimeoutError");
    assert.ok(ms < 700, `settled after ${ms} ms`);
  });

  test("timeoutMs is enforced", async () => {
    const rf = createRetryFetch({ ...FAST, fetch: deafFetch(1000), timeoutMs: 150 });
    const { ms, error } = await timed(rf("http://127.0.0.1:9/x"));
    assert.equal(error && error.name, "TimeoutError");
    assert.ok(ms < 700, `settled after ${ms} ms`);
  });

  test("the caller's abort is enforced with no timeout set", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("gone")), 100);
    const rf = createRetryFetch({ ...FAST, fetch: deafFetch(1000) });
    const { ms, error } = await timed(rf("http://127.0.0.1:9/x", { signal: controller.signal }));
    assert.equal(error && error.message, "gone");
    assert.ok(ms < 700, `settled after ${ms} ms`);
  });
});

test("node-fetch v3 as the custom fetch: retried responses are released, the retry succeeds (item 11)", async () => {
  const path = flaky();
  const rf = createRetryFetch({ ...FAST, fetch: nodeFetch });
  const res = await rf(srv.url(path), { method: "PUT", body: "nf" });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "done");
  assert.equal(srv.requests(path).length, 3);
});

describe("a custom fetch that resolves with no Response (item 12)", () => {
  for (const [name, value, words] of [["undefined", undefined, "undefined"], ["null", null, "null"], ["a plain object", { ok: true }, "not a Response"]]) {
    test(`${name}: a TypeError saying so, one attempt, no success counted`, async () => {
      let calls = 0;
      const rf = createRetryFetch({ ...FAST, fetch: async () => { calls++; return value; } });
      await assert.rejects(rf("http://127.0.0.1:9/x"), (e) => e instanceof TypeError && e.message.includes(words) && e.message.includes("Response"));
      assert.equal(calls, 1);
      assert.equal(rf.stats().successes, 0);
    });
  }
});

describe("failures that are the same on every attempt are not retried (item 13)", () => {
  for (const ErrorType of [ReferenceError, SyntaxError, RangeError]) {
    test(`a custom fetch that throws a ${ErrorType.name}: rejected at once, the breaker not told`, async () => {
      let calls = 0;
      const bug = new ErrorType("a bug in the fetch");
      const rf = createRetryFetch({ ...FAST, breaker: { minimumRequests: 1 }, fetch: async () => { calls++; throw bug; } });
      for (let i = 0; i < 3; i++) await assert.rejects(rf("http://127.0.0.1:9/x"), (e) => e === bug);
      assert.equal(calls, 3, "one attempt per call");
      const state = rf.breaker("http://127.0.0.1:9");
      assert.equal(state.state, "closed");
      assert.equal(state.failures, 0);
    });
  }

  test('redirect: "error": 5 calls send 5 requests and leave the breaker closed', async () => {
    const path = uniquePath("redir");
    srv.script(path, [{ status: 302, headers: { location: "/elsewhere" } }]);
    const rf = createRetryFetch({ ...FAST, breaker: { minimumRequests: 2 } });
    for (let i = 0; i < 5; i++) await assert.rejects(rf(srv.url(path), { redirect: "error" }), TypeError);
    assert.equal(srv.requests(path).length, 5);
    assert.equal(rf.breaker(srv.origin).state, "closed");
    assert.equal(rf.breaker(srv.origin).failures, 0);
  });

  test("a redirect loop sends what fetch sends (21 requests), not three times that", async () => {
    const path = uniquePath("loop");
    srv.script(path, [{ status: 302, headers: { location: path } }]);
    const rf = createRetryFetch(FAST);
    await assert.rejects(rf(srv.url(path)), TypeError);
    await assertNoMoreRequests(srv, path, 21);
  });

  test("a bad header is refused by the platform: one attempt, its own error", async () => {
    let calls = 0;
    const rf = createRetryFetch({ ...FAST, fetch: (...args) => { calls++; return fetch(...args); } });
    await assert.rejects(rf(srv.url("/x"), { headers: { "bad header": "x" } }), TypeError);
    assert.equal(calls, 1);
  });

  test("a real network error is still retried", async () => {
    const path = uniquePath("reset");
    srv.script(path, [{ reset: true }, { reset: true }, { status: 200 }]);
    const rf = createRetryFetch(FAST);
    const res = await rf(srv.url(path));
    assert.equal(res.status, 200);
    assert.equal(srv.requests(path).length, 3);
  });
});
