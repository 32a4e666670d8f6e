// edge-retry/fleet's types (pkg/fleet.d.ts): TypeScript, strict, with nodenext resolution
// (the package's `exports` map), accepts a Worker that uses the fleet and refuses wrong
// options (`@ts-expect-error` lines fail the build if they are accepted).
import { test } from "node:test";
import fs from "node:fs";
import path from "node:path";
import { ROOT, tempDir, linkPackage, run } from "../runtimes.mjs";

test("tsc --strict accepts a fleet Worker and refuses wrong fleet options", async () => {
  const tmp = tempDir("fleet-types");
  try {
    const dir = tmp.dir;
    linkPackage(dir);
    fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "t", type: "module", private: true }));
    fs.writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, module: "nodenext", moduleResolution: "nodenext", target: "es2022", lib: ["es2022", "dom"], skipLibCheck: false },
      files: ["worker.ts"],
    }));
    fs.writeFileSync(path.join(dir, "worker.ts"), `
import { CircuitOpenError } from "edge-retry";
import { createFleetRetryFetch, EdgeRetryFleet, type FleetNamespace } from "edge-retry/fleet";
export { EdgeRetryFleet };
const api = createFleetRetryFetch({ maxAttempts: 2, breaker: { minimumRequests: 5 }, fleet: { refreshMs: 500, leaseMs: 2000 } });
export default {
  async fetch(_req: Request, env: { FLEET: FleetNamespace }, ctx: { waitUntil(p: Promise<unknown>): void }): Promise<Response> {
    api.fleet.connect(env.FLEET, ctx);
    const held: number = api.fleet.stats().held;
    try {
      return await api("https://a.example/", { retry: { maxAttempts: 1 } });
    } catch (e) {
      if (e instanceof CircuitOpenError) return new Response(String(held + e.retryAfterMs), { status: 503 });
      throw e;
    }
  },
};
// @ts-expect-error refreshMs is a number
createFleetRetryFetch({ fleet: { refreshMs: "1000" } });
// @ts-expect-error no such fleet option
createFleetRetryFetch({ fleet: { refresh: 1000 } });
// @ts-expect-error the fleet option is required
createFleetRetryFetch({ maxAttempts: 2 });
`);
    await run(process.execPath, [path.join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", dir], { cwd: dir });
  } finally {
    tmp.remove();
  }
});
