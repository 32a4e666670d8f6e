#!/usr/bin/env bash
# Runs the storm simulator (examples/storm.rs) in both modes and writes its results and plots
# to docs/: storm-occ.csv, storm-occ-time.svg, storm-occ-calls.svg, storm-occ-vs-fulljitter.svg,
# storm-candidates.csv, storm-candidates.svg, storm-outage.csv, storm-outage.svg,
# storm-outage-series.svg, storm-scenarios.csv (the issue-9 scenarios: 100,000 clients),
# storm-scenarios.svg, storm-fleet.csv and storm-fleet.svg (fleet breakers, issue 12), storm-hedge.csv
# and storm-hedge.svg (hedged requests, issue 10). The plots are hand-written SVG from
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
  seeds="$seed,$((seed + 1)),$((seed + 2))"
else
  storm occ --quick --seed "$seed" > "$tmp/occ.csv"
  seeds="$seed"
fi
# What else was tried (issue 6c), at three network speeds; one CSV, one header.
for hop in 3 10 30; do
  storm candidates "${quick[@]}" --seeds "$seeds" --hop-ms "$hop" > "$tmp/cand-$hop.csv"
done
{ cat "$tmp/cand-3.csv"; tail -n +2 "$tmp/cand-10.csv"; tail -n +2 "$tmp/cand-30.csv"; } > "$tmp/candidates.csv"
storm outage "${quick[@]}" --seed "$seed" --series "$tmp/series.csv" > "$tmp/outage.csv" 2> "$tmp/outage.log"
cat "$tmp/outage.log" >&2
if [ ${#quick[@]} -eq 0 ]; then
  storm scenarios --clients 100000 --seed "$seed" > "$tmp/scenarios.csv"
else
  storm scenarios --quick --seed "$seed" > "$tmp/scenarios.csv"
fi
# Fleet breakers (issue 12): quiet and busy isolates, own breakers against the fleet's.
storm fleet "${quick[@]}" --seed "$seed" --rps 2 > "$tmp/fleet.csv"
storm fleet "${quick[@]}" --seed "$seed" --rps 20 --no-header >> "$tmp/fleet.csv"
cp "$tmp/fleet.csv" "$out/storm-fleet.csv"
python3 scripts/fleet-plot.py "$out/storm-fleet.csv" "$out/storm-fleet.svg"
# Hedged requests (issue 10).
storm hedge "${quick[@]}" --seed "$seed" > "$tmp/hedge.csv"
cp "$tmp/occ.csv" "$out/storm-occ.csv"
cp "$tmp/outage.csv" "$out/storm-outage.csv"
cp "$tmp/candidates.csv" "$out/storm-candidates.csv"
cp "$tmp/scenarios.csv" "$out/storm-scenarios.csv"
cp "$tmp/hedge.csv" "$out/storm-hedge.csv"
python3 scripts/storm-plots.py "$out/storm-occ.csv" "$out/storm-outage.csv" "$out" "$tmp/series.csv" \
  "$tmp/outage.log" "$out/storm-candidates.csv" "$out/storm-scenarios.csv" "$out/storm-hedge.csv"
echo "storm: wrote $out/storm-occ.csv, storm-outage.csv, storm-candidates.csv, storm-occ-time.svg," \
  "storm-occ-calls.svg, storm-occ-vs-fulljitter.svg, storm-candidates.svg, storm-outage.svg," \
  "storm-outage-series.svg, storm-scenarios.csv, storm-scenarios.svg, storm-fleet.csv, storm-fleet.svg," \
  "storm-hedge.csv, storm-hedge.svg" >&2
