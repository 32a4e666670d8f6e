// edge-retry in a page: every call goes through retryFetch and the page shows each retry (its
// reason and wait), the outcome, and the circuit breaker of the upstream's origin.
//
// Bundle with esbuild (the `browser` export condition: the wasm is inlined, no init call, no
// .wasm file to serve):
//   npx esbuild main.js --bundle --format=esm --platform=browser --outfile=dist/main.js
// then serve this folder and open index.html?url=<an upstream URL> (it must allow CORS).
import { createRetryFetch, CircuitOpenError } from "edge-retry";

// One instance for the page: its breaker and stats last as long as the page.
const retryFetch = createRetryFetch({
  maxAttempts: 4,
  baseDelayMs: 200,
  breaker: { minimumRequests: 4, failureRatio: 0.5, openMs: 5000 },
});

const $ = (selector) => document.querySelector(selector);

function line(text, kind = "") {
  const li = document.createElement("li");
  li.textContent = text;
  if (kind) li.className = kind;
  $("#log").append(li);
  return li;
}

function describeError(error) {
  if (error instanceof CircuitOpenError) return `${error.name}: refused at once, retry in ${error.retryAfterMs} ms`;
  return `${error.name}: ${error.message}`;
}

function showBreaker(url) {
  try {
    const { origin } = new URL(url, location.href);
    const b = retryFetch.breaker(origin);
    $("#breaker").textContent = `${origin}: ${b.state} (${b.failures} failures, ${b.successes} successes)`;
    $("#breaker").className = b.state;
  } catch {
    $("#breaker").textContent = "";
  }
}

// Calls `url` through retryFetch, logging as it goes; resolves with a report of the call.
export async function call(url, { signal } = {}) {
  const retries = [];
  const started = performance.now();
  line(`GET ${url}`, "call");
  const report = { url, retries };
  try {
    const response = await retryFetch(url, {
      signal,
      retry: {
        onRetry(ev) {
          const what = ev.reason === "status" ? `HTTP ${ev.status}` : `${ev.reason} error${ev.error ? ` (${ev.error.message})` : ""}`;
          retries.push({ attempt: ev.attempt, reason: ev.reason, delayMs: ev.delayMs, status: ev.status });
          line(`  attempt ${ev.attempt}: ${what} → retrying in ${ev.delayMs} ms`, "retry");
        },
      },
    });
    report.status = response.status;
    report.body = await response.text();
    line(`  → ${response.status} ${report.body.slice(0, 80)}`, response.ok ? "ok" : "fail");
  } catch (error) {
    report.error = { name: error.name, message: error.message, retryAfterMs: error.retryAfterMs };
    line(`  → ${describeError(error)}`, "fail");
  }
  report.elapsedMs = Math.round(performance.now() - started);
  showBreaker(url);
  return report;
}

let controller = null;

function start() {
  const params = new URLSearchParams(location.search);
  $("#url").value = params.get("url") || `${location.origin}/flaky`;
  $("#send").addEventListener("click", async () => {
    controller = new AbortController();
    await call($("#url").value, { signal: controller.signal });
  });
  $("#send5").addEventListener("click", async () => {
    controller = new AbortController();
    for (let i = 0; i < 5; i++) await call($("#url").value, { signal: controller.signal });
  });
  $("#abort").addEventListener("click", () => controller && controller.abort());
  setInterval(() => showBreaker($("#url").value), 250);
  showBreaker($("#url").value);
}

// For tests and the console.
globalThis.edgeRetryExample = { call, retryFetch };

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
