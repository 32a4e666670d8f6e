// Fleet breakers (issue 12): success-path latency in workerd with the fleet on beside off. One
// Worker (Miniflare) loops N sequential fetches (body read) to the local keep-alive server with
// plain fetch, retryFetch without the fleet, and createFleetRetryFetch bound to a real
// EdgeRetryFleet Durable Object (refreshMs 1000, the default, and 50, a sync every few
// batches' worth of calls). Batches alternate, order rotated each round; the figure per mode is
// the median over rounds of the batch time per request, and the ratio over the same round's
// retryFetch (fleet off) batch.
//
//   node bench/fleet.mjs            40 rounds x 400 fetches per batch (Date.now in workerd moves
//                                   in whole ms: long batches resolve the difference)
//   node bench/fleet.mjs --quick    3 rounds x 20: only checks that it runs
//   options: --rounds N --batch N
import { Miniflare } from "miniflare";
import { flag, load, median, option, quantile, saveResult, startServer, table } from "./lib.mjs";
import { workerDir, MODULE_RULES } from "./workerd-overhead.mjs";

const QUICK = flag("--quick");
const ROUNDS = Number(option("--rounds", QUICK ? 3 : 40));
const BATCH = Number(option("--batch", QUICK ? 20 : 400));
const WARMUP = QUICK ? 1 : 3;
const MODES = ["fetch", "off", "fleet1000", "fleet50"];

const WORKER = `
import { createRetryFetch } from "./pkg/workerd.js";
import { createFleetRetryFetch, EdgeRetryFleet } from "./pkg/fleet.js";
export { EdgeRetryFleet };
const off = createRetryFetch();
const fleet1000 = createFleetRetryFetch({ fleet: { refreshMs: 1000 } });
const fleet50 = createFleetRetryFetch({ fleet: { refreshMs: 50, name: "fast" } });
export default {
  async fetch(request, env, ctx) {
    const q = new URL(request.url).searchParams;
    const target = q.get("target"), n = Number(q.get("n")), which = q.get("which");
    fleet1000.fleet.connect(env.FLEET, ctx);
    fleet50.fleet.connect(env.FLEET, ctx);
    const f = { fetch, off, fleet1000, fleet50 }[which];
    let bytes = 0;
    const t0 = Date.now();
    for (let i = 0; i < n; i++) bytes += (await (await f(target)).text()).length;
    const ms = Date.now() - t0;
    const syncs = which.startsWith("fleet") ? f.fleet.stats().syncs : 0;
    return Response.json({ ms, bytes, syncs });
  },
};
`;

async function main() {
  const server = await startServer();
  const scriptPath = workerDir("fleet", WORKER);
  const mf = new Miniflare({
    modules: true, scriptPath, modulesRules: MODULE_RULES, compatibilityDate: "2025-01-01",
    durableObjects: { FLEET: "EdgeRetryFleet" },
  });
  const loadBefore = load();
  const times = Object.fromEntries(MODES.map((m) => [m, []]));
  const syncs = {};
  try {
    for (let round = 0; round < WARMUP + ROUNDS; round++) {
      const order = MODES.map((_, i) => MODES[(i + round) % MODES.length]);
      for (const which of order) {
        const url = `http://bench.local/?which=${which}&n=${BATCH}&target=${encodeURIComponent(server.url)}`;
        const res = await mf.dispatchFetch(url);
        const r = await res.json();
        if (r.bytes !== 30 * BATCH) throw new Error(`${which}: read ${r.bytes} bytes`);
        if (round >= WARMUP) times[which].push((r.ms * 1000) / BATCH);
        syncs[which] = r.syncs;
      }
    }
  } finally {
    await mf.dispose();
    server.close();
  }
  const f = (x, d = 1) => x.toFixed(d);
  const ratio = (m) => times[m].map((v, i) => v / times.off[i]);
  const calls = (WARMUP + ROUNDS) * BATCH;
  const label = { fetch: "plain fetch", off: "retryFetch, fleet off", fleet1000: "fleet on, refreshMs 1000", fleet50: "fleet on, refreshMs 50" };
  if (!QUICK) saveResult("fleet", Object.fromEntries(MODES.map((m) => [m, { us: median(times[m]), ratio: median(ratio(m)) }])));
  console.log(`workerd (miniflare); ${ROUNDS} rounds x ${BATCH} sequential fetches per batch, modes rotated; load average before: ${loadBefore}; after: ${load()}.\n`);
  console.log(
    table(
      ["mode", "µs/request (median of rounds)", "over fleet off (median)", "ratio IQR", "syncs with the Durable Object"],
      MODES.map((m) => [
        label[m], f(median(times[m])), `${f(median(ratio(m)), 3)}×`, `${f(quantile(ratio(m), 0.25), 3)} – ${f(quantile(ratio(m), 0.75), 3)}`,
        m.startsWith("fleet") ? `${syncs[m]} in ${calls} calls` : "",
      ]),
    ),
  );
}

await main();
