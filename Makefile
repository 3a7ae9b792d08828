# The one place that knows how to build, run, test and benchmark Chengzhi.
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))

.PHONY: install install-dev run test lint typecheck pytest bench demo migrate clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

# Runtime dependencies only, exactly as locked in uv.lock.
install: $(UV)
	$(UV) sync --frozen --no-dev

install-dev: $(UV)
	$(UV) sync --frozen

# Set up, migrate the embedded SQLite database, generate the demo city if empty, serve on :8000.
run: install
	$(BIN)/chengzhi db upgrade
	$(BIN)/chengzhi demo --if-empty
	$(BIN)/chengzhi serve --host 127.0.0.1 --port 8000

migrate: install
	$(BIN)/chengzhi db upgrade

lint: install-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install-dev
	$(BIN)/mypy

pytest: install-dev
	$(BIN)/pytest

test: lint typecheck pytest

bench: install-dev
	$(BIN)/python -m benchmarks.run_all

clean:
	rm -rf $(VENV) $(TOOLS) var/test-* .pytest_cache .mypy_cache .ruff_cache
