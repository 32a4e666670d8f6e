#!/usr/bin/env bash
# Runs the storm simulator (examples/storm.rs) in both modes and writes its results and plots
# to docs/: storm-occ.csv, storm-occ-time.svg, storm-occ-calls.svg, storm-outage.csv,
# storm-outage.svg and storm-outage-series.svg. The plots are hand-written SVG from
# scripts/storm-plots.py (Python 3 standard library only). Deterministic for a seed:
#   SEED=1 bash scripts/storm-plots.sh
# QUICK=1 runs both modes with --quick (seconds, for CI) and writes to target/storm-quick/
# instead of docs/ (OUT=dir overrides either).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
seed="${SEED:-1}"
quick=()
out="${OUT:-docs}"
if [ -n "${QUICK:-}" ]; then
  quick=(--quick)
  out="${OUT:-target/storm-quick}"
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
cargo build --quiet --release --example storm
storm() { cargo run --quiet --release --example storm -- "$@"; }

if [ ${#quick[@]} -eq 0 ]; then
  storm occ --clients 10,20,30,40,50,100 --runs 100 --seed "$seed" > "$tmp/occ.csv"
else
  storm occ --quick --seed "$seed" > "$tmp/occ.csv"
fi
storm outage "${quick[@]}" --seed "$seed" --series "$tmp/series.csv" > "$tmp/outage.csv" 2> "$tmp/outage.log"
cat "$tmp/outage.log" >&2
cp "$tmp/occ.csv" "$out/storm-occ.csv"
cp "$tmp/outage.csv" "$out/storm-outage.csv"
python3 scripts/storm-plots.py "$out/storm-occ.csv" "$out/storm-outage.csv" "$out" "$tmp/series.csv" "$tmp/outage.log"
echo "storm: wrote $out/storm-occ.csv, storm-outage.csv, storm-occ-time.svg, storm-occ-calls.svg," \
  "storm-outage.svg, storm-outage-series.svg" >&2
