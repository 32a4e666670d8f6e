// Node: the .wasm file sits beside this one. Node's copy is built for speed, not size (see
// scripts/build-pkg.sh): nothing ships it over a network.
import { readFileSync } from "node:fs";
import { initSync } from "./edge_retry.js";

initSync({ module: readFileSync(new URL("./edge_retry_node_bg.wasm", import.meta.url)) });
