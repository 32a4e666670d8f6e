// hono 4.13 + hono-rate-limiter 0.5 on @hono/node-server 2.1: standardHeaders 'draft-6'
// (RateLimit-Reset) and 'draft-7' (RateLimit: limit, remaining, reset), each with its
// Retry-After and with Retry-After removed in the limit handler. A limit of 1 request per 1 s
// window; three calls in a row.
import { describe, test } from "node:test";
import { honoServer, assertHonoured, assertForm, seconds, param } from "./_servers.mjs";

const T = { timeout: 15000 };
const ONE_PER_SECOND = { windowMs: 1000, limit: 1 };

describe("hono-rate-limiter", () => {
  for (const stripRetryAfter of [false, true]) {
    const label = stripRetryAfter ? "without Retry-After" : "with Retry-After";

    test(`standardHeaders 'draft-6' (RateLimit-Reset), ${label}`, T, async () => {
      const srv = await honoServer({ ...ONE_PER_SECOND, standardHeaders: "draft-6", stripRetryAfter });
      const { log } = await assertHonoured(srv, {
        asked: stripRetryAfter ? seconds("ratelimit-reset") : seconds("retry-after"),
      });
      assertForm(log, stripRetryAfter ? { has: ["ratelimit-reset"], lacks: ["retry-after"] } : { has: ["retry-after"] });
    });

    test(`standardHeaders 'draft-7' (RateLimit: limit, remaining, reset), ${label}`, T, async () => {
      const srv = await honoServer({ ...ONE_PER_SECOND, standardHeaders: "draft-7", stripRetryAfter });
      const { log } = await assertHonoured(srv, {
        asked: stripRetryAfter ? param("ratelimit", "reset") : seconds("retry-after"),
      });
      assertForm(log, stripRetryAfter ? { has: ["ratelimit"], lacks: ["retry-after", "ratelimit-reset"] } : { has: ["retry-after"] });
    });
  }
});
