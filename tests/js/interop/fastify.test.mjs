// fastify 5.12 + @fastify/rate-limit 11.2: its default headers (Retry-After and
// x-ratelimit-reset, delta seconds), the same with Retry-After turned off through addHeaders
// (only x-ratelimit-reset is left), and enableDraftSpec (ratelimit-reset) with and without
// Retry-After. A limit of 1 request per 1 s window; three calls in a row.
import { describe, test } from "node:test";
import { fastifyServer, assertHonoured, assertForm, seconds } from "./_servers.mjs";

const T = { timeout: 15000 };
const ONE_PER_SECOND = { max: 1, timeWindow: 1000 };

describe("@fastify/rate-limit", () => {
  test("default headers: Retry-After", T, async () => {
    const srv = await fastifyServer({ ...ONE_PER_SECOND });
    const { log } = await assertHonoured(srv, { asked: seconds("retry-after") });
    assertForm(log, { has: ["retry-after", "x-ratelimit-reset"] });
  });

  test("Retry-After off (addHeaders): x-ratelimit-reset alone, delta seconds", T, async () => {
    const srv = await fastifyServer({ ...ONE_PER_SECOND, addHeaders: { "retry-after": false } });
    const { log } = await assertHonoured(srv, { asked: seconds("x-ratelimit-reset") });
    assertForm(log, { has: ["x-ratelimit-reset"], lacks: ["retry-after", "ratelimit-reset", "ratelimit"] });
  });

  test("enableDraftSpec: Retry-After", T, async () => {
    const srv = await fastifyServer({ ...ONE_PER_SECOND, enableDraftSpec: true });
    const { log } = await assertHonoured(srv, { asked: seconds("retry-after") });
    assertForm(log, { has: ["retry-after", "ratelimit-reset"] });
  });

  test("enableDraftSpec, Retry-After off (addHeaders): ratelimit-reset", T, async () => {
    const srv = await fastifyServer({ ...ONE_PER_SECOND, enableDraftSpec: true, addHeaders: { "retry-after": false } });
    const { log } = await assertHonoured(srv, { asked: seconds("ratelimit-reset") });
    assertForm(log, { has: ["ratelimit-reset"], lacks: ["retry-after", "x-ratelimit-reset"] });
  });
});
