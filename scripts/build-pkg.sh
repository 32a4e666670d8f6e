#!/usr/bin/env bash
# Builds the npm package into pkg/: wasm-pack (release profile, wasm-opt -Oz from the pinned
# npm binaryen), then pkg-template's entries, types and package.json over what it made.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"

rm -rf pkg
wasm-pack build --release --target web --out-dir pkg --out-name edge_retry --no-pack 2>&1 \
  | grep -vE '^\s*$' | sed 's/^/  wasm-pack: /'
rm -f pkg/.gitignore pkg/edge_retry.d.ts pkg/edge_retry_bg.wasm.d.ts pkg/package.json
cp pkg-template/*.js pkg-template/index.d.ts pkg-template/package.json src/js/*.js pkg/
cp README.md CHANGELOG.md LICENSE-MIT LICENSE-APACHE pkg/
# The inlined copy of the module for browsers, bundlers and Deno.
printf 'export const wasmBase64 = "%s";\n' "$(base64 -w0 pkg/edge_retry_bg.wasm)" > pkg/wasm-inline.js
echo "pkg/: $(wc -c < pkg/edge_retry_bg.wasm) bytes of wasm, $(gzip -9c pkg/edge_retry_bg.wasm | wc -c) gzipped"
