// SPEC §3 (methods, abort, discarded bodies), §2 attemptTimeoutMs and timeoutMs.
import assert from "node:assert/strict";
import { createRetryFetch } from "../../../pkg/node.js";
import {
  test,
  before,
  after,
  describe,
  uniquePath,
  FAST,
  sleep,
  until,
  timed,
  between,
  performance,
  assertNoMoreRequests,
  requestsAfter,
  useFaultServer,
} from "./_helpers.mjs";

const srv = useFaultServer();

describe("§3 methods", () => {
  test("POST is not retried: a 503 is sent once and resolves", async () => {
    const path = uniquePath("post");
    srv.script(path, [{ status: 503 }, { status: 200 }]);
    const rf = createRetryFetch({ ...FAST });
    const res = await rf(srv.url(path), { method: "POST", body: "x" });
    assert.equal(res.status, 503);
    await assertNoMoreRequests(srv, path, 1, 50);
  });

  test("PATCH is not retried", async () => {
    const path = uniquePath("patch");
    srv.script(path, [{ status: 503 }, { status: 200 }]);
    const rf = createRetryFetch({ ...FAST });
    assert.equal((await rf(srv.url(path), { method: "PATCH", body: "x" })).status, 503);
    await assertNoMoreRequests(srv, path, 1, 50);
  });

  test("POST with a network error is sent once and rejects with the TypeError", async () => {
    const path = uniquePath("post-reset");
    srv.script(path, [{ reset: true }, { status: 200 }]);
    const rf = createRetryFetch({ ...FAST });
    await assert.rejects(rf(srv.url(path), { method: "POST", body: "x" }), (e) => e instanceof TypeError);
    await assertNoMoreRequests(srv, path, 1, 50);
  });

  test("POST with an Idempotency-Key is retried (plain object, Headers, pairs; any case)", async () => {
    const variants = [
      { "Idempotency-Key": "a" },
      { "idempotency-key": "b" },
      new Headers({ "IDEMPOTENCY-KEY": "c" }),
      [["Idempotency-Key", "d"]],
    ];
    for (const headers of variants) {
      const path = uniquePath("post-idem");
      srv.script(path, [{ status: 503 }, { status: 200 }]);
      const rf = createRetryFetch({ ...FAST });
      const res = await rf(srv.url(path), { method: "POST", body: "x", headers });
      assert.equal(res.status, 200, `headers ${JSON.stringify(headers)}`);
      assert.equal(srv.requests(path).length, 2);
    }
  });

  test("PATCH with an Idempotency-Key is retried", async () => {
    const path = uniquePath("patch-idem");
    srv.script(path, [{ status: 503 }, { status: 200 }]);
    const rf = createRetryFetch({ ...FAST });
    assert.equal((await rf(srv.url(path), { method: "PATCH", body: "x", headers: { "Idempotency-Key": "k" } })).status, 200);
    assert.equal(srv.requests(path).length, 2);
  });

  test("a Request input: POST with an Idempotency-Key in its headers is retried; without it, not", async () => {
    const p1 = uniquePath("req-idem");
    srv.script(p1, [{ status: 503 }, { status: 200 }]);
    const rf = createRetryFetch({ ...FAST });
    const r1 = await rf(new Request(srv.url(p1), { method: "POST", body: "b", headers: { "Idempotency-Key": "z" } }));
    assert.equal(r1.status, 200);
    assert.equal(srv.requests(p1).length, 2);

    const p2 = uniquePath("req-post");
    srv.script(p2, [{ status: 503 }, { status: 200 }]);
    const r2 = await rf(new Request(srv.url(p2), { method: "POST", body: "b" }));
    assert.equal(r2.status, 503);
    await assertNoMoreRequests(srv, p2, 1, 50);
  });

  test("method names are case-insensitive like fetch's: 'put' is retried, 'post' is not", async () => {
    const p1 = uniquePath("lower-put");
    srv.script(p1, [{ status: 503 }, { status: 200 }]);
    const rf = createRetryFetch({ ...FAST });
    assert.equal((await rf(srv.url(p1), { method: "put", body: "x" })).status, 200);
    assert.equal(srv.requests(p1).length, 2);
    assert.equal(srv.requests(p1)[0].method, "PUT");

    const p2 = uniquePath("lower-post");
    srv.script(p2, [{ status: 503 }, { status: 200 }]);
    assert.equal((await rf(srv.url(p2), { method: "post", body: "x" })).status, 503);
    await assertNoMoreRequests(srv, p2, 1, 50);
  });

  test("one instance, methods in turn (the driver passes common ones as codes, others by name): each is retried or not by its own name", async () => {
    // Interleaved so a method passed by name is never mistaken for the one before it.
    const rf = createRetryFetch({ ...FAST });
    const cases = [
      ["GET", true], ["PROPFIND", false], ["DELETE", true], ["POST", false], ["options", true],
      ["PURGE", false], ["HEAD", true], ["PATCH", false], ["PUT", true], ["Get", true], ["LOCK", false],
    ];
    for (const [method, retried] of cases) {
      const path = uniquePath(`method-${method}`);
      srv.script(path, [{ status: 503 }, { status: 200 }]);
      const res = await rf(srv.url(path), { method });
      assert.equal(res.status, retried ? 200 : 503, method);
      await assertNoMoreRequests(srv, path, retried ? 2 : 1, 30);
      assert.equal(srv.requests(path)[0].method.toUpperCase(), method.toUpperCase());
    }
  });
});

describe("§3 abort", () => {
  test("an already-aborted signal rejects with its reason and nothing is sent", async () => {
    const path = uniquePath("pre-abort");
    const reason = new Error("stop before");
    const rf = createRetryFetch({ ...FAST });
    await assert.rejects(rf(srv.url(path), { signal: AbortSignal.abort(reason) }), (e) => e === reason);
    await assertNoMoreRequests(srv, path, 0, 50);
  });

  test("abort during a backoff wait settles promptly with signal.reason; no further request is sent", async () => {
    const path = uniquePath("abort-wait");
    srv.script(path, [{ status: 503 }, { status: 200 }]);
    const ac = new AbortController();
    const reason = new Error("user cancelled");
    let waitStarted;
    const rf = createRetryFetch({ ...FAST, baseDelayMs: 300, onRetry: () => (waitStarted = performance.now()) });
    const p = timed(rf(srv.url(path), { signal: ac.signal }));
    assert.ok(await until(() => waitStarted !== undefined, 2000), "the wait began");
    await sleep(50);
    const t0 = performance.now();
    ac.abort(reason);
    const r = await p;
    const settleMs = performance.now() - t0;
    assert.equal(r.ok, false);
    assert.equal(r.error, reason, "rejects with the signal's reason");
    assert.ok(settleMs < 50, `settled within a tick or so (${settleMs.toFixed(1)} ms)`);
    // the 300 ms wait would have ended by now: still one request
    await assertNoMoreRequests(srv, path, 1, 400);
  });

  test("abort during a backoff wait with no reason rejects with an AbortError DOMException", async () => {
    const path = uniquePath("abort-default");
    srv.script(path, [{ status: 503 }]);
    const ac = new AbortController();
    const rf = createRetryFetch({ ...FAST, baseDelayMs: 1000, onRetry: () => setTimeout(() => ac.abort(), 20) });
    const { ms, error } = await timed(rf(srv.url(path), { signal: ac.signal }));
    assert.ok(error instanceof DOMException && error.name === "AbortError", `an AbortError (${error})`);
    assert.ok(ms < 500, `settled at the abort, not after the wait (${ms.toFixed(0)} ms)`);
    await assertNoMoreRequests(srv, path, 1, 50);
  });

  test("abort during an attempt (hanging server) rejects with the reason; the server sees the connection close", async () => {
    const path = uniquePath("abort-attempt");
    srv.script(path, [{ hang: true }]);
    const ac = new AbortController();
    const reason = new Error("cancel in flight");
    const rf = createRetryFetch({ ...FAST });
    const p = timed(rf(srv.url(path), { signal: ac.signal }));
    await requestsAfter(srv, path, 1);
    const t0 = performance.now();
    ac.abort(reason);
    const r = await p;
    assert.equal(r.error, reason);
    assert.ok(performance.now() - t0 < 100, "promptly");
    assert.ok(await until(() => srv.requests(path)[0].closedEarly, 1000), "the server saw the request closed");
    await assertNoMoreRequests(srv, path, 1, 50);
  });

  test("after the call resolved, aborting still cancels reading the body, as with fetch (with and without timeouts set)", async () => {
    for (const retry of [{}, { attemptTimeoutMs: 5000 }, { timeoutMs: 5000 }]) {
      const path = uniquePath("abort-body");
      srv.script(path, [{ bodyBytes: 1048576, chunkBytes: 16384, slowBodyMs: 20 }]); // ~1.3 s of body
      const ac = new AbortController();
      const reason = new Error("stop reading");
      const rf = createRetryFetch({ ...FAST });
      const res = await rf(srv.url(path), { signal: ac.signal, retry });
      assert.equal(res.status, 200);
      setTimeout(() => ac.abort(reason), 50);
      const outcome = await Promise.race([
        res.arrayBuffer().then((b) => `read all ${b.byteLength} bytes`, (e) => e),
        sleep(1000).then(() => "still reading 1 s after the abort"),
      ]);
      assert.equal(outcome, reason, `retry ${JSON.stringify(retry)}: the body read rejects with the reason`);
    }
  });

  test("the signal of a Request input aborts a backoff wait too", async () => {
    const path = uniquePath("abort-request");
    srv.script(path, [{ status: 503 }]);
    const ac = new AbortController();
    const reason = new Error("request signal");
    const rf = createRetryFetch({ ...FAST, baseDelayMs: 1000, onRetry: () => setTimeout(() => ac.abort(reason), 20) });
    const { ms, error } = await timed(rf(new Request(srv.url(path), { signal: ac.signal })));
    assert.equal(error, reason);
    assert.ok(ms < 500, `${ms}`);
    await assertNoMoreRequests(srv, path, 1, 50);
  });

  test("abort while an async shouldRetry is pending: rejects with the reason, nothing more is sent", async () => {
    const path = uniquePath("abort-should");
    srv.script(path, [{ status: 503 }]);
    const ac = new AbortController();
    const reason = new Error("abort in hook");
    let onRetryCalls = 0;
    const rf = createRetryFetch({
      ...FAST,
      shouldRetry: async () => {
        ac.abort(reason);
        await sleep(20);
        return true;
      },
      onRetry: () => onRetryCalls++,
    });
    await assert.rejects(rf(srv.url(path), { signal: ac.signal }), (e) => e === reason);
    await assertNoMoreRequests(srv, path, 1, 100);
    assert.equal(onRetryCalls, 0);
  });
});

describe("§2 attemptTimeoutMs", () => {
  test("a hanging attempt times out and is retried like a network error", async () => {
    const path = uniquePath("attempt-timeout");
    srv.script(path, [{ hang: true }, { status: 200, body: "second" }]);
    const events = [];
    const rf = createRetryFetch({ ...FAST, attemptTimeoutMs: 100, onRetry: (ev) => events.push(ev) });
    const { ms, value } = await timed(rf(srv.url(path)));
    assert.equal(value.status, 200);
    assert.equal(await value.text(), "second");
    const reqs = srv.requests(path);
    assert.equal(reqs.length, 2);
    // the timer starts at the client, before the first request reaches the server: loose bound
    between(reqs[1].t - reqs[0].t, 60, 1000, "second attempt after the timeout");
    assert.ok(ms < 1500);
    assert.equal(events.length, 1);
    assert.equal(events[0].reason, "timeout");
    assert.equal(events[0].status, undefined);
    assert.ok(events[0].error instanceof DOMException && events[0].error.name === "TimeoutError", `error ${events[0].error}`);
    assert.ok(await until(() => reqs[0].closedEarly, 1000), "the timed-out request was aborted (connection closed)");
  });

  test("a slow response (headers later than the timeout) is timed out too", async () => {
    const path = uniquePath("attempt-slow");
    srv.script(path, [{ delayMs: 400, status: 200 }, { status: 200, body: "fast" }]);
    const rf = createRetryFetch({ ...FAST, attemptTimeoutMs: 100 });
    const res = await rf(srv.url(path));
    assert.equal(await res.text(), "fast");
    assert.equal(srv.requests(path).length, 2);
  });

  test("every attempt timing out rejects with a TimeoutError after maxAttempts", async () => {
    const path = uniquePath("attempt-timeout-all");
    srv.script(path, [{ hang: true }]);
    const rf = createRetryFetch({ ...FAST, attemptTimeoutMs: 60, maxAttempts: 3 });
    const { ms, error } = await timed(rf(srv.url(path)));
    assert.ok(error instanceof DOMException, `a DOMException (${error})`);
    assert.equal(error.name, "TimeoutError");
    between(ms, 170, 1500, "three timeouts");
    await assertNoMoreRequests(srv, path, 3, 50);
  });

  test("a response within the timeout is not affected", async () => {
    const path = uniquePath("attempt-ok");
    srv.script(path, [{ delayMs: 20, status: 200, body: "in time" }]);
    const rf = createRetryFetch({ ...FAST, attemptTimeoutMs: 500 });
    const res = await rf(srv.url(path));
    assert.equal(await res.text(), "in time");
    assert.equal(srv.requests(path).length, 1);
  });
});

describe("§2 timeoutMs (overall deadline)", () => {
  test("a deadline reached during an attempt rejects with a TimeoutError DOMException", async () => {
    const path = uniquePath("deadline-attempt");
    srv.script(path, [{ hang: true }]);
    const rf = createRetryFetch({ ...FAST });
    const { ms, error } = await timed(rf(srv.url(path), { retry: { timeoutMs: 200 } }));
    assert.ok(error instanceof DOMException, `a DOMException (${error})`);
    assert.equal(error.name, "TimeoutError");
    between(ms, 180, 1000, "at the deadline");
    assert.ok(await until(() => srv.requests(path)[0].closedEarly, 1000), "the attempt was aborted");
    await assertNoMoreRequests(srv, path, 1, 50);
  });

  test("a deadline reached during a later attempt rejects with a TimeoutError", async () => {
    const path = uniquePath("deadline-second");
    srv.script(path, [{ status: 503 }, { hang: true }]);
    const rf = createRetryFetch({ ...FAST });
    const { ms, error } = await timed(rf(srv.url(path), { retry: { timeoutMs: 250 } }));
    assert.equal(error && error.name, "TimeoutError");
    between(ms, 230, 1000, "at the deadline");
    assert.equal(srv.requests(path).length, 2);
  });

  test("a deadline that would cut a wait resolves at once with the last response", async () => {
    const path = uniquePath("deadline-cut");
    srv.script(path, [{ status: 503, body: "still down" }, { status: 200 }]);
    const rf = createRetryFetch({ ...FAST });
    const { ms, value } = await timed(rf(srv.url(path), { retry: { baseDelayMs: 500, timeoutMs: 300 } }));
    assert.equal(value.status, 503);
    assert.equal(await value.text(), "still down");
    assert.ok(ms < 250, `at once (${ms.toFixed(0)} ms)`);
    await assertNoMoreRequests(srv, path, 1, 50);
  });

  test("a deadline that would cut a wait after a network error rejects at once with that error", async () => {
    const path = uniquePath("deadline-cut-net");
    srv.script(path, [{ reset: true }, { status: 200 }]);
    const rf = createRetryFetch({ ...FAST });
    const { ms, error } = await timed(rf(srv.url(path), { retry: { baseDelayMs: 500, timeoutMs: 300 } }));
    assert.ok(error instanceof TypeError, `the network error (${error})`);
    assert.ok(ms < 250, `at once (${ms.toFixed(0)} ms)`);
    await assertNoMoreRequests(srv, path, 1, 50);
  });

  test("the deadline also cuts an attempt that has its own longer attemptTimeoutMs", async () => {
    const path = uniquePath("deadline-vs-attempt");
    srv.script(path, [{ hang: true }]);
    const rf = createRetryFetch({ ...FAST });
    const { ms, error } = await timed(rf(srv.url(path), { retry: { timeoutMs: 150, attemptTimeoutMs: 5000 } }));
    assert.equal(error && error.name, "TimeoutError");
    between(ms, 130, 1000, "at the deadline");
  });
});

describe("§3 discarded response bodies are cancelled", () => {
  test("a large slow body on a retried 503 is cancelled before the wait: the server's write is cut short", async () => {
    const path = uniquePath("cancel-body");
    // 4 MiB in 64 KiB chunks every 20 ms: about 1.3 s to send if nobody cancels
    srv.script(path, [{ status: 503, bodyBytes: 4 * 1048576, chunkBytes: 65536, slowBodyMs: 20 }, { status: 200 }]);
    const rf = createRetryFetch({ ...FAST, baseDelayMs: 150 });
    const { ms, value } = await timed(rf(srv.url(path)));
    assert.equal(value.status, 200);
    assert.ok(ms < 1000, `did not wait for the discarded body (${ms.toFixed(0)} ms)`);
    const reqs = srv.requests(path);
    assert.equal(reqs.length, 2);
    assert.ok(await until(() => reqs[0].closedEarly, 1000), "the server saw the 503's stream closed early");
    assert.equal(reqs[0].finished, false, "the 503's body was never sent whole");
    assert.ok(reqs[0].closedAt < reqs[1].t, "cancelled before the next attempt (before the wait ended)");
  });

  test("the body is cancelled too when shouldRetry allowed the retry (after it could read the headers)", async () => {
    const path = uniquePath("cancel-should");
    srv.script(path, [{ status: 503, bodyBytes: 4 * 1048576, chunkBytes: 65536, slowBodyMs: 20 }, { status: 200 }]);
    const rf = createRetryFetch({ ...FAST, baseDelayMs: 150, shouldRetry: async (ctx) => ctx.response.status === 503 });
    const res = await rf(srv.url(path));
    assert.equal(res.status, 200);
    const reqs = srv.requests(path);
    assert.ok(await until(() => reqs[0].closedEarly, 1000), "the 503's stream was closed early");
    assert.ok(reqs[0].closedAt < reqs[1].t, "before the next attempt");
  });

  test("connections are released: repeated retried 503s with slow bodies do not pile up open sockets", async () => {
    const rf = createRetryFetch({ ...FAST });
    const paths = [];
    for (let i = 0; i < 6; i++) {
      const path = uniquePath("cancel-many");
      paths.push(path);
      // 2 MiB in 64 KiB chunks every 30 ms: about 1 s to send if nobody cancels
      srv.script(path, [{ status: 503, bodyBytes: 2 * 1048576, chunkBytes: 65536, slowBodyMs: 30 }, { status: 200 }]);
      const res = await rf(srv.url(path));
      assert.equal(res.status, 200);
      await res.text();
    }
    const discarded = () => paths.map((p) => srv.requests(p)[0]);
    await until(() => discarded().every((r) => r.closedEarly), 500);
    assert.deepEqual(discarded().map((r) => r.closedEarly), Array(6).fill(true), "every discarded 503 stream was closed early");
    // without cancellation six slow writers would still hold their sockets (plus the idle one)
    await until(() => srv.openConnections() <= 4, 500);
    assert.ok(srv.openConnections() <= 4, `open connections: ${srv.openConnections()}`);
  });

  test("the final response's body is not cancelled (a 503 after the attempts is readable whole)", async () => {
    const path = uniquePath("final-body");
    srv.script(path, [{ status: 503, bodyBytes: 200000, chunkBytes: 50000, slowBodyMs: 10 }]);
    const rf = createRetryFetch({ ...FAST, maxAttempts: 2 });
    const res = await rf(srv.url(path));
    assert.equal(res.status, 503);
    assert.equal((await res.arrayBuffer()).byteLength, 200000);
  });
});
