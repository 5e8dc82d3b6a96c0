#!/usr/bin/env bash
# `make demo` on a stock Debian with Swift, as someone who has just cloned the project runs it: a
# minbase root with Swift's documented dependencies and make, sudo and ca-certificates, Swift at
# /opt/swift (the host's, read-only), a clone of HEAD in the home of a user with sudo, and there
# `make demo`. It must end with `demo: ok` and leave no process behind; its set-up must start no
# service, install none of the test set and leave the root's Python alone (PEP 668: no pip, nothing
# in /usr/local).
# usage: Tests/Setup/stock-debian.sh [--prepare] SUITE        (bookworm or trixie)
#   --prepare  only make the root ready: a fresh copy, the clone, `make deps-demo` (apt) and the
#              Swift packages fetched; `make test` runs this in the background while its unit tests
#              run, and the later run takes that root (once) instead of preparing its own.
# The pristine root (debootstrap) is kept in .build/stock/SUITE-KEY.tar.zst, KEY hashing the suite's
# Release date, the package list and debootstrap's version: each run unpacks a fresh copy in
# .build/stock/SUITE/root without downloading it again. Set-up runs on the host's network; the demo
# runs in a network namespace of its own (loopback only), so it cannot collide with other tests'
# ports, and in a PID namespace whose leftover processes are listed when it ends.
# A host whose git redirects GitHub to a local mirror (url.<dir>.insteadOf) lends the root that
# mirror, read-only, for the Swift packages; otherwise the root fetches them from GitHub.
# env: STOCK_ROOTS (default .build/stock), STOCK_MIRROR (default http://deb.debian.org/debian: plain
#      HTTP, as the root has only Debian's keyring to trust the archive with).
# Needs root: debootstrap, chroot, mount, unshare.
set -euo pipefail
# One compound command: bash reads it whole before running it, so editing or checking out this file
# during a run cannot change what the run does.
{
here=$(cd "$(dirname "$0")" && pwd); top=$(cd "$here/../.." && pwd)
prepare_only=
if [ "${1:-}" = --prepare ]; then prepare_only=1; shift; fi
suite=${1:?usage: stock-debian.sh [--prepare] bookworm|trixie}
[ "$(id -u)" = 0 ] || { echo "stock: needs root (debootstrap, chroot, mount, unshare)" >&2; exit 1; }
for tool in debootstrap zstd curl unshare; do
    command -v $tool >/dev/null || { echo "stock: $tool is missing (make deps-stock)" >&2; exit 1; }
done
# Mounts made from here on vanish with this process: nothing is left mounted in the root.
if [ -z "${STOCK_NAMESPACE:-}" ]; then
    STOCK_NAMESPACE=1 exec unshare --mount --propagation private bash "$0" ${prepare_only:+--prepare} "$suite"
fi

# Swift's dependencies for Debian 12 as its own Debian image installs them (swift-docker), which a
# machine with Swift from swift.org's tarball has. Debian 13 has no python3-lldb-13 (lldb's Python
# bindings, which no build uses); it takes its own.
SWIFT_DEPS="binutils git gnupg2 libc6-dev libcurl4-openssl-dev libedit2 libgcc-12-dev libpython3-dev libsqlite3-0
    libstdc++-12-dev libxml2-dev libz3-dev pkg-config python3-lldb-13 tzdata zlib1g-dev"
case $suite in
    bookworm) ;;
    trixie) SWIFT_DEPS=${SWIFT_DEPS/python3-lldb-13/python3-lldb-19} ;;
    *) echo "stock: SUITE is bookworm or trixie, not $suite" >&2; exit 1 ;;
esac
PACKAGES=$(echo $SWIFT_DEPS make sudo ca-certificates)
# The user who clones and runs the demo, with sudo as on a developer's machine (without a password,
# since no one is there to type it).
USER_NAME=builder
# Bumped when the pristine root is made differently.
FORMAT=1

mirror=${STOCK_MIRROR:-http://deb.debian.org/debian}
cache=${STOCK_ROOTS:-$top/.build/stock}
dir=$cache/$suite
root=$dir/root
clone=/home/$USER_NAME/nanoedge
mkdir -p "$dir"
say() { echo "stock $suite: $*"; }
die() { echo "stock $suite: FAIL $*" >&2; exit 1; }

# One run per suite at a time; a run waits for the background preparation of `make test`.
exec 9>"$cache/$suite.lock"
flock 9

release_date=$(curl -fsS --retry 3 "$mirror/dists/$suite/Release" | sed -n 's/^Date: //p') \
    || die "cannot read $mirror/dists/$suite/Release"
[ -n "$release_date" ] || die "$mirror/dists/$suite/Release has no Date"
key=$(printf '%s\n' "$FORMAT" "$release_date" "$PACKAGES" "$(dpkg-query -W -f='${Version}' debootstrap)" \
    | sha256sum | cut -c1-12)
tarball=$cache/$suite-$key.tar.zst
commit=$(git -c safe.directory="$top" -C "$top" rev-parse HEAD)

# The pristine root as a tarball: made once per key, older ones removed.
pristine() {
    [ -f "$tarball" ] && return 0
    local tmp=$cache/$suite-debootstrap t0=$SECONDS
    say "debootstrap $suite (minbase + $PACKAGES) from $mirror"
    rm -rf --one-file-system "$tmp"
    debootstrap --variant=minbase --include="${PACKAGES// /,}" "$suite" "$tmp" "$mirror" >"$dir/debootstrap.log" 2>&1 \
        || { tail -n 20 "$dir/debootstrap.log" >&2; die "debootstrap failed (log: $dir/debootstrap.log)"; }
    # An installed system's sources: the suite, its updates and its security updates.
    cat >"$tmp/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb ${mirror%/debian}/debian-security $suite-security main
EOF
    chroot "$tmp" useradd --create-home --shell /bin/bash --groups sudo "$USER_NAME"
    echo "$USER_NAME ALL=(ALL:ALL) NOPASSWD: ALL" >"$tmp/etc/sudoers.d/$USER_NAME"
    chmod 440 "$tmp/etc/sudoers.d/$USER_NAME"
    chroot "$tmp" apt-get clean
    rm -rf "$tmp"/var/lib/apt/lists/*
    tar -C "$tmp" --numeric-owner -I 'zstd -T0 -3 -q' -cf "$tarball.part" .
    mv "$tarball.part" "$tarball"
    rm -rf --one-file-system "$tmp"
    for old in "$cache/$suite"-*.tar.zst; do [ "$old" = "$tarball" ] || rm -f "$old"; done
    say "pristine root made in $((SECONDS - t0)) s: $(du -h "$tarball" | cut -f1) packed"
}

mounted() { awk -v r="$root" '$5 == r || index($5, r "/") == 1 {found = 1} END {exit !found}' /proc/self/mountinfo; }

# A fresh copy of the pristine root with a clone of HEAD in the user's home.
fresh() {
    mounted && die "something is mounted under $root"
    local t0=$SECONDS
    rm -rf --one-file-system "$root" "$dir/prepared"
    removed_s=$((SECONDS - t0))
    mkdir -p "$root"
    tar -C "$root" --numeric-owner -I zstd -xpf "$tarball"
    # The host's name service: the root reaches the same mirror.
    cp -L /etc/resolv.conf /etc/hosts "$root/etc/"
    git -c safe.directory="$top" clone -q "$top" "$root$clone"
    chroot "$root" chown -R "$USER_NAME:$USER_NAME" "$clone"
    chroot "$root" dpkg-query -W -f='${Package}\n' | sort >"$dir/pristine.packages"
}

# /dev, /sys, Swift read-only and the lent git mirror, for every command run in the root.
mounts_done=
mount_all() {
    [ -z "$mounts_done" ] || return 0
    mount --rbind /dev "$root/dev"
    mount --make-rslave "$root/dev"
    mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm"
    mount --rbind /sys "$root/sys"
    mount --make-rslave "$root/sys"
    mkdir -p "$root/opt/swift"
    mount --bind -o ro /opt/swift "$root/opt/swift"
    local key value base
    git config --system --get-regexp '^url\..*\.insteadof$' 2>/dev/null | while read -r key value; do
        base=${key#url.}; base=${base%.insteadof}
        case $base in /*) [ -d "$base" ] || continue ;; *) continue ;; esac
        if [ ! -d "$root$base" ] || ! mountpoint -q "$root$base"; then
            mkdir -p "$root$base"
            mount --bind -o ro "$base" "$root$base"
        fi
        git config --file "$root/etc/gitconfig" --add "url.$base.insteadOf" "$value"
        # The mirror's repositories belong to the host's user, not to the one cloning them.
        git config --file "$root/etc/gitconfig" --replace-all safe.directory '*'
    done
    mounts_done=1
}

# Runs a command line as the user in the clone, in PID namespace of its own (with --offline, also a
# network namespace with only loopback). Lists the processes still there when it ends: exit status 3
# when the command succeeded but left something running, else the command's.
in_root() {
    local offline=
    if [ "$1" = --offline ]; then offline=1; shift; fi
    unshare --mount --pid --fork ${offline:+--net} bash -c '
        root=$1 offline=$2 user=$3 clone=$4 command=$5
        mount -t proc proc "$root/proc"
        [ -z "$offline" ] || ip link set lo up
        chroot "$root" /usr/sbin/runuser -u "$user" -- /usr/bin/env -i HOME=/home/$user USER=$user LOGNAME=$user \
            SHELL=/bin/bash PATH=/opt/swift/usr/bin:/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 TERM=dumb \
            /bin/bash -c "cd $clone && $command"
        status=$?
        left=
        for p in "$root"/proc/[0-9]*; do
            [ "${p##*/}" != 1 ] || continue
            read -r stat <"$p/stat" 2>/dev/null || continue
            state=${stat##*) }; state=${state%% *}
            [ "$state" != Z ] || continue
            left+="
    ${p##*/} $(tr "\0" " " <"$p/cmdline" 2>/dev/null)"
        done
        if [ -n "$left" ]; then
            echo "stock: still running when \`$command\` ended:$left"
            [ $status != 0 ] || status=3
        fi
        exit $status
    ' stock-root "$root" "$offline" "$USER_NAME" "$clone" "$1"
}

# Fresh root, clone, the demo's Debian packages and the Swift packages: everything that needs the network.
prepare() {
    local t0=$SECONDS t1 t2 t3 step
    pristine
    t1=$SECONDS
    fresh
    mount_all
    t2=$SECONDS
    : >"$dir/prepare.log"
    for step in "make deps-demo" "swift package resolve"; do
        [ "$step" != "swift package resolve" ] || t3=$SECONDS
        say "set-up: $step (clone of ${commit:0:12})"
        in_root "$step" >>"$dir/prepare.log" 2>&1 || {
            tail -n 30 "$dir/prepare.log" >&2
            die "$step failed or left something running (log: $dir/prepare.log)"
        }
    done
    chroot "$root" dpkg-query -W -f='${Package}\n' | sort | comm -13 "$dir/pristine.packages" - >"$dir/demo.packages"
    local times="pristine root $((t1 - t0)) s, the previous run's root removed $removed_s s, fresh copy and clone $((t2 - t1 - removed_s)) s, make deps-demo $((t3 - t2)) s, swift package resolve $((SECONDS - t3)) s"
    echo "$times" >"$dir/prepare.times"
    echo "$commit $key" >"$dir/prepared"
    say "prepared in $((SECONDS - t0)) s ($times): $(wc -l <"$dir/demo.packages") packages installed for the demo"
}

if [ -n "$prepare_only" ]; then prepare; exit 0; fi

if [ "$(cat "$dir/prepared" 2>/dev/null)" = "$commit $key" ]; then
    say "taking the root prepared in the background ($(cat "$dir/prepare.times"))"
    mount_all
else
    prepare
fi
# A prepared root serves one run.
rm -f "$dir/prepared"

say "make demo, offline, as $USER_NAME in $clone"
t0=$SECONDS
set +e
in_root --offline "make demo" 2>&1 | tee "$dir/demo.log"
status=${PIPESTATUS[0]}
set -e
demo_s=$((SECONDS - t0))
failed=0
fail() { echo "stock $suite: FAIL $*"; failed=1; }
[ $status != 3 ] || fail "make demo left processes running (above)"
[ $status = 0 ] || [ $status = 3 ] || fail "make demo exited $status (log: $dir/demo.log)"
tail -n 1 "$dir/demo.log" | grep -q '^demo: ok' || fail "make demo did not end with \`demo: ok\`"

# Its set-up installed none of the test set: the test list, the rig's, the stock check's own.
test_only=$(make -s --no-print-directory -C "$root$clone" -f Makefile -f - stock-test-only 2>/dev/null <<'EOF'
stock-test-only: ; @echo $(filter-out $(BUILD_PACKAGES) $(DEMO_PACKAGES),$(TEST_PACKAGES))
EOF
) || true
test_only+=" $(sed -n 's/^PACKAGES="\(.*\)"/\1/p' "$root$clone/Tests/HIL/deps.sh") debootstrap"
[ -n "${test_only// /}" ] || fail "cannot read the test set from the clone's Makefile"
installed=$(for p in $test_only; do if grep -qxF "$p" "$dir/demo.packages"; then echo "$p"; fi; done | xargs)
[ -z "$installed" ] || fail "the demo's set-up installed test packages: $installed"
[ ! -e "$root$clone/.build/venv" ] || fail "the demo made the tests' Python environment"

# The root's Python: still externally managed, no pip, nothing installed beside Debian's packages.
ls "$root"/usr/lib/python3*/EXTERNALLY-MANAGED >/dev/null 2>&1 || fail "the root's Python is not marked externally managed"
if chroot "$root" python3 -m pip --version >/dev/null 2>&1; then fail "pip runs in the root's Python"; fi
local_packages=$({ find "$root"/usr/local/lib/python3* -mindepth 2 -maxdepth 2 2>/dev/null || true; } | xargs)
[ -z "$local_packages" ] || fail "packages in the root's /usr/local: $local_packages"

builds=$(sed -n "s/^Build of product '\(.*\)' complete! (\(.*\))$/\1 \2/p" "$dir/demo.log" | paste -sd, - | sed 's/,/, /g')
if [ $failed = 0 ]; then
    say "PASS $(tail -n 1 "$dir/demo.log")"
    say "PASS make demo in $demo_s s (swift build: ${builds:-?}), nothing left running;" \
        "$(wc -l <"$dir/demo.packages") packages installed, none of the test set; no pip, nothing in /usr/local"
    exit 0
fi
say "the root stays in $root for a look (the next run replaces it)"
exit 1
}
