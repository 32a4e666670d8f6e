// A long-tail HTTP server for bench/hedge.mjs, in its own process: each request to /tail is
// answered after 5 ms, or after 500 ms for one in twenty (drawn per request from a seeded
// generator, so the tail is the server's, whatever the client sends). GET /count says how
// many /tail requests arrived (aborted ones included); POST /reset zeroes it. Prints
// `{"port":N}` once listening.
import { createServer } from "node:http";

const FAST_MS = Number(process.env.TAIL_FAST_MS || 5);
const SLOW_MS = Number(process.env.TAIL_SLOW_MS || 500);
const SLOW_SHARE = Number(process.env.TAIL_SLOW_SHARE || 0.05);

// mulberry32: small, seedable, good enough to pick which requests are slow.
let state = 0x9e3779b9;
function random() {
  state = (state + 0x6d2b79f5) | 0;
  let t = Math.imul(state ^ (state >>> 15), 1 | state);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

let count = 0;
const body = Buffer.from("ok ".repeat(10));
const server = createServer((req, res) => {
  if (req.url === "/count") {
    res.end(JSON.stringify({ count }));
    return;
  }
  if (req.url === "/reset") {
    count = 0;
    state = 0x9e3779b9;
    res.end("{}");
    return;
  }
  count++;
  const delay = random() < SLOW_SHARE ? SLOW_MS : FAST_MS;
  const timer = setTimeout(() => {
    res.writeHead(200, { "content-type": "text/plain", "content-length": String(body.length) });
    res.end(body);
  }, delay);
  res.on("close", () => clearTimeout(timer)); // a hedge's loser: the client went away
});
server.keepAliveTimeout = 120_000;
server.headersTimeout = 121_000;
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n");
});
process.on("disconnect", () => process.exit(0));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
