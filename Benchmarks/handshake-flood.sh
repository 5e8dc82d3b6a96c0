#!/usr/bin/env bash
# A good client's DTLS-PSK handshake plus one GET (coap-client-openssl, timed from process start to
# answer) while Benchmarks/dtls-flood.py sends 2,000 forged ClientHellos a second from a new source
# port each, against the gateway and against libcoap's coap-server-openssl in the same run. Prints a
# Markdown section on stdout (Benchmarks/run.sh appends it to docs/benchmarks.md); progress goes to
# stderr. Needs dist/nanoedge (make release); BEFORE=/path/to/an/older/nanoedge measures that one too.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/dist}
BEFORE=${BEFORE:-}
RUNS=${RUNS:-15}
RATE=${RATE:-2000}
WAIT_S=${WAIT_S:-5}           # coap-client gives up after this (-B)
PORT=${FLOOD_PORT:-57300}
command -v sqlite3 >/dev/null || { apt-get install -y -qq sqlite3 >/dev/null 2>&1 || sudo apt-get install -y -qq sqlite3 >/dev/null; }
WORK=$(mktemp -d /tmp/nanoedge-flood-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "flood bench: work directory $WORK" >&2

# A site with one tool identity. coap-client-openssl takes a key as text, so the provisioned key is
# replaced by a text one in the database.
"$BIN/nanoedge" keys device bench-tool --location entrance --role presence --db "$WORK/site.db" \
    --out "$WORK/bench-tool.psk" >/dev/null 2>&1
sqlite3 "$WORK/site.db" "UPDATE devices SET key = CAST('flood-bench-key' AS BLOB) WHERE id = 'bench-tool'"

# One timed handshake + GET; prints milliseconds, or "fail" when no answer came within WAIT_S.
attempt() {
    local port=$1 start end out
    start=$(date +%s%N)
    out=$(coap-client-openssl -B "$WAIT_S" -u bench-tool -k flood-bench-key "coaps://127.0.0.1:$port/.well-known/core" 2>&1 || true)
    end=$(date +%s%N)
    if [[ $out == *"</"* ]]; then echo $(( (end - start) / 1000000 )); else echo fail; fi
}

# RUNS attempts; prints "median_ms successes".
series() {
    local port=$1 times=() ok=0 t
    for _ in $(seq "$RUNS"); do
        t=$(attempt "$port")
        if [ "$t" != fail ]; then times+=("$t"); ok=$((ok + 1)); else times+=($((WAIT_S * 1000))); fi
    done
    echo "$(printf '%s\n' "${times[@]}" | median) $ok"
}

# Measures one server: quiet, then under the flood (which runs until the attempts are done).
measure() {
    local name=$1 port=$2 quiet flooded flood
    quiet=$(series "$port")
    python3 Benchmarks/dtls-flood.py --target "127.0.0.1:$port" --rate "$RATE" --duration 600 >"$WORK/flood-$name.json" &
    flood=$!
    sleep 1   # 2,000 hellos in: far past libcoap's 100 handshake slots
    flooded=$(series "$port")
    kill $flood 2>/dev/null || true
    wait $flood 2>/dev/null || true
    echo "$quiet $flooded"
}

start_gateway() {
    "$1" gateway --db "$WORK/site.db" --listen "127.0.0.1:$2" --quiet >/dev/null 2>&1 &
    pids+=($!)
    sleep 1.5
}

echo "flood bench: gateway" >&2
start_gateway "$BIN/nanoedge" "$PORT"
read -r gw_q gw_q_ok gw_f gw_f_ok < <(measure gateway "$PORT")
kill "${pids[-1]}"

echo "flood bench: coap-server-openssl" >&2
coap-server-openssl -A 127.0.0.1 -p $((PORT + 10)) -k flood-bench-key >/dev/null 2>&1 &
pids+=($!)
sleep 1
read -r cs_q cs_q_ok cs_f cs_f_ok < <(measure coap-server $((PORT + 11)))
kill "${pids[-1]}"

before_row=
if [ -n "$BEFORE" ]; then
    echo "flood bench: gateway before the handshake gate ($BEFORE)" >&2
    start_gateway "$BEFORE" $((PORT + 20))
    read -r b_q b_q_ok b_f b_f_ok < <(measure before $((PORT + 20)))
    kill "${pids[-1]}"
    before_row="| gateway before the handshake gate | $b_q ms ($b_q_ok/$RUNS) | $b_f ms (**$b_f_ok/$RUNS** answered) |"
fi

cat <<MD

## Handshake flood

Reproduce: \`bash Benchmarks/handshake-flood.sh\` (\`make bench\` runs it; \`BEFORE=/path/to/old/nanoedge\` adds a
third row).
A good client is \`coap-client-openssl -B $WAIT_S\` with a provisioned PSK: process start, DTLS-PSK
handshake, GET \`/.well-known/core\`, answer. The flood is \`Benchmarks/dtls-flood.py --rate $RATE\`:
DTLS 1.2 ClientHellos without a cookie, each from a new source port on the same host as the client,
running from 1 s before the first attempt to after the last. A failed attempt counts as $WAIT_S s.
Medians of $RUNS attempts, measured $(date -u +%Y-%m-%d) on $(nproc) cores, libcoap $(dpkg-query -W -f '${Version}' libcoap3 2>/dev/null || echo '?').

| server | no flood | under $RATE forged ClientHellos/s |
|---|---|---|
| \`nanoedge gateway\` | $gw_q ms ($gw_q_ok/$RUNS) | $gw_f ms (**$gw_f_ok/$RUNS** answered) |
| \`coap-server-openssl\` (same libcoap) | $cs_q ms ($cs_q_ok/$RUNS) | $cs_f ms (**$cs_f_ok/$RUNS** answered) |
$before_row

libcoap makes a session for every ClientHello from a new address and port before the cookie round
trip, and ignores new hellos once 100 of them are under 30 s old; coap-server-openssl has no defence
in front of it. The gateway's handshake gate answers cookie-less hellos itself, without state
(docs/security.md, Handshake floods).
MD
