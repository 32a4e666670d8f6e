// Shared by the interop suite (not a test file itself): real rate-limited servers on
// 127.0.0.1 (port 0) built with the ecosystem's middleware, a server-side log of every request,
// and a bounded run of retryFetch calls against them. Each server has a fresh limiter.
import assert from "node:assert/strict";
import http from "node:http";
import { performance } from "node:perf_hooks";
import express from "express";
import { rateLimit } from "express-rate-limit";
import Fastify from "fastify";
import fastifyRateLimit from "@fastify/rate-limit";
import { Hono } from "hono";
import { rateLimiter as honoRateLimiter } from "hono-rate-limiter";
import { serve as honoServe } from "@hono/node-server";
import { createRetryFetch } from "../../../pkg/node.js";

export { assert };

// Each request as the server saw it: arrival (performance.now), then, once answered, its
// status, response headers (lower-case names) and the wall clock at that moment.
function newLog() {
  const entries = [];
  return {
    entries,
    arrive() {
      const entry = { t: performance.now(), status: 0, headers: {}, wall: 0 };
      entries.push(entry);
      return entry;
    },
    answered(entry, status, headers) {
      entry.status = status;
      entry.headers = headers;
      entry.wall = Date.now();
    },
  };
}

function lowerCased(headers) {
  const out = {};
  for (const [name, value] of Object.entries(headers)) {
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : String(value);
  }
  return out;
}

function closeNodeServer(server) {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

function listening(server) {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.once("listening", () => resolve(server.address().port));
  });
}

// express 5 with one or more express-rate-limit middlewares in series (each the options of
// one `rateLimit()`); `stripRetryAfter` answers 429 without the Retry-After it would set.
export async function expressServer({ limiters, stripRetryAfter = false }) {
  const log = newLog();
  const app = express();
  app.use((req, res, next) => {
    const entry = log.arrive();
    res.on("finish", () => log.answered(entry, res.statusCode, lowerCased(res.getHeaders())));
    next();
  });
  for (const options of limiters) {
    const handler = stripRetryAfter
      ? (req, res, next, used) => {
          res.removeHeader("Retry-After");
          res.status(used.statusCode).send(used.message);
        }
      : undefined;
    app.use(rateLimit({ ...options, ...(handler ? { handler } : {}) }));
  }
  app.get("/", (req, res) => res.send("ok"));
  const server = http.createServer(app).listen(0, "127.0.0.1");
  const port = await listening(server);
  return { url: `http://127.0.0.1:${port}/`, log: log.entries, close: () => closeNodeServer(server) };
}

// fastify 5 with @fastify/rate-limit (its own options, e.g. addHeaders, enableDraftSpec).
export async function fastifyServer(options) {
  const log = newLog();
  const app = Fastify({ logger: false });
  app.addHook("onRequest", async (req) => {
    req.logEntry = log.arrive();
  });
  app.addHook("onResponse", async (req, reply) => {
    log.answered(req.logEntry, reply.statusCode, lowerCased(reply.getHeaders()));
  });
  await app.register(fastifyRateLimit, options);
  app.get("/", async () => "ok");
  await app.listen({ port: 0, host: "127.0.0.1" });
  return { url: `http://127.0.0.1:${app.server.address().port}/`, log: log.entries, close: () => app.close() };
}

// hono 4 with hono-rate-limiter, served by @hono/node-server.
export async function honoServer({ stripRetryAfter = false, ...options }) {
  const log = newLog();
  const app = new Hono();
  app.use(async (c, next) => {
    const entry = log.arrive();
    await next();
    log.answered(entry, c.res.status, Object.fromEntries(c.res.headers));
  });
  const handler = (c, next, used) => {
    if (stripRetryAfter) c.header("Retry-After", undefined);
    c.status(used.statusCode);
    return c.text(used.message);
  };
  app.use(honoRateLimiter({ keyGenerator: () => "one-client", handler, ...options }));
  app.get("/", (c) => c.text("ok"));
  const server = honoServe({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
  const port = server.listening ? server.address().port : await listening(server);
  return { url: `http://127.0.0.1:${port}/`, log: log.entries, close: () => closeNodeServer(server) };
}

// A plain node:http endpoint: `respond(n)` gives the nth request's [status, headers].
export async function handWrittenServer(respond) {
  const log = newLog();
  const server = http.createServer((req, res) => {
    const entry = log.arrive();
    const [status, headers] = respond(log.entries.length - 1);
    res.writeHead(status, headers);
    res.end(status === 200 ? "ok" : "slow down");
    log.answered(entry, status, lowerCased(headers));
  });
  server.listen(0, "127.0.0.1");
  const port = await listening(server);
  return { url: `http://127.0.0.1:${port}/`, log: log.entries, close: () => closeNodeServer(server) };
}

// The client of every interop test: no breaker or budget in the way, the server's wait taken
// as asked (retryAfterJitter 0), a fast fixed backoff (so a header that is not read shows up
// as extra 429s), asks above 5 s refused (so a wrong, long wait fails fast), each call bounded.
export const CLIENT = Object.freeze({
  breaker: false,
  budget: false,
  maxAttempts: 4,
  baseDelayMs: 50,
  multiplier: 1,
  jitter: "none",
  retryAfterJitter: 0,
  maxRetryAfterMs: 5000,
  timeoutMs: 8000,
});

// `calls` retryFetch calls one after another (bounded: at most CLIENT.maxAttempts attempts and
// CLIENT.timeoutMs each). Returns each call's status, the waits it made and its duration.
export async function fireSequence(url, calls, options = {}) {
  const rf = createRetryFetch({ ...CLIENT, ...options });
  const results = [];
  for (let i = 0; i < calls; i++) {
    const delays = [];
    const t0 = performance.now();
    const res = await rf(url, { retry: { onRetry: (ev) => delays.push(ev.delayMs) } });
    await res.text();
    results.push({ status: res.status, delays, ms: performance.now() - t0 });
  }
  return results;
}

// Runs `calls` calls against a server of limit 1 per window and checks, server-side: exactly
// `expect429` 429s; each call ends 200; every 429 is followed by one wait, which is what
// `asked(entry)` reads from that 429 (within `tolerance` ms), and the next request arrives no
// earlier than that. Returns the results and the log for further checks.
export async function assertHonoured(srv, { calls = 3, expect429 = calls - 1, asked, tolerance = 0, options }) {
  try {
    const results = await fireSequence(srv.url, calls, options);
    const log = srv.log;
    const statuses = log.map((e) => e.status);
    const sent429 = statuses.filter((s) => s === 429).length;
    assert.equal(sent429, expect429, `429s sent by the server (statuses ${statuses.join(" ")})`);
    assert.deepEqual(
      results.map((r) => r.status),
      Array(calls).fill(200),
      `every call resolves 200 (statuses seen by the server: ${statuses.join(" ")})`,
    );
    const waits = results.flatMap((r) => r.delays);
    assert.equal(waits.length, sent429, `one wait per 429 (${JSON.stringify(waits)})`);
    let k = 0;
    log.forEach((entry, i) => {
      if (entry.status !== 429) return;
      const want = asked(entry);
      assert.ok(Number.isFinite(want) && want >= 0, `the 429 asks for a wait: ${JSON.stringify(entry.headers)}`);
      const waited = waits[k++];
      assert.ok(
        Math.abs(waited - want) <= tolerance,
        `wait ${waited} ms is what the 429 asked, ${want} ms (± ${tolerance}); headers ${JSON.stringify(entry.headers)}`,
      );
      const next = log[i + 1];
      assert.ok(next, "the 429 is followed by a retry");
      assert.ok(next.t - entry.t >= want - 20, `the retry came ${(next.t - entry.t).toFixed(0)} ms later, asked ${want}`);
    });
    return { results, log };
  } finally {
    await srv.close();
  }
}

// Readers of what a 429 asked for, in ms.
export const seconds = (name) => (entry) => Number(entry.headers[name]) * 1000;
export const param = (name, key) => (entry) => {
  const match = new RegExp(`(?:^|[;,\\s])${key}=(\\d+)`).exec(entry.headers[name] ?? "");
  return match ? Number(match[1]) * 1000 : NaN;
};
export const epochSeconds = (name) => (entry) => Math.max(0, Number(entry.headers[name]) * 1000 - entry.wall);

// Headers a 429 must (or must not) carry, so each case tests the form it names.
export function assertForm(log, { has = [], lacks = [] }) {
  const first = log.find((e) => e.status === 429);
  assert.ok(first, "the server sent a 429");
  for (const name of has) assert.ok(name in first.headers, `the 429 carries ${name}: ${JSON.stringify(first.headers)}`);
  for (const name of lacks) assert.ok(!(name in first.headers), `the 429 has no ${name}: ${JSON.stringify(first.headers)}`);
}
