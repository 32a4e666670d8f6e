// The harness itself: scripts, faults, recording, control API, static files, CORS, cleanup.
// Uses the platform fetch only (no package), so a harness bug is told apart from a package bug.
import assert from "node:assert/strict";
import { mkdtemp, writeFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, before, after, beforeEach, startFaultServer, until, sleep, performance } from "./_helpers.mjs";

let srv;
let dir;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "fault-static-"));
  await writeFile(join(dir, "index.html"), "<!doctype html><p>hi</p>");
  await writeFile(join(dir, "app.js"), "export const x = 1;");
  srv = await startFaultServer({ staticDir: dir });
});
after(async () => {
  await srv.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => srv.reset());

test("listens on 127.0.0.1 on a free port; url() builds URLs", () => {
  assert.match(srv.origin, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(srv.url("/a"), srv.origin + "/a");
});

test("unscripted paths answer 200 ok; steps are consumed in order and the last repeats", async () => {
  assert.equal(await (await fetch(srv.url("/none"))).text(), "ok");
  srv.script("/s", [{ status: 503, body: "a" }, { status: 201, body: "b", headers: { "x-h": "1" } }]);
  const r1 = await fetch(srv.url("/s"));
  assert.deepEqual([r1.status, await r1.text()], [503, "a"]);
  const r2 = await fetch(srv.url("/s"));
  assert.deepEqual([r2.status, await r2.text(), r2.headers.get("x-h")], [201, "b", "1"]);
  const r3 = await fetch(srv.url("/s"));
  assert.equal(r3.status, 201);
  await r3.text();
});

test("records method, url, path, headers, body bytes and times", async () => {
  const t0 = performance.now();
  const d0 = Date.now();
  await (await fetch(srv.url("/rec?x=1"), { method: "PUT", body: new Uint8Array([1, 2, 3]), headers: { "x-a": "b" } })).text();
  const [r] = srv.requests("/rec");
  assert.equal(r.method, "PUT");
  assert.equal(r.url, "/rec?x=1");
  assert.equal(r.path, "/rec");
  assert.equal(r.headers["x-a"], "b");
  assert.ok(Buffer.isBuffer(r.body));
  assert.deepEqual([...r.body], [1, 2, 3]);
  assert.ok(r.t >= t0 && r.t <= performance.now());
  assert.ok(r.at >= d0 - 1 && r.at <= Date.now());
  assert.equal(srv.requests().length, 1);
});

test("bodyBytes, retryAfter, delayMs", async () => {
  srv.script("/b", [{ bodyBytes: 5000, retryAfter: 7, delayMs: 100 }]);
  const t0 = performance.now();
  const r = await fetch(srv.url("/b"));
  assert.ok(performance.now() - t0 >= 95);
  assert.equal(r.headers.get("retry-after"), "7");
  assert.equal((await r.arrayBuffer()).byteLength, 5000);
});

test("reset destroys the socket: fetch rejects with a TypeError", async () => {
  srv.script("/r", [{ reset: true }]);
  await assert.rejects(fetch(srv.url("/r")), TypeError);
  assert.equal(srv.requests("/r").length, 1);
});

test("hang never answers; the client's abort closes it", async () => {
  srv.script("/h", [{ hang: true }]);
  await assert.rejects(fetch(srv.url("/h"), { signal: AbortSignal.timeout(100) }), (e) => e.name === "TimeoutError");
  assert.ok(await until(() => srv.requests("/h")[0].closedEarly, 1000));
});

test("slowBodyMs sends the body in spaced chunks; a cancelled read closes the stream early", async () => {
  srv.script("/slow", [{ bodyBytes: 40, chunkBytes: 10, slowBodyMs: 50 }]);
  const t0 = performance.now();
  const r = await fetch(srv.url("/slow"));
  assert.equal((await r.arrayBuffer()).byteLength, 40);
  assert.ok(performance.now() - t0 >= 140, "at least three gaps");
  srv.script("/slow2", [{ bodyBytes: 1 << 22, chunkBytes: 1 << 16, slowBodyMs: 20 }]);
  const r2 = await fetch(srv.url("/slow2"));
  await r2.body.cancel();
  assert.ok(await until(() => srv.requests("/slow2")[0].closedEarly, 1000));
  assert.equal(srv.requests("/slow2")[0].finished, false);
});

test("header values may be functions evaluated at response time", async () => {
  let n = 0;
  srv.script("/fn", [{ headers: { "x-n": () => String(++n) } }]);
  assert.equal((await fetch(srv.url("/fn"))).headers.get("x-n"), "1");
  assert.equal((await fetch(srv.url("/fn"))).headers.get("x-n"), "2");
});

test("control API: POST /__script, GET /__requests, POST /__reset, GET /__connections", async () => {
  const s = await fetch(srv.url("/__script?path=/c"), { method: "POST", body: JSON.stringify([{ status: 418, body: "tea" }]) });
  assert.equal(s.status, 200);
  await s.text();
  const r = await fetch(srv.url("/c"), { method: "POST", body: "abc" });
  assert.deepEqual([r.status, await r.text()], [418, "tea"]);
  const list = await (await fetch(srv.url("/__requests?path=/c"))).json();
  assert.equal(list.length, 1);
  assert.equal(list[0].method, "POST");
  assert.equal(Buffer.from(list[0].bodyBase64, "base64").toString(), "abc");
  assert.equal(list[0].bodyText, "abc");
  const all = await (await fetch(srv.url("/__requests"))).json();
  assert.equal(all.length, 1, "control requests are not recorded");
  const conns = await (await fetch(srv.url("/__connections"))).json();
  assert.ok(conns.open >= 1);
  await (await fetch(srv.url("/__reset"), { method: "POST" })).text();
  assert.equal(srv.requests().length, 0);
  assert.equal((await fetch(srv.url("/c"))).status, 200, "scripts cleared");
});

test("CORS: preflights answered (not recorded), every response allows the origin and exposes headers", async () => {
  const pre = await fetch(srv.url("/cors"), {
    method: "OPTIONS",
    headers: { origin: "http://example.test", "access-control-request-method": "PUT", "access-control-request-headers": "idempotency-key" },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get("access-control-allow-origin"), "http://example.test");
  assert.match(pre.headers.get("access-control-allow-methods"), /PUT/);
  assert.equal(pre.headers.get("access-control-allow-headers"), "idempotency-key");
  assert.equal(srv.requests("/cors").length, 0);
  srv.script("/cors", [{ status: 503, retryAfter: 1 }]);
  const r = await fetch(srv.url("/cors"), { headers: { origin: "http://example.test" } });
  assert.equal(r.headers.get("access-control-allow-origin"), "http://example.test");
  assert.equal(r.headers.get("access-control-expose-headers"), "*");
  await r.text();
});

test("static files from staticDir (index.html for /, content types); scripts win over files", async () => {
  const idx = await fetch(srv.url("/"));
  assert.equal(idx.status, 200);
  assert.match(idx.headers.get("content-type"), /text\/html/);
  assert.match(await idx.text(), /<p>hi<\/p>/);
  const js = await fetch(srv.url("/app.js"));
  assert.match(js.headers.get("content-type"), /javascript/);
  assert.equal(await js.text(), "export const x = 1;");
  const escape = await fetch(srv.url("/..%2f..%2fetc%2fpasswd"));
  assert.equal(await escape.text(), "ok", "no path escape");
  srv.script("/app.js", [{ status: 500 }]);
  assert.equal((await fetch(srv.url("/app.js"))).status, 500);
});

test("openConnections counts sockets; close() ends everything, hanging requests included", async () => {
  const other = await startFaultServer();
  other.script("/h", [{ hang: true }]);
  const pending = fetch(other.url("/h")).then(
    () => "resolved",
    (e) => e,
  );
  await until(() => other.requests("/h").length === 1, 1000);
  assert.ok(other.openConnections() >= 1);
  const t0 = performance.now();
  await other.close();
  assert.ok(performance.now() - t0 < 500, "close() does not wait for the hang");
  assert.equal(other.openConnections(), 0);
  const outcome = await Promise.race([pending, sleep(1000).then(() => "still pending")]);
  assert.ok(outcome instanceof TypeError, `the client saw the connection end (${outcome})`);
});
