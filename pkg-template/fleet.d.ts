// Types of edge-retry/fleet (Cloudflare Workers): breakers shared by every isolate of a Worker
// through a Durable Object.
import type { RetryOptions, InstanceOptions, RetryFetch } from "edge-retry";

/** The parts of a Durable Object namespace binding the fleet uses. */
export interface FleetNamespace {
  idFromName(name: string): unknown;
  get(id: any): { fetch(input: string, init?: RequestInit): Promise<Response> };
}

export interface FleetOptions {
  /** The binding of EdgeRetryFleet (or give it per request with `api.fleet.connect`). */
  namespace?: FleetNamespace;
  /** Which object of the namespace holds this instance's breakers. Default "edge-retry". */
  name?: string;
  /** At most one sync (report out, view back) per this many ms; the view is never older than
   *  about this plus a round trip. Default 1000. */
  refreshMs?: number;
  /** Failures (and a request for the probe) are reported sooner: at most every this many ms.
   *  Default refreshMs / 4. */
  reportMs?: number;
  /** A view not refreshed for this long counts for nothing (local breakers decide). Default 3 x refreshMs. */
  staleMs?: number;
  /** How long an isolate holds the fleet's half-open probe before the object gives it to another. Default 10000. */
  leaseMs?: number;
  /** A sync not answered in this long is dropped (local breakers decide). Default max(100, refreshMs). */
  syncTimeoutMs?: number;
  /** Keeps background syncs alive past the response, as `ctx.waitUntil`. */
  waitUntil?: (promise: Promise<unknown>) => void;
}

export interface FleetStats {
  syncs: number;
  syncFailures: number;
  probes: number;
  /** Calls refused because the fleet holds their key open. */
  refused: number;
  /** Outcomes dropped because the outbox was full (64 keys). */
  dropped: number;
  /** Keys the fleet holds not closed, as last heard. */
  held: number;
}

export interface FleetRetryFetch extends RetryFetch {
  fleet: {
    /** The namespace binding and this request's ctx (its waitUntil keeps syncs alive). */
    connect(namespace: FleetNamespace, ctx?: { waitUntil(promise: Promise<unknown>): void }): FleetRetryFetch;
    stats(): FleetStats;
  };
}

/** `createRetryFetch` whose breakers are shared fleet-wide through EdgeRetryFleet. */
export function createFleetRetryFetch(options: RetryOptions & InstanceOptions & { fleet: FleetOptions }): FleetRetryFetch;

/** The Durable Object class: export it from the Worker and bind it (see examples/fleet). */
export class EdgeRetryFleet {
  constructor(state: unknown, env: unknown);
  fetch(request: Request): Promise<Response>;
}
