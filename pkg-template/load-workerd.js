// Cloudflare Workers: wrangler and workerd hand an imported .wasm over as a compiled module.
import wasmModule from "./edge_retry_bg.wasm";
import { initSync } from "./edge_retry.js";

initSync({ module: wasmModule });
