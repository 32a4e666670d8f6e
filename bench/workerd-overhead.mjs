// The success-path ratio inside workerd (Miniflare's JS API): a Worker loops N sequential
// fetches (body read) to the local keep-alive server, with plain fetch or with retryFetch,
// and times the whole batch with Date.now (workerd's clock moves on I/O, and every fetch is
// I/O). Batches alternate fetch / retryFetch (order flipped each round); the ratio is the
// median over rounds of retryFetch's batch time over the same round's fetch batch.
//
//   node bench/workerd-overhead.mjs            80 rounds x 100 fetches per batch
//   node bench/workerd-overhead.mjs --quick    3 rounds x 20: only checks that it runs
//   options: --rounds N --batch N
import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { Miniflare } from "miniflare";
import { flag, load, median, option, PKG, quantile, ROOT, saveResult, startServer, table } from "./lib.mjs";

const QUICK = flag("--quick");
const ROUNDS = Number(option("--rounds", QUICK ? 3 : 80));
const BATCH = Number(option("--batch", QUICK ? 20 : 100));
const WARMUP = QUICK ? 1 : 3;

const WORKER = `
import { retryFetch } from "./pkg/workerd.js";
export default {
  async fetch(request) {
    const q = new URL(request.url).searchParams;
    const target = q.get("target"), n = Number(q.get("n"));
    const f = q.get("which") === "retryFetch" ? retryFetch : fetch;
    let bytes = 0;
    const t0 = Date.now();
    for (let i = 0; i < n; i++) bytes += (await (await f(target)).text()).length;
    const ms = Date.now() - t0;
    return Response.json({ ms, bytes });
  },
};
`;

/** A directory holding worker.mjs and a copy of the package, with paths relative to ROOT. */
export function workerDir(name, source, withPkg = true) {
  const dir = resolve(ROOT, "target/bench-workerd", name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "worker.mjs"), source);
  if (withPkg) cpSync(PKG, join(dir, "pkg"), { recursive: true });
  return relative(process.cwd(), join(dir, "worker.mjs"));
}

export const MODULE_RULES = [
  { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
  { type: "CompiledWasm", include: ["**/*.wasm"] },
];

async function main() {
  const server = await startServer();
  const scriptPath = workerDir("overhead", WORKER);
  const mf = new Miniflare({ modules: true, scriptPath, modulesRules: MODULE_RULES, compatibilityDate: "2025-01-01" });
  const loadBefore = load();
  const times = { fetch: [], retryFetch: [] };
  const hr = { fetch: [], retryFetch: [] };
  try {
    for (let round = 0; round < WARMUP + ROUNDS; round++) {
      const order = round % 2 ? ["retryFetch", "fetch"] : ["fetch", "retryFetch"];
      for (const which of order) {
        const url = `http://bench.local/?which=${which}&n=${BATCH}&target=${encodeURIComponent(server.url)}`;
        const t0 = process.hrtime.bigint();
        const res = await mf.dispatchFetch(url);
        const { ms, bytes } = await res.json();
        const t1 = process.hrtime.bigint();
        if (bytes !== 30 * BATCH) throw new Error(`${which}: read ${bytes} bytes`);
        if (round >= WARMUP) {
          times[which].push((ms * 1000) / BATCH);
          hr[which].push(Number(t1 - t0) / 1e3 / BATCH);
        }
      }
    }
  } finally {
    await mf.dispose();
    server.close();
  }
  const ratios = (s) => s.retryFetch.map((v, i) => v / s.fetch[i]);
  const r = ratios(times), rh = ratios(hr);
  const f = (x, d = 1) => x.toFixed(d);
  if (!QUICK) saveResult("workerd-overhead", { ratio: median(r), iqr: [quantile(r, 0.25), quantile(r, 0.75)], fetchUs: median(times.fetch), retryFetchUs: median(times.retryFetch) });
  console.log(
    `workerd (miniflare ${(await import("miniflare/package.json", { with: { type: "json" } })).default.version}); ${ROUNDS} rounds x ${BATCH} sequential fetches per batch, alternating; load average before: ${loadBefore}; after: ${load()}.\n`,
  );
  console.log(
    table(
      ["clock", "fetch µs/request", "retryFetch µs/request", "ratio (median of rounds)", "ratio IQR"],
      [
        ["Date.now in the Worker", f(median(times.fetch)), f(median(times.retryFetch)), `**${f(median(r), 3)}×**`, `${f(quantile(r, 0.25), 3)} – ${f(quantile(r, 0.75), 3)}`],
        ["hrtime around dispatchFetch (Node side)", f(median(hr.fetch)), f(median(hr.retryFetch)), `${f(median(rh), 3)}×`, `${f(quantile(rh, 0.25), 3)} – ${f(quantile(rh, 0.75), 3)}`],
      ],
    ),
  );
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
