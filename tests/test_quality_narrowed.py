"""The progress suite narrowed on an incremental build gives the whole query's results, failures included.

A base warehouse (tests/report_warehouse.py, built by ingest and dbt) passes the suite and keeps its
results; a copy of it receives a new file resending some months — an incremental build's working
database — and then the change a test makes. The suite runs there twice, on its whole query and narrowed
(`regreen.quality.narrow_suite`, with the base attached), and both runs must give the same results, row
counts, observed values and listed rows included: a failure a whole run finds, the narrowed run finds.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest
from test_quality import BASELINE, PROGRESS_CHANGES, RUN_ID, edit_suite, progress_outcomes, suites

from regreen.quality import CheckResult, SuiteFileError, load_suites, run_suites, store_check_results

BASE_RUN = "base-run"
NEW_FILE = 1000  # above every file id of the base: a file the base has not seen
# The months the new file resends: every month that PROGRESS_CHANGES changes lies in them.
RESENT = (
    "(project_code = '2023-01' and report_month >= date '2023-11-01') "
    "or (project_code = '2024-04' and report_month = date '2024-08-01')"
)


@pytest.fixture(scope="module")
def base(known_warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The published warehouse: it passed the progress suite, whose results it stores under BASE_RUN."""
    folder = tmp_path_factory.mktemp("narrowed-base")
    path = folder / "base.duckdb"
    shutil.copyfile(known_warehouse, path)
    with duckdb.connect(str(path)) as con:
        results = run_suites(con, BASE_RUN, suites(folder, "progress_monthly"))
        assert progress_outcomes(results) == BASELINE  # every error check passed
        store_check_results(con, results)
    return path


@pytest.fixture
def night(base: Path, tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A copy of the base to which a new, later file resends the RESENT months as they stand (the version
    fct_project_month holds), the way an incremental build appends the landing's new rows."""
    working = tmp_path / "working.duckdb"
    shutil.copyfile(base, working)
    con = duckdb.connect(str(working))
    con.execute(
        "insert into raw.submission_files select * replace (? as file_id, "
        "submitted_at + interval 30 day as submitted_at) from raw.submission_files "
        "where file_id = (select max(file_id) from raw.submission_files)",
        [NEW_FILE],
    )
    con.execute(
        "insert into raw.submission_rows select submission_rows.* replace (? as file_id) "
        "from raw.submission_rows inner join marts.fct_project_month using (project_code, report_month, "
        f"file_id, row_number) where {RESENT.replace('project_code', 'submission_rows.project_code')}",
        [NEW_FILE],
    )
    yield con
    con.close()


def whole_and_narrowed(
    con: duckdb.DuckDBPyConnection, base: Path, folder: Path, caplog: pytest.LogCaptureFixture
) -> tuple[list[CheckResult], list[CheckResult], str]:
    """The suite's results on its whole query and on an incremental build of `base`, and what the
    narrowed run logged."""
    folder.mkdir()
    whole = run_suites(con, RUN_ID, suites(folder, "progress_monthly"))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="regreen"):
        narrowed = run_suites(con, RUN_ID, suites(folder, "progress_monthly"), base=(base, BASE_RUN))
    return whole, narrowed, caplog.text


def test_a_night_that_changes_nothing_checked_runs_narrowed_with_the_whole_results(
    night: duckdb.DuckDBPyConnection, base: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    whole, narrowed, log = whole_and_narrowed(night, base, tmp_path / "suites", caplog)

    assert "error checks narrowed to the rows of 2 touched scopes" in log
    assert narrowed == whole
    assert progress_outcomes(narrowed) == BASELINE
    # the counts are the whole table's, not the window's
    (rows,) = night.execute("select count(*) from marts.fct_project_month").fetchone()
    assert all(r.details.startswith(f"检查 {rows} 行") for r in narrowed)


@pytest.mark.parametrize(("changes", "failing"), PROGRESS_CHANGES)
def test_a_narrowed_night_fails_every_progress_rule_a_whole_run_fails(
    night: duckdb.DuckDBPyConnection,
    base: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    changes: list[str],
    failing: dict[str, tuple],
) -> None:
    # Each change lands on a resent month (a touched row breaking the rule): the narrowed run checks it.
    for change in changes:
        night.execute(change)

    whole, narrowed, log = whole_and_narrowed(night, base, tmp_path / "suites", caplog)

    assert "error checks narrowed" in log
    assert progress_outcomes(whole) == BASELINE | failing
    assert narrowed == whole


def test_a_restated_old_month_fails_the_later_month_it_makes_a_drop(
    night: duckdb.DuckDBPyConnection, base: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The new file also restates 2023-01's 2023-10, above 2023-11's area: 2023-11 becomes a drop, and the
    # mart (as a model that rebuilt only the restated month would leave it) does not flag it.
    (november,) = night.execute(
        "select area_done_mu from marts.fct_project_month "
        "where project_code = '2023-01' and report_month = date '2023-11-01'"
    ).fetchone()
    october = "project_code = '2023-01' and report_month = date '2023-10-01'"
    night.execute(
        "insert into raw.submission_rows select submission_rows.* replace (? as file_id, ? as area_done_mu) "
        "from raw.submission_rows inner join marts.fct_project_month "
        f"using (project_code, report_month, file_id, row_number) where submission_rows.{october}",
        [NEW_FILE, november + 1],
    )
    night.execute(f"update marts.fct_project_month set area_done_mu = ? where {october}", [november + 1])

    whole, narrowed, log = whole_and_narrowed(night, base, tmp_path / "suites", caplog)

    assert "error checks narrowed" in log
    assert progress_outcomes(whole) == BASELINE | {"area_flag": ("failed", "false", "true")}
    (flag,) = [r for r in whole if r.status == "failed"]
    assert "project_code=2023-01 report_month=2023-11-01" in flag.details
    assert narrowed == whole


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(
            "insert into marts.fct_project_month select * from marts.fct_project_month "
            "where project_code = '2023-02' and report_month = date '2023-08-01'",
            id="an-untouched-month-repeated",
        ),
        pytest.param(
            "update marts.fct_project_month set flag_area_decreased = true "
            "where project_code = '2023-01' and report_month = date '2023-08-01'",
            id="an-untouched-month-flagged",
        ),
    ],
)
def test_a_change_outside_the_new_rows_reach_runs_the_suite_whole(
    night: duckdb.DuckDBPyConnection,
    base: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    change: str,
) -> None:
    # A model that rewrote a month no new row reaches: the rows outside the window are not the base's,
    # so their passing there proves nothing; the suite runs whole and fails as a whole run does.
    night.execute(change)

    whole, narrowed, log = whole_and_narrowed(night, base, tmp_path / "suites", caplog)

    assert "run whole (rows outside the new data's reach changed)" in log
    assert any(r.status == "failed" for r in whole)
    assert narrowed == whole


def test_a_base_that_failed_an_error_check_is_not_narrowed(
    night: duckdb.DuckDBPyConnection, base: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    night.execute(
        "update quality.check_results set status = 'failed' where run_id = ? and check_name = ?",
        [BASE_RUN, "每个项目每月一行 / one row per project and month"],
    )

    whole, narrowed, log = whole_and_narrowed(night, base, tmp_path / "suites", caplog)

    assert "run whole (the base warehouse did not pass its error checks)" in log
    assert narrowed == whole


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda data: data["meta"]["regreen"]["incremental"].pop("outside"), id="no-outside"),
        pytest.param(lambda data: data["meta"]["regreen"]["incremental"].update(by=[]), id="no-by"),
        pytest.param(
            lambda data: data["meta"]["regreen"].update(query="select * from marts.fct_project_month"),
            id="no-final-cte",
        ),
    ],
)
def test_an_incremental_form_that_cannot_be_used_is_refused(
    tmp_path: Path, change: Callable[[dict], object]
) -> None:
    folder = suites(tmp_path, "progress_monthly")
    edit_suite(folder, "progress_monthly", change)

    with pytest.raises(SuiteFileError, match="meta.regreen.incremental"):
        load_suites(folder)
