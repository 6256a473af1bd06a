# The two commands the README opens with: `make run` (the nightly job on the bundled data and sample
# submissions) and `make test`. Both set everything up themselves from requirements.lock.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= warehouse
# The oldest DuckDB 1.x client that opens the published file (docs/operations.md, "Which clients open
# the warehouse"), in a venv of its own: tests/test_clients.py reads every mart with it.
DUCKDB1_VENV := .venv-duckdb1
DUCKDB1_PIN := duckdb==1.1.3
# Apache Superset and its own pins, kept out of the project's venv: `make test-bi`.
SUPERSET_VENV := .venv-superset
# rich, cachetools: imported by Superset 6.1 but missing from its requirements; Flask-Caching 2.4+ breaks
# its metastore cache (unexpected keyword ignore_delete_many_errors).
SUPERSET_PINS := apache-superset==6.1.0 duckdb-engine==0.17.0 duckdb==1.5.6 rich==15.0.0 cachetools==8.0.2 \
	flask-caching==2.3.1

.PHONY: run test test-bi lint setup clients browser bench mutate clean

$(BIN)/regreen: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip<27"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

setup: $(BIN)/regreen

$(DUCKDB1_VENV)/bin/duckdb-version: Makefile
	$(PYTHON) -m venv $(DUCKDB1_VENV)
	$(DUCKDB1_VENV)/bin/python -m pip install --quiet "$(DUCKDB1_PIN)"
	$(DUCKDB1_VENV)/bin/python -c "import duckdb; print(duckdb.__version__)" > $@

clients: $(DUCKDB1_VENV)/bin/duckdb-version

$(SUPERSET_VENV)/bin/superset: Makefile
	$(PYTHON) -m venv $(SUPERSET_VENV)
	$(SUPERSET_VENV)/bin/python -m pip install --quiet --upgrade "pip<27"
	$(SUPERSET_VENV)/bin/python -m pip install --quiet $(SUPERSET_PINS)
	touch $@

# The nightly job on the bundled notice and the sample submissions: it ingests the inbox, builds, checks,
# publishes and writes the report; then the data dictionary.
run: setup
	$(BIN)/regreen sample --data-dir $(DATA_DIR)
	$(BIN)/regreen nightly --data-dir $(DATA_DIR)
	$(BIN)/regreen docs --data-dir $(DATA_DIR)

lint: setup
	$(BIN)/ruff check ingest tests bench mutation
	$(BIN)/ruff format --check ingest tests bench mutation
	$(BIN)/sqlfluff lint models macros tests/dbt

# The report's browser test needs Debian's chromium and CJK fonts; installed when we may (root + apt).
browser:
	@dpkg -s chromium fonts-noto-cjk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; } \
	  || echo "chromium/fonts-noto-cjk not installed: the browser test will be skipped (it fails under CI=true)"

test: lint browser clients
	$(BIN)/pytest

# Superset (minutes to install, hundreds of MB) registers the published warehouse and runs a chart's
# query through its own query path; not part of `make test`.
test-bi: setup $(SUPERSET_VENV)/bin/superset
	REGREEN_SUPERSET_PYTHON=$(SUPERSET_VENV)/bin/python $(BIN)/pytest tests/test_bi_superset.py -v

bench: setup
	$(BIN)/python bench/bench_ingest.py
	$(BIN)/python bench/bench_nightly.py
	$(BIN)/python bench/bench_poison.py
	$(BIN)/python bench/bench_dbt_threads.py

# Mutation testing, slow and not part of `make test`: mutmut (pinned in mutation/requirements.lock) over the
# submission validation, the column and unit handling, the plan parser and the ingest inbox logic, then
# the listed SQL mutations of the key models against the dbt models' tests. MUTANTS narrows the mutmut
# run to mutant name globs (e.g. MUTANTS='regreen.plan.*'); the README gives the scores of the last run.
mutate: setup
	$(BIN)/python -m pip install --quiet -r mutation/requirements.lock
	$(BIN)/python mutation/run_mutmut.py --max-children 2 $(MUTANTS)
	$(BIN)/python mutation/sql_mutations.py

clean:
	rm -rf $(VENV) $(DUCKDB1_VENV) $(SUPERSET_VENV) target logs .mutate
