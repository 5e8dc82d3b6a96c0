#!/usr/bin/env bash
# The hardware-in-loop rig (`make hil`, docs/hil.md): boots Debian's kernel under QEMU with gpio-sim
# and two btvirt controllers, runs the project's real binaries inside, and checks the results that
# the guest prints on the serial console. Exit status 0 only if every expected check passed.
#
# env: HIL_ARCH    amd64 (default: Debian 12's kernel, the host's tools) or arm64 (sid's arm64 kernel
#                  on QEMU's virt machine, a userland from the archive: userland.sh)
#      HIL_TESTS   guest tests to run, in order (default boot,rig,check,site; bench for `make bench-hil`)
#      HIL_BIN     directory with nanoedge-agent and nanoedge (default .build/debug; dist/arm64 for arm64)
#      HIL_ARGS    extra kernel arguments for the guest, e.g. "hil.pulses=100"
#      KVER        kernel to boot (default: the one linux-headers-amd64, or sid's linux-image-arm64,
#                  depends on in the archive)
#      ACCEL, VM_TIMEOUT, VM_CPU, VERBOSE=1 (print the console as it runs): see vm.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"
TESTS=${HIL_TESTS:-boot,rig,check,site}
case ${HIL_ARCH:-amd64} in
    amd64 | x86_64) ARCH=amd64 OUT=$ROOT/.build/hil IMAGE=vmlinux BIN=${HIL_BIN:-$ROOT/.build/debug} ;;
    arm64 | aarch64) ARCH=arm64 OUT=$ROOT/.build/hil-arm64 IMAGE=Image BIN=${HIL_BIN:-$ROOT/dist/arm64} ;;
    *) echo "hil: HIL_ARCH must be amd64 or arm64" >&2; exit 1 ;;
esac
export ARCH

# Checks each guest test must report. A check may SKIP only when the guest found that this build
# lacks the backend it needs (accepted for the checks HIL_ALLOW_SKIP lists) or, for btvirt and scan,
# that the kernel lacks hci_vhci (kernel.sh's `lacks`).
ALLOW_SKIP=${HIL_ALLOW_SKIP:-}
declare -A EXPECT=(
    [boot]="agent-binary gateway-binary"
    [rig]="gpio-sim btvirt"
    [check]="board-check"
    [site]="motion scan guidance guidance-off"
    [bench]="bench-pir"
)

ts() { date +%s.%N; }
T0=$(ts)
if [ -z "${KVER:-}" ]; then
    # Never pinned: Debian drops old kernel packages, so follow the archive's current one.
    if [ $ARCH = amd64 ]; then
        KVER=$(apt-cache depends linux-headers-amd64 2>/dev/null | grep -o 'linux-headers-[0-9][^ ]*-amd64' \
            | head -1 | sed 's/^linux-headers-//')
    else
        KVER=$("$HERE/archive.sh" arm64 apt-cache depends "linux-image-arm64/${KERNEL_SUITE:-sid}" 2>/dev/null \
            | grep -o 'linux-image-[0-9][^ ]*-arm64$' | head -1 | sed 's/^linux-image-//')
    fi
    [ -n "$KVER" ] || { echo "hil: cannot tell the $ARCH kernel version from apt-cache: run \`make deps\`" >&2; exit 1; }
fi
export KVER
CACHE=$OUT/$KVER
mkdir -p "$OUT"
LOG=$OUT/console.log
CACHE=$CACHE "$HERE/kernel.sh"
if [ $ARCH != amd64 ]; then
    USERLAND=$OUT/userland "$HERE/userland.sh"
    export SYSROOT=$OUT/userland/root
fi
# Without the driver (kernel.sh says why), the guest reports btvirt and the scan as SKIP.
if grep -q '^hci_vhci:' "$CACHE/lacks" 2>/dev/null; then ALLOW_SKIP="$ALLOW_SKIP btvirt scan"; fi
T1=$(ts)
CACHE=$CACHE BIN=$BIN "$HERE/initramfs.sh" "$OUT/initramfs.cpio"
T2=$(ts)
echo "hil: booting $KVER ($ARCH), tests $TESTS (console: $LOG)"
"$HERE/vm.sh" "$CACHE/$IMAGE" "$OUT/initramfs.cpio" "$LOG" "$TESTS" "${HIL_ARGS:-}" || true
T3=$(ts)

# ---- the verdict ----
tr -d '\r' < "$LOG" > "$LOG.txt" && mv "$LOG.txt" "$LOG"
passed=0 failed=0 skipped=0
problems=()
declare -A seen=()
while read -r _ _ check verdict why; do
    seen[$check]=1
    case $verdict in
        PASS) passed=$((passed + 1)) ;;
        SKIP) skipped=$((skipped + 1))
              case " $ALLOW_SKIP " in *" $check "*) ;; *) problems+=("$check skipped, but it must run: $why") ;; esac ;;
        *)    failed=$((failed + 1)); problems+=("$check failed: $why") ;;
    esac
done < <(grep '^HIL: RESULT ' "$LOG")
for t in ${TESTS//,/ }; do
    for check in ${EXPECT[$t]:-}; do
        [ -n "${seen[$check]:-}" ] || { failed=$((failed + 1)); problems+=("$check never reported (the VM stopped early?)"); }
    done
done
grep -q '^HIL: done' "$LOG" || problems+=("the guest did not finish (see $LOG)")

grep -E '^HIL: (RESULT|BENCH)' "$LOG" | sed 's/^HIL: /  /' || true
init=$(sed -n 's/.*HIL: init started at \([0-9.]*\) s.*/\1/p' "$LOG" | head -1)
prep=$([ $ARCH = amd64 ] && echo kernel || echo "kernel and userland")
printf 'hil: %s %.1f s, initramfs %.1f s, VM %.1f s (init at %s s), total %.1f s\n' "$prep" \
    "$(echo "$T1 - $T0" | bc)" "$(echo "$T2 - $T1" | bc)" "$(echo "$T3 - $T2" | bc)" "${init:-?}" "$(echo "$T3 - $T0" | bc)"
if [ ${#problems[@]} -gt 0 ]; then
    echo "hil: console log (last 60 lines):"; tail -n 60 "$LOG" | sed 's/^/  | /'
    for p in "${problems[@]}"; do echo "hil: FAIL $p"; done
fi
echo "hil: $passed checks passed, $failed failed, $skipped skipped"
[ ${#problems[@]} -eq 0 ]
