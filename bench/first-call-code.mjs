// How much of the wasm module V8 compiles before a first call settles. V8 compiles a wasm
// function on its first call (lazily, with Liftoff, on the main thread), so the code that
// import and a first call run through is a part of every cold start that no later call pays.
// A fresh Node process imports the Node entry and makes one call whose fetch gives a 200 (or
// a 503 and then a 200), with V8's --trace-wasm-compilation-times, which names each function
// it compiles and its body size. Deterministic for a given build: a count, not a timing.
//
//   node bench/first-call-code.mjs        the counts, as a table
//
// tests/js/node/first-call-code.test.mjs holds the first call to a bound with it.
import { execFileSync } from "node:child_process";
import { pathToFileURL } from "node:url";
import { join } from "node:path";

// The default retryFetch, as a cold start uses it; the global fetch is a stub, so undici (whose
// HTTP parser is wasm too) compiles nothing.
const script = (entry, statuses) => `
  const { retryFetch } = await import(${JSON.stringify(pathToFileURL(entry).href)});
  const answers = ${JSON.stringify(statuses)};
  globalThis.fetch = async () => new Response("", { status: answers.shift() });
  const response = await retryFetch("http://127.0.0.1:9/first");
  if (response.status !== 200) throw new Error("the first call gave " + response.status);`;

// Functions and body bytes V8 compiled in a fresh process running `statuses` through one call.
export function compiledForFirstCall(pkgDir, statuses = [200]) {
  const out = execFileSync(process.execPath, ["--trace-wasm-compilation-times", "--input-type=module", "-e", script(join(pkgDir, "node.js"), statuses)], { encoding: "utf8", timeout: 20000 });
  let functions = 0;
  let bytes = 0;
  for (const line of out.split("\n")) {
    const m = line.match(/^Compiled function .* using Liftoff, .*bodysize (\d+)/);
    if (m) {
      functions += 1;
      bytes += Number(m[1]);
    }
  }
  return { functions, bytes };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { PKG, table } = await import("./lib.mjs");
  const rows = [
    ["import, then a call answered 200", [200]],
    ["import, then a call answered 503, then 200", [503, 200]],
  ].map(([name, statuses]) => {
    const { functions, bytes } = compiledForFirstCall(PKG, statuses);
    return [name, String(functions), (bytes / 1024).toFixed(1)];
  });
  console.log(`Wasm code V8 compiles on the way (Node ${process.version}, ${PKG}):\n`);
  console.log(table(["what runs", "functions compiled", "their bodies, KB"], rows));
}
