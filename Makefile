# fxmesh — make help lists the targets.
GO      ?= go
PKGS    := ./...
BENCHTIME ?= 2s

.PHONY: help build test test-python test-short test-load bench bench-peers sim sim-scale lint fuzz demo clean install

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-11s %s\n", $$1, $$2}'

build: ## build fxnode and fx into bin/
	$(GO) build -ldflags "-X github.com/fxmesh/fxmesh/cmd/internal/buildinfo.commit=$$(git rev-parse HEAD 2>/dev/null)" -o bin/ ./cmd/fxnode ./cmd/fx

test: test-python ## run every test with the race detector (and the 30-node simulation without it: too slow under -race), and the Python SDK's tests
	$(GO) test -race -count=1 -timeout 20m $(PKGS)
	$(GO) test -count=1 -run '^TestScaleSteady30$$' ./sim/

PYTHON ?= $(firstword $(wildcard /usr/bin/python3) python3)
test-python: build ## the Python SDK's tests (python/tests; integration ones use bin/fx and bin/fxnode)
	cd python && FXMESH_BIN=$(CURDIR)/bin $(PYTHON) -m unittest discover -s tests -t .

test-load: ## the load test (840 fx processes of one user, 100 at a time): on a machine it has to itself
	FXMESH_LOAD=1 $(GO) test -race -count=1 -timeout 20m -run 'TestConcurrentFxOfOneUser' -v ./e2e/

test-short: ## unit tests only, no end-to-end processes
	$(GO) test -race -short -count=1 $(PKGS)

bench: ## run the benchmarks: end-to-end invocations (in one process, the local API's submit and feed beside them, then from this one to an fxnode process), then the executor, stores and signatures (p50/p99; the raw pipe and crypto/ed25519 baselines are in the same run), then an endpoint under the slow-sender attack, then container calls (warm, beside the local pool, and cold), then batch-scheduler blocks (idle endpoint to first result, 1,000 no-op tasks through a running block; local and, where a cluster answers, Slurm blocks beside the local pool)
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./sim/
	$(GO) test -run '^$$' -bench ProcessInvoke -benchtime $(BENCHTIME) ./e2e/
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./exec/python/ ./node/taskstore/ ./node/audit/ ./invoke/ ./batchverify/
	$(GO) test -run '^$$' -bench SlowSenderAttack -benchtime 1x ./e2e/
	$(GO) test -run '^$$' -bench WarmCall -benchtime 300x ./exec/container/
	$(GO) test -run '^$$' -bench ColdStart -benchtime 10x ./exec/container/
	$(GO) test -run '^$$' -bench ColdStart -benchtime 5x ./exec/pilot/
	$(GO) test -run '^$$' -bench Throughput -benchtime 2x ./exec/pilot/

bench-peers: build ## the Python SDK's Executor beside Dask distributed and ProcessPoolExecutor(2) (installs python3-distributed)
	@$(PYTHON) -c 'import distributed' 2>/dev/null || apt-get install -y -q python3-distributed || \
	  (apt-get update -q && apt-get install -y -q python3-distributed)
	cd python && FXMESH_BIN=$(CURDIR)/bin $(PYTHON) bench/peers.py

sim: ## run the in-memory simulations
	$(GO) test -race -count=1 -v ./sim/...

SCENARIO ?= steady
NODES    ?= 30
SEED     ?= 1
SIM_JSON ?=
sim-scale: ## real nodes on a simulated network: SCENARIO=steady|churn|partition|bootstrap-loss NODES=30 SEED=1 SIM_JSON=FILE
	FXSIM_SCENARIO=$(SCENARIO) FXSIM_NODES=$(NODES) FXSIM_SEED=$(SEED) FXSIM_JSON=$(SIM_JSON) \
		$(GO) test -count=1 -timeout 60m -run '^TestScale$$' -v ./sim/

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet $(PKGS)

fuzz: ## run each fuzz target for FUZZTIME (default 10s)
	./scripts/fuzz.sh $${FUZZTIME:-10s}

demo: build ## start a local mesh and show it (the README's main command)
	./scripts/demo.sh

PREFIX ?= /usr/local
install: build ## put fx and fxnode in $(PREFIX)/bin and the Python package fxmesh in $(PYTHON)'s site-packages
	install -d $(PREFIX)/bin
	install -m 0755 bin/fx bin/fxnode $(PREFIX)/bin/
	site=$$($(PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') && \
	  install -d "$$site/fxmesh" && install -m 0644 python/fxmesh/*.py "$$site/fxmesh/"

clean: ## remove build outputs and the demo's state
	rm -rf bin .fxdev
