// Where a Worker's cold start goes in workerd, by workerd's own CPU time, one Worker at a
// time: one long-lived Miniflare runs a host Worker that starts fresh Workers through a Worker
// Loader binding (each its own isolate, loaded from modules the host holds), and Node reads the
// workerd process's CPU time (all threads, /proc schedstat) around each request. Per sample and
// variant, a fresh Worker serves three requests:
//   start  – the Worker is created (isolate, modules compiled and evaluated) and answers a
//            request that calls nothing;
//   first  – its first call (retryFetch or fetch, one fetch to the local server);
//   second – the same call again (warm), so first − second is the one-time part of the first
//            call (JS and wasm functions compiled on first call, caches filled).
// Each variant's numbers are paired with the plain Worker's of the same round (variants
// rotated within a round), and medians of the differences reported. Each Worker's .wasm gets a
// custom section naming it, so no isolate reuses another's compiled module. After each request
// Node waits --settle ms before reading the CPU, so that V8's background work (tier-up
// compilation, GC) that a request started is counted with it.
//
//   node bench/workerd-parts.mjs [--samples N] [--settle MS] [--only a,b] [--pkgs dirA,dirB]
//
// Without --pkgs: the parts of one package (EDGE_RETRY_PKG, default pkg/). With --pkgs: only
// "entry imported, retryFetch called" for each package directory given, paired against each
// other and the plain Worker (to measure a change to the package).
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Miniflare } from "miniflare";
import { args, load, median, option, PKG, quantile, ROOT, startServer, table, version } from "./lib.mjs";
import { childPids, cpuMs } from "./cold-bisect.mjs";

const SAMPLES = Number(option("--samples", 30));
const SETTLE = Number(option("--settle", 40));
const RECYCLE = Number(option("--recycle", 8)); // rounds per Miniflare (isolates pile up)
const ONLY = option("--only", null);
const PKGS = option("--pkgs", null);
// --solo NAME: only that variant, no pairing and no table (for profiling workerd with perf).
const SOLO = option("--solo", null);
// Extra V8 flags for the workerd process (diagnostics: e.g. "--no-wasm-lazy-compilation").
// Miniflare has no option for workerd's Config.v8Flags: its config encoder walks the config
// with Object.entries, so the flags are added to the top-level config object there.
const V8_FLAGS = option("--v8-flags", null);
const MARK = args.includes("--mark"); // print a line before each request (to split V8 traces)
if (V8_FLAGS) {
  const entries = Object.entries;
  Object.entries = (o) => {
    const out = entries(o);
    if (o && typeof o === "object" && "services" in o && "sockets" in o && "extensions" in o) out.push(["v8Flags", V8_FLAGS.split(" ")]);
    return out;
  };
}

const handler = (call, pre = "") => `${pre}
export default {
  async fetch(req) {
    const q = new URL(req.url).searchParams;
    if (q.get("p") === "start") return new Response("ready");
    const r = await ${call}(q.get("t"));
    return new Response(await r.text());
  },
};`;
const STUB_IMPORTS = `const stub = {}; for (const { module, name } of WebAssembly.Module.imports(m)) (stub[module] ??= {})[name] = () => { throw new Error(name); };`;

// A variant: the main module's source and the package files it is given (name -> file).
function partsOf(pkg) {
  const f = (name) => resolve(pkg, name);
  const wasm = { "pkg/edge_retry_bg.wasm": f("edge_retry_bg.wasm") };
  const entry = { "pkg/workerd.js": f("workerd.js"), ...wasm };
  const glue = { "pkg/edge_retry.js": f("edge_retry.js"), ...wasm };
  const lean = resolve(ROOT, "target/pkg-lean/edge_retry_bg.wasm");
  return {
    plain: { main: handler("fetch"), files: {} },
    "wasm in bundle, not imported": { main: handler("fetch"), files: wasm },
    "wasm imported (compiled)": { main: handler("fetch", `import m from "./pkg/edge_retry_bg.wasm"; globalThis.m = m;`), files: wasm },
    "lean wasm imported (compiled)": { main: handler("fetch", `import m from "./pkg/edge_retry_bg.wasm"; globalThis.m = m;`), files: { "pkg/edge_retry_bg.wasm": lean } },
    "wasm instantiated (stub imports)": { main: handler("fetch", `import m from "./pkg/edge_retry_bg.wasm"; ${STUB_IMPORTS} globalThis.i = new WebAssembly.Instance(m, stub);`), files: wasm },
    "glue + initSync": { main: handler("fetch", `import m from "./pkg/edge_retry_bg.wasm"; import { initSync } from "./pkg/edge_retry.js"; initSync({ module: m });`), files: glue },
    "glue + initSync + new Instance": { main: handler("fetch", `import m from "./pkg/edge_retry_bg.wasm"; import { initSync, Instance } from "./pkg/edge_retry.js"; initSync({ module: m }); globalThis.i = new Instance();`), files: glue },
    "entry in bundle, not imported": { main: handler("fetch"), files: entry },
    "entry imported, fetch called": { main: handler("fetch", `import { retryFetch } from "./pkg/workerd.js"; globalThis.r = retryFetch;`), files: entry },
    "entry imported, retryFetch called": { main: handler("retryFetch", `import { retryFetch } from "./pkg/workerd.js";`), files: entry },
  };
}

function variants() {
  if (SOLO) return { [SOLO]: partsOf(PKG)[SOLO] };
  if (PKGS) {
    const out = { plain: partsOf(PKG).plain };
    for (const dir of PKGS.split(",")) out[dir] = partsOf(resolve(ROOT, dir))["entry imported, retryFetch called"];
    return out;
  }
  const all = partsOf(PKG);
  return Object.fromEntries(Object.entries(all).filter(([n]) => n === "plain" || !ONLY || ONLY.split(",").some((o) => n.includes(o))));
}

// The host: holds every file as a Text or Data module and starts Workers from them.
function hostModules(vs) {
  const blobs = new Map(); // file -> module path
  const modules = [];
  const table = {};
  for (const [name, v] of Object.entries(vs)) {
    table[name] = { main: v.main, files: {} };
    for (const [as, file] of Object.entries(v.files)) {
      if (!blobs.has(file)) {
        const wasm = file.endsWith(".wasm");
        const path = `blob${blobs.size}.${wasm ? "bin" : "txt"}`;
        blobs.set(file, path);
        modules.push(wasm ? { type: "Data", path, contents: readFileSync(file) } : { type: "Text", path, contents: readFileSync(file, "utf8") });
      }
      table[name].files[as] = blobs.get(file);
    }
  }
  const paths = [...blobs.values()];
  const host = `${paths.map((p, i) => `import b${i} from "./${p}";`).join("\n")}
const BLOBS = { ${paths.map((p, i) => `${JSON.stringify(p)}: b${i}`).join(", ")} };
const VARIANTS = ${JSON.stringify(table)};
function salted(buf, salt) {
  const name = new TextEncoder().encode(salt);
  const out = new Uint8Array(buf.byteLength + 3 + name.length);
  out.set(new Uint8Array(buf), 0);
  out.set([0, name.length + 1, name.length], buf.byteLength);
  out.set(name, buf.byteLength + 3);
  return out.buffer;
}
export default {
  async fetch(req, env) {
    const q = new URL(req.url).searchParams;
    const id = q.get("id");
    const worker = env.LOADER.get(id, () => {
      const v = VARIANTS[q.get("v")];
      const modules = { "main.js": v.main };
      for (const [as, blob] of Object.entries(v.files)) modules[as] = as.endsWith(".wasm") ? { wasm: salted(BLOBS[blob], id) } : { js: BLOBS[blob] };
      return { compatibilityDate: "2025-01-01", mainModule: "main.js", modules };
    });
    return worker.getEntrypoint().fetch("http://w/?" + q.toString());
  },
};`;
  return [{ type: "ESModule", path: "host.mjs", contents: host }, ...modules];
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const vs = variants();
  const names = Object.keys(vs);
  const server = await startServer();
  const modules = hostModules(vs);
  const s = Object.fromEntries(names.map((n) => [n, []]));
  const loadBefore = load();
  let mf, pid, seq = 0;
  const open = async () => {
    const before = new Set(childPids());
    mf = new Miniflare({ modules, modulesRoot: "/", compatibilityDate: "2025-01-01", workerLoaders: { LOADER: {} } });
    await mf.ready;
    const fresh = childPids().filter((p) => !before.has(p));
    if (fresh.length !== 1) throw new Error(`expected one workerd process, found ${fresh.length}`);
    pid = fresh[0];
  };
  const request = async (v, id, p) => {
    await sleep(SETTLE);
    if (MARK) console.log(`=== ${v} ${id} ${p}`);
    const c0 = cpuMs(pid);
    const res = await mf.dispatchFetch(`http://host.local/?v=${encodeURIComponent(v)}&id=${id}&p=${p}&t=${encodeURIComponent(server.url)}`);
    const text = await res.text();
    if (!(p === "start" ? text === "ready" : text.startsWith("ok "))) throw new Error(`${v} ${p}: ${text.slice(0, 300)}`);
    await sleep(SETTLE);
    return cpuMs(pid) - c0;
  };
  const sample = async (v) => {
    const id = `w${seq++}`;
    const start = await request(v, id, "start");
    const first = await request(v, id, "first");
    const second = await request(v, id, "second");
    return { start, first, second, total: start + first };
  };
  try {
    for (let r = 0; r < SAMPLES + 1; r++) {
      if (r % RECYCLE === 0) {
        if (mf) await mf.dispose();
        await open();
        for (const n of names) await sample(n); // warm-up after each restart
      }
      for (let j = 0; j < names.length; j++) {
        const n = names[(r + j) % names.length];
        const x = await sample(n);
        if (r > 0) s[n].push(x);
      }
    }
  } finally {
    if (mf) await mf.dispose();
    server.close();
  }
  if (SOLO) return console.log(`${SOLO}: start ${median(s[SOLO].map((x) => x.start)).toFixed(2)}, first ${median(s[SOLO].map((x) => x.first)).toFixed(2)} ms (medians)`);
  const f = (x) => x.toFixed(2);
  const cell = (xs) => `${f(median(xs))} (${f(quantile(xs, 0.25))} – ${f(quantile(xs, 0.75))})`;
  const diff = (n, key) => s[n].map((x, i) => x[key] - s.plain[i][key]);
  console.log(`workerd ${version("workerd")}${V8_FLAGS ? ` (V8 flags: ${V8_FLAGS})` : ""}: one Worker at a time via a Worker Loader; ${SAMPLES} samples per variant, rotated; settle ${SETTLE} ms; load average before ${loadBefore}, after ${load()}.`);
  console.log(`workerd process CPU, ms: the plain Worker's own, then each variant minus the plain Worker of the same round: median (IQR).\n`);
  console.log(table(["Worker", "start", "first call", "second call", "first − second", "start + first"], [
    ["plain (absolute)", cell(s.plain.map((x) => x.start)), cell(s.plain.map((x) => x.first)), cell(s.plain.map((x) => x.second)), cell(s.plain.map((x) => x.first - x.second)), cell(s.plain.map((x) => x.total))],
    ...names.filter((n) => n !== "plain").map((n) => [n, cell(diff(n, "start")), cell(diff(n, "first")), cell(diff(n, "second")), cell(s[n].map((x, i) => x.first - x.second - (s.plain[i].first - s.plain[i].second))), cell(diff(n, "total"))]),
  ]));
  if (PKGS) {
    const dirs = PKGS.split(",");
    for (let i = 1; i < dirs.length; i++) {
      const d = s[dirs[i]].map((x, k) => x.total - s[dirs[0]][k].total);
      const ds = s[dirs[i]].map((x, k) => x.start - s[dirs[0]][k].start);
      const df = s[dirs[i]].map((x, k) => x.first - s[dirs[0]][k].first);
      console.log(`\n${dirs[i]} minus ${dirs[0]} (paired, ${d.length} samples): start ${cell(ds)}, first call ${cell(df)}, start + first ${cell(d)} ms`);
    }
  }
}

await main();
