#!/usr/bin/env bash
# The guest's userland for another architecture, from Debian's archive (archive.sh, USERLAND_SUITE):
# busybox-static, the Bluetooth, GPIO and SQLite tools and every library package they depend on,
# unpacked into $USERLAND/root, a sysroot that initramfs.sh copies programs and libraries from and
# that hil-pulse is compiled against (libc6-dev, linux-libc-dev, libgcc-N-dev). Rebuilt when this
# script or the suite's package list changes.
# usage: ARCH=arm64 USERLAND=.build/hil-arm64/userland userland.sh
set -euo pipefail
: "${ARCH:?}" "${USERLAND:?}"
HERE=$(cd "$(dirname "$0")" && pwd)
apt_() { "$HERE/archive.sh" "$ARCH" "$@"; }
# The stamp names this script and the suite's package list as apt-get update left it (its name, size
# and the server's date): the same list gives the same packages.
SUITE=${USERLAND_SUITE:-trixie}
apt_ true
LISTS=${ARCHIVE:-$HERE/../../.build/hil-$ARCH/apt}/lists
STAMP="$ARCH $(sha256sum "$0" | cut -c1-16) $(cd "$LISTS" && ls -l --time-style=+%s ./*_"${SUITE}"_main_binary-*_Packages* \
    | awk '{print $5, $6, $7}' | sha256sum | cut -c1-16)"
if [ -f "$USERLAND/ready" ] && [ "$(cat "$USERLAND/ready")" = "$STAMP" ]; then
    echo "hil: $ARCH userland cached in $USERLAND"
    exit 0
fi
TOOLS="busybox-static gpiod bluez bluez-test-tools sqlite3"
# The compiler's runtime that hil-pulse links with: the libgcc-N-dev of the suite's default gcc.
n=$(apt_ apt-cache depends gcc | sed -n 's/^ *Depends: gcc-\([0-9][0-9]*\)$/\1/p' | head -1)
[ -n "$n" ] || { echo "hil: cannot tell the $ARCH default gcc from the archive" >&2; exit 1; }
BUILD="libc6-dev linux-libc-dev libgcc-$n-dev"

# Every library package the tools need: their Depends, followed only into Section libs packages.
declare -A want=()
next="$TOOLS"
while [ -n "$next" ]; do
    for p in $next; do want[$p]=1; done
    deps=$(apt_ apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
        --no-enhances $next | awk '/^ *\|?(Pre)?Depends: [a-z0-9]/ {print $2}' | sort -u)
    next=""
    [ -n "$deps" ] || break
    for p in $(apt_ apt-cache show --no-all-versions $deps 2>/dev/null \
        | awk '/^Package:/ {p = $2} /^Section: libs$/ {print p}' | sort -u); do
        [ -n "${want[$p]:-}" ] || next="$next $p"
    done
done
for p in $BUILD; do want[$p]=1; done
packages=$(printf '%s\n' "${!want[@]}" | sort)

rm -rf "$USERLAND/root" "$USERLAND/ready"
mkdir -p "$USERLAND/debs" "$USERLAND/root"
rm -f "$USERLAND"/debs/*.deb
(cd "$USERLAND/debs" && apt_ apt-get download -q $packages >/dev/null)
for d in "$USERLAND"/debs/*.deb; do dpkg-deb -x "$d" "$USERLAND/root"; done
# Merged /usr: programs name /lib/ld-linux-*.so.1 as their interpreter.
for d in lib bin sbin; do [ -e "$USERLAND/root/$d" ] || ln -s "usr/$d" "$USERLAND/root/$d"; done
echo "$STAMP" > "$USERLAND/ready"
echo "hil: $ARCH userland from $(echo "$packages" | wc -w) packages in $USERLAND ($(du -sh "$USERLAND/root" | cut -f1))"
