// The types as TypeScript users get them: `tsc --noEmit`, strict, with `nodenext` and again
// with `bundler` resolution, on a consumer file (fixtures/consumer.ts) in a project where the
// packed tarball is installed. Right uses must pass and wrong ones be refused.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { ROOT, run } from "../runtimes.mjs";
import { useConsumerProject } from "./_helpers.mjs";

const TSC = path.join(ROOT, "node_modules", "typescript", "bin", "tsc");
const project = useConsumerProject({ name: "types", server: false, fixtures: ["consumer.ts"] });

const RESOLUTIONS = {
  nodenext: { module: "nodenext", moduleResolution: "nodenext" },
  bundler: { module: "esnext", moduleResolution: "bundler" },
};

for (const [name, resolution] of Object.entries(RESOLUTIONS)) {
  test(`tsc --noEmit, strict, ${name} resolution: the consumer type-checks and wrong options are refused`, { timeout: 60000 }, async () => {
    const config = `tsconfig.${name}.json`;
    fs.writeFileSync(path.join(project.app, config), JSON.stringify({
      compilerOptions: {
        ...resolution, strict: true, noEmit: true, target: "es2022", lib: ["es2022", "dom", "dom.iterable"], types: [], skipLibCheck: false,
      },
      files: ["consumer.ts"],
    }, null, 2));
    const { stdout: version } = await run(process.execPath, [TSC, "--version"]);
    assert.equal(version.trim(), "Version 5.9.3");
    // Exit code 0 (run() rejects otherwise, with tsc's report): no error, and every
    // @ts-expect-error met its error.
    const { stdout } = await run(process.execPath, [TSC, "-p", config, "--listFiles"], { cwd: project.app });
    assert.ok(stdout.split("\n").some((f) => f.endsWith("/node_modules/edge-retry/index.d.ts")), `the package's index.d.ts was used:\n${stdout}`);
  });
}
