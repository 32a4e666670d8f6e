// Shared by the fleet suite (not a test file): Miniflare with four Workers, each its own
// isolate, bound to one Durable Object namespace held by the first, and the fault server.
import path from "node:path";
import { Miniflare } from "miniflare";
import { ROOT, COMPAT_DATE } from "../runtimes.mjs";

export const WORKERS = 4;
const SCRIPT = "tests/js/fleet/fixtures/isolate.mjs";

function worker(name, own) {
  const doBinding = (className) => (own ? className : { className, scriptName: "w0" });
  return {
    name,
    modules: true,
    scriptPath: path.join(ROOT, ...SCRIPT.split("/")),
    modulesRoot: ROOT,
    modulesRules: [
      { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
    compatibilityDate: COMPAT_DATE,
    durableObjects: {
      FLEET: doBinding("EdgeRetryFleet"),
      THROWING: doBinding("ThrowingFleet"),
      HANGING: doBinding("HangingFleet"),
    },
  };
}

export async function startFleet() {
  const workers = [];
  for (let i = 0; i < WORKERS; i++) workers.push(worker(`w${i}`, i === 0));
  const mf = new Miniflare({ workers, cf: false });
  await mf.ready;
  const fetchers = [];
  for (let i = 0; i < WORKERS; i++) fetchers.push(await mf.getWorker(`w${i}`));
  return { mf, fetchers };
}

// One call in worker `i`; resolves with its report and how long it took (wall clock, ms).
export async function call(fetchers, i, spec) {
  const t0 = performance.now();
  const res = await fetchers[i].fetch(`http://w${i}.test/call?spec=${encodeURIComponent(JSON.stringify(spec))}`);
  const report = await res.json();
  return { ...report, ms: performance.now() - t0 };
}

export async function stats(fetchers, i, spec) {
  const res = await fetchers[i].fetch(`http://w${i}.test/stats?spec=${encodeURIComponent(JSON.stringify(spec))}`);
  return res.json();
}
