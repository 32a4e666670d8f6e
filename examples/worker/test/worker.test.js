// The example Worker in workerd (@cloudflare/vitest-pool-workers), calling a flaky upstream
// (test/upstream.js) through edge-retry. SELF is this Worker, built from wrangler.toml.
import { SELF } from "cloudflare:test";
import { inject, it, expect } from "vitest";

let n = 0;
const unique = (name) => `/${name}-${++n}-${Math.random().toString(36).slice(2, 8)}`;

async function call(target, params = {}, init = {}) {
  const q = new URLSearchParams({ url: target, baseDelayMs: "10", ...params });
  const res = await SELF.fetch(`https://worker.example/?${q}`, init);
  return res.json();
}

it("runs in workerd", () => {
  expect(navigator.userAgent).toBe("Cloudflare-Workers");
});

it("retries 503s and reports each retry", async () => {
  const report = await call(inject("upstream") + unique("flaky"));
  expect(report.outcome).toBe("response");
  expect(report.status).toBe(200);
  expect(report.body).toBe("ok after 3");
  expect(report.retries.map((r) => [r.attempt, r.reason, r.status])).toEqual([[1, "status", 503], [2, "status", 503]]);
});

it("waits what Retry-After asks", async () => {
  const report = await call(inject("upstream") + unique("limited"));
  expect(report.status).toBe(200);
  expect(report.retries).toHaveLength(1);
  expect(report.retries[0].delayMs).toBeGreaterThanOrEqual(1000);
  expect(report.elapsedMs).toBeGreaterThanOrEqual(1000);
});

it("replays a PUT body on the retry", async () => {
  const report = await call(inject("upstream") + unique("echo"), {}, { method: "PUT", body: "payload" });
  expect(report.status).toBe(200);
  expect(report.body).toBe("PUT payload");
  expect(report.retries).toHaveLength(1);
});

it("settles an aborted call with the caller's reason", async () => {
  const report = await call(inject("upstream") + unique("hang"), { abortAfterMs: "100" });
  expect(report.outcome).toBe("error");
  expect(report.error.message).toBe("aborted by the caller after 100 ms");
  expect(report.elapsedMs).toBeLessThan(2000);
});

it("opens the breaker for a failing origin and then refuses calls without sending them", async () => {
  // localhost: another origin than the tests above, so only this test's failures count.
  const down = inject("upstream").replace("127.0.0.1", "localhost") + unique("down");
  const reports = [];
  for (let i = 0; i < 12; i++) reports.push(await call(down, { attempts: "1" }));
  expect(reports[0].status).toBe(500);
  const last = reports.at(-1);
  expect(last.outcome).toBe("error");
  expect(last.error.name).toBe("CircuitOpenError");
  expect(last.breaker.state).toBe("open");
  const res = await SELF.fetch(`https://worker.example/__breaker?url=${encodeURIComponent(down)}`);
  expect((await res.json()).breaker.state).toBe("open");
});
