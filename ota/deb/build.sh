#!/usr/bin/env bash
# Builds the Debian packages from built binaries, with debhelper (debian/, docs/packaging.md):
#   nanoedge-common board profiles (architecture: all)
#   nanoedge-agent  the agent for each Pi (binary, systemd unit, udev rule, manual page, completions)
#   nanoedge        gateway, update server and operator CLI (binary, systemd units, conffile, manual
#                   pages and completions generated from the binary)
# usage: ota/deb/build.sh VERSION BIN_DIR OUT_DIR [ARCH]
# VERSION is the packages' version, debian/changelog's latest (make deb passes it); any other
# version gets a changelog entry of its own in the staged copy. The architecture (amd64, arm64,
# armhf) is the binaries' own, read from their ELF headers, so cross-built binaries get the right
# package names; ARCH, when given, must be that architecture.
# The files debian/ installs are staged with the binaries (in bin/) in a temporary directory and
# built there with dpkg-buildpackage, so the source tree gets no build products. Depends: comes from
# dpkg-shlibdeps (the binaries' NEEDED entries and the libraries' shlibs and symbols files); a static
# binary adds none. A library that no Debian package of that architecture provides (a debug build's
# Swift runtime) stops the build unless ALLOW_UNPACKAGED_LIBS=1.
# env: DEB_COMPRESSION (default xz) goes to dpkg-deb -Z.
#      GENERATE_MANUAL  swift-argument-parser's generate-manual tool; by default built (once) from
#                       the package's resolved swift-argument-parser into .build/generate-manual.
set -euo pipefail
version=${1:?version}; bin=${2:?binary directory}; out=${3:?output directory}; want_arch=${4:-}
here=$(cd "$(dirname "$0")" && pwd); ota=$(dirname "$here"); root=$(dirname "$ota")
export DEB_COMPRESSION=${DEB_COMPRESSION:-xz} ALLOW_UNPACKAGED_LIBS=${ALLOW_UNPACKAGED_LIBS:-0}
for tool in dpkg-buildpackage dh; do
    command -v $tool >/dev/null || { echo "build.sh: $tool not found: apt-get install dpkg-dev debhelper" >&2; exit 1; }
done
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir -p "$out"; out=$(cd "$out" && pwd); bin=$(cd "$bin" && pwd)

# The Debian architecture of an ELF binary.
elf_arch() {
    case $(readelf -h "$1" | sed -n 's/^ *Machine: *//p') in
        *X86-64*)  echo amd64 ;;
        *AArch64*) echo arm64 ;;
        ARM)       echo armhf ;;
        *) echo "build.sh: $1 is not an ELF binary for amd64, arm64 or armhf" >&2; return 1 ;;
    esac
}
arch=$(elf_arch "$bin/nanoedge-agent")
[ "$(elf_arch "$bin/nanoedge")" = "$arch" ] \
    || { echo "build.sh: $bin/nanoedge-agent and $bin/nanoedge are built for different architectures" >&2; exit 1; }
[ -z "$want_arch" ] || [ "$want_arch" = "$arch" ] \
    || { echo "build.sh: the binaries in $bin are for $arch, not $want_arch" >&2; exit 1; }
# `nanoedge` runs to print its manual and completions: under qemu-user for another architecture.
if [ "$arch" != "$(dpkg --print-architecture)" ] && ! "$bin/nanoedge" --help >/dev/null 2>&1; then
    echo "build.sh: cannot run the $arch $bin/nanoedge here: apt-get install qemu-user-static binfmt-support" >&2
    exit 1
fi

# The generate-manual tool of the swift-argument-parser that the package resolved (what its
# GenerateManual plugin runs), built on its own: the plugin would build every product first.
gm=${GENERATE_MANUAL:-}
if [ -z "$gm" ]; then
    parser=$root/.build/checkouts/swift-argument-parser
    [ -f "$parser/Package.swift" ] || swift package --package-path "$root" resolve >&2
    swift build --package-path "$parser" --scratch-path "$root/.build/generate-manual" \
        --product generate-manual -Xswiftc -suppress-warnings >&2
    gm=$root/.build/generate-manual/debug/generate-manual
fi

# The staged source: debian/ and what its .install, .docs and .manpages files name.
src=$work/nanoedge
mkdir -p "$src/bin" "$src/ota" "$src/docs"
cp -a "$root/debian" "$root/boards" "$root/CHANGELOG.md" "$root/LICENSE" "$src/"
cp -a "$ota"/*.service "$ota"/*.rules "$here" "$src/ota/"
cp -a "$root/docs/man" "$src/docs/"
install -m 0755 "$bin/nanoedge-agent" "$bin/nanoedge" "$src/bin/"
rm -rf "$src/debian/generated" "$src"/debian/.debhelper

latest=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
if [ "$version" != "$latest" ]; then
    { echo "nanoedge ($version) UNRELEASED; urgency=medium"; echo
      echo "  * Built as $version from the tree of $latest."; echo
      echo " -- $(dpkg-parsechangelog -l "$src/debian/changelog" -S Maintainer)  $(dpkg-parsechangelog -l "$src/debian/changelog" -S Date)"
      echo; cat "$src/debian/changelog"; } > "$work/changelog"
    mv "$work/changelog" "$src/debian/changelog"
fi

# -a: the binaries' architecture, whatever this machine's is; no signing.
(cd "$src" && GENERATE_MANUAL=$gm dpkg-buildpackage --build=binary --no-sign -a"$arch" >"$work/build.log" 2>&1) \
    || { tail -40 "$work/build.log" >&2; echo "build.sh: dpkg-buildpackage failed" >&2; exit 1; }
# A static binary leaves ${shlibs:Depends} undefined, which is right and not worth a warning.
grep -E '^dpkg-(shlibdeps|gencontrol|deb|buildpackage): (warning|error)' "$work/build.log" \
    | grep -v 'variable ${shlibs:Depends} used, but is not defined' >&2 || true
for p in nanoedge-common_${version#*:}_all nanoedge-agent_${version#*:}_$arch nanoedge_${version#*:}_$arch; do
    mv "$work/$p.deb" "$out/"
    ls -l "$out/$p.deb"
done
