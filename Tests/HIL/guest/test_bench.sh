# PIR edge latency on the real GPIO path: hil-pulse writes gpio-sim's pull (the kernel raises the
# edge and stamps it), the agent reads it from the line fd, records a motion event with the edge's
# time (edge_at), appends it to its fsync'd log and sends it; the gateway stores it (received_at).
# All clocks are the VM's own wall clock. Figures are under TCG emulation: an upper bound.
. /hil/lib.sh
if ! site_up; then fail bench-pir "the site did not start"; exit 0; fi
pulses=$(param pulses 50)
mark=$(sql "SELECT coalesce(max(id), 0) FROM device_events")
# 100 ms high, 400 ms low: each pulse is its own motion (hold 0) and the log drains in between.
hil-pulse "$ENTRANCE_SYS/sim_gpio$PIR_LINE/pull" "$pulses" 100 400 > /tmp/pulses.txt
got() { [ "$(sql "SELECT count(*) FROM device_events WHERE id > $mark AND device = 'entrance-1'
    AND kind = 'motion' AND json_extract(body, '\$.state') = 'start'")" -ge "$pulses" ]; }
if ! wait_until 60 got; then
    fail bench-pir "fewer than $pulses motion starts reached the gateway"; site_logs; exit 0
fi
sql "SELECT json_extract(body, '\$.edge_at'), at, received_at FROM device_events WHERE id > $mark
    AND device = 'entrance-1' AND kind = 'motion' AND json_extract(body, '\$.state') = 'start'
    ORDER BY seq LIMIT $pulses" | tr '|' ' ' > /tmp/events.txt
# pulse i <-> i-th motion start; columns: write edge_at at received_at
paste -d' ' /tmp/pulses.txt /tmp/events.txt | awk '{print $3, $4, $5, $6}' > /tmp/pairs.txt
stats() {  # stats COLUMN NAME: edge->COLUMN delay in ms against the write time
    awk -v c="$1" '{print $c - $1}' /tmp/pairs.txt | sort -n | awk -v name="$2" -v n="$pulses" '
        { a[NR] = $1 }
        END { p99 = int(NR * 0.99 + 0.999); if (p99 < 1) p99 = 1; if (p99 > NR) p99 = NR
              med = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
              printf "HIL: BENCH %s n=%d p50_ms=%.1f p99_ms=%.1f max_ms=%.1f\n", name, NR, med, a[p99], a[NR] }'
}
stats 2 pir-write-to-edge-stamp
stats 3 pir-write-to-agent-event
stats 4 pir-write-to-gateway-stored
n=$(wc -l < /tmp/pairs.txt)
[ "$n" = "$pulses" ] && pass bench-pir "$pulses pulses" || fail bench-pir "$n of $pulses pulses paired"
