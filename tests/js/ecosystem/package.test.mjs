// The package as the registry and its users see it: `npm pack` holds exactly the files the
// entries reach (following every relative import from each `exports` entry), the types, the
// manifest, README, CHANGELOG and both licences, nothing else; the manifest has what a
// registry page needs and no placeholder addresses; `npm publish --dry-run` in pkg/ is clean.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { ROOT, PKG, run, offlineEnv, reachableFiles } from "../runtimes.mjs";
import { useConsumerProject } from "./_helpers.mjs";

const project = useConsumerProject({ name: "package", server: false });
const DOCS = ["package.json", "README.md", "CHANGELOG.md", "LICENSE-MIT", "LICENSE-APACHE"];
const manifest = () => JSON.parse(fs.readFileSync(path.join(project.installed, "package.json"), "utf8"));

test("the tarball holds exactly the files the entries reach, the types and the docs", () => {
  const packedFiles = project.packed.files.map((f) => f.path).sort();
  const reached = reachableFiles(project.installed);
  assert.ok(reached.has("index.d.ts"), "types reached from `types`");
  for (const entry of ["browser.js", "node.js", "workerd.js", "edge_retry_bg.wasm"]) {
    assert.ok(reached.has(entry), `${entry} is reached from an entry`);
  }
  assert.deepEqual(packedFiles, [...new Set([...reached, ...DOCS])].sort(), "packed files vs reached files and docs");
  assert.ok(!fs.lstatSync(project.installed).isSymbolicLink(), "installed from the tarball, not linked");
});

test("licences: both texts are shipped, as in the repository, and every manifest says MIT OR Apache-2.0", () => {
  for (const file of ["LICENSE-MIT", "LICENSE-APACHE"]) {
    assert.equal(fs.readFileSync(path.join(project.installed, file), "utf8"), fs.readFileSync(path.join(ROOT, file), "utf8"), file);
  }
  assert.match(fs.readFileSync(path.join(ROOT, "LICENSE-MIT"), "utf8"), /^MIT License\n/);
  assert.match(fs.readFileSync(path.join(ROOT, "LICENSE-APACHE"), "utf8"), /Apache License\s+Version 2\.0, January 2004/);
  assert.equal(manifest().license, "MIT OR Apache-2.0");
  assert.match(fs.readFileSync(path.join(ROOT, "Cargo.toml"), "utf8"), /^license = "MIT OR Apache-2\.0"$/m);
});

test("the manifest: what a registry page shows, no placeholder address, side effects declared", () => {
  const m = manifest();
  const cargo = fs.readFileSync(path.join(ROOT, "Cargo.toml"), "utf8");
  assert.equal(m.name, "edge-retry");
  assert.equal(m.version, cargo.match(/^version = "([^"]+)"$/m)[1], "same version as the crate");
  assert.ok(m.description && m.description.length > 40);
  assert.ok(Array.isArray(m.keywords) && m.keywords.includes("fetch") && m.keywords.includes("retry"));
  assert.equal(m.type, "module");
  assert.equal(m.types, "./index.d.ts");
  assert.equal(m.exports["."].types, "./index.d.ts", "types first, for TypeScript's resolution");
  assert.ok(m.engines && m.engines.node);
  assert.deepEqual(Object.keys(m.dependencies || {}), [], "no runtime dependencies");
  // No invented addresses: repository, homepage and bugs only when real (none yet).
  for (const text of [JSON.stringify(m), cargo]) assert.doesNotMatch(text, /example\.(invalid|com|org)|\.invalid\b/);
  // sideEffects lists exactly the modules that run something when imported: the entries
  // (each bundles its loader, which instantiates the wasm). A bundler may drop any other
  // module whose exports are unused.
  // (edge-retry/fleet's entry instantiates the fleet's own wasm module.)
  assert.deepEqual([...m.sideEffects].sort(), ["./browser.js", "./fleet.js", "./node-legacy.js", "./node.js", "./workerd.js"]);
});

test("CHANGELOG.md names the packaged version", () => {
  const changelog = fs.readFileSync(path.join(project.installed, "CHANGELOG.md"), "utf8");
  assert.match(changelog, new RegExp(`^## ${manifest().version.replace(/\./g, "\\.")}\\b`, "m"));
});

test("npm publish --dry-run in pkg/ is clean (and cannot publish: the registry is a closed local port)", { timeout: 60000 }, async () => {
  // A placeholder token for that registry, so the dry run does not warn about logging in.
  const npmrc = path.join(project.dir, "publish.npmrc");
  fs.writeFileSync(npmrc, "//127.0.0.1:9/:_authToken=dry-run-placeholder\n");
  const env = { ...offlineEnv(project.dir), npm_config_registry: "http://127.0.0.1:9/", npm_config_userconfig: npmrc };
  const { stdout, stderr } = await run("npm", ["publish", "--dry-run", "--json"], { cwd: PKG, env, timeout: 30000 });
  assert.doesNotMatch(stderr, /npm (warn|error)/i, stderr);
  const report = JSON.parse(stdout)["edge-retry"]; // npm 11: the report keyed by package name
  assert.equal(report.name, "edge-retry");
  assert.deepEqual(report.files.map((f) => f.path).sort(), project.packed.files.map((f) => f.path).sort());
});
