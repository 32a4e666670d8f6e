// `npx vitest run`: the tests in test/ run inside workerd, against this Worker as wrangler
// builds it (wrangler.toml), with @cloudflare/vitest-pool-workers. test/upstream.js starts a
// flaky upstream on 127.0.0.1 for them.
import { defineConfig } from "vitest/config";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";

export default defineConfig({
  plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.toml" } })],
  test: { globalSetup: ["./test/upstream.js"], testTimeout: 10000 },
});
