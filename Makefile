# nanoedge: build, test, demo and release on Debian 12 (bookworm).
# The tests' Python tools live in a virtual environment (Tests/requirements.txt): first on PATH, so
# every `python3` of the tests, benchmarks and scripts is that one.
VENV := $(CURDIR)/.build/venv
export PATH := $(VENV)/bin:/opt/swift/usr/bin:$(PATH)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian packages by what needs them (docs/setup.md). Each deps-* target installs the missing ones of
# its list with Tests/Setup/apt-install.sh, which lets none of their services start.
# The build: pkg-config and the C libraries of Package.swift's system-library targets (zlib and
# libzstd unpack image layers).
BUILD_PACKAGES := pkg-config libssl-dev libsqlite3-dev libcoap3-dev libgpiod-dev libbluetooth-dev \
	libcurl4-openssl-dev zlib1g-dev libzstd-dev libpq-dev
# `make demo`, beyond the build: openssl makes the update server's CA and certificate. No Python, no
# libcoap tools, no curl.
DEMO_PACKAGES := openssl
# `make release`: gcc, libc6-dev, patch and xz-utils build the static agent's libcurl from Debian's
# source, which curl fetches over HTTPS (ota/toolchain/static-libs.sh); file checks the result.
RELEASE_PACKAGES := gcc libc6-dev patch xz-utils file curl ca-certificates
# The test set (`make test`), beyond the above: libcoap3-bin gives the interop peers; faketime the
# wrong clocks; curl the HTTP clients; chromium renders the fleet page; runc and busybox-static the
# container update tests (which build their image from busybox); zstd compresses their layers;
# postgresql the update server's PostgreSQL store (the tests run a server of their own, Debian's is
# never started); python3-venv the tests' Python tools (deps-venv). Test tools go here; the rig's
# packages are in Tests/HIL/deps.sh, the stock-Debian check's in deps-stock. dpkg-dev and debhelper
# build the Debian packages (DebianPackageTests, make deb), lintian checks them (make lint-deb).
TEST_PACKAGES := libcoap3-bin faketime curl chromium zstd runc busybox-static postgresql python3-venv \
	dpkg-dev debhelper lintian
# All that `make deps` installs from these lists.
DEB_PACKAGES := $(BUILD_PACKAGES) $(DEMO_PACKAGES) $(RELEASE_PACKAGES) $(TEST_PACKAGES)
# PIE stays on (ASLR); packed relative relocations (DT_RELR, glibc 2.36) keep the
# relocation tables, and the pages the loader dirties, small. One section per function lets
# --gc-sections drop the Swift code the binary never calls (about 115 KB of the agent); SwiftPM links
# executables with --export-dynamic (for tests of executables), which keeps every public symbol alive:
# --no-export-dynamic gives gc-sections those too (6066 to 601 dynamic symbols, 420 KB of the agent).
# -z relro -z now: relocations resolved at start-up and their tables read-only after (Debian's
# hardening). lld, as for aarch64: GNU ld makes no PT_GNU_RELRO here, since Swift's writable .rodata
# input sections put .rodata in the data segment ahead of the relro sections.
RELEASE_FLAGS := -c release --static-swift-stdlib -Xswiftc -Osize -Xlinker --gc-sections \
	-Xswiftc -use-ld=lld -Xlinker -z -Xlinker pack-relative-relocs \
	-Xlinker -z -Xlinker relro -Xlinker -z -Xlinker now \
	-Xswiftc -Xfrontend -Xswiftc -function-sections -Xlinker --no-export-dynamic

HOST_ARCH := $(shell dpkg --print-architecture)
# From the command line only: some build environments export ARCH with other meanings (x86_64).
ifneq ($(origin ARCH),command line)
ARCH := $(HOST_ARCH)
endif

.PHONY: release-native release-arm64 deps-arm64
.PHONY: all deps build test hil hil-arm64 demo release deb bench bench-hil bench-hil-arm64 fuzz fuzz-build fuzz-long clean
VERSION := $(shell sed -n 's/^public let productVersion = "\(.*\)"/\1/p' Sources/Site/ProductVersion.swift)
# libFuzzer targets for every parser of outside bytes (BLE, Site wire messages, JSON, TOML, TUF
# metadata, OCI tar headers and paths, update-server bodies): a release build of those modules and
# their few dependencies only (no server), with coverage (dead stripping off, or the linker drops
# the counters) and AddressSanitizer.
# SwiftPM's --sanitize flags keep the fuzzer's main; but it passes them as separate -sanitize= options in
# no fixed order, and the Swift driver honours only the last one, so the combined option goes last.
FUZZ_BUILD := --scratch-path .build-fuzz -c release --disable-dead-strip --sanitize=fuzzer --sanitize=address \
	-Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
FUZZ_SECONDS ?= 30
# TARGET:CORPUS:MAX_LEN; Tests/Fuzz/dicts/CORPUS.dict, when there, gives the fuzzer the format's tokens.
FUZZ_TARGETS := FuzzHCIEvents:hci:300 FuzzADStructures:ad:64 FuzzSiteWire:site:2048 FuzzJSON:json:4096 \
	FuzzTOML:toml:4096 FuzzTUFMetadata:tuf:8192 FuzzOCITar:tar:8192 FuzzOCIPath:ocipath:256 \
	FuzzUpdateServerBodies:bodies:2048
FUZZ_NAMES := $(foreach spec,$(FUZZ_TARGETS),$(firstword $(subst :, ,$(spec))))
# make fuzz-long: executions per target (docs/benchmarks.md).
FUZZ_RUNS ?= 10000000

fuzz-build fuzz fuzz-long: SHELL := /bin/bash

all: build

.PHONY: deps-build deps-demo deps-release deps-venv deps-hil deps-stock stock-debian-demo
# Everything `make test` needs: every list above, the tests' Python tools, the rig's packages and
# the stock-Debian check's.
deps: deps-build deps-demo deps-release deps-venv deps-hil deps-stock
	@bash Tests/Setup/apt-install.sh --label test $(TEST_PACKAGES)

deps-build:
	@command -v swift >/dev/null || { echo "swift not found: install Swift 6 at /opt/swift (see README)"; exit 1; }
	@bash Tests/Setup/apt-install.sh --label build --no-install-recommends $(BUILD_PACKAGES)

deps-demo: deps-build
	@bash Tests/Setup/apt-install.sh --label demo --no-install-recommends $(DEMO_PACKAGES)

deps-release: deps-build
	@bash Tests/Setup/apt-install.sh --label release $(RELEASE_PACKAGES)

# The tests' and benchmarks' Python tools in .build/venv, remade when Tests/requirements.txt changes;
# never the system Python, which stock Debian keeps from pip (PEP 668).
deps-venv:
	@bash Tests/Setup/apt-install.sh --label venv python3-venv
	@cmp -s Tests/requirements.txt $(VENV)/requirements.txt 2>/dev/null || { \
		echo "python: virtual environment $(VENV) from Tests/requirements.txt"; rm -rf $(VENV); \
		env PATH="$$(echo "$$PATH" | sed 's#$(VENV)/bin:##')" python3 -m venv $(VENV) \
		&& $(VENV)/bin/python3 -m pip install -q --disable-pip-version-check -r Tests/requirements.txt \
		&& cp Tests/requirements.txt $(VENV)/requirements.txt; }

# QEMU, the kernel's source and headers, BlueZ's tools: the rig's (Tests/HIL/deps.sh).
deps-hil:
	@bash Tests/HIL/deps.sh

# debootstrap makes the stock root, zstd packs it, curl reads the suite's Release date.
deps-stock:
	@bash Tests/Setup/apt-install.sh --label stock --no-install-recommends debootstrap zstd curl

build: deps-build
	swift build

# Runs every test: unit, interop with libcoap's own tools, the end-to-end site over loopback DTLS,
# then the hardware-in-loop rig. The end-to-end sites run a second time with the aarch64 agent under
# qemu-user (docs/simulator.md); its release is built first, as the arm64 packages need it anyway.
test: SHELL := /bin/bash
test: deps build release-arm64
	swift build --build-tests
	@# The Pi roots of deb-test-arm64 (debootstrap under emulation, minutes when cold) are made while
	@# the tests below run, which mostly wait on their processes; deb-test-arm64 waits for them.
	mkdir -p .build/pi-roots
	$(SUDO) bash Tests/Packages/install-in-pi-root.sh --prepare >.build/pi-roots/prepare.log 2>&1 &
	@# So is the stock Debian root of stock-debian-demo (debootstrap when its cache is stale, `make
	@# deps-demo`, the Swift packages fetched); its build and demo run last, which waits for it.
	mkdir -p .build/stock
	$(SUDO) bash Tests/Setup/stock-debian.sh --prepare bookworm >.build/stock/prepare-bookworm.log 2>&1 &
	NANOEDGE_E2E_ARM64=dist/arm64/nanoedge-agent timeout 1500 swift test --skip-build --no-parallel 2>&1 \
		| tee .build/test.log; exit $${PIPESTATUS[0]}
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=8
	$(MAKE) --no-print-directory hil
	$(MAKE) --no-print-directory hil-arm64
	$(MAKE) --no-print-directory deb-test-arm64
	$(MAKE) --no-print-directory lint-deb-arm64
	$(MAKE) --no-print-directory stock-debian-demo SUITE=bookworm

# The debug binaries on Debian's kernel under QEMU, against gpio-sim and btvirt (docs/hil.md).
hil: build deps-hil
	timeout 600 bash Tests/HIL/run.sh

# The aarch64 release binaries in dist/arm64 (`make release ARCH=arm64`) on Debian's arm64 kernel
# under QEMU's virt machine, against gpio-sim (docs/hil.md).
hil-arm64: deps-hil
	timeout 600 env HIL_ARCH=arm64 bash Tests/HIL/run.sh

fuzz-build: deps-build
	@for target in $(FUZZ_NAMES); do \
		swift build $(FUZZ_BUILD) --product $$target 2>&1 | grep -v "Cannot export local symbol" \
			| grep -E "error|warning: |Compiling|Linking|complete"; \
		test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done
	@for target in $(FUZZ_NAMES); do \
		objdump -h .build-fuzz/release/$$target | grep -q __sancov_cntrs \
			|| { echo "fuzz: $$target has no coverage counters; rm -rf .build-fuzz and retry"; exit 1; }; \
	done

# Each target runs FUZZ_SECONDS from seeds made from the test fixtures plus what earlier runs found
# (.build-fuzz/corpus/*-found). A crash stops make and leaves its input in .build-fuzz/artifacts/.
fuzz: fuzz-build deps-venv
	python3 Tests/BLETests/Fixtures/make-traces.py --corpus .build-fuzz/corpus Tests/BLETests/Fixtures
	python3 Tests/Fuzz/make-seeds.py .build-fuzz/corpus
	mkdir -p .build-fuzz/artifacts
	@for spec in $(FUZZ_TARGETS); do \
		target=$${spec%%:*}; rest=$${spec#*:}; seeds=$${rest%%:*}; maxlen=$${rest#*:}; \
		mkdir -p .build-fuzz/corpus/$$seeds-found; \
		dict=Tests/Fuzz/dicts/$$seeds.dict; test -f $$dict && dict=-dict=$$dict || dict=; \
		echo "fuzz: $$target for $(FUZZ_SECONDS) s"; \
		SWIFT_BACKTRACE=enable=no .build-fuzz/release/$$target -max_total_time=$(FUZZ_SECONDS) -max_len=$$maxlen -print_final_stats=1 \
			-artifact_prefix=.build-fuzz/artifacts/$$target- $$dict \
			.build-fuzz/corpus/$$seeds-found .build-fuzz/corpus/$$seeds 2>.build-fuzz/$$target.log \
			|| { tail -40 .build-fuzz/$$target.log; exit 1; }; \
		grep -E "(INITED|DONE) " .build-fuzz/$$target.log | sed "s/^/  /"; \
	done

# Each target to FUZZ_RUNS executions, two at a time (one per core), from the same seeds and corpora
# as `make fuzz`; prints executions, seconds, corpus and crashes per target (docs/benchmarks.md).
# FUZZ_LONG=FuzzJSON,FuzzTOML runs only those.
fuzz-long: fuzz-build deps-venv
	python3 Tests/BLETests/Fixtures/make-traces.py --corpus .build-fuzz/corpus Tests/BLETests/Fixtures
	python3 Tests/Fuzz/make-seeds.py .build-fuzz/corpus
	bash Tests/Fuzz/fuzz-long.sh $(FUZZ_RUNS) "$(FUZZ_LONG)" $(FUZZ_TARGETS)

# The main job on the embedded default: a gateway and three simulated Pis carry two visitors.
# With ARCH=arm64 the Pis run the aarch64 agent from `make release ARCH=arm64`, under qemu-user.
# Installs only what the demo needs and builds only its two executables (docs/setup.md).
DEMO_AGENT := $(if $(filter $(ARCH),$(HOST_ARCH)),,dist/$(ARCH)/nanoedge-agent)
demo: deps-demo $(if $(DEMO_AGENT),release)
	swift build --product nanoedge-agent
	swift build --product nanoedge
	.build/debug/nanoedge demo --work .demo $(if $(DEMO_AGENT),--agent $(DEMO_AGENT))

# `make demo` on a stock Debian with Swift, fresh each run: a debootstrapped root with Swift's
# documented dependencies, a clone of HEAD, the demo offline in namespaces of its own. It must end with
# `demo: ok`, leave nothing running and install none of the test set (Tests/Setup/stock-debian.sh,
# docs/setup.md). SUITE=bookworm (`make test` runs it) or trixie.
SUITE ?= bookworm
stock-debian-demo: deps-stock
	timeout 2400 $(SUDO) bash Tests/Setup/stock-debian.sh $(SUITE)

# ARCH (a Debian architecture) picks what `release`, `deb` and `demo` build for: this machine's by
# default; arm64 cross-builds the static aarch64 binaries into dist/arm64/ (docs/building.md).
release: release-$(if $(filter $(ARCH),$(HOST_ARCH)),native,$(ARCH))

# The aarch64 binaries, built with Debian unstable's Swift in a root cached under .build/toolchain
# (ota/toolchain/): the first run downloads about 1.2 GB and takes a few minutes.
release-arm64: deps-arm64
	bash ota/toolchain/release-arm64.sh

# What building for and running aarch64 needs on the host: debootstrap for the toolchain root and
# the Pi roots, QEMU's user-mode emulation registered with binfmt_misc for running aarch64 binaries.
deps-arm64:
	@bash Tests/Setup/apt-install.sh --label arm64 debootstrap qemu-user-static binfmt-support curl xz-utils
	@[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || $(SUDO) update-binfmts --enable qemu-aarch64

# The agent is one static executable (docs/building.md): glibc and every C library from their
# archives, libcurl a minimal build of Debian's curl source (cached in .build/static; a warm run returns
# at once). NANOEDGE_STATIC_AGENT (Package.swift) adds -static-executable to the agent's link only, so
# the server and the tests still link Debian's shared libraries. A static binary needs no $ORIGIN
# rpath, and a static-pie must not have one (glibc's start-up refuses DT_RUNPATH).
# SwiftPM does not track the archives it links by -l: a rebuilt libcurl (a newer stamp) removes the
# agent so that it is linked again.
# STATIC_PIE=1 links a static-pie: ASLR for the agent's own code, but `file` says "static-pie linked".
STATIC_LIBS := $(CURDIR)/.build/static/$(shell uname -m)
AGENT_STATIC := NANOEDGE_STATIC_AGENT=$(if $(filter 1,$(STATIC_PIE)),pie,1) \
	PKG_CONFIG_PATH=$(STATIC_LIBS)/curl/lib/pkgconfig$${PKG_CONFIG_PATH:+:$$PKG_CONFIG_PATH}

release-native: deps-release
	bash ota/toolchain/static-libs.sh curl $(STATIC_LIBS)/curl
	@[ .build/release/nanoedge-agent -nt $(STATIC_LIBS)/curl/.stamp ] || rm -f .build/release/nanoedge-agent
	$(AGENT_STATIC) swift build $(RELEASE_FLAGS) --disable-local-rpath --product nanoedge-agent
	swift build $(RELEASE_FLAGS) --product nanoedge
	mkdir -p dist
	cp .build/release/nanoedge-agent .build/release/nanoedge dist/
	strip dist/nanoedge-agent dist/nanoedge
	@ls -l dist/
	@file dist/nanoedge-agent | grep -Eq 'static(ally|-pie) linked' \
		|| { echo "dist/nanoedge-agent is not static:"; ldd dist/nanoedge-agent; exit 1; }
	@echo "dist/nanoedge-agent: $$(file -b dist/nanoedge-agent | cut -d, -f1,4); ldd: $$(ldd dist/nanoedge-agent 2>&1 | xargs)"

# Debian packages (nanoedge-common, nanoedge-agent, nanoedge) from `make release` for ARCH (default:
# this machine's), built with debhelper from debian/ (docs/packaging.md). This machine's architecture
# is built from and into dist/, any other from and into dist/ARCH/, where `make release ARCH=…` puts
# its binaries: `make deb ARCH=arm64` gives dist/arm64/nanoedge-agent_DEB_VERSION_arm64.deb. The
# version is debian/changelog's latest, whose upstream part must be VERSION.
DEB_DIR := $(if $(filter $(ARCH),$(HOST_ARCH)),dist,dist/$(ARCH))
DEB_VERSION := $(shell dpkg-parsechangelog -l debian/changelog -S Version 2>/dev/null)
.PHONY: deps-deb lint-deb deb-test
deps-deb:
	@missing=$$(for p in dpkg-dev debhelper lintian; do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi
deb: release deps-deb
	@case "$(DEB_VERSION)" in "$(VERSION)"-*) ;; *) echo "deb: debian/changelog's latest entry is $(DEB_VERSION)" \
		"but the sources are $(VERSION): add an entry for $(VERSION)-1 (docs/packaging.md)"; exit 1 ;; esac
	bash ota/deb/build.sh $(DEB_VERSION) $(DEB_DIR) $(DEB_DIR) $(ARCH)
	@for d in $(DEB_DIR)/*_$(DEB_VERSION)_*.deb; do echo "== $$d"; dpkg-deb -f $$d Package Version Architecture Depends; done

# lintian on this machine's and the arm64 packages: any error or warning fails. A tag is silenced only
# in debian/PACKAGE.lintian-overrides, with its reason.
LINTIAN := lintian --allow-root --fail-on error,warning --tag-display-limit 0
lint-deb: deps-deb
	$(MAKE) --no-print-directory deb ARCH=$(HOST_ARCH)
	$(MAKE) --no-print-directory deb ARCH=arm64
	$(LINTIAN) dist/*_$(DEB_VERSION)_*.deb dist/arm64/*_$(DEB_VERSION)_*.deb

# The arm64 packages only: `make test` builds their binaries anyway, while this machine's would need
# a cold release build of both (about ten minutes on two cores) that nothing else in the run uses.
# The same debian/ and build.sh make both, so the arm64 run covers the packaging; `make lint-deb`
# checks both before a release.
.PHONY: lint-deb-arm64
lint-deb-arm64: deps-deb
	$(MAKE) --no-print-directory deb ARCH=arm64
	$(LINTIAN) dist/arm64/*_$(DEB_VERSION)_*.deb

# The arm64 packages installed, used, removed and purged in emulated bookworm and trixie arm64 roots
# (qemu-user-static); the roots are made once, in .build/pi-roots (ota/README.md).
.PHONY: deb-test-arm64
deb-test-arm64: deps-arm64
	$(MAKE) --no-print-directory deb ARCH=arm64
	timeout 1800 $(SUDO) env DEB_VERSION=$(DEB_VERSION) bash Tests/Packages/install-in-pi-root.sh dist/arm64

# This machine's packages the same way, in a bookworm root of its own architecture.
deb-test: deps-arm64
	$(MAKE) --no-print-directory deb ARCH=$(HOST_ARCH)
	timeout 1800 $(SUDO) env DEB_VERSION=$(DEB_VERSION) DEB_ARCH=$(HOST_ARCH) \
		bash Tests/Packages/install-in-pi-root.sh dist bookworm

bench: release release-arm64 deps-venv
	bash Benchmarks/run.sh

# PIR edge latency on the rig, with the release binaries; updates docs/benchmarks.md.
bench-hil: release deps-hil
	bash Benchmarks/hil.sh

# The same on the aarch64 rig, with dist/arm64 (`make release ARCH=arm64`).
bench-hil-arm64: deps-hil
	HIL_ARCH=arm64 bash Benchmarks/hil.sh

clean:
	rm -rf .build .build-fuzz dist .demo
