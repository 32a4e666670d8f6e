// edge-retry/fleet, the Durable Object: one FleetHub (wasm, the same core as the isolates)
// holding a breaker per key for the whole fleet. Each isolate POSTs its report and gets the
// view back (core::fleet::wire). State lives in memory: if the object is evicted or restarted
// the fleet starts again with every key closed, and each isolate's own breakers still hold.
import { FleetHub } from "./edge_retry_fleet.js";

const CAPACITY = 1000; // keys held at most (the least recently reported goes first)
const TTL_MS = 10 * 60 * 1000; // a key not reported for this long is forgotten

export class EdgeRetryFleet {
  constructor(state, env) {
    this.hub = new FleetHub(CAPACITY, TTL_MS);
  }

  async fetch(request) {
    if (request.method !== "POST") return new Response("edge-retry fleet: POST a report", { status: 405 });
    const report = new Uint8Array(await request.arrayBuffer());
    const view = this.hub.sync(report, Date.now());
    if (view === undefined) return new Response(`edge-retry fleet: bad report: ${this.hub.error()}`, { status: 400 });
    return new Response(view, { headers: { "content-type": "application/octet-stream" } });
  }
}
