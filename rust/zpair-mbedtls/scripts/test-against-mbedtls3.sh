#!/bin/sh
# Runs zpair-mbedtls' and zpair-core's tests with the C shim compiled against another mbedTLS
# source tree (e.g. Zephyr's mbedTLS 3.6 module) instead of the bundled 2.28.
#
# usage: scripts/test-against-mbedtls3.sh /path/to/mbedtls-3.6-source
#
# Builds libmbedcrypto from <src>/library with the tree's default configuration, compiles
# csrc/zpair_crypto_mbedtls.c against <src>/include, and runs `cargo test` on a temporary copy
# of the workspace in which zpair-core's dev-dependency on zpair-mbedtls does not use the
# `bundled` feature.
set -eu
SRC=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")/.." && pwd)
WS=$(cd "$HERE/.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
CC=${CC:-cc}

mkdir -p "$WORK/obj"
for f in "$SRC"/library/*.c; do
    "$CC" -O2 -std=c99 -I"$SRC/include" -I"$SRC/library" -I"$SRC/3rdparty/everest/include" \
        -c "$f" -o "$WORK/obj/$(basename "$f" .c).o"
done
ar rcs "$WORK/libmbedcrypto_ext.a" "$WORK"/obj/*.o
"$CC" -O2 -std=c99 -Wall -Wextra -Wshadow -Wconversion -Wno-sign-conversion -Werror \
    -I"$HERE/include" -I"$SRC/include" -c "$HERE/csrc/zpair_crypto_mbedtls.c" -o "$WORK/zp.o"
ar rcs "$WORK/libzpair_ext.a" "$WORK/zp.o"

mkdir "$WORK/ws"
(cd "$WS" && git ls-files | tar -cf - -T -) | tar -xf - -C "$WORK/ws"
sed -i 's|^zpair-mbedtls.workspace = true|zpair-mbedtls = { path = "../zpair-mbedtls", default-features = false, features = ["std"] }|' \
    "$WORK/ws/zpair-core/Cargo.toml"
cd "$WORK/ws"
CARGO_TARGET_DIR="$WORK/target" \
RUSTFLAGS="-L $WORK -l static=zpair_ext -l static=mbedcrypto_ext" \
    cargo test -p zpair-mbedtls -p zpair-core --no-default-features --features zpair-mbedtls/std
