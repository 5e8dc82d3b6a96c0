#!/usr/bin/env bash
# Prepares what the rig boots, once per kernel version, under $CACHE (default .build/hil/$KVER):
#   vmlinux   uncompressed, for QEMU's PVH direct boot (skips the real-mode setup and the
#             decompressor: about 3 s instead of 7 s under TCG)
#   modules/  lib/modules/$KVER with only the modules the rig loads, and gpio-sim.ko
# Debian's kernel has CONFIG_GPIO_SIM unset, so gpio-sim is built out of tree from linux-source
# (gpio-sim.c with irq_sim.c linked in; one patch, below). Needs linux-headers-$KVER,
# linux-source-X.Y and build-essential (`make deps`).
# usage: KVER=6.1.0-56-amd64 kernel.sh
set -euo pipefail
: "${KVER:?set KVER, e.g. from hil-kver}"
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${CACHE:-$HERE/../../.build/hil/$KVER}
SERIES=$(echo "$KVER" | cut -d. -f1,2)              # 6.1.0-56-amd64 -> 6.1
SRC_TAR=${SRC_TAR:-/usr/src/linux-source-$SERIES.tar.xz}
HEADERS=/usr/src/linux-headers-$KVER
# Modules the rig loads; their dependencies are added from modinfo.
#  - configfs: gpio-sim is configured through it
#  - hci_vhci: the virtual HCI controllers that btvirt drives
#  - af_alg, algif_hash, algif_skcipher, ecb, cmac: btvirt's emulated controller uses the kernel's
#    AES and CMAC through AF_ALG sockets
#  - drbg, jitterentropy_rng, sha3_generic, sha512_generic, ctr: the stdrng that Bluetooth's ECDH
#    (LE pairing) asks for at init, and the crypto self-tests of those
ROOTS="configfs hci_vhci af_alg algif_hash algif_skcipher ecb cmac drbg jitterentropy_rng sha3_generic sha512_generic ctr"

# The stamp names what the cache was built from: a change to this script rebuilds it.
STAMP="$KVER $(sha256sum "$0" | cut -c1-16)"
if [ -f "$CACHE/ready" ] && [ "$(cat "$CACHE/ready")" = "$STAMP" ]; then
    echo "hil: kernel $KVER cached in $CACHE"
    exit 0
fi
for need in "$SRC_TAR" "$HEADERS/Module.symvers"; do
    [ -e "$need" ] || { echo "hil: $need is missing: run \`make deps\` (installs linux-source-$SERIES and linux-headers-$KVER)" >&2; exit 1; }
done
rm -rf "$CACHE"
WORK=$CACHE/tmp
mkdir -p "$WORK/deb" "$WORK/src"

# 1. The kernel package, unpacked without installing it.
(cd "$WORK/deb" && apt-get download -q "linux-image-$KVER" >/dev/null)
dpkg-deb -x "$WORK"/deb/linux-image-"${KVER}"_*.deb "$WORK/root"
KROOT=$WORK/root
[ -f "$KROOT/boot/vmlinuz-$KVER" ] || KROOT=$WORK/root/usr  # should a future package move /boot
MDIR=$WORK/root/lib/modules/$KVER
[ -d "$MDIR" ] || MDIR=$WORK/root/usr/lib/modules/$KVER

# 2. The few files needed from linux-source (one pass over the .tar.xz).
P=linux-source-$SERIES
tar -xJf "$SRC_TAR" -C "$WORK/src" "$P/scripts/extract-vmlinux" "$P/drivers/gpio/gpio-sim.c" \
    "$P/drivers/gpio/gpiolib.h" "$P/kernel/irq/irq_sim.c"
S=$WORK/src/$P
sh "$S/scripts/extract-vmlinux" "$KROOT/boot/vmlinuz-$KVER" > "$WORK/vmlinux"

# 3. The modules and their dependencies.
OUT=$WORK/modules/lib/modules/$KVER
mkdir -p "$OUT"
declare -A taken=()
take() {
    local m=$1 f rel dep
    [ -n "${taken[$m]:-}" ] && return
    taken[$m]=1
    if grep -q "/$m.ko$" "$MDIR/modules.builtin"; then return; fi
    f=$(find "$MDIR/kernel" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" | head -1)
    [ -n "$f" ] || { echo "hil: module $m not found in linux-image-$KVER" >&2; exit 1; }
    rel=${f#"$MDIR"/}
    mkdir -p "$OUT/$(dirname "$rel")"
    cp "$f" "$OUT/$rel"
    for dep in $(modinfo -F depends "$f" | tr ',' ' '); do take "$dep"; done
}
for m in $ROOTS; do take "$m"; done
cp "$MDIR"/modules.builtin "$MDIR"/modules.builtin.modinfo "$MDIR"/modules.order "$OUT/"

# 4. gpio-sim: the kernel's own module if it has one, else built out of tree.
if f=$(find "$MDIR/kernel" -name 'gpio-sim.ko*' | head -1) && [ -n "$f" ]; then
    take gpio-sim
else
    G=$WORK/gpio-sim
    mkdir -p "$G"
    cp "$S/drivers/gpio/gpio-sim.c" "$G/gpio-sim-main.c"
    cp "$S/drivers/gpio/gpiolib.h" "$G/"
    # irq_sim.c's one use of irq_to_desc(), which the kernel does not export, becomes
    # generic_handle_irq(): the same here, because irq_sim_domain_map() sets the virq's flow
    # handler to handle_simple_irq.
    sed 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_irq(irqnum);/' \
        "$S/kernel/irq/irq_sim.c" > "$G/irq_sim.c"
    grep -q 'generic_handle_irq(irqnum);' "$G/irq_sim.c" \
        || { echo "hil: the irq_sim.c patch no longer applies to linux-source-$SERIES" >&2; exit 1; }
    printf 'obj-m := gpio-sim.o\ngpio-sim-y := gpio-sim-main.o irq_sim.o\n' > "$G/Kbuild"
    make -s -C "$HEADERS" M="$G" modules 2>&1 | grep -v 'Skipping BTF' || true
    [ -f "$G/gpio-sim.ko" ] || { echo "hil: building gpio-sim.ko failed" >&2; exit 1; }
    # Every undefined symbol must be exported by vmlinux or a module the rig loads.
    missing=0
    for s in $(nm -u "$G/gpio-sim.ko" | awk '{print $2}'); do
        grep -qP "\t$s\t(vmlinux|fs/configfs/configfs)\t" "$HEADERS/Module.symvers" \
            || { echo "hil: gpio-sim.ko needs $s, which the kernel does not export" >&2; missing=1; }
    done
    [ $missing = 0 ] || exit 1
    modinfo -F vermagic "$G/gpio-sim.ko" | grep -q "^$KVER " \
        || { echo "hil: gpio-sim.ko vermagic does not match $KVER" >&2; exit 1; }
    mkdir -p "$OUT/extra"
    cp "$G/gpio-sim.ko" "$OUT/extra/"
fi

mv "$WORK/vmlinux" "$CACHE/vmlinux"
mv "$WORK/modules" "$CACHE/modules"
rm -rf "$WORK"
echo "$STAMP" > "$CACHE/ready"
echo "hil: kernel $KVER prepared in $CACHE ($(du -sh "$CACHE" | cut -f1))"
