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
  // The README's first per-call example: a deadline for the whole call.
  contenders[`${name}, timeoutMs per call (timed)`] = (url) => retryFetch(url, { retry: { maxAttempts: 5, timeoutMs: 2000 } });
}
const { retry, handleAll, ExponentialBackoff } = await import("cockatiel");
const policy = retry(handleAll.orWhenResult((r) => r.status >= 500), { maxAttempts: 2, backoff: new ExponentialBackoff({ initialDelay: 100 }) });
contenders.cockatiel = (url) => policy.execute(() => stub(url));
const { default: fetchRetry } = await import("fetch-retry");
const withRetries = fetchRetry(stub, { retries: 2, retryOn: [503] });
contenders["fetch-retry"] = (url) => withRetries(url);

// With a deadline, as each peer's user would write one (timed): what any fetch with a timeout
// pays (an AbortController whose signal fetch gets, a timer set and cleared) is the floor.
// AbortSignal.timeout is left out: its timer cannot be cleared, and the thousands it leaves
// pending in a loop like this one would slow every other contender.
function withDeadline(ms, send) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ms);
  return send(controller.signal).finally(() => clearTimeout(timer));
}
contenders["stub fetch with a deadline (timed)"] = (url) => withDeadline(2000, (signal) => stub(url, { signal }));
const { timeout, TimeoutStrategy, wrap } = await import("cockatiel");
const timedPolicy = wrap(policy, timeout(2000, TimeoutStrategy.Aggressive));
contenders["cockatiel, retry + timeout (timed)"] = (url) => timedPolicy.execute(({ signal }) => stub(url, { signal }));
contenders["fetch-retry, with a deadline (timed)"] = (url) => withDeadline(2000, (signal) => withRetries(url, { signal }));

// The timed contenders run after the others, in rounds of their own: each call leaves an
// AbortSignal behind, and Node's are costly to collect, which would slow the others.
const timedNames = Object.keys(contenders).filter((n) => n.endsWith("(timed)"));
const groups = [Object.keys(contenders).filter((n) => !timedNames.includes(n)), ["stub fetch", ...timedNames]];
const names = Object.keys(contenders);
const times = Object.fromEntries(names.map((n) => [n, []]));
const stubTimes = Object.fromEntries(names.map((n) => [n, []])); // the same round's bare stub
for (const group of groups) {
  for (let round = 0; round < WARMUP_ROUNDS + ROUNDS; round++) {
    const measured = {};
    for (let i = 0; i < group.length; i++) {
      const name = group[(i + round) % group.length];
      const call = contenders[name];
      const t0 = process.hrtime.bigint();
      for (let k = 0; k < BATCH; k++) await call("http://127.0.0.1:1/lean");
      measured[name] = Number(process.hrtime.bigint() - t0) / BATCH;
    }
    if (round < WARMUP_ROUNDS) continue;
    for (const name of group) {
      times[name].push(measured[name]);
      stubTimes[name].push(measured["stub fetch"]);
    }
  }
}
const over = (name) => times[name].map((ns, i) => ns - stubTimes[name][i]);
const label = (n) => (/^(cockatiel|fetch-retry)/.test(n) ? n.replace(/^(cockatiel|fetch-retry)/, (p) => `${p} ${version(p)}`) : n);
console.log(`${ROUNDS} interleaved rounds x ${BATCH} calls; ns per call over the bare stub (median, and the rounds' quartiles).\n`);
console.log(table(["contender", "ns over the stub", "quartiles"],
  names.filter((n) => n !== "stub fetch").map((n) => {
    const xs = over(n).sort((a, b) => a - b);
    return [label(n), `**${median(xs).toFixed(0)}**`, `${xs[xs.length >> 2].toFixed(0)} – ${xs[(3 * xs.length) >> 2].toFixed(0)}`];
  })));
// For bench/summary.mjs (scripts/bench.sh): the medians, in ns over the bare stub.
if (!QUICK) saveResult("per-call-lean", Object.fromEntries(names.filter((n) => n !== "stub fetch").map((n) => [n, median(over(n))])));
