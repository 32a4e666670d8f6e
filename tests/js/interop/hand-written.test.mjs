// What no middleware above writes: X-RateLimit-Reset as an epoch that is now or already past
// (a window that has just reset, or a server clock a little behind ours). That is no wait,
// not one of decades. A plain node:http endpoint; the 429 comes once, then 200.
import { describe, test } from "node:test";
import { assert, handWrittenServer, assertHonoured, epochSeconds } from "./_servers.mjs";

const T = { timeout: 15000 };

describe("hand-written endpoint", () => {
  for (const behind of [0, 3, 120]) {
    test(`X-RateLimit-Reset an epoch ${behind} s behind now: retried at once`, T, async () => {
      const srv = await handWrittenServer((n) =>
        n === 0 ? [429, { "x-ratelimit-reset": String(Math.floor(Date.now() / 1000) - behind) }] : [200, {}],
      );
      const { results } = await assertHonoured(srv, { calls: 1, expect429: 1, asked: epochSeconds("x-ratelimit-reset"), tolerance: 0 });
      assert.deepEqual(results[0].delays, [0]);
      assert.ok(results[0].ms < 1000, `${results[0].ms.toFixed(0)} ms`);
    });
  }
});
