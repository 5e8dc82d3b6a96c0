#!/usr/bin/env bash
# The aarch64 figures for docs/benchmarks.md (appended by Benchmarks/run.sh): the static agent's size
# and what takes it, from the link map of `make release ARCH=arm64`, and the cross build's times.
set -euo pipefail
cd "$(dirname "$0")/.."
AGENT=dist/arm64/nanoedge-agent
MAP=.build/arm64/nanoedge-agent.map
[ -x "$AGENT" ] && [ -f "$MAP" ] || { echo "bench: run make release ARCH=arm64 first" >&2; exit 1; }

# A warm build: the same tree again, nothing to compile.
bash ota/toolchain/release-arm64.sh >/dev/null
warm=$(awk '$1 == "warm" {s = $2} END {print s}' .build/arm64-build-times.txt)
cold=$(awk '$1 == "cold" {s = $2; r = $3; d = $4} END {if (s) print s " s (toolchain root " r " s), " d; else print "not measured on this machine"}' \
    .build/arm64-build-times.txt)
size=$(stat -c %s "$AGENT")

cat <<MD

## aarch64

\`make release ARCH=arm64\`, cross-built on this machine (docs/building.md). \`file\`: $(file -b "$AGENT" | cut -d, -f1-2,4).

| what | target | measured |
|---|---|---|
| stripped static aarch64 \`nanoedge-agent\` | ≤ 8 MB | $(python3 -c "print(round($size/1e6,2))") MB ($size bytes) |
| stripped static aarch64 \`nanoedge\` (gateway, update server) | — | $(python3 -c "import os;print(round(os.path.getsize('dist/arm64/nanoedge')/1e6,1))") MB |
| cross build, cold toolchain (root, static libraries, both binaries) | report | $cold |
| cross build, warm toolchain (nothing changed) | report | $warm s |

What takes the agent's space (code, read-only data, unwind tables; from the link map):

| part | MB |
|---|---|
MD
python3 - "$MAP" <<'PY'
import collections, re, sys
pat = re.compile(r'^\s*[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+\s+(\S.*):\((\S+)\)\s*$')
groups = {'libswiftCore.a': 'Swift runtime (libswiftCore)', 'libswift_Concurrency.a': 'Swift runtime (concurrency)',
          'libdispatch.a': 'Swift runtime (dispatch)', 'libcrypto.a': 'OpenSSL libcrypto', 'libssl.a': 'OpenSSL libssl',
          'libc.a': 'glibc', 'libm-2': 'glibc', 'libpthread.a': 'glibc', 'libzstd.a': 'zstd',
          'libcoap-3-openssl.a': 'libcoap', 'libcurl-minimal.a': 'libcurl (minimal)', 'libcurl.a': 'libcurl (minimal)',
          'libz.a': 'zlib', 'libgpiod.a': 'libgpiod 2', 'libbluetooth.a': 'BlueZ', 'libstdc++.a': 'C++ runtime',
          'libgcc': 'C++ runtime'}
sizes = collections.Counter()
for line in open(sys.argv[1]):
    m = pat.match(line)
    if not m or not m.group(3).startswith(('.text', '.rodata', '.data', '.eh_frame', '.gcc_except')):
        continue
    obj = m.group(2)
    if '.a(' in obj:
        lib = obj.split('(')[0].split('/')[-1]
        name = next((v for k, v in groups.items() if lib.startswith(k)), lib)
    elif '/release/' in obj:
        name = 'nanoedge (Swift modules)'
    else:
        name = 'other'
    sizes[name] += int(m.group(1), 16)
for name, size in sizes.most_common():
    if size >= 20000:
        print(f'| {name} | {size / 1e6:.2f} |')
PY
cat <<'MD'

The Swift runtime's core is one object (`Swift.o`, with the Unicode tables beside it) that
`--gc-sections` cannot thin, and OpenSSL 3 reaches every algorithm through its provider tables, so
the linker keeps them all: together they are most of the file. The static x86-64 agent's figure is
in the first table.
MD
