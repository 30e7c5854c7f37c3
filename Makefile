# The two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint format bench-retention clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstalled whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

## Set everything up and run the portal (web, worker, beat) in the foreground.
run: $(VENV)/.installed
	$(BIN)/python -m portal.stack run

## Run the whole test suite against real PostgreSQL and Redis.
test: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Benchmark the retention sweep (1,000,000 records; RECORDS=20000 for a quick run).
bench-retention: $(VENV)/.installed
	$(BIN)/python bench/retention_sweep.py --records $(or $(RECORDS),1000000)

clean:
	rm -rf $(VENV) var/pg var/redis var/mail var/static
