// Pages built from the installed tarball by Vite, webpack, Rollup and esbuild, as their users
// build them (the `browser` export condition, no wasm setting), each loaded in headless
// Chromium from the fault server, where it runs the core behaviours (fixtures/core.mjs).
// Every file a bundler emits must be loaded by the page: nothing shipped that is never used
// (a bundler that turns wasm-bindgen's default `new URL("…_bg.wasm", import.meta.url)` into
// an asset would emit the 60 KB .wasm next to the inlined copy).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { build as viteBuild } from "vite";
import webpack from "webpack";
import { rollup } from "rollup";
import { nodeResolve } from "@rollup/plugin-node-resolve";
import { pathToFileURL } from "node:url";
import { esbuildBrowser, launchChromium, PKG } from "../runtimes.mjs";
import { useConsumerProject, listFiles, scriptCore, checkCore } from "./_helpers.mjs";

const project = useConsumerProject({ name: "bundlers", fixtures: ["core.mjs", "page.js"] });
let chromium;
before(async () => {
  chromium = await launchChromium();
});
after(async () => {
  if (chromium) await chromium.close();
});

const html = (src) => `<!doctype html><meta charset="utf-8"><title>loading</title><script type="module" src="${src}"></script>\n`;
// The start of the inlined (deflated, base64) module, as the built package has it.
const WASM_BASE64_START = (await import(pathToFileURL(path.join(PKG, "wasm-inline.js")).href)).wasmDeflated.slice(0, 32);

// The size guard (issue 8): every file a minifying bundler emits for a page that imports the
// package, gzip -9, may not exceed this. The goal is 16 KB; the bound sits just above what
// ships today (Vite 33.8 KB, webpack 33.3, esbuild 33.8) so that size cannot creep
// back while the work goes on, and comes down with each cut. (Rollup's build here does not
// minify, so it is not held to it.) Lowered from 38 KiB when the browser module's exports went
// from 36 to 18 and three std calls whose panics linked from_utf8, memchr and a formatted
// index message left (pages 38.2 -> 36.5 KB; 36.8 with the kept key place). Lowered to 35 KiB
// when the browser module went from 53.0 to 50.5 KB (pages 36.8 -> 35.4 KB), to 34 KiB at
// 49.1 KB (options read from their bytes in place: pages 34.6 KB), to 33 KiB when the inlined
// copy was deflated by zopfli (pages 34.3 -> 33.2 KB). Raised to 34 KiB by the per-call
// work of the same day: kept-options.js, sendPlain and the direct option reads in driver.js
// took a call 0.68 -> 0.40 us over a stub (bench/per-call-lean.mjs) for about 0.8 KB of JS
// (pages 33.0 -> 33.8 KB). Held at 34 KiB through leases (34.4 KB) and their later cut of
// the workerd cost, leased-records.js (Vite 34.41 -> 34.64 KB, esbuild 34.77: the inflater's
// tables computed rather than written out paid for part of it).
const SHIPPED_GZIP_BUDGET = { vite: 34 * 1024, webpack: 34 * 1024, esbuild: 34 * 1024 };

// Each builds fixtures/page.js into `outDir` (with an index.html that loads it) and returns
// the bundler's warnings.
const BUNDLERS = {
  async vite(app, outDir) {
    fs.writeFileSync(path.join(app, "index.html"), html("./page.js"));
    const warnings = [];
    const logger = {
      info() {},
      warn: (m) => warnings.push(m),
      warnOnce: (m) => warnings.push(m),
      error: (m) => warnings.push(m),
      clearScreen() {},
      hasErrorLogged: () => false,
      hasWarned: false,
    };
    await viteBuild({ root: app, base: "./", configFile: false, logLevel: "warn", customLogger: logger, build: { outDir, emptyOutDir: true } });
    return warnings;
  },
  async webpack(app, outDir) {
    const compiler = webpack({
      mode: "production",
      context: app,
      entry: "./page.js",
      output: { path: outDir, filename: "main.js" },
      target: "web",
      devtool: false,
      performance: { hints: false },
    });
    const stats = await new Promise((resolve, reject) => compiler.run((err, s) => (err ? reject(err) : resolve(s))));
    await new Promise((resolve) => compiler.close(resolve));
    const info = stats.toJson({ all: false, errors: true, warnings: true });
    assert.deepEqual(info.errors, []);
    fs.writeFileSync(path.join(outDir, "index.html"), html("./main.js"));
    return info.warnings.map((w) => w.message);
  },
  async rollup(app, outDir) {
    const warnings = [];
    const bundle = await rollup({
      input: path.join(app, "page.js"),
      plugins: [nodeResolve({ browser: true, exportConditions: ["browser"] })],
      onwarn: (w) => warnings.push(w.message),
    });
    await bundle.write({ dir: outDir, format: "es" });
    await bundle.close();
    fs.writeFileSync(path.join(outDir, "index.html"), html("./page.js"));
    return warnings;
  },
  async esbuild(app, outDir) {
    const { warnings } = await esbuildBrowser(path.join(app, "page.js"), path.join(outDir, "page.js"), { minify: true });
    fs.writeFileSync(path.join(outDir, "index.html"), html("./page.js"));
    return warnings.map((w) => w.text);
  },
};

for (const [name, bundle] of Object.entries(BUNDLERS)) {
  test(`${name}: the built page runs the core behaviours in Chromium and loads every file emitted`, { timeout: 90000 }, async (t) => {
    const { srv, app } = project;
    const outDir = path.join(project.www, name);
    const warnings = await bundle(app, outDir);
    assert.deepEqual(warnings, [], `${name} warned`);

    const emitted = listFiles(outDir);
    const sizes = emitted.map((f) => fs.readFileSync(path.join(outDir, f)));
    const bytes = sizes.reduce((n, b) => n + b.length, 0);
    const gzip = sizes.reduce((n, b) => n + zlib.gzipSync(b, { level: 9 }).length, 0);
    t.diagnostic(`${name} emitted ${emitted.join(", ")}: ${bytes} bytes, ${gzip} gzip`);
    if (SHIPPED_GZIP_BUDGET[name]) {
      assert.ok(gzip <= SHIPPED_GZIP_BUDGET[name], `${name} ships ${gzip} bytes gzipped, over the ${SHIPPED_GZIP_BUDGET[name]} allowed`);
    }
    assert.deepEqual(emitted.filter((f) => f.endsWith(".wasm")), [], "no .wasm file: the browser entry inlines it");
    const copies = sizes.reduce((n, b) => n + b.toString("latin1").split(WASM_BASE64_START).length - 1, 0);
    assert.equal(copies, 1, "the wasm module is inlined exactly once");

    const page = await chromium.newPage();
    try {
      await page.goto(srv.url(`/${name}/index.html`), { waitUntil: "load", timeout: 15000 });
      await page.waitForFunction(() => document.title === "ready" && typeof window.runCore === "function", null, { timeout: 10000 });
      const { base, prefix } = scriptCore(srv, name);
      const report = await page.evaluate((b) => window.runCore(b), base);
      checkCore(report, srv, prefix);
    } finally {
      await page.close();
    }
    assert.deepEqual(chromium.errors, []);

    // What the page loaded from the bundle's folder is exactly what the bundler emitted.
    const loaded = new Set(srv.requests().map((r) => r.path).filter((p) => p.startsWith(`/${name}/`)).map((p) => p.slice(name.length + 2)));
    assert.deepEqual([...loaded].sort(), emitted, `${name}: emitted vs loaded by the page`);
  });
}
