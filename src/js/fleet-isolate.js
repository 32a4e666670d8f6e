// edge-retry/fleet, the isolate's side: an instance whose breakers are shared by every isolate
// of a Worker through a Durable Object (EdgeRetryFleet, fleet-object.js). The call path never
// waits on the Durable Object: a call asks the FleetLink (wasm, in memory) whether the fleet
// refuses its key; attempt outcomes queue in the link; a sync (report out, view back) runs in
// the background, at most one at a time and at most every refreshMs (a probe's outcome at
// once; failures every reportMs), under ctx.waitUntil when given. A sync that fails, hangs past syncTimeoutMs or answers
// garbage drops the view: the isolate's own breakers decide until the next one succeeds.
// The instance's retry budget is shared the same way (core::fleet::ledger): a sync carries what
// the instance's retries spent per key, and the view's budget levels go back to the instance,
// which then refuses retries the fleet cannot pay. JS only moves these bytes and numbers.
import { createRetryFetch, CircuitOpenError } from "./workerd.js";
import { FleetLink } from "./edge_retry_fleet.js";
import { GET_FLEET_SETTING } from "./codes.js";

const INSTANCE = Symbol.for("edge-retry.instance"); // set by driver.js's createRetryFetch
const RESPONSE = 0, NETWORK = 1, TIMEOUT = 2;
const PASS = 0, PROBE = 1; // FleetLink.admit; 2 is refused
const SHARE = 0, OWES = 1, FORGET = 2, REFUSED = 3; // Instance.fleet's operations
const SYNC_URL = "https://edge-retry-fleet.internal/sync";

function fleetError(name, expected) {
  return new TypeError(`edge-retry: invalid option "fleet.${name}": expected ${expected}`);
}

function number(fleet, name, fallback, min) {
  const v = fleet[name];
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isFinite(v) || v < min) throw fleetError(name, `a finite number >= ${min}`);
  return v;
}

function isNamespace(ns) {
  return ns != null && typeof ns.idFromName === "function" && typeof ns.get === "function";
}

// The fleet's options, checked; unknown names are refused as the core refuses them.
function readFleet(fleet) {
  if (fleet === null || typeof fleet !== "object") throw new TypeError('edge-retry: invalid option "fleet": expected an object');
  const known = ["namespace", "name", "refreshMs", "reportMs", "staleMs", "leaseMs", "syncTimeoutMs", "waitUntil"];
  for (const k of Object.keys(fleet)) if (!known.includes(k)) throw new TypeError(`edge-retry: unknown option "fleet.${k}"`);
  if (fleet.namespace !== undefined && !isNamespace(fleet.namespace)) throw fleetError("namespace", "a Durable Object namespace binding");
  if (fleet.name !== undefined && typeof fleet.name !== "string") throw fleetError("name", "a string");
  if (fleet.waitUntil !== undefined && typeof fleet.waitUntil !== "function") throw fleetError("waitUntil", "a function");
  const refreshMs = number(fleet, "refreshMs", 1000, 1);
  return {
    namespace: fleet.namespace,
    name: fleet.name ?? "edge-retry",
    refreshMs,
    reportMs: Math.min(refreshMs, number(fleet, "reportMs", Math.max(1, Math.round(refreshMs / 4)), 1)),
    staleMs: number(fleet, "staleMs", 3 * refreshMs, refreshMs),
    leaseMs: number(fleet, "leaseMs", 10000, 1),
    syncTimeoutMs: number(fleet, "syncTimeoutMs", Math.max(100, refreshMs), 1),
    waitUntil: fleet.waitUntil,
  };
}

function urlOf(input) {
  if (typeof input === "string") return input;
  if (input instanceof URL) return input.href;
  if (input && typeof input.url === "string") return input.url;
  return String(input);
}

// Like retryFetch's `createRetryFetch(defaults)`, with `defaults.fleet` connecting it to the
// fleet. The namespace and waitUntil can also be given per request: `api.fleet.connect(env.X, ctx)`.
export function createFleetRetryFetch(options) {
  if (options === null || typeof options !== "object") throw new TypeError('edge-retry: createFleetRetryFetch needs options with "fleet"');
  const { fleet: fleetOptions, ...defaults } = options;
  const cfg = readFleet(fleetOptions ?? {});
  let link = null;
  let instance = null;

  // Every attempt's outcome goes to the outbox (the instance's onAttempt, then the user's).
  const userOnAttempt = defaults.onAttempt;
  defaults.onAttempt = (ev) => {
    if (link) link.record(ev.key, failureOf(ev));
    if (typeof userOnAttempt === "function") return userOnAttempt(ev);
  };
  const inner = createRetryFetch(defaults);
  instance = inner[INSTANCE];
  if (instance.get(GET_FLEET_SETTING, 0) < 0) throw new TypeError('edge-retry: invalid option "fleet": the fleet shares breakers, and "breaker" is false');
  const s = (i) => instance.get(GET_FLEET_SETTING, i);
  link = new FleetLink(s(0), s(1), s(2), s(3), s(4), cfg.leaseMs, cfg.refreshMs, cfg.reportMs, cfg.staleMs, s(5), s(6), s(7), s(8));
  if (s(5) >= 0) instance.fleet(SHARE, cfg.staleMs);
  const breakerKey = defaults.breaker && typeof defaults.breaker.key === "function" ? defaults.breaker.key : null;

  function failureOf(ev) {
    if (ev.status !== undefined) return instance.fleetFailure(RESPONSE, ev.status);
    return instance.fleetFailure(ev.error && ev.error.name === "TimeoutError" ? TIMEOUT : NETWORK, 0);
  }

  let lastUrl = null, lastKey = "";
  function keyOf(url, retry) {
    const own = retry && typeof retry === "object" && retry.breaker && typeof retry.breaker.key === "function" ? retry.breaker.key : breakerKey;
    if (own) return String(own(url));
    if (url === lastUrl) return lastKey;
    const n = instance.originLength(url);
    let key = url.slice(0, n);
    if (n === 0) {
      try { key = new URL(url).origin; } catch { key = url; }
    }
    lastUrl = url;
    lastKey = key;
    return key;
  }

  // Background sync. `generation` tells a late answer of an abandoned sync from the current one.
  let namespace = cfg.namespace;
  let waitUntil = cfg.waitUntil;
  let generation = 0;
  let nextCheck = 0;
  const counts = { syncs: 0, syncFailures: 0, probes: 0, refused: 0 };

  // After a sync (answered or not): local breakers the fleet closed, and the fleet's budget
  // levels (none after a failure: local budgets alone decide).
  function afterSync() {
    const now = Date.now();
    for (let key = link.nextToClose(); key !== undefined; key = link.nextToClose()) instance.fleetClose(key, now);
    instance.fleet(FORGET, 0);
    for (let key = link.nextLevel(); key !== undefined; key = link.nextLevel()) instance.fleetLevel(key, link.param(), now);
  }

  async function sync(report, gen) {
    const controller = new AbortController();
    let timer;
    const timedOut = new Promise((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new Error("edge-retry: fleet sync timed out"));
      }, cfg.syncTimeoutMs);
    });
    try {
      const work = (async () => {
        const stub = namespace.get(namespace.idFromName(cfg.name));
        const res = await stub.fetch(SYNC_URL, { method: "POST", body: report, signal: controller.signal });
        if (!res.ok) throw new Error(`edge-retry: fleet answered ${res.status}`);
        return new Uint8Array(await res.arrayBuffer());
      })();
      work.catch(() => {});
      const view = await Promise.race([work, timedOut]);
      if (gen !== generation) return;
      counts.syncs++;
      if (!link.apply(view, Date.now())) counts.syncFailures++;
    } catch {
      if (gen !== generation) return;
      counts.syncFailures++;
      link.failed();
    } finally {
      clearTimeout(timer);
      if (gen === generation) afterSync();
    }
  }

  function maybeSync(now, urgent) {
    if (!namespace || (!urgent && now < nextCheck) || !link.due(now, instance.fleet(OWES, 0))) return;
    nextCheck = now + cfg.reportMs;
    const gen = ++generation;
    let promise;
    try {
      link.recordSpending(instance.fleetLedger());
      promise = sync(link.begin(now), gen);
    } catch {
      link.failed();
      return;
    }
    if (waitUntil) {
      try { waitUntil(promise); } catch {} // a finished request's ctx: the sync runs on regardless
    }
  }

  // The isolate's own breaker refused (the fleet did not): the fleet hears of it.
  function localRefusal(error) {
    if (error instanceof CircuitOpenError) {
      link.recordLocalOpen(error.key);
      maybeSync(Date.now(), false);
    }
    throw error;
  }

  const fleetFetch = async (input, init) => {
    let retry;
    try {
      retry = init != null && typeof init === "object" ? init.retry : undefined;
    } catch {
      return inner(input, init); // inner names the throwing option
    }
    if (retry === false) return inner(input, init); // no breaker: nothing to share
    const now = Date.now();
    const key = keyOf(urlOf(input), retry);
    const verdict = link.admit(key, now);
    maybeSync(now, false);
    if (verdict === PASS) return inner(input, init).catch(localRefusal);
    if (verdict !== PROBE) {
      counts.refused++;
      instance.fleet(REFUSED, 0);
      throw new CircuitOpenError(key, link.param());
    }
    // This isolate holds the fleet's probe for the key: its attempt's outcome decides.
    const token = link.param();
    counts.probes++;
    let reported = false;
    const base = retry && typeof retry === "object" ? retry : {};
    const own = typeof base.onAttempt === "function" ? base.onAttempt : defaults.onAttempt;
    const onAttempt = (ev) => {
      if (!reported) {
        reported = true;
        link.recordProbe(key, token, failureOf(ev));
        maybeSync(Date.now(), true);
      }
      return own(ev);
    };
    // One attempt: a retry of a failed probe would be a second request to a dead origin.
    return inner(input, { ...(init || {}), retry: { ...base, maxAttempts: 1, onAttempt } });
  };
  fleetFetch.stats = inner.stats;
  fleetFetch.breaker = inner.breaker;
  fleetFetch.fleet = {
    // The namespace (once, or again) and this request's ctx, whose waitUntil keeps syncs alive.
    connect(ns, ctx) {
      if (!isNamespace(ns)) throw fleetError("namespace", "a Durable Object namespace binding");
      namespace = ns;
      if (ctx && typeof ctx.waitUntil === "function") waitUntil = (p) => ctx.waitUntil(p);
      return fleetFetch;
    },
    stats: () => ({ ...counts, dropped: link.dropped(), held: link.held() }),
  };
  return fleetFetch;
}
