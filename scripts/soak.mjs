#!/usr/bin/env node
// The long workerd soak: `node scripts/soak.mjs --calls 100000` (needs pkg/: `make pkg`).
// 100,000 calls in one workerd isolate (Miniflare) through the fault server on 127.0.0.1,
// over 2,000 breaker keys, with 503s, 429s with Retry-After 0, resets and hangs cut by a 50 ms
// attempt timeout. Prints calls/s, settled count, max open connections and memory at 10%,
// 50% and 100%; exits non-zero when a call did not settle, a rejection went unhandled, or the
// wasm memory or the isolate's JS heap (after GC) grew after warm-up (every key used once). The test suite runs a short version
// (tests/js/soak/workerd-soak.test.mjs).
//
//   --calls N (100000)  --keys N (2000)  --concurrency N (64)  --batch N (2000)  --no-heap
//   --plain: a control run with plain fetch (same mix and attempt timeout, no package), to
//            tell workerd's own memory use from the package's
import { runSoak, formatFigures } from "../tests/js/soak/soak-runner.mjs";

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const n = Number(process.argv[i + 1]);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} wants a whole number >= 1`);
  return n;
}

const options = {
  calls: arg("calls", 100000),
  keys: arg("keys", 2000),
  concurrency: arg("concurrency", 64),
  batch: arg("batch", 2000),
  heap: !process.argv.includes("--no-heap"),
  plain: process.argv.includes("--plain"),
  log: (line) => console.log(line),
};
console.log(`soak: ${options.calls} calls, ${options.keys} keys, ${options.concurrency} at a time (workerd via Miniflare)`);
const f = await runSoak(options);
console.log(formatFigures(f));

const problems = [];
if (f.settled !== f.calls) problems.push(`${f.calls - f.settled} calls did not settle`);
if (f.unhandledRejections > 0 || f.runtimeUncaughtLines.length > 0) problems.push(`unhandled rejections: ${f.unhandledRejections} ${f.lastUnhandled || ""} ${f.runtimeUncaughtLines.slice(0, 3).join(" | ")}`);
// Warm-up: until every key has been used (the registry is full), or half the run.
const last = f.checkpoints[f.checkpoints.length - 1];
const warm = f.checkpoints.find((c) => c.calls >= 2 * f.keys && c !== last) || f.checkpoints.find((c) => c.pct === 50);
if (warm && last && last.wasmBytes > warm.wasmBytes) problems.push(`wasm memory grew after ${warm.pct}%: ${warm.wasmBytes} -> ${last.wasmBytes} bytes`);
if (warm && last && warm.heapUsed !== undefined && last.heapUsed !== undefined && last.heapUsed > warm.heapUsed + 2 * 1048576) {
  problems.push(`JS heap (after GC) grew after ${warm.pct}%: ${warm.heapUsed} -> ${last.heapUsed} bytes`);
}
if (f.stats && f.stats.calls !== f.calls) problems.push(`stats.calls ${f.stats.calls} != ${f.calls}`);
if (f.stats && f.stats.attempts !== f.fetches) problems.push(`stats.attempts ${f.stats.attempts} != fetch calls ${f.fetches}`);
if (problems.length) {
  console.error(`\nFAILED:\n- ${problems.join("\n- ")}`);
  process.exitCode = 1;
} else {
  console.log(`\nOK: every call settled, nothing unhandled, wasm memory and JS heap flat after warm-up (${warm ? warm.pct : "?"}%)`);
}
