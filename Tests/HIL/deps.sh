#!/usr/bin/env bash
# Installs what the rig needs from Debian (run by `make deps`); quick when everything is there.
# The kernel is the one the archive's linux-headers-amd64 depends on now, never a pinned version.
# The arm64 rig needs only QEMU from the host (qemu-system-arm boots it, qemu-user-static runs the
# arm64 CLI that provisions its site); its kernel and userland come from the archive (archive.sh).
set -euo pipefail
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
PACKAGES="qemu-system-x86 qemu-system-arm qemu-user-static busybox-static kmod cpio xz-utils bc build-essential bluez bluez-test-tools gpiod sqlite3"
# The packages of "$@" that are not installed, in one dpkg-query.
absent() {
    local ok
    ok=$(dpkg-query -W -f='${Package} ${Status}\n' "$@" 2>/dev/null | awk '/install ok installed/ {print $1}')
    for p in "$@"; do echo "$ok" | grep -qx "$p" || echo "$p"; done
}
install() {
    echo "hil: installing Debian packages: $*"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
kver() { apt-cache depends linux-headers-amd64 2>/dev/null | grep -o 'linux-headers-[0-9][^ ]*-amd64' | head -1 | sed 's/^linux-headers-//'; }

missing=$(absent $PACKAGES)
[ -z "$missing" ] || install $missing
KVER=$(kver)
if [ -z "$KVER" ]; then $SUDO apt-get update -qq; KVER=$(kver); fi
[ -n "$KVER" ] || { echo "hil: the archive has no linux-headers-amd64" >&2; exit 1; }
SERIES=$(echo "$KVER" | cut -d. -f1,2)
missing=$(absent "linux-headers-$KVER" "linux-source-$SERIES")
[ -z "$missing" ] || install $missing
