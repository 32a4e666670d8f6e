// pkg/inflate.js restores the inlined wasm module: it must give back exactly what zlib's
// raw deflate was given, for every kind of block (stored, fixed, dynamic) and match (long
// runs that overlap their own output, far distances), and refuse nonsense instead of looping.
import assert from "node:assert/strict";
import zlib from "node:zlib";
import { readFileSync } from "node:fs";
import { inflate } from "../../../pkg/inflate.js";
import { wasmDeflated, wasmSize } from "../../../pkg/wasm-inline.js";
import { test } from "./_helpers.mjs";

function pseudoRandom(n, seed) {
  const out = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

const SAMPLES = {
  empty: Buffer.alloc(0),
  "one byte": Buffer.from("x"),
  text: Buffer.from("the quick brown fox jumps over the lazy dog. ".repeat(2000)),
  "overlapping runs": Buffer.from("a".repeat(5000) + "ab".repeat(5000) + "abc".repeat(3000)),
  "far repeats": Buffer.concat([pseudoRandom(20000, 1), pseudoRandom(20000, 1)]),
  "incompressible": pseudoRandom(70000, 7),
  "the wasm module": readFileSync(new URL("../../../pkg/edge_retry_bg.wasm", import.meta.url)),
  // The module inlined for browsers is built without the fleet's isolate side (build-pkg.sh).
  "the browsers' wasm module": readFileSync(new URL("../../../pkg/edge_retry_browser_bg.wasm", import.meta.url)),
};
const { Z_FIXED, Z_HUFFMAN_ONLY, Z_RLE, Z_DEFAULT_STRATEGY } = zlib.constants;

for (const [name, data] of Object.entries(SAMPLES)) {
  test(`inflate gives back ${name} at every level and strategy`, () => {
    for (const level of [0, 1, 5, 9]) {
      for (const strategy of [Z_DEFAULT_STRATEGY, Z_FIXED, Z_HUFFMAN_ONLY, Z_RLE]) {
        const deflated = zlib.deflateRawSync(data, { level, strategy });
        const out = inflate(new Uint8Array(deflated), data.length);
        assert.ok(Buffer.from(out).equals(data), `level ${level}, strategy ${strategy}`);
      }
    }
  });
}

test("the package's inlined module inflates to the module built for browsers", () => {
  const out = inflate(new Uint8Array(Buffer.from(wasmDeflated, "base64")), wasmSize);
  assert.ok(Buffer.from(out).equals(SAMPLES["the browsers' wasm module"]));
});

test("a stream that is not deflate is refused, not looped over", () => {
  // Block type 3 is reserved; a dynamic block with all-zero code lengths has no codes.
  assert.throws(() => inflate(new Uint8Array([0x07, 0, 0, 0]), 16));
  assert.throws(() => inflate(new Uint8Array([0x05, 0, 0, 0, 0, 0, 0, 0]), 16));
});
