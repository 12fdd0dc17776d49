# One task runner. `make serve` sets everything up on a fresh machine and runs the service;
# `make test` is what .ci/run runs: lint, types, import contracts, the test suite.
.PHONY: serve test check lint typecheck contracts pytest bench docs clean upstream-check

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# `make serve` runs the tiny noise-making checkpoint; MODEL=<hub id or directory> for music. ARGS adds flags
# (`make serve ARGS="--port 8001"`) and keeps MODEL.
MODEL  ?= tiny
ARGS   ?=
# Torch first, pinned, so pip never pulls a different (CUDA-sized) build for a dependency.
TORCH  ?= torch==2.13.0
# The suite runs in PYTEST_WORKERS pytest-xdist processes, whole files to a worker (module fixtures shared as
# before); much of its time is spent waiting on servers and subprocesses. PYTEST_WORKERS=0: one process.
PYTEST_WORKERS ?= 2
# The browser tests (tests/browser) drive Debian's chromium through Playwright; installed when missing.
CHROMIUM ?= /usr/bin/chromium
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/aceserve serve --model $(MODEL) $(ARGS)

test: check pytest

check: lint typecheck contracts

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

contracts: $(STAMP)
	$(BIN)/lint-imports

$(CHROMIUM):
	@echo "Installing Debian's chromium for the browser tests (tests/browser)"
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

pytest: $(STAMP) $(CHROMIUM)
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# bench/api.py loads the servers with wrk (a Debian package), installed here when missing.
bench: $(STAMP)
	@command -v wrk >/dev/null || apt-get install -y wrk || { echo "make bench needs wrk: apt-get install wrk"; exit 1; }
	$(BIN)/python bench/api.py $(BENCH_ARGS)
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/events.py

# Opt-in, offline: compare the planner's prompts, chain of thought, parser and value sets with ACE-Step
# 1.5's own functions, read from a checkout (ACESTEP_SRC=/path/to/ACE-Step-1.5).
upstream-check: $(STAMP)
	@test -n "$(ACESTEP_SRC)" || { echo "set ACESTEP_SRC to an ACE-Step 1.5 checkout"; exit 2; }
	$(BIN)/python bench/upstream_check.py --src "$(ACESTEP_SRC)"

docs: $(STAMP)
	$(BIN)/python -m aceserve.cli.reference > docs/cli.md

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
