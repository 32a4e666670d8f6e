#!/usr/bin/env bash
# Runs every test of edge-retry. Called by `make test` (after scripts/setup.sh) and by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
step() { printf '\n=== %s\n' "$*"; }

step "core: unit, scenario and property tests"
cargo test --quiet

step "core is no_std: built for a bare-metal target"
cargo rustc --quiet --lib --crate-type rlib --target thumbv7em-none-eabihf --no-default-features

step "lints: formatting; no unwrap, expect, panic or unchecked indexing (native and wasm32)"
cargo fmt --check
cargo clippy --quiet --all-targets -- -D warnings
cargo clippy --quiet --lib --target wasm32-unknown-unknown -- -D warnings
cargo clippy --quiet --lib --target wasm32-unknown-unknown --no-default-features --features js -- -D warnings
cargo clippy --quiet --lib --target wasm32-unknown-unknown --no-default-features --features fleet -- -D warnings

step "fuzz: corpus replay, then 20 s of fresh fuzzing per target (scripts/fuzz.sh; about 2 minutes)"
bash scripts/fuzz.sh replay

step "storm simulator still runs (quick mode; figures come from make storm)"
cargo run --quiet --release --example storm -- occ --quick > /dev/null
cargo run --quiet --release --example storm -- outage --quick > /dev/null
cargo run --quiet --release --example storm -- candidates --quick > /dev/null 2>&1
cargo run --quiet --release --example storm -- scenarios --quick > /dev/null 2>&1
cargo run --quiet --release --example storm -- fleet --quick > /dev/null 2>&1
cargo run --quiet --release --example storm -- hedge --quick > /dev/null 2>&1

step "wasm-bindgen-test: the handle API driver.js uses, in a real wasm instance (Node)"
wasm-pack test --node -- --lib 2>&1 | grep -vE "^\s+(Compiling|Finished|Running)"
wasm-pack test --node -- --lib --features fleet 2>&1 | grep -vE "^\s+(Compiling|Finished|Running)"

step "package"
bash scripts/build-pkg.sh

step "benchmarks still run (quick mode; figures come from scripts/bench.sh)"
bash scripts/bench.sh --quick

for suite in node realuse interop workerd fleet browser package ecosystem hostile soak; do
  if [ -d "tests/js/$suite" ]; then
    step "JS: $suite"
    node --test --test-concurrency=1 "tests/js/$suite/"
  fi
done
