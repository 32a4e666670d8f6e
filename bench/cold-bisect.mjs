// Where a Worker's cold start goes with edge-retry: Workers that load more and more of the
// package, each run as K copies in a fresh Miniflare (each copy its own isolate), variants
// interleaved sample by sample. A diagnostic, not part of scripts/bench.sh.
//
//   node bench/cold-bisect.mjs [--samples N] [--copies K] [--only a,b,c] [--explicit]
//
// --explicit: each Worker's modules are listed with their contents (as wrangler dev does)
// instead of found by Miniflare from scriptPath and modulesRules. --distinct: the same, and
// each copy's .wasm differs by a custom section, so no isolate reuses another's compilation.
//
// Per variant: new Miniflare → ready, and the first request to each copy (one fetch inside),
// as medians of (variant − plain fetch) paired by sample, divided by K. Also the CPU time of
// the Node process (Miniflare's side: finding and reading the modules) and of the workerd
// process over the whole sample, likewise per copy.
import { readFileSync, readdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { Miniflare } from "miniflare";
import { flag, load, median, option, quantile, startServer, table } from "./lib.mjs";
import { MODULE_RULES, workerDir } from "./workerd-overhead.mjs";

const SAMPLES = Number(option("--samples", 8));
const COPIES = Number(option("--copies", 10));
const DISTINCT = flag("--distinct");
const EXPLICIT = flag("--explicit") || DISTINCT;

const handler = (call) => `export default { async fetch(req) { const t = new URL(req.url).searchParams.get("target"); const r = await ${call}(t); return new Response(await r.text()); } };`;
// Imports for the main module without its glue: functions that are never called at load.
const STUB_IMPORTS = `const stub = {}; for (const { module, name } of WebAssembly.Module.imports(m)) (stub[module] ??= {})[name] = () => { throw new Error(name); };`;

export const VARIANTS = {
  fetch: handler("fetch"),
  // The CompiledWasm module imported, never instantiated: workerd compiles it at load.
  "wasm imported": `import m from "./pkg/edge_retry_bg.wasm"; globalThis.m = m;\n${handler("fetch")}`,
  "fleet wasm imported (27 KB)": `import m from "./pkg/edge_retry_fleet_bg.wasm"; globalThis.m = m;\n${handler("fetch")}`,
  "wasm instantiated": `import m from "./pkg/edge_retry_bg.wasm"; ${STUB_IMPORTS} globalThis.i = new WebAssembly.Instance(m, stub);\n${handler("fetch")}`,
  // The glue's initSync: instantiate and __wbindgen_start, nothing else called.
  "glue + initSync": `import m from "./pkg/edge_retry_bg.wasm"; import { initSync } from "./pkg/edge_retry.js"; initSync({ module: m });\n${handler("fetch")}`,
  // The glue, initSync and one Instance (what createRetryFetch() makes at load).
  "glue + initSync + new Instance": `import m from "./pkg/edge_retry_bg.wasm"; import { initSync, Instance } from "./pkg/edge_retry.js"; initSync({ module: m }); globalThis.i = new Instance();\n${handler("fetch")}`,
  "entry imported, fetch called": `import { retryFetch } from "./pkg/workerd.js"; globalThis.r = retryFetch;\n${handler("fetch")}`,
  "entry imported, retryFetch called": `import { retryFetch } from "./pkg/workerd.js";\n${handler("retryFetch")}`,
  // Everything deferred to the first request: the entry is in the bundle (workerd compiles its
  // wasm and parses its JS at load) but evaluated by a dynamic import in the handler.
  "entry imported at first request, retryFetch called": `let entry;\nconst retryFetch = async (u) => (await (entry ??= import("./pkg/workerd.js"))).retryFetch(u);\n${handler("retryFetch")}`,
};

export function childPids() {
  const out = [];
  for (const task of readdirSync("/proc/self/task")) {
    try {
      out.push(...readFileSync(`/proc/self/task/${task}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number));
    } catch {}
  }
  return out;
}
// CPU time of a process's threads so far, in ms (schedstat: nanoseconds on a CPU).
export function cpuMs(pid) {
  let ns = 0;
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, "utf8").split(" ")[0]);
  } catch {
    return NaN;
  }
  return ns / 1e6;
}

// The Worker's modules listed with their contents, as wrangler dev hands them to Miniflare
// (its bundle and the .wasm beside it): Miniflare then does not parse the JS to find the
// imports, which it does per Worker copy when given only scriptPath and modulesRules.
const IMPORT = /(?:\bfrom|\bimport)\s*\(?\s*["'](\.[^"']+)["']/g;
// With `salt`, each .wasm gets a custom section naming it, so that copies differ in bytes: V8
// shares a compiled module between isolates of a process whose bytes are the same.
export function explicitModules(scriptPath, salt) {
  const out = [];
  const seen = new Set();
  const visit = (file) => {
    if (seen.has(file)) return;
    seen.add(file);
    let contents = readFileSync(file);
    if (file.endsWith(".wasm")) {
      if (salt !== undefined) {
        const name = Buffer.from(`copy-${salt}`);
        contents = Buffer.concat([contents, Buffer.from([0, name.length + 1, name.length]), name]);
      }
      return out.push({ type: "CompiledWasm", path: file, contents });
    }
    out.push({ type: "ESModule", path: file, contents: contents.toString() });
    for (const [, spec] of contents.toString().matchAll(IMPORT)) visit(resolve(dirname(file), spec));
  };
  visit(resolve(scriptPath));
  return out;
}

// One sample: a fresh Miniflare running `k` copies of the Worker at `scriptPath` (each its own
// isolate, so each loads the modules and compiles the wasm), ready, then a first request to
// each copy. `listed`: the modules handed over as wrangler dev does (else Miniflare finds them
// from scriptPath); `distinct`: each copy's wasm bytes differ. Wall times, Node's CPU and the
// CPU of the workerd processes started meanwhile, in ms. (bench/cold-start.mjs uses it too.)
export async function sampleCopies(scriptPath, url, k, { listed, distinct, label = scriptPath }) {
  const before = new Set(childPids());
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const workers = Array.from({ length: k }, (_, i) => ({
    name: `w${i}`, compatibilityDate: "2025-01-01", routes: [`w${i}.bench.local/*`],
    ...(listed
      ? { modulesRoot: dirname(resolve(scriptPath)), modules: explicitModules(scriptPath, distinct ? `${i}-${Math.random()}` : undefined) }
      : { modules: true, scriptPath, modulesRules: MODULE_RULES }),
  }));
  const mf = new Miniflare({ workers });
  try {
    await mf.ready;
    const t1 = performance.now();
    for (let i = 0; i < k; i++) {
      const res = await mf.dispatchFetch(`http://w${i}.bench.local/?target=${encodeURIComponent(url)}`);
      const text = await res.text();
      if (!text.startsWith("ok ")) throw new Error(`${label}: ${text.slice(0, 300)}`);
    }
    const t2 = performance.now();
    const c = process.cpuUsage(c0);
    const workerdCpuMs = childPids().filter((p) => !before.has(p)).map(cpuMs).reduce((a, b) => a + b, 0);
    return { readyMs: t1 - t0, firstMs: t2 - t1, totalMs: t2 - t0, nodeCpuMs: (c.user + c.system) / 1000, workerdCpuMs };
  } finally {
    await mf.dispose();
  }
}

const sample = (scriptPath, url, k) => sampleCopies(scriptPath, url, k, { listed: EXPLICIT, distinct: DISTINCT });

async function main() {
  const only = option("--only", null);
  const names = Object.keys(VARIANTS).filter((n) => n === "fetch" || !only || only.split(",").some((o) => n.includes(o)));
  const server = await startServer();
  const paths = Object.fromEntries(names.map((n, i) => [n, workerDir(`bisect-cold-${i}`, VARIANTS[n])]));
  const s = Object.fromEntries(names.map((n) => [n, []]));
  const loadBefore = load();
  try {
    for (const n of names) await sample(paths[n], server.url, COPIES); // warm caches; checks each runs
    for (let i = 0; i < SAMPLES; i++) {
      const order = names.map((_, j) => names[(i + j) % names.length]);
      for (const n of order) s[n].push(await sample(paths[n], server.url, COPIES));
    }
  } finally {
    server.close();
  }
  const f = (x) => x.toFixed(2);
  const per = (n, key) => s[n].map((x, i) => (x[key] - s.fetch[i][key]) / COPIES);
  const cell = (n, key) => {
    const d = per(n, key);
    return `${f(median(d))} (${f(quantile(d, 0.25))} – ${f(quantile(d, 0.75))})`;
  };
  console.log(`workerd via Miniflare (${EXPLICIT ? `modules listed, as wrangler dev does${DISTINCT ? "; each copy's wasm bytes distinct" : ""}` : "scriptPath + modulesRules: Miniflare parses the JS for imports"}): ${COPIES} copies of each Worker per sample, ${SAMPLES} samples, variants rotated; load average before ${loadBefore}, after ${load()}.`);
  console.log(`Per copy, minus the plain-fetch Worker of the same round: median (IQR) in ms.\n`);
  console.log(table(["Worker", "start-up", "first request", "total", "Node CPU", "workerd CPU"],
    names.filter((n) => n !== "fetch").map((n) => [n, cell(n, "readyMs"), cell(n, "firstMs"), cell(n, "totalMs"), cell(n, "nodeCpuMs"), cell(n, "workerdCpuMs")])));
  const base = s.fetch;
  console.log(`\nplain fetch Worker, whole sample (${COPIES} copies): total ${f(median(base.map((x) => x.totalMs)))} ms, Node CPU ${f(median(base.map((x) => x.nodeCpuMs)))}, workerd CPU ${f(median(base.map((x) => x.workerdCpuMs)))}`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
