// Node before the "module-sync" export condition (18, 20.0-20.18, 22.0-22.9): load-node.js's
// work, with node:fs imported, since process.getBuiltinModule may be missing.
import { readFileSync } from "node:fs";
import { initSync } from "./edge_retry.js";

initSync({ module: readFileSync(new URL("./edge_retry_node_bg.wasm", import.meta.url)) });
