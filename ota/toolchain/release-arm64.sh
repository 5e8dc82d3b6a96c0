#!/usr/bin/env bash
# `make release ARCH=arm64`: fully static aarch64 `nanoedge-agent` and `nanoedge` in dist/arm64/,
# built with Debian unstable's Swift in the toolchain root (ota/toolchain/aarch64.sh) against the
# arm64 packages' static archives: glibc, OpenSSL, libcoap 4.3.5, libgpiod 2, BlueZ, zlib, zstd,
# SQLite, and libcurl and libpq built small from Debian's sources (static-libs.sh).
# No dynamic section: the same files run on Raspberry Pi OS bookworm and trixie.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PROJECT=$(cd "$HERE/../.." && pwd)

if [ "${1:-}" != --inside ]; then
    t0=$(date +%s)
    root=$(bash "$HERE/aarch64.sh")
    # A build that had to make its root, or start its scratch directory, is a cold one.
    kind=warm
    [ -f "$root/.used" ] && [ -d "$PROJECT/.build/arm64/release" ] || kind=cold
    t1=$(date +%s)
    NANOEDGE_TOOLCHAIN_ROOT=$root bash "$HERE/aarch64.sh" run bash "$PROJECT/ota/toolchain/release-arm64.sh" --inside
    t2=$(date +%s)
    touch "$root/.used"
    # For make bench: total seconds, of which the toolchain root; one line per build.
    echo "$kind $((t2 - t0)) $((t1 - t0)) $(date -u +%Y-%m-%dT%H:%M:%SZ)" >> "$PROJECT/.build/arm64-build-times.txt"
    echo "release-arm64: $kind build in $((t2 - t0)) s (toolchain root $((t1 - t0)) s)"
    ls -l "$PROJECT/dist/arm64/"
    file "$PROJECT"/dist/arm64/nanoedge-agent "$PROJECT"/dist/arm64/nanoedge | sed 's/^/  /'
    exit 0
fi

# ---- inside the toolchain root ----
cd "$PROJECT"
STATIC=.build/static/aarch64
export CC=aarch64-linux-gnu-gcc AR=aarch64-linux-gnu-ar RANLIB=aarch64-linux-gnu-ranlib HOST=aarch64-linux-gnu
bash ota/toolchain/static-libs.sh curl "$STATIC/curl"
bash ota/toolchain/static-libs.sh libpq "$STATIC/libpq"
unset CC AR RANLIB HOST

# The arm64 .pc files only (never the compiler's own amd64 ones); curl's and libpq's come first.
# SwiftPM reads PKG_CONFIG_PATH (not PKG_CONFIG_LIBDIR) besides its own amd64 defaults, which hold none
# of these libraries here.
export PKG_CONFIG_LIBDIR=$PWD/$STATIC/curl/lib/pkgconfig:$PWD/$STATIC/libpq/lib/pkgconfig:/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig
export PKG_CONFIG_PATH=$PKG_CONFIG_LIBDIR
RUNTIME=/opt/swift-aarch64/usr/libexec/swift/lib/swift_static
# As the x86-64 release (Makefile's RELEASE_FLAGS): size-optimised, one section per function,
# unreferenced sections dropped, no exported dynamic symbols keeping code alive. lld, since
# GNU ld for aarch64 is not the linker the Swift driver finds here.
FLAGS=(-c release --triple aarch64-unknown-linux-gnu --scratch-path .build/arm64
    -Xswiftc -resource-dir -Xswiftc "$RUNTIME" -Xswiftc -static-executable -Xswiftc -use-ld=lld
    -Xswiftc -Osize -Xswiftc -Xfrontend -Xswiftc -function-sections
    -Xlinker --gc-sections -Xlinker --no-export-dynamic -Xlinker -z -Xlinker relro -Xlinker -z -Xlinker now
    -Xcc -I"$PWD/$STATIC/curl/include" -Xlinker -L"$PWD/$STATIC/curl/lib"
    -Xcc -I"$PWD/$STATIC/libpq/include" -Xlinker -L"$PWD/$STATIC/libpq/lib")
# The link map tells what takes the agent's space (Benchmarks/arm64.sh).
swift build "${FLAGS[@]}" --product nanoedge-agent -Xlinker -Map=.build/arm64/nanoedge-agent.map
# CPostgres's module map links libpq alone; its static archive needs PostgreSQL's two helpers.
swift build "${FLAGS[@]}" --product nanoedge -Xlinker -lpgcommon -Xlinker -lpgport
mkdir -p dist/arm64
for b in nanoedge-agent nanoedge; do
    # llvm-objcopy: binutils' strip rejects the AArch64 build attributes LLVM writes.
    /usr/libexec/swift/bin/llvm-objcopy --strip-all .build/arm64/release/$b dist/arm64/$b
done
