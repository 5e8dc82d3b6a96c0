#!/usr/bin/env bash
# Update server figures, each against a peer or target measured in the same run:
#   device check-ins per second with 10,000 devices, on SQLite and on PostgreSQL (wrk, median of runs);
#   artifact download throughput, the update server against nginx serving the same file (curl);
#   time from `nanoedge deploy create` to the first device notified by CoAP push (median).
# Writes its section of docs/benchmarks.md. `make bench` runs it after Benchmarks/run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH
BIN=${BIN:-$PWD/dist}
DEVICES=${DEVICES:-10000}
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
ARTIFACT_MB=${ARTIFACT_MB:-256}
PUSHES=${PUSHES:-15}
for tool in wrk:wrk nginx:nginx-light curl:curl; do
    command -v "${tool%%:*}" >/dev/null || { apt-get install -y -qq "${tool#*:}" >/dev/null 2>&1 || sudo apt-get install -y -qq "${tool#*:}" >/dev/null; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
WORK=$(mktemp -d /tmp/nanoedge-us-bench.XXXXXX)
chmod 755 "$WORK"
pids=()
pg_data=""
cleanup() {
    for p in "${pids[@]}"; do stop "$p"; done
    if [ -n "$pg_data" ]; then as_postgres "$PG_BIN/pg_ctl" -D "$pg_data" -m immediate stop >/dev/null 2>&1 || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
stop() { kill "$1" 2>/dev/null || true; for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; kill -9 "$1" 2>/dev/null || true; }
wait_http() { for _ in $(seq 100); do curl -sf "http://127.0.0.1:$1/health" >/dev/null && return 0; sleep 0.1; done; echo "server on $1 did not start"; exit 1; }

# One data directory (TUF repository and keys) for every run.
"$BIN/nanoedge" keys init --repo "$WORK/data/repository" >/dev/null
"$BIN/nanoedge" update-server token create bench --data "$WORK/data" --out "$WORK/admin.token" >/dev/null
ADMIN=$(cat "$WORK/admin.token")

# A PostgreSQL server of our own on a free port.
PG_PORT=$(free_port)
pg_data="$WORK/pg/data"
mkdir -p "$WORK/pg" && [ "$(id -u)" != 0 ] || chown postgres:postgres "$WORK/pg"
as_postgres "$PG_BIN/initdb" -D "$pg_data" -A trust -U postgres >/dev/null
as_postgres "$PG_BIN/pg_ctl" -D "$pg_data" -o "-p $PG_PORT -k $WORK/pg -c listen_addresses=127.0.0.1 -c max_connections=100" \
    -l "$WORK/pg/log" -w start >/dev/null
"$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE bench" >/dev/null
PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/bench"
# The same admin token in the PostgreSQL state (tokens live with the rest of the state).
python3 - "$WORK/data/state.db" "$WORK/pg.sql" <<'PY'
import sqlite3, sys
name, digest, created = sqlite3.connect(sys.argv[1]).execute("SELECT name, hash, created_at FROM tokens").fetchone()
open(sys.argv[2], "w").write(f"INSERT INTO tokens (name, hash, created_at) VALUES ('{name}', '{digest}', {created});\n")
PY

start_server() {  # $1: name, $2: database option, $3: http port, $4: coap port
    "$BIN/nanoedge" update-server --data "$WORK/data" $2 --http "127.0.0.1:$3" --coap "127.0.0.1:$4" --admin-http off \
        --boards "$PWD/boards" >"$WORK/$1.log" 2>&1 &
    pids+=($!)
    wait_http "$3"
}

checkins() {  # $1: name, $2: database option → median requests/s over RUNS
    local port coap results=() errors=0
    port=$(free_port); coap=$(free_port)
    start_server "$1" "$2" "$port" "$coap"
    local server=${pids[-1]}
    if [ "$1" = pg ]; then "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d bench -qf "$WORK/pg.sql" >/dev/null; fi
    python3 Benchmarks/register_devices.py "$port" "$ADMIN" "$1" "$DEVICES" "$WORK/$1.tokens"
    for _ in $(seq "$RUNS"); do
        wrk -t2 -c32 -d"${DURATION}s" -s Benchmarks/checkin.lua "http://127.0.0.1:$port" -- "$WORK/$1.tokens" > "$WORK/$1.wrk"
        results+=($(awk '/Requests\/sec/ {print int($2)}' "$WORK/$1.wrk"))
        local bad
        bad=$(awk '/Non-2xx/ {print $5}' "$WORK/$1.wrk")
        errors=$((errors + ${bad:-0}))
    done
    stop "$server"
    echo "$(printf '%s\n' "${results[@]}" | median) ${results[*]} errors=$errors"
}

echo "update-server bench: check-ins with $DEVICES devices, SQLite"
sqlite_result=$(checkins sqlite "")
echo "  $sqlite_result"
echo "update-server bench: check-ins with $DEVICES devices, PostgreSQL"
pg_result=$(checkins pg "--database $PG_URL")
echo "  $pg_result"

# Downloads: one server, one big artifact, nginx on the same targets directory.
HTTP=$(free_port); COAP=$(free_port)
start_server push "" "$HTTP" "$COAP"
export NANOEDGE_SERVER=http://127.0.0.1:$HTTP NANOEDGE_TOKEN=$ADMIN
python3 - "$WORK/artifact" "$ARTIFACT_MB" <<'PY'
import os, sys
path, megabytes = sys.argv[1], int(sys.argv[2])
header = bytearray(64); header[0:4] = b"\x7fELF"; header[4] = 2; header[5] = 1; header[6] = 1; header[16] = 3; header[18] = 62
with open(path, "wb") as out:
    out.write(header)
    block = os.urandom(1 << 20)
    for _ in range(megabytes): out.write(block)
PY
"$BIN/nanoedge" release add --kind binary --version 1.0.0 --board sim --name big "$WORK/artifact" --json > "$WORK/big.json"
SHA=$(python3 -c "import json;print(json.load(open('$WORK/big.json'))['sha256'])")
NGINX_PORT=$(free_port)
cat > "$WORK/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
error_log $WORK/nginx-error.log;
pid $WORK/nginx.pid;
events { worker_connections 64; }
http {
    access_log off;
    sendfile on;
    server { listen 127.0.0.1:$NGINX_PORT; root $WORK/data/repository; }
}
NGINX
"$NGINX" -c "$WORK/nginx.conf" &
pids+=($!)
sleep 0.5
ours=(); theirs=()
for _ in $(seq 5); do
    ours+=($(curl -s -o /dev/null -w '%{speed_download}' "http://127.0.0.1:$HTTP/targets/$SHA.big-1.0.0"))
    theirs+=($(curl -s -o /dev/null -w '%{speed_download}' "http://127.0.0.1:$NGINX_PORT/targets/$SHA.big-1.0.0"))
done
ours_med=$(printf '%s\n' "${ours[@]}" | median)
theirs_med=$(printf '%s\n' "${theirs[@]}" | median)
mbps() { python3 -c "print(round($1 / 1048576))"; }
download_ratio=$(python3 -c "print(round($ours_med / $theirs_med, 2))")

# Push: one device observes; each deploy alternates between two releases.
"$BIN/nanoedge" devices group add push >/dev/null
"$BIN/nanoedge" devices add watcher --board rpi4b --group push --out-dir "$WORK/creds" >/dev/null
for version in 2.0.0 2.0.1; do
    python3 -c "import sys;b=bytearray(4096);b[0:4]=b'\x7fELF';b[4]=2;b[5]=1;b[6]=1;b[16]=3;b[18]=183;b[100]=int(sys.argv[2][-1]);open(sys.argv[1],'wb').write(b)" \
        "$WORK/app-$version" "$version"
    "$BIN/nanoedge" release add --kind binary --version "$version" --board rpi4b --name app "$WORK/app-$version" >/dev/null
done
"$BIN/nanoedge" devices watch watcher --coap "127.0.0.1:$COAP" --psk-file "$WORK/creds/watcher.psk" > "$WORK/watch.log" &
pids+=($!)
for _ in $(seq 50); do [ -s "$WORK/watch.log" ] && break; sleep 0.1; done
latencies=()
for i in $(seq "$PUSHES"); do
    target=app-2.0.$((i % 2))
    lines=$(wc -l < "$WORK/watch.log")
    start=$(date +%s%3N)
    "$BIN/nanoedge" deploy create "$target" --group push --allow-downgrade >/dev/null
    for _ in $(seq 200); do [ "$(wc -l < "$WORK/watch.log")" -gt "$lines" ] && break; sleep 0.005; done
    arrived=$(tail -1 "$WORK/watch.log" | awk '{print $1}')
    latencies+=($((arrived - start)))
done
push_med=$(printf '%s\n' "${latencies[@]}" | median)

section=$(cat <<MD
<!-- update-server:begin -->
## Update server

Reproduce with \`make bench\` (or \`BIN=dist bash Benchmarks/update-server.sh\` after \`make release\`).
Measured $(date -u +%Y-%m-%d) on $(nproc) cores; release build; server, load and peers on loopback.
Load average from other work on the machine: $LOAD_BEFORE before the run, $(cut -d' ' -f1 /proc/loadavg) after it.

| what | target | measured | peer in the same run |
|---|---|---|---|
| device check-ins per second, $DEVICES devices, SQLite (wrk, 2 threads × 32 connections, ${DURATION} s × $RUNS, median) | — | $(echo "$sqlite_result" | awk '{print $1}') req/s (runs: $(echo "$sqlite_result" | cut -d' ' -f2- | sed 's/ errors=.*//'); non-2xx: $(echo "$sqlite_result" | sed 's/.*errors=//')) | PostgreSQL below |
| device check-ins per second, $DEVICES devices, PostgreSQL 15 (same load) | — | $(echo "$pg_result" | awk '{print $1}') req/s (runs: $(echo "$pg_result" | cut -d' ' -f2- | sed 's/ errors=.*//'); non-2xx: $(echo "$pg_result" | sed 's/.*errors=//')) | SQLite above |
| artifact download, ${ARTIFACT_MB} MiB target, curl, median of 5 | ≥ 0.8 × nginx | $(mbps "$ours_med") MiB/s | nginx (sendfile) same file: $(mbps "$theirs_med") MiB/s; ratio **$download_ratio** |
| \`nanoedge deploy create\` → first device notified by CoAP push (median of $PUSHES) | ≤ 100 ms | $push_med ms (all: ${latencies[*]}) | — |

Notes:
- A check-in is \`POST /api/v1/device/checkin\` with the device's token: the token is looked up by
  its hash, the device's version, slot and health are written, and its assignment is resolved and
  returned. Each request comes from the next of the $DEVICES devices.
- The push figure includes starting the \`nanoedge\` CLI, its HTTP request, the deployment's
  transaction, and the DTLS notification to \`nanoedge devices watch\`, which stamps its arrival.
<!-- update-server:end -->
MD
)
python3 - "$section" <<'PY'
import re, sys
path = "docs/benchmarks.md"
text = open(path).read() if __import__("os").path.exists(path) else "# Benchmarks\n"
section = sys.argv[1]
pattern = re.compile(r"<!-- update-server:begin -->.*?<!-- update-server:end -->", re.S)
text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section + "\n"
open(path, "w").write(text)
PY
echo "update-server bench: wrote its section of docs/benchmarks.md"
echo "$section"
