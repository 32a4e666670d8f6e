// Browsers, bundlers, Deno: the module's bytes are inlined (deflated, in base64), so no bundler
// or server setting is needed to find a .wasm file, and instantiation is synchronous (no init
// call, no top-level await).
import { initSync } from "./edge_retry.js";
import { wasmDeflated, wasmSize } from "./wasm-inline.js";
import { inflate } from "./inflate.js";

const binary = atob(wasmDeflated);
const deflated = new Uint8Array(binary.length);
for (let i = 0; i < binary.length; i++) deflated[i] = binary.charCodeAt(i);
initSync({ module: inflate(deflated, wasmSize) });
