// The two Node entries: node.js, for Node that matches the "module-sync" export condition,
// takes node:fs through process.getBuiltinModule; node-legacy.js, for older Node, imports it.
// Each must give a working module; the legacy one is run with process.getBuiltinModule
// deleted, as Node 18 has none. (tests/js/package checks that an installed copy resolves to
// node.js on this Node.)
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { test } from "./_helpers.mjs";

const pkgFile = (name) => fileURLToPath(new URL(`../../../pkg/${name}`, import.meta.url));

// A child that imports `entry` and asks the core something only the wasm can answer.
function load(entry, { withoutGetBuiltinModule = false } = {}) {
  const code = `${withoutGetBuiltinModule ? "delete process.getBuiltinModule;" : ""}
    const { createRetryFetch, presets } = await import(${JSON.stringify(entry)});
    let refused = "";
    try { createRetryFetch({ maxAttempts: 0 }); } catch (e) { refused = e.message; }
    console.log(JSON.stringify({ had: typeof process.getBuiltinModule, refused, presets: Object.keys(presets).length }));`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ["--input-type=module", "-e", code], { timeout: 15000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(JSON.parse(stdout)));
  });
}

test("node.js loads with process.getBuiltinModule, node-legacy.js without it", async () => {
  const [modern, legacy] = await Promise.all([
    load(pkgFile("node.js")),
    load(pkgFile("node-legacy.js"), { withoutGetBuiltinModule: true }),
  ]);
  assert.equal(legacy.had, "undefined", "the legacy child ran without process.getBuiltinModule");
  for (const run of [modern, legacy]) {
    assert.match(run.refused, /"maxAttempts"/, "the core checked the options");
    assert.ok(run.presets >= 7);
  }
});
