// Where retryFetch's own time goes on the success path: runs retryFetch over a stub fetch
// (resolves a fresh Response at once) under V8's sampling profiler, and prints self time by
// function and by file, beside the same loop over the stub alone.
//
//   node bench/profile-js.mjs [--calls N] [--quick] [--named] [--options]
// --options: each call passes its options (`init.retry`, a fresh object each time), as the
// README shows first.
// --named: profile a package assembled from the current sources with the wasm's function
// names kept (cargo build + wasm-bindgen --keep-debug + wasm-opt -Oz -g), so wasm frames
// show as Rust functions.
// (re-runs itself with `node --cpu-prof --cpu-prof-interval 50`; the profile is written under
// target/bench-profile/)
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { buildNamedWasm, flag, option, PKG, ROOT, table } from "./lib.mjs";

const CALLS = Number(option("--calls", flag("--quick") ? 2000 : 300000));
const DIR = resolve(ROOT, "target/bench-profile");

if (flag("--child")) {
  const { createRetryFetch } = await import(new URL("node.js", `file://${PKG}/`).href);
  const BODY = "ok ".repeat(10);
  const stub = async () => new Response(BODY, { status: 200 });
  const instance = createRetryFetch({ fetch: stub });
  const retryFetch = flag("--options") ? (u) => instance(u, { retry: { maxAttempts: 3, baseDelayMs: 100 } }) : instance;
  const url = "http://127.0.0.1:1/ok";
  const loop = async function stubOnlyLoop(f) {
    for (let i = 0; i < CALLS; i++) await (await f(url)).text();
  };
  await loop(stub); // warm both
  await loop(retryFetch);
  // Alternate the two loops in chunks so that both see the same machine.
  const CHUNKS = 20, per = Math.max(1, Math.floor(CALLS / CHUNKS));
  let stubMs = 0, retryMs = 0;
  for (let k = 0; k < CHUNKS; k++) {
    const t0 = performance.now();
    await (async function plainStubLoop() { for (let i = 0; i < per; i++) await (await stub(url)).text(); })();
    const t1 = performance.now();
    await (async function retryFetchLoop() { for (let i = 0; i < per; i++) await (await retryFetch(url)).text(); })();
    stubMs += t1 - t0;
    retryMs += performance.now() - t1;
  }
  console.log(JSON.stringify({ stubUs: (stubMs * 1000) / (per * CHUNKS), retryUs: (retryMs * 1000) / (per * CHUNKS) }));
} else {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  let pkg = PKG;
  if (flag("--named")) {
    pkg = join(DIR, "pkg-named");
    mkdirSync(pkg, { recursive: true });
    cpSync(PKG, pkg, { recursive: true });
    // The node entry bundles the glue: bundle it again (unminified, names kept) from the staged
    // sources of scripts/build-pkg.sh with the named build's glue.
    const named = buildNamedWasm(join(DIR, "named"), { optLevel: 2 }); // as Node's module is built
    const stage = join(DIR, "stage");
    cpSync(resolve(ROOT, "target/pkg-src"), stage, { recursive: true });
    for (const f of readdirSync(resolve(ROOT, "src/js"))) if (f.endsWith(".js")) cpSync(resolve(ROOT, "src/js", f), join(stage, f));
    cpSync(named.js, join(stage, "edge_retry.js"));
    named.sh("esbuild", [join(stage, "node.js"), "--bundle", "--format=esm", "--platform=neutral", "--log-level=warning",
      "--external:./edge_retry_bg.wasm", "--external:node:fs", "--external:node:module", `--outfile=${join(pkg, "node.js")}`, "--allow-overwrite"]);
    cpSync(named.wasm, join(pkg, "edge_retry_node_bg.wasm"));
  }
  const out = execFileSync(
    process.execPath,
    ["--cpu-prof", "--cpu-prof-dir", DIR, "--cpu-prof-interval", "50", fileURLToPath(import.meta.url), "--child", "--calls", String(CALLS), ...(flag("--options") ? ["--options"] : [])],
    { encoding: "utf8", env: { ...process.env, EDGE_RETRY_PKG: pkg } },
  );
  const { stubUs, retryUs } = JSON.parse(out.trim().split("\n").pop());
  const file = readdirSync(DIR).find((f) => f.endsWith(".cpuprofile"));
  const profile = JSON.parse(readFileSync(join(DIR, file), "utf8"));
  report(profile, stubUs, retryUs);
}

function report(profile, stubUs, retryUs) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children || []) parent.set(c, n.id);
  let lastLoop = null;
  const loopCache = new Map();
  const loopOf = (id) => {
    for (let p = id; p !== undefined; p = parent.get(p)) {
      const name = byId.get(p).callFrame.functionName;
      if (name === "retryFetchLoop" || name === "plainStubLoop") return name;
    }
    return null;
  };
  // Self time per call, by function and by file, in each of the two timed loops.
  const fns = new Map(), files = new Map(), own = new Map();
  const add = (map, key, loop, us) => {
    const e = map.get(key) || { retryFetchLoop: 0, plainStubLoop: 0 };
    e[loop] += us / CALLS;
    map.set(key, e);
  };
  const charge = (id, us, loop) => {
    const cf = byId.get(id).callFrame;
    const where = cf.url ? basename(cf.url) : "(native)";
    const ours = /\/(pkg|bench-pkg|pkg-named|edge-retry-pkg-snap)\//.test(cf.url) || cf.url.startsWith("wasm://");
    const fn = `${cf.functionName || "(anonymous)"} ${where}${cf.url ? ":" + (cf.lineNumber + 1) : ""}`;
    add(fns, fn, loop, us);
    if (ours || /^js-to-wasm|^wasm-to-js/.test(cf.functionName)) add(own, fn.replace(/ edge_retry\.wasm-[0-9a-f]+:1$/, " (wasm)"), loop, us);
    const file = ours ? `edge-retry: ${/\.wasm/.test(where) || cf.url.startsWith("wasm://") ? "wasm" : where}` : /^\(/.test(cf.functionName) && !cf.url ? cf.functionName : `${where} (Node / undici)`;
    add(files, file, loop, us);
  };
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i + 1] ?? 0; // a sample's time runs until the next one
    if (!loopCache.has(id)) loopCache.set(id, loopOf(id));
    const loop = loopCache.get(id);
    const name = byId.get(id).callFrame.functionName;
    if (loop) lastLoop = loop;
    // Microtask callbacks (promise reactions) and GC run with no loop frame on the stack:
    // the loops alternate in long chunks, so they belong to the loop that ran last.
    if (lastLoop && name !== "(idle)") charge(id, us, lastLoop);
  });
  const rows = (map, n) =>
    [...map]
      .map(([k, e]) => [k, e.retryFetchLoop, e.plainStubLoop, e.retryFetchLoop - e.plainStubLoop])
      .sort((a, b) => Math.abs(b[3]) - Math.abs(a[3]))
      .slice(0, n)
      .map(([k, a, b, d]) => [k.replace(/\|/g, "\\|"), a.toFixed(2), b.toFixed(2), `**${d >= 0 ? "+" : ""}${d.toFixed(2)}**`]);
  console.log(
    `Profiled (\`node --cpu-prof\`, 50 µs sampling), ${CALLS} calls each: retryFetch over a stub fetch ${retryUs.toFixed(2)} µs/call, the stub alone ${stubUs.toFixed(2)} µs/call (the profiler slows both). Self time per call, largest differences first:\n`,
  );
  console.log(table(["file", "retryFetch loop µs/call", "stub loop µs/call", "difference"], rows(files, 12)));
  console.log("");
  console.log(table(["function", "retryFetch loop µs/call", "stub loop µs/call", "difference"], rows(fns, 25)));
  const ownTotal = [...own.values()].reduce((s, e) => s + e.retryFetchLoop, 0);
  console.log(`\nedge-retry's own functions (JS, wasm, and the JS↔wasm trampolines): ${ownTotal.toFixed(2)} µs/call in all.\n`);
  console.log(table(["function", "µs/call (profiled)"], [...own].sort((a, b) => b[1].retryFetchLoop - a[1].retryFetchLoop).slice(0, 20).map(([k, e]) => [k.replace(/\|/g, "\\|"), e.retryFetchLoop.toFixed(3)])));
}
