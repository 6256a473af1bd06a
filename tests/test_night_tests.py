"""On an incremental night the error-level dbt tests of the relations a night writes part of read only the
project-months it wrote (macros/night_tests.sql); they must fail wherever a test of the whole relation
fails. Real processes: the sample's first night built and published by `regreen build`, the second
night's files ingested, its working database made as the build makes it (the published warehouse
copied, the new landing rows appended, meta.night_keys noted), then real dbt runs on copies of it,
narrowed as a night runs them and whole (the same tests with meta.night_keys dropped)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from regreen.build import SUBMISSION_TABLES, append_submissions
from regreen.dbt import DbtNodeResult, DbtProcess, _read_results
from regreen.project import BUNDLED_NOTICE, DataDir
from regreen.submissions.reference import load_reference
from regreen.submissions.sample import write_sample

NIGHTS = (date(2024, 3, 15), date(2024, 9, 15))  # the sample's arrivals up to each day: one night each
# The tests narrowed on this night (their compiled SQL reads meta.night_keys), among them each kind.
NARROWED = {
    "unique_combination_of_columns_fct_project_month_project_code__report_month",
    "unique_combination_of_columns_stg_submissions__rows_file_id__sheet__row_number",
    "accepted_values_fct_project_month_stage__________________",
    "not_null_fct_project_month_stage_rank",
    "relationships_stg_submissions__rows_stage__stage__ref_stages_",
    "relationships_fct_project_month_project_code__project_code__ref_dim_project_",
    "test_fct_submission_versions__one_current_version_per_month",
}


def regreen(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "regreen.cli", *args], capture_output=True, text=True)
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], int]:
    """The second night's working database before dbt runs (kept aside), the dbt selection the build
    gives it, and the highest file id the published warehouse held."""
    root = tmp_path_factory.mktemp("night-tests")
    data_dir = DataDir(root / "data").ensure()
    reference = load_reference(BUNDLED_NOTICE)
    delivered: set[str] = set()
    for number, today in enumerate(NIGHTS):
        scratch = DataDir(root / f"sample-{today}").ensure()
        for path in write_sample(scratch, reference, seed=2023, today=today):
            if path.name not in delivered:
                shutil.copy2(path, data_dir.inbox / path.name)
                delivered.add(path.name)
        regreen("ingest", "--data-dir", str(data_dir.root), "--notice", str(BUNDLED_NOTICE))
        if number == 0:
            regreen("build", "--data-dir", str(data_dir.root), "--notice", str(BUNDLED_NOTICE))
    with duckdb.connect(str(data_dir.warehouse), read_only=True) as con:
        # What a night leaves behind is only what it publishes: no night's keys.
        assert not con.execute("select * from duckdb_tables() where table_name = 'night_keys'").fetchall()
        (mark,) = con.execute("select max(file_id) from raw.submission_rows").fetchone()
    before = root / "before-dbt.duckdb"
    shutil.copyfile(data_dir.warehouse, before)
    with duckdb.connect(str(before)) as con:
        changed = append_submissions(con, data_dir.landing)
    assert changed and "submission_rows" in changed
    return before, [f"source:submissions.{SUBMISSION_TABLES[t][0]}+" for t in changed], mark


def run_dbt(database: Path, *arguments: str) -> dict[str, DbtNodeResult]:
    """`dbt <arguments>` on `database`, with its artifacts beside it; the results by node name."""
    work = database.parent / "work"
    with DbtProcess(database, work) as dbt:
        completed = dbt.run(*arguments)
    assert completed.returncode in (0, 1), completed.stdout[-2000:] + completed.stderr[-2000:]
    target = work / "dbt-target"
    return {n.name: n for n in _read_results(target / "run_results.json", target / "manifest.json")}


def narrowed_sql(database: Path, test: str) -> bool:
    """Whether the last run compiled `test` to read meta.night_keys (run_results.json keeps the SQL)."""
    results = json.loads((database.parent / "work" / "dbt-target" / "run_results.json").read_text())
    [code] = [r["compiled_code"] for r in results["results"] if r["unique_id"].split(".")[2] == test]
    return "meta.night_keys" in code


def copy_of(before: Path, tmp_path: Path) -> Path:
    """The working database before the night's dbt run, copied for one test to change."""
    database = tmp_path / "build.duckdb"
    shutil.copyfile(before, database)
    return database


def whole_run(database: Path, selection: list[str]) -> dict[str, DbtNodeResult]:
    """The same tests on the same relations, whole: without meta.night_keys, as a full build runs them."""
    with duckdb.connect(str(database)) as con:
        con.execute("drop table meta.night_keys")
    return run_dbt(database, "test", "--select", *selection)


def outcomes(results: dict[str, DbtNodeResult]) -> dict[str, tuple[str, int | None]]:
    return {name: (n.status, n.failures) for name, n in results.items() if n.resource_type == "test"}


def test_a_restated_old_month_that_breaks_tests_fails_them_on_the_night_as_a_whole_run_does(
    night: tuple[Path, list[str], int], tmp_path: Path
) -> None:
    before, selection, mark = night
    database = copy_of(before, tmp_path)
    with duckdb.connect(str(database)) as con:
        # One of tonight's files restates the first month of a project that reported later months too
        # (a row appended as ingest appends it): the models write that project's months from it onward.
        # Its stage is one the seeds do not know.
        restated = con.execute(
            "select project_code, min(report_month) from raw.submission_rows where file_id <= ? "
            "group by project_code having count(distinct report_month) > 2 order by all limit 1",
            [mark],
        ).fetchone()
        con.execute(
            "insert into raw.submission_rows by name select * replace ("
            "(select max(file_id) from raw.submission_rows) as file_id, 100000 as row_number, "
            "'施工准备' as stage) from raw.submission_rows "
            "where project_code = ? and report_month = ? order by file_id desc limit 1",
            list(restated),
        )
        con.execute("insert into meta.night_keys values ('raw.submission_rows', ?, ?)", list(restated))
    # Built, then tested: `dbt build` would skip the marts once the staging test of the stage fails.
    run_dbt(database, "run", "--select", *selection)
    tested = run_dbt(database, "test", "--select", *selection)
    with duckdb.connect(str(database), read_only=True) as con:
        noted = con.execute(
            "select count(*) from meta.night_keys where written_to = 'marts.fct_project_month' "
            "and project_code = ? and report_month = ?",
            list(restated),
        ).fetchone()[0]
    assert noted == 1  # the model's delete+insert noted the restated month it wrote
    night_outcomes = outcomes(tested)
    assert {name for name in NARROWED if narrowed_sql(database, name)} == NARROWED
    failed = {name for name, (status, _) in night_outcomes.items() if status == "fail"}
    assert {
        "accepted_values_fct_project_month_stage__________________",
        "not_null_fct_project_month_stage_rank",
        "relationships_stg_submissions__rows_stage__stage__ref_stages_",
    } <= failed
    assert night_outcomes == outcomes(whole_run(database, selection))


def test_a_written_row_that_repeats_an_unwritten_rows_key_fails_the_key_test_on_the_night(
    night: tuple[Path, list[str], int], tmp_path: Path
) -> None:
    before, selection, _ = night
    database = copy_of(before, tmp_path)
    built = run_dbt(database, "build", "--select", *selection)
    assert all(n.status in ("pass", "success", "warn") for n in built.values())
    with duckdb.connect(str(database)) as con:
        # A night that writes a second row for a project-month it did not otherwise touch (as a broken
        # model would): delete+insert notes the key of every row it writes, so the key is read, the
        # row written beside the one that was there.
        key = con.execute(
            "select project_code, report_month from marts.fct_project_month "
            "where (project_code, report_month) not in (select (project_code, report_month) from meta.night_keys) "
            "order by all limit 1"
        ).fetchone()
        con.execute(
            "insert into marts.fct_project_month select * from marts.fct_project_month "
            "where project_code = ? and report_month = ?",
            list(key),
        )
        con.execute("insert into meta.night_keys values ('marts.fct_project_month', ?, ?)", list(key))
    unique = "unique_combination_of_columns_fct_project_month_project_code__report_month"
    tested = run_dbt(database, "test", "--select", "fct_project_month")
    assert narrowed_sql(database, unique)
    assert (tested[unique].status, tested[unique].failures) == ("fail", 1)
    assert outcomes(tested) == outcomes(whole_run(database, ["fct_project_month"]))
