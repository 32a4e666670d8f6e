// Deno and Bun, as their users run a package from npm: the packed tarball installed into a
// fresh project, `deno run` / `bun` on a module that imports "edge-retry" (the runtime picks
// the entry by its export conditions), run against the fault server on 127.0.0.1: retries, an
// attempt timeout, Retry-After, retry: false, the breaker, aborts (fixtures/core.mjs).
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { run } from "../runtimes.mjs";
import { BIN, useConsumerProject, scriptCore, checkCore } from "./_helpers.mjs";

const project = useConsumerProject({ name: "runtimes", fixtures: ["core.mjs", "run-core.mjs"] });

// Runs run-core.mjs under a runtime (killed after 30 s) and returns its report.
async function runCoreUnder(name, command) {
  const { base, prefix } = scriptCore(project.srv, name);
  const { stdout } = await run(command[0], [...command.slice(1), "run-core.mjs", base], {
    cwd: project.app,
    timeout: 30000,
    env: {
      ...process.env,
      NO_COLOR: "1",
      DENO_DIR: path.join(project.dir, "deno-dir"),
      DENO_NO_UPDATE_CHECK: "1",
      DENO_NO_PROMPT: "1",
      BUN_INSTALL_CACHE_DIR: path.join(project.dir, "bun-cache"),
      DO_NOT_TRACK: "1",
    },
  });
  const report = JSON.parse(stdout.trim().split("\n").pop());
  checkCore(report, project.srv, prefix);
  return report;
}

test("Deno: the deno entry (wasm inlined) runs the core behaviours", { timeout: 60000 }, async () => {
  const { stdout } = await run(path.join(BIN, "deno"), ["--version"]);
  assert.match(stdout, /^deno 2\.9\.6 /);
  const port = new URL(project.srv.origin).port;
  const report = await runCoreUnder("deno", [
    path.join(BIN, "deno"), "run", "--no-lock", "--no-prompt", `--allow-net=127.0.0.1:${port}`, `--allow-read=${project.app}`,
  ]);
  assert.match(report.resolved, /\/node_modules\/edge-retry\/browser\.js$/);
});

test("Bun: the node entry (the .wasm read from beside it) runs the core behaviours", { timeout: 60000 }, async () => {
  const { stdout } = await run(path.join(BIN, "bun"), ["--version"]);
  assert.equal(stdout.trim(), "1.4.4");
  const report = await runCoreUnder("bun", [path.join(BIN, "bun")]);
  // Bun matches "node" but not "module-sync": the legacy Node entry, which imports node:fs.
  assert.match(report.resolved, /\/node_modules\/edge-retry\/node-legacy\.js$/);
});
