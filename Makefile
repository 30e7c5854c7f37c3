# The two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test test-min lint format chaos bench-retention bench-intake bench-queue bench-erasure bench-access clean

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
	@# The policy checker reads files only: the service URLs are never connected to.
	DEBUG=$${DEBUG:-true} DATABASE_URL=$${DATABASE_URL:-postgres://localhost/unused} \
	REDIS_URL=$${REDIS_URL:-redis://localhost:6379/0} $(BIN)/python manage.py check_policies
	@# Which package may import which (pyproject.toml, [tool.importlinter]).
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

## The suite against the lowest version of every dependency pyproject.toml allows (direct
## dependencies at their floors, resolved by uv), in a virtualenv of its own (.venv-min).
test-min:
	rm -rf .venv-min
	$(PYTHON) -m venv .venv-min
	.venv-min/bin/python -m pip install --quiet uv
	.venv-min/bin/uv pip install --quiet --python .venv-min/bin/python --resolution lowest-direct -e '.[dev]'
	.venv-min/bin/python -m pytest -p no:cacheprovider

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## The chaos run: the whole stack under load while Redis, workers and PostgreSQL fail (README "Faults").
chaos: $(VENV)/.installed-dev
	$(BIN)/python bench/chaos.py $(CHAOS_ARGS)

## Benchmark the retention sweep (1,000,000 records; RECORDS=20000 for a quick run).
bench-retention: $(VENV)/.installed-dev
	$(BIN)/python bench/retention_sweep.py --records $(or $(RECORDS),1000000)

## Benchmark intake under gunicorn against an empty view (needs wrk: apt-get install wrk).
bench-intake: $(VENV)/.installed-dev
	$(BIN)/python bench/intake.py

## Benchmark the staff queue page with 100,000 requests.
bench-queue: $(VENV)/.installed-dev
	$(BIN)/python bench/staff_queue.py --requests $(or $(REQUESTS),100000)

## Benchmark the erasure of one subject among 1,000,000 records.
bench-erasure: $(VENV)/.installed-dev
	$(BIN)/python bench/subject_erasure.py --records $(or $(RECORDS),1000000)

## Benchmark the access package of a subject with 10,000 records.
bench-access: $(VENV)/.installed-dev
	$(BIN)/python bench/access_package.py --records $(or $(RECORDS),10000)

clean:
	rm -rf $(VENV) .venv-min var/pg var/redis var/mail var/static
