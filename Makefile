# rpycgo — the commands the README promises. `make test` is what CI runs.
SHELL := /bin/bash
GO ?= go
PY := /usr/bin/python3
# fuzz-short counts executions rather than seconds: a count cannot race
# the fuzzing coordinator's deadline (see .ci/fuzz).
FUZZTIME ?= 40000x
LONGFUZZ ?= 30m
# Fuzz targets: package:FuzzName
FUZZ_TARGETS := ./codec:FuzzBrineDecode ./codec:FuzzFrameDecode ./codec:FuzzVinegarLoad ./registry:FuzzHandle ./conn:FuzzConnMessages

.PHONY: all deps build vet test test-go fuzz-short fuzz soak bench bench-go serve clean

all: build

# deps installs the real Python peer (Debian's python3-rpyc 5.3.0) when the
# system interpreter cannot import rpyc. The python3 first on PATH may be
# another interpreter, so /usr/bin/python3 is always named.
deps:
	@if ! $(PY) -c 'import rpyc' >/dev/null 2>&1; then \
		echo "installing python3-rpyc"; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq python3-rpyc >/dev/null; \
	fi
	@$(PY) -c 'import rpyc; print("python rpyc", rpyc.__version__)'
	$(GO) mod download

build:
	$(GO) build ./...

vet:
	$(GO) vet ./...

test: deps vet test-go fuzz-short

# test-go runs every test under the race detector, then TestLeakMatrix
# without it: netpoll's race build can hang up a new connection under heavy
# churn (servers/leak_race_test.go), so its churn cells run in a normal build.
test-go:
	$(GO) test -race -count=1 -timeout 20m ./...
	$(GO) test -count=1 -timeout 5m -run 'TestLeakMatrix$$' ./servers

# fuzz-short runs every fuzz target briefly (part of `make test`).
fuzz-short:
	GO=$(GO) .ci/fuzz $(FUZZTIME) $(FUZZ_TARGETS)

# fuzz runs every fuzz target for LONGFUZZ each.
fuzz:
	$(MAKE) fuzz-short FUZZTIME=$(LONGFUZZ)

# soak runs rpyc-bench's mixed load against rpyc-server for SOAK (10m):
# any error, RSS growth past 50% or a leaked descriptor fails it.
SOAK ?= 10m
soak: deps
	$(GO) run ./cmd/rpyc-bench --soak $(SOAK) --out bench/results

# bench runs the harness's quick profile (under 5 minutes): rpyc-server
# beside Python's servers and the raw ceiling; table, JSON and SVG plots in
# bench/results. `go run ./cmd/rpyc-bench --profile full` runs everything.
bench: deps
	$(GO) run ./cmd/rpyc-bench --profile quick --out bench/results

# bench-go runs the packages' go test benchmarks.
bench-go:
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 ./codec ./dispatch ./services ./reactor ./servers

clean:
	$(GO) clean -testcache -fuzzcache

# serve runs rpyc-server with the CONFORMANCE service on 127.0.0.1:18861.
serve:
	$(GO) run ./cmd/rpyc-server
