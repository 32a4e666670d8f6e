#!/usr/bin/env bash
# Builds the npm package into pkg/: wasm-pack (release profile, wasm-opt -Oz from the pinned
# npm binaryen), then pkg-template's entries, types and package.json over what it made.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"

rm -rf pkg
# The main module, as Node and Workers load it (with the isolate's side of edge-retry/fleet).
wasm-pack build --release --target web --out-dir pkg --out-name edge_retry --no-pack -- --no-default-features --features js,fleet-isolate 2>&1 \
  | grep -vE '^\s*$' | sed 's/^/  wasm-pack: /'
rm -f pkg/.gitignore pkg/edge_retry.d.ts pkg/edge_retry_bg.wasm.d.ts pkg/package.json
# The same without it (feature `fleet-isolate`), inlined into the browser entry: edge-retry/fleet
# is for Workers, and a page should not ship its bytes.
LEAN=target/pkg-lean
wasm-pack build --release --target web --out-dir "$LEAN" --out-name edge_retry --no-pack -- --no-default-features --features js 2>&1 \
  | grep -vE '^\s*$' | sed 's/^/  wasm-pack (browser): /'
# edge-retry/fleet's own module (FleetLink, FleetHub; feature `fleet`), loaded only by that entry.
wasm-pack build --release --target web --out-dir target/pkg-fleet --out-name edge_retry_fleet --no-pack -- --no-default-features --features fleet 2>&1 \
  | grep -vE '^\s*$' | sed 's/^/  wasm-pack (fleet): /'
cp target/pkg-fleet/edge_retry_fleet.js target/pkg-fleet/edge_retry_fleet_bg.wasm pkg/
# Node's own copy of the main module, built for speed (opt-level 2) rather than size: a Node
# process reads it from disk, so its bytes are never shipped, and each call costs about 0.13 us
# less (the core at "z" makes a call of every small helper). It is 67 KB instead of 53; paired
# cold starts did not show the difference. Its own target directory, so that neither build
# invalidates the other's.
NODE_BUILD=target/pkg-node
CARGO_TARGET_DIR=target/wasm-speed CARGO_PROFILE_RELEASE_OPT_LEVEL=2 \
  wasm-pack build --release --target web --out-dir "$NODE_BUILD" --out-name edge_retry --no-pack -- --no-default-features --features js,fleet-isolate 2>&1 \
  | grep -vE '^\s*$' | sed 's/^/  wasm-pack (node): /'
cp "$NODE_BUILD/edge_retry_bg.wasm" pkg/edge_retry_node_bg.wasm
# The Node entry is bundled with the main module's glue: the two builds must agree on it.
if ! cmp -s "$NODE_BUILD/edge_retry.js" pkg/edge_retry.js; then
  echo "build-pkg: the speed build's glue differs from the main module's; the Node entry cannot share it" >&2
  exit 1
fi
# The glue's async init falls back to `new URL('edge_retry_bg.wasm', import.meta.url)`. No
# entry uses it (each loader calls initSync with the module), but Vite and webpack turn that
# expression into an emitted asset: 62 KB of .wasm shipped next to the inlined copy and never
# loaded. Remove the fallback; fail the build if it cannot be found (a new wasm-bindgen
# version), and if any `import.meta` is left in the glue. (The same for the fleet's glue.)
for glue in pkg/edge_retry.js "$LEAN/edge_retry.js" pkg/edge_retry_fleet.js; do
node --input-type=module - "$glue" <<'EOF'
import fs from "node:fs";
import path from "node:path";
const file = process.argv[2];
const code = fs.readFileSync(file, "utf8");
const wasmName = path.basename(file, ".js") + "_bg\\.wasm";
const fallback = new RegExp(`module_or_path = new URL\\(\\s*'${wasmName}'\\s*,\\s*import\\.meta\\.url\\s*\\);`, "g");
const found = code.match(fallback) || [];
if (found.length !== 1) {
  console.error(`build-pkg: expected one default wasm URL in ${file}, found ${found.length}; check the wasm-bindgen glue`);
  process.exit(1);
}
const out = code.replace(fallback, 'throw new TypeError("edge-retry: its entry loads the wasm module; pass it to init");');
if (out.includes("import.meta")) {
  console.error(`build-pkg: ${file} still mentions import.meta, which bundlers may turn into an emitted asset`);
  process.exit(1);
}
fs.writeFileSync(file, out);
EOF
done
# The JS sources (pkg-template's entries, loaders and API, src/js's driver) are staged, then
# each entry is bundled into one module with the wasm-bindgen glue: a first import loads one
# module instead of about fifteen, which is most of a cold start. (An application loads one
# entry: the export conditions pick it. edge-retry/fleet imports the workerd entry rather than
# the glue, so a Worker still has one instance of it.) The sources are copied into pkg/ too, for tests and
# benchmarks that look inside; package.json's `files` ships only what the entries import.
STAGE=target/pkg-src
rm -rf "$STAGE"
mkdir -p "$STAGE"
cp pkg-template/*.js src/js/*.js "$STAGE/"
# The inlined copy of the module for browsers, bundlers and Deno: deflated, then base64
# (inflate.js restores it at load, synchronously). Deflated by zopfli (scripts/setup.sh installs
# it): its raw deflate is about 5 % smaller than zlib's level 9, 1.3 KB less on every page,
# and any inflater reads it. The copy is checked to inflate back to the module.
if ! command -v zopfli > /dev/null; then
  echo "build-pkg: zopfli is missing (scripts/setup.sh installs it)" >&2
  exit 1
fi
zopfli --deflate -c "$LEAN/edge_retry_bg.wasm" > "$STAGE/edge_retry_bg.wasm.deflate"
node --input-type=module - "$LEAN/edge_retry_bg.wasm" "$STAGE/edge_retry_bg.wasm.deflate" "$STAGE/wasm-inline.js" <<'EOF'
import fs from "node:fs";
import zlib from "node:zlib";
const [wasmFile, deflatedFile, outFile] = process.argv.slice(2);
const wasm = fs.readFileSync(wasmFile);
const deflated = fs.readFileSync(deflatedFile);
if (!zlib.inflateRawSync(deflated).equals(wasm)) {
  console.error(`build-pkg: ${deflatedFile} does not inflate back to ${wasmFile}`);
  process.exit(1);
}
fs.writeFileSync(outFile, `export const wasmSize = ${wasm.length};\nexport const wasmDeflated = "${deflated.toString("base64")}";\n`);
EOF
rm "$STAGE/edge_retry_bg.wasm.deflate"
cp "$STAGE"/*.js pkg/
# The browser entry is bundled with the lean module's glue, Node's and Workers' with the main one.
BROWSER_STAGE=target/pkg-src-browser
rm -rf "$BROWSER_STAGE"
cp -r "$STAGE" "$BROWSER_STAGE"
cp "$LEAN/edge_retry.js" "$BROWSER_STAGE/"
cp "$LEAN/edge_retry_bg.wasm" pkg/edge_retry_browser_bg.wasm # for tests; not packed (inlined)
cp pkg/edge_retry.js "$STAGE/"
# Shipped minified: a Worker parses every byte of it at each cold start (wrangler does not
# minify by default), and Node's import reads it too. Names are not kept: esbuild's
# --keep-names adds a call per function (workerd entry 8.4 -> 9.2 KB gzip, and the browser
# pages' bundlers cannot drop them); errors carry their own `name`. The readable sources are
# src/js and pkg-template in the repository.
MINIFY=(--minify --legal-comments=none --target=es2020)
for entry in browser node node-legacy workerd; do
  stage=$STAGE
  [ "$entry" = browser ] && stage=$BROWSER_STAGE
  esbuild "$stage/$entry.js" --bundle --format=esm --platform=neutral --log-level=warning "${MINIFY[@]}" \
    --external:./edge_retry_bg.wasm --external:node:fs \
    --banner:js="// edge-retry's $entry entry, bundled and minified from src/js and pkg-template in the repository." \
    --outfile="pkg/$entry.js" --allow-overwrite
done
# The fleet's glue stays a module of its own (pkg/edge_retry.js, the main glue, is kept in pkg/
# for tools such as bench/workerd-bisect.mjs, and not packed).
for glue in edge_retry edge_retry_fleet; do
  esbuild "pkg/$glue.js" --format=esm --log-level=warning "${MINIFY[@]}" \
    --banner:js="// wasm-bindgen's glue for $glue""_bg.wasm, minified." --outfile="pkg/$glue.js" --allow-overwrite
done
# edge-retry/fleet (Workers only): its own module over the workerd entry, which it imports, so
# a Worker importing both has one wasm instance and one CircuitOpenError class.
esbuild "$STAGE/fleet.js" --bundle --format=esm --platform=neutral --log-level=warning \
  --external:./edge_retry_fleet.js --external:./edge_retry_fleet_bg.wasm --external:./workerd.js \
  "${MINIFY[@]}" --banner:js="// edge-retry's fleet entry (edge-retry/fleet), bundled and minified from src/js and pkg-template in the repository." \
  --outfile=pkg/fleet.js --allow-overwrite
cp pkg-template/index.d.ts pkg-template/fleet.d.ts pkg-template/package.json pkg/
cp README.md CHANGELOG.md LICENSE-MIT LICENSE-APACHE pkg/
echo "pkg/: $(wc -c < pkg/edge_retry_bg.wasm) bytes of wasm, $(gzip -9c pkg/edge_retry_bg.wasm | wc -c) gzipped; inlined for browsers: $(wc -c < "$LEAN/edge_retry_bg.wasm") bytes, $(gzip -9c "$LEAN/edge_retry_bg.wasm" | wc -c) gzipped"
