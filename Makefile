# vswitch build, demo and test entry points. `make test` is what CI runs
# (.ci/run): it installs what the tests need, then vets, lints and runs the
# unit, race, fuzz-seed and end-to-end tests. The e2e tests need root.

GO          ?= go
BIN         := bin
GOBIN       := $(shell $(GO) env GOPATH)/bin
STATICCHECK := $(GOBIN)/staticcheck
STATICCHECK_VERSION := v0.8.2
# cnitool (the CNI e2e tests' runtime) and the host-local IPAM plugin
# (Debian's is too old for CNI 1.1), installed into the project's bin/tools.
TOOLS       := $(CURDIR)/$(BIN)/tools
CNITOOL_VERSION := v1.3.1
CNI_PLUGINS_VERSION := v1.9.1

# Debian packages the end-to-end tests and the demo run (peers nobody here
# wrote). Only the missing ones are installed.
APT_PACKAGES := iproute2 iputils-ping netcat-openbsd tcpdump ethtool dpdk-dev libdpdk-dev pkg-config coreutils qemu-system-x86 cpio kmod xz-utils curl tshark python3-os-vif

# Packages with goroutines sharing state: run under the race detector.
RACE_PKGS := ./datapath/... ./bridge/... ./store/... ./api/... ./vxlan/...
# Everything except the end-to-end package and its helper commands.
UNIT_PKGS  = $(shell $(GO) list ./... | grep -v '^vswitch/test')

.NOTPARALLEL:
.PHONY: all build demo test deps vet staticcheck race unit e2e bench bench-micro bench-vhost fuzz clean install scale-cni test-dpdk bench-dpdk

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

demo: build
	./scripts/demo.sh

test: deps build vet staticcheck race unit e2e test-dpdk

deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "apt-get install:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@# The SR-IOV e2e test needs QEMU >= 10 (its igb device has SR-IOV):
	@# bookworm has 7.2, bookworm-backports has 10.x.
	@if ! qemu-system-x86_64 --version 2>/dev/null | grep -Eq 'version (1[0-9]|[2-9][0-9])\.'; then \
		if grep -q '^ID=debian' /etc/os-release && grep -q 'VERSION_CODENAME=bookworm' /etc/os-release; then \
			test -f /etc/apt/sources.list.d/backports.sources || printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' > /etc/apt/sources.list.d/backports.sources; \
			echo "apt-get install -t bookworm-backports qemu-system-x86"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports qemu-system-x86; \
		fi; \
	fi
	$(GO) mod download
	@test -x $(STATICCHECK) || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@test -x $(TOOLS)/cnitool || GOBIN=$(TOOLS) $(GO) install github.com/containernetworking/cni/cnitool@$(CNITOOL_VERSION)
	@test -x $(TOOLS)/host-local || GOBIN=$(TOOLS) $(GO) install github.com/containernetworking/plugins/plugins/ipam/host-local@$(CNI_PLUGINS_VERSION)

vet:
	$(GO) vet ./...

staticcheck:
	$(STATICCHECK) ./...

race:
	$(GO) test -race -count=1 $(RACE_PKGS)

# Unit tests; `go test` also runs every fuzz target's seed corpus.
unit:
	$(GO) test -count=1 $(UNIT_PKGS)

# End-to-end: as root, one package at a time, against the binaries in bin/.
e2e: build
	VSWITCH_BIN_DIR=$(CURDIR)/$(BIN) $(GO) test -count=1 -p 1 -timeout 15m -v ./test/...

# The dpdk build (-tags dpdk: cgo against libdpdk-dev, found with
# pkg-config) into bin/dpdk/: vet, lint, unit tests and its end-to-end tests
# (net_tap, net_af_packet, net_ring, net_null vdevs; no hugepages needed).
DPDK_PKGS := ./datapath/netdev/... ./cmd/vswitchd/
test-dpdk: deps
	$(GO) build -tags dpdk -o $(BIN)/dpdk/ ./cmd/vswitchd ./cmd/vsctl
	$(GO) vet -tags dpdk $(DPDK_PKGS) ./test/
	$(STATICCHECK) -tags dpdk $(DPDK_PKGS)
	$(GO) test -tags dpdk -count=1 ./datapath/netdev/ ./datapath/netdev/dpdk/
	VSWITCH_BIN_DIR=$(CURDIR)/$(BIN)/dpdk $(GO) test -tags dpdk -count=1 -p 1 -timeout 5m -v -run '^TestDPDK' ./test/

# 200 pods attached with the CNI plugin to one bridge: fds, memory, attach
# and detach times (as root; docs/cni.md has the figures). CNI_PODS=N.
scale-cni: deps build
	VSWITCH_BIN_DIR=$(CURDIR)/$(BIN) VSWITCH_CNI_SCALE=$(or $(CNI_PODS),200) $(GO) test -count=1 -p 1 -timeout 30m -v -run '^TestCNIScale$$' ./test/

# The performance campaign: every case against vswitchd and OVS-DPDK,
# interleaved, 3 reps; writes the headline of docs/benchmarks.md and
# docs/benchmarks.png (QUICK=1: one rep of cases a, b, g, its table and
# chart in bench/results/<time>/ instead). Root; installs
# dpdk-dev and openvswitch-switch-dpdk if missing.
bench: deps
	QUICK=$(QUICK) ./bench/run.sh

# Micro-benchmarks of the forwarding path (0 allocs/op expected).
bench-micro:
	$(GO) test -run '^$$' -bench . -benchmem ./datapath/... ./flowtable/... ./vhostuser/

# vhost-user loopback, vswitchd vs OVS-DPDK, with testpmd's virtio-user ports
# (as root; installs dpdk-dev and openvswitch-switch-dpdk if missing).
# BENCH_SECS / BENCH_REPS tune it.
bench-vhost: build
	BUILD=0 REPS=$(or $(BENCH_REPS),3) ./bench/vhost-loop.sh $(or $(BENCH_SECS),10)

# DPDK vdev rx -> switch -> net_null tx on one core, vswitchd (-tags dpdk)
# vs OVS-DPDK with the same vdevs (as root; installs what is missing).
bench-dpdk:
	REPS=$(or $(BENCH_REPS),3) ./bench/dpdk-null.sh $(or $(BENCH_SECS),10)

# Fuzz each target for FUZZTIME, then keep the inputs the fuzzer found
# interesting as seeds under the package's testdata/fuzz (commit them).
# `make test` runs the seeds as ordinary tests.
FUZZTIME ?= 1m
FUZZ_TARGETS := ./flowtable:FuzzExtract ./openflow:FuzzParseFlow ./vhostuser:FuzzMessage ./vhostuser:FuzzChain ./vxlan:FuzzDecap
fuzz:
	@set -e; cache=$$($(GO) env GOCACHE)/fuzz; \
	for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$pkg $$fn for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$pkg; \
		path=$$($(GO) list $$pkg); mkdir -p $$pkg/testdata/fuzz/$$fn; \
		if [ -d "$$cache/$$path/$$fn" ]; then cp -n "$$cache/$$path/$$fn"/* $$pkg/testdata/fuzz/$$fn/ 2>/dev/null || true; fi; \
		echo "  $$(ls $$pkg/testdata/fuzz/$$fn | wc -l) seeds in $$pkg/testdata/fuzz/$$fn"; \
	done

clean:
	rm -rf $(BIN)

# Install the daemon, the CLI and the systemd unit (dist/vswitchd.service).
# DESTDIR stages a package; PREFIX moves the binaries (the unit follows).
PREFIX ?= /usr/local
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)/etc/systemd/system $(DESTDIR)$(PREFIX)/share/doc/vswitch
	install -m 0755 $(BIN)/vswitchd $(BIN)/vsctl $(DESTDIR)$(PREFIX)/bin/
	sed 's|/usr/local/|$(PREFIX)/|g' dist/vswitchd.service > $(DESTDIR)/etc/systemd/system/vswitchd.service
	install -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/vswitch/README.md
	@echo "installed; now: systemctl daemon-reload && systemctl enable --now vswitchd"

