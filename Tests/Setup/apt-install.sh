#!/usr/bin/env bash
# Installs the Debian packages named that are missing, and lets none of their services start: while
# apt runs, a policy-rc.d refuses every start (invoke-rc.d and deb-systemd-invoke ask it), so
# PostgreSQL's cluster, bluetoothd and the like are installed but not running. It is removed
# afterwards, also when apt fails or is interrupted. A policy-rc.d already in place (a container's)
# is the machine's own and is left as it is. Quick when everything is installed: no apt, no sudo.
# usage: Tests/Setup/apt-install.sh [--label NAME] [--no-install-recommends] PACKAGE...
set -euo pipefail
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
label=deps
apt_options=()
while [ $# -gt 0 ]; do
    case $1 in
        --label) label=$2; shift 2 ;;
        --no-install-recommends) apt_options+=("$1"); shift ;;
        *) break ;;
    esac
done
[ $# -gt 0 ] || exit 0

# The packages not installed, in one dpkg-query.
ok=$(dpkg-query -W -f='${Package} ${Status}\n' "$@" 2>/dev/null | awk '/install ok installed/ {print $1}' || true)
missing=()
for p in "$@"; do grep -qxF -- "$p" <<<"$ok" || missing+=("$p"); done
[ ${#missing[@]} -gt 0 ] || exit 0
echo "$label: installing Debian packages: ${missing[*]}"

policy=/usr/sbin/policy-rc.d
if [ ! -e $policy ]; then
    trap '$SUDO rm -f $policy' EXIT
    # A signal ends the script through exit, so the EXIT trap runs.
    trap 'exit 130' INT; trap 'exit 143' TERM; trap 'exit 129' HUP
    printf '#!/bin/sh\n# Written by nanoedge'"'"'s Tests/Setup/apt-install.sh while it installs packages: start nothing.\nexit 101\n' \
        | $SUDO tee $policy >/dev/null
    $SUDO chmod 755 $policy
fi
$SUDO apt-get update -qq
# env: sudo drops the caller's environment.
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_options[@]}" "${missing[@]}" >/dev/null
