#!/usr/bin/env bash
# Installs what building and testing edge-retry needs on a fresh Debian machine, skipping
# whatever is already there, so reruns take a second. Safe to run any number of times.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

WASM_BINDGEN_VERSION=0.2.130 # must equal the crate's pin in Cargo.toml
WASM_PACK_VERSION=0.15.1
say() { printf 'setup: %s\n' "$*"; }

for target in wasm32-unknown-unknown thumbv7em-none-eabihf; do
  if ! rustup target list --installed | grep -qx "$target"; then
    say "adding Rust target $target"
    rustup target add "$target"
  fi
done
if ! rustup component list --installed 2>/dev/null | grep -q '^clippy'; then rustup component add clippy; fi
if ! rustup component list --installed 2>/dev/null | grep -q '^rustfmt'; then rustup component add rustfmt; fi

install_wasm_bindgen() {
  # --locked fails on this registry (a locked dependency is missing); fall back to a fresh resolve.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --locked \
    || cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
}
pids=()
if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION\$"; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 5 minutes)"
  install_wasm_bindgen > /tmp/edge-retry-setup-wasm-bindgen.log 2>&1 &
  pids+=($!)
fi
if ! wasm-pack --version 2>/dev/null | grep -q " $WASM_PACK_VERSION\$"; then
  say "installing wasm-pack $WASM_PACK_VERSION (about 4 minutes)"
  cargo install wasm-pack --version "$WASM_PACK_VERSION" --locked > /tmp/edge-retry-setup-wasm-pack.log 2>&1 &
  pids+=($!)
fi

debian=()
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then debian+=(chromium chromium-driver); fi
# build-pkg.sh deflates the module inlined for browsers with zopfli.
if ! command -v zopfli > /dev/null; then debian+=(zopfli); fi
if [ ${#debian[@]} -gt 0 ]; then
  say "installing Debian ${debian[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${debian[@]}" > /tmp/edge-retry-setup-apt.log 2>&1
fi

if [ ! -f node_modules/.edge-retry-lock ] || ! cmp -s package-lock.json node_modules/.edge-retry-lock; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.edge-retry-lock
fi

for pid in "${pids[@]}"; do
  if ! wait "$pid"; then
    say "a cargo install failed; its log:"
    tail -n 30 /tmp/edge-retry-setup-*.log
    exit 1
  fi
done
say "ready"
