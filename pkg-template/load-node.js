// Node: the .wasm file sits beside this one. Node's copy is built for speed, not size (see
// scripts/build-pkg.sh): nothing ships it over a network.
//
// This entry is the one for Node versions that match the "module-sync" export condition
// (20.19, 22.10 and later), which all have process.getBuiltinModule (20.16, 22.3): it hands
// over node:fs without building an ES module namespace of all its exports, which an import
// of node:fs does (about 1.3 ms of a cold start here). Older Node loads node-legacy.js.
import { initSync } from "./edge_retry.js";

const { readFileSync } = process.getBuiltinModule("node:fs");
initSync({ module: readFileSync(new URL("./edge_retry_node_bg.wasm", import.meta.url)) });
