#!/usr/bin/env bash
# Makes a pristine arm64 root that stands in for Raspberry Pi OS: Debian SUITE minbase with systemd
# (the units are checked with its systemd-analyze), apt lists and the .debs the nanoedge packages
# depend on, downloaded but not installed, so `apt install ./….deb` resolves them offline later.
# Runs the root's own arm64 programs through qemu-user-static (binfmt with the F flag). With ARCH,
# a root of another architecture (this machine's, amd64, for `make deb`'s packages).
# usage: Tests/Packages/pi-root.sh SUITE DIR [ARCH]
# The caller keys its cache on this file's hash, so a change here makes new roots.
set -euo pipefail
suite=${1:?suite}; dir=${2:?directory}; arch=${3:-arm64}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# What the maintainer scripts need; downloaded only, so the test sees apt resolve Depends.
deps="adduser"

if [ "$arch" = arm64 ] && [ "$(dpkg --print-architecture)" != arm64 ]; then
    [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] \
        || { echo "pi-root: no binfmt entry for aarch64: apt-get install qemu-user-static" >&2; exit 1; }
    grep -q '^flags:.*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 \
        || { echo "pi-root: the aarch64 binfmt entry lacks the F flag, so a chroot cannot find qemu" >&2; exit 1; }
fi
# debootstrap mounts /proc (and more) in the root while it runs; a failed run can leave them.
unmount_under() { findmnt -rn -o TARGET | awk -v d="$1/" 'index($0, d) == 1' | sort -r | xargs -r umount -l; }
trap 'unmount_under "$dir"' EXIT
unmount_under "$dir"; rm -rf --one-file-system "$dir"; mkdir -p "$(dirname "$dir")"
debootstrap --arch="$arch" --variant=minbase --include=systemd "$suite" "$dir" "$mirror" >"$dir.debootstrap.log" 2>&1 \
    || { tail -30 "$dir.debootstrap.log" >&2; exit 1; }
# debootstrap leaves its downloads (not needed again) and no package lists (apt needs them to
# resolve the packages' Depends).
chroot "$dir" apt-get clean
chroot "$dir" apt-get update -qq
chroot "$dir" env DEBIAN_FRONTEND=noninteractive apt-get install -qq --download-only --no-install-recommends $deps >/dev/null
rm -f "$dir.debootstrap.log"
