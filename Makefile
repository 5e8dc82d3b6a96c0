# nanoedge: build, test, demo and release on Debian 12 (bookworm).
export PATH := /opt/swift/usr/bin:$(PATH)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Build and test dependencies from Debian; libcoap3-bin gives the interop peers, chromium renders the
# fleet page in its test; runc and busybox-static the container update tests (which build their
# image from busybox); zlib and libzstd unpack image layers.
DEB_PACKAGES := pkg-config libssl-dev libsqlite3-dev libcoap3-dev libcoap3-bin libgpiod-dev libbluetooth-dev \
	libcurl4-openssl-dev faketime curl chromium zlib1g-dev libzstd-dev zstd runc busybox-static libpq-dev postgresql
# python-tuf is the reference implementation the TUF interop and attack tests compare against.
PYTHON_TUF := tuf>=7,<8
# The Prometheus reference parser checks the /metrics format in the tests.
PYTHON_PROMETHEUS := prometheus_client>=0.20,<1
# PIE stays on (ASLR); GNU ld's packed relative relocations (DT_RELR, glibc 2.36) keep the
# relocation tables, and the pages the loader dirties, small. One section per function lets
# --gc-sections drop the Swift code the binary never calls (about 115 KB of the agent).
RELEASE_FLAGS := -c release --static-swift-stdlib -Xswiftc -Osize -Xlinker --gc-sections \
	-Xswiftc -use-ld=bfd -Xlinker -z -Xlinker pack-relative-relocs \
	-Xswiftc -Xfrontend -Xswiftc -function-sections

.PHONY: all deps build test hil demo release deb bench bench-hil clean
VERSION := $(shell sed -n 's/^public let agentVersion = "\(.*\)"/\1/p' Sources/Agent/AgentRuntime.swift)

all: build

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi
	@python3 -c 'import tuf, cryptography' 2>/dev/null || { echo "installing python-tuf"; \
		python3 -m pip install -q '$(PYTHON_TUF)' cryptography; }
	@python3 -c 'import prometheus_client' 2>/dev/null || { echo "installing prometheus_client"; \
		python3 -m pip install -q '$(PYTHON_PROMETHEUS)'; }
	@command -v swift >/dev/null || { echo "swift not found: install Swift 6 at /opt/swift (see README)"; exit 1; }
	@bash Tests/HIL/deps.sh

build: deps
	swift build

# Runs every test: unit, interop with libcoap's own tools, the end-to-end site over loopback DTLS,
# then the hardware-in-loop rig.
test: SHELL := /bin/bash
test: build
	swift build --build-tests
	timeout 1500 swift test --skip-build --no-parallel 2>&1 | tee .build/test.log; exit $${PIPESTATUS[0]}
	$(MAKE) --no-print-directory hil

# The debug binaries on Debian's kernel under QEMU, against gpio-sim and btvirt (docs/hil.md).
hil: build
	timeout 600 bash Tests/HIL/run.sh

# The main job on the embedded default: a gateway and three simulated Pis carry two visitors.
demo: build
	.build/debug/nanoedge demo --work .demo

release: deps
	swift build $(RELEASE_FLAGS) --product nanoedge-agent
	swift build $(RELEASE_FLAGS) --product nanoedge
	mkdir -p dist
	cp .build/release/nanoedge-agent .build/release/nanoedge dist/
	strip dist/nanoedge-agent dist/nanoedge
	@ls -l dist/
	@echo "dist/nanoedge-agent links:"; ldd dist/nanoedge-agent | sed 's/^/  /'

# Debian packages (nanoedge-common, nanoedge-agent, nanoedge) for this machine's architecture, in dist/.
deb: release
	bash ota/deb/build.sh $(VERSION) dist dist
	@for d in dist/*_$(VERSION)_*.deb; do echo "== $$d"; dpkg-deb -f $$d Package Version Architecture Depends; done

bench: release
	bash Benchmarks/run.sh

# PIR edge latency on the rig, with the release binaries; updates docs/benchmarks.md.
bench-hil: release
	bash Benchmarks/hil.sh

clean:
	rm -rf .build dist .demo
