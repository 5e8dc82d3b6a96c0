#!/usr/bin/env bash
# Prepares what the rig boots, once per kernel version, under $CACHE (default .build/hil/$KVER for
# amd64, .build/hil-arm64/$KVER for arm64):
#   vmlinux   amd64: uncompressed, for QEMU's PVH direct boot (skips the real-mode setup and the
#             decompressor: about 3 s instead of 7 s under TCG)
#   Image     arm64: the raw Image that QEMU's virt machine boots directly
#   modules/  lib/modules/$KVER with only the modules the rig loads (decompressed: busybox's modprobe
#             reads plain .ko), and gpio-sim.ko
#   lacks     optional drivers the kernel does not have, one per line with its config option
# amd64: Debian 12's kernel has CONFIG_GPIO_SIM unset, so gpio-sim is built out of tree from
# linux-source (gpio-sim.c with irq_sim.c linked in; one patch, below). Needs linux-headers-$KVER,
# linux-source-X.Y and build-essential (`make deps`).
# arm64: the kernel comes from the archive's KERNEL_SUITE through archive.sh and builds gpio-sim as
# a module; it may lack hci_vhci, which is then noted in `lacks`.
# usage: KVER=6.1.0-56-amd64 kernel.sh; ARCH=arm64 KVER=7.2.13+deb14-arm64 kernel.sh
set -euo pipefail
: "${KVER:?set KVER, e.g. from hil-kver}"
HERE=$(cd "$(dirname "$0")" && pwd)
ARCH=${ARCH:-amd64}
case $ARCH in
    amd64)
        CACHE=${CACHE:-$HERE/../../.build/hil/$KVER}
        IMAGE=vmlinux
        APT=(apt-get)
        # Modules the rig loads; their dependencies are added from modinfo.
        #  - configfs: gpio-sim is configured through it
        #  - hci_vhci: the virtual HCI controllers that btvirt drives
        #  - af_alg, algif_hash, algif_skcipher, ecb, cmac: btvirt's emulated controller uses the
        #    kernel's AES and CMAC through AF_ALG sockets
        #  - drbg, jitterentropy_rng, sha3_generic, sha512_generic, ctr: the stdrng that Bluetooth's
        #    ECDH (LE pairing) asks for at init, and the crypto self-tests of those
        ROOTS="configfs hci_vhci af_alg algif_hash algif_skcipher ecb cmac drbg jitterentropy_rng sha3_generic sha512_generic ctr"
        # Taken when the kernel has them; hci_vhci is required here.
        BT=""
        ;;
    arm64)
        CACHE=${CACHE:-$HERE/../../.build/hil-arm64/$KVER}
        IMAGE=Image
        APT=("$HERE/archive.sh" arm64 apt-get)
        ROOTS="configfs gpio-sim"
        # btvirt's modules, as for amd64, taken only if the kernel has hci_vhci. Names differ across
        # kernel versions (sha3_generic became sha3) and some are built in: a missing one is skipped.
        BT="hci_vhci af_alg algif_hash algif_skcipher ecb cmac drbg jitterentropy_rng sha3_generic sha3 sha512_generic ctr"
        ;;
    *) echo "hil: no rig for ARCH=$ARCH (amd64 or arm64)" >&2; exit 1 ;;
esac
SERIES=$(echo "$KVER" | cut -d. -f1,2)              # 6.1.0-56-amd64 -> 6.1
SRC_TAR=${SRC_TAR:-/usr/src/linux-source-$SERIES.tar.xz}
HEADERS=/usr/src/linux-headers-$KVER

# The stamp names what the cache was built from: a change to this script rebuilds it.
STAMP="$KVER $ARCH $(sha256sum "$0" | cut -c1-16)"
if [ -f "$CACHE/ready" ] && [ "$(cat "$CACHE/ready")" = "$STAMP" ]; then
    echo "hil: kernel $KVER cached in $CACHE"
    exit 0
fi
if [ "$ARCH" = amd64 ]; then
    for need in "$SRC_TAR" "$HEADERS/Module.symvers"; do
        [ -e "$need" ] || { echo "hil: $need is missing: run \`make deps\` (installs linux-source-$SERIES and linux-headers-$KVER)" >&2; exit 1; }
    done
fi
rm -rf "$CACHE"
WORK=$CACHE/tmp
mkdir -p "$WORK/deb" "$WORK/src"

# 1. The kernel package, unpacked without installing it. Newer ones are split: linux-image-KVER
#    depends on linux-binary-KVER (the image), linux-modules-KVER and linux-base-KVER (config,
#    modules.builtin), which are fetched too.
SUITE=$([ "$ARCH" = amd64 ] || echo "/${KERNEL_SUITE:-sid}")
(cd "$WORK/deb" && "${APT[@]}" download -q "linux-image-$KVER$SUITE" >/dev/null)
for p in $(dpkg-deb -f "$WORK"/deb/linux-image-"${KVER}"_*.deb Depends | tr ',|' '\n\n' | awk '{print $1}'); do
    case $p in
        "linux-binary-$KVER" | "linux-modules-$KVER" | "linux-base-$KVER")
            (cd "$WORK/deb" && "${APT[@]}" download -q "$p$SUITE" >/dev/null) ;;
    esac
done
for d in "$WORK"/deb/*.deb; do dpkg-deb -x "$d" "$WORK/root"; done
VMLINUZ=
for f in "$WORK/root/boot/vmlinuz-$KVER" "$WORK/root/usr/lib/modules/$KVER/vmlinuz" "$WORK/root/usr/boot/vmlinuz-$KVER"; do
    [ -f "$f" ] && { VMLINUZ=$f; break; }
done
[ -n "$VMLINUZ" ] || { echo "hil: no kernel image in linux-image-$KVER" >&2; exit 1; }
MDIR=$WORK/root/lib/modules/$KVER
[ -d "$MDIR/kernel" ] || MDIR=$WORK/root/usr/lib/modules/$KVER
CONFIG=$MDIR/config
[ -f "$CONFIG" ] || CONFIG=$WORK/root/boot/config-$KVER

# 2. The image QEMU boots. amd64: vmlinux, with the few files needed from linux-source (one pass
#    over the .tar.xz). arm64: the raw Image, which Debian ships uncompressed or gzipped.
P=linux-source-$SERIES
S=$WORK/src/$P
if [ "$ARCH" = amd64 ]; then
    tar -xJf "$SRC_TAR" -C "$WORK/src" "$P/scripts/extract-vmlinux" "$P/drivers/gpio/gpio-sim.c" \
        "$P/drivers/gpio/gpiolib.h" "$P/kernel/irq/irq_sim.c"
    sh "$S/scripts/extract-vmlinux" "$VMLINUZ" > "$WORK/$IMAGE"
else
    if gzip -t "$VMLINUZ" 2>/dev/null; then zcat "$VMLINUZ" > "$WORK/$IMAGE"; else cp "$VMLINUZ" "$WORK/$IMAGE"; fi
    # An arm64 Image carries "ARM\x64" at offset 56.
    [ "$(dd if="$WORK/$IMAGE" bs=1 skip=56 count=4 2>/dev/null | od -An -c | tr -d ' ')" = 'ARMd' ] \
        || { echo "hil: $VMLINUZ is not an arm64 Image (EFI zboot?)" >&2; exit 1; }
fi

# 3. The modules and their dependencies.
OUT=$WORK/modules/lib/modules/$KVER
mkdir -p "$OUT"
declare -A taken=()
find_ko() {  # the file of module $1 (- and _ are the same in module names), or nothing
    find "$MDIR/kernel" -regextype posix-extended -regex ".*/${1//[-_]/[-_]}\.ko(\.xz|\.zst)?" | head -1
}
builtin() { grep -qE "/${1//[-_]/[-_]}\.ko\$" "$MDIR/modules.builtin"; }
take() {
    local m=$1 f rel dep
    [ -n "${taken[$m]:-}" ] && return
    taken[$m]=1
    if builtin "$m"; then return; fi
    f=$(find_ko "$m")
    [ -n "$f" ] || { echo "hil: module $m not found in linux-image-$KVER" >&2; exit 1; }
    rel=${f#"$MDIR"/}
    rel=${rel%.xz}; rel=${rel%.zst}
    mkdir -p "$OUT/$(dirname "$rel")"
    case $f in
        *.xz) xz -dc "$f" > "$OUT/$rel" ;;
        *.zst) zstd -qdc "$f" > "$OUT/$rel" ;;
        *) cp "$f" "$OUT/$rel" ;;
    esac
    for dep in $(modinfo -F depends "$OUT/$rel" | tr ',' ' '); do take "$dep"; done
}
for m in $ROOTS; do take "$m"; done
: > "$WORK/lacks"
if [ -n "$BT" ]; then
    vhci=${BT%% *}
    if builtin "$vhci" || [ -n "$(find_ko "$vhci")" ]; then
        for m in $BT; do if builtin "$m" || [ -n "$(find_ko "$m")" ]; then take "$m"; fi; done
    else
        echo "$vhci: $(grep -E '^(# )?CONFIG_BT_HCIVHCI[ =]' "$CONFIG" 2>/dev/null || echo 'no module')" >> "$WORK/lacks"
    fi
fi
cp "$MDIR"/modules.builtin "$MDIR"/modules.builtin.modinfo "$MDIR"/modules.order "$OUT/"

# 4. gpio-sim: the kernel's own module if it has one, else built out of tree.
if f=$(find_ko gpio-sim) && [ -n "$f" ]; then
    take gpio-sim
elif [ "$ARCH" != amd64 ]; then
    echo "hil: linux-image-$KVER has no gpio-sim module" >&2; exit 1
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

mv "$WORK/$IMAGE" "$CACHE/$IMAGE"
mv "$WORK/modules" "$CACHE/modules"
mv "$WORK/lacks" "$CACHE/lacks"
rm -rf "$WORK"
echo "$STAMP" > "$CACHE/ready"
echo "hil: kernel $KVER prepared in $CACHE ($(du -sh "$CACHE" | cut -f1))"
