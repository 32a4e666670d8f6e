// Fleet breakers (issue 12): four Workers, each its own isolate in workerd (Miniflare), share
// breakers through one EdgeRetryFleet Durable Object, against the fault server on 127.0.0.1.
// Each scenario runs beside the same traffic through plain instances (no fleet), which is
// what each assertion would see without the feature.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startFaultServer } from "../fault-server.mjs";
import { sleep, uniquePath } from "../runtimes.mjs";
import { startFleet, call, stats, WORKERS } from "./fleet.mjs";

let srv;
let fleet;
before(async () => {
  srv = await startFaultServer();
  fleet = await startFleet();
});
after(async () => {
  if (fleet) await fleet.mf.dispose();
  if (srv) await srv.close();
});

const MIN = 20; // minimumRequests
const REFRESH = 200;
const ROUND_GAP = 25; // ms between rounds of one call per isolate
const MAX_ROUNDS = 200;

function specOf(name, path, { withFleet, breaker = {}, fleetOptions = {}, binding, attempts = 1, budget } = {}) {
  return {
    instance: name,
    url: srv.url(path),
    binding,
    defaults: {
      maxAttempts: attempts,
      baseDelayMs: 5,
      breaker: { minimumRequests: MIN, failureRatio: 0.5, windowMs: 60000, openMs: 60000, maxOpenMs: 60000, ...breaker },
      ...(budget ? { budget } : {}),
    },
    // One Durable Object per scenario: every scenario's calls go to the same origin (key).
    fleet: withFleet ? { name: name, refreshMs: REFRESH, reportMs: 50, ...fleetOptions } : undefined,
  };
}

// One call in every isolate at once, `rounds` times at most or until `stop(results)`.
async function rounds(spec, stop, onRound = () => {}) {
  const log = [];
  for (let r = 0; r < MAX_ROUNDS; r++) {
    const results = await Promise.all(Array.from({ length: WORKERS }, (_, i) => call(fleet.fetchers, i, spec)));
    const at = Date.now();
    log.push({ at, results });
    onRound(r, results);
    if (stop(results)) break;
    await sleep(ROUND_GAP);
  }
  return log;
}

const refused = (r) => r.outcome === "error" && r.circuitOpen;
const allRefused = (results) => results.every(refused);

// Runs a dead origin until every isolate refuses: how many requests reached it, and when each
// isolate first refused.
async function outage(withFleet) {
  const path = uniquePath(withFleet ? "fleet-dead" : "local-dead");
  srv.script(path, [{ status: 503 }]);
  const spec = specOf(`outage-${withFleet}`, path, { withFleet });
  const firstRefusal = new Array(WORKERS).fill(null);
  const log = await rounds(spec, allRefused, (_, results) => {
    results.forEach((r, i) => { if (refused(r) && firstRefusal[i] === null) firstRefusal[i] = Date.now(); });
  });
  for (const { results } of log) for (const r of results) assert.ok(r.outcome === "response" ? r.status === 503 : r.circuitOpen, JSON.stringify(r));
  return { sent: srv.requests(path).length, firstRefusal, rounds: log.length, spec, path };
}

test("a failing origin: the fleet opens after about minimumRequests failures in all, and every isolate refuses within one refresh", async () => {
  const local = await outage(false);
  const shared = await outage(true);
  console.log(`# dead origin, ${WORKERS} isolates, minimumRequests ${MIN}: ${local.sent} requests without the fleet, ${shared.sent} with it (refresh ${REFRESH} ms)`);
  assert.ok(local.sent >= WORKERS * MIN, `without the fleet each isolate learns alone: ${local.sent}`);
  // minimumRequests, plus what the isolates send while the news travels: a report (<= 50 ms)
  // and each isolate's next sync, a few rounds of one call per isolate.
  assert.ok(shared.sent <= MIN + 6 * WORKERS, `with the fleet: ${shared.sent} requests (the fleet-wide minimum is ${MIN})`);
  assert.ok(shared.sent < local.sent / 2);
  const spread = Math.max(...shared.firstRefusal) - Math.min(...shared.firstRefusal);
  assert.ok(spread <= REFRESH + 150, `every isolate refused within one refresh of the first: ${spread} ms`);
  const st = await stats(fleet.fetchers, 1, shared.spec);
  assert.ok(st.fleet.syncs > 0 && st.fleet.refused > 0, JSON.stringify(st.fleet));
});

test("a fleet refusal counts in the instance's stats as a breaker rejection", async () => {
  const path = uniquePath("fleet-refusal-stats");
  srv.script(path, [{ status: 503 }]);
  const spec = specOf("refusal-stats", path, { withFleet: true });
  const log = await rounds(spec, allRefused);
  for (let i = 0; i < WORKERS; i++) {
    const st = await stats(fleet.fetchers, i, spec);
    const refusedHere = log.filter(({ results }) => refused(results[i])).length;
    assert.ok(st.fleet.refused > 0, `isolate ${i}: ${JSON.stringify(st.fleet)}`);
    assert.equal(st.stats.calls, log.length, `isolate ${i}: every call counted, refused ones too`);
    assert.equal(st.stats.breakerRejections, refusedHere, `isolate ${i}: ${JSON.stringify(st.stats)} ${JSON.stringify(st.fleet)}`);
    assert.ok(st.stats.breakerRejections >= st.fleet.refused);
  }
});

// A dead origin the breaker never gives up on (minimumRequests out of reach): only the retry
// budget limits retries. Each isolate's own budget pays BUDGET_RETRIES; shared, the fleet's
// budget pays about that many in all.
const BUDGET = { capacity: 50, retryCost: 5, timeoutCost: 10, successRefund: 1 };
const BUDGET_RETRIES = BUDGET.capacity / BUDGET.retryCost;
const BUDGET_ROUNDS = 30;
async function retriesToDeadOrigin(withFleet) {
  const path = uniquePath(withFleet ? "fleet-budget" : "local-budget");
  srv.script(path, [{ status: 503 }]);
  const spec = specOf(`budget-${withFleet}`, path, {
    withFleet, attempts: 2, budget: BUDGET, breaker: { minimumRequests: 1_000_000 },
  });
  let calls = 0;
  await rounds(spec, (results) => {
    for (const r of results) assert.equal(r.status, 503, JSON.stringify(r));
    return ++calls >= BUDGET_ROUNDS;
  });
  let denials = 0;
  for (let i = 0; i < WORKERS; i++) denials += (await stats(fleet.fetchers, i, spec)).stats.budgetDenials;
  return { retries: srv.requests(path).length - BUDGET_ROUNDS * WORKERS, denials };
}

test("a failing origin and a small budget: the fleet's retries stay near one budget's worth, not four", async () => {
  const local = await retriesToDeadOrigin(false);
  const shared = await retriesToDeadOrigin(true);
  console.log(`# dead origin, ${WORKERS} isolates, a budget of ${BUDGET_RETRIES} retries each: ${local.retries} retries without the fleet, ${shared.retries} with it (report ${50} ms, refresh ${REFRESH} ms)`);
  assert.equal(local.retries, WORKERS * BUDGET_RETRIES, "without the fleet each isolate spends its own budget");
  // One budget, plus what the isolates spend before they hear the fleet's is empty: about
  // one report interval of rounds (one retry per isolate each).
  assert.ok(shared.retries >= BUDGET_RETRIES && shared.retries <= BUDGET_RETRIES + 3 * WORKERS, `with the fleet: ${shared.retries} retries`);
  assert.ok(shared.denials >= BUDGET_ROUNDS * WORKERS - shared.retries - 1, `every retry not sent is a budget denial: ${shared.denials}`);
});

// After an outage the origin stays down for DOWN_MS (every request reaching it then is a
// half-open probe), then comes back: every isolate should pass again soon after.
const OPEN = 400;
const DOWN_MS = 1600;
async function recovery(withFleet, attempts = 1) {
  const path = uniquePath(withFleet ? "fleet-back" : "local-back");
  srv.script(path, [{ status: 503 }]);
  const spec = specOf(`recovery-${withFleet}-${attempts}`, path, { withFleet, attempts, breaker: { openMs: OPEN, maxOpenMs: OPEN } });
  await rounds(spec, allRefused);
  const opened = srv.requests(path).length;
  const downUntil = Date.now() + DOWN_MS;
  await rounds(spec, () => Date.now() >= downUntil);
  const probes = srv.requests(path).length - opened;
  srv.script(path, [{ status: 200, body: "back" }]);
  const backAt = Date.now();
  const log = await rounds(spec, (results) => results.every((r) => r.status === 200));
  return { probes, closedAfterMs: Date.now() - backAt, last: log[log.length - 1].results };
}

test("recovery: about one probe fleet-wide per open period, then every isolate closes", async () => {
  const local = await recovery(false);
  const shared = await recovery(true);
  const periods = DOWN_MS / OPEN;
  console.log(`# origin down ${DOWN_MS} ms, openMs ${OPEN}: ${local.probes} probes without the fleet, ${shared.probes} with it; all closed ${local.closedAfterMs} / ${shared.closedAfterMs} ms after it came back`);
  assert.ok(local.probes >= 2 * periods, `without the fleet each isolate probes alone: ${local.probes}`);
  assert.ok(shared.probes >= 1 && shared.probes <= periods + 1, `about one probe per open period fleet-wide: ${shared.probes} in ${periods} periods`);
  assert.ok(shared.last.every((r) => r.status === 200), "every isolate closed");
  assert.ok(shared.closedAfterMs <= 2 * OPEN + 2 * REFRESH + 300, `closed fleet-wide ${shared.closedAfterMs} ms after the origin came back`);
});

test("a probe is one request even when calls may retry (maxAttempts 3)", async () => {
  const shared = await recovery(true, 3);
  const periods = DOWN_MS / OPEN;
  console.log(`# maxAttempts 3, origin down ${DOWN_MS} ms: ${shared.probes} probes with the fleet`);
  assert.ok(shared.probes >= 1 && shared.probes <= periods + 1, `about one probe per open period: ${shared.probes}`);
  assert.ok(shared.last.every((r) => r.status === 200), "every isolate closed");
});

// The Durable Object throws, or never answers: each isolate's own breaker, no call delayed.
async function brokenObject(binding) {
  const path = uniquePath(`broken-${binding}`);
  srv.script(path, [{ status: 503 }]);
  const spec = specOf(`broken-${binding}`, path, {
    withFleet: true, binding, breaker: { minimumRequests: 5 }, fleetOptions: { syncTimeoutMs: 100 },
  });
  const log = await rounds(spec, allRefused);
  const times = log.flatMap(({ results }) => results.map((r) => r.ms));
  const errors = log.flatMap(({ results }) => results.filter((r) => r.outcome === "error" && !r.circuitOpen));
  const st = await stats(fleet.fetchers, 2, spec);
  return { sent: srv.requests(path).length, worst: Math.max(...times), errors, st };
}

for (const binding of ["THROWING", "HANGING"]) {
  test(`the Durable Object ${binding === "THROWING" ? "throwing" : "hanging"}: local breakers, no call delayed or failed`, async () => {
    const r = await brokenObject(binding);
    console.log(`# ${binding}: ${r.sent} requests, slowest call ${r.worst.toFixed(0)} ms, fleet ${JSON.stringify(r.st.fleet)}`);
    assert.deepEqual(r.errors, [], "no call failed for the fleet's sake");
    assert.equal(r.sent, WORKERS * 5, "each isolate's own breaker opened after its own 5 failures");
    assert.ok(r.worst < 80, `no call waited on the Durable Object: slowest ${r.worst} ms (sync timeout 100 ms)`);
    assert.ok(r.st.fleet.syncFailures >= 1, JSON.stringify(r.st.fleet));
    assert.equal(r.st.fleet.held, 0, "no view held from a broken fleet");
  });
}

test("bad fleet options are a TypeError naming the option, and nothing is created", async () => {
  const cases = [
    [{ refreshMs: -1 }, {}, /"fleet\.refreshMs"/],
    [{ refreshMs: "1000" }, {}, /"fleet\.refreshMs"/],
    [{ leaseMs: 0 }, {}, /"fleet\.leaseMs"/],
    [{ waitUntil: 3 }, {}, /"fleet\.waitUntil"/],
    [{ refresh: 1000 }, {}, /unknown option "fleet\.refresh"/],
    [{}, { breaker: false }, /"fleet".*"breaker" is false/],
  ];
  for (const [[fleetOptions, defaults, pattern], n] of cases.map((c, i) => [c, i])) {
    const spec = { instance: `bad-${n}`, url: srv.url("/never"), fleet: fleetOptions, defaults };
    const r = await call(fleet.fetchers, 0, spec);
    assert.equal(r.outcome, "options", JSON.stringify(r));
    assert.ok(r.isTypeError && pattern.test(r.message), `${JSON.stringify(fleetOptions)}: ${r.message}`);
  }
  assert.equal(srv.requests("/never").length, 0);
});
