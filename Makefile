# Two entry points for a fresh clone: `make up` runs the bot, `make test` runs the tests.
# Both create the virtual environment in .venv on first use.

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: install up test lint bench bench-quick

# Measurements bench-quick runs; .ci/run leaves out M1, whose rate search takes minutes.
BENCH_ONLY ?= M1,M2,M3,M4,M5,M6,M7,M8

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

install: $(BIN)/.installed

up: install
	$(BIN)/wxstream up

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

$(BIN)/.installed-bench: $(BIN)/.installed
	$(BIN)/pip install --quiet -e ".[test,bench]"
	touch $@

bench: $(BIN)/.installed-bench
	$(BIN)/python -m bench

bench-quick: $(BIN)/.installed-bench
	$(BIN)/python -m bench --quick --only $(BENCH_ONLY)
