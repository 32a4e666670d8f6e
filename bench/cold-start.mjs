// Cold start: loading edge-retry plus its first call.
//
// Node: a fresh `node` process per sample times from just before `import` of the package's
// Node entry to the first retryFetch (body read) resolving against the local server; the same
// is measured for a plain first `fetch` (no import), for an empty module's import, and for
// the peers. Variants are interleaved sample by sample; edge-retry's cost is the median of
// the paired differences with plain fetch. Done twice: in fully cold processes, and with
// undici (Node's fetch) warmed by one plain fetch before the clock starts.
//
// workerd: Miniflare starts a Worker and serves its first request (which makes one fetch to
// the local server), with a Worker that imports edge-retry and calls retryFetch vs one that
// calls fetch. Timed from `new Miniflare` to the response, per sample a fresh Miniflare; then
// the same with 10 copies of the Worker in one Miniflare, which lifts the per-Worker cost out
// of Miniflare's own start-up noise. Each Worker's modules are handed to Miniflare listed with
// their contents, as wrangler dev does with its bundle, and each copy's .wasm differs by a
// custom section (V8 shares compiled code between isolates given the same bytes; a Worker's
// cold start does not). Part of the start-up is Miniflare's own, in Node, encoding the
// modules into workerd's config (about 2 ms per copy for the .wasm): the workerd process's
// CPU time per Worker is given beside it, the part a deployed Worker pays.
// With --discover, Miniflare finds the modules itself from scriptPath and modulesRules, as
// before: it then parses each copy's JS in Node to follow its imports (about 4 ms per copy
// for the workerd entry), which neither wrangler nor a deployment does.
//
//   node bench/cold-start.mjs            20 Node samples per variant; workerd 16 x 1 Worker, 8 x 10
//   node bench/cold-start.mjs --quick    2 and 1: only checks that it runs
//   options: --samples N --workerd-samples N --workerd-copies K --discover
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { flag, load, median, option, PKG, quantile, ROOT, saveResult, startServer, table, version } from "./lib.mjs";
import { workerDir } from "./workerd-overhead.mjs";
import { sampleCopies } from "./cold-bisect.mjs";

const QUICK = flag("--quick");
const NODE_SAMPLES = Number(option("--samples", QUICK ? 2 : 20));
const WORKERD_SAMPLES = Number(option("--workerd-samples", QUICK ? 1 : 16));
const WORKERD_COPIES = Number(option("--workerd-copies", QUICK ? 2 : 10));
const DISCOVER = flag("--discover");

// What each fresh process imports (its first call is the same shape for all).
const EMPTY = resolve(ROOT, "target/bench-cold/empty.mjs");
mkdirSync(dirname(EMPTY), { recursive: true });
writeFileSync(EMPTY, "export const f = fetch;\n");
const EMPTY_NAME = "an empty module, then fetch";
const VARIANTS = {
  fetch: null,
  // The ESM loader's fixed cost for any first dynamic import, whatever the module.
  [EMPTY_NAME]: `const { f } = await import(${JSON.stringify(pathToFileURL(EMPTY).href)});`,
  retryFetch: `const { retryFetch: f } = await import(${JSON.stringify(new URL("node.js", `file://${PKG}/`).href)});`,
  ky: 'const { default: ky } = await import("ky"); const f = (u) => ky.get(u, { retry: { limit: 2 } });',
  "fetch-retry": 'const { default: fr } = await import("fetch-retry"); const f = fr(fetch, { retries: 2 });',
  "p-retry": 'const { default: pRetry } = await import("p-retry"); const f = (u) => pRetry(() => fetch(u), { retries: 2 });',
  cockatiel: 'const { retry, handleAll, ExponentialBackoff } = await import("cockatiel"); const p = retry(handleAll, { maxAttempts: 2, backoff: new ExponentialBackoff() }); const f = (u) => p.execute(() => fetch(u));',
  ofetch: 'const { ofetch } = await import("ofetch"); const f = (u) => ofetch.raw(u, { retry: 2, responseType: "text" });',
};

// With `warm`, the process first makes one plain fetch (loading undici, Node's fetch, and
// opening the connection) and then idles 300 ms (V8 compiles undici in background threads
// meanwhile, which on 2 cores slowed a following import 2x) before the clock starts, so the
// ~60 ms and the noise of undici's own cold start drop out of every variant alike.
function sampleNode(name, url, warm) {
  const load = VARIANTS[name] ?? "const f = fetch;";
  const code = `
    ${warm ? `await (await fetch(${JSON.stringify(url)})).text(); await new Promise((r) => setTimeout(r, 300));` : ""}
    const t0 = performance.now();
    ${load}
    const t1 = performance.now();
    const r = await f(${JSON.stringify(url)});
    if (r._data === undefined) await r.text();
    const t2 = performance.now();
    console.log(JSON.stringify({ importMs: t1 - t0, callMs: t2 - t1, totalMs: t2 - t0 }));`;
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", code], { encoding: "utf8", cwd: process.cwd() });
  return JSON.parse(out);
}

async function nodeColdStart(url, names, samplesWanted, warm) {
  const samples = Object.fromEntries(names.map((n) => [n, []]));
  for (const n of names) sampleNode(n, url, warm); // warm the OS file cache
  for (let i = 0; i < samplesWanted; i++) for (const n of names) samples[n].push(sampleNode(n, url, warm));
  const med = (n, k) => median(samples[n].map((s) => s[k]));
  // Samples i of all variants ran back to back: paired differences cancel slow drift.
  const paired = (a, b) => median(samples[a].map((s, i) => s.totalMs - samples[b][i].totalMs));
  const f = (x) => x.toFixed(2);
  const rows = names.map((n) => [
    VARIANTS[n] === null || !/^[a-z-]+$/.test(n) || n === "retryFetch" ? n : `${n} ${version(n)}`,
    f(med(n, "importMs")),
    f(med(n, "callMs")),
    f(med(n, "totalMs")),
    `${f(quantile(samples[n].map((s) => s.totalMs), 0.25))} – ${f(quantile(samples[n].map((s) => s.totalMs), 0.75))}`,
    n === "fetch" ? "—" : `**${f(paired(n, "fetch"))}**`,
  ]);
  const peers = names.filter((n) => n !== "fetch" && n !== "retryFetch" && n !== EMPTY_NAME);
  const peersVsFetch = Object.fromEntries(peers.map((n) => [n, paired(n, "fetch")]));
  return { rows, samples: samplesWanted, vsFetch: paired("retryFetch", "fetch"), vsEmpty: names.includes(EMPTY_NAME) ? paired("retryFetch", EMPTY_NAME) : NaN, peersVsFetch };
}

const WORKERS = {
  fetch: `export default { async fetch(req) { const t = new URL(req.url).searchParams.get("target"); const r = await fetch(t); return new Response(await r.text()); } };`,
  retryFetch: `import { retryFetch } from "./pkg/workerd.js";
export default { async fetch(req) { const t = new URL(req.url).searchParams.get("target"); const r = await retryFetch(t); return new Response(await r.text()); } };`,
};

// One sample: `k` copies of the Worker in a fresh Miniflare (cold-bisect.mjs's sampleCopies),
// each copy's wasm bytes distinct unless Miniflare finds the modules itself (--discover).
// With k > 1 the per-Worker cost stands k times above Miniflare's own start-up noise.
const sampleWorkerd = (name, scriptPath, url, k) =>
  sampleCopies(scriptPath, url, k, { listed: !DISCOVER, distinct: true, label: name });

async function workerdColdStart(url, k, samplesWanted) {
  const paths = { fetch: workerDir("cold-fetch", WORKERS.fetch, false), retryFetch: workerDir("cold-retry", WORKERS.retryFetch) };
  const samples = { fetch: [], retryFetch: [] };
  await sampleWorkerd("fetch", paths.fetch, url, k); // warm caches
  for (let i = 0; i < samplesWanted; i++) {
    const order = i % 2 ? ["retryFetch", "fetch"] : ["fetch", "retryFetch"];
    for (const n of order) samples[n].push(await sampleWorkerd(n, paths[n], url, k));
  }
  const med = (n, key) => median(samples[n].map((s) => s[key]));
  const f = (x) => x.toFixed(1);
  const rows = ["fetch", "retryFetch"].map((n) => [
    `${k} × ${n === "fetch" ? "Worker calling fetch" : "Worker importing edge-retry, calling retryFetch"}`,
    f(med(n, "readyMs")),
    f(med(n, "firstMs")),
    f(med(n, "totalMs")),
    `${f(quantile(samples[n].map((s) => s.totalMs), 0.25))} – ${f(quantile(samples[n].map((s) => s.totalMs), 0.75))}`,
  ]);
  // Per Worker: the difference of medians over k (and its ready / first-request parts).
  const per = (key) => (med("retryFetch", key) - med("fetch", key)) / k;
  return { k, samples: samplesWanted, rows, perWorker: per("totalMs"), perReady: per("readyMs"), perFirst: per("firstMs"), perCpu: per("workerdCpuMs") };
}

async function main() {
  const server = await startServer();
  const loadBefore = load();
  let node, nodeWarm, workerd;
  try {
    node = await nodeColdStart(server.url, Object.keys(VARIANTS), NODE_SAMPLES, false);
    // Issue 8 names the warmed measure, and the fastest peers there (p-retry, fetch-retry).
    nodeWarm = await nodeColdStart(server.url, ["fetch", EMPTY_NAME, "retryFetch", "fetch-retry", "p-retry"], QUICK ? NODE_SAMPLES : NODE_SAMPLES + 10, true);
    workerd = [
      await workerdColdStart(server.url, 1, WORKERD_SAMPLES),
      await workerdColdStart(server.url, WORKERD_COPIES, Math.max(1, Math.round(WORKERD_SAMPLES / 2))),
    ];
  } finally {
    server.close();
  }
  const head = ["variant", "import", "first call (body read)", "total", "total IQR", "total minus plain fetch (paired median)"];
  console.log(`Node ${process.version}: a fresh process per sample, variants interleaved; load average before: ${loadBefore}; after: ${load()}. Times in ms (medians).\n`);
  console.log(`Fully cold processes (${node.samples} samples per variant): the first fetch also loads undici (Node's fetch), ~60 ms, in every variant.\n`);
  console.log(table(head, node.rows));
  console.log(`\nundici warmed first (one plain fetch, then 300 ms idle, before the clock starts; ${nodeWarm.samples} samples per variant): each library's own part.\n`);
  console.log(table(head, nodeWarm.rows));
  console.log(`\nNode: edge-retry's import and first call take **${nodeWarm.vsFetch.toFixed(1)} ms** more than a plain fetch (undici warmed; ${node.vsFetch.toFixed(1)} ms in fully cold processes), or ${nodeWarm.vsEmpty.toFixed(1)} ms more than importing an empty module first (the ESM loader's own fixed cost for a first import).`);
  const f = (x) => x.toFixed(1);
  console.log(`\nworkerd (Miniflare ${version("miniflare")}): a fresh Miniflare per sample running 1 Worker (${workerd[0].samples} samples each), then ${workerd[1].k} copies of the Worker (each its own isolate; ${workerd[1].samples} samples each), alternating. Times in ms (medians).\n`);
  console.log(table(["Miniflare running", "new Miniflare → ready", "first request to each (one fetch inside)", "total", "total IQR"], [...workerd[0].rows, ...workerd[1].rows]));
  const [one, many] = workerd;
  const how = DISCOVER ? "Miniflare finding the modules from scriptPath (it parses the JS per copy)" : "modules listed as wrangler dev does, each copy's wasm bytes distinct";
  console.log(`\nworkerd (${how}): edge-retry adds **${f(many.perWorker)} ms per Worker** measured on ${many.k} copies (start-up ${f(many.perReady)} ms, first request ${f(many.perFirst)} ms), and ${f(many.perCpu)} ms of CPU time in the workerd process (the rest of the wall time is mostly Miniflare's own work in Node); with one Worker the difference of medians is ${f(one.perWorker)} ms, within Miniflare's own start-up noise (see the IQRs).`);
  if (!QUICK) saveResult("cold-start", { nodeVsFetchMs: nodeWarm.vsFetch, nodeColdVsFetchMs: node.vsFetch, nodeColdPeersVsFetchMs: node.peersVsFetch, nodeWarmPeersVsFetchMs: nodeWarm.peersVsFetch, nodeVsEmptyMs: nodeWarm.vsEmpty, workerdPerWorkerMs: many.perWorker, workerdCpuPerWorkerMs: many.perCpu, workerdOneWorkerMs: one.perWorker, workerdModules: DISCOVER ? "discovered" : "listed" });
}

await main();
