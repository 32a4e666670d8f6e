// Node: the .wasm file sits beside this one.
import { readFileSync } from "node:fs";
import { initSync } from "./edge_retry.js";

initSync({ module: readFileSync(new URL("./edge_retry_bg.wasm", import.meta.url)) });
