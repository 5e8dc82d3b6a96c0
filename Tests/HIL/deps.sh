#!/usr/bin/env bash
# Installs what the rig needs from Debian (run by `make deps-hil`, which `make hil` and `make test`
# run); quick when everything is there. Tests/Setup/apt-install.sh installs, starting no service
# (bluez would start bluetoothd; the rig runs its own BlueZ inside the guest).
# The kernel is the one the archive's linux-headers-amd64 depends on now, never a pinned version.
# The arm64 rig needs only QEMU from the host (qemu-system-arm boots it, qemu-user-static runs the
# arm64 CLI that provisions its site); its kernel and userland come from the archive (archive.sh).
set -euo pipefail
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
PACKAGES="qemu-system-x86 qemu-system-arm qemu-user-static busybox-static kmod cpio xz-utils bc build-essential bluez bluez-test-tools gpiod sqlite3"
install() { bash "$(dirname "$0")/../Setup/apt-install.sh" --label hil --no-install-recommends "$@"; }
kver() { apt-cache depends linux-headers-amd64 2>/dev/null | grep -o 'linux-headers-[0-9][^ ]*-amd64' | head -1 | sed 's/^linux-headers-//'; }

install $PACKAGES
KVER=$(kver)
if [ -z "$KVER" ]; then $SUDO apt-get update -qq; KVER=$(kver); fi
[ -n "$KVER" ] || { echo "hil: the archive has no linux-headers-amd64" >&2; exit 1; }
SERIES=$(echo "$KVER" | cut -d. -f1,2)
install "linux-headers-$KVER" "linux-source-$SERIES"
