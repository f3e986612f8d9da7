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

# Every benchmark, each rewriting its figures in benchmarks/results/ (dated, with the machine).
BENCH = set -e; record() { name=$$1; shift; { date -u +"# %F %H:%M UTC, make benchmarks at $$(git rev-parse --short HEAD)"; "$$@"; } > benchmarks/results/$$name.txt.new && mv benchmarks/results/$$name.txt.new benchmarks/results/$$name.txt; }
benchmarks: $(STAMP_DEV)
	@$(BENCH); \
	record dimension $(BIN)/python benchmarks/bench_dimension.py; \
	record information $(BIN)/python benchmarks/bench_information.py; \
	record stimuli $(BIN)/python benchmarks/bench_stimuli.py; \
	record extraction $(BIN)/python benchmarks/bench_extraction.py; \
	record real_extraction $(BIN)/python benchmarks/bench_real_extraction.py; \
	record analysis $(BIN)/python benchmarks/bench_analysis.py; \
	record rf_frames $(BIN)/python benchmarks/bench_rf_frames.py; \
	record nwb $(BIN)/python benchmarks/bench_nwb.py; \
	record study benchmarks/bench_study.sh default; \
	record study_imagenet benchmarks/bench_study.sh imagenet

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
