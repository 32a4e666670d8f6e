// A fault-injecting HTTP server on 127.0.0.1 for the real-network tests of edge-retry.
//
//   const srv = await startFaultServer({ staticDir });   // random free port
//   srv.script("/x", [{ status: 503, retryAfter: "1" }, { status: 200, body: "ok" }]);
//   await retryFetch(srv.url("/x"));
//   srv.requests("/x")   // what arrived: method, url, path, headers, body (Buffer), times
//   srv.reset(); await srv.close();
//
// A script is a list of steps, one consumed per request to that path (the last one repeats):
//   { status = 200, headers = {}, body = "ok" | bodyBytes: n, delayMs, hang: true,
//     reset: true, slowBodyMs, chunkBytes, retryAfter }
// - delayMs: wait this long (after the request body has arrived) before answering.
// - hang: never answer (the socket is destroyed on close()).
// - reset: destroy the socket without a response (the client sees a network error).
// - slowBodyMs: send the body in chunks of `chunkBytes` (default 16384) spaced by this.
// - retryAfter: sets the Retry-After header (string or number).
// - headers: values may be functions, called when the response is written (e.g. to make an
//   HTTP-date relative to that moment); in-process only.
// A path with no script answers 200 "ok" (or a file from `staticDir` if one matches).
//
// Control API over HTTP, for processes that cannot call the object (workerd, Chromium):
//   POST /__script?path=/x   body: JSON list of steps (or one step)
//   GET  /__requests?path=/x (path optional)  -> JSON list; body as base64 in `bodyBase64`
//   POST /__reset
//   GET  /__connections      -> { open: n }
// Control requests are not recorded. CORS is permissive (preflights are answered and not
// recorded; every response exposes all headers so Retry-After can be read by a page).
// Only node:http (and node:fs/node:path for static files).
import http from "node:http";
import { readFile, stat } from "node:fs/promises";
import { join, normalize, extname, sep } from "node:path";
import { performance } from "node:perf_hooks";

const MIME = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".txt": "text/plain; charset=utf-8",
  ".map": "application/json",
};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function corsHeaders(req) {
  return {
    "access-control-allow-origin": req.headers.origin || "*",
    "access-control-allow-methods": "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, TRACE",
    "access-control-allow-headers": req.headers["access-control-request-headers"] || "*",
    "access-control-expose-headers": "*",
    "access-control-max-age": "600",
    vary: "Origin",
  };
}

function normalizeSteps(steps) {
  const list = Array.isArray(steps) ? steps : [steps];
  if (list.length === 0) throw new TypeError("a script needs at least one step");
  return list.map((s) => ({ ...(s || {}) }));
}

export async function startFaultServer(options = {}) {
  const { staticDir, host = "127.0.0.1" } = options;
  const scripts = new Map(); // path -> { steps, next }
  let log = []; // recorded requests
  const sockets = new Set();
  const hanging = new Set(); // responses that are never answered
  const timers = new Set();
  let seq = 0;
  let closing = false;

  const later = (ms) =>
    new Promise((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  function script(path, steps) {
    scripts.set(path, { steps: normalizeSteps(steps), next: 0 });
  }

  function nextStep(path) {
    const s = scripts.get(path);
    if (!s) return null;
    const step = s.steps[Math.min(s.next, s.steps.length - 1)];
    s.next++;
    return step;
  }

  function requests(path) {
    return path === undefined ? log.slice() : log.filter((r) => r.path === path);
  }

  function reset() {
    scripts.clear();
    log = [];
  }

  function readBody(req) {
    return new Promise((resolve) => {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => resolve({ body: Buffer.concat(chunks), complete: true }));
      req.on("error", () => resolve({ body: Buffer.concat(chunks), complete: false }));
      req.on("close", () => resolve({ body: Buffer.concat(chunks), complete: req.complete }));
    });
  }

  async function control(req, res, url) {
    const send = (status, value) => {
      const text = JSON.stringify(value);
      res.writeHead(status, { ...corsHeaders(req), "content-type": "application/json", "cache-control": "no-store" });
      res.end(text);
    };
    try {
      if (url.pathname === "/__script" && req.method === "POST") {
        const path = url.searchParams.get("path");
        if (!path) return send(400, { error: "path is required" });
        const { body } = await readBody(req);
        script(path, JSON.parse(body.toString("utf8") || "[]"));
        return send(200, { ok: true });
      }
      if (url.pathname === "/__requests" && req.method === "GET") {
        const path = url.searchParams.get("path");
        const list = requests(path === null ? undefined : path).map((r) => ({
          ...r,
          body: undefined,
          bodyText: r.body.toString("utf8"),
          bodyBase64: r.body.toString("base64"),
        }));
        return send(200, list);
      }
      if (url.pathname === "/__reset" && req.method === "POST") {
        await readBody(req);
        reset();
        return send(200, { ok: true });
      }
      if (url.pathname === "/__connections" && req.method === "GET") {
        return send(200, { open: sockets.size });
      }
      return send(404, { error: "unknown control endpoint" });
    } catch (e) {
      return send(400, { error: String(e && e.message) });
    }
  }

  async function serveStatic(req, res, url, record) {
    if (!staticDir) return false;
    let rel;
    try {
      rel = decodeURIComponent(url.pathname);
    } catch {
      return false;
    }
    const file = normalize(join(staticDir, rel));
    if (!file.startsWith(normalize(staticDir + sep)) && file !== normalize(staticDir)) return false;
    let target = file;
    try {
      const st = await stat(target);
      if (st.isDirectory()) target = join(target, "index.html");
      const data = await readFile(target);
      res.writeHead(200, {
        ...corsHeaders(req),
        "content-type": MIME[extname(target)] || "application/octet-stream",
        "content-length": data.length,
        "cache-control": "no-store",
      });
      res.end(req.method === "HEAD" ? undefined : data);
      record.status = 200;
      return true;
    } catch {
      return false;
    }
  }

  async function respond(req, res, step, record) {
    if (step.hang) {
      record.hung = true;
      hanging.add(res);
      res.on("close", () => hanging.delete(res));
      return;
    }
    if (step.reset) {
      record.reset = true;
      req.socket.destroy();
      return;
    }
    const status = step.status ?? 200;
    const headers = { ...corsHeaders(req) };
    for (const [k, v] of Object.entries(step.headers || {})) {
      headers[k.toLowerCase()] = typeof v === "function" ? v() : v;
    }
    if (step.retryAfter !== undefined) headers["retry-after"] = String(step.retryAfter);
    let body;
    if (step.bodyBytes !== undefined) body = Buffer.alloc(step.bodyBytes, 0x78); // "x"
    else if (step.body !== undefined) body = Buffer.from(String(step.body));
    else body = Buffer.from(status === 204 || status === 304 ? "" : "ok");
    const noBody = req.method === "HEAD" || status === 204 || status === 304 || (status >= 100 && status < 200);
    if (!headers["content-type"]) headers["content-type"] = "text/plain; charset=utf-8";
    if (!noBody) headers["content-length"] = String(body.length);
    record.status = status;
    res.writeHead(status, headers);
    if (noBody) {
      res.end();
      return;
    }
    if (!step.slowBodyMs) {
      res.end(body);
      return;
    }
    const chunk = step.chunkBytes || 16384;
    for (let off = 0; off < body.length; off += chunk) {
      if (res.destroyed || closing) return;
      res.write(body.subarray(off, Math.min(body.length, off + chunk)));
      record.bytesWritten = Math.min(body.length, off + chunk);
      await later(step.slowBodyMs);
    }
    if (!res.destroyed) res.end();
  }

  async function handle(req, res) {
    const url = new URL(req.url, "http://x");
    if (url.pathname.startsWith("/__")) return control(req, res, url);
    // CORS preflight: answered at once, not recorded, no step consumed.
    if (req.method === "OPTIONS" && req.headers["access-control-request-method"]) {
      res.writeHead(204, corsHeaders(req));
      return res.end();
    }
    const record = {
      seq: seq++,
      method: req.method,
      url: req.url,
      path: url.pathname,
      search: url.search,
      headers: { ...req.headers },
      rawHeaders: req.rawHeaders.slice(),
      body: Buffer.alloc(0),
      bodyComplete: false,
      t: performance.now(), // arrival, comparable with the tests' performance.now()
      at: Date.now(),
      remotePort: req.socket.remotePort,
      status: undefined,
      respondedAt: undefined,
      finished: false, // the whole response was handed to the OS
      closedEarly: false, // the connection/stream closed before the response was finished
      closedAt: undefined,
      bytesWritten: 0,
    };
    log.push(record);
    res.on("finish", () => {
      record.finished = true;
    });
    res.on("close", () => {
      record.closedAt = performance.now();
      if (!record.finished) record.closedEarly = true;
    });
    const step = nextStep(url.pathname);
    const { body, complete } = await readBody(req);
    record.body = body;
    record.bodyComplete = complete;
    record.bodyAt = performance.now();
    if (step && step.delayMs) await later(step.delayMs);
    if (res.destroyed || closing) return;
    record.respondedAt = performance.now();
    if (!step && (await serveStatic(req, res, url, record))) return;
    return respond(req, res, step || {}, record);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => {
      try {
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
        res.end(String(e && e.stack));
      } catch {
        /* socket gone */
      }
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  server.on("clientError", (_err, socket) => socket.destroy());

  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address();
  const origin = `http://${host}:${port}`;

  return {
    origin,
    port,
    // The same server under another origin (localhost vs 127.0.0.1), for per-origin tests.
    altOrigin: `http://localhost:${port}`,
    url: (path = "/") => origin + path,
    altUrl: (path = "/") => `http://localhost:${port}${path}`,
    script,
    requests,
    reset,
    openConnections: () => sockets.size,
    server,
    async close() {
      closing = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const res of hanging) res.destroy();
      hanging.clear();
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(() => resolve()));
      // every socket's "close" has run (bounded: 100 x 10 ms)
      for (let i = 0; i < 100 && sockets.size > 0; i++) await sleep(10);
    },
  };
}

// A port on 127.0.0.1 nothing listens on (connections are refused): for network errors.
export async function refusedOrigin() {
  const s = http.createServer();
  await new Promise((resolve) => s.listen(0, "127.0.0.1", resolve));
  const { port } = s.address();
  await new Promise((resolve) => s.close(resolve));
  return `http://127.0.0.1:${port}`;
}

export { sleep };
