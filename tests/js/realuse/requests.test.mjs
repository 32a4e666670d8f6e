// Requests as users really build them (issue 13, items 1-4): inits whose members are
// inherited (a Request as init, Object.create, getters), async-iterable bodies, Requests of
// other fetch implementations, and headers as a Map. Each is compared with what the server
// received on every attempt.
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { Request as UndiciRequest, fetch as undiciFetch } from "undici";
import nodeFetch, { Request as NodeFetchRequest } from "node-fetch";
import { createRetryFetch } from "../../../pkg/node.js";
import { test, describe, uniquePath, FAST, assertNoMoreRequests, useFaultServer, startFaultServer } from "../node/_helpers.mjs";

const srv = useFaultServer();

// 503, 503, 200 at a fresh path; returns the path.
function flaky(attempts = 3) {
  const path = uniquePath("real");
  srv.script(path, [...Array(attempts - 1).fill({ status: 503 }), { status: 200, body: "done" }]);
  return path;
}

function assertEverySent(records, { method, body, auth }) {
  assert.equal(records.length, 3, "three attempts reach the server");
  for (const r of records) {
    assert.equal(r.method, method);
    assert.equal(r.body.toString(), body);
    if (auth !== undefined) assert.equal(r.headers.authorization, auth);
  }
}

describe("an init whose members are inherited is sent as fetch sends it (item 1)", () => {
  const cases = [
    ["a Request as init (the Workers proxy idiom)", (url) => new Request("http://incoming.invalid/x", {
      method: "PUT", body: "payload", headers: { authorization: "Bearer t" },
    })],
    ["an init made with Object.create", () => Object.create({ method: "PUT", body: "payload", headers: { authorization: "Bearer t" } })],
    ["an init of a class with getters", () => new (class {
      get method() { return "PUT"; }
      get body() { return "payload"; }
      get headers() { return { authorization: "Bearer t" }; }
    })()],
  ];
  for (const [name, makeInit] of cases) {
    for (const timeouts of [{}, { attemptTimeoutMs: 2000 }, { timeoutMs: 5000 }]) {
      test(`${name}, ${JSON.stringify(timeouts)}: PUT, body and Authorization on every attempt`, async () => {
        const path = flaky();
        const rf = createRetryFetch({ ...FAST, ...timeouts });
        const res = await rf(srv.url(path), makeInit());
        assert.equal(res.status, 200);
        assert.equal(await res.text(), "done");
        assertEverySent(srv.requests(path), { method: "PUT", body: "payload", auth: "Bearer t" });
      });
    }
  }

  test("retryFetch(new URL(path, upstream), request) with a streamed body, as a proxy forwards it", async () => {
    const path = flaky();
    const incoming = new Request("http://proxy.invalid/in", {
      method: "PUT",
      body: new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode("streamed")); c.close(); } }),
      duplex: "half",
      headers: { authorization: "Bearer s" },
    });
    const rf = createRetryFetch(FAST);
    const res = await rf(new URL(path, srv.url("/")), incoming);
    assert.equal(res.status, 200);
    assertEverySent(srv.requests(path), { method: "PUT", body: "streamed", auth: "Bearer s" });
  });

  test("an init getter that throws rejects the call with its error, and nothing is sent", async () => {
    const path = flaky();
    const boom = new Error("getter boom");
    const init = Object.create({ get headers() { throw boom; } });
    const rf = createRetryFetch(FAST);
    await assert.rejects(rf(srv.url(path), init), (e) => e === boom);
    await assertNoMoreRequests(srv, path, 0);
  });
});

describe("async-iterable bodies are replayed whole (item 2)", () => {
  const chunks = ["alpha-", "beta-", "gamma"];
  const cases = [
    ["an async generator", () => (async function* () { for (const c of chunks) yield new TextEncoder().encode(c); })()],
    ["a Node Readable", () => Readable.from(chunks.map((c) => Buffer.from(c)))],
    ["a Node Readable of strings", () => Readable.from(chunks, { objectMode: true })],
  ];
  for (const [name, makeBody] of cases) {
    test(`${name}: every attempt sends the whole body`, async () => {
      const path = flaky();
      const rf = createRetryFetch(FAST);
      const res = await rf(srv.url(path), { method: "PUT", body: makeBody(), duplex: "half" });
      assert.equal(res.status, 200);
      assertEverySent(srv.requests(path), { method: "PUT", body: chunks.join("") });
    });
  }

  test("an async iterable longer than maxReplayBytes is sent whole, once, and not retried", async () => {
    const path = flaky();
    const rf = createRetryFetch({ ...FAST, maxReplayBytes: 8 });
    const res = await rf(srv.url(path), { method: "PUT", body: Readable.from([Buffer.from("0123456789"), Buffer.from("abcdef")]), duplex: "half" });
    assert.equal(res.status, 503, "not retried: the body cannot be sent again");
    const records = srv.requests(path);
    assert.equal(records.length, 1);
    assert.equal(records[0].body.toString(), "0123456789abcdef");
  });

  test("an async iterable that throws rejects with its error and sends nothing", async () => {
    const path = flaky();
    const boom = new Error("iterable boom");
    const rf = createRetryFetch(FAST);
    const body = (async function* () { yield new Uint8Array([1]); throw boom; })();
    await assert.rejects(rf(srv.url(path), { method: "PUT", body, duplex: "half" }), (e) => e === boom);
    await assertNoMoreRequests(srv, path, 0);
  });
});

describe("Requests of other fetch implementations (item 3)", () => {
  test("undici's npm Request with its fetch: keyed by its origin, body replayed", async () => {
    const other = await startFaultServer();
    try {
      const path = flaky();
      const rf = createRetryFetch({ ...FAST, fetch: undiciFetch, breaker: { minimumRequests: 10 } });
      const input = new UndiciRequest(srv.url(path), { method: "PUT", body: "undici-body", headers: { authorization: "Bearer u" } });
      const res = await rf(input);
      assert.equal(res.status, 200);
      assertEverySent(srv.requests(path), { method: "PUT", body: "undici-body", auth: "Bearer u" });
      const origin = new URL(srv.url("/")).origin;
      assert.equal(rf.breaker(origin).failures, 2, "failures are counted against the request's origin");
      assert.equal(rf.breaker("[object Request]").failures, 0);
      // The other origin's breaker is untouched, and its calls go through.
      assert.equal(rf.breaker(new URL(other.url("/")).origin).failures, 0);
      const ok = await rf(new UndiciRequest(other.url("/fine")));
      assert.equal(ok.status, 200);
    } finally {
      await other.close();
    }
  });

  test("node-fetch's Request (a Node stream body) with node-fetch: body replayed", async () => {
    const path = flaky();
    const rf = createRetryFetch({ ...FAST, fetch: nodeFetch, breaker: { minimumRequests: 10 } });
    const input = new NodeFetchRequest(srv.url(path), { method: "PUT", body: "nf-body", headers: { authorization: "Bearer n" } });
    const res = await rf(input);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "done");
    assertEverySent(srv.requests(path), { method: "PUT", body: "nf-body", auth: "Bearer n" });
    assert.equal(rf.breaker(new URL(srv.url("/")).origin).failures, 2);
  });
});

test("a foreign Request given to the platform's own fetch fails as fetch fails it, once", async () => {
  const path = flaky();
  const rf = createRetryFetch({ ...FAST, breaker: { minimumRequests: 10 } });
  const input = new NodeFetchRequest(srv.url(path), { method: "PUT", body: "x" });
  await assert.rejects(rf(input), TypeError);
  assert.equal(srv.requests(path).length, 0, "Node's fetch cannot read it: nothing is sent");
  assert.equal(rf.breaker(new URL(srv.url("/")).origin).failures, 0, "not counted against the origin");
});

describe("Idempotency-Key in any headers form fetch accepts (item 4)", () => {
  const forms = [
    ["a Map", () => new Map([["Idempotency-Key", "k1"]])],
    ["an array of pairs", () => [["idempotency-key", "k1"]]],
    ["a generator of pairs", () => (function* () { yield ["Idempotency-Key", "k1"]; })()],
    ["Headers", () => new Headers({ "Idempotency-Key": "k1" })],
    ["a record", () => ({ "IDEMPOTENCY-KEY": "k1" })],
  ];
  for (const [name, makeHeaders] of forms) {
    test(`a POST with the key in ${name} is retried`, async () => {
      const path = flaky();
      const rf = createRetryFetch(FAST);
      const res = await rf(srv.url(path), { method: "POST", body: "once", headers: makeHeaders() });
      assert.equal(res.status, 200);
      const records = srv.requests(path);
      assert.equal(records.length, 3);
      assert.equal(records[2].headers["idempotency-key"], "k1");
    });
  }

  test("a POST without the key, headers in a Map, is sent once", async () => {
    const path = flaky();
    const rf = createRetryFetch(FAST);
    const res = await rf(srv.url(path), { method: "POST", body: "once", headers: new Map([["x-other", "1"]]) });
    assert.equal(res.status, 503);
    await assertNoMoreRequests(srv, path, 1);
  });
});
