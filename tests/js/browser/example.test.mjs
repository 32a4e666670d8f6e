// examples/browser, bundled by esbuild as its package.json says, in headless Chromium: the
// page's own buttons drive retryFetch against the fault server, and the page shows the
// retries and the breaker.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { startFaultServer } from "../fault-server.mjs";
import { ROOT, tempDir, linkPackage, esbuildBrowser, launchChromium, until } from "../runtimes.mjs";

let tmp;
let srv;
let chromium;
let page;

before(async () => {
  tmp = tempDir("browser-example");
  const example = path.join(ROOT, "examples", "browser");
  for (const f of ["index.html", "main.js", "package.json"]) fs.copyFileSync(path.join(example, f), path.join(tmp.dir, f));
  linkPackage(tmp.dir);
  await esbuildBrowser(path.join(tmp.dir, "main.js"), path.join(tmp.dir, "dist", "main.js"));
  fs.rmSync(path.join(tmp.dir, "node_modules"), { recursive: true });
  srv = await startFaultServer({ staticDir: tmp.dir });
  chromium = await launchChromium();
});
after(async () => {
  if (chromium) await chromium.close();
  if (srv) await srv.close();
  if (tmp) tmp.remove();
});

test("the Send button retries a flaky upstream and the page shows each retry", async () => {
  srv.script("/flaky", [{ status: 503 }, { status: 502 }, { status: 200, body: "hello from upstream" }]);
  page = await chromium.newPage(srv.url("/index.html"));
  await page.waitForFunction(() => globalThis.edgeRetryExample && document.querySelector("#url").value !== "");
  assert.equal(await page.inputValue("#url"), `${srv.origin}/flaky`);
  await page.click("#send");
  assert.ok(await until(async () => (await page.locator("#log li.ok").count()) > 0, 10000), "the call finished");
  const lines = await page.locator("#log li").allTextContents();
  assert.equal(lines.length, 4, lines.join("\n"));
  assert.match(lines[0], /^GET .*\/flaky$/);
  assert.match(lines[1], /attempt 1: HTTP 503 → retrying in \d+ ms/);
  assert.match(lines[2], /attempt 2: HTTP 502 → retrying in \d+ ms/);
  assert.match(lines[3], /200 hello from upstream/);
  assert.equal(srv.requests("/flaky").length, 3);
  assert.match(await page.textContent("#breaker"), /closed/);
  assert.deepEqual(chromium.errors, []);
});

test("an outage opens the page's breaker, shown on the page; refused calls reach nothing", async () => {
  const url = srv.url("/down");
  srv.script("/down", [{ status: 503 }]);
  await page.fill("#url", url);
  const report = await page.evaluate(async (u) => {
    const out = [];
    for (let i = 0; i < 4; i++) out.push(await globalThis.edgeRetryExample.call(u));
    return out;
  }, url);
  // 4 attempts per call: the first call's failures already reach the breaker's minimum.
  const refused = report.filter((r) => r.error && r.error.name === "CircuitOpenError");
  assert.ok(refused.length >= 2, JSON.stringify(report));
  assert.ok(refused.every((r) => r.error.retryAfterMs > 0));
  const reached = srv.requests("/down").length;
  assert.ok(reached <= 8, `${reached} requests reached the server`);
  assert.ok(await until(async () => /open/.test(await page.textContent("#breaker")), 2000));
  assert.match(await page.locator("#log li.fail").last().textContent(), /CircuitOpenError/);
  assert.deepEqual(chromium.errors, []);
});
