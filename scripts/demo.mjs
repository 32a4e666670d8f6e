#!/usr/bin/env node
// `make demo`: the example Worker (examples/worker) bundled the way Workers users bundle it
// (wrangler deploy --dry-run, which follows edge-retry's `workerd` export condition), run in
// workerd through Miniflare, calling flaky upstreams on 127.0.0.1. Prints what retryFetch did:
// each retry with its reason and wait, the outcome, then a sustained outage in which the
// circuit breaker opens and refuses calls fast (with no request reaching the upstream), then
// recovery through half-open. The Worker's onBreaker and onStorm callbacks (SPEC 8) report
// each breaker change and each retry storm entered or left; the demo prints them as they come.
// Needs the package built in pkg/ (make demo builds it first).
// Everything runs locally; every server and workerd is stopped before exit.
import http from "node:http";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const workerDir = path.join(root, "examples", "worker");
const OPEN_MS = 1500; // the breaker's open period in this demo (10 ms by default)
// Storm detection in this demo: a storm is when retries pass 10% of an origin's attempts over
// the last 3 s, once it has at least 4 (the defaults: 10 s and 20 attempts).
const STORM_WINDOW_MS = 3000;
const STORM_MIN_ATTEMPTS = 4;
const T0 = Date.now();

const tty = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code) => (s) => (tty ? `\x1b[${code}m${s}\x1b[0m` : String(s));
const bold = paint("1"), dim = paint("2"), red = paint("31"), green = paint("32"), yellow = paint("33"), cyan = paint("36");
const say = (s = "") => console.log(s);
const secs = (ms) => `${(ms / 1000).toFixed(2)} s`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class DemoError extends Error {}
function check(condition, message) {
  if (!condition) throw new DemoError(message);
}

// ---------------------------------------------------------------- a scripted upstream
// Each request takes the next step of the script; the last step repeats. A step is
// { status, headers, body } or { reset: true } (the connection is destroyed, no response).
async function startUpstream(name) {
  let steps = [{ status: 200, body: "ok" }];
  let next = 0;
  const log = [];
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    const step = steps[Math.min(next++, steps.length - 1)];
    log.push({ at: Date.now(), method: req.method, url: req.url, step });
    req.resume();
    if (step.reset) {
      req.socket.destroy();
      return;
    }
    res.writeHead(step.status, { "content-type": "text/plain", ...(step.headers || {}) });
    res.end(step.body ?? `${step.status} from ${name}`);
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    name,
    origin,
    log,
    script(newSteps) {
      steps = newSteps;
      next = 0;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function describeStep(step) {
  if (step.reset) return "connection reset";
  const ra = step.headers && step.headers["retry-after"];
  return `HTTP ${step.status}${ra !== undefined ? ` (Retry-After: ${ra})` : ""}`;
}

// ---------------------------------------------------------------- bundling the Worker
function run(file, args, options) {
  return new Promise((resolve, reject) => {
    execFile(file, args, { ...options, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error) {
        error.message += `\n${stdout}\n${stderr}`;
        reject(error);
      } else resolve({ stdout, stderr });
    });
  });
}

// The example depends on edge-retry; here it resolves to the package built in pkg/, through a
// symlink in the example's node_modules (gitignored), as `npm link` would make.
function linkPackage() {
  check(fs.existsSync(path.join(root, "pkg", "package.json")), "pkg/ is not built: run `make pkg` (or bash scripts/build-pkg.sh) first");
  const modules = path.join(workerDir, "node_modules");
  const link = path.join(modules, "edge-retry");
  fs.mkdirSync(modules, { recursive: true });
  let stat = null;
  try {
    stat = fs.lstatSync(link);
  } catch {}
  if (stat && !stat.isSymbolicLink()) {
    throw new DemoError(`${link} is a real directory (an installed edge-retry?); remove it so the demo can link pkg/`);
  }
  if (stat) fs.unlinkSync(link);
  fs.symlinkSync(path.relative(modules, path.join(root, "pkg")), link, "dir");
}

// Never touches the network: no metrics, no error reports, no banner (whose update check asks
// the npm registry), logs kept in the temp dir.
function wranglerEnv(tmp) {
  return {
    ...process.env,
    WRANGLER_SEND_METRICS: "false",
    WRANGLER_SEND_ERROR_REPORTS: "false",
    WRANGLER_HIDE_BANNER: "true",
    WRANGLER_LOG_PATH: path.join(tmp, "wrangler-logs"),
    CI: "true",
    NO_COLOR: "1",
    FORCE_COLOR: "0",
  };
}

async function bundleWorker(tmp) {
  linkPackage();
  const outdir = path.join(tmp, "dist");
  const wrangler = path.join(root, "node_modules", "wrangler", "bin", "wrangler.js");
  await run(process.execPath, [wrangler, "deploy", "--dry-run", "--outdir", outdir], {
    cwd: workerDir,
    env: wranglerEnv(tmp),
    timeout: 60000,
  });
  const files = fs.readdirSync(outdir);
  check(files.includes("index.js"), `wrangler made no index.js in ${outdir}: ${files.join(", ")}`);
  return { outdir, wasm: files.filter((f) => f.endsWith(".wasm")) };
}

function compatibilityDate() {
  const toml = fs.readFileSync(path.join(workerDir, "wrangler.toml"), "utf8");
  const m = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(toml);
  check(m, "examples/worker/wrangler.toml has no compatibility_date");
  return m[1];
}

// ---------------------------------------------------------------- the story
// Every answer of the Worker carries the onBreaker/onStorm events since the last one; they
// are printed at once, before what the answer itself says.
const seen = { breaker: [], storm: [] };
function printEvents(events = []) {
  for (const ev of events) {
    seen[ev.type].push(ev);
    const when = dim(`at +${secs(ev.at - T0)}`);
    if (ev.type === "breaker") {
      const colour = ev.state === "closed" ? green : ev.state === "open" ? red : yellow;
      say(`  ${bold("⚡ onBreaker")} ${ev.key} → ${colour(ev.state)} ${when}`);
    } else {
      const ratio = `${Math.round(ev.retryRatio * 100)}% of ${ev.attempts} attempts are retries over ${secs(ev.windowMs)}`;
      const text = ev.state === "storm" ? red("retry storm") : green("calm again");
      say(`  ${bold("⚡ onStorm")}   ${ev.key} → ${text} ${dim(`(${ratio})`)} ${when}`);
    }
  }
}

async function callWorker(mf, upstreamUrl, query = "") {
  const started = Date.now();
  const res = await mf.dispatchFetch(`http://worker.local/?url=${encodeURIComponent(upstreamUrl)}${query}`);
  const report = await res.json();
  report.wallMs = Date.now() - started;
  printEvents(report.events);
  return report;
}

async function breakerOf(mf, url) {
  const res = await mf.dispatchFetch(`http://worker.local/__breaker?url=${encodeURIComponent(url)}`);
  const answer = await res.json();
  printEvents(answer.events);
  return answer.breaker;
}

function breakerText(b) {
  const colour = b.state === "closed" ? green : b.state === "open" ? red : yellow;
  const n = (count, word) => `${count} ${word}${count === 1 ? "" : word.endsWith("s") ? "es" : "s"}`;
  return `${colour(b.state)} ${dim(`(${n(b.failures, "failure")}, ${n(b.successes, "success")} in the window)`)}`;
}

// Prints one call attempt by attempt, matching the Worker's retry events with what the
// upstream did for each request.
function printAttempts(report, hits) {
  report.retries.forEach((ev, i) => {
    const did = hits[i] ? describeStep(hits[i].step) : ev.status !== undefined ? `HTTP ${ev.status}` : ev.reason;
    const why = ev.reason === "network" ? `network error: ${ev.error ? ev.error.message : "?"}` : ev.reason === "timeout" ? "attempt timed out" : `status ${ev.status}`;
    const wait = hits[i] && hits[i].step.headers && hits[i].step.headers["retry-after"] !== undefined ? "the server's Retry-After, plus up to 10% jitter" : "exponential backoff with full jitter";
    say(`    attempt ${ev.attempt}: ${did.padEnd(28)} ${dim("→")} retry (${why}) after ${yellow(`${ev.delayMs} ms`)} ${dim(`— ${wait}`)}`);
  });
  if (report.outcome === "response") {
    const n = report.retries.length + 1;
    say(`    attempt ${n}: ${(hits[n - 1] ? describeStep(hits[n - 1].step) : `HTTP ${report.status}`).padEnd(28)} ${dim("→")} ${report.status < 400 ? green("settled") : red("settled")} with ${report.status} ${JSON.stringify(report.body)}`);
  }
}

async function scene1(mf, flaky) {
  say(bold("① A flaky upstream: 503, 503 with Retry-After: 1, a connection reset, then 200"));
  flaky.script([
    { status: 503 },
    { status: 503, headers: { "retry-after": "1" } },
    { reset: true },
    { status: 200, body: "hello from the upstream" },
  ]);
  const url = `${flaky.origin}/flaky`;
  say(`  the Worker calls ${cyan(url)} through retryFetch (maxAttempts 5, baseDelayMs 200)`);
  const before = flaky.log.length;
  const report = await callWorker(mf, url);
  const hits = flaky.log.slice(before);
  printAttempts(report, hits);
  check(report.outcome === "response" && report.status === 200, `expected a 200 in the end, got ${JSON.stringify(report)}`);
  check(report.retries.length === 3 && hits.length === 4, `expected 3 retries and 4 upstream requests, got ${report.retries.length} and ${hits.length}`);
  check(report.retries[1].delayMs >= 1000, `the Retry-After wait was ${report.retries[1].delayMs} ms, expected >= 1000`);
  say(`  ${green("outcome:")} ${report.status} after ${hits.length} attempts in ${secs(report.elapsedMs)}; the upstream saw ${hits.length} requests`);
  say(`  breaker for ${flaky.origin}: ${breakerText(report.breaker)}`);
  say();
}

async function scene2(mf, down) {
  say(bold(`② A sustained outage: every request to a second upstream gets 503`));
  say(`  breaker: opens at a failure ratio >= 0.5 over >= 4 outcomes, stays open ${OPEN_MS} ms; each call makes <= 2 attempts`);
  say(`  storm alert: retries above 10% of the origin's attempts over ${secs(STORM_WINDOW_MS)} (from ${STORM_MIN_ATTEMPTS} attempts)`);
  down.script([{ status: 503, body: "down for maintenance" }]);
  const url = `${down.origin}/outage`;
  let opened = false;
  for (let i = 1; i <= 6 && !opened; i++) {
    const before = down.log.length;
    const report = await callWorker(mf, url, "&attempts=2&baseDelayMs=50");
    const reached = down.log.length - before;
    const what = report.outcome === "response" ? `${report.status}` : `${report.error.name}`;
    say(`  request ${i}: ${red(what)} after ${reached} attempt${reached === 1 ? "" : "s"} (${report.retries.map((e) => `retry after ${e.delayMs} ms`).join(", ") || "no retry"})  breaker: ${breakerText(report.breaker)}`);
    opened = report.breaker.state === "open";
  }
  check(opened, "the breaker did not open during the outage");
  check(seen.breaker.some((e) => e.state === "open" && e.key === down.origin), "onBreaker did not report the breaker opening");
  check(seen.storm.some((e) => e.state === "storm" && e.key === down.origin), "onStorm did not report the retry storm");
  say(`  ${red("the breaker is open:")} calls are now refused without touching the upstream`);
  for (let i = 1; i <= 3; i++) {
    const before = down.log.length;
    const report = await callWorker(mf, url, "&attempts=2&baseDelayMs=50");
    const reached = down.log.length - before;
    check(report.outcome === "error" && report.error.name === "CircuitOpenError", `expected CircuitOpenError, got ${JSON.stringify(report)}`);
    check(reached === 0, `a refused call still reached the upstream (${reached} requests)`);
    say(`  refused call ${i}: ${red(report.error.name)} after ${report.wallMs} ms (round trip to the Worker), retryAfterMs ${report.error.retryAfterMs}; requests reaching the upstream: ${reached}`);
  }
  say();
}

async function waitForState(mf, url, state, limitMs) {
  const started = Date.now();
  for (;;) {
    const b = await breakerOf(mf, url);
    if (b.state === state) return Date.now() - started;
    check(Date.now() - started < limitMs, `the breaker stayed ${b.state}, expected ${state} within ${limitMs} ms`);
    await sleep(50);
  }
}

async function scene3(mf, down) {
  say(bold("③ Recovery through half-open"));
  const url = `${down.origin}/outage`;
  let waited = await waitForState(mf, url, "half-open", OPEN_MS + 3000);
  say(`  after ${secs(waited)} more the breaker reports ${yellow("half-open")} (no call needed to see it): one probe may go through`);
  let before = down.log.length;
  let report = await callWorker(mf, url, "&attempts=2&baseDelayMs=50");
  say(`  probe while the upstream is still down: ${red(report.status ?? report.error.name)}, ${down.log.length - before} request reached it → breaker ${breakerText(report.breaker)}`);
  check(report.breaker.state === "open", `a failed probe should reopen the breaker, it is ${report.breaker.state}`);

  down.script([{ status: 200, body: "back online" }]);
  say(`  ${green("the upstream comes back")}`);
  waited = await waitForState(mf, url, "half-open", OPEN_MS + 3000);
  say(`  after ${secs(waited)} the breaker is ${yellow("half-open")} again`);
  before = down.log.length;
  report = await callWorker(mf, url, "&attempts=2&baseDelayMs=50");
  check(report.outcome === "response" && report.status === 200, `the probe should succeed, got ${JSON.stringify(report)}`);
  say(`  probe: ${green(report.status)} ${JSON.stringify(report.body)}, ${down.log.length - before} request → breaker ${breakerText(report.breaker)}`);
  check(report.breaker.state === "closed", `a successful probe should close the breaker, it is ${report.breaker.state}`);
  // Calm again once the outage's retries have left the storm window.
  const calm = () => seen.storm.some((e) => e.state === "calm" && e.key === down.origin);
  for (let i = 1; i <= 2 || (!calm() && i <= 12); i++) {
    if (i > 2) await sleep(300);
    report = await callWorker(mf, url);
    say(`  request ${i} after recovery: ${green(report.status)} in ${report.wallMs} ms, breaker ${report.breaker.state}`);
  }
  check(calm(), "onStorm did not report the storm's end");
  const states = seen.breaker.filter((e) => e.key === down.origin).map((e) => e.state);
  check(["open", "half-open", "closed"].every((s) => states.includes(s)), `onBreaker reported ${states.join(", ")} for the outage`);
  say();
}

async function main() {
  const t0 = Date.now();
  const cleanups = [];
  const cleanup = async () => {
    while (cleanups.length) {
      try {
        await cleanups.pop()();
      } catch (e) {
        console.error(`cleanup: ${e.message}`);
      }
    }
  };
  const watchdog = setTimeout(async () => {
    console.error(red("demo: timed out after 60 s; stopping"));
    await cleanup();
    process.exit(1);
  }, 60000);
  watchdog.unref();
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.once(signal, async () => {
      await cleanup();
      process.exit(130);
    });
  }

  try {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "edge-retry-demo-"));
    cleanups.push(() => fs.rmSync(tmp, { recursive: true, force: true }));

    say(bold("edge-retry demo: the example Worker in workerd (Miniflare), bundled by wrangler"));
    const { outdir, wasm } = await bundleWorker(tmp);
    say(dim(`  wrangler deploy --dry-run bundled examples/worker with the "workerd" condition: index.js + ${wasm.join(", ")}`));

    const flaky = await startUpstream("flaky");
    cleanups.push(() => flaky.close());
    const down = await startUpstream("down");
    cleanups.push(() => down.close());

    const mf = new Miniflare({
      modules: true,
      scriptPath: path.join(outdir, "index.js"),
      modulesRoot: outdir,
      modulesRules: [
        { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
        { type: "CompiledWasm", include: ["**/*.wasm"] },
      ],
      compatibilityDate: compatibilityDate(),
      bindings: {
        UPSTREAM: `${flaky.origin}/`,
        MAX_ATTEMPTS: "5",
        BASE_DELAY_MS: "200",
        BREAKER_MIN_REQUESTS: "4",
        BREAKER_FAILURE_RATIO: "0.5",
        BREAKER_WINDOW_MS: "10000",
        BREAKER_OPEN_MS: String(OPEN_MS),
        BREAKER_MAX_OPEN_MS: String(OPEN_MS),
        STORM_WINDOW_MS: String(STORM_WINDOW_MS),
        STORM_MIN_ATTEMPTS: String(STORM_MIN_ATTEMPTS),
      },
      cf: false, // no request.cf fetched from workers.cloudflare.com: stay offline
    });
    cleanups.push(() => mf.dispose());
    await mf.ready;
    say(dim(`  upstreams: ${flaky.origin} (flaky) and ${down.origin} (outage); each origin has its own breaker`));
    say();

    await scene1(mf, flaky);
    await scene2(mf, down);
    await scene3(mf, down);

    const stats = await (await mf.dispatchFetch("http://worker.local/__stats")).json();
    say(bold("retryFetch.stats() in the Worker's isolate:"));
    say(`  ${stats.calls} calls, ${stats.attempts} attempts, ${stats.retries} retries, ${stats.successes} successes, ${stats.failures} failures, ` +
      `${stats.breakerRejections} refused by the breaker, ${stats.retryAfterWaits} Retry-After waits, ${stats.storms} retry storms; latency p50 ${stats.latencyMs.p50} ms, p99 ${stats.latencyMs.p99} ms`);
    say();
    say(green(`demo finished in ${secs(Date.now() - t0)}`));
  } catch (error) {
    console.error(red(error instanceof DemoError ? `demo: ${error.message}` : error.stack || String(error)));
    process.exitCode = 1;
  } finally {
    await cleanup();
    clearTimeout(watchdog);
  }
}

await main();
