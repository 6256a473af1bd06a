# The two commands the README opens with: `make run` (the nightly job on the bundled data and sample
# submissions) and `make test`. Both set everything up themselves from requirements.lock.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= warehouse

.PHONY: run test lint setup browser bench clean

$(BIN)/regreen: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip<27"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

setup: $(BIN)/regreen

# The nightly job on the bundled notice and the sample submissions: it ingests the inbox, builds, checks,
# publishes and writes the report; then the data dictionary.
run: setup
	$(BIN)/regreen sample --data-dir $(DATA_DIR)
	$(BIN)/regreen nightly --data-dir $(DATA_DIR)
	$(BIN)/regreen docs --data-dir $(DATA_DIR)

lint: setup
	$(BIN)/ruff check ingest tests bench
	$(BIN)/ruff format --check ingest tests bench
	$(BIN)/sqlfluff lint models macros tests/dbt

# The report's browser test needs Debian's chromium and CJK fonts; installed when we may (root + apt).
browser:
	@dpkg -s chromium fonts-noto-cjk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; } \
	  || echo "chromium/fonts-noto-cjk not installed: the browser test will be skipped (it fails under CI=true)"

test: lint browser
	$(BIN)/pytest

bench: setup
	$(BIN)/python bench/bench_ingest.py
	$(BIN)/python bench/bench_nightly.py
	$(BIN)/python bench/bench_poison.py
	$(BIN)/python bench/bench_dbt_threads.py

clean:
	rm -rf $(VENV) target logs
