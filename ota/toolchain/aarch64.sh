#!/usr/bin/env bash
# The aarch64 cross toolchain, from Debian's own packages (docs/building.md):
#   - a Debian unstable root (amd64) with its swiftlang compiler, gcc's aarch64 cross compiler and
#     the arm64 -dev packages of every C library the binaries link (multiarch, static archives);
#   - aarch64's static Swift runtime, taken from swiftlang:arm64 without installing it.
# The root lives under .build/toolchain/aarch64-<key>, where the key hashes the versions of those
# packages in the archive and this script: a new swiftlang or libc builds a new root, an unchanged
# archive reuses the cached one. Prints the root's path on stdout; progress goes to stderr.
#
# usage: ota/toolchain/aarch64.sh                 prepare (or reuse) the root, print its path
#        ota/toolchain/aarch64.sh run CMD...      run CMD inside it (the project mounted at its own path)
# env:   DEBIAN_MIRROR (default http://deb.debian.org/debian)
#        NANOEDGE_TOOLCHAIN_ROOT  with `run`: a root this script printed, used without checking the index
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PROJECT=$(cd "$HERE/../.." && pwd)
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=sid
CACHE=$PROJECT/.build/toolchain
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
log() { echo "toolchain: $*" >&2; }

# Compiler side (amd64: libc6-dev for the package manifest, which is built for the host; patch and
# curl, lbzip2, bison, flex and perl for static-libs.sh, which also reads versions from apt's lists, so they stay) and target side
# (arm64). libgcc/libstdc++ follow the suite's default gcc, which the Swift driver finds as the newest
# GCC installation.
HOST_PACKAGES="swiftlang libc6-dev git make pkgconf gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu file ca-certificates xz-utils lbzip2 patch curl bison flex perl"
TARGET_LIBS="libc6-dev libssl-dev libcoap3-dev libgpiod-dev libbluetooth-dev zlib1g-dev libzstd-dev libsqlite3-dev"

# Versions of the packages above in the archive's index, one "name arch version" per line.
resolve_versions() {
    local tmp; tmp=$(mktemp -d)
    curl -fsS -o "$tmp/amd64.xz" "$MIRROR/dists/$SUITE/main/binary-amd64/Packages.xz"
    curl -fsS -o "$tmp/arm64.xz" "$MIRROR/dists/$SUITE/main/binary-arm64/Packages.xz"
    local gccv
    gccv=$(xz -dc "$tmp/amd64.xz" | awk '/^Package: gcc$/ {p=1} p && /^Depends:/ {print; exit}' \
        | grep -o 'gcc-[0-9]\+' | head -1 | cut -d- -f2)
    [ -n "$gccv" ] || { log "cannot tell $SUITE's default gcc from the index"; return 1; }
    echo "gcc-major amd64 $gccv"
    for arch in amd64 arm64; do
        local want
        if [ $arch = amd64 ]; then want="swiftlang gcc-aarch64-linux-gnu"; else want="$TARGET_LIBS libgcc-$gccv-dev libstdc++-$gccv-dev swiftlang"; fi
        xz -dc "$tmp/$arch.xz" | awk -v want=" $want " -v arch=$arch '
            /^Package: / {p = $2}
            /^Version: / && index(want, " " p " ") {print p, arch, $2}'
    done | sort -u
    rm -rf "$tmp"
}

# Mounts for a command inside the root, undone on exit.
MOUNTED=()
unmount_all() {
    local i
    for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do $SUDO umount -l "${MOUNTED[$i]}" 2>/dev/null || true; done
    MOUNTED=()
}
bind() {
    local src=$1 dst=$2 opts=${3:-}
    mkdir -p "$dst"
    $SUDO mount --bind "$src" "$dst"
    MOUNTED+=("$dst")
    [ -z "$opts" ] || $SUDO mount -o "remount,bind,$opts" "$dst"
}
enter() {
    local root=$1; shift
    trap unmount_all EXIT INT TERM
    bind /proc "$root/proc"
    bind /dev "$root/dev"
    bind "$PROJECT" "$root$PROJECT"
    # The local mirror of Swift packages, where the host's git reads github.com from one.
    local mirror
    mirror=$(git config --get-regexp '^url\..*\.insteadof$' 2>/dev/null | awk '$2 == "https://github.com/" {print $1; exit}' \
        | sed 's/^url\.//; s/\.insteadof$//')
    if [ -n "$mirror" ] && [ -d "$mirror" ]; then
        bind "$mirror" "$root$mirror" ro
        printf '[url "%s"]\n\tinsteadOf = https://github.com/\n' "$mirror" > "$root/etc/gitconfig"
    else
        rm -f "$root/etc/gitconfig"
    fi
    cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
    local status=0
    $SUDO chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 TERM=dumb \
        "$@" || status=$?
    unmount_all
    trap - EXIT INT TERM
    return $status
}

build_root() {
    local root=$1 gccv=$2
    local tmp=$root.tmp
    $SUDO rm -rf "$tmp"
    mkdir -p "$(dirname "$tmp")"
    log "debootstrap $SUITE into $tmp"
    $SUDO debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$tmp" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
        || { tail -20 "$CACHE/debootstrap.log" >&2; return 1; }
    cat > "$tmp/etc/apt/apt.conf.d/90nanoedge" <<'EOF'
// The archive's unstable Release file may be past its Valid-Until; the signature is still checked.
Acquire::Check-Valid-Until "false";
APT::Install-Recommends "false";
APT::Get::Assume-Yes "true";
Dpkg::Use-Pty "false";
EOF
    # Source lines too: static-libs.sh builds from the suite's sources.
    sed -n 's/^deb /deb-src /p' "$tmp/etc/apt/sources.list" >> "$tmp/etc/apt/sources.list"
    local libs="" p
    for p in $TARGET_LIBS libgcc-$gccv-dev libstdc++-$gccv-dev; do libs="$libs $p:arm64"; done
    log "installing swiftlang, the aarch64 cross gcc and the arm64 libraries"
    enter "$tmp" /bin/sh -ec "
        dpkg --add-architecture arm64
        apt-get -qq update
        DEBIAN_FRONTEND=noninteractive apt-get -qq install $HOST_PACKAGES $libs >/dev/null
        cd /tmp && apt-get -qq download swiftlang:arm64
        mkdir -p /opt/swift-aarch64
        dpkg-deb --fsys-tarfile swiftlang_*_arm64.deb | tar -x -C /opt/swift-aarch64 ./usr/libexec/swift/lib/swift_static
        rm -f swiftlang_*_arm64.deb
        # Its clang symlink points at the compiler's builtin headers, which are the same for every arch.
        ln -sfn /usr/libexec/swift/lib/clang /opt/swift-aarch64/usr/libexec/swift/lib/clang
        apt-get clean
    " >"$CACHE/install.log" 2>&1 || { tail -30 "$CACHE/install.log" >&2; return 1; }
    [ -f "$tmp/opt/swift-aarch64/usr/libexec/swift/lib/swift_static/linux/static-executable-args.lnk" ] \
        || { log "swiftlang:arm64 has no static runtime at usr/libexec/swift/lib/swift_static"; return 1; }
    $SUDO mv "$tmp" "$root"
}

# A caller that has just prepared the root (release-arm64.sh) passes it on, rather than having the
# archive's index read a second time.
if [ "${1:-}" = run ] && [ -n "${NANOEDGE_TOOLCHAIN_ROOT:-}" ] \
    && [ -f "$NANOEDGE_TOOLCHAIN_ROOT/opt/swift-aarch64/usr/libexec/swift/lib/swift_static/linux/static-executable-args.lnk" ]; then
    shift; enter "$NANOEDGE_TOOLCHAIN_ROOT" "$@"; exit
fi

mkdir -p "$CACHE"
VERSIONS=$CACHE/versions.txt
if versions=$(resolve_versions 2>"$CACHE/resolve.log"); then
    printf '%s\n' "$versions" > "$VERSIONS.new" && mv "$VERSIONS.new" "$VERSIONS"
elif [ -f "$VERSIONS" ]; then
    log "cannot read the archive's index ($(head -1 "$CACHE/resolve.log")); using the versions seen last"
else
    log "cannot read $MIRROR/dists/$SUITE: $(head -1 "$CACHE/resolve.log")"; exit 1
fi
KEY=$( (cat "$VERSIONS"; sha256sum "$0" | cut -c1-64) | sha256sum | cut -c1-12)
ROOT=$CACHE/aarch64-$KEY
if [ ! -f "$ROOT/opt/swift-aarch64/usr/libexec/swift/lib/swift_static/linux/static-executable-args.lnk" ]; then
    GCCV=$(awk '$1 == "gcc-major" {print $3}' "$VERSIONS")
    t0=$(date +%s)
    build_root "$ROOT" "$GCCV"
    log "root ready in $(( $(date +%s) - t0 )) s: $(awk '$1 == "swiftlang" && $2 == "amd64" {print "swiftlang " $3}' "$VERSIONS")"
    # Roots of older keys are several GB each.
    for old in "$CACHE"/aarch64-*; do
        [ "$old" = "$ROOT" ] || [ ! -d "$old" ] || { log "removing the old root $old"; $SUDO rm -rf "$old"; }
    done
fi
ln -sfn "aarch64-$KEY" "$CACHE/aarch64"

case "${1:-}" in
    "") echo "$ROOT" ;;
    run) shift; enter "$ROOT" "$@" ;;
    *) echo "usage: $0 [run CMD...]" >&2; exit 64 ;;
esac
