// The workerd soak, shared by tests/js/soak/workerd-soak.test.mjs (a short run) and
// scripts/soak.mjs (the long one). Not a test file.
//
// One Miniflare isolate runs fixtures/worker.mjs; batches of calls go through ONE instance of
// the package to the fault server on 127.0.0.1, with a mix of 200s, 503s, 429s with
// Retry-After 0, connection resets, hangs cut by the attempt timeout, and flaky paths. The
// calls are spread over `keys` distinct breaker keys: every call's URL carries `?o=<key>` and
// the instance's breaker key function reads it. (Distinct origins would need distinct ports or
// host names: the fault server binds 127.0.0.1 only, workerd cannot reach a 127.x.y.z address
// nothing listens on, and no host name but localhost resolves to loopback; the registry holds
// breakers and budgets by key, whatever the key is made of, so 2,000 keys exercise its bound
// of 1,000 just as 2,000 origins would.)
//
// Measured: calls settled, calls/s, the fault server's open connections (sampled every
// 20 ms), the worker's wasm memory (read in the isolate), workerd's RSS (/proc), V8's heap
// usage in the isolate after a GC (through the inspector, when it answers), unhandled rejections (an
// `unhandledrejection` listener in the isolate, and workerd's own output).
import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { startFaultServer } from "../fault-server.mjs";
import { ROOT, startMiniflare } from "../runtimes.mjs";
import { soakKey } from "./fixtures/scenario.mjs";

export const SOAK_DEFAULTS = Object.freeze({
  baseDelayMs: 1,
  maxDelayMs: 5,
  attemptTimeoutMs: 50,
  maxRetryAfterMs: 1000,
  retryAfterJitter: 0,
  // Hot keys' breakers open (at half failures: the default 0.9 is rarely reached in this mix)
  // and come back (half-open) within the run, so every state is visited.
  breaker: { openMs: 200, failureRatio: 0.5 },
});

// What the fault server does on each path of the mix (scenario.mjs SOAK_MIX).
function scriptSoak(srv) {
  srv.script("/soak/s503", [{ status: 503, body: "unavailable" }]);
  srv.script("/soak/s429", [{ status: 429, retryAfter: "0", body: "slow down" }]);
  srv.script("/soak/reset", [{ reset: true }]);
  srv.script("/soak/hang", [{ hang: true }]);
  // A long cycle: failures of every kind between successes.
  const cycle = [{ status: 503 }, { status: 200 }, { status: 429, retryAfter: "0" }, { reset: true }, { status: 200 }, { status: 502 }, { status: 200 }, { hang: true }, { status: 200 }];
  const flaky = [];
  for (let i = 0; i < 8192; i++) flaky.push(cycle[i % cycle.length]);
  srv.script("/soak/flaky", flaky);
}

// workerd processes started by this process (Miniflare spawns the binary directly).
function workerdPids() {
  const pids = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (comm.includes("workerd") && ppid === process.pid) pids.push(Number(entry));
    } catch {
      /* gone meanwhile */
    }
  }
  return pids;
}

function rssBytes(pids) {
  let total = 0;
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
      if (m) total += Number(m[1]) * 1024;
    } catch {
      /* gone */
    }
  }
  return total || undefined;
}

// V8's heap usage in the worker's isolate, through workerd's inspector (Miniflare's proxy).
async function heapProbe(mf) {
  let WebSocket;
  try {
    ({ default: WebSocket } = await import("ws"));
    const url = await mf.getInspectorURL();
    const list = await (await fetch(new URL("/json", url.href.replace(/^ws/, "http")))).json();
    const target = list.find((t) => String(t.id).startsWith("core:user"));
    if (!target) return null;
    const ws = new WebSocket(target.webSocketDebuggerUrl);
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    let id = 0;
    const pending = new Map();
    let lastEvent = 0;
    ws.on("message", (m) => {
      const msg = JSON.parse(m);
      if (msg.method) lastEvent = performance.now(); // heap snapshot chunks
      const done = pending.get(msg.id);
      if (done) {
        pending.delete(msg.id);
        done(msg.result);
      }
    });
    ws.on("error", () => {});
    const call = (method, params, timeoutMs) => {
      const i = ++id;
      return new Promise((resolve) => {
        pending.set(i, resolve);
        ws.send(JSON.stringify({ id: i, method, params }));
        setTimeout(() => {
          pending.delete(i);
          resolve(undefined);
        }, timeoutMs).unref();
      });
    };
    return {
      // workerd does not answer HeapProfiler.collectGarbage, but a heap snapshot collects
      // garbage first: take one (its chunks are dropped), then read the heap's size.
      async usedAfterGc() {
        lastEvent = performance.now();
        const snapshot = call("HeapProfiler.takeHeapSnapshot", { reportProgress: false }, 30000);
        for (let i = 0; i < 600; i++) {
          const settled = await Promise.race([snapshot.then(() => true), new Promise((r) => setTimeout(() => r(false), 50))]);
          if (settled || performance.now() - lastEvent > 500) break;
        }
        const result = await call("Runtime.getHeapUsage", undefined, 2000);
        return result ? result.usedSize : undefined;
      },
      close: () => ws.close(),
    };
  } catch {
    return null;
  }
}

const mb = (bytes) => (bytes === undefined ? "n/a" : `${(bytes / 1048576).toFixed(1)} MB`);

// Runs the soak; resolves with its figures. Everything it starts is closed before it returns.
// `plain`: a control run with plain fetch instead of the package (what workerd itself costs).
export async function runSoak({ calls = 5000, keys = 2000, batch = 1000, concurrency = 64, heap = false, plain = false, log = () => {} } = {}) {
  const srv = await startFaultServer();
  const runtimeOutput = [];
  const collect = (stream) => {
    stream.setEncoding("utf8");
    stream.on("data", (chunk) => {
      runtimeOutput.push(chunk);
      if (runtimeOutput.length > 200) runtimeOutput.shift();
    });
  };
  let mf;
  let probe = null;
  let sampler;
  try {
    mf = await startMiniflare({
      scriptPath: path.join(ROOT, "tests", "js", "soak", "fixtures", "worker.mjs"),
      modulesRoot: ROOT,
      extra: {
        handleRuntimeStdio: (stdout, stderr) => {
          collect(stdout);
          collect(stderr);
        },
        ...(heap ? { inspectorPort: 0 } : {}),
      },
    });
    if (heap) probe = await heapProbe(mf);
    const pids = workerdPids();

    const get = async (what) => (await mf.dispatchFetch(`http://soak.local${what}`)).json();
    const base = srv.origin;
    scriptSoak(srv);

    let maxOpen = 0;
    sampler = setInterval(() => {
      maxOpen = Math.max(maxOpen, srv.openConnections());
    }, 20);

    const start0 = await get("/mem");
    const checkpoints = [];
    const marks = [0.1, 0.5, 1].map((f) => Math.max(1, Math.round(calls * f)));
    const tally = { settled: 0, responses: {}, errors: {} };
    const examples = {};
    let serverRequests = 0;
    let batches = 0;
    const t0 = performance.now();
    for (let done = 0; done < calls && batches < 1e6; batches++) {
      // Batches end at the checkpoints, so memory is read there.
      const nextMark = marks.find((m) => m > done) ?? calls;
      const count = Math.min(batch, nextMark - done);
      const spec = { name: "soak", defaults: SOAK_DEFAULTS, base, start: done, count, keys, concurrency, plain };
      const res = await mf.dispatchFetch(`http://soak.local/soak/batch?spec=${encodeURIComponent(JSON.stringify(spec))}`, { method: "POST" });
      const text = await res.text();
      let t;
      try {
        t = JSON.parse(text);
      } catch {
        throw new Error(`the worker answered ${res.status}: ${text.slice(0, 500)}`);
      }
      if (t.harnessError) throw new Error(`the worker failed: ${JSON.stringify(t).slice(0, 800)}`);
      tally.settled += t.settled;
      for (const [k, v] of Object.entries(t.responses)) tally.responses[k] = (tally.responses[k] || 0) + v;
      for (const [k, v] of Object.entries(t.errors)) tally.errors[k] = (tally.errors[k] || 0) + v;
      for (const [k, v] of Object.entries(t.examples)) examples[k] ??= v;
      done += count;
      // The server's log would grow with every request: count it, then clear it.
      serverRequests += srv.requests().length;
      srv.reset();
      scriptSoak(srv);
      if (marks.includes(done)) {
        const cp = {
          pct: Math.round((done / calls) * 100),
          calls: done,
          seconds: (performance.now() - t0) / 1000,
          wasmBytes: t.wasmBytes,
          rssBytes: rssBytes(pids),
          heapUsed: probe ? await probe.usedAfterGc() : undefined,
          openConnections: srv.openConnections(),
        };
        checkpoints.push(cp);
        log(`  ${String(cp.pct).padStart(3)}%  ${String(done).padStart(7)} calls  ${cp.seconds.toFixed(1)} s  wasm ${mb(cp.wasmBytes)}  workerd RSS ${mb(cp.rssBytes)}  JS heap ${mb(cp.heapUsed)}  open conns ${cp.openConnections}`);
      }
    }
    const ms = performance.now() - t0;
    clearInterval(sampler);
    sampler = undefined;
    const report = plain ? { stats: null, fetches: null } : await get("/scenario/report?name=soak");
    // Connections the worker still holds once everything settled (idle keep-alive at most).
    const openAtEnd = srv.openConnections();
    const end = await get("/mem");
    const uncaught = runtimeOutput.join("").split("\n").filter((l) => /uncaught|unhandled/i.test(l));
    return {
      calls,
      keys,
      concurrency,
      plain,
      batches,
      ms,
      callsPerSecond: calls / (ms / 1000),
      settled: tally.settled,
      responses: tally.responses,
      errors: tally.errors,
      errorExamples: examples,
      distinctKeys: new Set(Array.from({ length: calls }, (_, i) => soakKey(i, keys))).size,
      serverRequests,
      maxOpenConnections: maxOpen,
      openConnectionsAtEnd: openAtEnd,
      wasmBytesAtStart: start0.wasmBytes,
      checkpoints,
      unhandledRejections: end.unhandled,
      lastUnhandled: end.lastUnhandled,
      runtimeUncaughtLines: uncaught,
      stats: report && report.stats,
      fetches: report && report.fetches,
    };
  } finally {
    if (sampler) clearInterval(sampler);
    if (probe) probe.close();
    if (mf) await mf.dispose();
    await srv.close();
  }
}

export function formatFigures(f) {
  const lines = [];
  if (f.plain) lines.push("CONTROL RUN: plain fetch, no package");
  lines.push(`calls ${f.calls} over ${f.distinctKeys} breaker keys, ${f.concurrency} at a time, in ${(f.ms / 1000).toFixed(1)} s: ${f.callsPerSecond.toFixed(0)} calls/s`);
  lines.push(`settled ${f.settled}/${f.calls}; responses ${JSON.stringify(f.responses)}; rejections ${JSON.stringify(f.errors)}`);
  for (const [name, message] of Object.entries(f.errorExamples)) lines.push(`  e.g. ${name}: ${message}`);
  if (f.stats) lines.push(`attempts ${f.stats.attempts} (fetch called ${f.fetches}), server saw ${f.serverRequests}; retries ${f.stats.retries}; breaker rejections ${f.stats.breakerRejections}; budget denials ${f.stats.budgetDenials}; Retry-After waits ${f.stats.retryAfterWaits}`);
  if (f.stats) lines.push(`latency p50/p90/p99 ${f.stats.latencyMs.p50}/${f.stats.latencyMs.p90}/${f.stats.latencyMs.p99} ms`);
  lines.push(`fault server open connections: max ${f.maxOpenConnections}, at the end ${f.openConnectionsAtEnd}`);
  lines.push(`unhandled rejections: ${f.unhandledRejections} in the isolate, ${f.runtimeUncaughtLines.length} lines in workerd's output`);
  lines.push(`memory (wasm at start ${mb(f.wasmBytesAtStart)}):`);
  for (const c of f.checkpoints) {
    lines.push(`  at ${String(c.pct).padStart(3)}% (${c.calls} calls): wasm ${mb(c.wasmBytes)} (${c.wasmBytes} B), workerd RSS ${mb(c.rssBytes)}, JS heap used after GC ${mb(c.heapUsed)}`);
  }
  return lines.join("\n");
}
