// edge-retry/fleet's own wasm module (FleetLink, FleetHub), handed over compiled by wrangler
// and workerd as the main one is (load-workerd.js).
import wasmModule from "./edge_retry_fleet_bg.wasm";
import { initSync } from "./edge_retry_fleet.js";

initSync({ module: wasmModule });
