// Shared by the ecosystem suite (not a test file itself: node --test only runs *.test.mjs).
// Each test file installs the packed tarball once into a fresh project (packAndInstall) and
// copies the fixtures it needs into it; the consumers (Deno, Bun, pages built by each bundler)
// run fixtures/core.mjs against the fault server, scripted and checked here.
import { before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startFaultServer } from "../fault-server.mjs";
import { ROOT, tempDir, packAndInstall, uniquePath } from "../runtimes.mjs";

export const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures");
export const BIN = path.join(ROOT, "node_modules", ".bin");

// before/after hooks for a file: a temp dir, the tarball installed into `project.app`, and
// (unless `server: false`) a fault server serving `project.www` as static files. The object
// is filled in by the before hook (which does nothing when `enabled` is false).
export function useConsumerProject({ name, server = true, fixtures = [], enabled = true }) {
  const project = {};
  before(async () => {
    if (!enabled) return;
    project.tmp = tempDir(`ecosystem-${name}`);
    project.dir = project.tmp.dir;
    Object.assign(project, await packAndInstall(project.dir));
    for (const file of fixtures) fs.copyFileSync(path.join(FIXTURES, file), path.join(project.app, file));
    project.www = path.join(project.dir, "www");
    fs.mkdirSync(project.www);
    if (server) project.srv = await startFaultServer({ staticDir: project.www });
  });
  after(async () => {
    if (project.srv) await project.srv.close();
    if (project.tmp) project.tmp.remove();
  });
  return project;
}

// Every file under `dir`, as paths relative to it (posix separators), sorted.
export function listFiles(dir, prefix = "") {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...listFiles(path.join(dir, entry.name), rel));
    else out.push(rel);
  }
  return out.sort();
}

// Scripts the fault server for one run of fixtures/core.mjs; returns the base URL to give it.
export function scriptCore(srv, name) {
  const prefix = uniquePath(name);
  const steps = {
    "/retry": [{ status: 503 }, { status: 502 }, { status: 200, body: "retried" }],
    "/reset": [{ reset: true }],
    "/slow": [{ delayMs: 3000, body: "too late" }, { body: "in time" }],
    "/retry-after": [{ status: 503, retryAfter: "1" }, { body: "after" }],
    "/no-retry": [{ status: 503 }],
    "/down": [{ status: 500 }],
    "/hang": [{ hang: true }],
    "/abort-wait": [{ status: 503 }],
  };
  for (const [p, s] of Object.entries(steps)) srv.script(prefix + p, s);
  return { base: srv.url(prefix), prefix };
}

// Checks a report of fixtures/core.mjs against the SPEC and the server's record of `prefix`.
export function checkCore(report, srv, prefix) {
  const seen = (p) => srv.requests(prefix + p).length;
  const ctx = JSON.stringify(report);
  assert.deepEqual(report.presets, ["apiGateway", "awsStandard", "database", "fileUpload", "messageQueue", "mlTraining", "videoProcessing"]);
  assert.deepEqual(report.types, ["function", "function", "function"]);

  // Retried a 503 and a 502, then resolved with the 200.
  assert.equal(report.retry.status, 200, ctx);
  assert.equal(report.retry.body, "retried");
  assert.deepEqual(report.retry.events.map((e) => e.slice(0, 3)), [[1, "status", 503], [2, "status", 502]]);
  assert.equal(seen("/retry"), 3);

  // A network error was retried; the last one rejects the call. (The server may see more
  // requests than attempts: runtimes resend on their own a request whose reused connection
  // was reset.)
  assert.deepEqual(report.network.events.map((e) => e.slice(0, 3)), [[1, "network", null]], ctx);
  assert.ok(report.network.error && !report.network.isReason, ctx);
  assert.ok(seen("/reset") >= 2);

  // The attempt cut by its timeout was retried.
  assert.equal(report.attemptTimeout.body, "in time", ctx);
  assert.deepEqual(report.attemptTimeout.events.map((e) => e.slice(0, 2)), [[1, "timeout"]]);
  assert.equal(seen("/slow"), 2);

  // Retry-After: 1 waited a second (not the 10 ms backoff) and counted as such.
  assert.equal(report.retryAfter.body, "after", ctx);
  assert.deepEqual(report.retryAfter.events, [[1, "status", 503, 1000]]);
  assert.ok(report.retryAfter.elapsedMs >= 990, `waited ${report.retryAfter.elapsedMs} ms`);
  assert.equal(report.retryAfterStats.retryAfterWaits, 1);
  const [first, second] = srv.requests(prefix + "/retry-after");
  assert.ok(second.t - first.t >= 990, `the server saw the retry ${second.t - first.t} ms later`);

  // retry: false: one attempt, the 503 resolves.
  assert.equal(report.noRetry.status, 503, ctx);
  assert.equal(seen("/no-retry"), 1);

  // The breaker opened after two 500s and refused the third call without a request.
  assert.deepEqual(report.breakerCalls.map((c) => c.status), [500, 500], ctx);
  assert.equal(report.breakerRefused.error.name, "CircuitOpenError", ctx);
  assert.equal(report.breakerRefused.error.isCircuitOpenError, true);
  assert.equal(report.breakerRefused.error.key, new URL(srv.origin).origin);
  assert.ok(report.breakerRefused.error.retryAfterMs > 0);
  assert.equal(report.breakerState, "open");
  assert.equal(seen("/down"), 2);

  // Aborts reject with the caller's reason, at once, and nothing is sent afterwards.
  for (const [key, p] of [["abortAttempt", "/hang"], ["abortWait", "/abort-wait"]]) {
    assert.equal(report[key].isReason, true, `${key}: ${ctx}`);
    assert.ok(report[key].elapsedMs < 1000, `${key} settled ${report[key].elapsedMs} ms after the call`);
    assert.equal(seen(p), 1, key);
  }
}
