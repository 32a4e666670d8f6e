// The packaging proof: `npm pack` the built pkg/, install the tarball into a fresh project
// (offline: the package has no dependencies), and use it with one import and no init call
// from (a) Node, (b) a Worker bundled by wrangler from that project and run in workerd
// (Miniflare), (c) a page bundled by esbuild from that project and run in headless Chromium.
// Each retries a 503 from the fault server.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { startFaultServer } from "../fault-server.mjs";
import {
  tempDir, run, packAndInstall, reachableFiles, wranglerBundle, esbuildBrowser, startMiniflare, launchChromium, uniquePath, inlinedWasmMarker,
} from "../runtimes.mjs";

let tmp;
let srv;
let app; // the fresh project with the tarball installed
let packed; // npm pack --json's report

before(async () => {
  tmp = tempDir("package");
  fs.mkdirSync(path.join(tmp.dir, "www"));
  srv = await startFaultServer({ staticDir: path.join(tmp.dir, "www") });
  ({ packed, app } = await packAndInstall(tmp.dir));
});
after(async () => {
  if (srv) await srv.close();
  if (tmp) tmp.remove();
});

test("the tarball holds every file the entries import, and installs as a real copy", () => {
  assert.equal(packed.name, "edge-retry");
  const files = packed.files.map((f) => f.path).sort();
  const installed = path.join(app, "node_modules", "edge-retry");
  assert.ok(!fs.lstatSync(installed).isSymbolicLink(), "installed from the tarball, not linked");
  const manifest = JSON.parse(fs.readFileSync(path.join(installed, "package.json"), "utf8"));
  assert.equal(manifest.version, packed.version);
  assert.deepEqual(Object.keys(manifest.dependencies || {}), [], "no runtime dependencies");
  // Every relative import reachable from each entry is in the tarball.
  const seen = reachableFiles(installed);
  for (const name of seen) assert.ok(files.includes(name), `${name} is imported but not packed`);
  for (const must of ["workerd.js", "browser.js", "node.js", "node-legacy.js", "edge_retry_bg.wasm", "edge_retry_node_bg.wasm"]) assert.ok(seen.has(must), `${must} reached`);
  assert.ok(files.includes("index.d.ts"), "types are packed");
});

test("(a) Node: import \"edge-retry\" resolves to the node entry and retries a 503", async () => {
  const p = uniquePath("node");
  srv.script(p, [{ status: 503 }, { status: 200, body: "node ok" }]);
  fs.writeFileSync(path.join(app, "node-check.mjs"), `
import { retryFetch, createRetryFetch, presets, CircuitOpenError } from "edge-retry";
const events = [];
const res = await retryFetch(process.argv[2], { retry: { baseDelayMs: 10, onRetry: (e) => events.push([e.attempt, e.reason, e.status]) } });
console.log(JSON.stringify({
  resolved: import.meta.resolve("edge-retry"),
  status: res.status, body: await res.text(), events,
  stats: retryFetch.stats(), presets: Object.keys(presets).length,
  types: [typeof createRetryFetch, typeof CircuitOpenError],
}));
`);
  const { stdout } = await run(process.execPath, ["node-check.mjs", srv.url(p)], { cwd: app, timeout: 20000 });
  const out = JSON.parse(stdout);
  assert.match(out.resolved, /\/app\/node_modules\/edge-retry\/node\.js$/);
  assert.equal(out.status, 200);
  assert.equal(out.body, "node ok");
  assert.deepEqual(out.events, [[1, "status", 503]]);
  assert.equal(out.stats.retries, 1);
  assert.equal(out.presets, 7);
  assert.deepEqual(out.types, ["function", "function"]);
  assert.equal(srv.requests(p).length, 2);
});

test("(b) a Worker bundled by wrangler from the project runs in workerd and retries a 503", async () => {
  const p = uniquePath("worker");
  srv.script(p, [{ status: 503 }, { status: 503, retryAfter: "0" }, { status: 200, body: "worker ok" }]);
  fs.mkdirSync(path.join(app, "src"), { recursive: true });
  fs.writeFileSync(path.join(app, "wrangler.toml"), `name = "packed-check"\nmain = "src/worker.js"\ncompatibility_date = "2025-10-01"\n`);
  fs.writeFileSync(path.join(app, "src", "worker.js"), `
import { retryFetch } from "edge-retry";
export default {
  async fetch(request) {
    const target = new URL(request.url).searchParams.get("url");
    const events = [];
    const res = await retryFetch(target, { retry: { baseDelayMs: 10, onRetry: (e) => events.push([e.attempt, e.reason, e.status]) } });
    return Response.json({ status: res.status, body: await res.text(), events, stats: retryFetch.stats() });
  },
};
`);
  const outdir = path.join(tmp.dir, "worker-dist");
  const files = await wranglerBundle(app, outdir, tmp.dir);
  const wasm = files.filter((f) => f.endsWith(".wasm"));
  assert.equal(wasm.length, 1, `wrangler emitted the .wasm as a module (workerd condition): ${files.join(", ")}`);
  const code = fs.readFileSync(path.join(outdir, "worker.js"), "utf8");
  assert.ok(code.includes("node_modules/edge-retry/workerd.js"), "the workerd entry was bundled");
  assert.ok(!code.includes(await inlinedWasmMarker()), "the inlined (browser) copy of the module is not bundled");
  const mf = await startMiniflare({ scriptPath: path.join(outdir, "worker.js") });
  try {
    const res = await mf.dispatchFetch(`http://w.local/?url=${encodeURIComponent(srv.url(p))}`);
    const out = await res.json();
    assert.equal(out.status, 200, JSON.stringify(out));
    assert.equal(out.body, "worker ok");
    assert.deepEqual(out.events, [[1, "status", 503], [2, "status", 503]]);
    assert.equal(out.stats.retryAfterWaits, 1);
  } finally {
    await mf.dispose();
  }
  assert.equal(srv.requests(p).length, 3);
});

test("(c) a page bundled by esbuild from the project runs in Chromium and retries a 503", async () => {
  const p = uniquePath("page");
  srv.script(p, [{ status: 503 }, { status: 200, body: "page ok" }]);
  fs.writeFileSync(path.join(app, "page.js"), `
import { retryFetch } from "edge-retry";
window.check = async (url) => {
  const events = [];
  const res = await retryFetch(url, { retry: { baseDelayMs: 10, onRetry: (e) => events.push([e.attempt, e.reason, e.status]) } });
  return { status: res.status, body: await res.text(), events };
};
document.title = "ready";
`);
  const www = path.join(tmp.dir, "www");
  await esbuildBrowser(path.join(app, "page.js"), path.join(www, "page.js"));
  const code = fs.readFileSync(path.join(www, "page.js"), "utf8");
  assert.ok(code.includes(await inlinedWasmMarker()), "the browser entry (wasm inlined) was bundled");
  fs.writeFileSync(path.join(www, "index.html"), `<!doctype html><meta charset="utf-8"><title>loading</title><script type="module" src="/page.js"></script>`);
  const chromium = await launchChromium();
  try {
    const page = await chromium.newPage(srv.url("/index.html"));
    await page.waitForFunction(() => document.title === "ready" && typeof window.check === "function", null, { timeout: 10000 });
    const out = await page.evaluate((url) => window.check(url), srv.url(p));
    assert.equal(out.status, 200, JSON.stringify(out));
    assert.equal(out.body, "page ok");
    assert.deepEqual(out.events, [[1, "status", 503]]);
    assert.deepEqual(chromium.errors, []);
  } finally {
    await chromium.close();
  }
  assert.equal(srv.requests(p).length, 2);
});
