// The package bundled into a Worker the way Workers users do it, then run in workerd
// (Miniflare): (1) the example Worker (examples/worker) bundled by `wrangler deploy --dry-run`,
// which must follow the package's `workerd` export condition and emit the .wasm as its own
// module; (2) a Worker bundled by esbuild with the workerd condition and the .wasm copied
// beside it. Both retry against the fault server on 127.0.0.1.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { startFaultServer } from "../fault-server.mjs";
import {
  ROOT, tempDir, linkPackage, wranglerBundle, esbuildWorker, startMiniflare, harnessCall, uniquePath, sleep, inlinedWasmMarker,
} from "../runtimes.mjs";

const INLINED = await inlinedWasmMarker();

let srv;
let tmp;
before(async () => {
  srv = await startFaultServer();
  tmp = tempDir("workerd-bundled");
});
after(async () => {
  if (srv) await srv.close();
  if (tmp) tmp.remove();
});

// A bundle took the workerd entry: the .wasm is a separate module that the code imports, and
// the browser entry's inlined base64 copy is absent.
function assertWorkerdEntry(outdir, files, main) {
  const wasm = files.filter((f) => f.endsWith(".wasm"));
  assert.equal(wasm.length, 1, `one .wasm module emitted, got ${files.join(", ")}`);
  const code = fs.readFileSync(path.join(outdir, main), "utf8");
  assert.ok(code.includes(`./${wasm[0]}"`), `${main} imports ./${wasm[0]}`);
  assert.ok(!code.includes(INLINED), "the inlined (browser) copy of the module is not bundled");
  assert.equal(fs.statSync(path.join(outdir, wasm[0])).size, fs.statSync(path.join(ROOT, "pkg", "edge_retry_bg.wasm")).size);
}

describe("examples/worker bundled by wrangler (workerd condition)", () => {
  let mf;
  const exampleCall = async (url, query = "", init) => {
    const t0 = Date.now();
    const res = await mf.dispatchFetch(`http://example.local/?url=${encodeURIComponent(url)}${query}`, init);
    assert.equal(res.headers.get("content-type"), "application/json; charset=utf-8");
    const report = await res.json();
    report.wallMs = Date.now() - t0;
    return report;
  };

  // The example's breaker is per origin and lives in the isolate: a test that makes failures
  // gets a server (an origin) of its own, so it cannot trip another test's breaker.
  const withServer = async (fn) => {
    const own = await startFaultServer();
    try {
      return await fn(own);
    } finally {
      await own.close();
    }
  };

  before(async () => {
    const project = path.join(tmp.dir, "example-worker");
    const example = path.join(ROOT, "examples", "worker");
    fs.mkdirSync(project);
    for (const f of ["package.json", "wrangler.toml", "src"]) fs.cpSync(path.join(example, f), path.join(project, f), { recursive: true });
    linkPackage(project);
    const outdir = path.join(tmp.dir, "example-dist");
    const files = await wranglerBundle(project, outdir, tmp.dir);
    assertWorkerdEntry(outdir, files, "index.js");
    const toml = fs.readFileSync(path.join(project, "wrangler.toml"), "utf8");
    mf = await startMiniflare({
      scriptPath: path.join(outdir, "index.js"),
      compatibilityDate: /^compatibility_date\s*=\s*"([^"]+)"/m.exec(toml)[1],
      bindings: {
        UPSTREAM: srv.url("/default-upstream"),
        MAX_ATTEMPTS: "4",
        BASE_DELAY_MS: "20",
        BREAKER_MIN_REQUESTS: "4",
        BREAKER_FAILURE_RATIO: "0.5",
        BREAKER_OPEN_MS: "60000",
      },
    });
  });
  after(async () => {
    if (mf) await mf.dispose();
  });

  test("503, 503 with Retry-After: 0, a reset, then 200: every retry is reported", () => withServer(async (own) => {
    const p = uniquePath("example");
    own.script(p, [{ status: 503 }, { status: 503, retryAfter: "0" }, { reset: true }, { status: 200, body: "hello" }]);
    const r = await exampleCall(own.url(p));
    assert.equal(r.outcome, "response", JSON.stringify(r));
    assert.equal(r.status, 200);
    assert.equal(r.body, "hello");
    assert.equal(r.upstream, own.url(p));
    assert.deepEqual(r.retries.map((e) => [e.attempt, e.reason, e.status]), [[1, "status", 503], [2, "status", 503], [3, "network", undefined]]);
    assert.ok(r.retries[1].delayMs <= 1, "Retry-After: 0 means no wait");
    assert.ok(r.retries[2].error && r.retries[2].error.message, "the network error is described");
    assert.equal(r.breaker.state, "closed");
    assert.equal(r.breaker.failures, 3);
    assert.equal(own.requests(p).length, 4);
  }));

  test("the UPSTREAM var is used when no ?url= is given", async () => {
    srv.script("/default-upstream", [{ status: 200, body: "from the var" }]);
    const res = await mf.dispatchFetch("http://example.local/");
    const r = await res.json();
    assert.equal(r.status, 200);
    assert.equal(r.body, "from the var");
  });

  test("a PUT body from the client is forwarded and replayed on the retry", () => withServer(async (own) => {
    const p = uniquePath("example-put");
    own.script(p, [{ status: 502 }, { status: 201, body: "stored" }]);
    const r = await exampleCall(own.url(p), "", { method: "PUT", body: "the document", headers: { "content-type": "text/plain" } });
    assert.equal(r.status, 201, JSON.stringify(r));
    const reqs = own.requests(p);
    assert.equal(reqs.length, 2);
    for (const req of reqs) {
      assert.equal(req.method, "PUT");
      assert.equal(req.body.toString(), "the document");
      assert.equal(req.headers["content-type"], "text/plain");
    }
  }));

  test("an outage opens the breaker across requests; later calls get CircuitOpenError and reach nothing", () => withServer(async (down) => {
    {
      const url = down.url("/outage");
      down.script("/outage", [{ status: 503 }]);
      let report;
      for (let i = 0; i < 6; i++) {
        report = await exampleCall(url, "&attempts=2&baseDelayMs=5");
        assert.equal(report.outcome, "response", JSON.stringify(report));
        if (report.breaker.state === "open") break;
      }
      assert.equal(report.breaker.state, "open", JSON.stringify(report.breaker));
      const seen = down.requests("/outage").length;
      for (let i = 0; i < 3; i++) {
        const r = await exampleCall(url, "&attempts=2&baseDelayMs=5");
        assert.equal(r.outcome, "error", JSON.stringify(r));
        assert.equal(r.error.name, "CircuitOpenError");
        assert.equal(r.error.key, down.origin);
        assert.ok(r.error.retryAfterMs > 0 && r.error.retryAfterMs <= 60000, `retryAfterMs ${r.error.retryAfterMs}`);
        assert.match(r.error.message, /circuit open/);
        assert.deepEqual(r.retries, []);
        assert.equal(r.breaker.state, "open");
      }
      await sleep(50);
      assert.equal(down.requests("/outage").length, seen, "no request reached the upstream while open");
      const b = await (await mf.dispatchFetch(`http://example.local/__breaker?url=${encodeURIComponent(url)}`)).json();
      assert.equal(b.origin, down.origin);
      assert.equal(b.breaker.state, "open");
      const stats = await (await mf.dispatchFetch("http://example.local/__stats")).json();
      assert.ok(stats.breakerRejections >= 3, JSON.stringify(stats));
      // The first server's origin is unaffected.
      const p = uniquePath("still-fine");
      srv.script(p, [{ status: 200 }]);
      const fine = await exampleCall(srv.url(p));
      assert.equal(fine.status, 200, JSON.stringify(fine));
      assert.equal(fine.breaker.state, "closed");
    }
  }));
});

describe("a Worker bundled by esbuild (workerd condition, .wasm copied)", () => {
  let mf;
  before(async () => {
    const project = path.join(tmp.dir, "esbuild-worker");
    fs.mkdirSync(project);
    for (const f of ["entry-bare.mjs", "harness.mjs"]) fs.copyFileSync(path.join(ROOT, "tests", "js", "workerd", "fixtures", f), path.join(project, f));
    linkPackage(project);
    const outdir = path.join(tmp.dir, "esbuild-dist");
    const files = await esbuildWorker(path.join(project, "entry-bare.mjs"), outdir);
    assertWorkerdEntry(outdir, files, "entry-bare.js");
    mf = await startMiniflare({ scriptPath: path.join(outdir, "entry-bare.js") });
  });
  after(async () => {
    if (mf) await mf.dispose();
  });

  test("503 then 200 is retried", async () => {
    const p = uniquePath("esb");
    srv.script(p, [{ status: 503 }, { status: 200, body: "esbuild ok" }]);
    const r = await harnessCall(mf, { url: srv.url(p), retry: { baseDelayMs: 10, jitter: "none" } });
    assert.equal(r.status, 200, JSON.stringify(r));
    assert.equal(r.body, "esbuild ok");
    assert.deepEqual(r.events.map((e) => [e.reason, e.status, e.delayMs]), [["status", 503, 10]]);
    assert.equal(srv.requests(p).length, 2);
  });

  test("a reset, then a stream body replayed", async () => {
    const p = uniquePath("esb-stream");
    srv.script(p, [{ reset: true }, { status: 200 }]);
    const r = await harnessCall(mf, { url: srv.url(p), method: "PUT", body: "streamed through esbuild's bundle", stream: true, retry: { baseDelayMs: 5 } });
    assert.equal(r.status, 200, JSON.stringify(r));
    assert.equal(r.events[0].reason, "network");
    const reqs = srv.requests(p);
    assert.equal(reqs.length, 2);
    for (const req of reqs) assert.equal(req.body.toString(), "streamed through esbuild's bundle");
  });
});
