// Success-path overhead: plain fetch vs retryFetch vs the peers, each with retries on and the
// body read, sequential requests against one keep-alive server on 127.0.0.1 (its own process).
//
//   node bench/overhead.mjs            3 runs (fresh processes) x 80 interleaved rounds x 100
//   node bench/overhead.mjs --quick    1 run, 3 short rounds: only checks that it runs
//   options: --runs N --rounds N --batch N --json
//
// Each run is one Node process holding every contender. In each round every contender sends
// `batch` requests in a row (the order rotates from round to round); a round's time per
// request is wall time / batch (and client CPU time / batch, which other jobs on the machine
// disturb less). A contender's figure is the median over rounds; its ratio is the median over
// rounds of (its time / plain fetch's time in the same round), so slow drift cancels out.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { args, flag, load, median, option, PKG, saveResult, startServer, table, version } from "./lib.mjs";

const QUICK = flag("--quick");
const RUNS = Number(option("--runs", QUICK ? 1 : 3));
const ROUNDS = Number(option("--rounds", QUICK ? 3 : 80));
const BATCH = Number(option("--batch", QUICK ? 20 : 100));
const WARMUP_ROUNDS = QUICK ? 1 : 4;
// Stub calls take ~1/20 of a loopback request: more of them per round.
const STUB_FACTOR = 10;
const RETRY_ON = new Set([408, 429, 500, 502, 503, 504]);

const PEERS = ["ky", "fetch-retry", "p-retry", "cockatiel", "ofetch"];

// A fetch that answers at once with a fresh 200 (no network): what is left of a contender's
// time over plain stub fetch is the library's own cost per call.
const BODY = "ok ".repeat(10);
const stubFetch = async () => new Response(BODY, { status: 200, headers: { "content-type": "text/plain" } });

async function contenders(stub) {
  const { retryFetch: defaultRetryFetch, createRetryFetch } = await import(new URL("node.js", `file://${PKG}/`).href);
  const { default: ky } = await import("ky");
  const { default: fetchRetry } = await import("fetch-retry");
  const { default: pRetry } = await import("p-retry");
  const { retry, handleAll, ExponentialBackoff } = await import("cockatiel");
  const { ofetch: defaultOfetch, createFetch } = await import("ofetch");

  const f = stub ? stubFetch : fetch;
  const retryFetch = stub ? createRetryFetch({ fetch: stubFetch }) : defaultRetryFetch;
  const ofetch = stub ? createFetch({ fetch: stubFetch }) : defaultOfetch;
  // Every contender: up to 2 retries (3 attempts, edge-retry's default) on the same statuses.
  const withRetries = fetchRetry(f, { retries: 2, retryDelay: (n) => 100 * 2 ** n, retryOn: [...RETRY_ON] });
  const cockatielPolicy = retry(handleAll.orWhenResult((r) => RETRY_ON.has(r.status)), {
    maxAttempts: 2,
    backoff: new ExponentialBackoff({ initialDelay: 100 }),
  });
  const kyClient = ky.create(stub ? { retry: { limit: 2 }, fetch: stubFetch } : { retry: { limit: 2 } });

  return {
    fetch: (url) => f(url).then((r) => r.text()),
    retryFetch: (url) => retryFetch(url).then((r) => r.text()),
    // As the README shows first: options on the call (a fresh object each time).
    "retryFetch, options per call": (url) => retryFetch(url, { retry: { maxAttempts: 3, baseDelayMs: 100 } }).then((r) => r.text()),
    ky: (url) => kyClient.get(url).text(),
    "fetch-retry": (url) => withRetries(url).then((r) => r.text()),
    "p-retry": (url) =>
      pRetry(
        async () => {
          const r = await f(url);
          if (RETRY_ON.has(r.status)) throw new Error(`status ${r.status}`);
          return r;
        },
        { retries: 2 },
      ).then((r) => r.text()),
    cockatiel: (url) => cockatielPolicy.execute(() => f(url)).then((r) => r.text()),
    ofetch: (url) => ofetch(url, { retry: 2, retryDelay: 100, responseType: "text" }),
  };
}

async function child(url, stub) {
  const all = await contenders(stub);
  const batch = stub ? BATCH * STUB_FACTOR : BATCH;
  const names = Object.keys(all);
  for (const name of names) {
    const text = await all[name](url);
    if (!text.startsWith("ok ")) throw new Error(`${name}: unexpected body ${JSON.stringify(text)}`);
  }
  const wall = Object.fromEntries(names.map((n) => [n, []]));
  const cpu = Object.fromEntries(names.map((n) => [n, []]));
  for (let round = 0; round < WARMUP_ROUNDS + ROUNDS; round++) {
    const order = names.map((_, i) => names[(i + round) % names.length]);
    for (const name of order) {
      const run = all[name];
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < batch; i++) await run(url);
      const t1 = process.hrtime.bigint();
      const c1 = process.cpuUsage(c0);
      if (round >= WARMUP_ROUNDS) {
        wall[name].push(Number(t1 - t0) / 1e3 / batch);
        cpu[name].push((c1.user + c1.system) / batch);
      }
    }
  }
  process.stdout.write(JSON.stringify({ wall, cpu }) + "\n");
}

function runChild(port, stub) {
  return new Promise((ok, fail) => {
    const p = spawn(
      process.execPath,
      [fileURLToPath(import.meta.url), "--child", `http://127.0.0.1:${port}/ok`, ...(stub ? ["--stub"] : []), ...args],
      { stdio: ["ignore", "pipe", "inherit"], env: process.env },
    );
    let out = "";
    p.stdout.on("data", (c) => (out += c));
    p.on("exit", (code) => (code === 0 ? ok(JSON.parse(out)) : fail(new Error(`overhead child exited ${code}`))));
  });
}

function summarise(run) {
  const names = Object.keys(run.wall);
  const perRound = (series, name, f) => median(series[name].map((v, i) => f(v, series.fetch[i])));
  return Object.fromEntries(
    names.map((n) => [
      n,
      {
        us: median(run.wall[n]),
        ratio: perRound(run.wall, n, (a, b) => a / b),
        extraUs: perRound(run.wall, n, (a, b) => a - b),
        cpuUs: median(run.cpu[n]),
        cpuRatio: perRound(run.cpu, n, (a, b) => a / b),
      },
    ]),
  );
}

const fmt = (x, d = 1) => x.toFixed(d);
const span = (xs, d) => (xs.length > 1 ? `${fmt(Math.min(...xs), d)} – ${fmt(Math.max(...xs), d)}` : fmt(xs[0], d));
const label = (n) => (n === "fetch" || n.startsWith("retryFetch") ? n : `${n} ${version(n)}`);

function realTable(runs) {
  const rows = Object.keys(runs[0]).map((n) => {
    const get = (k) => runs.map((r) => r[n][k]);
    return [
      label(n),
      fmt(median(get("us"))),
      fmt(median(get("extraUs"))),
      `**${fmt(median(get("ratio")), 3)}×**`,
      span(get("ratio"), 3),
      fmt(median(get("cpuUs"))),
      `${fmt(median(get("cpuRatio")), 3)}×`,
      span(get("cpuRatio"), 3),
    ];
  });
  return table(
    ["contender", "µs/request (median)", "µs above fetch", "ratio to fetch", `ratio, each of ${runs.length} runs (min – max)`,
      "client CPU µs/request", "CPU ratio", "CPU ratio (min – max)"],
    rows,
  );
}

function stubTable(runs) {
  const rows = Object.keys(runs[0]).map((n) => {
    const get = (k) => runs.map((r) => r[n][k]);
    return [label(n), fmt(median(get("us")), 2), `**${fmt(median(get("extraUs")), 2)}**`, span(get("extraUs"), 2),
      `${fmt(median(get("ratio")), 2)}×`];
  });
  return table(["contender", "µs/call (median)", "µs above stub fetch", `(min – max of ${runs.length} runs)`, "ratio"], rows);
}

async function main() {
  const server = await startServer();
  const loadBefore = load();
  const real = [], stub = [];
  try {
    // Alternate the two kinds of run so that both see the same machine.
    for (let i = 0; i < RUNS; i++) {
      real.push(summarise(await runChild(server.port, false)));
      stub.push(summarise(await runChild(server.port, true)));
    }
  } finally {
    server.close();
  }
  const loadAfter = load();
  if (!QUICK) {
    const names = Object.keys(real[0]);
    const pick = (runs, k) => Object.fromEntries(names.map((n) => [n, { median: median(runs.map((r) => r[n][k])), runs: runs.map((r) => r[n][k]) }]));
    saveResult("overhead", {
      ratio: pick(real, "ratio"), cpuRatio: pick(real, "cpuRatio"), us: pick(real, "us"), stubExtraUs: pick(stub, "extraUs"),
      load: [loadBefore, loadAfter],
    });
  }
  if (flag("--json")) {
    process.stdout.write(JSON.stringify({ real, stub, load: [loadBefore, loadAfter] }) + "\n");
    return;
  }
  console.log(`Node ${process.version}. Load average (1/5/15 min) before: ${loadBefore}; after: ${loadAfter}.\n`);
  console.log(`Real requests: sequential GETs of a 30-byte body over one keep-alive connection to 127.0.0.1 (server in its own process); ${RUNS} runs (fresh processes) x ${ROUNDS} interleaved rounds x ${BATCH} requests per contender per round; body read.\n`);
  console.log(realTable(real));
  console.log(`\nLibrary cost alone: the same calls over a stub fetch that resolves a fresh \`Response\` at once (no network); ${RUNS} runs x ${ROUNDS} rounds x ${BATCH * STUB_FACTOR} calls.\n`);
  console.log(stubTable(stub));
}

if (flag("--child")) await child(args[args.indexOf("--child") + 1], flag("--stub"));
else await main();
