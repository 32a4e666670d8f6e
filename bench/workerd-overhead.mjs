// The success-path ratio inside workerd (Miniflare's JS API): a Worker loops N sequential
// fetches (body read) to the local keep-alive server, with plain fetch or with retryFetch.
// Batches alternate fetch / retryFetch (order flipped each round), and each round is timed
// three ways: Date.now in the Worker (workerd's clock moves on I/O, and every fetch is I/O; it
// ticks in whole ms), Node's hrtime around the dispatch, and the CPU time of workerd's threads
// (Linux: /proc/<pid>/task/*/schedstat), which other jobs on the machine disturb least. The
// ratio is the median over rounds of retryFetch's batch over the same round's fetch batch; the
// difference, the median over rounds of the two's µs per request apart.
//
//   node bench/workerd-overhead.mjs            150 rounds x 100 fetches per batch
//   node bench/workerd-overhead.mjs --quick    3 rounds x 20: only checks that it runs
//   options: --rounds N --batch N --pkg dir (another build, in a Worker of its own, paired
//   against its own fetch batches in the same rounds)
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { Miniflare } from "miniflare";
import { flag, load, median, option, PKG, quantile, ROOT, saveResult, startServer, table } from "./lib.mjs";

const QUICK = flag("--quick");
const ROUNDS = Number(option("--rounds", QUICK ? 3 : 150));
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
export function workerDir(name, source, withPkg = true, pkg = PKG) {
  const dir = resolve(ROOT, "target/bench-workerd", name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "worker.mjs"), source);
  if (withPkg) cpSync(pkg, join(dir, "pkg"), { recursive: true });
  return relative(process.cwd(), join(dir, "worker.mjs"));
}

// CPU time (ns) of every thread of the workerd processes Node started (Linux; 0 elsewhere).
function workerdPids() {
  const children = (pid) => {
    let out = "";
    try {
      out = execFileSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" });
    } catch {
      return [];
    }
    return out.split(/\s+/).filter(Boolean).map(Number).flatMap((p) => [p, ...children(p)]);
  };
  return children(process.pid).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, "utf8").includes("workerd");
    } catch {
      return false;
    }
  });
}
function cpuNs(pids) {
  let total = 0;
  for (const pid of pids) {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
      } catch {
        // a thread that ended meanwhile
      }
    }
  }
  return total;
}

export const MODULE_RULES = [
  { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
  { type: "CompiledWasm", include: ["**/*.wasm"] },
];

async function main() {
  const server = await startServer();
  const builds = [["pkg", PKG], ...String(option("--pkg", "")).split(",").filter(Boolean).map((d, i) => [`P${i + 1}`, resolve(d)])];
  const workers = builds.map(([name, dir]) => ({
    name, modules: true, scriptPath: workerDir(`overhead-${name}`, WORKER, true, dir), modulesRules: MODULE_RULES, compatibilityDate: "2025-01-01",
  }));
  const mf = new Miniflare({ workers });
  await mf.ready;
  const pids = existsSync("/proc/self/task") ? workerdPids() : [];
  const loadBefore = load();
  const arms = builds.flatMap(([name]) => ["fetch", "retryFetch"].map((which) => [name, which]));
  const series = Object.fromEntries(arms.map(([n, w]) => [`${n}:${w}`, { wd: [], hr: [], cpu: [] }]));
  try {
    const dispatchers = Object.fromEntries(await Promise.all(builds.map(async ([name]) => [name, await mf.getWorker(name)])));
    for (let round = 0; round < WARMUP + ROUNDS; round++) {
      for (const [name, which] of round % 2 ? [...arms].reverse() : arms) {
        const url = `http://bench.local/?which=${which}&n=${BATCH}&target=${encodeURIComponent(server.url)}`;
        const c0 = cpuNs(pids);
        const t0 = process.hrtime.bigint();
        const res = await dispatchers[name].fetch(url);
        const { ms, bytes } = await res.json();
        const t1 = process.hrtime.bigint();
        const c1 = cpuNs(pids);
        if (bytes !== 30 * BATCH) throw new Error(`${name} ${which}: read ${bytes} bytes`);
        if (round >= WARMUP) {
          const s = series[`${name}:${which}`];
          s.wd.push((ms * 1000) / BATCH);
          s.hr.push(Number(t1 - t0) / 1e3 / BATCH);
          s.cpu.push((c1 - c0) / 1e3 / BATCH);
        }
      }
    }
  } finally {
    await mf.dispose();
    server.close();
  }
  const f = (x, d = 1) => x.toFixed(d);
  const span = (xs, d = 3) => `${f(quantile(xs, 0.25), d)} – ${f(quantile(xs, 0.75), d)}`;
  // A median's standard error, from the quartiles (a normal's IQR is 1.35 sigma).
  const se = (xs) => ((quantile(xs, 0.75) - quantile(xs, 0.25)) / 1.35) * 1.25 / Math.sqrt(xs.length);
  const rows = [];
  const results = {};
  for (const [name] of builds) {
    const a = series[`${name}:fetch`], b = series[`${name}:retryFetch`];
    const ratio = (k) => b[k].map((v, i) => v / a[k][i]);
    const diff = (k) => b[k].map((v, i) => v - a[k][i]);
    const clocks = [["Date.now in the Worker", "wd"], ["hrtime around the dispatch (Node)", "hr"], ...(pids.length ? [["workerd's CPU time", "cpu"]] : [])];
    for (const [label, k] of clocks) {
      rows.push([`${builds.length > 1 ? `${name}: ` : ""}${label}`, f(median(a[k])), f(median(b[k])), `**${f(median(ratio(k)), 3)}×**`, span(ratio(k)), `${f(median(diff(k)))} ± ${f(se(diff(k)))}`]);
    }
    results[name] = {
      ratio: median(ratio("wd")), iqr: [quantile(ratio("wd"), 0.25), quantile(ratio("wd"), 0.75)], fetchUs: median(a.wd), retryFetchUs: median(b.wd),
      hrRatio: median(ratio("hr")), hrDiffUs: median(diff("hr")),
      ...(pids.length ? { cpuRatio: median(ratio("cpu")), cpuDiffUs: median(diff("cpu")), cpuDiffSe: se(diff("cpu")) } : {}),
    };
  }
  if (!QUICK) saveResult("workerd-overhead", results.pkg);
  console.log(
    `workerd (miniflare ${(await import("miniflare/package.json", { with: { type: "json" } })).default.version}); ${ROUNDS} rounds x ${BATCH} sequential fetches per batch, alternating; load average before: ${loadBefore}; after: ${load()}.\n`,
  );
  console.log(table(["clock", "fetch µs/request", "retryFetch µs/request", "ratio (median of rounds)", "ratio IQR", "µs/request above fetch (median ± SE)"], rows));
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
