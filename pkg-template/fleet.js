// edge-retry/fleet (Cloudflare Workers): breakers shared by every isolate of a Worker through
// a Durable Object. Export EdgeRetryFleet from the Worker and bind it (examples/fleet).
import "./load-fleet.js";
export { createFleetRetryFetch } from "./fleet-isolate.js";
export { EdgeRetryFleet } from "./fleet-object.js";
