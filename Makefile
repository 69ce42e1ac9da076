# ecorec: `make demo` and `make test` are all a newcomer needs (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO   := demo-data

.PHONY: install install-dev demo test lint bench bench-peers clean

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

demo: install
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	$(BIN)/ecorec generate --users 2000 --items 5000 --days 14 --seed 7 --db sqlite:///$(DEMO)/ecorec.db
	$(BIN)/ecorec train --db sqlite:///$(DEMO)/ecorec.db
	@echo "client API key for \`$(BIN)/ecorec serve --db sqlite:///$(DEMO)/ecorec.db\` (shown once):"
	$(BIN)/ecorec keys create --role client --db sqlite:///$(DEMO)/ecorec.db
	$(BIN)/ecorec info --db sqlite:///$(DEMO)/ecorec.db
	for user in $$($(BIN)/ecorec info --db sqlite:///$(DEMO)/ecorec.db --json | \
	    $(BIN)/python -c 'import json,sys; print(" ".join(json.load(sys.stdin)["sample_user_ids"][:3]))'); do \
	  $(BIN)/ecorec recommend --db sqlite:///$(DEMO)/ecorec.db --user-id $$user --n 10 || exit 1; \
	done

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

clean:
	rm -rf $(DEMO) .bench-peers .pytest_cache .ruff_cache build *.egg-info
