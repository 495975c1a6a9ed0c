# Every set-up step a fresh machine needs lives here or in .ci/run.
GO        ?= go
PG_BINDIR ?= /usr/lib/postgresql/15/bin
SEED      ?= 1
RUNS      ?= runs
export TESTCONTAINERS_RYUK_DISABLED ?= true

.PHONY: deps drill validate test test-short bench gobench flakes suites vet build clean images test-containers campaign leaks

## deps: install what the embedded default needs (PostgreSQL 15 server binaries).
deps:
	@if [ ! -x "$(PG_BINDIR)/postgres" ]; then \
		echo "installing postgresql-15 (server binaries)"; \
		apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq postgresql-15 >/dev/null; \
		systemctl disable --now postgresql >/dev/null 2>&1 || service postgresql stop >/dev/null 2>&1 || true; \
	fi
	@$(GO) mod download

build:
	$(GO) build -o bcdr ./cmd/bcdr

## drill: a region drill on the embedded default (no Docker needed).
drill: deps build
	./bcdr drill region-outage --seed $(SEED) --out $(RUNS)/region-outage-$(SEED)

## validate: the BCDR plan validation on the embedded default: every promise
## of docs/promises.md, its scenarios, one report (RUNS/validate/validation.html).
## VALIDATE_ARGS=--runs 2 --controls (or --provider fake) adds to it.
VALIDATE_ARGS ?=
validate: deps build
	./bcdr validate --seed $(SEED) --out $(RUNS)/validate $(VALIDATE_ARGS)

## test: every test, suites included.
test: deps
	$(GO) vet ./...
	$(GO) test -p 1 -count=1 -timeout 80m ./...

test-short: deps
	$(GO) test -count=1 -short ./...

suites: deps
	$(GO) test -count=1 -timeout 60m -v ./suites/...

## bench: the harness's own figures on the embedded default in one table
## (median, min, max over BENCH_RUNS runs, each against its target):
## environment ready, region drill wall, writes through the whole path
## against straight into the SQL primary, latency of one proxied link,
## fault to observed effect per class, peak memory (PSS). BENCH_ARGS=-suites
## also times go test ./suites/... (10-20 minutes).
BENCH_RUNS ?= 5
BENCH_ARGS ?=
bench: deps
	$(GO) run ./cmd/bench -runs $(BENCH_RUNS) -out $(RUNS)/bench $(BENCH_ARGS)

## gobench: the Go benchmarks (compare ratios within one run).
gobench: deps
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./...

## flakes: go test -count=1 ./suites/... FLAKES_RUNS times; failures and
## skips per test row (FLAKES_ARGS=-run REGEXP, or packages after the flags).
FLAKES_RUNS ?= 5
FLAKES_ARGS ?=
flakes: deps
	$(GO) run ./cmd/flakes -runs $(FLAKES_RUNS) -out $(RUNS)/flakes $(FLAKES_ARGS)

## campaign: the region drill idle and beside busy loops, and the negative
## controls under load, in one table (does a verdict move with the load?).
## CAMPAIGN_ARGS=-runs 5 -provider containers (make images first) for containers.
CAMPAIGN_ARGS ?=
campaign: deps
	$(GO) run ./cmd/campaign -out $(RUNS)/campaign $(CAMPAIGN_ARGS)

## leaks: drills back to back, some interrupted (SIGINT), some at their
## --timeout, some by a deliberate panic; then nothing of ours may be left
## (processes, ports, shared memory, containers, networks, volumes, temp
## dirs), before and after bcdr clean. LEAKS_ARGS=-runs 4, or
## -provider containers (make images first).
LEAKS_ARGS ?=
leaks: deps
	$(GO) run ./cmd/leaks -out $(RUNS)/leaks $(LEAKS_ARGS)

## images: build every image locally (no registry needed).
images:
	BCDR_LOCAL_IMAGES=1 bash scripts/build-images.sh

## test-containers: the harness drills on the containers provider.
CONTAINER_DRILLS ?= TestDrill
test-containers: images
	BCDR_PROVIDER=containers BCDR_LOCAL_IMAGES=1 $(GO) test -p 1 -count=1 -timeout 30m -run '$(CONTAINER_DRILLS)' -v ./topology/containers/

clean:
	rm -rf $(RUNS) bcdr
