// Node: the .wasm file sits beside this one. Node's copy is built for speed, not size (see
// scripts/build-pkg.sh): nothing ships it over a network.
//
// node:fs is taken through process.getBuiltinModule (Node >= 20.16, 22.3) where there is one:
// importing node:fs as an ES module builds a namespace of all its exports first, about 1.3 ms
// of a cold start here; node:module, the fallback's, costs about 0.9 of that.
import { createRequire } from "node:module";
import { initSync } from "./edge_retry.js";

const fs = typeof process.getBuiltinModule === "function"
  ? process.getBuiltinModule("node:fs")
  : createRequire(import.meta.url)("node:fs");
initSync({ module: fs.readFileSync(new URL("./edge_retry_node_bg.wasm", import.meta.url)) });
