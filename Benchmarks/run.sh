#!/usr/bin/env bash
# Measures the agent and the gateway against libcoap's own tools in the same run, and writes
# docs/benchmarks.md. Run with `make bench` (it builds the release binaries first).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH
for pkg in hyperfine sqlite3; do
    command -v $pkg >/dev/null || { apt-get install -y -qq $pkg >/dev/null 2>&1 || sudo apt-get install -y -qq $pkg >/dev/null; }
done

BIN=$PWD/dist
WORK=$(mktemp -d /tmp/nanoedge-bench.XXXXXX)
GW_PORT=${GW_PORT:-56684}
LC_PORT=${LC_PORT:-56690}     # coap-server-openssl: DTLS on LC_PORT+1
RUNS=${RUNS:-30}
PULSES=${PULSES:-200}
REQUESTS=${REQUESTS:-4000}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "bench: work directory $WORK"
size=$(stat -c %s "$BIN/nanoedge-agent")
# A static agent (make release) names no libraries, and ldd exits 1 on it.
links=$(ldd "$BIN/nanoedge-agent" 2>&1 | awk '/not a dynamic executable|statically linked/ {print "none (static)"; next}
    {print $1}' | tr '\n' ' ') || true
static_coap=$(echo "$links" | grep -q libcoap && echo no || echo yes)
static_swift=$(echo "$links" | grep -q libswiftCore && echo no || echo yes)

# A site: gateway, one device, an entrance room.
"$BIN/nanoedge" keys site-key --out "$WORK/site.key" >/dev/null
"$BIN/nanoedge" keys device bench-1 --location entrance --role presence --role scanner \
    --db "$WORK/site.db" --out "$WORK/bench-1.psk" >/dev/null
"$BIN/nanoedge" registry room add entrance --name Entrance --kind entrance --db "$WORK/site.db" >/dev/null
cat > "$WORK/agent.toml" <<TOML
[device]
id = "bench-1"
psk_file = "bench-1.psk"
location = "entrance"
roles = ["presence", "scanner"]
board = "sim"
boards_dir = "$PWD/boards"
state_dir = "state"
[gateway]
uri = "coaps://127.0.0.1:$GW_PORT"
[scanner]
site_key_file = "site.key"
window_ms = 200
[simulator]
socket = "$WORK/sim.sock"
TOML
# Throughput is measured on the CoAP path, not on the per-device rate limit (20 messages/s by default).
cat > "$WORK/gateway.toml" <<TOML
[policy.rate]
messages_per_second = 1000000
burst_messages = 1000000
[policy.overload]
trip_busy_fraction = 1.0
TOML
"$BIN/nanoedge" gateway --db "$WORK/site.db" --listen "127.0.0.1:$GW_PORT" --config "$WORK/gateway.toml" \
    --quiet 2>"$WORK/gateway.log" &
pids+=($!)
coap-server-openssl -A 127.0.0.1 -p "$LC_PORT" -k bench-secret -d 10 >/dev/null 2>&1 &
pids+=($!)
sleep 1

echo "bench: start → registered (hyperfine, $RUNS runs each)"
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$WORK/startup.json" \
    "$BIN/nanoedge-agent --config $WORK/agent.toml --exit-when-registered" \
    "coap-client-openssl -u bench -k bench-secret coaps://127.0.0.1:$((LC_PORT + 1))/time" >/dev/null
agent_start=$(python3 -c "import json;d=json.load(open('$WORK/startup.json'));print(round(d['results'][0]['median']*1000,1))")
coap_start=$(python3 -c "import json;d=json.load(open('$WORK/startup.json'));print(round(d['results'][1]['median']*1000,1))")

echo "bench: idle agent memory"
"$BIN/nanoedge-agent" --config "$WORK/agent.toml" 2>"$WORK/agent.log" &
agent=$!
pids+=($agent)
sleep 3
rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$agent/status)
# The static agent maps no shared library: all of its RSS is private (a dynamic one also counted
# libcrypto, libssl and libstdc++ pages there).
private_kb=$(awk '/^Private_(Clean|Dirty)/ {s += $2} END {print s}' /proc/$agent/smaps_rollup)
anon_kb=$(awk '/^Anonymous/ {print $2}' /proc/$agent/smaps_rollup)
gw_rss_kb=$(awk '/VmRSS/ {print $2}' /proc/${pids[0]}/status)

echo "bench: $PULSES PIR edges → events stored at the gateway"
before=$(sqlite3 "$WORK/site.db" "SELECT count(*) FROM device_events WHERE kind='motion'")
for _ in $(seq "$PULSES"); do
    "$BIN/nanoedge" sim --socket "$WORK/sim.sock" pir pulse 5 >/dev/null
    sleep 0.03
done
sleep 2
sqlite3 "$WORK/site.db" "SELECT received_at - json_extract(body, '$.edge_at') FROM device_events
    WHERE kind = 'motion' AND json_extract(body, '$.state') = 'start' ORDER BY id" > "$WORK/pir.txt"
pir_count=$(wc -l < "$WORK/pir.txt")
pir_p50=$(sort -n "$WORK/pir.txt" | awk '{a[NR]=$1} END {print a[int(NR*0.5)+1]}')
pir_p99=$(sort -n "$WORK/pir.txt" | awk '{a[NR]=$1} END {i=int(NR*0.99)+1; if (i>NR) i=NR; print a[i]}')
kill $agent

echo "bench: GET throughput on a small JSON resource, same load generator, 3 rounds each"
body=$(
"$BIN/nanoedge" registry room list --json --db "$WORK/site.db" | python3 -c "import json,sys;r=json.load(sys.stdin)[0];print(json.dumps({'id':r['id'],'name':r['name'],'kind':r['kind'],'guidance':r['guidance']},separators=(',',':'),sort_keys=True))")
coap-client-openssl -B 3 -u bench -k bench-secret -m put -t 50 -e "$body" "coaps://127.0.0.1:$((LC_PORT + 1))/bench" >/dev/null 2>&1
ours=(); theirs=()
for round in 1 2 3; do
    ours+=($("$BIN/nanoedge" load --port "$GW_PORT" --identity bench-1 --key-file "$WORK/bench-1.psk" \
        --path registry/rooms --query id=entrance --requests "$REQUESTS" --json | python3 -c "import json,sys;print(round(json.load(sys.stdin)['per_second']))"))
    theirs+=($("$BIN/nanoedge" load --port "$((LC_PORT + 1))" --identity bench --key-text bench-secret \
        --path bench --requests "$REQUESTS" --json | python3 -c "import json,sys;print(round(json.load(sys.stdin)['per_second']))"))
done
ours_med=$(printf '%s\n' "${ours[@]}" | median)
theirs_med=$(printf '%s\n' "${theirs[@]}" | median)
ratio=$(python3 -c "print(round($ours_med / $theirs_med * 100))")
start_ratio=$(python3 -c "print(round($agent_start / $coap_start, 2))")
body_len=${#body}

# The rig's section (Benchmarks/hil.sh, `make bench-hil`) is kept as it is.
hil_section=$(sed -n '/<!-- hil:begin/,/<!-- hil:end -->/p' docs/benchmarks.md 2>/dev/null || true)
cat > docs/benchmarks.md <<MD
# Benchmarks

Reproduce with \`make bench\` (release build, stripped, static Swift runtime; then \`Benchmarks/run.sh\`).
Every peer figure comes from the same run on the same machine. Figures are medians unless named.
Measured $(date -u +%Y-%m-%d) on $(nproc) cores, $(uname -r).

| what | target | measured | peer in the same run |
|---|---|---|---|
| stripped \`nanoedge-agent\` | ≤ 8 MB | $(python3 -c "print(round($size/1e6,2))") MB ($size bytes) | — |
| libcoap linked statically | no libcoap in \`ldd\` | $static_coap | — |
| Swift runtime static | no libswiftCore in \`ldd\` | $static_swift | — |
| idle RSS of the agent (3 s after registering) | ≤ 12 MB | $(python3 -c "print(round($rss_kb/1024,2))") MiB, $rss_kb KiB (private $(python3 -c "print(round($private_kb/1024,1))") MiB, heap and stacks $(python3 -c "print(round($anon_kb/1024,1))") MiB) | gateway: $(python3 -c "print(round($gw_rss_kb/1024,1))") MiB |
| process start → registered over DTLS (median of $RUNS) | ≤ 30 ms | $agent_start ms | \`coap-client-openssl\` DTLS-PSK handshake + GET: $coap_start ms (ratio $start_ratio) |
| PIR edge → event stored at the gateway (DETECTED written in the same step), $pir_count edges | p99 ≤ 10 ms | p50 $pir_p50 ms, p99 $pir_p99 ms | — |
| GET throughput, $body_len-byte JSON resource, $REQUESTS requests × 3 rounds, 8 in flight | ≥ 80 % of coap-server | ${ours_med} req/s (rounds: ${ours[*]}) | \`coap-server-openssl\` same body: ${theirs_med} req/s (rounds: ${theirs[*]}); ratio **${ratio} %** |

\`ldd dist/nanoedge-agent\`: \`$links\`

Notes:
- Start-up: hyperfine runs the agent with \`--exit-when-registered\`: it loads its config and board
  profile, opens its event log, does the DTLS handshake and POSTs \`register\`, then exits.
- PIR latency: the simulated board stamps the edge; the agent runs it through the PIR filter, appends
  the event to its fsync'd log, and POSTs it; the gateway stores it (SQLite, synchronous=FULL) and
  writes DETECTED in the same handler. Wall-clock difference between edge and \`received_at\`.
- Throughput: \`nanoedge load\` keeps 8 requests in flight over one DTLS session against each server.
MD
echo "bench: good-client handshake under a ClientHello flood (Benchmarks/handshake-flood.sh)"
BIN="$BIN" bash Benchmarks/handshake-flood.sh >> docs/benchmarks.md
echo "bench: TUF download and verify (Benchmarks/tuf_download.sh)"
bash Benchmarks/tuf_download.sh >> docs/benchmarks.md
echo "bench: updater (binary switch, container update gap)"
python3 Benchmarks/updater.py "$BIN/nanoedge-agent" >> docs/benchmarks.md
bash Benchmarks/ble.sh "$WORK" >> docs/benchmarks.md
bash Benchmarks/arm64.sh >> docs/benchmarks.md
[ -z "$hil_section" ] || printf '\n%s\n' "$hil_section" >> docs/benchmarks.md
echo "bench: wrote docs/benchmarks.md"
BIN="$BIN" bash Benchmarks/update-server.sh
cat docs/benchmarks.md
