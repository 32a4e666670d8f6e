// Where retryFetch's extra time per request goes in workerd: the overhead benchmark's loop
// with pieces of the driver alone. Uses the package's internal modules (driver pieces and the
// wasm Instance's handle API), so it is a diagnostic, not part of scripts/bench.sh.
//
//   node bench/workerd-bisect.mjs [--rounds N] [--batch N]
//
// Variants: plain fetch; retryFetch; `attempt()` alone around fetch (the driver's fetch
// wrapper for attempts with a timeout, signal or body, no wasm; a plain call awaits fetch in
// driver.js's run instead); the wasm bookkeeping alone (open/start before fetch, outcome/close after,
// as the driver does, with no driver); a plain-JS wrapper with three async layers; and a
// stub fetch (no I/O) with and without retryFetch, timed from Node, for the pure CPU cost.
import { Miniflare } from "miniflare";
import { median, option, load, startServer, table } from "./lib.mjs";
import { MODULE_RULES, workerDir } from "./workerd-overhead.mjs";

const ROUNDS = Number(option("--rounds", 60));
const BATCH = Number(option("--batch", 100));

const WORKER = `
import { retryFetch, createRetryFetch } from "./pkg/workerd.js";
import { attempt } from "./pkg/attempt.js";
import { Instance } from "./pkg/edge_retry.js";
const inst = new Instance(undefined);
const BODY = "ok ".repeat(10);
const stub = async () => new Response(BODY, { status: 200 });
const stubRetry = createRetryFetch({ fetch: stub });
const V = {
  fetch: (u) => fetch(u),
  retryFetch: (u) => retryFetch(u),
  "attempt() only": async (u) => (await attempt(globalThis.fetch, u, undefined, undefined, -1, undefined))[1],
  "wasm bookkeeping only": async (u) => {
    const id = inst.open(undefined);
    inst.start(id, "http://127.0.0.1", "GET", false, true, Date.now());
    const r = await fetch(u);
    inst.outcome(id, 0, r.status, undefined, undefined, undefined, undefined, Date.now(), NaN);
    inst.close(id);
    return r;
  },
  "3 async JS layers": async (u) => {
    const inner = async () => (await Promise.resolve(fetch(u)).then((r) => [0, r]))[1];
    return await inner();
  },
  "stub fetch": stub,
  "retryFetch over stub": stubRetry,
};
export default {
  async fetch(request) {
    const q = new URL(request.url).searchParams;
    const f = V[q.get("which")], t = q.get("target"), n = Number(q.get("n"));
    const t0 = Date.now();
    for (let i = 0; i < n; i++) await (await f(t)).text();
    return Response.json({ ms: Date.now() - t0 });
  },
};`;

const server = await startServer();
const mf = new Miniflare({ modules: true, scriptPath: workerDir("bisect", WORKER), modulesRules: MODULE_RULES, compatibilityDate: "2025-01-01" });
const io = ["fetch", "retryFetch", "attempt() only", "wasm bookkeeping only", "3 async JS layers"];
const cpu = ["stub fetch", "retryFetch over stub"];
const t = Object.fromEntries([...io, ...cpu].map((n) => [n, []]));
const loadBefore = load();
try {
  for (let r = 0; r < ROUNDS + 3; r++) {
    for (const group of [io, cpu]) {
      for (let k = 0; k < group.length; k++) {
        const which = group[(k + r) % group.length];
        const n = cpu.includes(which) ? BATCH * 20 : BATCH;
        const t0 = process.hrtime.bigint();
        const res = await mf.dispatchFetch(`http://bench.local/?which=${encodeURIComponent(which)}&n=${n}&target=${encodeURIComponent(server.url)}`);
        const { ms } = await res.json();
        const hr = Number(process.hrtime.bigint() - t0) / 1e3 / n;
        // I/O variants: the Worker's Date.now; stub variants never do I/O, so the Node side times them.
        if (r >= 3) t[which].push(cpu.includes(which) ? hr : (ms * 1000) / n);
      }
    }
  }
} finally {
  await mf.dispose();
  server.close();
}
const f = (x, d = 1) => x.toFixed(d);
console.log(`workerd: ${ROUNDS} interleaved rounds x ${BATCH} sequential requests (stub variants x ${BATCH * 20}); load average before: ${loadBefore}; after: ${load()}.\n`);
console.log(table(["variant", "µs/request (median)", "ratio to fetch (median of rounds)"], [
  ...io.map((n) => [n, f(median(t[n])), `${f(median(t[n].map((v, i) => v / t.fetch[i])), 3)}×`]),
  ...cpu.map((n) => [`${n} (no I/O; timed from Node)`, f(median(t[n]), 2), `+${f(median(t[n].map((v, i) => v - t["stub fetch"][i])), 2)} µs over stub`]),
]));
