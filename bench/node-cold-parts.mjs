// Where Node's cold start with edge-retry goes: a fresh process per sample does the Node
// entry's work step by step with a clock between the steps, and the bundled entry is timed
// whole beside it. A diagnostic, not part of scripts/bench.sh.
//
//   node bench/node-cold-parts.mjs [--samples N] [--warm]
//
// With --warm, undici (Node's fetch) is loaded by one plain fetch first and the process idles
// 300 ms before the clock starts, as in bench/cold-start.mjs. Steps, in one process:
//   first import    import of a 0.5 KB module of the package: the loader's fixed cost
//   node:fs         `await import("node:fs")`
//   read            readFileSync of the .wasm
//   compile         new WebAssembly.Module
//   glue            import of the wasm-bindgen glue (pkg/edge_retry.js)
//   instantiate     initSync: new WebAssembly.Instance, __wbindgen_start
//   api             import of pkg/api.js (the driver and its modules, unbundled; presets and
//                   the default createRetryFetch() run here)
//   first call      retryFetch(url) and its body read
// and, in another process, the bundled entry: `import("pkg/node.js")`, then the first call.
import { execFileSync } from "node:child_process";
import { pathToFileURL } from "node:url";
import { join } from "node:path";
import { flag, load, median, option, PKG, quantile, startServer, table } from "./lib.mjs";

const SAMPLES = Number(option("--samples", 20));
const WARM = flag("--warm");
const url = (f) => JSON.stringify(pathToFileURL(join(PKG, f)).href);

// The ESM loader's fixed cost for a first dynamic import, whatever the module, comes first.
const EMPTY = `await import(${url("errors.js")}); mark("first import (errors.js, 0.5 KB)");`;
const STEPS = `${EMPTY}
  const { readFileSync } = await import("node:fs"); mark("node:fs");
  const bytes = readFileSync(new URL(${url("edge_retry_node_bg.wasm")})); mark("read");
  const module = new WebAssembly.Module(bytes); mark("compile");
  const { initSync } = await import(${url("edge_retry.js")}); mark("glue");
  initSync({ module }); mark("instantiate");
  const { retryFetch } = await import(${url("api.js")}); mark("api");
  const r = await retryFetch(URL_); await r.text(); mark("first call");`;
const BUNDLED = `${EMPTY}
  const { retryFetch } = await import(${url("node.js")}); mark("import node.js");
  const r = await retryFetch(URL_); await r.text(); mark("first call");`;
const PLAIN = `const r = await fetch(URL_); await r.text(); mark("first call");`;

function run(body, target) {
  const code = `
    const URL_ = ${JSON.stringify(target)};
    ${WARM ? "await (await fetch(URL_)).text(); await new Promise((r) => setTimeout(r, 300));" : ""}
    const marks = []; let last = performance.now();
    const mark = (name) => { const now = performance.now(); marks.push([name, now - last]); last = now; };
    ${body}
    console.log(JSON.stringify(marks));`;
  return JSON.parse(execFileSync(process.execPath, ["--input-type=module", "-e", code], { encoding: "utf8" }));
}

const server = await startServer();
const loadBefore = load();
const variants = { steps: STEPS, bundled: BUNDLED, plain: PLAIN };
const out = { steps: [], bundled: [], plain: [] };
try {
  for (const v of Object.keys(variants)) run(variants[v], server.url); // file cache
  for (let i = 0; i < SAMPLES; i++) for (const v of Object.keys(variants)) out[v].push(run(variants[v], server.url));
} finally {
  server.close();
}
const f = (x) => x.toFixed(2);
const rows = [];
for (const v of Object.keys(variants)) {
  const names = out[v][0].map(([n]) => n);
  names.forEach((n, k) => {
    const xs = out[v].map((m) => m[k][1]);
    rows.push([`${v}: ${n}`, f(median(xs)), `${f(quantile(xs, 0.25))} – ${f(quantile(xs, 0.75))}`]);
  });
  const totals = out[v].map((m) => m.reduce((a, [, t]) => a + t, 0));
  rows.push([`**${v}: total**`, `**${f(median(totals))}**`, `${f(quantile(totals, 0.25))} – ${f(quantile(totals, 0.75))}`]);
}
console.log(`Node ${process.version}, ${SAMPLES} fresh processes per variant, interleaved${WARM ? ", undici warmed first" : ", fully cold"}; load average before ${loadBefore}, after ${load()}. ms.\n`);
console.log(table(["step", "median", "IQR"], rows));
