#!/usr/bin/env bash
# Size report: links zpair-core into a minimal bare-metal image and prints its sections.
#
#   rust/size-report/run.sh [TARGET ...]      (default: thumbv8m.main-none-eabihf)
#   OPT_LEVELS="z s" rust/size-report/run.sh thumbv7em-none-eabihf riscv32imac-unknown-none-elf
#
# SIZE_REPORT_RUSTFLAGS adds compiler flags (tools/perf-report: "-Z emit-stack-sizes"), and
# CARGO_PROFILE_RELEASE_DEBUG=line-tables-only adds line tables; neither changes the code or
# the figures. The images stay in rust/size-report/target/opt-<level>/<target>/release/.
#
# Needs Debian's Rust 1.96 with its library source (rustc-web, cargo-web, rust-web-src) to build
# core from source (-Z build-std), and lld (ld.lld) and llvm (llvm-size). tools/setup installs them.
# The image contains the core and a crypto provider that does nothing (the core's budget is
# measured without crypto; the crypto library's own size is reported by the Zephyr footprint).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(thumbv8m.main-none-eabihf)
opts=${OPT_LEVELS:-z}
cargo_bin=${ZPAIR_CROSS_CARGO:-/usr/bin/cargo}
rustc_bin=${ZPAIR_CROSS_RUSTC:-/usr/bin/rustc}
[ -x "$cargo_bin" ] || { echo "size-report: $cargo_bin missing (apt-get install cargo-web rustc-web rust-web-src)" >&2; exit 2; }
command -v ld.lld >/dev/null || { echo "size-report: ld.lld missing (apt-get install lld)" >&2; exit 2; }
size_tool=$(command -v llvm-size || command -v llvm-size-14 || true)
[ -n "$size_tool" ] || { echo "size-report: llvm-size missing (apt-get install llvm)" >&2; exit 2; }

printf '%-32s %-4s %9s %9s %9s\n' target opt .text .data .bss
for t in "${targets[@]}"; do
  for o in $opts; do
    tdir="$here/target/opt-$o"
    # Build from source with Debian's toolchain: RUSTC_BOOTSTRAP lets the stable compiler take -Z.
    env -u RUSTUP_TOOLCHAIN RUSTC="$rustc_bin" RUSTC_BOOTSTRAP=1 \
      CARGO_PROFILE_RELEASE_OPT_LEVEL="$o" \
      RUSTFLAGS="-C link-arg=-T$here/link.x -C linker=ld.lld -C linker-flavor=ld.lld ${SIZE_REPORT_RUSTFLAGS:-}" \
      "$cargo_bin" build --quiet --release --manifest-path "$here/Cargo.toml" \
        --target "$t" --target-dir "$tdir" \
        -Z build-std=core -Z build-std-features=compiler-builtins-mem
    elf="$tdir/$t/release/zpair-size-report"
    # Berkeley format: text includes .rodata and .vector_table; data and bss are static RAM.
    read -r text data bss _ < <("$size_tool" -B "$elf" | tail -n 1)
    printf '%-32s %-4s %9s %9s %9s\n' "$t" "$o" "$text" "$data" "$bss"
  done
done
