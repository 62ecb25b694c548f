# The front door: every user-facing action is a make target backed by the `sensorlake` CLI.
# Targets do their own setup (uv from pip when missing, `uv sync`), and never download Python.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# Re-evaluated at each use so that a uv installed by `setup` is found right away.
UV = $(shell command -v uv 2>/dev/null || echo python3 -m uv)
RUN = $(UV) run --frozen --no-sync
export UV_PYTHON_DOWNLOADS := never
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

TYPE ?= all
ARGS ?=
LIVE_ARGS ?=
# Two test workers: the build machines have two cores (PYTEST_ARGS= runs them in one process).
PYTEST_ARGS ?= -n 2

.PHONY: help uv setup setup-landing land process validate simulate test test-flow-deep lint fmt bench bench-live bench-migrate clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

uv:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 \
		|| python3 -m pip install --quiet uv

setup: uv ## Install uv (from pip) if missing and sync the whole workspace from uv.lock (every command)
	@$(UV) sync --frozen --quiet

# The gateway commands need only landing: no cdktf/provider download for `make land`.
setup-landing: uv
	@$(UV) sync --frozen --inexact --package sensorlake-landing --quiet

land: setup-landing ## Land new readings once (local lake unless S3_BUCKET_* are set); ARGS="--continuous --interval 60"
	$(RUN) sensorlake land --sample-if-missing $(ARGS)

process: land ## Alias of land (the migration guide's name)

validate: setup-landing ## Check every configured bucket: credentials, region, probe put/get/delete
	$(RUN) sensorlake validate $(ARGS)

simulate: setup-landing ## Write simulated readings; ARGS="--rows 100000" or ARGS="--rate 3 --duration 60"
	$(RUN) sensorlake simulate $(ARGS)

test: setup ## Run the tests; TYPE=raw|schematized|filtered|emergency|s3-access|partitioning|crash|contract|streams|infra|dashboards|all
ifeq ($(TYPE),all)
	$(RUN) pytest $(PYTEST_ARGS)
else
	$(RUN) pytest -m "$(subst -,_,$(TYPE))" $(PYTEST_ARGS)
endif

# The whole-flow property (tests/test_flow_properties.py) on many random sensor databases.
FLOW_EXAMPLES ?= 200

test-flow-deep: setup java-check ## The whole flow (land, streams, status) on FLOW_EXAMPLES random generated databases (default 200)
	SENSORLAKE_FLOW_EXAMPLES=$(FLOW_EXAMPLES) $(RUN) pytest tests/test_flow_properties.py -n 0 --hypothesis-show-statistics

lint: setup ## ruff lint and format check
	$(RUN) ruff check .
	$(RUN) ruff format --check .

fmt: setup ## ruff fix and format
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

bench: setup bench-live ## Benchmarks: landing throughput and memory at 1M and 5M rows, live sensor, streams into Delta, infra
	$(RUN) python -m benchmarks.landing $(ARGS)

bench-live: setup ## Benchmark: objects per million readings and emergency latency, live sensor at 10 and 100/s
	$(RUN) python -m benchmarks.live $(LIVE_ARGS)

bench: bench-migrate
bench-migrate: setup ## Benchmark: migrate backfill of 10,000 old uploader objects from a moto server (objects/s, rows/s)
	$(RUN) python -m benchmarks.migrate

clean: ## Remove local state, lake, spool and build output (not the source)
	rm -rf var dist .pytest_cache .ruff_cache

# Later packages add their targets (and prerequisites of `setup`, `test`, `bench`) here.
-include streams/streams.mk
-include infra/infra.mk
-include dashboards/dashboards.mk
