// The browser scenarios, shared by the unbundled and the bundled page (not a test file itself).
// A page served by the fault server (same origin) loads the package and exposes it as
// window.edgeRetry; each scenario runs retryFetch in the page through page.evaluate and checks
// both what the page saw and what the server recorded.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startFaultServer } from "../fault-server.mjs";
import { launchChromium, tempDir, uniquePath, sleep } from "../runtimes.mjs";

// Runs one retryFetch call in the page and returns a plain report.
function callInPage(page, spec) {
  return page.evaluate(async ({ url, retry, init = {}, abortAfterMs, instance, streamBody }) => {
    const { retryFetch, createRetryFetch, CircuitOpenError } = window.edgeRetry;
    window.__instances = window.__instances || {};
    let rf = retryFetch;
    if (instance) rf = window.__instances[instance.name] = window.__instances[instance.name] || createRetryFetch(instance.defaults);
    const events = [];
    const t0 = performance.now();
    const describe = (e) => (e && typeof e === "object"
      ? {
          name: e.name, message: e.message, key: e.key, retryAfterMs: e.retryAfterMs,
          isCircuitOpenError: e instanceof CircuitOpenError, isDOMException: e instanceof DOMException, isTypeError: e instanceof TypeError,
        }
      : { name: typeof e, message: String(e) });
    const options = retry === false ? false : {
      ...(retry || {}),
      onRetry: (ev) => events.push({
        attempt: ev.attempt, delayMs: ev.delayMs, reason: ev.reason, status: ev.status, url: ev.url,
        error: ev.error === undefined ? undefined : describe(ev.error), atMs: performance.now() - t0,
      }),
    };
    const requestInit = { ...init, retry: options };
    if (streamBody !== undefined) {
      const bytes = new TextEncoder().encode(streamBody);
      let offset = 0;
      requestInit.body = new ReadableStream({
        pull(controller) {
          if (offset >= bytes.length) return controller.close();
          controller.enqueue(bytes.slice(offset, offset + 5));
          offset += 5;
        },
      });
      requestInit.duplex = "half";
    }
    let timer;
    if (abortAfterMs !== undefined) {
      const controller = new AbortController();
      requestInit.signal = controller.signal;
      timer = setTimeout(() => controller.abort(), abortAfterMs);
    }
    try {
      const response = await rf(url, requestInit);
      return { outcome: "response", status: response.status, body: await response.text(), events, elapsedMs: performance.now() - t0 };
    } catch (error) {
      return { outcome: "error", error: describe(error), events, elapsedMs: performance.now() - t0 };
    } finally {
      clearTimeout(timer);
    }
  }, spec);
}

// `prepare(staticDir)` puts the page (and whatever it loads) into staticDir and returns the
// page's path on the server.
export function defineBrowserSuite(prepare) {
  let tmp;
  let srv;
  let chromium;
  let page;

  before(async () => {
    tmp = tempDir("browser");
    const pagePath = await prepare(tmp.dir);
    srv = await startFaultServer({ staticDir: tmp.dir });
    chromium = await launchChromium();
    page = await chromium.newPage(srv.url(pagePath));
    await page.waitForFunction(() => window.edgeRetry && document.querySelector("#status").textContent === "ready", null, { timeout: 10000 });
  });
  after(async () => {
    if (chromium) await chromium.close();
    if (srv) await srv.close();
    if (tmp) tmp.remove();
  });

  const FAST = { baseDelayMs: 5, jitter: "none", breaker: false, budget: false };

  test("the package loads in the page with no init call", async () => {
    const surface = await page.evaluate(() => ({
      keys: Object.keys(window.edgeRetry).sort(),
      retryFetch: typeof window.edgeRetry.retryFetch,
      stats: typeof window.edgeRetry.retryFetch.stats,
      presets: Object.keys(window.edgeRetry.presets).sort(),
      wasmFetched: performance.getEntriesByType("resource").some((e) => e.name.endsWith(".wasm")),
    }));
    assert.deepEqual(surface.keys, ["CircuitOpenError", "createRetryFetch", "default", "presets", "retryFetch"]);
    assert.equal(surface.retryFetch, "function");
    assert.equal(surface.stats, "function");
    assert.equal(surface.presets.length, 7);
    assert.equal(surface.wasmFetched, false, "the browser entry inlines the module: no .wasm request");
    assert.deepEqual(chromium.errors, []);
  });

  test("503s are retried until a 200", async () => {
    const p = uniquePath("b503");
    srv.script(p, [{ status: 503 }, { status: 503 }, { status: 200, body: "page ok" }]);
    const r = await callInPage(page, { url: srv.url(p), retry: { ...FAST, baseDelayMs: 50 } });
    assert.equal(r.outcome, "response", JSON.stringify(r));
    assert.equal(r.status, 200);
    assert.equal(r.body, "page ok");
    assert.deepEqual(r.events.map((e) => [e.attempt, e.reason, e.status, e.delayMs]), [[1, "status", 503, 50], [2, "status", 503, 100]]);
    const reqs = srv.requests(p);
    assert.equal(reqs.length, 3);
    assert.ok(reqs[2].at - reqs[1].at >= 85, `second wait was ${reqs[2].at - reqs[1].at} ms, expected ~100`);
  });

  test("Retry-After is honoured", async () => {
    const p = uniquePath("bra");
    srv.script(p, [{ status: 503, retryAfter: "1" }, { status: 200 }]);
    const r = await callInPage(page, { url: srv.url(p), retry: { ...FAST, retryAfterJitter: 0 } });
    assert.equal(r.status, 200, JSON.stringify(r));
    assert.equal(r.events.length, 1);
    assert.equal(r.events[0].delayMs, 1000);
    const reqs = srv.requests(p);
    assert.equal(reqs.length, 2);
    const gap = reqs[1].at - reqs[0].at;
    assert.ok(gap >= 950 && gap < 3000, `waited ${gap} ms, expected ~1000`);
  });

  test("a connection reset is a network error (TypeError) and is retried", async () => {
    // Chromium silently resends a request whose reused keep-alive socket is reset, so the
    // reset is served on the server's other origin (localhost), on fresh connections only.
    const p = uniquePath("breset");
    const close = { connection: "close" };
    srv.script(p, [{ status: 503, headers: close }, { reset: true }, { status: 200, body: "after reset", headers: close }]);
    const r = await callInPage(page, { url: srv.altUrl(p), retry: FAST });
    assert.equal(r.outcome, "response", JSON.stringify(r));
    assert.equal(r.body, "after reset");
    assert.deepEqual(r.events.map((e) => e.reason), ["status", "network"]);
    assert.equal(r.events[1].error.isTypeError, true, JSON.stringify(r.events[1]));
    const reqs = srv.requests(p);
    assert.equal(reqs.length, 3);
    assert.equal(reqs[1].reset, true);
  });

  test("a stream body is buffered and replayed whole", async () => {
    const p = uniquePath("bstream");
    const body = "a ReadableStream body from the page, 5 bytes at a time";
    srv.script(p, [{ status: 503 }, { status: 200 }]);
    const r = await callInPage(page, { url: srv.url(p), init: { method: "PUT" }, streamBody: body, retry: FAST });
    assert.equal(r.status, 200, JSON.stringify(r));
    const reqs = srv.requests(p);
    assert.equal(reqs.length, 2);
    for (const req of reqs) assert.equal(req.body.toString(), body);
  });

  test("abort during a backoff wait rejects with an AbortError at once; nothing more is sent", async () => {
    const p = uniquePath("babort");
    srv.script(p, [{ status: 503 }]);
    const r = await callInPage(page, { url: srv.url(p), abortAfterMs: 200, retry: { ...FAST, baseDelayMs: 5000 } });
    assert.equal(r.outcome, "error", JSON.stringify(r));
    assert.equal(r.error.name, "AbortError");
    assert.equal(r.error.isDOMException, true);
    assert.equal(r.events.length, 1);
    assert.ok(r.elapsedMs >= 150 && r.elapsedMs < 1500, `settled after ${r.elapsedMs} ms`);
    await sleep(300);
    assert.equal(srv.requests(p).length, 1);
  });

  test("the breaker opens after failures and then refuses calls with CircuitOpenError", async () => {
    const p = uniquePath("bbreaker");
    srv.script(p, [{ status: 503 }]);
    const instance = { name: "breaker", defaults: { baseDelayMs: 5, jitter: "none", maxAttempts: 2, breaker: { minimumRequests: 4, failureRatio: 0.5, openMs: 60000 } } };
    const state = () => page.evaluate((key) => window.__instances.breaker.breaker(key).state, srv.origin);
    let opened = false;
    for (let i = 0; i < 6 && !opened; i++) {
      const r = await callInPage(page, { url: srv.url(p), instance });
      assert.equal(r.status, 503, JSON.stringify(r));
      opened = (await state()) === "open";
    }
    assert.ok(opened, "the breaker opened");
    const seen = srv.requests(p).length;
    for (let i = 0; i < 3; i++) {
      const r = await callInPage(page, { url: srv.url(p), instance });
      assert.equal(r.outcome, "error", JSON.stringify(r));
      assert.equal(r.error.name, "CircuitOpenError");
      assert.equal(r.error.isCircuitOpenError, true);
      assert.equal(r.error.key, srv.origin);
      assert.ok(r.error.retryAfterMs > 0 && r.error.retryAfterMs <= 60000);
      assert.ok(r.elapsedMs < 200, `refused in ${r.elapsedMs} ms`);
    }
    await sleep(100);
    assert.equal(srv.requests(p).length, seen, "no request reached the server while the breaker was open");
    const stats = await page.evaluate(() => window.__instances.breaker.stats());
    assert.equal(stats.breakerRejections, 3);
    assert.deepEqual(chromium.errors, []);
  });
}
