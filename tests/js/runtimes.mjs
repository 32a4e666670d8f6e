// Shared by the workerd, browser and package suites (not a test file: node --test only runs
// *.test.mjs). Runs the built package the way its users do: bundled by wrangler (the `workerd`
// export condition) or esbuild, in workerd through Miniflare's JS API, and in Debian's
// Chromium through playwright-core. Everything stays on 127.0.0.1; nothing here may reach the
// network (wrangler's metrics, error reports and update check are turned off) and nothing
// downloads a browser.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFile } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Miniflare } from "miniflare";
import * as esbuild from "esbuild";
import { chromium } from "playwright-core";
import { before, after } from "node:test";
import { startFaultServer } from "./fault-server.mjs";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const PKG = path.join(ROOT, "pkg");
export const WRANGLER = path.join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
export const CHROMIUM = "/usr/bin/chromium";

// The start of the module's inlined copy (deflated, base64) as the built package has it: in a
// bundle of the browser entry and in no other. (The entries ship minified, so no identifier
// can be looked for.)
export async function inlinedWasmMarker(pkg = PKG) {
  const inline = await import(pathToFileURL(path.join(pkg, "wasm-inline.js")).href);
  return inline.wasmDeflated.slice(0, 32);
}
export const COMPAT_DATE = "2025-10-01";

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Polls `pred` every 20 ms for at most `timeoutMs`; returns whether it became true.
export async function until(pred, timeoutMs = 3000) {
  const end = Date.now() + timeoutMs;
  for (let i = 0; i < 100000 && Date.now() < end; i++) {
    if (await pred()) return true;
    await sleep(20);
  }
  return Boolean(await pred());
}

let counter = 0;
export const uniquePath = (name = "p") => `/${name}-${++counter}-${Math.random().toString(36).slice(2, 8)}`;

// A fresh temp dir, removed by the returned function.
export function tempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `edge-retry-${prefix}-`));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

// Runs a program; rejects with its output on a non-zero exit.
export function run(file, args, options = {}) {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 60000, maxBuffer: 16 << 20, ...options }, (error, stdout, stderr) => {
      if (error) {
        error.message += `\n--- stdout\n${stdout}\n--- stderr\n${stderr}`;
        reject(error);
      } else resolve({ stdout, stderr });
    });
  });
}

// npm and wrangler never reach the network from the tests.
export function offlineEnv(tmp) {
  return {
    ...process.env,
    WRANGLER_SEND_METRICS: "false",
    WRANGLER_SEND_ERROR_REPORTS: "false",
    WRANGLER_HIDE_BANNER: "true", // the banner's update check asks the npm registry
    WRANGLER_LOG_PATH: path.join(tmp, "wrangler-logs"),
    CI: "true",
    NO_COLOR: "1",
    FORCE_COLOR: "0",
    npm_config_offline: "true",
    npm_config_audit: "false",
    npm_config_fund: "false",
    npm_config_update_notifier: "false",
    npm_config_cache: path.join(tmp, "npm-cache"),
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: "1",
  };
}

// Makes `projectDir/node_modules/edge-retry` a symlink to the built package (as `npm link`).
export function linkPackage(projectDir, target = PKG) {
  const modules = path.join(projectDir, "node_modules");
  fs.mkdirSync(modules, { recursive: true });
  const link = path.join(modules, "edge-retry");
  fs.rmSync(link, { recursive: true, force: true });
  fs.symlinkSync(target, link, "dir");
}

// `wrangler deploy --dry-run --outdir` in projectDir (which has a wrangler.toml); returns the
// emitted files.
export async function wranglerBundle(projectDir, outdir, tmp) {
  await run(process.execPath, [WRANGLER, "deploy", "--dry-run", "--outdir", outdir], {
    cwd: projectDir,
    env: offlineEnv(tmp),
  });
  return fs.readdirSync(outdir);
}

// esbuild as a Workers user without wrangler would call it: ESM out, the workerd condition,
// the .wasm copied beside the bundle and imported from it (workerd compiles it).
export async function esbuildWorker(entry, outdir, extra = {}) {
  await esbuild.build({
    entryPoints: [entry],
    outdir,
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    loader: { ".wasm": "copy" },
    logLevel: "silent",
    ...extra,
  });
  return fs.readdirSync(outdir);
}

// esbuild for a page: platform browser (so the `browser` condition), one ESM file. Returns
// esbuild's result (its `warnings` among others).
export async function esbuildBrowser(entry, outfile, extra = {}) {
  return esbuild.build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    logLevel: "silent",
    ...extra,
  });
}

// A module worker in workerd. `modulesRoot` must contain every module; paths stay relative.
// `extra`: more Miniflare options (e.g. inspectorPort, handleRuntimeStdio).
export async function startMiniflare({ scriptPath, modulesRoot, bindings = {}, compatibilityDate = COMPAT_DATE, extra = {} }) {
  const mf = new Miniflare({
    ...extra,
    modules: true,
    scriptPath,
    modulesRoot: modulesRoot || path.dirname(scriptPath),
    modulesRules: [
      { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
    compatibilityDate,
    bindings,
    // No request.cf object fetched from workers.cloudflare.com: Miniflare's placeholder.
    cf: false,
  });
  await mf.ready;
  return mf;
}

// Posts a call spec to the harness worker (fixtures/harness-worker.mjs) and returns its report.
export async function harnessCall(mf, spec, { body, method = "POST" } = {}) {
  const res = await mf.dispatchFetch(`http://harness.local/call?spec=${encodeURIComponent(JSON.stringify(spec))}`, {
    method,
    body,
    ...(body && typeof body !== "string" ? { duplex: "half" } : {}),
  });
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`harness answered ${res.status}: ${text.slice(0, 500)}`);
  }
}

export async function harnessGet(mf, what, params = {}) {
  const q = new URLSearchParams(params).toString();
  const res = await mf.dispatchFetch(`http://harness.local/${what}?${q}`);
  return res.json();
}

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
  // Nothing but loopback: every other host name fails inside Chromium without a DNS lookup
  // (Debian's launcher sets Google API keys, so sign-in and updater lookups would be tried).
  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
];

// Debian's Chromium, headless, with a fresh profile. Never downloads a browser.
export async function launchChromium() {
  const profile = tempDir("chromium-profile");
  const context = await chromium.launchPersistentContext(profile.dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 30000,
  });
  const errors = [];
  return {
    context,
    errors,
    async newPage(url) {
      const page = await context.newPage();
      page.on("pageerror", (e) => errors.push(String(e && e.stack ? e.stack : e)));
      if (url) await page.goto(url, { waitUntil: "load", timeout: 15000 });
      return page;
    },
    async close() {
      try {
        await context.close();
      } finally {
        profile.remove();
      }
    },
  };
}

// `npm pack` the built package into `dir` and install the tarball, offline, into a fresh
// project `dir/app` (the package has no dependencies). Returns npm pack's report of the
// tarball, its path and the project's path.
export async function packAndInstall(dir, { pkg = PKG, projectName = "app" } = {}) {
  const env = offlineEnv(dir);
  const { stdout } = await run("npm", ["pack", pkg, "--pack-destination", dir, "--json"], { env, cwd: dir });
  const packed = JSON.parse(stdout)[0];
  const tarball = path.join(dir, packed.filename);
  const app = path.join(dir, projectName);
  fs.mkdirSync(app, { recursive: true });
  fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: projectName, private: true, type: "module", version: "1.0.0" }, null, 2));
  await run("npm", ["install", "--offline", "--no-audit", "--no-fund", tarball], { env, cwd: app });
  return { packed, tarball, app, installed: path.join(app, "node_modules", "edge-retry") };
}

// Every file of an installed package reached from its `exports` entries by following relative
// imports (static, side-effect, dynamic, re-exports, `new URL("./x", import.meta.url)`), each
// as a path inside the package. Throws if an imported file is missing.
const RELATIVE_IMPORT =
  /(?:import|export)\b[^;]*?from\s*["'](\.[^"']+)["']|import\s*\(?\s*["'](\.[^"']+)["']|new URL\(\s*["'](\.[^"']+)["']/g;
export function reachableFiles(packageDir) {
  const manifest = JSON.parse(fs.readFileSync(path.join(packageDir, "package.json"), "utf8"));
  const entries = [];
  const collect = (value) => {
    if (typeof value === "string") entries.push(value);
    else if (value && typeof value === "object") Object.values(value).forEach(collect);
  };
  collect(manifest.exports);
  for (const field of ["main", "module", "types", "browser"]) collect(manifest[field]);
  const seen = new Set();
  const visit = (rel) => {
    const name = path.posix.normalize(rel).replace(/^\.\//, "");
    if (seen.has(name)) return;
    if (!fs.existsSync(path.join(packageDir, name))) throw new Error(`${name} is referenced but not in the package`);
    seen.add(name);
    if (!/\.(m?js|d\.ts)$/.test(name)) return;
    const code = fs.readFileSync(path.join(packageDir, name), "utf8");
    for (const m of code.matchAll(RELATIVE_IMPORT)) visit(path.posix.join(path.posix.dirname(name), m[1] || m[2] || m[3]));
  };
  for (const entry of entries) visit(entry);
  return seen;
}

// What stands for an object made in a before hook: reads go to it once it exists.
function forward(get) {
  return new Proxy({}, {
    get(_, name) {
      const target = get();
      const value = target[name];
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

// One fault server and one Worker (`script`, a path from the repository root) in Miniflare for
// a test file: started before its tests, closed after.
export function useWorkerAndFaultServer(script) {
  let server = null;
  let worker = null;
  before(async () => {
    server = await startFaultServer();
    worker = await startMiniflare({ scriptPath: path.join(ROOT, ...script.split("/")), modulesRoot: ROOT });
  });
  after(async () => {
    if (worker) await worker.dispose();
    if (server) await server.close();
  });
  return { srv: forward(() => server), mf: forward(() => worker) };
}
