#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time (FUZZ_SECS each, 30 by
# default), starting from the seed corpus kept in fuzz/corpus/<target>.
# New inputs the fuzzer finds go to a scratch directory, not the repository;
# a crash fails the run and leaves its input under fuzz/artifacts/<target>.
# Built optimized with debug assertions, so overflows are found too.
# Needs a nightly toolchain (libFuzzer's sanitizer flags) and cargo-fuzz;
# installs cargo-fuzz from crates.io when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${FUZZ_SECS:-30}"
if ! cargo +nightly --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz
fi
cd fuzz
targets=$(cargo +nightly fuzz list)
cargo +nightly fuzz build -O -a
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=0
for target in $targets; do
  mkdir -p "corpus/$target" "$scratch/$target"
  echo "== fuzz $target for ${secs}s"
  # The first directory receives new inputs; the seed corpus is read only.
  if ! cargo +nightly fuzz run -O -a "$target" "$scratch/$target" "corpus/$target" -- \
      -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -print_final_stats=1 2>"$scratch/$target.log"; then
    tail -40 "$scratch/$target.log"
    echo "FAILED: fuzz target $target (input under fuzz/artifacts/$target)"
    failed=1
  else
    grep -E "^stat::(number_of_executed_units|peak_rss_mb|new_units_added)" "$scratch/$target.log" | tr '\n' ' '
    echo
  fi
done
exit "$failed"
