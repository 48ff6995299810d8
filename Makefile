# fxmesh — make help lists the targets.
GO      ?= go
PKGS    := ./...
BENCHTIME ?= 2s

.PHONY: help build test test-short test-load bench sim lint fuzz demo clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-11s %s\n", $$1, $$2}'

build: ## build fxnode and fx into bin/
	$(GO) build -o bin/ ./cmd/fxnode ./cmd/fx

test: ## run every test with the race detector
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

test-load: ## the load test (840 fx processes of one user, 100 at a time): on a machine it has to itself
	FXMESH_LOAD=1 $(GO) test -race -count=1 -timeout 20m -run 'TestConcurrentFxOfOneUser' -v ./e2e/

test-short: ## unit tests only, no end-to-end processes
	$(GO) test -race -short -count=1 $(PKGS)

bench: ## run the benchmarks: end-to-end invocations (in one process, then from this one to an fxnode process), then the executor, stores and signatures (p50/p99; the raw pipe and crypto/ed25519 baselines are in the same run), then an endpoint under the slow-sender attack, then container calls (warm, beside the local pool, and cold), then batch-scheduler blocks (idle endpoint to first result, 1,000 no-op tasks through a running block; local and, where a cluster answers, Slurm blocks beside the local pool)
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./sim/
	$(GO) test -run '^$$' -bench ProcessInvoke -benchtime $(BENCHTIME) ./e2e/
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./exec/python/ ./node/taskstore/ ./node/audit/ ./invoke/ ./batchverify/
	$(GO) test -run '^$$' -bench SlowSenderAttack -benchtime 1x ./e2e/
	$(GO) test -run '^$$' -bench WarmCall -benchtime 300x ./exec/container/
	$(GO) test -run '^$$' -bench ColdStart -benchtime 10x ./exec/container/
	$(GO) test -run '^$$' -bench ColdStart -benchtime 5x ./exec/pilot/
	$(GO) test -run '^$$' -bench Throughput -benchtime 2x ./exec/pilot/

sim: ## run the in-memory simulations
	$(GO) test -race -count=1 -v ./sim/...

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet $(PKGS)

fuzz: ## run each fuzz target for FUZZTIME (default 10s)
	./scripts/fuzz.sh $${FUZZTIME:-10s}

demo: build ## start a local mesh and show it (the README's main command)
	./scripts/demo.sh

clean: ## remove build outputs and the demo's state
	rm -rf bin .fxdev
