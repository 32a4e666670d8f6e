// The Node entry loads its wasm through process.getBuiltinModule where Node has it (20.16,
// 22.3 and later) and through createRequire before that (Node 18): both ways must give a
// working module. The older way is made by deleting process.getBuiltinModule in a child.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { test } from "./_helpers.mjs";

const entry = fileURLToPath(new URL("../../../pkg/node.js", import.meta.url));

// A child that imports the entry and asks the core something only the wasm can answer.
function load(withoutGetBuiltinModule) {
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

test("the Node entry loads its module with process.getBuiltinModule and without it", async () => {
  const [modern, older] = await Promise.all([load(false), load(true)]);
  assert.equal(older.had, "undefined", "the child ran without process.getBuiltinModule");
  for (const run of [modern, older]) {
    assert.match(run.refused, /"maxAttempts"/, "the core checked the options");
    assert.ok(run.presets >= 7);
  }
});
