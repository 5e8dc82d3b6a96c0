#!/usr/bin/env bash
# Boots the Debian kernel with the rig's initramfs under QEMU and copies the serial console to LOG
# (and to standard output with VERBOSE=1). No network device: the VM talks only to itself.
# usage: vm.sh KERNEL INITRD LOG TESTS [EXTRA_KERNEL_ARGS]
# env: ARCH=amd64|arm64 (default amd64; arm64 is the virt machine with a Cortex-A72, a Pi 4's core),
#      ACCEL=auto|kvm|tcg (auto: KVM when /dev/kvm works, the guest is the host's architecture and
#      it reaches init within KVM_BOOT_TIMEOUT s, else TCG), VM_TIMEOUT (s, default 300),
#      VM_MEMORY (MiB, default 1024), VM_CPU (arm64 TCG, default cortex-a72: `max` adds pointer
#      authentication, whose emulation triples the boot time)
set -uo pipefail
KERNEL=$1 INITRD=$2 LOG=$3 TESTS=$4 EXTRA=${5:-}
VM_TIMEOUT=${VM_TIMEOUT:-300}
case ${ARCH:-amd64} in
    amd64) QEMU=(qemu-system-x86_64 -M pc) CONSOLE=ttyS0 KVM_ON=x86_64 TCG_CPU=max ;;
    arm64) QEMU=(qemu-system-aarch64 -M virt) CONSOLE=ttyAMA0 KVM_ON=aarch64 TCG_CPU=${VM_CPU:-cortex-a72} ;;
    *) echo "hil: no VM for ARCH=$ARCH" >&2; exit 1 ;;
esac

boot() {  # boot kvm|tcg LIMIT: LIMIT s to reach init (0: no limit); status 0 if init ran
    local accel=$1 limit=$2 args
    if [ "$accel" = kvm ]; then args=(-enable-kvm -cpu host); else args=(-accel tcg,thread=multi -cpu "$TCG_CPU"); fi
    : > "$LOG"
    echo "HOST: booting with $accel"
    # In a subshell, so that the shell's note about a crashed QEMU (KVM) goes to the log.
    ( timeout -k 5 "$VM_TIMEOUT" "${QEMU[@]}" "${args[@]}" -smp 2 -m "${VM_MEMORY:-1024}" \
        -kernel "$KERNEL" -initrd "$INITRD" \
        -append "console=$CONSOLE quiet panic=-1 random.trust_cpu=on hil=$TESTS $EXTRA" \
        -nographic -no-reboot -nodefaults -serial stdio -monitor none </dev/null >> "$LOG" 2>&1; exit $? ) 2>>"$LOG" &
    local vm=$! tailer=
    if [ "${VERBOSE:-0}" = 1 ]; then tail -n +1 -f "$LOG" --pid=$vm & tailer=$!; fi
    if [ "$limit" -gt 0 ]; then
        local n=0
        while kill -0 $vm 2>/dev/null && ! grep -q 'HIL: init started' "$LOG"; do
            sleep 0.2; n=$((n + 1))
            if [ $n -ge $((limit * 5)) ]; then
                echo "HOST: $accel did not reach init within $limit s"; kill $vm 2>/dev/null; break
            fi
        done
    fi
    wait $vm 2>/dev/null; local rc=$?
    [ -n "$tailer" ] && { sleep 0.2; kill $tailer 2>/dev/null; wait $tailer 2>/dev/null; }
    [ $rc = 124 ] && echo "HOST: the VM was stopped after $VM_TIMEOUT s" | tee -a "$LOG"
    grep -q 'HIL: init started' "$LOG"
}

case ${ACCEL:-auto} in
    auto)
        if [ -w /dev/kvm ] && [ "$(uname -m)" = "$KVM_ON" ] && boot kvm "${KVM_BOOT_TIMEOUT:-15}"; then :; else
            echo "HOST: KVM unusable here, using TCG"; boot tcg 0; fi ;;
    *) boot "$ACCEL" 0 ;;
esac
