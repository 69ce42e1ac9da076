# ecorec: `make demo` and `make test` are all a newcomer needs (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO   := demo-data

.PHONY: install install-dev demo test lint bench bench-peers bench-load clean

install: $(VENV)/.installed

# Runtime dependencies, exact pins (torch is the CPU wheel, installed with pip).
$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

install-dev: $(VENV)/.installed-dev

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# A platform generated, trained and served with its dashboard; simulated people use it.
demo: install
	scripts/demo

lint: install-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

test: install-dev lint
	$(BIN)/python -m pytest

bench: install-dev
	$(BIN)/python benchmarks/eventlog_append.py
	$(BIN)/python benchmarks/generate.py

# Benchmark peers (DeepCTR-Torch) in their own folder, so they never enter ecorec's environment.
bench-peers: .bench-peers/.installed

.bench-peers/.installed: requirements-bench.txt $(VENV)/.installed
	rm -rf .bench-peers
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps \
	    --target .bench-peers -r requirements-bench.txt
	touch $@

# The service load test's generator (Locust) in its own venv: its gevent stack and pins stay
# out of ecorec's environment; benchmarks/service_load.py runs it as a subprocess.
bench-load: .bench-load/.installed

.bench-load/.installed: requirements-load.txt
	rm -rf .bench-load
	$(PYTHON) -m venv .bench-load
	.bench-load/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-load.txt
	touch $@

clean:
	rm -rf $(DEMO) .bench-peers .bench-load .pytest_cache .ruff_cache build *.egg-info
