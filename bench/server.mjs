// The benchmarks' local HTTP server: keep-alive, on 127.0.0.1, in its own process so that the
// client being measured has its event loop (and, on a 2-core machine, a core) to itself.
// Prints `{"port":N}` once listening. GET /ok answers 200 with a small text body; /503 a 503.
import { createServer } from "node:http";

const body = Buffer.from("ok ".repeat(10)); // 30 bytes: a small JSON-sized answer
const server = createServer((req, res) => {
  if (req.url === "/503") {
    res.writeHead(503, { "content-type": "text/plain", "content-length": "4", "retry-after": "0" });
    res.end("busy");
    return;
  }
  res.writeHead(200, { "content-type": "text/plain", "content-length": String(body.length) });
  res.end(body);
});
server.keepAliveTimeout = 120_000;
server.headersTimeout = 121_000;
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n");
});
process.on("disconnect", () => process.exit(0)); // the parent went away
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
