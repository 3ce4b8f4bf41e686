#!/usr/bin/env bash
# Builds every cargo-fuzz target and runs each one briefly; exits non-zero if any target finds
# a crash (the input is then in artifacts/<target>/, see README.md).
#
# Usage: run-all.sh [seconds-per-target]          (default: 30)
# Environment:
#   ZPAIR_FUZZ_TOOLCHAIN  rustup toolchain with cargo-fuzz (default: nightly)
#   ZPAIR_FUZZ_MAX_LEN    libFuzzer -max_len (default: 4096)
set -euo pipefail
cd "$(dirname "$0")"

secs="${1:-30}"
toolchain="${ZPAIR_FUZZ_TOOLCHAIN:-nightly}"
max_len="${ZPAIR_FUZZ_MAX_LEN:-4096}"
case "$secs" in
  '' | *[!0-9]*) echo "usage: $0 [seconds-per-target]" >&2; exit 2 ;;
esac

if ! cargo +"$toolchain" fuzz --version >/dev/null 2>&1; then
  echo "run-all.sh: needs cargo-fuzz on the '$toolchain' toolchain" >&2
  echo "  rustup toolchain install nightly && cargo install cargo-fuzz" >&2
  exit 2
fi

echo "== building fuzz targets"
cargo +"$toolchain" fuzz build

mkdir -p target/fuzz-logs
failed=()
for target in $(cargo +"$toolchain" fuzz list); do
  mkdir -p "corpus/$target"
  # New inputs go to corpus/<target> (not committed); seeds/ and regressions/ are read only.
  inputs=("corpus/$target")
  for dir in "seeds/$target" "regressions/$target"; do
    if [ -d "$dir" ]; then inputs+=("$dir"); fi
  done
  log="target/fuzz-logs/$target.log"
  echo "== $target: ${secs}s (log: fuzz/$log)"
  if cargo +"$toolchain" fuzz run "$target" "${inputs[@]}" -- \
      -max_total_time="$secs" -max_len="$max_len" -timeout=10 -print_final_stats=1 \
      >"$log" 2>&1; then
    grep -E '^Done [0-9]+ runs' "$log" || true
  else
    echo "!! $target FAILED; last lines of $log:" >&2
    tail -n 40 "$log" >&2
    failed+=("$target")
  fi
done

if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzzing found problems in: ${failed[*]}" >&2
  exit 1
fi
echo "== all fuzz targets OK"
