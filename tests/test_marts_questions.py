"""The marts that answer the monthly questions, against answers this test works out from the raw tables.

One warehouse is built by the CLI from the sample submissions as they stood on 2025-01-20, in the middle
of the programme, when every question has an answer: projects behind schedule, projects finished but not
accepted, and changes since last month. The expected answers are computed here in Python from
`raw.plan_projects` and `raw.submission_rows` (the current version of each project-month is the latest
arrival), independently of the dbt models.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest

from regreen.project import BUNDLED_NOTICE, DataDir
from regreen.report import load_report_data
from regreen.submissions.reference import load_reference
from regreen.submissions.sample import write_sample

REGREEN = Path(sys.executable).with_name("regreen")
TODAY = date(2025, 1, 20)
STAGE_RANK = {"方案编制": 1, "方案评审": 2, "已下达": 3, "施工中": 4, "已完工": 5, "已验收": 6}
CENT = Decimal("0.01")


def cents(value: Decimal | float | int | None) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def months_between(first: date, last: date) -> int:
    return (last.year - first.year) * 12 + last.month - first.month


@dataclass(frozen=True)
class Project:
    code: str
    name: str
    plan_year: int
    area_planned: Decimal


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = DataDir(tmp_path_factory.mktemp("questions") / "data").ensure()
    write_sample(data_dir, load_reference(BUNDLED_NOTICE), seed=2023, today=TODAY)
    result = subprocess.run(
        [str(REGREEN), "nightly", "--data-dir", str(data_dir.root)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return data_dir.warehouse


@dataclass(frozen=True)
class Raw:
    projects: dict[str, Project]
    # project code -> report month -> the current row (latest arrival), as a dict of raw columns
    months: dict[str, dict[date, dict]]
    as_of: date


@pytest.fixture(scope="module")
def raw(warehouse: Path) -> Raw:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        plan = con.execute("select plan_year, seq, name, area_mu from raw.plan_projects").fetchall()
        cursor = con.execute(
            "select r.*, f.submitted_at from raw.submission_rows as r "
            "join raw.submission_files as f using (file_id) order by f.submitted_at, r.file_id, r.row_number"
        )
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    projects = {
        f"{year}-{seq:02d}": Project(f"{year}-{seq:02d}", name, year, area) for year, seq, name, area in plan
    }
    months: dict[str, dict[date, dict]] = {}
    for row in rows:  # in arrival order: a later version of a month replaces the earlier one
        months.setdefault(row["project_code"], {})[row["report_month"]] = row
    assert set(months) <= set(projects)
    return Raw(projects, months, max(month for history in months.values() for month in history))


def mart(warehouse: Path, name: str, order: str = "project_code") -> list[dict]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        cursor = con.execute(f"select * from marts.{name} order by {order}")
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def latest_up_to(history: dict[date, dict], month: date) -> dict | None:
    reported = [m for m in history if m <= month]
    return history[max(reported)] if reported else None


def test_projects_completed_but_not_accepted(warehouse: Path, raw: Raw) -> None:
    expected = []
    for code, history in sorted(raw.months.items()):
        latest = history[max(history)]
        if latest["stage"] == "已完工" and latest["accepted_on"] is None:
            completed = min(m for m, row in history.items() if STAGE_RANK[row["stage"]] >= 5)
            expected.append((code, completed, max(history), months_between(completed, max(history))))
    assert expected, "the 2025-01 sample has projects finished and not accepted"
    rows = mart(warehouse, "projects_completed_not_accepted")
    assert [
        (r["project_code"], r["completed_month"], r["latest_report_month"], r["months_waiting"]) for r in rows
    ] == expected
    for row in rows:
        latest = raw.months[row["project_code"]][row["latest_report_month"]]
        assert row["area_done_mu"] == cents(latest["area_done_mu"])


def test_projects_behind_schedule_and_by_how_much(warehouse: Path, raw: Raw) -> None:
    expected = {}
    for code, project in raw.projects.items():
        history = raw.months.get(code, {})
        latest = history[max(history)] if history else None
        rank = STAGE_RANK[latest["stage"]] if latest else 0
        done = Decimal(latest["area_done_mu"]) if latest else Decimal(0)
        year_end = date(project.plan_year, 12, 1)
        progress = [m for m, row in history.items() if row["area_done_mu"] > 0]
        shortfall = max(project.area_planned - done, Decimal(0))
        if rank == 6:
            continue
        if raw.as_of > year_end:
            reason = "not_accepted"
        elif rank >= 5 or raw.as_of.year < project.plan_year:
            continue
        elif not progress:
            reason = "not_started"
        else:
            pace = done / (months_between(min(progress), raw.as_of) + 1)
            projected = done + pace * months_between(raw.as_of, year_end)
            if projected >= project.area_planned:
                continue
            reason, shortfall = "pace", project.area_planned - projected
        expected[code] = (reason, cents(done), cents(shortfall))
    assert {reason for reason, _, _ in expected.values()} >= {"not_accepted"}
    rows = mart(warehouse, "projects_behind_schedule")
    assert {r["project_code"]: (r["reason"], r["area_done_mu"], r["shortfall_mu"]) for r in rows} == expected
    assert all(r["as_of_month"] == raw.as_of for r in rows)


def test_changes_since_last_month_per_project_and_township(warehouse: Path, raw: Raw) -> None:
    previous = date(raw.as_of.year - (raw.as_of.month == 1), (raw.as_of.month - 2) % 12 + 1, 1)
    expected = {}
    for code in raw.projects:
        history = raw.months.get(code, {})
        now, before = latest_up_to(history, raw.as_of), latest_up_to(history, previous)
        area_now = now["area_done_mu"] if now else Decimal(0)
        area_before = before["area_done_mu"] if before else Decimal(0)
        patches_now = now["patches_done"] if now else 0
        patches_before = before["patches_done"] if before else 0
        expected[code] = {
            "reported_in_month": raw.as_of in history,
            "area_change_mu": cents(area_now - area_before),
            "patches_change": patches_now - patches_before,
            "stage": now["stage"] if now else None,
            "previous_stage": before["stage"] if before else None,
            "invested_change_10k_yuan": None
            if not now or now["invested_10k_yuan"] is None
            else cents(now["invested_10k_yuan"] - ((before or {}).get("invested_10k_yuan") or 0)),
        }
    rows = mart(warehouse, "changes_since_last_month_project")
    assert {r["project_code"]: {k: r[k] for k in expected[r["project_code"]]} for r in rows} == expected
    assert {(r["as_of_month"], r["previous_month"]) for r in rows} == {(raw.as_of, previous)}
    assert any(change["area_change_mu"] > 0 for change in expected.values())

    by_township: dict[str, Decimal] = {}
    for row in rows:
        by_township[row["township_name"]] = by_township.get(row["township_name"], 0) + row["area_change_mu"]
    townships = mart(warehouse, "changes_since_last_month_township", order="township_name")
    assert {t["township_name"]: t["area_change_mu"] for t in townships} == by_township
    assert sum(t["projects_planned"] for t in townships) == len(raw.projects) == 14


def test_reporting_marts_show_hundredths_and_facts_keep_the_exact_values(warehouse: Path, raw: Raw) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        exact = con.execute(
            "select count(*) from marts.fct_project_month where area_done_mu <> round(area_done_mu, 2)"
        ).fetchone()[0]
        types = dict(
            con.execute(
                "select table_name || '.' || column_name, data_type from duckdb_columns() "
                "where schema_name = 'marts' and (column_name like '%\\_mu' escape '\\' "
                "or column_name like '%10k\\_yuan%' escape '\\')"
            ).fetchall()
        )
    assert exact > 0  # the sample converts 公顷 to 亩: facts keep values like 78.4995
    for column in (
        "plan_vs_actual_project.area_done_mu",
        "plan_vs_actual_township.area_done_mu",
        "plan_vs_actual_district.area_done_mu",
        "district_progress_monthly.restored_mu",
        "funding_by_source.invested_10k_yuan",
        "funding_by_source.invested_10k_yuan_per_mu",
        "projects_behind_schedule.shortfall_mu",
        "changes_since_last_month_township.invested_change_10k_yuan",
    ):
        assert types[column] == "DECIMAL(14,2)", column
    assert types["fct_project_month.area_done_mu"] == "DECIMAL(14,4)"


def test_behind_schedule_is_the_list_the_progress_report_shows(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        report = {(risk.project.code, risk.reason) for risk in load_report_data(con).risks}
    assert {(r["project_code"], r["reason"]) for r in mart(warehouse, "projects_behind_schedule")} == report
