#!/usr/bin/env bash
# Fuzzing of the sans-IO core with cargo fuzz (libFuzzer): targets headers, options, call in
# fuzz/fuzz_targets/, corpora in fuzz/corpus/<target>/ (kept in the repo, minimized).
#
#   scripts/fuzz.sh [replay]          CI: build, run each target over its corpus, then fuzz each
#                                     for FUZZ_SECONDS (20) more; exits non-zero on any crash.
#   scripts/fuzz.sh long [MINUTES]    each target for MINUTES (10) in turn; prints exec counts.
#                                     New inputs go to fuzz/target/grown/<target>/ (not the repo).
#   scripts/fuzz.sh minimize          folds fuzz/target/grown/<target>/ into the repo corpus,
#                                     keeping a minimal set of inputs with the same coverage.
#   scripts/fuzz.sh TARGET...         replay only these targets (same as replay).
#
# Runs on the stable toolchain: `-s none` (no sanitizer) needs no nightly flag. The core has no
# unsafe code, so AddressSanitizer finds nothing that a panic would not; to use it anyway:
# FUZZ_SANITIZER=address (this sets RUSTC_BOOTSTRAP=1 for the -Z flag it needs).
# A crash leaves its input in fuzz/artifacts/<target>/; reproduce it with
#   cargo fuzz run -s none <target> fuzz/artifacts/<target>/crash-…
# and print it with `cargo fuzz fmt -s none <target> <file>`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

CARGO_FUZZ_VERSION=0.13.2
TARGETS=(headers options call)
SANITIZER="${FUZZ_SANITIZER:-none}"
if [ "$SANITIZER" != none ]; then export RUSTC_BOOTSTRAP=1; fi
say() { printf 'fuzz: %s\n' "$*"; }

mode="${1:-replay}"
case "$mode" in
  replay | long | minimize) shift || true ;;
  headers | options | call) mode=replay ;;
  *) echo "usage: scripts/fuzz.sh [replay [TARGET...] | long [MINUTES] | minimize]" >&2; exit 2 ;;
esac

if ! cargo fuzz --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION\$"; then
  say "installing cargo-fuzz $CARGO_FUZZ_VERSION (about 1.5 minutes)"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked \
    || cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

build_start=$SECONDS
say "building the targets (sanitizer: $SANITIZER)"
cargo fuzz build -s "$SANITIZER"
say "built in $((SECONDS - build_start)) s"

# Runs one target: corpus dirs first (new inputs go to the first), then libFuzzer flags.
# Prints its exec count; returns libFuzzer's status (non-zero on a crash).
run_target() {
  local target=$1 seconds=$2 scratch=$3
  mkdir -p "$scratch" "fuzz/artifacts/$target"
  # One process (no -jobs: that forks workers that log to ./fuzz-N.log). Logs are per run.
  local log="fuzz/target/fuzz-$target-$$.log" status=0
  cargo fuzz run -s "$SANITIZER" "$target" "$scratch" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    > "$log" 2>&1 || status=$?
  local execs speed
  execs=$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+$' || true)
  speed=$(grep -oE '^stat::average_exec_per_sec: *[0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+$' || true)
  local coverage
  coverage=$(grep -oE '^#[0-9]+[[:space:]]+DONE[[:space:]]+cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1 | sed -E 's/^#[0-9]+[[:space:]]+DONE[[:space:]]+//' || true)
  local corpus
  corpus=$(find "fuzz/corpus/$target" -type f | wc -l)
  printf 'fuzz: %-8s %s s: %s execs (%s/s), %s, repo corpus %s files, status %s\n' \
    "$target" "$seconds" "${execs:-?}" "${speed:-?}" "${coverage:-cov ?}" "$corpus" "$status"
  if [ "$status" != 0 ]; then
    say "$target FAILED (log: $log):"
    grep -E -m1 -A4 'panicked at|ERROR: libFuzzer' "$log" | cut -c1-2000 || true
    grep -E -A1000 'Output of `std::fmt::Debug`' "$log" | head -n 80 || true
    grep -E 'Test unit written to|Reproduce with|cargo fuzz run' "$log" | head -n 4 || true
  fi
  return "$status"
}

case "$mode" in
  replay)
    seconds="${FUZZ_SECONDS:-20}"
    targets=("$@")
    [ ${#targets[@]} -gt 0 ] || targets=("${TARGETS[@]}")
    failed=()
    replay_start=$SECONDS
    for target in "${targets[@]}"; do
      scratch=$(mktemp -d)
      run_target "$target" "$seconds" "$scratch" || failed+=("$target")
      rm -rf "$scratch"
    done
    say "replayed in $((SECONDS - replay_start)) s"
    if [ ${#failed[@]} -gt 0 ]; then
      say "crashed: ${failed[*]} (inputs in fuzz/artifacts/)"
      exit 1
    fi
    say "ok: ${#targets[@]} targets, no crash"
    ;;
  long)
    minutes="${1:-10}"
    failed=()
    for target in "${TARGETS[@]}"; do
      run_target "$target" "$((minutes * 60))" "fuzz/target/grown/$target" || failed+=("$target")
    done
    if [ ${#failed[@]} -gt 0 ]; then
      say "crashed: ${failed[*]} (inputs in fuzz/artifacts/)"
      exit 1
    fi
    say "no crash; grown inputs in fuzz/target/grown/ (scripts/fuzz.sh minimize keeps the useful ones)"
    ;;
  minimize)
    # The repo corpus is rebuilt as the smallest set of inputs (greedy set cover) that keeps
    # every edge any input of the old corpus or of fuzz/target/grown/ reaches (counters off:
    # hit counts would keep a thousand near-duplicates), plus the hand-made seeds.
    for target in "${TARGETS[@]}"; do
      grown="fuzz/target/grown/$target"
      kept=$(mktemp -d)
      mkdir -p "$grown"
      cargo fuzz run -s "$SANITIZER" "$target" "$kept" "$grown" "fuzz/corpus/$target" -- \
        -set_cover_merge=1 -use_counters=0 -rss_limit_mb=2048 > "fuzz/target/minimize-$target.log" 2>&1
      mkdir -p "$kept/seeds"
      mv fuzz/corpus/"$target"/seed-* "$kept/seeds/" 2>/dev/null || true
      rm -rf "fuzz/corpus/$target"
      mkdir -p "fuzz/corpus/$target"
      find "$kept" -maxdepth 1 -type f -exec mv {} "fuzz/corpus/$target/" \;
      mv "$kept"/seeds/* "fuzz/corpus/$target/" 2>/dev/null || true
      rm -rf "$kept"
      printf 'fuzz: %-8s corpus %s files, %s bytes\n' "$target" \
        "$(find "fuzz/corpus/$target" -type f | wc -l)" "$(du -sb "fuzz/corpus/$target" | cut -f1)"
    done
    ;;
esac
