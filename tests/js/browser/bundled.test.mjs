// Headless Chromium: the page loads an esbuild bundle of a module that imports "edge-retry"
// by name (platform browser, so the package's `browser` export condition: the wasm is
// inlined, nothing else to serve).
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { esbuildBrowser, inlinedWasmMarker, linkPackage } from "../runtimes.mjs";
import { defineBrowserSuite } from "./_suite.mjs";

const fixtures = fileURLToPath(new URL("./fixtures/", import.meta.url));

defineBrowserSuite(async (dir) => {
  const project = path.join(dir, "project");
  fs.mkdirSync(project);
  fs.copyFileSync(path.join(fixtures, "entry.mjs"), path.join(project, "entry.mjs"));
  linkPackage(project);
  const outfile = path.join(dir, "bundle.js");
  await esbuildBrowser(path.join(project, "entry.mjs"), outfile, { metafile: true, write: true });
  const code = fs.readFileSync(outfile, "utf8");
  assert.ok(code.includes(await inlinedWasmMarker()), "the browser entry (inlined wasm) was bundled");
  assert.ok(!/import\s[^;]*\.wasm/.test(code), "no .wasm import is left in the bundle");
  fs.rmSync(project, { recursive: true });
  fs.copyFileSync(path.join(fixtures, "bundled.html"), path.join(dir, "bundled.html"));
  return "/bundled.html";
});
