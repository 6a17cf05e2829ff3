# Two commands on a fresh machine: `make run` and `make test` (see README).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test check unit bench lint typecheck schema migrations screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP) $@

run: $(STAMP)
	$(BIN)/incidentgraph serve

test: $(DEV_STAMP)
	$(BIN)/python -m pytest -q

# Fast feedback (under a minute): lint, types and the pure-logic unit tests.
check: lint typecheck unit

unit: $(DEV_STAMP)
	$(BIN)/python -m pytest -q tests/unit

bench: $(DEV_STAMP)
	$(BIN)/python -m bench

lint: $(DEV_STAMP)
	$(BIN)/ruff check app tests bench

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

# Rewrite schema.graphql from the code (a test fails when they differ).
schema: $(STAMP)
	$(BIN)/python -m app.schema.export > schema.graphql

# Write a migration for model changes (review it before committing).
migrations: $(DEV_STAMP)
	$(BIN)/python -c "import asyncio; from app.database import make_migrations; print(*asyncio.run(make_migrations()), sep=chr(10))"

# Redraw the wall display's screenshots in docs/screenshots/ (needs /usr/bin/chromium).
screenshots: $(DEV_STAMP)
	$(BIN)/python -m scripts.screenshots

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
