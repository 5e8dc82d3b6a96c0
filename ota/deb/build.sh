#!/usr/bin/env bash
# Builds the Debian packages from built binaries:
#   nanoedge-common board profiles (architecture: all)
#   nanoedge-agent  the agent for each Pi (binary, systemd unit, udev rule)
#   nanoedge        gateway, update server and operator CLI (binary, systemd units)
# usage: ota/deb/build.sh VERSION BIN_DIR OUT_DIR [ARCH]
# The architecture (amd64, arm64, armhf) is the binaries' own, read from their ELF headers, so
# cross-built binaries get the right package names; ARCH, when given, must be that architecture. Depends: is computed from the libraries the
# binaries name (their NEEDED entries, which readelf reads for any architecture; dpkg -S finds the
# package), so a new library link cannot be forgotten; a static binary needs none. A library that
# no Debian package of that architecture provides (a debug build's Swift runtime, or arm64
# libraries not installed through multiarch) stops the build unless ALLOW_UNPACKAGED_LIBS=1.
# DEB_COMPRESSION (default xz) goes to dpkg-deb -Z.
set -euo pipefail
version=${1:?version}; bin=${2:?binary directory}; out=${3:?output directory}; want_arch=${4:-}
here=$(cd "$(dirname "$0")" && pwd); ota=$(dirname "$here"); root=$(dirname "$ota")
compression=${DEB_COMPRESSION:-xz}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

# The Debian architecture and multiarch directory of an ELF binary.
elf_arch() {
    case $(readelf -h "$1" | sed -n 's/^ *Machine: *//p') in
        *X86-64*)  echo "amd64 x86_64-linux-gnu" ;;
        *AArch64*) echo "arm64 aarch64-linux-gnu" ;;
        ARM)       echo "armhf arm-linux-gnueabihf" ;;
        *) echo "build.sh: $1 is not an ELF binary for amd64, arm64 or armhf" >&2; return 1 ;;
    esac
}
read -r arch triplet < <(elf_arch "$bin/nanoedge-agent")
[ "$(elf_arch "$bin/nanoedge")" = "$arch $triplet" ] \
    || { echo "build.sh: $bin/nanoedge-agent and $bin/nanoedge are built for different architectures" >&2; exit 1; }
[ -z "$want_arch" ] || [ "$want_arch" = "$arch" ] \
    || { echo "build.sh: the binaries in $bin are for $arch, not $want_arch" >&2; exit 1; }

# Debian package names (with a >= the installed version) for the libraries a binary names, each
# looked up in the multiarch directories of the binary's own architecture.
depends_of() {
    local binary=$1 deps=() soname pkg ver
    while read -r soname; do
        pkg=$(dpkg -S "/lib/$triplet/$soname" "/usr/lib/$triplet/$soname" 2>/dev/null | head -1 | cut -d' ' -f1 || true)
        pkg=${pkg%:}
        if [ -z "$pkg" ]; then
            if [ "${ALLOW_UNPACKAGED_LIBS:-0}" = 1 ]; then continue; fi
            echo "build.sh: $binary needs $soname, which no installed $arch package provides; build with 'make release'" >&2
            exit 1
        fi
        ver=$(dpkg-query -W -f='${Version}' "$pkg" | sed 's/-[^-]*$//')
        deps+=("${pkg%:*} (>= $ver)")
    done < <(readelf -d "$binary" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p' | sort -u)
    [ ${#deps[@]} -gt 0 ] || return 0
    printf '%s\n' "${deps[@]}" | sort -u | paste -sd, - | sed 's/,/, /g'
}

control() { # name depends description [recommends]
    cat <<CONTROL
Package: $1
Version: $version
Architecture: $arch
Maintainer: nanoedge <packages@nanoedge.invalid>
Section: net
Priority: optional
Depends: adduser, $2
${4:+Recommends: $4
}Homepage: https://nanoedge.invalid
Description: $3
CONTROL
}
# HTTPS (update server, downloads) checks certificates against /etc/ssl/certs. A dynamic libcurl4
# recommends ca-certificates; a static binary must say so itself.
tls_roots=ca-certificates

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
# An assignment, so that set -e stops the build when depends_of fails.
libs=$(depends_of "$bin/nanoedge-agent")
{ control nanoedge-agent "nanoedge-common (= $version)${libs:+, $libs}" \
    "nanoedge agent for Raspberry Pi: PIR, LEDs, BLE scanning, CoAP/DTLS to the site gateway" "$tls_roots"
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
libs=$(depends_of "$bin/nanoedge")
{ control nanoedge "nanoedge-common (= $version)${libs:+, $libs}" \
    "nanoedge site gateway, update server and operator tools" "$tls_roots"
  echo " The site gateway (registry, visit flow, CoAP/DTLS), the update server (signed releases,"
  echo " rollouts) and the operator command line of a nanoedge fleet."
} > "$pkg/DEBIAN/control"
install -m 0755 "$here/server.postinst" "$pkg/DEBIAN/postinst"
install -m 0755 "$here/prerm" "$pkg/DEBIAN/prerm"
install -m 0755 "$here/postrm" "$pkg/DEBIAN/postrm"
sed -i 's/@UNITS@/nanoedge-gateway.service nanoedge-update-server.service/' "$pkg/DEBIAN/prerm" "$pkg/DEBIAN/postrm"
dpkg-deb --root-owner-group -Z"$compression" --build "$pkg" "$out/nanoedge_${version}_${arch}.deb" >/dev/null

ls -l "$out"/*.deb
