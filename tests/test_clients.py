"""The published warehouse opened by the clients analysts and BI tools use, while a nightly publishes.

Three real clients, each in a process of its own, read every mart of `regreen.duckdb` over and over
while a nightly builds and publishes the next month:

- `cli`: the DuckDB CLI that `make setup` puts in `.venv/bin/duckdb` (the `duckdb-cli` package, a
  DuckDB 1.5 binary), as the README runs it: `duckdb -readonly FILE -c SQL`;
- `duckdb1`: Python `duckdb` 1.1.3 in `.venv-duckdb1` (made by `make clients`, part of `make test`),
  the oldest DuckDB release that opens the file;
- `sqlalchemy`: SQLAlchemy over duckdb-engine, read-only with a fresh connection per query, as
  Superset and other BI tools connect (docs/operations.md).

Each answer must be one whole warehouse (the old or the new, never a mix), with no failed query. Then a
copy is rebuilt with `duckdb_storage_version = "latest"`: a full build, in a file DuckDB 1.x refuses.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from regreen.patches.register import patches_dir
from regreen.patches.sample import write_sample_layer
from regreen.project import BUNDLED_NOTICE, PROJECT_ROOT, DataDir
from regreen.publish import history_dir, open_read_only, published_run_id
from regreen.submissions.reference import load_reference
from regreen.submissions.sample import write_sample

pytestmark = pytest.mark.slow

REGREEN = Path(sys.executable).with_name("regreen")
DUCKDB_CLI = Path(sys.executable).with_name("duckdb")
DUCKDB1_PYTHON = PROJECT_ROOT / ".venv-duckdb1" / "bin" / "python"
BASE_TODAY = date(2026, 5, 15)
LATER_TODAY = date(2026, 11, 15)
NEXT_MONTH = "2026-06"
WAIT = 600  # seconds: generous bounds for a loaded 2-core machine; never a timed assertion


def duckdb1_python() -> Path:
    if DUCKDB1_PYTHON.exists():
        return DUCKDB1_PYTHON
    if "CI" in os.environ:
        pytest.fail(f"CI is set but {DUCKDB1_PYTHON} is missing: `make test` must run `make clients`")
    pytest.skip(f"{DUCKDB1_PYTHON} is missing; `make clients` (part of `make test`) creates it")


def marts(database: Path) -> list[str]:
    with open_read_only(database) as con:
        rows = con.execute(
            "select table_name from duckdb_tables() where database_name = 'warehouse' "
            "and schema_name = 'marts' order by table_name"
        ).fetchall()
    return [name for (name,) in rows]


def snapshot_sql(names: list[str]) -> str:
    """One statement: the warehouse's run and the row count of every mart (one connection, one file)."""
    counts = ", ".join(f"'{name}', (select count(*) from marts.{name})" for name in names)
    return f"select max(run_id) as run_id, json_object({counts})::varchar as rows from raw.plan_documents"


# Each reader: a loop that opens the file afresh, runs the statement, closes, and logs one JSON line;
# it stops five reads after the stop file appears.
PYTHON_READER = r"""
import json, sys, time
from pathlib import Path
kind, database, sql, stop, out = sys.argv[1:]
if kind == "duckdb1":
    import duckdb
    def query():
        con = duckdb.connect(database, read_only=True)
        try:
            return con.execute(sql).fetchone(), duckdb.__version__
        finally:
            con.close()
else:
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool
    engine = create_engine(f"duckdb:///{database}", connect_args={"read_only": True}, poolclass=NullPool)
    def query():
        with engine.connect() as conn:
            version = conn.execute(text("select version()")).scalar_one()
            return tuple(conn.execute(text(sql)).one()), version
after_stop = 0
with open(out, "w", encoding="utf-8") as log:
    while after_stop < 5:
        after_stop += Path(stop).exists()
        try:
            (run_id, rows), version = query()
            entry = {"run_id": run_id, "rows": json.loads(rows), "version": version}
        except Exception as exc:
            entry = {"error": repr(exc)}
        log.write(json.dumps(entry, ensure_ascii=False) + "\n")
        log.flush()
        time.sleep(0.05)
"""

CLI_READER = r"""
import json, subprocess, sys, time
from pathlib import Path
cli, database, sql, stop, out = sys.argv[1:]
after_stop = 0
with open(out, "w", encoding="utf-8") as log:
    while after_stop < 5:
        after_stop += Path(stop).exists()
        done = subprocess.run([cli, "-readonly", "-json", database, "-c", sql], capture_output=True, text=True)
        if done.returncode == 0:
            (row,) = json.loads(done.stdout)
            entry = {"run_id": row["run_id"], "rows": json.loads(row["rows"])}
        else:
            entry = {"error": done.stderr.strip() or f"exit {done.returncode}"}
        log.write(json.dumps(entry, ensure_ascii=False) + "\n")
        log.flush()
        time.sleep(0.05)
"""


@dataclass(frozen=True)
class Observed:
    data_dir: DataDir
    before: str
    published: subprocess.CompletedProcess[str]
    truth: dict[str, dict[str, int]]  # run id -> mart -> rows, read in-process from each version's file
    readers: dict[str, list[dict[str, object]]]  # client -> what it saw, in order


def nightly(data_dir: DataDir) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REGREEN), "nightly", "--data-dir", str(data_dir.root)],
        capture_output=True,
        text=True,
        timeout=WAIT,
    )


def counts(database: Path, names: list[str]) -> tuple[str, dict[str, int]]:
    with open_read_only(database) as con:
        run_id, rows = con.execute(snapshot_sql(names)).fetchone()
    return run_id, json.loads(rows)


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Observed:
    python1 = duckdb1_python()
    scratch = tmp_path_factory.mktemp("clients")
    data_dir = DataDir(scratch / "data").ensure()
    reference = load_reference(BUNDLED_NOTICE)
    inbox = DataDir(scratch / "later").ensure()
    write_sample(data_dir, reference, seed=2023, today=BASE_TODAY)
    write_sample_layer(patches_dir(data_dir), reference, seed=2023)  # as `regreen sample` does
    first = nightly(data_dir)
    assert first.returncode == 0, first.stdout + first.stderr
    before = published_run_id(data_dir)
    names = marts(data_dir.warehouse)
    sql = snapshot_sql(names)

    # The same sample a few months on; its 2026-06 files are the next nightly's inbox.
    for path in write_sample(inbox, reference, seed=2023, today=LATER_TODAY):
        if NEXT_MONTH in path.name:
            shutil.copy2(path, data_dir.inbox / path.name)

    stop = scratch / "stop"
    commands = {
        "cli": [sys.executable, "-c", CLI_READER, str(DUCKDB_CLI)],
        "duckdb1": [str(python1), "-c", PYTHON_READER, "duckdb1"],
        "sqlalchemy": [sys.executable, "-c", PYTHON_READER, "sqlalchemy"],
    }
    outs = {kind: scratch / f"{kind}.jsonl" for kind in commands}
    readers = [
        subprocess.Popen([*command, str(data_dir.warehouse), sql, str(stop), str(outs[kind])])
        for kind, command in commands.items()
    ]
    try:
        deadline = time.monotonic() + WAIT
        while not all(out.exists() and out.read_text() for out in outs.values()):
            assert time.monotonic() < deadline and all(r.poll() is None for r in readers)
            time.sleep(0.1)
        published = nightly(data_dir)
    finally:
        stop.touch()
        for reader in readers:
            reader.wait(timeout=WAIT)
    truth = dict(
        counts(database, names)
        for database in (history_dir(data_dir) / f"{before}.duckdb", data_dir.warehouse)
    )
    seen = {kind: [json.loads(line) for line in out.read_text().splitlines()] for kind, out in outs.items()}
    return Observed(data_dir, before, published, truth, seen)


def test_a_nightly_published_while_the_clients_read(observed: Observed) -> None:
    assert observed.published.returncode == 0, observed.published.stdout + observed.published.stderr
    after = published_run_id(observed.data_dir)
    assert set(observed.truth) == {observed.before, after} and after != observed.before
    old, new = observed.truth[observed.before], observed.truth[after]
    assert old["dim_project"] == new["dim_project"] == 14
    assert new["fct_submission_versions"] > old["fct_submission_versions"]
    # Every mart has rows, but the lists of projects in trouble and of overlapping patches, which may
    # rightly be empty.
    empty = {name for name, rows in new.items() if rows == 0}
    assert empty <= {"projects_behind_schedule", "projects_completed_not_accepted", "fct_patch_overlap"}, new
    assert new["dim_patch"] == 182


@pytest.mark.parametrize("client", ["cli", "duckdb1", "sqlalchemy"])
def test_every_client_reads_every_mart_with_no_failed_query(observed: Observed, client: str) -> None:
    seen = observed.readers[client]
    assert [entry for entry in seen if "error" in entry] == []
    # Every answer is one whole warehouse: exactly the counts of the old file or of the new one.
    assert all(entry["rows"] == observed.truth[entry["run_id"]] for entry in seen)
    versions = [entry["run_id"] for entry in seen]
    # The reader saw the old warehouse, then the new one, and never went back.
    assert versions == sorted(versions) and set(versions) == set(observed.truth)


def test_the_clients_are_the_duckdb_releases_named(observed: Observed) -> None:
    cli = subprocess.run([str(DUCKDB_CLI), "--version"], capture_output=True, text=True, check=True)
    assert cli.stdout.startswith("v1.5.")
    assert {entry["version"] for entry in observed.readers["duckdb1"]} == {"1.1.3"}
    assert {entry["version"] for entry in observed.readers["sqlalchemy"]} == {"v2.0.1"}


def test_a_site_on_duckdb_2_publishes_the_newest_format_in_a_full_build(
    observed: Observed, tmp_path: Path
) -> None:
    data_dir = DataDir(tmp_path / "data")
    shutil.copytree(observed.data_dir.root, data_dir.root)
    (data_dir.root / "regreen.toml").write_text('[storage]\nduckdb_storage_version = "latest"\n', "utf-8")
    built = subprocess.run(
        [str(REGREEN), "build", "--data-dir", str(data_dir.root)],
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    # Another format cannot come from a copy of the published file: the build was a full one.
    assert "全量构建 / full build" in built.stdout
    with open_read_only(data_dir.warehouse) as con:
        (tags,) = con.execute(
            "select tags from duckdb_databases() where database_name = 'warehouse'"
        ).fetchone()
    assert tags["storage_version"].startswith("v2.")
    old = subprocess.run(
        [str(duckdb1_python()), "-c", "import duckdb, sys; duckdb.connect(sys.argv[1], read_only=True)"]
        + [str(data_dir.warehouse)],
        capture_output=True,
        text=True,
    )
    assert old.returncode != 0 and "Trying to read a database file with version number" in old.stderr
