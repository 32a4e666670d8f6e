// Browsers, bundlers, Deno: the module's bytes are inlined, so no bundler or server setting
// is needed to find a .wasm file, and instantiation is synchronous (no init call, no
// top-level await).
import { initSync } from "./edge_retry.js";
import { wasmBase64 } from "./wasm-inline.js";

const binary = atob(wasmBase64);
const bytes = new Uint8Array(binary.length);
for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
initSync({ module: bytes });
