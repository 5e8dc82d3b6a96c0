#!/usr/bin/env bash
# Installs the arm64 packages (`make deb ARCH=arm64`) in emulated Raspberry Pi OS-like roots, Debian
# bookworm and trixie arm64 under qemu-user-static, and checks them the way a Pi would use them:
# `apt install ./….deb`, `--version`, `--check` (which must fail: there is no GPIO chip), the units
# (enabled by the install) with the root's own systemd-analyze, the manual pages and completions, a
# reinstall (the upgrade path of the scripts), then remove (state stays) and purge (state and the
# units' enablement go).
# usage: Tests/Packages/install-in-pi-root.sh DEB_DIR [SUITE...]      (default: bookworm trixie)
#        Tests/Packages/install-in-pi-root.sh --prepare [SUITE...]   only make the pristine roots
#        (make test does that in the background while the unit tests run; the test then waits for it)
# env: PI_ROOTS     where the pristine roots are kept (default .build/pi-roots)
#      DEB_ARCH     the packages' architecture (default arm64); amd64 checks `make deb`'s packages
#                   in roots of this machine's architecture, kept in PI_ROOTS/amd64 (`make deb-test`)
#      DEB_VERSION  the packages' version (debian/changelog's), when DEB_DIR holds more than one
# A root is made once per suite and version of pi-root.sh, then reused: each run mounts an overlay
# on it, so the pristine root never changes. Suites run in parallel. Needs root (chroot, mount).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); top=$(cd "$here/../.." && pwd)
prepare=
if [ "${1:-}" = --prepare ]; then prepare=1; else debs=$(cd "${1:?directory with the .deb files}" && pwd); fi
shift
suites=${*:-bookworm trixie}
arch=${DEB_ARCH:-arm64}
cache=${PI_ROOTS:-$top/.build/pi-roots}
[ "$arch" = arm64 ] || cache=$cache/$arch
key=$(sha256sum "$here/pi-root.sh" | cut -c1-12)
[ "$(id -u)" = 0 ] || { echo "pi-root: needs root (debootstrap, chroot, mount)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "pi-root: apt-get install debootstrap qemu-user-static" >&2; exit 1; }

one() { # the single file matching a pattern in $debs
    local found=("$debs"/$1)
    [ ${#found[@]} = 1 ] && [ -f "${found[0]}" ] || { echo "pi-root: want one $1 in $debs, found: ${found[*]}" >&2; exit 1; }
    basename "${found[0]}"
}
mkdir -p "$cache"

# Makes (once) and returns the pristine root of a suite; the lock keeps two runs from making it twice.
pristine() {
    local suite=$1 dir=$cache/$suite-$key
    exec 9>"$cache/$suite.lock"; flock 9
    if [ ! -f "$dir/.complete" ]; then
        # Roots of older versions of pi-root.sh are never used again.
        rm -rf --one-file-system "$cache/$suite"-*
        local t0=$SECONDS
        bash "$here/pi-root.sh" "$suite" "$dir" "$arch" >&2
        touch "$dir/.complete"
        echo "pi-root $suite: made the root in $((SECONDS - t0)) s" >&2
    fi
    exec 9>&-
    echo "$dir"
}

if [ -n "$prepare" ]; then
    pids=()
    for suite in $suites; do pristine "$suite" >/dev/null & pids+=($!); done
    status=0
    for pid in "${pids[@]}"; do wait "$pid" || status=1; done
    exit $status
fi

v=${DEB_VERSION:-*}
common=$(one "nanoedge-common_${v}_all.deb"); agent=$(one "nanoedge-agent_${v}_$arch.deb"); server=$(one "nanoedge_${v}_$arch.deb")
version=$(dpkg-deb -f "$debs/$agent" Version)
# The binaries print the upstream version, without the Debian revision.
upstream=${version%-*}
wants=/etc/systemd/system/multi-user.target.wants
units="nanoedge-agent.service nanoedge-gateway.service nanoedge-update-server.service"

# One suite: its own overlay, every check in order; prints PASS/FAIL lines, returns 1 on a failure.
run_suite() {
    local suite=$1 lower run r failed=0 t0=$SECONDS out
    lower=$(pristine "$suite")
    run=$cache/run/$suite; r=$run/merged
    umount -R "$r" 2>/dev/null || true
    rm -rf --one-file-system "$run"; mkdir -p "$run/upper" "$run/work" "$r"
    mount -t overlay overlay -o "lowerdir=$lower,upperdir=$run/upper,workdir=$run/work" "$r"
    trap "umount -R '$r' 2>/dev/null || true" EXIT
    mount -t proc proc "$r/proc"
    # apt logs the maintainer scripts' output through a pseudo-terminal.
    mount -t devpts -o newinstance,ptmxmode=0666 devpts "$r/dev/pts"
    mkdir -p "$r/tmp/debs"; cp "$debs/$common" "$debs/$agent" "$debs/$server" "$r/tmp/debs/"

    in_root() { chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@" 2>&1; }
    pass() { echo "pi-root $suite: PASS $1"; }
    fail() { echo "pi-root $suite: FAIL $1"; [ -z "${2:-}" ] || printf '%s\n' "$2" | tail -n 25 | sed 's/^/    | /'; failed=1; }
    exists() { [ -e "$r$1" ] || [ -L "$r$1" ]; }

    # Install as the guide says; apt takes adduser from the root's downloaded archives, offline.
    # (Not --no-download: apt 2.6 and 3.0 then reject the local .deb paths.)
    if out=$(in_root apt-get install -y --no-install-recommends \
            "/tmp/debs/$common" "/tmp/debs/$agent" "/tmp/debs/$server"); then
        if grep -q 'write /etc/nanoedge/agent.toml' <<<"$out"; then pass "apt install ./….deb"
        else fail "apt install: the postinst did not say how to configure the agent" "$out"; fi
    else
        fail "apt install ./….deb" "$out"
    fi
    out=$(in_root dpkg-query -W -f='${Package} ${Status}\n' nanoedge-common nanoedge-agent nanoedge adduser || true)
    if [ "$(grep -c 'install ok installed' <<<"$out")" = 4 ]; then pass "installed: nanoedge-common, nanoedge-agent, nanoedge, adduser"
    else fail "installed packages" "$out"; fi

    out=$(in_root /usr/bin/nanoedge-agent --version || true)
    if [ "$out" = "nanoedge-agent $upstream" ]; then pass "nanoedge-agent --version: $out"
    else fail "nanoedge-agent --version, want 'nanoedge-agent $upstream'" "$out"; fi
    if out=$(in_root /usr/bin/nanoedge --help); then pass "nanoedge --help"; else fail "nanoedge --help" "$out"; fi

    # The root has no GPIO chip: the check must fail and name the chip the board wants.
    if out=$(in_root runuser -u nanoedge -- /usr/bin/nanoedge-agent --board rpi4b --check); then
        fail "nanoedge-agent --board rpi4b --check passed where there is no GPIO chip" "$out"
    elif grep -q '^ok .*board rpi4b (Raspberry Pi 4 Model B) from /usr/share/nanoedge/boards/rpi4b.toml' <<<"$out" \
            && grep -q '^FAIL .*pinctrl-bcm2711' <<<"$out"; then
        pass "nanoedge-agent --board rpi4b --check fails naming pinctrl-bcm2711: $(grep -m1 '^FAIL .*pinctrl-bcm2711' <<<"$out")"
    else
        fail "nanoedge-agent --board rpi4b --check: want the profile found and a FAIL naming pinctrl-bcm2711" "$out"
    fi

    # Enabled as dh_installsystemd does it (deb-systemd-helper), though nothing runs in the root.
    local missing=()
    for u in $units; do [ -L "$r$wants/$u" ] || missing+=("$u"); done
    if [ ${#missing[@]} = 0 ]; then pass "units enabled: $units"; else fail "units not enabled: ${missing[*]}"; fi
    missing=()
    for f in /usr/share/man/man1/nanoedge-agent.1.gz /usr/share/man/man1/nanoedge.1.gz \
             /usr/share/man/man1/nanoedge.gateway.1.gz /usr/share/doc/nanoedge-agent/copyright \
             /usr/share/doc/nanoedge/changelog.Debian.gz /usr/share/doc/nanoedge-common/changelog.gz; do
        exists "$f" || missing+=("$f")
    done
    for c in nanoedge nanoedge-agent; do
        for f in /usr/share/bash-completion/completions/$c /usr/share/zsh/vendor-completions/_$c \
                 /usr/share/fish/vendor_completions.d/$c.fish; do
            [ -s "$r$f" ] || missing+=("$f")
        done
    done
    if [ ${#missing[@]} = 0 ]; then pass "manual pages, completions, copyright and changelogs installed"
    else fail "missing: ${missing[*]}"; fi

    out=$(in_root id -nG nanoedge || true)
    if grep -qw gpio <<<"$out"; then pass "user nanoedge in groups: $out"; else fail "user nanoedge in gpio" "$out"; fi

    # The root's own systemd (252 in bookworm, 257 in trixie) reads the installed units.
    out=$(in_root systemd-analyze verify /lib/systemd/system/nanoedge-agent.service \
            /lib/systemd/system/nanoedge-gateway.service /lib/systemd/system/nanoedge-update-server.service) && r_ok=1 || r_ok=0
    if [ $r_ok = 1 ] && ! grep -qiE 'unknown key|failed to parse|unknown lvalue|invalid|not executable|no such file' <<<"$out"; then
        pass "systemd-analyze verify nanoedge-agent, -gateway, -update-server ($(in_root systemctl --version | head -1))"
    else
        fail "systemd-analyze verify" "$out"
    fi

    # The same packages again: prerm upgrade and postinst configure with the old version.
    if out=$(in_root dpkg -i "/tmp/debs/$common" "/tmp/debs/$agent" "/tmp/debs/$server"); then
        pass "dpkg -i over the installed packages (the upgrade path of the scripts)"
    else
        fail "dpkg -i over the installed packages" "$out"
    fi

    # Remove keeps the state and the conffile; purge takes both.
    [ ! -d "$r/var/lib/nanoedge" ] || echo state > "$r/var/lib/nanoedge/keep-me"
    if out=$(in_root dpkg -r nanoedge-agent nanoedge); then
        local left=()
        for f in /usr/bin/nanoedge-agent /usr/bin/nanoedge /lib/systemd/system/nanoedge-agent.service \
                 /lib/systemd/system/nanoedge-gateway.service /lib/udev/rules.d/99-nanoedge-gpio.rules; do
            ! exists "$f" || left+=("$f")
        done
        if [ ${#left[@]} = 0 ] && exists /var/lib/nanoedge/keep-me && exists /etc/nanoedge/gateway.toml; then
            pass "dpkg -r: binaries and units gone, /var/lib/nanoedge and the conffile kept"
        else
            fail "dpkg -r: left ${left[*]:-nothing}; state kept: $(exists /var/lib/nanoedge/keep-me && echo yes || echo no)"
        fi
    else
        fail "dpkg -r" "$out"
    fi
    if out=$(in_root dpkg -P nanoedge-agent nanoedge nanoedge-common); then
        local left=()
        for f in /var/lib/nanoedge /etc/nanoedge /usr/share/nanoedge /usr/share/doc/nanoedge-agent; do
            ! exists "$f" || left+=("$f")
        done
        # The scripts keep the system user and the gpio group, as Debian does for system users.
        if [ ${#left[@]} = 0 ] && in_root getent passwd nanoedge >/dev/null && in_root getent group gpio >/dev/null \
                && [ -z "$(in_root dpkg-query -W -f='${Status}\n' nanoedge-common nanoedge-agent nanoedge | grep 'ok installed')" ]; then
            pass "dpkg -P: state, /etc/nanoedge and board profiles gone; user nanoedge and group gpio kept"
        else
            fail "dpkg -P: left ${left[*]:-nothing}" "$(in_root getent passwd nanoedge || echo 'user nanoedge is gone')"
        fi
        left=()
        for u in $units; do ! exists "$wants/$u" || left+=("$u"); done
        if [ ${#left[@]} = 0 ]; then pass "dpkg -P: the units' enablement gone"
        else fail "dpkg -P: units still enabled: ${left[*]}"; fi
    else
        fail "dpkg -P" "$out"
    fi

    umount -R "$r"; trap - EXIT
    echo "pi-root $suite: tested in $((SECONDS - t0)) s"
    return $failed
}

t0=$SECONDS
pids=()
for suite in $suites; do
    run_suite "$suite" >"$cache/$suite.log" 2>&1 & pids+=($!)
done
status=0
set -- $suites
for pid in "${pids[@]}"; do
    wait "$pid" || status=1
    cat "$cache/$1.log"; shift
done
echo "pi-root: $version ($arch) in $suites: $([ $status = 0 ] && echo ok || echo FAILED) in $((SECONDS - t0)) s (logs in $cache)"
exit $status
