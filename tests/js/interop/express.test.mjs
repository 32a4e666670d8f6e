// express 5.3 + express-rate-limit 8.7: each header form the middleware writes, with and
// without Retry-After, against a limit of 1 request per 1 s window. Three calls in a row: the
// first passes, the next two get a 429 each and must wait exactly what it asks, then pass.
import { describe, test } from "node:test";
import { assert, expressServer, assertHonoured, assertForm, seconds, param, epochSeconds } from "./_servers.mjs";

const T = { timeout: 15000 };
const ONE_PER_SECOND = { windowMs: 1000, limit: 1 };
// The exhausted policy's t of a draft-8 RateLimit field (express writes `"name"; r=0; t=1`).
const exhaustedT = (entry) => {
  const match = /r=0;\s*t=(\d+)/.exec(entry.headers.ratelimit ?? "");
  return match ? Number(match[1]) * 1000 : NaN;
};

describe("express-rate-limit", () => {
  for (const stripRetryAfter of [false, true]) {
    const label = stripRetryAfter ? "without Retry-After" : "with Retry-After";

    test(`standardHeaders 'draft-6' (RateLimit-Reset), ${label}`, T, async () => {
      const srv = await expressServer({
        limiters: [{ ...ONE_PER_SECOND, standardHeaders: "draft-6", legacyHeaders: false }],
        stripRetryAfter,
      });
      const { log } = await assertHonoured(srv, {
        asked: stripRetryAfter ? seconds("ratelimit-reset") : seconds("retry-after"),
      });
      assertForm(log, stripRetryAfter ? { has: ["ratelimit-reset"], lacks: ["retry-after"] } : { has: ["retry-after"] });
    });

    test(`standardHeaders 'draft-7' (RateLimit: limit, remaining, reset), ${label}`, T, async () => {
      const srv = await expressServer({
        limiters: [{ ...ONE_PER_SECOND, standardHeaders: "draft-7", legacyHeaders: false }],
        stripRetryAfter,
      });
      const { log } = await assertHonoured(srv, {
        asked: stripRetryAfter ? param("ratelimit", "reset") : seconds("retry-after"),
      });
      assertForm(log, stripRetryAfter ? { has: ["ratelimit"], lacks: ["retry-after", "ratelimit-reset"] } : { has: ["retry-after"] });
    });

    test(`standardHeaders 'draft-8', two limiters in series (20 s quota, 1 s burst), ${label}`, T, async () => {
      const srv = await expressServer({
        limiters: [
          { windowMs: 20000, limit: 100, standardHeaders: "draft-8", legacyHeaders: false },
          { ...ONE_PER_SECOND, standardHeaders: "draft-8", legacyHeaders: false },
        ],
        stripRetryAfter,
      });
      const { results, log } = await assertHonoured(srv, {
        asked: stripRetryAfter ? exhaustedT : seconds("retry-after"),
      });
      assertForm(log, stripRetryAfter ? { has: ["ratelimit"], lacks: ["retry-after"] } : { has: ["retry-after"] });
      // Both policies are in the one field, the long quota first.
      const field = log.find((e) => e.status === 429).headers.ratelimit;
      assert.match(field, /^"100-in-20sec"; r=\d+; t=\d+, "1-in-1sec"; r=0; t=1$/, field);
      for (const r of results) assert.ok(r.ms < 3000, `a call took ${r.ms.toFixed(0)} ms: the burst's wait, not the quota's`);
    });

    test(`legacyHeaders only (X-RateLimit-Reset, epoch seconds), ${label}`, T, async () => {
      const srv = await expressServer({
        limiters: [{ ...ONE_PER_SECOND, standardHeaders: false, legacyHeaders: true }],
        stripRetryAfter,
      });
      const { log } = await assertHonoured(srv, {
        asked: stripRetryAfter ? epochSeconds("x-ratelimit-reset") : seconds("retry-after"),
        tolerance: stripRetryAfter ? 50 : 0,
      });
      assertForm(log, stripRetryAfter ? { has: ["x-ratelimit-reset"], lacks: ["retry-after", "ratelimit"] } : { has: ["retry-after"] });
    });
  }

  test(`standardHeaders 'draft-8' with ';' and ',' in the quoted policy name, without Retry-After`, T, async () => {
    const srv = await expressServer({
      limiters: [{ ...ONE_PER_SECOND, standardHeaders: "draft-8", legacyHeaders: false, identifier: "burst;t=30, t=9" }],
      stripRetryAfter: true,
    });
    const { log } = await assertHonoured(srv, { asked: () => 1000 });
    assert.equal(log.find((e) => e.status === 429).headers.ratelimit, '"burst;t=30, t=9"; r=0; t=1');
  });
});
