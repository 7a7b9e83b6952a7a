# The two entry points the README documents:
#   make run    install the sidecar and run it (with the built-in emulator if Ollama is unreachable)
#   make test   install system and dev dependencies, then lint, type-check and run every test
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SYSTEM_PACKAGES := prometheus librocm-smi64-1 systemd iproute2 openssl

.PHONY: run test lint typecheck pytest system-deps dashboards bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e . --group dev
	touch $@

system-deps:
	@if ! command -v promtool >/dev/null || ! dpkg -s librocm-smi64-1 >/dev/null 2>&1 || \
		! command -v systemd-analyze >/dev/null || ! command -v ip >/dev/null || \
		! command -v openssl >/dev/null; then \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
			$(SYSTEM_PACKAGES); \
	fi

run: $(VENV)/.installed
	$(BIN)/ollama-sidecar serve --emulator-if-unreachable

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

pytest: $(VENV)/.dev-installed system-deps
	$(BIN)/python -m pytest

test: system-deps lint typecheck pytest

dashboards: $(VENV)/.installed
	$(BIN)/ollama-sidecar dashboards

bench: $(VENV)/.dev-installed
	$(BIN)/python benchmarks/proxy_overhead.py
