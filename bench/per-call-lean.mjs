// The library's own work per call, with as little else as possible in the loop: each call's
// fetch resolves one prebuilt Response (no body, never read), so what is left over the bare
// stub is the library's own work. A diagnostic for comparing builds of edge-retry (its
// figures hold still to about ±20 ns on a busy machine, where bench/overhead.mjs's stub
// table moves by ±0.5 µs); bench/overhead.mjs, where each call makes and reads a Response, is
// the figure the README's table gives.
//
//   node bench/per-call-lean.mjs [--rounds N] [--pkg dir,dir...] [--quick]
//
// --pkg: other builds of the package to time beside pkg/ (say, a checkout of another commit
// after `bash scripts/build-pkg.sh`), as P1, P2, ...
import { resolve } from "node:path";
import { flag, median, option, PKG, saveResult, table, version } from "./lib.mjs";

const QUICK = flag("--quick");
const ROUNDS = Number(option("--rounds", QUICK ? 2 : 30));
const BATCH = 5000;
const WARMUP_ROUNDS = QUICK ? 1 : 4;
const dirs = [PKG, ...String(option("--pkg", "")).split(",").filter(Boolean).map((d) => resolve(d))];

const response = new Response(null, { status: 200 });
const stub = () => Promise.resolve(response);

const PATHS = Array.from({ length: 1000 }, (_, i) => `http://127.0.0.1:1/users/${i}?fields=name`);
const SIGNAL = new AbortController().signal;
const contenders = { "stub fetch": stub };
for (const [i, dir] of dirs.entries()) {
  const { createRetryFetch } = await import(new URL("node.js", `file://${dir}/`).href);
  const retryFetch = createRetryFetch({ fetch: stub });
  const name = i === 0 ? "retryFetch" : `retryFetch P${i}`;
  contenders[name] = (url) => retryFetch(url);
  contenders[`${name}, options per call`] = (url) => retryFetch(url, { retry: { maxAttempts: 3, baseDelayMs: 100 } });
  // A server's long-lived signal on every call.
  contenders[`${name}, a long-lived signal`] = (url) => retryFetch(url, { signal: SIGNAL });
  // The same origin, another path each call (as an API client's calls go).
  let next = 0;
  contenders[`${name}, a new path each call`] = () => retryFetch(PATHS[next++ % PATHS.length]);
}
const { retry, handleAll, ExponentialBackoff } = await import("cockatiel");
const policy = retry(handleAll.orWhenResult((r) => r.status >= 500), { maxAttempts: 2, backoff: new ExponentialBackoff({ initialDelay: 100 }) });
contenders.cockatiel = (url) => policy.execute(() => stub(url));
const { default: fetchRetry } = await import("fetch-retry");
const withRetries = fetchRetry(stub, { retries: 2, retryOn: [503] });
contenders["fetch-retry"] = (url) => withRetries(url);

const names = Object.keys(contenders);
const times = Object.fromEntries(names.map((n) => [n, []]));
for (let round = 0; round < WARMUP_ROUNDS + ROUNDS; round++) {
  for (let i = 0; i < names.length; i++) {
    const name = names[(i + round) % names.length];
    const call = contenders[name];
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < BATCH; k++) await call("http://127.0.0.1:1/lean");
    if (round >= WARMUP_ROUNDS) times[name].push(Number(process.hrtime.bigint() - t0) / BATCH);
  }
}
const over = (name) => times[name].map((ns, i) => ns - times["stub fetch"][i]);
const label = (n) => (n === "cockatiel" || n === "fetch-retry" ? `${n} ${version(n)}` : n);
console.log(`${ROUNDS} interleaved rounds x ${BATCH} calls; ns per call over the bare stub (median, and the rounds' quartiles).\n`);
console.log(table(["contender", "ns over the stub", "quartiles"],
  names.filter((n) => n !== "stub fetch").map((n) => {
    const xs = over(n).sort((a, b) => a - b);
    return [label(n), `**${median(xs).toFixed(0)}**`, `${xs[xs.length >> 2].toFixed(0)} – ${xs[(3 * xs.length) >> 2].toFixed(0)}`];
  })));
// For bench/summary.mjs (scripts/bench.sh): the medians, in ns over the bare stub.
if (!QUICK) saveResult("per-call-lean", Object.fromEntries(names.filter((n) => n !== "stub fetch").map((n) => [n, median(over(n))])));
