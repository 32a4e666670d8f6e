// A Worker that calls an upstream through edge-retry with fleet breakers: once the upstream's
// origin fails often enough across all of this Worker's isolates, every isolate refuses calls
// to it (503 here) within about a second, and one probe fleet-wide checks its recovery.
//
//   GET /?url=https://api.example.com/thing   call that URL (default: env.UPSTREAM)
//   GET /__fleet                              this isolate's fleet stats
//
// The instance lives in module scope (its breakers last as long as the isolate). Each request
// hands it the Durable Object binding and its ctx: the fleet's background syncs run under
// ctx.waitUntil, so they finish even after the response is sent; no call ever waits on them.
import { CircuitOpenError } from "edge-retry";
import { createFleetRetryFetch, EdgeRetryFleet } from "edge-retry/fleet";

// The Durable Object class must be exported by the Worker's main module.
export { EdgeRetryFleet };

const api = createFleetRetryFetch({
  maxAttempts: 3,
  attemptTimeoutMs: 5000,
  // Open once half of at least 20 outcomes (fleet-wide) failed; refuse for 5 s, then probe.
  breaker: { failureRatio: 0.5, minimumRequests: 20, openMs: 5000, maxOpenMs: 60000 },
  fleet: { refreshMs: 1000 },
});

export default {
  async fetch(request, env, ctx) {
    api.fleet.connect(env.EDGE_RETRY_FLEET, ctx);
    const url = new URL(request.url);
    if (url.pathname === "/__fleet") return Response.json(api.fleet.stats());
    const target = url.searchParams.get("url") || env.UPSTREAM;
    try {
      const res = await api(target);
      return new Response(res.body, { status: res.status, headers: { "content-type": res.headers.get("content-type") || "text/plain" } });
    } catch (e) {
      if (e instanceof CircuitOpenError) {
        return Response.json({ refused: e.key, retryAfterMs: e.retryAfterMs }, { status: 503, headers: { "retry-after": String(Math.ceil(e.retryAfterMs / 1000)) } });
      }
      return Response.json({ error: String(e) }, { status: 502 });
    }
  },
};
