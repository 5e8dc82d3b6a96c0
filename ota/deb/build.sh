#!/usr/bin/env bash
# Builds the Debian packages from built binaries:
#   nanoedge-common board profiles (architecture: all)
#   nanoedge-agent  the agent for each Pi (binary, systemd unit, udev rule)
#   nanoedge        gateway, update server and operator CLI (binary, systemd units)
# usage: ota/deb/build.sh VERSION BIN_DIR OUT_DIR
# Depends: is computed from the binaries' shared libraries (ldd + dpkg -S), so a new library link
# cannot be forgotten. A library that no Debian package provides (a debug build's Swift runtime)
# stops the build unless ALLOW_UNPACKAGED_LIBS=1. DEB_COMPRESSION (default xz) goes to dpkg-deb -Z.
set -euo pipefail
version=${1:?version}; bin=${2:?binary directory}; out=${3:?output directory}
here=$(cd "$(dirname "$0")" && pwd); ota=$(dirname "$here"); root=$(dirname "$ota")
arch=$(dpkg --print-architecture)
compression=${DEB_COMPRESSION:-xz}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

# Debian package names (with a >= the installed version) for the libraries a binary links.
depends_of() {
    local binary=$1 deps=() lib real pkg ver
    while read -r lib; do
        real=$(readlink -f "$lib")
        pkg=$(dpkg -S "$lib" 2>/dev/null | head -1 | cut -d: -f1 || true)
        [ -n "$pkg" ] || pkg=$(dpkg -S "$real" 2>/dev/null | head -1 | cut -d: -f1 || true)
        if [ -z "$pkg" ]; then
            if [ "${ALLOW_UNPACKAGED_LIBS:-0}" = 1 ]; then continue; fi
            echo "build.sh: $binary links $lib, which no Debian package provides; build with 'make release'" >&2
            exit 1
        fi
        ver=$(dpkg-query -W -f='${Version}' "$pkg" | sed 's/-[^-]*$//')
        deps+=("$pkg (>= $ver)")
    done < <(ldd "$binary" | awk '$3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u)
    printf '%s\n' "${deps[@]}" | sort -u | paste -sd, - | sed 's/,/, /g'
}

control() { # name depends description
    cat <<CONTROL
Package: $1
Version: $version
Architecture: $arch
Maintainer: nanoedge <packages@nanoedge.invalid>
Section: net
Priority: optional
Depends: adduser, $2
Homepage: https://nanoedge.invalid
Description: $3
CONTROL
}

# nanoedge-common: the board profiles both binaries read
pkg=$work/nanoedge-common
install -d -m 0755 "$pkg/usr/share/nanoedge/boards" "$pkg/DEBIAN"
install -m 0644 "$root"/boards/*.toml "$pkg/usr/share/nanoedge/boards/"
{ control nanoedge-common "" "nanoedge board profiles (Raspberry Pi 3B, 4B, 5, Zero 2 W, simulated)" \
    | sed -e "s/^Architecture: .*/Architecture: all/" -e "s/^Depends: adduser, $/Depends: adduser/"
  echo " Board profiles: the GPIO chip label, PIR and LED lines, BLE adapter and PIR timing per board."
} > "$pkg/DEBIAN/control"
dpkg-deb --root-owner-group -Z"$compression" --build "$pkg" "$out/nanoedge-common_${version}_all.deb" >/dev/null

# nanoedge-agent
pkg=$work/nanoedge-agent
install -D -m 0755 "$bin/nanoedge-agent" "$pkg/usr/bin/nanoedge-agent"
install -d -m 0755 "$pkg/etc/nanoedge"
install -D -m 0644 "$ota/nanoedge-agent.service" "$pkg/lib/systemd/system/nanoedge-agent.service"
install -D -m 0644 "$ota/99-nanoedge-gpio.rules" "$pkg/lib/udev/rules.d/99-nanoedge-gpio.rules"
install -D -m 0644 "$here/agent.toml.example" "$pkg/usr/share/doc/nanoedge-agent/agent.toml.example"
install -d "$pkg/DEBIAN"
{ control nanoedge-agent "nanoedge-common (= $version), $(depends_of "$bin/nanoedge-agent")" \
    "nanoedge agent for Raspberry Pi: PIR, LEDs, BLE scanning, CoAP/DTLS to the site gateway"
  echo " The agent of a nanoedge site. It reads a PIR sensor and drives LEDs through libgpiod,"
  echo " scans BLE through raw HCI, and reports to its site gateway over CoAP with DTLS."
} > "$pkg/DEBIAN/control"
install -m 0755 "$here/agent.postinst" "$pkg/DEBIAN/postinst"
install -m 0755 "$here/prerm" "$pkg/DEBIAN/prerm"
install -m 0755 "$here/postrm" "$pkg/DEBIAN/postrm"
sed -i 's/@UNITS@/nanoedge-agent.service/' "$pkg/DEBIAN/prerm" "$pkg/DEBIAN/postrm"
dpkg-deb --root-owner-group -Z"$compression" --build "$pkg" "$out/nanoedge-agent_${version}_${arch}.deb" >/dev/null

# nanoedge
pkg=$work/nanoedge
install -D -m 0755 "$bin/nanoedge" "$pkg/usr/bin/nanoedge"
for unit in nanoedge-gateway.service nanoedge-update-server.service; do
    install -D -m 0644 "$ota/$unit" "$pkg/lib/systemd/system/$unit"
done
install -D -m 0644 "$here/gateway.toml" "$pkg/etc/nanoedge/gateway.toml"
install -d "$pkg/DEBIAN"
echo /etc/nanoedge/gateway.toml > "$pkg/DEBIAN/conffiles"
{ control nanoedge "nanoedge-common (= $version), $(depends_of "$bin/nanoedge")" \
    "nanoedge site gateway, update server and operator tools"
  echo " The site gateway (registry, visit flow, CoAP/DTLS), the update server (signed releases,"
  echo " rollouts) and the operator command line of a nanoedge fleet."
} > "$pkg/DEBIAN/control"
install -m 0755 "$here/server.postinst" "$pkg/DEBIAN/postinst"
install -m 0755 "$here/prerm" "$pkg/DEBIAN/prerm"
install -m 0755 "$here/postrm" "$pkg/DEBIAN/postrm"
sed -i 's/@UNITS@/nanoedge-gateway.service nanoedge-update-server.service/' "$pkg/DEBIAN/prerm" "$pkg/DEBIAN/postrm"
dpkg-deb --root-owner-group -Z"$compression" --build "$pkg" "$out/nanoedge_${version}_${arch}.deb" >/dev/null

ls -l "$out"/*.deb
