# xlb: an XDP direct-routing load balancer with VRRP and MySQL-aware health checks.
GO        ?= go
GOFLAGS   ?=
# Privileged tests share network namespaces and the CPU; two packages at a time
# keeps the whole suite inside its time budget on a 2-core machine.
TESTFLAGS ?= -p 2 -timeout 30m
BENCHTIME ?= 2000000x
# make bench: runs per benchmark, sysbench seconds per run and rounds per cell, VRRP trials per case.
BENCH_COUNT       ?= 5
BENCH_SECONDS     ?= 4
BENCH_ROUNDS      ?= 3
BENCH_VRRP_TRIALS ?= 5

export PATH := $(PATH):/usr/local/go/bin

# --version of a `make build` binary: git describe and the commit; a plain
# `go build` says "dev" and the revision Go records in the binary.
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS   := -X xlb/internal/buildinfo.Version=$(VERSION) -X xlb/internal/buildinfo.Commit=$(COMMIT)

.PHONY: all deps generate build man deb test bench bench-bgp soak lint clean demo demo-bgp lab-up lab-down

all: build

## deps: install the Debian packages the build, tests and lab need (root)
deps:
	./scripts/install-deps.sh

## generate: rebuild the BPF objects and their Go bindings with bpf2go (needs clang, libbpf-dev)
generate:
	$(GO) generate ./...

## build: compile xlbd, xlbctl and xlblab into bin/ (static: they also run in the Vagrant VMs)
build:
	@mkdir -p bin
	CGO_ENABLED=0 $(GO) build $(GOFLAGS) -ldflags "$(LDFLAGS)" -o bin/ ./cmd/...

## man: regenerate dist/man/xlbd.8 and xlbctl.8 from the CLI definitions (a test fails while they are stale)
man:
	XLB_UPDATE_MAN=1 $(GO) test -count=1 -run TestManPageCurrent ./cmd/xlbd ./cmd/xlbctl

## deb: bin/xlb_VERSION_ARCH.deb (binaries stripped, unit, example config, man pages, completion, rules, dashboard)
DEB_VERSION ?= $(shell git describe --tags --always 2>/dev/null | sed 's/^v//; s/^\([^0-9]\)/0~\1/' || echo 0)
DEB_ARCH    ?= $(shell $(GO) env GOARCH)
deb:
	@mkdir -p bin/deb
	CGO_ENABLED=0 $(GO) build $(GOFLAGS) -ldflags "-s -w $(LDFLAGS)" -o bin/deb/ ./cmd/xlbd ./cmd/xlbctl
	$(GO) run ./dist/cmd/mkdeb -bin bin/deb -dist dist -version $(DEB_VERSION) -arch $(DEB_ARCH) -o bin/xlb_$(DEB_VERSION)_$(DEB_ARCH).deb

## demo: the lab in network namespaces, a live MySQL workload through failures, a summary (root)
demo: deps build
	bin/xlblab demo

## demo-bgp: the same with three directors announcing the VIP by BGP to a bird2 router (ECMP, BFD) (root)
demo-bgp: deps build
	bin/xlblab demo --bgp

## lab-up / lab-down: keep the lab running to explore it (root); `make lab-up BGP=1` builds the BGP lab
lab-up: deps build
	bin/xlblab up $(if $(BGP),--bgp)

lab-down: build
	bin/xlblab down

## test: every test, kernel-level ones included (run as root; XLB_REQUIRE_PRIV=1 forbids skips)
test:
	$(GO) test $(GOFLAGS) $(TESTFLAGS) ./...

## soak: the lab under sysbench with backend kills, reloads, failovers and restarts for DURATION in minutes, e.g. 30m (root; not in test)
DURATION ?= 30m
soak:
	XLB_SOAK_DURATION=$(DURATION) XLB_REQUIRE_PRIV=1 $(GO) test -count=1 -timeout $$(( $$(echo $(DURATION) | sed 's/m$$//') + 15 ))m -run '^TestSoak$$' -v ./test/e2e/

## bench: every benchmark side by side (root; ~15 min): prints the report, writes BENCHMARKS.md and bench/mysql.png
bench:
	XLB_BENCH_SECONDS=$(BENCH_SECONDS) XLB_BENCH_ROUNDS=$(BENCH_ROUNDS) \
		$(GO) run ./bench/cmd/xlbbench -count $(BENCH_COUNT) -pkt-benchtime $(BENCHTIME) -vrrp-trials $(BENCH_VRRP_TRIALS) -o BENCHMARKS.md -chart bench/mysql.png

## bench-bgp: only the BGP section (BFD vs VRRP failover in one run; 1, 2, 3 directors; bulk sync of 1M flows): replaces that section of BENCHMARKS.md (root; ~6 min)
bench-bgp:
	$(GO) run ./bench/cmd/xlbbench -section bgp -vrrp-trials $(BENCH_VRRP_TRIALS) -o BENCHMARKS.md

STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

## lint: gofmt, go vet and staticcheck
lint:
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

clean:
	rm -rf bin
