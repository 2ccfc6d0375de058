# xlb: an XDP direct-routing load balancer with VRRP and MySQL-aware health checks.
GO        ?= go
GOFLAGS   ?=
# Privileged tests share network namespaces and the CPU; two packages at a time
# keeps the whole suite inside its time budget on a 2-core machine.
TESTFLAGS ?= -p 2 -timeout 30m
BENCHTIME ?= 2000000x

export PATH := $(PATH):/usr/local/go/bin

.PHONY: all deps generate build test bench lint clean

all: build

## deps: install the Debian packages the build, tests and lab need (root)
deps:
	./scripts/install-deps.sh

## generate: rebuild the BPF objects and their Go bindings with bpf2go (needs clang, libbpf-dev)
generate:
	$(GO) generate ./...

## build: compile xlbd and xlbctl into bin/
build:
	@mkdir -p bin
	$(GO) build $(GOFLAGS) -o bin/ ./cmd/...

## test: every test, kernel-level ones included (run as root; XLB_REQUIRE_PRIV=1 forbids skips)
test:
	$(GO) test $(GOFLAGS) $(TESTFLAGS) ./...

## bench: per-packet cost through BPF_PROG_TEST_RUN against a reflector baseline, and Go benchmarks
bench:
	$(GO) test $(GOFLAGS) -run '^$$' -bench . -benchtime $(BENCHTIME) -count 5 ./loader/ ./control/...

## lint: gofmt and go vet
lint:
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin
