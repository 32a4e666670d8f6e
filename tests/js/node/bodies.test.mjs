// SPEC §3 bodies: every attempt sends the whole original body, whatever its type; stream
// replay within maxReplayBytes; longer streams sent once and not retried; erroring streams.
// The bytes the server recorded for every attempt are compared.
import assert from "node:assert/strict";
import { createRetryFetch } from "../../../pkg/node.js";
import {
  test,
  after,
  describe,
  uniquePath,
  FAST,
  sleep,
  assertNoMoreRequests,
  useFaultServer,
} from "./_helpers.mjs";

const srv = useFaultServer();

const enc = new TextEncoder();
const bytesOf = (n, seed = 1) => {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7) & 0xff;
  return b;
};

function streamOf(chunks) {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(chunks[i++]);
      else controller.close();
    },
  });
}

// Runs a PUT with `body` against 503, 503, 200 and returns the server's records.
async function threeAttempts(makeInit, { attempts = 3, options = {}, input } = {}) {
  const path = uniquePath("body");
  srv.script(path, [...Array(attempts - 1).fill({ status: 503 }), { status: 200 }]);
  const rf = createRetryFetch({ ...FAST, maxAttempts: attempts, ...options });
  const res = await rf(input ? input(srv.url(path)) : srv.url(path), makeInit());
  assert.equal(res.status, 200, "the last attempt succeeds");
  const reqs = srv.requests(path);
  assert.equal(reqs.length, attempts, `${attempts} attempts reached the server`);
  return reqs;
}

function assertAllBodies(reqs, expected) {
  const want = Buffer.from(expected);
  reqs.forEach((r, i) => {
    assert.ok(r.bodyComplete, `attempt ${i + 1}: body complete`);
    assert.equal(r.body.length, want.length, `attempt ${i + 1}: body length`);
    assert.ok(r.body.equals(want), `attempt ${i + 1}: same bytes`);
  });
}

describe("§3 every attempt sends the whole body, whatever its type", () => {
  test("string", async () => {
    const reqs = await threeAttempts(() => ({ method: "PUT", body: "héllo wörld" }));
    assertAllBodies(reqs, enc.encode("héllo wörld"));
    assert.ok(reqs.every((r) => r.headers["content-type"].startsWith("text/plain")));
  });

  test("ArrayBuffer", async () => {
    const data = bytesOf(1000);
    const reqs = await threeAttempts(() => ({ method: "PUT", body: data.slice().buffer }));
    assertAllBodies(reqs, data);
  });

  test("typed arrays (Uint8Array, Uint16Array, a subarray view)", async () => {
    const data = bytesOf(512, 2);
    assertAllBodies(await threeAttempts(() => ({ method: "PUT", body: data })), data);
    const u16 = new Uint16Array([1, 2, 0xffff, 0x1234]);
    assertAllBodies(await threeAttempts(() => ({ method: "PUT", body: u16 })), new Uint8Array(u16.buffer));
    const big = bytesOf(100, 3);
    const view = big.subarray(10, 60);
    assertAllBodies(await threeAttempts(() => ({ method: "PUT", body: view })), big.slice(10, 60));
  });

  test("Blob (with its type as content-type)", async () => {
    const data = bytesOf(3000, 4);
    const reqs = await threeAttempts(() => ({ method: "PUT", body: new Blob([data], { type: "application/x-test" }) }));
    assertAllBodies(reqs, data);
    assert.ok(reqs.every((r) => r.headers["content-type"] === "application/x-test"));
  });

  test("FormData (same fields every attempt; the multipart boundary may differ)", async () => {
    const reqs = await threeAttempts(() => {
      const fd = new FormData();
      fd.append("name", "value-1");
      fd.append("file", new Blob(["file-content"], { type: "text/plain" }), "a.txt");
      return { method: "PUT", body: fd };
    });
    const normalized = reqs.map((r) => {
      const m = /boundary=(.+)$/.exec(r.headers["content-type"] || "");
      assert.ok(m, `multipart content-type: ${r.headers["content-type"]}`);
      assert.ok(r.bodyComplete);
      return r.body.toString("latin1").split(m[1]).join("BOUNDARY");
    });
    assert.ok(normalized[0].includes('name="name"') && normalized[0].includes("value-1"));
    assert.ok(normalized[0].includes('filename="a.txt"') && normalized[0].includes("file-content"));
    assert.equal(normalized[1], normalized[0]);
    assert.equal(normalized[2], normalized[0]);
  });

  test("URLSearchParams", async () => {
    const reqs = await threeAttempts(() => ({ method: "PUT", body: new URLSearchParams({ a: "1", b: "x y" }) }));
    assertAllBodies(reqs, enc.encode("a=1&b=x+y"));
    assert.ok(reqs.every((r) => r.headers["content-type"].startsWith("application/x-www-form-urlencoded")));
  });

  test("ReadableStream: read once into the replay buffer, replayed whole on every attempt", async () => {
    const chunks = [bytesOf(100, 5), bytesOf(7, 6), bytesOf(3000, 7)];
    const whole = Buffer.concat(chunks.map((c) => Buffer.from(c)));
    const reqs = await threeAttempts(() => ({ method: "PUT", body: streamOf(chunks), duplex: "half" }));
    assertAllBodies(reqs, whole);
  });

  test("ReadableStream of exactly maxReplayBytes is replayed", async () => {
    const chunks = [bytesOf(6, 8), bytesOf(4, 9)];
    const whole = Buffer.concat(chunks.map((c) => Buffer.from(c)));
    const reqs = await threeAttempts(() => ({ method: "PUT", body: streamOf(chunks), duplex: "half" }), { options: { maxReplayBytes: 10 } });
    assertAllBodies(reqs, whole);
  });

  test("Request input with a body is replayed on every attempt", async () => {
    const data = bytesOf(2048, 10);
    const reqs = await threeAttempts(() => undefined, {
      input: (url) => new Request(url, { method: "PUT", body: data, headers: { "x-from-request": "1" } }),
    });
    assertAllBodies(reqs, data);
    assert.ok(reqs.every((r) => r.method === "PUT" && r.headers["x-from-request"] === "1"));
  });

  test("Request input whose body is a stream is replayed on every attempt", async () => {
    const chunks = [bytesOf(10, 11), bytesOf(20, 12)];
    const whole = Buffer.concat(chunks.map((c) => Buffer.from(c)));
    const reqs = await threeAttempts(() => undefined, {
      input: (url) => new Request(url, { method: "PUT", body: streamOf(chunks), duplex: "half" }),
    });
    assertAllBodies(reqs, whole);
  });

  test("POST with an Idempotency-Key: the body is sent whole on each attempt", async () => {
    const reqs = await threeAttempts(() => ({ method: "POST", body: "pay 10", headers: { "Idempotency-Key": "k-1" } }));
    assertAllBodies(reqs, enc.encode("pay 10"));
    assert.ok(reqs.every((r) => r.headers["idempotency-key"] === "k-1"));
  });
});

describe("§3 streams beyond maxReplayBytes and erroring streams", () => {
  test("a stream of non-Uint8Array chunks is never sent empty or altered: whole bytes (as fetch sends them) or a TypeError", async () => {
    // Node's own fetch sends a string chunk as UTF-8 and a typed array or DataView as its bytes;
    // the fetch standard rejects such chunks. Either is acceptable; an empty or corrupted body is not.
    const u16 = new Uint16Array([0x4142, 0x4344]);
    const cases = [
      ["string", () => "héllo", Buffer.from("héllo")],
      ["Uint16Array", () => u16, Buffer.from(u16.buffer)],
      ["DataView", () => new DataView(new Uint8Array([5, 6, 7]).buffer), Buffer.from([5, 6, 7])],
    ];
    const problems = [];
    for (const [name, chunk, expected] of cases) {
      const path = uniquePath("chunks-" + name);
      srv.script(path, [{ status: 503 }, { status: 200 }]);
      const rf = createRetryFetch({ ...FAST, maxAttempts: 2 });
      let outcome;
      try {
        outcome = (await rf(srv.url(path), { method: "PUT", body: streamOf([chunk()]), duplex: "half" })).status;
      } catch (e) {
        outcome = e;
      }
      await sleep(30);
      const reqs = srv.requests(path);
      if (outcome instanceof Error) {
        if (!(outcome instanceof TypeError)) problems.push(`${name}: rejects with ${outcome}, not a TypeError`);
        for (const r of reqs) if (r.bodyComplete && !r.body.equals(expected)) problems.push(`${name}: an altered body was delivered`);
      } else {
        reqs.forEach((r, i) => {
          if (!r.body.equals(expected)) problems.push(`${name}: attempt ${i + 1} sent ${JSON.stringify([...r.body])}, expected ${JSON.stringify([...expected])}`);
        });
      }
    }
    assert.deepEqual(problems, []);
  });

  test("a stream longer than maxReplayBytes is sent whole, once, and not retried", async () => {
    const path = uniquePath("toolong");
    srv.script(path, [{ status: 503 }, { status: 200 }]);
    const chunks = [bytesOf(5, 13), bytesOf(5, 14), bytesOf(5, 15), bytesOf(10, 16)];
    const whole = Buffer.concat(chunks.map((c) => Buffer.from(c)));
    let retried = 0;
    const rf = createRetryFetch({ ...FAST, maxReplayBytes: 10, onRetry: () => retried++ });
    const res = await rf(srv.url(path), { method: "PUT", body: streamOf(chunks), duplex: "half" });
    assert.equal(res.status, 503, "settles with the outcome of the single attempt");
    await assertNoMoreRequests(srv, path, 1, 50);
    const [r] = srv.requests(path);
    assert.ok(r.bodyComplete);
    assert.ok(r.body.equals(whole), `the whole stream was sent (${r.body.length} of ${whole.length} bytes)`);
    assert.equal(retried, 0);
  });

  test("a stream longer than the default maxReplayBytes (1 MiB) is sent once; exactly 1 MiB is replayed", async () => {
    const oneMiB = 1048576;
    // exactly the default limit: replayed
    const exact = bytesOf(oneMiB, 17);
    const reqs = await threeAttempts(() => ({ method: "PUT", body: streamOf([exact.subarray(0, 500000), exact.subarray(500000)]), duplex: "half" }), {
      attempts: 2,
    });
    assertAllBodies(reqs, exact);
    // one byte more: once
    const path = uniquePath("toolong-default");
    srv.script(path, [{ status: 503 }, { status: 200 }]);
    const rf = createRetryFetch({ ...FAST });
    const res = await rf(srv.url(path), { method: "PUT", body: streamOf([exact, new Uint8Array([1])]), duplex: "half" });
    assert.equal(res.status, 503);
    await assertNoMoreRequests(srv, path, 1, 50);
    assert.equal(srv.requests(path)[0].body.length, oneMiB + 1);
  });

  test("maxReplayBytes 0: a non-empty stream is sent once; other body types still replay", async () => {
    const path = uniquePath("zero-replay");
    srv.script(path, [{ status: 503 }, { status: 200 }]);
    const rf = createRetryFetch({ ...FAST, maxReplayBytes: 0 });
    const res = await rf(srv.url(path), { method: "PUT", body: streamOf([bytesOf(3, 18)]), duplex: "half" });
    assert.equal(res.status, 503);
    await assertNoMoreRequests(srv, path, 1, 50);
    assert.equal(srv.requests(path)[0].body.length, 3);

    const reqs = await threeAttempts(() => ({ method: "PUT", body: "not a stream" }), { options: { maxReplayBytes: 0 } });
    assertAllBodies(reqs, enc.encode("not a stream"));
  });

  test("a stream that errors while being read rejects with its error, and nothing is sent", async () => {
    const path = uniquePath("erroring");
    const boom = new Error("boom");
    let n = 0;
    const stream = new ReadableStream({
      pull(controller) {
        if (n++ === 0) controller.enqueue(bytesOf(10, 19));
        else controller.error(boom);
      },
    });
    const rf = createRetryFetch({ ...FAST });
    await assert.rejects(rf(srv.url(path), { method: "PUT", body: stream, duplex: "half" }), (e) => e === boom);
    await sleep(100);
    assert.equal(srv.requests(path).length, 0, "nothing was sent");
  });

  test("abort while the stream body is still being read settles promptly with the reason; nothing is sent", async () => {
    const path = uniquePath("stalled-abort");
    const stalled = new ReadableStream({
      start(controller) {
        controller.enqueue(bytesOf(10, 30));
      },
      pull() {
        return new Promise(() => {}); // never more data, never closes
      },
    });
    const ac = new AbortController();
    const reason = new Error("abort while buffering");
    const rf = createRetryFetch({ ...FAST });
    const p = rf(srv.url(path), { method: "PUT", body: stalled, duplex: "half", signal: ac.signal });
    await sleep(50);
    ac.abort(reason);
    const outcome = await Promise.race([p.then(() => "resolved", (e) => e), sleep(1000).then(() => "still pending 1 s after the abort")]);
    assert.equal(outcome, reason);
    await sleep(50);
    assert.equal(srv.requests(path).length, 0, "nothing was sent");
  });

  test("timeoutMs covers reading the stream body: a stalled stream rejects with a TimeoutError at the deadline", async () => {
    const path = uniquePath("stalled-deadline");
    const stalled = new ReadableStream({
      start(controller) {
        controller.enqueue(bytesOf(10, 31));
      },
      pull() {
        return new Promise(() => {});
      },
    });
    const rf = createRetryFetch({ ...FAST });
    const p = rf(srv.url(path), { method: "PUT", body: stalled, duplex: "half", retry: { timeoutMs: 200 } });
    const outcome = await Promise.race([p.then(() => "resolved", (e) => e), sleep(1500).then(() => "still pending 1.5 s into a 200 ms deadline")]);
    assert.ok(outcome instanceof DOMException && outcome.name === "TimeoutError", `a TimeoutError (${outcome})`);
    assert.equal(srv.requests(path).length, 0);
  });

  test("a stream that errors after maxReplayBytes were buffered: the call rejects, no partial body is resent", async () => {
    const path = uniquePath("erroring-late");
    srv.script(path, [{ status: 503 }, { status: 200 }]);
    const boom = new Error("late boom");
    let n = 0;
    const stream = new ReadableStream({
      async pull(controller) {
        n++;
        if (n <= 3) controller.enqueue(bytesOf(8, 20 + n));
        else {
          await sleep(20);
          controller.error(boom);
        }
      },
    });
    const rf = createRetryFetch({ ...FAST, maxReplayBytes: 10 });
    await assert.rejects(rf(srv.url(path), { method: "PUT", body: stream, duplex: "half" }));
    await sleep(100);
    const reqs = srv.requests(path);
    assert.ok(reqs.length <= 1, `at most one attempt (${reqs.length})`);
    for (const r of reqs) assert.equal(r.bodyComplete, false, "a partial body is never delivered as a complete request");
  });
});
