// examples/fleet as its users ship it: `wrangler deploy --dry-run` bundles the Worker with the
// Durable Object class and both .wasm modules; the bundle then runs in workerd (Miniflare)
// with the binding, against the fault server.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { startFaultServer } from "../fault-server.mjs";
import { ROOT, PKG, tempDir, linkPackage, wranglerBundle, startMiniflare, uniquePath } from "../runtimes.mjs";

let tmp, srv, mf, files;
before(async () => {
  tmp = tempDir("fleet-example");
  srv = await startFaultServer();
  const project = path.join(tmp.dir, "fleet-example");
  const example = path.join(ROOT, "examples", "fleet");
  fs.mkdirSync(project);
  for (const f of ["package.json", "wrangler.toml", "src"]) fs.cpSync(path.join(example, f), path.join(project, f), { recursive: true });
  linkPackage(project);
  const outdir = path.join(tmp.dir, "dist");
  files = await wranglerBundle(project, outdir, tmp.dir);
  mf = await startMiniflare({
    scriptPath: path.join(outdir, "index.js"),
    bindings: { UPSTREAM: srv.url("/default") },
    extra: { durableObjects: { EDGE_RETRY_FLEET: "EdgeRetryFleet" } },
  });
});
after(async () => {
  if (mf) await mf.dispose();
  if (srv) await srv.close();
  if (tmp) tmp.remove();
});

test("wrangler bundles examples/fleet: the Worker and both wasm modules", () => {
  const wasm = files.filter((f) => f.endsWith(".wasm"));
  const sizes = wasm.map((f) => fs.statSync(path.join(tmp.dir, "dist", f)).size).sort();
  const expected = ["edge_retry_bg.wasm", "edge_retry_fleet_bg.wasm"].map((f) => fs.statSync(path.join(PKG, f)).size).sort();
  assert.deepEqual(sizes, expected, `emitted ${files.join(", ")}`);
  const code = fs.readFileSync(path.join(tmp.dir, "dist", "index.js"), "utf8");
  assert.ok(code.includes("EdgeRetryFleet"), "the Durable Object class is in the bundle");
});

test("the bundled Worker calls through the fleet and refuses a dead origin once it opens", async () => {
  const ok = await mf.dispatchFetch(`http://example.local/?url=${encodeURIComponent(srv.url("/fine"))}`);
  assert.equal(ok.status, 200);
  assert.equal(await ok.text(), "ok");
  const dead = uniquePath("dead");
  srv.script(dead, [{ status: 503 }]);
  let refused = null;
  for (let i = 0; i < 60 && !refused; i++) {
    const res = await mf.dispatchFetch(`http://example.local/?url=${encodeURIComponent(srv.url(dead))}`);
    const body = await res.text();
    if (res.status === 503 && body.startsWith("{")) refused = JSON.parse(body);
  }
  assert.ok(refused && refused.retryAfterMs > 0, "refused as a CircuitOpenError");
  const stats = await (await mf.dispatchFetch("http://example.local/__fleet")).json();
  assert.ok(stats.syncs >= 1, JSON.stringify(stats));
  assert.equal(stats.syncFailures, 0, JSON.stringify(stats));
});
