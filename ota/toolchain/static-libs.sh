#!/usr/bin/env bash
# Minimal static C libraries built from Debian's own sources, for binaries that link every C
# library statically (docs/building.md, "Static linking and the HTTP client"):
#   curl    libcurl with HTTP and HTTPS over OpenSSL only (the agent's downloads and check-ins)
#   libpq   PostgreSQL's client library without GSSAPI, LDAP, ICU or readline
# The source is the Debian source package of the library's -dev package, at the version installed
# on the machine running the script (else apt's candidate), with Debian's patches: the same code,
# security fixes included, as the distribution's shared library, with fewer features.
#
# usage: ota/toolchain/static-libs.sh LIBRARY PREFIX    build (or reuse) LIBRARY into PREFIX
#        ota/toolchain/static-libs.sh version LIBRARY   print the Debian version it would build
# env:   CC, AR, RANLIB   the compiler and archiver (default cc, ar, ranlib)
#        HOST             GNU triplet of a cross build, e.g. CC=aarch64-linux-gnu-gcc HOST=aarch64-linux-gnu
#        CFLAGS           replaces the default flags (size-optimised, hardened)
#        JOBS             parallel make jobs (default: the number of CPUs)
#        DEBIAN_POOLS     where to fetch sources (default: deb.debian.org's main and security pools)
#        SOURCES          download cache (default: PREFIX/../sources)
#        SOURCE_VERSION   the Debian version to build, where apt cannot tell (SOURCE_PACKAGE: its
#                         source package, when not curl or postgresql-15)
# PREFIX/.stamp records the library, its Debian version, this script's hash and the toolchain; when
# they match, the run returns at once. Progress goes to stderr.
set -euo pipefail
SCRIPT=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
log() { echo "static-libs: $*" >&2; }
die() { log "$*"; exit 1; }
usage() { echo "usage: $0 {curl|libpq} PREFIX | $0 version {curl|libpq}" >&2; exit 64; }

# The -dev packages whose source is built: the version follows them.
dev_package() {
    case $1 in
        curl) echo libcurl4-openssl-dev ;;
        libpq) echo libpq-dev ;;
        *) usage ;;
    esac
}

default_source() {
    case $1 in
        curl) echo curl ;;
        libpq) echo postgresql-15 ;;
    esac
}

# "source-package version" of a binary package: the installed one, else apt's candidate. Both are
# tried later, in that order, since the archive's pool only keeps current versions.
source_versions() {
    local pkg=$1 line
    # A build root without apt lists (the aarch64 cross root) names the version itself.
    if [ -n "${SOURCE_VERSION:-}" ]; then
        echo "${SOURCE_PACKAGE:-$(default_source "$LIB")} $SOURCE_VERSION"
        return
    fi
    line=$(dpkg-query -W -f='${source:Package} ${source:Version}\n' "$pkg" 2>/dev/null | head -1 || true)
    [ -z "$line" ] || echo "$line"
    local candidate
    candidate=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')
    if [ -n "$candidate" ] && [ "$candidate" != "(none)" ]; then
        # The source of a binNMU (+bN) is the version without it.
        local src
        src=$(apt-cache show "$pkg=$candidate" 2>/dev/null | awk '/^Source:/ {print $2; exit}')
        echo "${src:-$pkg} ${candidate%+b[0-9]*}"
    fi
    # Then what the source index has (deb-src lines): unstable's sources at times lag its binaries.
    local name
    name=$(apt-cache show "$pkg" 2>/dev/null | awk '/^Source:/ {print $2; exit}')
    apt-cache showsrc "${name:-$pkg}" 2>/dev/null | awk '/^Package:/ {p = $2} /^Version:/ {print p, $2}' | sort -k2,2Vr
}

fetch() {
    if command -v curl >/dev/null; then curl -fsSL --retry 3 -o "$2.part" "$1"
    else wget -q -O "$2.part" "$1"; fi && mv "$2.part" "$2"
}

# Downloads SOURCE_VERSION's .dsc and the files it lists into $SOURCES, checking their SHA-256
# against it. Sets DSC. The .dsc comes over HTTPS; its signature is checked too when
# debian-keyring is installed.
download() {
    local src=$1 version=$2 pools=${DEBIAN_POOLS:-https://deb.debian.org/debian/pool/main https://deb.debian.org/debian-security/pool/updates/main}
    local dir=${src:0:1}; [[ $src != lib?* ]] || dir=${src:0:4}
    local base=${src}_${version#*:}
    DSC=$SOURCES/$base.dsc
    # Where apt has source lines, apt fetches and checks everything against the signed Release.
    # (The index is read whole: grep -q would stop early, and under pipefail apt-cache's SIGPIPE
    # would read as "not listed".)
    if [ ! -s "$DSC" ] && apt-cache showsrc "$src" 2>/dev/null | grep -x "Version: $version" >/dev/null; then
        if (cd "$SOURCES" && apt-get -o Acquire::Retries=3 source --download-only -qq "$src=$version" >"$SOURCES/apt-source.log" 2>&1); then
            [ ! -s "$DSC" ] || { echo apt > "$DSC.pool"; return 0; }
        fi
        rm -f "$DSC"
        log "apt-get source $src=$version failed: $(grep -m1 -E '^(E|Err):' "$SOURCES/apt-source.log" || tail -1 "$SOURCES/apt-source.log")"
    fi
    if [ -s "$DSC" ] && [ "$(cat "$DSC.pool" 2>/dev/null)" = apt ]; then return 0; fi
    local pool=
    if [ ! -s "$DSC" ]; then
        for pool in $pools; do
            fetch "$pool/$dir/$src/$base.dsc" "$DSC" 2>/dev/null && break
            pool=
        done
        [ -s "$DSC" ] || return 1
        echo "$pool" > "$DSC.pool"
    fi
    pool=$(cat "$DSC.pool")
    if [ -f /usr/share/keyrings/debian-keyring.gpg ] && command -v gpgv >/dev/null; then
        gpgv -q --keyring /usr/share/keyrings/debian-keyring.gpg "$DSC" 2>/dev/null \
            || { rm -f "$DSC"; die "$base.dsc: bad signature"; }
    fi
    local sum size file
    while read -r sum size file; do
        if [ ! -f "$SOURCES/$file" ] || ! echo "$sum  $SOURCES/$file" | sha256sum -c --status; then
            fetch "$pool/$dir/$src/$file" "$SOURCES/$file" || { log "cannot fetch $file from $pool"; return 1; }
        fi
        echo "$sum  $SOURCES/$file" | sha256sum -c --status || { log "$file does not match $base.dsc"; return 1; }
    done < <(awk '/^Checksums-Sha256:/ {on=1; next} on && /^ / {print $1, $2, $3; next} {on=0}' "$DSC")
}

# Unpacks the .dsc's upstream and debian tarballs into $1 and applies the series, except patches
# matching $2 (a Debian build's variants of the library for other TLS backends).
unpack() {
    local into=$1 skip=$2 orig deb
    orig=$(awk '/^Checksums-Sha256:/ {on=1; next} on && /^ / {print $3; next} {on=0}' "$DSC" | grep '\.orig\.tar\.[a-z0-9]*$')
    deb=$(awk '/^Checksums-Sha256:/ {on=1; next} on && /^ / {print $3; next} {on=0}' "$DSC" | grep '\.debian\.tar\.[a-z0-9]*$')
    rm -rf "$into"; mkdir -p "$into"
    tar -xf "$SOURCES/$orig" -C "$into" --strip-components=1
    tar -xf "$SOURCES/$deb" -C "$into"
    local patch opts applied=0
    while read -r patch opts; do
        [[ $patch =~ $skip ]] && continue
        patch -d "$into" -s -f ${opts:--p1} < "$into/debian/patches/$patch" >/dev/null \
            || die "Debian patch $patch does not apply"
        applied=$((applied + 1))
    done < <(sed 's/#.*//; /^[[:space:]]*$/d' "$into/debian/patches/series" 2>/dev/null || true)
    # The patches that touch only configure.ac or Makefile.am concern what is configured out or is
    # the compiler's default (curl: LDAP, GSSAPI, test lists; PostgreSQL: the autoconf version,
    # arm64 outline atomics). One timestamp for every file keeps make from regenerating the build
    # system, which would need autoconf and automake.
    find "$into" -exec touch -h -d @1 {} +
    log "unpacked $(basename "$DSC" .dsc) with $applied Debian patches"
}

CC=${CC:-cc}; AR=${AR:-ar}; RANLIB=${RANLIB:-ranlib}
HOST=${HOST:-}
# Position independence follows the compiler's default (Debian's gcc: PIE), so the archives suit
# both a fixed-address and a static-pie executable. -fPIC is only for shared objects.
CFLAGS=${CFLAGS:--Os -g0 -ffunction-sections -fdata-sections -fstack-protector-strong -fstack-clash-protection -D_FORTIFY_SOURCE=2}
JOBS=${JOBS:-$(nproc)}
export CC AR RANLIB CFLAGS

build_curl() {
    local src=$1 stage=$2
    cd "$src"
    # Only what Sources/Download asks of libcurl: HTTP(S) with redirects, Range resumes, timeouts,
    # custom methods and headers, certificate checks against Debian's CA store (as Debian's own
    # libcurl4 is configured). Name resolution on a helper thread, so the connect timeout bounds it.
    ./configure --prefix="$PREFIX" ${HOST:+--host=$HOST} --disable-shared --enable-static \
        --with-openssl --with-ca-bundle=/etc/ssl/certs/ca-certificates.crt --with-ca-path=/etc/ssl/certs \
        --enable-http --enable-ipv6 --enable-threaded-resolver --enable-symbol-hiding \
        --disable-ftp --disable-file --disable-ldap --disable-ldaps --disable-rtsp --disable-dict \
        --disable-telnet --disable-tftp --disable-pop3 --disable-imap --disable-smb --disable-smtp \
        --disable-gopher --disable-mqtt --disable-manual --disable-libcurl-option --disable-verbose \
        --disable-proxy --disable-unix-sockets --disable-cookies --disable-http-auth --disable-crypto-auth \
        --disable-ntlm --disable-ntlm-wb --disable-tls-srp --disable-doh --disable-mime --disable-dateparse \
        --disable-netrc --disable-progress-meter --disable-dnsshuffle --disable-get-easy-options \
        --disable-alt-svc --disable-hsts --disable-headers-api --disable-websockets --disable-ares \
        --without-zlib --without-brotli --without-zstd --without-libpsl --without-libidn2 --without-nghttp2 \
        --without-ngtcp2 --without-nghttp3 --without-quiche --without-msh3 --without-hyper --without-libssh2 \
        --without-libssh --without-wolfssh --without-librtmp --without-libgsasl --without-gssapi \
        --without-zsh-functions-dir --without-fish-functions-dir --disable-dependency-tracking \
        >configure.out 2>&1 || { tail -30 configure.out >&2; config_log_tail; die "curl: configure failed"; }
    grep -E '^  (SSL|Protocols|Features|ca cert)' configure.out >&2 || true
    make -C lib -j"$JOBS" >build.out 2>&1 || { tail -30 build.out >&2; die "curl: make failed"; }
    { make -C lib install DESTDIR="$stage" && make -C include install DESTDIR="$stage" \
        && make install-pkgconfigDATA DESTDIR="$stage"; } >>build.out 2>&1 || { tail -30 build.out >&2; die "curl: install failed"; }
    rm -f "$stage$PREFIX"/lib/*.la
    # libcurl4-openssl-dev's libcurl.a sits in the default library path, which ld searches before
    # any -L a pkg-config file adds after it (SwiftPM puts every package's -L in one list): the .pc
    # names this archive by a name of its own. It lists OpenSSL in Libs, as SwiftPM does not ask
    # pkg-config for --static; -DCURL_STATICLIB only matters on Windows, and SwiftPM refuses it.
    ln -s libcurl.a "$stage$PREFIX/lib/libcurl-minimal.a"
    sed -i 's|^Libs: .*|Libs: -L${libdir} -lcurl-minimal -lssl -lcrypto|; s|^Libs.private: .*|Libs.private:|; s| -DCURL_STATICLIB||' \
        "$stage$PREFIX/lib/pkgconfig/libcurl.pc"
}

build_libpq() {
    local src=$1 stage=$2
    cd "$src"
    # Client side only: of these options, libpq sees OpenSSL and the absence of GSSAPI and LDAP.
    ./configure --prefix="$PREFIX" ${HOST:+--host=$HOST} \
        --with-openssl --without-gssapi --without-ldap --without-icu --without-readline --without-zlib \
        --without-lz4 --without-zstd --without-libxml --without-libxslt --without-llvm --without-perl \
        --without-python --without-tcl --without-pam --without-selinux --without-systemd --without-bonjour \
        --disable-nls --disable-rpath \
        >configure.out 2>&1 || { tail -30 configure.out >&2; config_log_tail; die "libpq: configure failed"; }
    local d
    for d in src/include src/common src/port src/interfaces/libpq; do
        make -C "$d" -j"$JOBS" >>build.out 2>&1 || { tail -30 build.out >&2; die "libpq: make in $d failed"; }
    done
    # By hand: Debian's patches point PostgreSQL's install at /usr/lib/postgresql, and a client
    # needs only the archives and the public headers (pg_config_ext.h: up to PostgreSQL 17).
    local lib=$stage$PREFIX/lib inc=$stage$PREFIX/include h
    mkdir -p "$lib/pkgconfig" "$inc"
    # The _shlib builds are the ones libpq itself links: the plain ones rename symbols for programs
    # (pg_char_to_encoding_private) that libpq.a does not know.
    install -m 644 src/interfaces/libpq/libpq.a "$lib/"
    install -m 644 src/common/libpgcommon_shlib.a "$lib/libpgcommon.a"
    install -m 644 src/port/libpgport_shlib.a "$lib/libpgport.a"
    for h in src/interfaces/libpq/libpq-fe.h src/interfaces/libpq/libpq-events.h src/include/postgres_ext.h \
        src/include/pg_config_ext.h; do
        [ ! -f "$h" ] || install -m 644 "$h" "$inc/"
    done
    # A static-only prefix: what a shared libpq hides goes into Libs, since SwiftPM does not ask
    # pkg-config for --static.
    cat > "$lib/pkgconfig/libpq.pc" <<PC
prefix=$PREFIX
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: libpq
Description: PostgreSQL libpq library (static, without GSSAPI and LDAP)
Version: $(sed -n 's/^#define PG_VERSION "\(.*\)"/\1/p' src/include/pg_config.h)
Cflags: -I\${includedir}
Libs: -L\${libdir} -lpq -lpgcommon -lpgport -lssl -lcrypto -lm
PC
}

config_log_tail() { [ ! -f config.log ] || grep -B2 -A8 'error:' config.log | tail -20 >&2 || true; }

[ $# -eq 2 ] || usage
if [ "$1" = version ]; then
    LIB=$2
    dev_package "$2" >/dev/null
    source_versions "$(dev_package "$2")" | head -1 | cut -d' ' -f2
    exit 0
fi
LIB=$1
DEV=$(dev_package "$LIB")
mkdir -p "$2"
PREFIX=$(cd "$2" && pwd)
SOURCES=${SOURCES:-$(dirname "$PREFIX")/sources}
mkdir -p "$SOURCES"

# The first source version the archive still has. A mirror's index can list versions its pool
# does not (yet, or any more) hold, so each is tried in turn; a mirror's hiccup should not fail a
# whole build, so the list is walked up to three times.
DSC=
mapfile -t CANDIDATES < <(source_versions "$DEV" | awk 'NF && !seen[$0]++')
[ ${#CANDIDATES[@]} -gt 0 ] || die "apt knows no version of $DEV: is its index current (apt-get update)?"
for round in 1 2 3; do
    for candidate in "${CANDIDATES[@]}"; do
        read -r src version <<<"$candidate"
        key="$LIB $src $version $PREFIX $(sha256sum "$SCRIPT" | cut -c1-16) $("$CC" -dumpmachine) $("$CC" -dumpversion) ${HOST:-native} $CFLAGS"
        if [ "$(cat "$PREFIX/.stamp" 2>/dev/null)" = "$key" ]; then
            exit 0
        fi
        if download "$src" "$version"; then break 2; fi
        rm -f "$DSC" "$DSC.pool"; DSC=
        log "$src $version is not in the archive's pool (round $round of 3)"
    done
    [ $round = 3 ] || sleep $((round * 15))
done
[ -n "$DSC" ] && [ -s "$DSC" ] || die "no source for $DEV: is it known to apt (apt-get update)?"

t0=$(date +%s)
WORK=$PREFIX.work
case $LIB in
    curl) unpack "$WORK" '^[0-9]+_(gnutls|nss)\.patch$' ;;
    libpq) unpack "$WORK" '^$' ;;
esac
# PREFIX is replaced as a whole: only ever one this script made.
[ -z "$(ls -A "$PREFIX")" ] || [ -f "$PREFIX/.stamp" ] || die "$PREFIX is not empty and was not made by $0"
rm -rf "$PREFIX"; mkdir -p "$PREFIX"
# Installs go to a staging root first: nothing may land outside PREFIX.
( "build_$LIB" "$WORK" "$WORK/stage" )
outside=$(find "$WORK/stage" -type f | grep -v "^$WORK/stage$PREFIX/" | head -3 || true)
[ -z "$outside" ] || die "$LIB: the install wrote outside PREFIX: $outside"
cp -a "$WORK/stage$PREFIX/." "$PREFIX/"
rm -rf "$WORK"
echo "$key" > "$PREFIX/.stamp"
log "$LIB $version for ${HOST:-$("$CC" -dumpmachine)} in $PREFIX ($(( $(date +%s) - t0 )) s)"
