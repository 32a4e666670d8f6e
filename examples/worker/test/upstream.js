// Vitest global setup (runs in Node, not in workerd): a flaky upstream on 127.0.0.1 whose
// address the tests get with inject("upstream").
//   /flaky-*   503, 503, then 200 "ok after 3" (counted per path)
//   /limited-* 429 with Retry-After: 1, then 200
//   /echo-*    503 once, then 200 echoing the request body
//   /down-*    always 500
//   /hang-*    never answers
import http from "node:http";

let server;
const sockets = new Set();

export async function setup(project) {
  const counts = new Map();
  server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const n = (counts.get(req.url) || 0) + 1;
      counts.set(req.url, n);
      const path = new URL(req.url, "http://x").pathname;
      if (path.startsWith("/flaky") && n < 3) return res.writeHead(503).end("busy");
      if (path.startsWith("/limited") && n < 2) return res.writeHead(429, { "retry-after": "1" }).end("slow down");
      if (path.startsWith("/echo") && n < 2) return res.writeHead(503).end("busy");
      if (path.startsWith("/echo")) return res.end(`${req.method} ${Buffer.concat(chunks)}`);
      if (path.startsWith("/down")) return res.writeHead(500).end("down");
      if (path.startsWith("/hang")) return undefined;
      res.end(`ok after ${n}`);
    });
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  project.provide("upstream", `http://127.0.0.1:${server.address().port}`);
}

export async function teardown() {
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => server.close(resolve));
}
