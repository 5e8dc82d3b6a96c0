#!/usr/bin/env bash
# Builds the rig's initramfs: busybox, the cached kernel modules, the distribution's Bluetooth,
# GPIO and SQLite tools, the project's binaries, all with their shared libraries (from ldd), and
# the guest scripts and board profiles.
# usage: KVER=… CACHE=… BIN=DIR initramfs.sh OUTPUT
set -euo pipefail
: "${KVER:?}" "${CACHE:?}" "${BIN:?}"
OUT=${1:?usage: initramfs.sh OUTPUT}
HERE=$(cd "$(dirname "$0")" && pwd)
R=$(mktemp -d "${TMPDIR:-/tmp}/nanoedge-hil-root.XXXXXX")
trap 'rm -rf "$R"' EXIT
mkdir -p "$R"/{bin,sbin,dev,proc,sys,tmp,run,var,etc,root,usr/bin,usr/local/bin,lib,lib64,hil}
# On merged-/usr hosts ldd names /lib/… and /usr/lib/… alike.
ln -s ../lib "$R/usr/lib"

cp /bin/busybox "$R/bin/busybox"
if ldd /bin/busybox >/dev/null 2>&1; then
    echo "hil: /bin/busybox is not static: install busybox-static (make deps)" >&2; exit 1
fi
ln -s ../bin/busybox "$R/sbin/modprobe"   # the kernel's request_module() runs /sbin/modprobe
ln -s busybox "$R/bin/sh"

cp -a "$CACHE/modules/lib/modules" "$R/lib/"
depmod -b "$R" "$KVER"

copy() {  # copy FILE [DEST]: a program and every library ldd finds for it
    local src=$1 dst=${2:-$1} lib
    [ -e "$src" ] || { echo "hil: $src is missing: run \`make deps\`" >&2; exit 1; }
    mkdir -p "$R$(dirname "$dst")"
    cp -L "$src" "$R$dst"
    for lib in $(ldd "$src" 2>/dev/null | grep -o '/[^ ]*'); do
        [ -e "$R$lib" ] && continue
        mkdir -p "$R$(dirname "$lib")"
        cp -L "$lib" "$R$lib"
    done
}
for tool in btvirt hcitool hciconfig gpiodetect gpioinfo gpiomon gpioget gpiofind sqlite3; do
    copy "$(command -v $tool)" "/usr/bin/$tool"
done
gcc -O2 -Wall -o "$R/hil-pulse" "$HERE/guest/hil-pulse.c"
copy "$R/hil-pulse" /usr/local/bin/hil-pulse
rm "$R/hil-pulse"
for program in nanoedge-agent nanoedge; do
    [ -x "$BIN/$program" ] || { echo "hil: $BIN/$program is not built (swift build)" >&2; exit 1; }
    copy "$BIN/$program" "/usr/local/bin/$program"
done

"$HERE/provision.sh" "$BIN/nanoedge" "$R/hil/site"

echo 'root:x:0:0:root:/root:/bin/sh' > "$R/etc/passwd"
echo 'root:x:0:' > "$R/etc/group"
cp "$HERE/guest/init" "$R/init"
cp "$HERE"/guest/*.sh "$R/hil/"
# The rig's profiles, and the simulated board for an entrance scanner when the build has no HCI backend.
cp -r "$HERE/boards" "$R/hil/boards"
cp "$HERE/../../boards/sim.toml" "$R/hil/boards/"
chmod +x "$R/init"

# Uncompressed: the kernel unpacks a plain cpio at memory speed, which under TCG is faster than
# inflating gzip; QEMU reads the file from the host's page cache.
(cd "$R" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "hil: initramfs $OUT ($(du -h "$OUT" | cut -f1))"
