# The two commands the README opens with: `make run` (the nightly job on the bundled data and sample
# submissions) and `make test`. Both set everything up themselves from requirements.lock.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= warehouse

.PHONY: run test lint setup bench clean

$(BIN)/regreen: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip<27"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

setup: $(BIN)/regreen

run: setup
	$(BIN)/regreen sample --data-dir $(DATA_DIR)
	$(BIN)/regreen ingest --data-dir $(DATA_DIR)
	$(BIN)/regreen build --data-dir $(DATA_DIR)

lint: setup
	$(BIN)/ruff check ingest tests bench
	$(BIN)/ruff format --check ingest tests bench
	$(BIN)/sqlfluff lint models macros tests/dbt

test: lint
	$(BIN)/pytest

bench: setup
	$(BIN)/python bench/bench_ingest.py

clean:
	rm -rf $(VENV) target logs
