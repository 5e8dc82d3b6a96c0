#!/usr/bin/env bash
# Builds the rig's initramfs: busybox, the cached kernel modules, the distribution's Bluetooth,
# GPIO and SQLite tools, the project's binaries, all with their shared libraries, and the guest
# scripts and board profiles. amd64 takes the host's tools and their libraries (from ldd); another
# ARCH takes them from the sysroot that userland.sh unpacked, following their ELF NEEDED entries.
# usage: KVER=… CACHE=… BIN=DIR [ARCH=arm64 SYSROOT=DIR] initramfs.sh OUTPUT
set -euo pipefail
: "${KVER:?}" "${CACHE:?}" "${BIN:?}"
OUT=${1:?usage: initramfs.sh OUTPUT}
HERE=$(cd "$(dirname "$0")" && pwd)
ARCH=${ARCH:-amd64}
case $ARCH in
    amd64) MACHINE="X86-64" ;;
    arm64) MACHINE="AArch64" TRIPLET=aarch64-linux-gnu EMULATOR=qemu-aarch64-static
           : "${SYSROOT:?set SYSROOT to the userland.sh sysroot}" ;;
    *) echo "hil: no rig for ARCH=$ARCH" >&2; exit 1 ;;
esac
R=$(mktemp -d "${TMPDIR:-/tmp}/nanoedge-hil-root.XXXXXX")
trap 'rm -rf "$R"' EXIT
mkdir -p "$R"/{bin,sbin,dev,proc,sys,tmp,run,var,etc,root,usr/bin,usr/local/bin,lib,lib64,hil}
# On merged-/usr hosts ldd names /lib/… and /usr/lib/… alike.
ln -s ../lib "$R/usr/lib"

if [ "$ARCH" = amd64 ]; then
    cp /bin/busybox "$R/bin/busybox"
    if ldd /bin/busybox >/dev/null 2>&1; then
        echo "hil: /bin/busybox is not static: install busybox-static (make deps)" >&2; exit 1
    fi
    SRC=""
    tool() { command -v "$1"; }
    # The libraries of a program, as paths on the host and in the guest alike.
    libs() { ldd "$1" 2>/dev/null | grep -o '/[^ ]*' || true; }
else
    cp -L "$SYSROOT/bin/busybox" "$R/bin/busybox"
    SRC=$SYSROOT
    tool() { [ -x "$SYSROOT/usr/bin/$1" ] && echo "$SYSROOT/usr/bin/$1"; }
    # The interpreter and, recursively, every NEEDED library, as paths in the guest (the same
    # under $SYSROOT, whose /lib leads to usr/lib).
    libs() {
        local -A seen=()
        local todo=("$1") f so p
        while [ ${#todo[@]} -gt 0 ]; do
            f=${todo[0]}; todo=("${todo[@]:1}")
            readelf -l "$f" 2>/dev/null | sed -n 's/.*program interpreter: \(.*\)]$/\1/p'
            for so in $(readelf -d "$f" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'); do
                [ -n "${seen[$so]:-}" ] && continue
                seen[$so]=1
                p=/lib/$TRIPLET/$so
                [ -e "$SYSROOT$p" ] || { echo "hil: $so (for $f) is not in $SYSROOT" >&2; exit 1; }
                echo "$p"
                todo+=("$SYSROOT$p")
            done
        done | sort -u
    }
fi
ln -s ../bin/busybox "$R/sbin/modprobe"   # the kernel's request_module() runs /sbin/modprobe
ln -s busybox "$R/bin/sh"

cp -a "$CACHE/modules/lib/modules" "$R/lib/"
depmod -b "$R" "$KVER"

copy() {  # copy FILE [DEST]: a program and every library it needs
    local src=$1 dst=${2:-$1} lib needed
    [ -e "$src" ] || { echo "hil: $src is missing: run \`make deps\`" >&2; exit 1; }
    mkdir -p "$R$(dirname "$dst")"
    cp -L "$src" "$R$dst"
    needed=$(libs "$src")
    for lib in $needed; do
        [ -e "$R$lib" ] && continue
        mkdir -p "$R$(dirname "$lib")"
        cp -L "$SRC$lib" "$R$lib"
    done
}
# gpiofind is libgpiod v1's only (v2's gpioinfo finds lines by name).
for t in btvirt hcitool hciconfig gpiodetect gpioinfo gpiomon gpioget gpiofind sqlite3; do
    if p=$(tool $t); then copy "$p" "/usr/bin/$t"
    elif [ $t != gpiofind ]; then echo "hil: $t is missing: run \`make deps\`" >&2; exit 1; fi
done
if [ "$ARCH" = amd64 ]; then
    gcc -O2 -Wall -o "$R/hil-pulse" "$HERE/guest/hil-pulse.c"
else
    # The Swift toolchain's clang, against the sysroot's glibc.
    CLANG=$(command -v clang || echo /opt/swift/usr/bin/clang)
    "$CLANG" --target=$TRIPLET --sysroot="$SYSROOT" -fuse-ld=lld -O2 -Wall -o "$R/hil-pulse" "$HERE/guest/hil-pulse.c"
fi
copy "$R/hil-pulse" /usr/local/bin/hil-pulse
rm "$R/hil-pulse"
for program in nanoedge-agent nanoedge; do
    [ -x "$BIN/$program" ] || { echo "hil: $BIN/$program is not built (swift build)" >&2; exit 1; }
    readelf -h "$BIN/$program" | grep -q "Machine: *.*$MACHINE" \
        || { echo "hil: $BIN/$program is not an $ARCH program" >&2; exit 1; }
    copy "$BIN/$program" "/usr/local/bin/$program"
done

# The CLI runs on the host; another architecture's (static) binary runs under QEMU's user mode.
EMULATOR=${EMULATOR:-} "$HERE/provision.sh" "$BIN/nanoedge" "$R/hil/site"

echo 'root:x:0:0:root:/root:/bin/sh' > "$R/etc/passwd"
echo 'root:x:0:' > "$R/etc/group"
cp "$HERE/guest/init" "$R/init"
cp "$HERE"/guest/*.sh "$R/hil/"
# The rig's profiles, and the simulated board for an entrance scanner when the build has no HCI backend.
cp -r "$HERE/boards" "$R/hil/boards"
cp "$HERE/../../boards/sim.toml" "$R/hil/boards/"
# Drivers this kernel lacks (kernel.sh): the guest skips what needs them and says why.
cp "$CACHE/lacks" "$R/hil/lacks" 2>/dev/null || : > "$R/hil/lacks"
chmod +x "$R/init"

# Uncompressed: the kernel unpacks a plain cpio at memory speed, which under TCG is faster than
# inflating gzip; QEMU reads the file from the host's page cache.
(cd "$R" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "hil: initramfs $OUT ($(du -h "$OUT" | cut -f1))"
