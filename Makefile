# Two commands on a fresh machine: `make run` and `make test` (see README).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test check unit bench bench-quick lint typecheck schema migrations screenshots clean lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Dependencies come from the lock files, every file checked against its hash; the package
# itself is installed on top without resolving anything again.
$(STAMP): pyproject.toml requirements.lock | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(DEV_STAMP): pyproject.toml requirements-dev.lock | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP) $@

# Re-resolve both lock files from pyproject.toml: the newest versions its ranges allow,
# with the hashes of every file published for them. Review the diff, run `make test`.
LOCK_TOOLS := $(VENV)/lock-tools
lock:
	$(PYTHON) -m venv $(LOCK_TOOLS)
	$(LOCK_TOOLS)/bin/pip install --quiet "pip-tools>=7.4,<8"
	$(LOCK_TOOLS)/bin/pip-compile --quiet --upgrade --generate-hashes --strip-extras \
		--allow-unsafe --no-emit-index-url --no-emit-find-links \
		-o requirements.lock pyproject.toml
	$(LOCK_TOOLS)/bin/pip-compile --quiet --upgrade --generate-hashes --strip-extras \
		--allow-unsafe --no-emit-index-url --no-emit-find-links --extra dev \
		-o requirements-dev.lock pyproject.toml

run: $(STAMP)
	$(BIN)/incidentgraph serve

test: $(DEV_STAMP)
	$(BIN)/python -m pytest -q

# Fast feedback (under a minute): lint, types and the pure-logic unit tests.
check: lint typecheck unit

unit: $(DEV_STAMP)
	$(BIN)/python -m pytest -q tests/unit

# Every benchmark at full size (takes a while), the report printed; `make bench WRITE=1`
# writes it to docs/benchmarks.md instead.
bench: $(DEV_STAMP)
	$(BIN)/python -m bench $(if $(WRITE),--write)

# Every benchmark at a small size, printed only: a smoke run in a few minutes.
bench-quick: $(DEV_STAMP)
	$(BIN)/python -m bench --quick

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
