// A guard on cold start: V8 compiles a wasm function on its first call, on the main thread,
// so the code that import and a first 2xx call run through is paid by every cold start. The
// retry planning is kept out of that path (Call::plan_retry, out of line and never inlined by
// wasm-opt: see Cargo.toml); with it inlined back, a first 2xx compiled 28 KB in Node's build.
// The count is deterministic for a build (bench/first-call-code.mjs prints it).
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { test } from "./_helpers.mjs";
import { compiledForFirstCall } from "../../../bench/first-call-code.mjs";

const PKG = fileURLToPath(new URL("../../../pkg/", import.meta.url));
const FIRST_2XX_LIMIT = 24 * 1024;

test("import and a first 2xx call compile at most 24 KB of the wasm, less than a retried call", () => {
  const plain = compiledForFirstCall(PKG, [200]);
  assert.ok(plain.functions > 0, "V8 reported no compiled wasm function: did --trace-wasm-compilation-times change?");
  assert.ok(plain.bytes <= FIRST_2XX_LIMIT, `a first 2xx compiled ${plain.bytes} B of wasm bodies (${plain.functions} functions), over ${FIRST_2XX_LIMIT}`);
  // The retry's own code comes in only when a call is retried.
  const retried = compiledForFirstCall(PKG, [503, 200]);
  assert.ok(retried.bytes > plain.bytes + 4096, `a retried first call compiled ${retried.bytes} B against ${plain.bytes}`);
});
