// Shared by the bench/ scripts: the local server, statistics, and where the package is.
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
// The built package to measure (EDGE_RETRY_PKG lets a run measure a snapshot copy while
// someone else rebuilds pkg/).
export const PKG = resolve(ROOT, process.env.EDGE_RETRY_PKG || "pkg");

/** Starts bench/server.mjs in its own process; resolves { port, url, close }. */
export function startServer() {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, [resolve(ROOT, "bench/server.mjs")], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    let out = "";
    child.on("error", fail);
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const line = out.split("\n")[0];
      if (out.includes("\n")) {
        const { port } = JSON.parse(line);
        ok({
          port,
          url: `http://127.0.0.1:${port}/ok`,
          close: () => {
            child.stdin.end();
            child.kill();
          },
        });
      }
    });
  });
}

export const median = (xs) => quantile(xs, 0.5);

export function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const i = (s.length - 1) * q;
  const lo = Math.floor(i), hi = Math.ceil(i);
  return s[lo] + (s[hi] - s[lo]) * (i - lo);
}

export const load = () => loadavg().map((l) => l.toFixed(2)).join(" ");

export const args = process.argv.slice(2);
export const flag = (name) => args.includes(name);
export function option(name, fallback) {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}

export function version(pkg) {
  return JSON.parse(readFileSync(resolve(ROOT, "node_modules", pkg, "package.json"), "utf8")).version;
}

/** A markdown table from a header row and rows of cells. */
export function table(header, rows) {
  const line = (cells) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

/** Key figures of a full run, for scripts/bench.sh's summary (bench/summary.mjs). */
export function saveResult(name, data) {
  const dir = resolve(ROOT, "target/bench-results");
  mkdirSync(dir, { recursive: true });
  writeFileSync(resolve(dir, `${name}.json`), JSON.stringify(data, null, 1));
}

/**
 * The release wasm with its function names kept, as the twiggy breakdown and the profile
 * need: `cargo build --release --target wasm32-unknown-unknown`, `wasm-bindgen --keep-debug`,
 * `wasm-opt -Oz -g` (from node_modules/.bin). Returns { js, wasm } in `dir`.
 */
export function buildNamedWasm(dir, { optLevel } = {}) {
  const env = { ...process.env, CARGO_TARGET_DIR: resolve(ROOT, process.env.CARGO_TARGET_DIR || "target") };
  if (optLevel !== undefined) {
    // Another level than Cargo.toml's (Node's module, see scripts/build-pkg.sh), in a target
    // directory of its own so as not to invalidate the other build's.
    env.CARGO_PROFILE_RELEASE_OPT_LEVEL = String(optLevel);
    env.CARGO_TARGET_DIR = resolve(ROOT, "target/wasm-speed");
  }
  env.PATH = `${resolve(ROOT, "node_modules/.bin")}:${process.env.HOME}/.cargo/bin:${env.PATH}`;
  const sh = (cmd, args) => execFileSync(cmd, args, { cwd: ROOT, env, encoding: "utf8", maxBuffer: 1 << 28, stdio: ["ignore", "pipe", "pipe"] });
  sh("cargo", ["build", "--quiet", "--release", "--lib", "--target", "wasm32-unknown-unknown"]);
  const raw = resolve(env.CARGO_TARGET_DIR, "wasm32-unknown-unknown/release/edge_retry.wasm");
  sh("wasm-bindgen", ["--target", "web", "--keep-debug", "--out-dir", dir, "--out-name", "named", raw]);
  const wasm = resolve(dir, "named.opt.wasm");
  sh("wasm-opt", ["-Oz", "-g", "--enable-bulk-memory", "--enable-nontrapping-float-to-int", resolve(dir, "named_bg.wasm"), "-o", wasm]);
  return { js: resolve(dir, "named.js"), wasm, sh };
}
