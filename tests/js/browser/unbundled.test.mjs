// Headless Chromium: a page served by the fault server imports the package's browser entry
// as a plain ES module, straight from the built files (pkg/browser.js), with no bundler.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { PKG } from "../runtimes.mjs";
import { defineBrowserSuite } from "./_suite.mjs";

const fixtures = fileURLToPath(new URL("./fixtures/", import.meta.url));

defineBrowserSuite(async (dir) => {
  fs.symlinkSync(PKG, path.join(dir, "pkg"), "dir");
  fs.copyFileSync(path.join(fixtures, "unbundled.html"), path.join(dir, "unbundled.html"));
  return "/unbundled.html";
});
