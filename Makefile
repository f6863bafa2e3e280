# Two commands on a fresh machine: `make run` and `make test`. Both create .venv when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

CHROMIUM := /usr/bin/chromium

.PHONY: run test lint bench bench-backtest clean browser

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/troupe run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The HTML report's test opens it in Debian's headless Chromium (no Python package needed).
browser:
	@test -x $(CHROMIUM) || apt-get install -y -qq chromium >/dev/null 2>&1 || \
		(apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null) || \
		{ echo "cannot install Debian's chromium (needed by the report's browser test)"; exit 1; }

test: lint browser
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/troupe bench runtime

# The backtest benchmark beside backtrader, which is never a dependency of troupe: it goes
# into a venv of its own (.venv-bench) with troupe installed beside it.
BENCH_VENV := .venv-bench
$(BENCH_VENV)/.installed: pyproject.toml
	@test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet -e . backtrader
	@touch $@

bench-backtest: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/troupe bench backtest --json

clean:
	rm -rf $(VENV) $(BENCH_VENV) .pytest_cache .mypy_cache .ruff_cache
