#!/usr/bin/env bash
# PIR edge latency on the hardware-in-loop rig (docs/hil.md) with the release binaries, written into
# docs/benchmarks.md between the "hil" markers: one block per architecture, so the x86-64 rig's
# figures (`make bench-hil`, dist/) and the aarch64 rig's (`make bench-hil-arm64`, dist/arm64/)
# stand side by side and each run replaces only its own.
set -euo pipefail
cd "$(dirname "$0")/.."
ARCH=${HIL_ARCH:-amd64}
PULSES=${PULSES:-50}
case $ARCH in
    amd64) BIN=$PWD/dist OUT=.build/hil TITLE="x86-64" MACHINE="QEMU pc" ;;
    arm64) BIN=$PWD/dist/arm64 OUT=.build/hil-arm64 TITLE="aarch64" MACHINE="QEMU virt, Cortex-A72" ;;
    *) echo "bench-hil: HIL_ARCH must be amd64 or arm64" >&2; exit 1 ;;
esac
LOG=$OUT/bench.txt
mkdir -p "$OUT"
# Other work on the host shows in TCG figures: note how busy it was.
load="load average $(cut -d' ' -f1 /proc/loadavg) on $(nproc) cores"
HIL_ARCH=$ARCH HIL_BIN=$BIN HIL_TESTS=boot,rig,bench HIL_ARGS="hil.pulses=$PULSES" bash Tests/HIL/run.sh | tee "$LOG"
accel=$(grep -o 'HOST: booting with [a-z]*' "$LOG" | tail -1 | awk '{print $4}')
kver=$(grep -o 'booting [^ ,]*' "$LOG" | head -1 | sed 's/booting //')
row() {  # row NAME LABEL
    grep "BENCH $1 " "$LOG" | sed 's/.*p50_ms=\([^ ]*\) p99_ms=\([^ ]*\) max_ms=\([^ ]*\).*/\1 \2 \3/' \
        | awk -v label="$2" '{printf "| %s | %s ms | %s ms | %s ms |\n", label, $1, $2, $3}'
}
block=$(cat <<MD
<!-- hil-$ARCH:begin -->
### $TITLE: Debian's kernel $kver, $MACHINE ($accel, 2 vCPUs)

Measured $(date -u +%Y-%m-%d), $PULSES pulses, the host at $load when it started.

| from the sysfs write to | p50 | p99 | max |
|---|---|---|---|
$(row pir-write-to-edge-stamp "the kernel's edge stamp (\`edge_at\`; ms resolution, so ±1 ms)")
$(row pir-write-to-agent-event "the agent recording the motion event (\`at\`)")
$(row pir-write-to-gateway-stored "the event stored at the gateway (\`received_at\`), over DTLS on loopback")
<!-- hil-$ARCH:end -->
MD
)
head=$(cat <<'MD'
<!-- hil:begin (written by Benchmarks/hil.sh; Benchmarks/run.sh keeps it) -->
## PIR edge latency on the hardware-in-loop rig

Reproduce with `make bench-hil` (x86-64: release binaries from `make release`) or `make bench-hil-arm64`
(aarch64: `dist/arm64/` from `make release ARCH=arm64`), which run `Benchmarks/hil.sh`. Each pulse is
100 ms high every 500 ms, with the whole site (gateway, entrance and corridor agents) running in the VM,
on gpio-sim and the agent's libgpiod backend. `hil-pulse` reads the VM's wall clock and writes `pull-up`
to the PIR line's sysfs `pull`; the kernel stamps the edge; the agent reads it from the line fd in its
poll loop, records a motion event carrying the edge's time (`edge_at`, milliseconds) in its fsync'd log
(`at`) and sends it; the gateway stores it (`received_at`). The event times are whole milliseconds; with
50 pulses the p99 is the slowest one. Under TCG every instruction is emulated, so these are upper bounds
for the code path. `make bench` measures the agent-to-gateway part natively, with the simulated board
(which has no kernel edge).
MD
)
doc=docs/benchmarks.md
if grep -q "<!-- hil-$ARCH:begin" "$doc"; then
    awk -v repl="$block" -v b="<!-- hil-$ARCH:begin" -v e="<!-- hil-$ARCH:end -->" \
        'index($0, b) == 1 {print repl; skip = 1} !skip {print} index($0, e) == 1 {skip = 0}' "$doc" > "$doc.tmp"
elif grep -q '<!-- hil:end -->' "$doc"; then
    awk -v add="$block" '/<!-- hil:end -->/ {print add; print ""} {print}' "$doc" > "$doc.tmp"
else
    { cat "$doc"; echo; echo "$head"; echo; echo "$block"; echo; echo '<!-- hil:end -->'; } > "$doc.tmp"
fi
mv "$doc.tmp" "$doc"
echo "bench-hil: wrote the $TITLE block of the rig's section of $doc"
