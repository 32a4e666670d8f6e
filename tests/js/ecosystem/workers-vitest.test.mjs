// Testing a Worker as Workers users do: examples/worker's own Vitest tests (test/*.test.js,
// run inside workerd by @cloudflare/vitest-pool-workers from wrangler.toml) in a fresh project
// where the packed tarball is installed, so the pool bundles the package's `workerd` entry.
// Vitest and the pool come from the repository's node_modules (linked into the project), or
// from EDGE_RETRY_VITEST_MODULES (a node_modules folder that has them). Without them this
// test is skipped and says why; the Miniflare suites (tests/js/workerd) still cover workerd.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { ROOT, run, offlineEnv } from "../runtimes.mjs";
import { useConsumerProject } from "./_helpers.mjs";

const MODULES = process.env.EDGE_RETRY_VITEST_MODULES || path.join(ROOT, "node_modules");
const POOL = "@cloudflare/vitest-pool-workers";
const missing = ["vitest", POOL].filter((name) => !fs.existsSync(path.join(MODULES, name, "package.json")));
const EXAMPLE = path.join(ROOT, "examples", "worker");

const project = useConsumerProject({ name: "workers-vitest", server: false, enabled: missing.length === 0 });

test("examples/worker: its vitest-pool-workers tests pass in workerd against the packed package", {
  timeout: 180000,
  skip: missing.length ? `${missing.join(" and ")} not installed in ${MODULES} (see examples/worker/package.json's devDependencies)` : false,
}, async () => {
  const { app } = project;
  for (const item of ["src", "test", "wrangler.toml", "vitest.config.js"]) fs.cpSync(path.join(EXAMPLE, item), path.join(app, item), { recursive: true });
  for (const name of ["vitest", POOL]) {
    fs.mkdirSync(path.dirname(path.join(app, "node_modules", name)), { recursive: true });
    fs.symlinkSync(path.join(MODULES, name), path.join(app, "node_modules", name), "dir");
  }
  const results = path.join(project.dir, "vitest.json");
  await run(process.execPath, [path.join(MODULES, "vitest", "vitest.mjs"), "run", "--reporter=json", `--outputFile=${results}`], {
    cwd: app,
    env: offlineEnv(project.dir),
    timeout: 150000,
  });
  const report = JSON.parse(fs.readFileSync(results, "utf8"));
  const tests = report.testResults.flatMap((file) => file.assertionResults);
  assert.ok(tests.length >= 6, `ran ${tests.length} tests`);
  assert.deepEqual(tests.filter((t) => t.status !== "passed").map((t) => t.fullName), []);
  assert.equal(report.numPassedTests, tests.length);
});
