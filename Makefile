# The two commands a user needs: `make run` and `make test` (lint, then the test suite).
# Each creates .venv from nothing when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev

.PHONY: run test clean benchmarks

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP_DEV): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)
	$(BIN)/prunedistill run

test: $(STAMP_DEV)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

# Every benchmark, each rewriting its figures in benchmarks/results/ (dated, with the commit).
benchmarks: $(STAMP_DEV)
	benchmarks/run_all.sh

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
