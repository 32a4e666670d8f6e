// Issue 13 items 1, 3 and 5 where they bite: a Worker in workerd (Miniflare) proxying with
// the incoming Request as init, a Request-like of a library's own class, and one long-lived
// signal over thousands of calls.
import { test } from "node:test";
import assert from "node:assert/strict";
import { uniquePath, useWorkerAndFaultServer } from "../runtimes.mjs";

const { srv, mf } = useWorkerAndFaultServer("tests/js/realuse/fixtures/worker.mjs");

function flaky() {
  const p = uniquePath("proxy");
  srv.script(p, [{ status: 503 }, { status: 503 }, { status: 200, body: "upstream ok" }]);
  return p;
}

for (const route of ["proxy", "rewrap"]) {
  test(`a Worker proxy (${route}): PUT, body and Authorization forwarded on every attempt`, async () => {
    const p = flaky();
    const res = await mf.dispatchFetch(`http://worker.local/${route}${p}?upstream=${encodeURIComponent(srv.origin)}`, {
      method: "PUT",
      body: "proxied body",
      headers: { authorization: "Bearer w", "content-type": "text/plain" },
    });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(await res.text(), "upstream ok");
    const records = srv.requests(p);
    assert.equal(records.length, 3);
    for (const r of records) {
      assert.equal(r.method, "PUT");
      assert.equal(r.body.toString(), "proxied body");
      assert.equal(r.headers.authorization, "Bearer w");
    }
  });
}

test("a Request-like of a library's own class: keyed by its origin, body replayed", async () => {
  const p = flaky();
  const res = await mf.dispatchFetch(`http://worker.local/foreign?url=${encodeURIComponent(srv.url(p))}`);
  const report = await res.json();
  assert.deepEqual(report, { status: 200, failures: 2, wrongKey: 0 });
  const records = srv.requests(p);
  assert.equal(records.length, 3);
  for (const r of records) {
    assert.equal(r.method, "PUT");
    assert.equal(r.body.toString(), "library-body");
    assert.equal(r.headers.authorization, "Bearer lib");
  }
});

for (const mode of ["attemptTimeout", "timeout", "retried", "stream"]) {
  test(`one long-lived signal, 20,000 calls (${mode}): at most one abort listener`, { timeout: 120000 }, async () => {
    const res = await mf.dispatchFetch(`http://worker.local/leak?calls=20000&mode=${mode}`);
    const report = await res.json();
    assert.equal(report.calls, 20000, JSON.stringify(report));
    assert.ok(report.most <= 1, `the signal held up to ${report.most} listeners`);
  });
}
