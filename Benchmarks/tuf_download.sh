#!/usr/bin/env bash
# Download-and-verify throughput of `nanoedge-agent tuf download` against `curl -o FILE` then
# `sha256sum FILE` on the same artifact from nginx on loopback, and the agent's memory during a
# download. Prints a Markdown section on stdout (Benchmarks/run.sh appends it to
# docs/benchmarks.md); progress goes to stderr. Needs dist/nanoedge-agent (make release).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/dist
SIZE_MB=${SIZE_MB:-200}
RSS_MB=${RSS_MB:-100}
RUNS=${RUNS:-5}
PORT=${NGINX_PORT:-18089}
for tool in nginx hyperfine; do
    command -v $tool >/dev/null || [ -x /usr/sbin/$tool ] || { apt-get install -y -qq ${tool/nginx/nginx-light} >/dev/null 2>&1 \
        || sudo apt-get install -y -qq ${tool/nginx/nginx-light} >/dev/null; }
done
[ -x /usr/bin/time ] || { apt-get install -y -qq time >/dev/null 2>&1 || sudo apt-get install -y -qq time >/dev/null; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
WORK=$(mktemp -d /tmp/nanoedge-tuf-bench.XXXXXX)
cleanup() { [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
chmod 755 "$WORK"   # nginx workers run as an unprivileged user
echo "tuf bench: work directory $WORK" >&2

# A python-tuf repository with two targets: SIZE_MB and RSS_MB of random bytes.
head -c $((SIZE_MB << 20)) /dev/urandom > "$WORK/big.bin"
head -c $((RSS_MB << 20)) /dev/urandom > "$WORK/medium.bin"
python3 - "$WORK" <<'PY'
import sys
sys.path.insert(0, "Tests/TUFTests/python")
from tuf_helper import Repo
from tuf.api.metadata import TargetFile
import os, shutil
work = sys.argv[1]
repo = Repo(os.path.join(work, "www"), "ed25519")
repo.create(delegate=False)
for name in ("big.bin", "medium.bin"):
    path = os.path.join(work, name)
    info = TargetFile.from_file(name, path)
    repo.md["targets"].signed.targets[name] = info
    shutil.move(path, os.path.join(repo.targets_dir, info.get_prefixed_paths()[0]))
repo.publish(["targets"], bump=False)
PY
BIG_PATH=$(cd "$WORK/www/targets" && ls *.big.bin)

cat > "$WORK/nginx.conf" <<CONF
daemon on;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
worker_processes 1;
events { worker_connections 64; }
http {
    access_log off;
    sendfile on;
    client_body_temp_path $WORK/tmp;
    proxy_temp_path $WORK/tmp;
    fastcgi_temp_path $WORK/tmp;
    uwsgi_temp_path $WORK/tmp;
    scgi_temp_path $WORK/tmp;
    server { listen 127.0.0.1:$PORT; root $WORK/www; }
}
CONF
mkdir -p "$WORK/tmp"
"$NGINX" -c "$WORK/nginx.conf" -e "$WORK/nginx-error.log"
sleep 0.5
URL=http://127.0.0.1:$PORT

"$BIN/nanoedge-agent" tuf --metadata-dir "$WORK/client" init "$WORK/www/metadata/1.root.json" >/dev/null
AGENT="$BIN/nanoedge-agent tuf --metadata-url $URL/metadata/ --metadata-dir $WORK/client --target-dir $WORK/out --target-base-url $URL/targets/"

echo "tuf bench: ${SIZE_MB} MB download and verify, $RUNS runs each (hyperfine)" >&2
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$WORK/throughput.json" \
    --prepare "rm -rf $WORK/out $WORK/client/staging $WORK/curl.bin" \
    "$AGENT --target-name big.bin download" \
    "bash -c 'curl -s -o $WORK/curl.bin $URL/targets/$BIG_PATH && sha256sum $WORK/curl.bin'" >&2
read -r ours theirs < <(python3 -c "import json;r=json.load(open('$WORK/throughput.json'))['results'];print(r[0]['median'], r[1]['median'])")

echo "tuf bench: agent memory during a ${RSS_MB} MB download" >&2
rm -rf "$WORK/out" "$WORK/client/staging"
/usr/bin/time -f %M -o "$WORK/refresh.rss" $AGENT refresh >/dev/null
/usr/bin/time -f %M -o "$WORK/download.rss" $AGENT --target-name medium.bin download >/dev/null
refresh_kb=$(tail -1 "$WORK/refresh.rss")
download_kb=$(tail -1 "$WORK/download.rss")

python3 - "$ours" "$theirs" "$refresh_kb" "$download_kb" "$SIZE_MB" "$RSS_MB" "$RUNS" <<'PY'
import sys
ours, theirs, refresh_kb, download_kb = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
size, rss_size, runs = int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
mb = size * 1048576 / 1e6
print(f"""
## TUF download and verify

Reproduce with `bash Benchmarks/tuf_download.sh` (after `make release`); `make bench` runs it too.
nginx on loopback serves a python-tuf repository; every figure comes from the same run.

| what | target | measured | peer in the same run |
|---|---|---|---|
| {size} MiB target: refresh, download, verify (sha256), fsync, move into the target directory (median of {runs}) | ratio ≥ 1.0 | {ours:.2f} s ({mb/ours:.0f} MB/s) | `curl -o FILE` then `sha256sum FILE`: {theirs:.2f} s ({mb/theirs:.0f} MB/s); ratio **{theirs/ours:.2f}** |
| agent peak RSS during a {rss_size} MiB download, above the same command's peak without a download (`tuf refresh`) | ≤ 4 MiB | +{(download_kb-refresh_kb)/1024:.2f} MiB ({download_kb} KiB vs {refresh_kb} KiB) | — |

Notes:
- The agent hashes while it writes (libcurl write callback → write(2) + SHA-256), so the file is read
  once; the peer writes it, then reads it back to hash it. The agent also fsyncs the verified file
  before it gets its name; curl does not.
- Ratio = peer time / agent time: above 1.0 the agent is faster.
- Peak RSS is GNU time's maximum resident set size of the whole process.
""")
PY
