#!/usr/bin/env bash
# Runs apt-get or apt-cache against Debian's archive for another architecture, with its own lists in
# $ARCHIVE (default .build/hil-ARCH/apt), so the host's apt state and architectures stay untouched.
# The rig's userland comes from USERLAND_SUITE (default trixie), its kernel from KERNEL_SUITE (default
# sid, the first suite whose arm64 kernel builds gpio-sim as a module). Lists are refreshed when a
# day old.
# usage: archive.sh ARCH apt-get|apt-cache ARGS...   e.g. archive.sh arm64 apt-get download gpiod
set -euo pipefail
ARCH=${1:?usage: archive.sh ARCH apt-get|apt-cache ARGS...}; shift
HERE=$(cd "$(dirname "$0")" && pwd)
A=${ARCHIVE:-$HERE/../../.build/hil-$ARCH/apt}
mkdir -p "$A/lists/partial" "$A/cache/archives/partial" "$A/parts"
A=$(cd "$A" && pwd)
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
sources="deb [arch=$ARCH signed-by=$KEYRING] $MIRROR ${USERLAND_SUITE:-trixie} main
deb [arch=$ARCH signed-by=$KEYRING] $MIRROR ${KERNEL_SUITE:-sid} main"
# An empty status file: nothing counts as installed, and the host's packages never interfere.
[ -f "$A/status" ] || : > "$A/status"
cat > "$A/apt.conf" <<CONF
Dir::State "$A";
Dir::State::Lists "$A/lists";
Dir::State::status "$A/status";
Dir::Cache "$A/cache";
Dir::Etc::SourceList "$A/sources.list";
Dir::Etc::SourceParts "$A/parts";
Dir::Etc::Preferences "$A/preferences";
Dir::Etc::PreferencesParts "$A/parts";
APT::Architecture "$ARCH";
APT::Architectures { "$ARCH"; };
APT::Default-Release "${USERLAND_SUITE:-trixie}";
APT::Sandbox::User "root";
Acquire::Languages "none";
// sid's Release file is often past its Valid-Until.
Acquire::Check-Valid-Until "false";
CONF
export APT_CONFIG=$A/apt.conf
# apt dates the lists by the server's Last-Modified, so a stamp of our own tells their age.
if [ "$(cat "$A/sources.list" 2>/dev/null)" != "$sources" ] \
    || [ -z "$(find "$A/updated" -mmin -1440 2>/dev/null)" ]; then
    echo "$sources" > "$A/sources.list"
    apt-get update -qq >&2 || { echo "hil: apt-get update for $ARCH failed" >&2; exit 1; }
    touch "$A/updated"
fi
# On the command line, because the host's apt.conf.d (read after APT_CONFIG) may switch the binary
# caches off: then every apt-cache call parses both suites' lists again (3 s).
cmd=$1; shift
exec "$cmd" -o Dir::Cache::pkgcache=pkgcache.bin -o Dir::Cache::srcpkgcache=srcpkgcache.bin "$@"
