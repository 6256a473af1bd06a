"""A township clerk's month, as a clerk lives it, on the warehouse a sample nightly published: the template
for 张坂镇's June 2024, filled in with openpyxl, then `regreen check --data-dir`, then `regreen ingest`.
Both must give the same verdict and the same warnings: they are one judge over one history."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import openpyxl
import pytest
from openpyxl.worksheet.datavalidation import DataValidation
from report_warehouse import sample_data_dir

from regreen.submissions.columns import COLUMNS, REFERENCE_MARK, STAGES

REGREEN = Path(sys.executable).parent / "regreen"
TOWNSHIP, MONTH = "张坂镇", date(2024, 6, 1)


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REGREEN), *map(str, args)], capture_output=True, text=True, timeout=300, check=False
    )


def query(database: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the data directory a sample ingest and build published (shared with other modules, so
    copied before anything is ingested into it)."""
    mine = tmp_path_factory.mktemp("clerk") / "data"
    shutil.copytree(sample_data_dir(tmp_path_factory.getbasetemp()), mine)
    return mine


@pytest.fixture(scope="module")
def template(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("clerk-files") / "张坂镇-2024-06-月度进展.xlsx"
    # 2024/6: the template reads a month as `check` reads a 填报月份 cell.
    result = run(
        "template", "--township", TOWNSHIP, "--month", "2024/6", "--data-dir", data_dir, "--output", output
    )
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    return output


def _accepted_months(warehouse: Path) -> dict[str, date]:
    """When each project was first reported 已验收, straight from the rows received."""
    return dict(
        query(
            warehouse,
            "select project_code, min(report_month) from raw.submission_rows r "
            "join raw.submission_files f using (file_id) where f.status = 'accepted' and stage = '已验收' group by 1",
        )
    )


def _last_received(warehouse: Path, code: str) -> tuple[date, float, int, str]:
    """The latest month before June 2024 received for `code`, as the warehouse's current version has it."""
    [row] = query(
        warehouse,
        "select report_month, area_done_mu, patches_done, stage from marts.fct_submission_versions "
        "where project_code = ? and report_month < ? and is_current order by report_month desc limit 1",
        [code, MONTH],
    )
    return row[0], float(row[1]), row[2], row[3]


def test_the_template_lists_what_is_owed_and_sets_the_rest_apart(
    template: Path, data_dir: Path, reference
) -> None:
    warehouse = data_dir / "regreen.duckdb"
    accepted = _accepted_months(warehouse)
    mine = reference.township_projects(TOWNSHIP)
    owed = [
        p.project_code
        for p in mine
        if p.plan_year <= 2024 and not (p.project_code in accepted and accepted[p.project_code] < MONTH)
    ]
    earlier = [
        p.project_code for p in mine if p.project_code in accepted and accepted[p.project_code] < MONTH
    ]
    not_issued = [p.project_code for p in mine if p.plan_year > 2024]
    assert earlier and not_issued == ["2025-01", "2025-02"]  # the sample accepted 2023's projects by then

    workbook = openpyxl.load_workbook(template)
    assert workbook.sheetnames == ["月度进展", "无需填报", "说明"]
    sheet = workbook["月度进展"]
    headers = [cell.value for cell in sheet[2]]
    assert headers[: len(COLUMNS)] == [c.header for c in COLUMNS]
    reference_headers = headers[len(COLUMNS) :]
    assert all(h.startswith(REFERENCE_MARK) for h in reference_headers)
    names = {p.name: p.project_code for p in mine}
    listed = [names[row[2].value] for row in sheet.iter_rows(min_row=3) if row[2].value]
    assert listed == owed
    apart = workbook["无需填报"]
    assert [row[0].value for row in apart.iter_rows(min_row=3)] == earlier + not_issued
    assert all(
        f"{accepted[code]:%Y-%m} 已验收" in apart.cell(3 + i, 3).value for i, code in enumerate(earlier)
    )

    # The plan's targets and the last month received, beside each owed project, from the warehouse.
    column = {h: i + 1 for i, h in enumerate(headers)}
    for row, code in enumerate(owed, start=3):
        project = reference.project(code)
        month, area, patches, stage = _last_received(warehouse, code)
        values = {h.removeprefix(REFERENCE_MARK): sheet.cell(row, column[h]).value for h in reference_headers}
        assert values == {
            "方案图斑(个)": project.patches_planned,
            "方案面积(亩)": float(project.area_planned_mu),
            "上次填报月份": f"{month:%Y-%m}",
            "上次累计图斑(个)": patches,
            "上次累计治理面积(亩)": area,
            "上次项目阶段": stage,
        }
        # Protected: the sheet is, the reference cells are locked, the clerk's cells are not.
        assert sheet.cell(row, column[reference_headers[0]]).protection.locked
        assert not sheet.cell(row, column["累计治理面积(亩)"]).protection.locked
    assert sheet.protection.sheet


def test_the_stage_drop_down_stops_a_wrong_entry(template: Path) -> None:
    sheet = openpyxl.load_workbook(template)["月度进展"]
    stage_column = [c.key for c in COLUMNS].index("stage") + 1
    letter = openpyxl.utils.get_column_letter(stage_column)
    [validation] = [v for v in sheet.data_validations.dataValidation if f"{letter}3" in v.sqref]
    assert isinstance(validation, DataValidation)
    assert (validation.type, validation.errorStyle, validation.showErrorMessage) == ("list", "stop", True)
    assert "项目阶段" in validation.error and validation.errorTitle
    choices = validation.formula1.strip('"').split(",")
    assert choices == list(STAGES)
    # What Excel does with a list validation of style "stop": a value outside the list is refused.
    assert "完工" not in choices and "已完工" in choices


def _fill_in(template: Path, warehouse: Path, reference) -> tuple[list[str], date, float]:
    """Fill every owed row as a clerk would: this month's cumulative figures a little above last month's,
    except the first project, whose area the clerk types 10 mu below it. Returns the projects filled in,
    and the first one's last month received and its area then."""
    workbook = openpyxl.load_workbook(template)
    sheet = workbook["月度进展"]
    column = {cell.value: cell.column for cell in sheet[2]}
    names = {p.name: p.project_code for p in reference.projects}
    first, filled = None, []
    for row in range(3, sheet.max_row + 1):
        name = sheet.cell(row, column["项目名称"]).value
        if name is None:
            continue
        code = names[name]
        filled.append(code)
        month, area, patches, _ = _last_received(warehouse, code)
        if first is None:
            first, area_now = (month, area), area - 10
        else:
            area_now = area + 5
        values = {
            "累计完成图斑(个)": patches,
            "累计治理面积(亩)": area_now,
            "项目阶段": "施工中",
            "累计完成投资(万元)": 100,
            "监理单位": "泉州某工程监理有限公司",
            "填报人": "陈建国",
            "联系电话": "0595-87654321",
        }
        for header, value in values.items():
            sheet.cell(row, column[header], value)
    workbook.save(template)
    assert first is not None
    return filled, *first


def test_check_and_ingest_give_one_verdict_on_the_filled_template(
    template: Path, data_dir: Path, reference
) -> None:
    warehouse = data_dir / "regreen.duckdb"
    filled, last_month, last_area = _fill_in(template, warehouse, reference)

    checked = run("check", template, "--data-dir", data_dir, "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stderr == ""  # a published warehouse: judged against its history, nothing to say
    [report] = json.loads(checked.stdout)
    assert report["status"] == "accepted"
    warnings = report["warnings"]
    codes = [w["message"] for w in warnings]
    # The decrease names both months and both figures.
    decrease = next(m for m in codes if m.startswith("累计治理面积为累计数"))
    assert f"2024-06 的 {last_area - 10:.12g} 低于上月 {last_month:%Y-%m}" in decrease
    assert f"的 {last_area:.12g}" in decrease
    # The sample already holds 张坂镇's June: each project filled in restates its June, naming when that
    # version was received.
    received = dict(
        query(
            warehouse,
            "select project_code, strftime(submitted_at, '%Y-%m-%d %H:%M') from marts.fct_submission_versions "
            "where report_month = ? and township_name = ? and is_current",
            [MONTH, TOWNSHIP],
        )
    )
    received = {code: at for code, at in received.items() if code in filled}
    restated = [m for m in codes if m.startswith("重报：")]
    assert len(restated) == len(received) > 0
    assert all(any(f"{c} 2024-06 已于 {at}" in m for c, at in received.items()) for m in restated)

    sent = data_dir / "inbox" / template.name
    shutil.copy(template, sent)
    an_hour_ago = time.time_ns() - 3600 * 10**9  # sent an hour ago: settled, so the ingest takes it
    os.utime(sent, ns=(an_hour_ago, an_hour_ago))
    ingested = run("ingest", "--data-dir", data_dir)
    assert ingested.returncode == 0, ingested.stderr
    for message in restated:
        assert f"重报 / restated: {template.name}: {message}" in ingested.stdout
    landing = data_dir / "landing.duckdb"
    [(status, file_id)] = query(
        landing, "select status, file_id from raw.submission_files where original_name = ?", [template.name]
    )
    stored = query(
        landing,
        "select row_number, column_name, value, message_zh || ' / ' || message_en from raw.submission_issues "
        "where file_id = ? and severity = 'warning' order by row_number, code, column_name",
        [file_id],
    )
    assert status == report["status"]
    as_checked = sorted((w["row"], w["column"], w["value"], w["message"]) for w in warnings)
    assert sorted(stored) == as_checked
    assert len(ingested.stdout.splitlines()) == 2 + len(restated)  # totals, then each restated project-month


@pytest.mark.parametrize(
    ("month", "refused"),
    [
        ("2024年6月", None),
        ("2023-05", "不在填报期内"),
        ("2099-06", "不在填报期内"),
        ("June", "无法识别的月份"),
    ],
)
def test_template_months_are_read_as_check_reads_them(
    data_dir: Path, tmp_path: Path, month: str, refused: str
) -> None:
    """2024/6 and 2024年6月 as `check` reads them; 2023-05 (the notice's own month, before the first month
    due) and months to come refused, each with one line."""
    result = run(
        "template",
        "--township",
        TOWNSHIP,
        "--month",
        month,
        "--data-dir",
        data_dir,
        "--output",
        tmp_path / "t.xlsx",
    )
    if refused is None:
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode == 2 and not (tmp_path / "t.xlsx").exists()
    error = [line for line in result.stderr.splitlines() if not line.startswith(("usage:", " "))]
    assert len(error) == 1 and refused in error[0] and " / " in error[0], result.stderr


def test_the_build_after_it_keeps_both_versions_and_names_the_rows_it_warns_about(
    template: Path, data_dir: Path
) -> None:
    """After the ingest above: `regreen build` publishes the restatement with the versions it replaced, and
    each warning it prints names the project, the month and the value. The due day and the first month due
    come from regreen.toml (dbt is given them as vars)."""
    if not query(
        data_dir / "landing.duckdb",
        "select 1 from raw.submission_files where original_name = ?",
        [template.name],
    ):
        pytest.skip("needs the ingest of test_check_and_ingest_give_one_verdict_on_the_filled_template")
    (data_dir / "regreen.toml").write_text('[submissions]\ndue_day = 10\nfirst_due_month = "2023-09"\n')
    built = run("build", "--data-dir", data_dir)
    assert built.returncode == 0, built.stdout + built.stderr
    assert query(
        data_dir / "regreen.duckdb",
        "select min(report_month), count(distinct day(due_date)), min(day(due_date)) from marts.submission_timeliness",
    ) == [(date(2023, 9, 1), 1, 10)]
    replaced = query(
        data_dir / "regreen.duckdb",
        "select distinct replaces_original_name from marts.fct_submission_versions "
        "where original_name = ? and is_current",
        [template.name],
    )
    assert len(replaced) == 1 and replaced[0][0].startswith("示例-张坂镇-2024-06")
    lines = built.stdout.splitlines()
    warned = [i for i, line in enumerate(lines) if line.startswith("  [warned] progress_monthly")]
    assert warned
    for index in warned:  # project_code=2024-04 report_month=2024-06-01 township_name=张坂镇: flag_…=true
        rejected = lines[index + 1].split(" failed: ", 1)[1]
        assert rejected.startswith("project_code=") and " report_month=" in rejected, lines[index + 1]
        assert ": " in rejected and "=" in rejected.split(": ", 1)[1], lines[index + 1]


def test_check_names_a_file_already_received_instead_of_judging_it_again(
    data_dir: Path, tmp_path: Path
) -> None:
    """The bytes of files the sample ingest received, sent again under new names: `check` says when and as
    what they came and what became of them, instead of reading each row as a restatement of itself (as
    `ingest` loads nothing twice); the same bytes twice on one command line are a duplicate of the first."""
    warehouse = data_dir / "regreen.duckdb"
    received = query(
        warehouse,
        "select status, archived_path, original_name, strftime(submitted_at, '%Y-%m-%d %H:%M'), rows_read, "
        "error_count, report_path from raw.submission_files "
        "qualify row_number() over (partition by status order by file_id) = 1 order by status",
    )
    assert [r[0] for r in received] == ["accepted", "rejected"]
    sent = []
    for status, archived, *_ in received:
        copy = tmp_path / f"再次发送-{status}{Path(archived).suffix}"
        shutil.copyfile(data_dir / archived, copy)
        sent.append(copy)
    # New bytes (a received CSV with a line end more), given twice: judged once, then a duplicate.
    [(csv,)] = query(
        warehouse,
        "select min(archived_path) from raw.submission_files where status = 'accepted' and archived_path like '%.csv'",
    )
    fresh, again = tmp_path / "新内容.csv", tmp_path / "新内容-再发一次.csv"
    for path in (fresh, again):
        path.write_bytes((data_dir / csv).read_bytes() + b"\r\n")

    checked = run("check", *sent, fresh, again, "--data-dir", data_dir, "--json")
    assert checked.returncode == 1, checked.stderr  # the rejected bytes stay rejected
    reports = json.loads(checked.stdout)
    assert [r["status"] for r in reports] == ["duplicate", "duplicate", "accepted", "duplicate"]
    for report, (status, _, name, at, rows, errors, report_path) in zip(reports, received, strict=False):
        assert report["duplicate_of"] == {
            "file": name,
            "received_at": at,
            "status": status,
            "error_count": errors,
            "warning_count": report["duplicate_of"]["warning_count"],
            "report": report_path,
        }
        assert report["rows"] == rows and report["errors"] == report["warnings"] == []
    assert reports[3]["duplicate_of"] == {
        "file": fresh.name,
        "received_at": None,
        "status": "accepted",
        "error_count": 0,
        "warning_count": reports[2]["warning_count"],
        "report": None,
    }

    text = run("check", sent[0], "--data-dir", data_dir)
    assert text.returncode == 0, text.stderr
    name, at = received[0][2], received[0][3]
    assert text.stdout.startswith(f"{sent[0].name}：重复文件 / DUPLICATE\n")
    assert f"已于 {at} 以“{name}”收到，当时已接收" in text.stdout
    assert f"already received on {at} as {name}, accepted then" in text.stdout
    assert "重报" not in text.stdout
