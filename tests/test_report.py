"""The progress report, the check results page and the data dictionary, read back from the files written.

The report is written from a warehouse whose figures are known (tests/report_warehouse.py: submission
files ingested and built by dbt) and its pages are parsed as HTML; the data dictionary is a real
`dbt docs generate` run.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import shutil
import statistics
import subprocess
import sys
from datetime import date
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest
from report_warehouse import AS_OF, CHECKED_RUN, CHECKS, EARLIER_RUN, LATEST_RUN

from regreen.project import PROJECT_ROOT, DataDir
from regreen.report import (
    BurnupChart,
    ProjectStatus,
    WarehouseMissingError,
    WarehouseOutdatedError,
    WarehouseUnreadableError,
    projects_at_risk,
    write_docs,
    write_report,
)

ZONE = ZoneInfo("Asia/Shanghai")

# --- reading the pages back -------------------------------------------------------------------------


class _Tables(HTMLParser):
    """Every table in a page as rows of cell texts, each table under the id of the section heading
    (h2) above it; cells also keep their attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[tuple[str, list[list[tuple[str, dict[str, str | None]]]]]] = []
        self.row_classes: list[list[str]] = []
        self._section = ""
        self._cell: list[str] | None = None
        self._cell_attrs: dict[str, str | None] = {}
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "h2" and found.get("id"):
            self._section = found["id"] or ""
        elif tag == "table":
            self.tables.append((self._section, []))
            self.row_classes.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1][1].append([])
            self.row_classes[-1].append(found.get("class") or "")
        elif tag in ("td", "th") and self.tables:
            self._cell, self._cell_attrs = [], found

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][1][-1].append(("".join(self._cell).strip(), self._cell_attrs))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(page: str, section: str) -> list[list[list[str]]]:
    parser = _Tables()
    parser.feed(page)
    return [[[text for text, _ in row] for row in rows] for name, rows in parser.tables if name == section]


def rows_by_code(table: list[list[str]]) -> dict[str, list[str]]:
    return {row[0]: row for row in table[1:] if row and re.fullmatch(r"\d{4}-\d{2}", row[0])}


def section(page: str, anchor: str) -> str:
    start = page.index(f'id="{anchor}"')
    end = page.find("<section", start)
    return page[start : end if end > 0 else len(page)]


# --- fixtures -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def warehouse(known_warehouse: Path) -> Path:
    """Read only: a test that changes it works on a copy."""
    return known_warehouse


@pytest.fixture(scope="module")
def pages(warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("report")
    index = write_report(warehouse, out, ZONE)
    assert index == out / "index.html"
    return {name: (out / name).read_text(encoding="utf-8") for name in ("index.html", "quality.html")}


def query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


# --- the report --------------------------------------------------------------------------------------------


def test_the_report_is_one_self_contained_page_that_links_the_others(pages: dict[str, str]) -> None:
    index = pages["index.html"]
    assert index.startswith("<!doctype html>")
    assert '<html lang="zh-CN">' in index
    # 360 and QQ browsers (IE mode unless a page asks for their Chromium kernel) and IE mode itself.
    assert '<meta name="renderer" content="webkit">' in index
    assert '<meta http-equiv="X-UA-Compatible" content="IE=edge">' in index
    assert 'href="quality.html"' in index and 'href="../docs/index.html"' in index
    assert 'href="index.html"' in pages["quality.html"]
    # Nothing to fetch: no external stylesheet, script, image or font, and a policy that forbids them.
    for page in pages.values():
        assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page)
        assert not re.search(r"""url\(\s*["']?\s*(?:https?:)?//|@import""", page)
        assert "<link" not in page
        assert "default-src 'none'" in html.unescape(page)


def test_every_heading_is_chinese_first_with_its_english_term(pages: dict[str, str]) -> None:
    headings = re.findall(r"<h([1-3])[^>]*>(.*?)</h\1>", pages["index.html"], flags=re.S)
    assert len(headings) >= 10
    for _, heading in headings:
        chinese, english = re.fullmatch(r'([^<]+)<span class="en">([^<]+)</span>', heading.strip()).groups()
        assert re.search(r"[\u4e00-\u9fff]", chinese), heading
        assert re.fullmatch(r"[A-Za-z ,.\-]+", english.replace("\n", " ")), heading


def test_the_burnup_chart_carries_the_district_figures(pages: dict[str, str], warehouse: Path) -> None:
    [(month, restored)] = query(
        warehouse,
        "select report_month, restored_mu from marts.district_progress_monthly "
        "order by report_month desc limit 1",
    )
    assert month == AS_OF
    chart = re.search(r'<svg id="burnup-chart"[^>]*>', pages["index.html"]).group(0)
    assert f'data-latest-month="{month:%Y-%m}"' in chart
    assert Decimal(re.search(r'data-latest-mu="([^"]+)"', chart).group(1)) == restored
    label = re.search(r'<text id="burnup-latest"[^>]*>([^<]+)</text>', pages["index.html"]).group(1)
    assert label == f"{restored:,.1f} 亩"
    milestones = re.findall(r'class="milestone" data-year="(\d+)" data-mu="([\d.]+)"', pages["index.html"])
    assert [(int(y), Decimal(v)) for y, v in milestones] == [(2023, 993), (2024, 2721), (2025, 3126)]
    assert "任务 3,000 亩 task" in pages["index.html"] and "计划 3,126 亩 planned" in pages["index.html"]
    # Every month is a point, with its figure a hover away.
    months = query(warehouse, "select count(*) from marts.district_progress_monthly")[0][0]
    svg = pages["index.html"][pages["index.html"].index("<svg") : pages["index.html"].index("</svg>")]
    assert svg.count("<circle") == months


def test_plan_versus_actual_by_year_and_township_are_the_marts(
    pages: dict[str, str], warehouse: Path
) -> None:
    by_year, by_township, projects = tables(pages["index.html"], "plan")
    assert [row[0] for row in by_year[1:]] == ["2023", "2024", "2025"]
    expected = query(
        warehouse,
        "select plan_year, projects_planned, projects_completed, projects_accepted, patches_done, "
        "patches_planned, area_done_mu, area_planned_mu from marts.plan_vs_actual_plan_year order by 1",
    )
    for row, (_, planned, completed, accepted, patches, patches_planned, area, area_planned) in zip(
        by_year[1:], expected, strict=True
    ):
        assert row[1:4] == [str(planned), str(completed), str(accepted)]
        assert row[4] == f"{patches} / {patches_planned}"
        assert row[5] == f"{area:,.1f} / {area_planned:,.0f}"
    assert [row[0].split()[0] for row in by_township[1:]] == ["百崎乡", "东园镇", "洛阳镇", "张坂镇"]
    assert len(rows_by_code(projects)) == 14


def test_each_project_row_shows_stage_share_staleness_and_flags(pages: dict[str, str]) -> None:
    _, _, projects = tables(pages["index.html"], "plan")
    rows = rows_by_code(projects)
    # code, project, township, plan year, stage, patches, area, %, bar, months since progress, latest, flags
    assert rows["2023-01"][4] == "6/6 已验收" and rows["2023-01"][9] == "—"
    assert rows["2024-06"][4] == "4/6 施工中" and rows["2024-06"][7] == "40.0%"
    # 2024-06 stalled after its eighth month of works (2024-10), eight months before 2025-06.
    assert rows["2024-06"][9] == "8"
    # 2023-05 finished in 2024-02 and has waited for acceptance since.
    assert rows["2023-05"][4] == "5/6 已完工" and rows["2023-05"][9] == "16"
    assert rows["2024-05"][11].startswith("面积超计划 area above plan ×")
    assert rows["2025-03"][7] == "0.0%" and rows["2025-03"][9] == "—"


def test_the_per_project_tables_stop_at_project_rows_and_say_where_the_rest_are(
    warehouse: Path, tmp_path: Path
) -> None:
    index = write_report(warehouse, tmp_path / "report", ZONE, project_rows=3).read_text(encoding="utf-8")
    _, _, projects = tables(index, "plan")
    assert sorted(rows_by_code(projects)) == ["2023-01", "2023-02", "2023-03"]
    [funding] = tables(index, "funding")
    assert [row[0] for row in funding[1:]] == ["2023-01", "2023-02", "2023-03"]
    assert index.count("共 14 个；全部项目见") == 2
    assert "export/csv/plan_vs_actual_project.csv" in index and "export/csv/funding_by_source.csv" in index
    # Under the default every one of the 14 is listed, with no note.
    assert write_report(warehouse, tmp_path / "all", ZONE).read_text(encoding="utf-8").count("共 14 个") == 0


@pytest.mark.parametrize(
    ("top", "step"),
    [(3126 * 1.08, 500), (4_000, 500), (4_001, 1_000), (1_080_000, 200_000), (7, 1), (0.5, 1)],
)
def test_the_burnup_chart_keeps_to_eight_gridlines_at_any_size(top: float, step: int) -> None:
    # A step of 500 mu whatever the total drew 13,000 gridlines (12 MB) for a province's plan.
    assert BurnupChart.tick_step(top) == step


def test_projects_at_risk_are_those_the_data_put_at_risk(pages: dict[str, str]) -> None:
    [risks] = tables(pages["index.html"], "risk")
    reasons = {code: row[6] for code, row in rows_by_code(risks).items()}
    assert reasons == {
        "2023-05": "年度已过未验收 plan year over, not accepted",
        "2024-04": "年度已过未验收 plan year over, not accepted",
        "2024-06": "年度已过未验收 plan year over, not accepted",
        "2025-02": "进度不足 behind pace",
        "2025-03": "尚未开始治理 not started",
    }
    # 2025-02: 22.5 mu in its four months since 2025-03 is 5.6 a month; 84.5 mu in six months needs 14.1.
    assert rows_by_code(risks)["2025-02"][7:10] == ["5.6", "14.1", "56.2"]


def _project(**values: object) -> ProjectStatus:
    base: dict[str, object] = {
        "code": "2025-02",
        "name": "张坂玉田、玉园、玉塘村废弃矿山生态治理项目",
        "township": "张坂镇",
        "plan_year": 2025,
        "patches_planned": 19,
        "area_planned": Decimal(107),
        "patches_done": 3,
        "area_done": Decimal("22.5"),
        "stage": "施工中",
        "stage_rank": 4,
        "latest_month": date(2025, 6, 1),
        "first_progress": date(2025, 3, 1),
        "last_progress": date(2025, 6, 1),
        "flags": (),
    }
    return ProjectStatus(**(base | values))


def test_pace_is_measured_from_the_first_progress_to_the_end_of_the_plan_year() -> None:
    [risk] = projects_at_risk([_project()], date(2025, 6, 1))
    assert risk.reason == "pace"
    assert risk.pace == Decimal("22.5") / 4
    assert risk.projected == Decimal("22.5") + Decimal("22.5") / 4 * 6
    assert risk.needed == (Decimal(107) - Decimal("22.5")) / 6
    # 60 mu by June at 15 a month reaches 150 by December: on pace.
    assert projects_at_risk([_project(area_done=Decimal(60))], date(2025, 6, 1)) == []
    # In December nothing is left of the year: short of the plan is at risk, with no pace left to ask.
    [december] = projects_at_risk([_project(area_done=Decimal(100))], date(2025, 12, 1))
    assert (december.reason, december.needed) == ("pace", None)


def test_the_plan_year_decides_which_projects_are_at_risk() -> None:
    as_of = date(2025, 6, 1)
    not_yet = _project(code="2026-01", plan_year=2026, area_done=Decimal(0), first_progress=None)
    completed = _project(stage="已完工", stage_rank=5, area_done=Decimal(107))
    accepted_late = _project(plan_year=2024, stage="已验收", stage_rank=6)
    unaccepted = _project(
        code="2024-04", plan_year=2024, stage="已完工", stage_rank=5, area_done=Decimal(526)
    )
    unstarted = _project(code="2025-03", area_done=Decimal(0), first_progress=None, last_progress=None)
    never_reported = _project(
        code="2025-01", area_done=None, stage=None, stage_rank=None, first_progress=None
    )
    risks = projects_at_risk(
        [not_yet, completed, accepted_late, unaccepted, unstarted, never_reported], as_of
    )
    assert [(r.project.code, r.reason) for r in risks] == [
        ("2024-04", "not_accepted"),
        ("2025-03", "not_started"),
        ("2025-01", "not_started"),
    ]
    # From January after its plan year, a project without an accepted completion is overdue.
    [overdue] = projects_at_risk([completed], date(2026, 1, 1))
    assert overdue.reason == "not_accepted"


def test_the_submission_grid_shows_every_township_month_and_why_files_were_rejected(
    pages: dict[str, str], warehouse: Path
) -> None:
    grid = section(pages["index.html"], "submissions")
    cells = re.findall(r'<td class="cell (\w+)" title="([^"]*)">', grid)
    months = query(warehouse, "select count(distinct report_month) from marts.submission_timeliness")[0][0]
    assert len(cells) == 4 * months
    by_title = {title.split("：")[0]: status for status, title in cells}
    assert by_title["洛阳镇 2024-02"] == "missing"
    assert by_title["东园镇 2025-05"] == "rejected"
    assert by_title["洛阳镇 2024-05"] == "late"
    assert by_title["东园镇 2024-06"] == "not_expected"
    rejected_title = next(title for status, title in cells if title.startswith("东园镇 2025-05"))
    assert "方案中没有这个项目" in rejected_title  # the validator's own message
    # The reasons a click away: the cell links to its entry in the folded list below the grid.
    anchor = re.search(r'title="东园镇 2025-05[^"]*"><a href="#(rejection-\d+)">', grid).group(1)
    entry = re.search(rf'<li id="{anchor}">(.*?)</li>', grid).group(1)
    assert "东园镇 2025-05" in entry and "no plan project has this name" in entry
    assert re.search(r"<details><summary>退回原因（2 份）", grid)
    # 洛阳镇 owed 22 reports (2023-06 to 2025-03, when its last project was accepted): all on time but two.
    luoyang = re.search(r"洛阳镇 <span.*?</tr>", grid, flags=re.S).group(0)
    assert luoyang.endswith('<td class="num">90.9%</td></tr>')
    # The grid scrolls sideways and opens on its latest months; not_due months are never counted.
    assert '<div class="scroll latest"><table class="grid">' in grid
    not_due = query(warehouse, "select count(*) from marts.submission_timeliness where status = 'not_due'")[
        0
    ][0]
    assert not_due and sum(status == "not_expected" for status, _ in cells) == not_due


def test_waste_rock_far_above_the_median_is_highlighted(pages: dict[str, str], warehouse: Path) -> None:
    ratios = dict(
        query(
            warehouse,
            "select project_code, waste_rock_10k_m3_per_mu from marts.funding_by_source "
            "where waste_rock_10k_m3_per_mu is not null",
        )
    )
    median = statistics.median(ratios.values())
    funding = section(pages["index.html"], "funding")
    alarms = re.findall(r'<tr class="alarm"><td class="code">([\d-]+)</td>', funding)
    assert alarms == ["2024-06"]
    assert f"{median:,.3f} 万m³/亩" in funding
    assert "以修复之名行开采之实" in funding and "Mining under the name of" in funding
    [table] = tables(pages["index.html"], "funding")
    row = rows_by_code(table)["2024-06"]
    assert row[-1] == f"{Decimal(str(ratios['2024-06'])) / Decimal(str(median)):.1f}×" == "53.3×"
    assert row[9] == "4.00"  # 万元 per mu
    assert rows_by_code(table)["2025-03"][-2:] == ["—", "—"]  # nothing restored yet: no ratio


def test_data_quality_shows_the_latest_run_and_when_the_data_were_refreshed(pages: dict[str, str]) -> None:
    quality = section(pages["index.html"], "quality")
    assert LATEST_RUN in quality and EARLIER_RUN not in quality
    assert "上次失败的构建" not in pages["index.html"] + pages["quality.html"]
    # meta.runs ended the run at 02:05 UTC; the page shows it in the configured zone, with its name.
    assert "数据更新 refreshed 2025-07-03 10:05 Asia/Shanghai" in quality
    by_suite, problems = tables(pages["index.html"], "quality")
    assert ["progress_monthly", "warning", "1", "2", "0"] in by_suite
    assert [row[1] for row in problems[1:]] == [
        "2023 年每乡镇 1 个项目 / one 2023 project per township",
        "废石量与面积相称 / waste rock in proportion to area",
        "每月每乡镇有报送 / every township reports monthly",
    ]
    assert problems[2][4:6] == ["1.6", "≤ 0.5"]


def test_the_quality_page_lists_every_check_of_the_latest_run(pages: dict[str, str], warehouse: Path) -> None:
    latest = query(warehouse, f"select count(*) from quality.check_results where run_id = '{LATEST_RUN}'")[0][
        0
    ]
    [all_checks] = tables(pages["quality.html"], "checks")
    assert len(all_checks) - 1 == latest == 10
    assert [row[3] for row in all_checks[1:]][:3] == ["警告 warned"] * 3
    # A check an incremental build did not run again says whose result it shows.
    carried = {row[1]: row[6] for row in all_checks[1:] if "沿用运行" in row[6]}
    assert sorted(carried) == sorted(check[1] for check in CHECKS if check[7] == CHECKED_RUN)
    assert all(f"result of run {CHECKED_RUN}, carried" in note for note in carried.values())
    # dbt's generated test ids read as sentences, the id kept beside them.
    names = [row[1] for row in all_checks[1:]]
    assert any(
        name.startswith("dim_project.project_code 不为空 / dim_project.project_code is never empty")
        and "not_null_dim_project_project_code" in name
        for name in names
    ), names


def test_sample_data_are_marked_and_real_data_are_not(
    pages: dict[str, str], warehouse: Path, tmp_path: Path
) -> None:
    assert "SAMPLE DATA" not in pages["index.html"]
    copy = tmp_path / "regreen.duckdb"
    shutil.copyfile(warehouse, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("update marts.fct_project_month set is_sample = true where project_code = '2023-01'")
    page = write_report(copy, tmp_path / "report", ZONE).read_text(encoding="utf-8")
    assert "示例数据" in page and "SAMPLE DATA" in page


def test_everything_from_the_data_is_escaped_and_no_personal_data_is_shown(
    warehouse: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "regreen.duckdb"
    shutil.copyfile(warehouse, copy)
    hostile = '<script>alert("x")</script>'
    with duckdb.connect(str(copy)) as con:
        con.execute("update marts.dim_project set project_name = ? where project_code = '2024-06'", [hostile])
        con.execute(
            "update marts.submission_timeliness set rejection_reasons = ? where status = 'rejected'",
            ['<img src=x onerror="alert(1)">'],
        )
        con.execute("update quality.check_results set details = ? where status = 'warned'", ["</td><b>x</b>"])
        con.execute(
            "update marts.dim_township set name_en = ? where township_code = 'baiqi'", ['Baiqi" onclick="x']
        )
        # Were a mart ever to carry the reporter and phone, nothing would show them.
        con.execute("alter table marts.fct_project_month add column reporter varchar default '示例填报人甲'")
        con.execute("alter table marts.fct_project_month add column phone varchar default '13905951234'")
    index = write_report(copy, tmp_path / "report", ZONE)
    for page in (
        index.read_text(encoding="utf-8"),
        (index.parent / "quality.html").read_text(encoding="utf-8"),
    ):
        assert hostile not in page and "<img src=x" not in page and "<b>x</b>" not in page
        assert 'onclick="x' not in page
        assert page.count("<script>") == 1
        assert "示例填报人甲" not in page and "13905951234" not in page
    # Shown as text: escaped (Jinja2 writes a double quote as &#34;).
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in index.read_text(encoding="utf-8")


def test_a_warehouse_with_nothing_reported_yet_still_gives_a_report(warehouse: Path, tmp_path: Path) -> None:
    copy = tmp_path / "regreen.duckdb"
    shutil.copyfile(warehouse, copy)
    with duckdb.connect(str(copy)) as con:
        for table in (
            "fct_project_month",
            "district_progress_monthly",
            "submission_timeliness",
            "funding_by_source",
        ):
            con.execute(f"delete from marts.{table}")
    page = write_report(copy, tmp_path / "report", ZONE).read_text(encoding="utf-8")
    assert "尚无进展填报 / no progress has been reported yet" in page
    assert "尚无应报月份 / no month is due yet" in page


def test_a_missing_or_outdated_warehouse_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WarehouseMissingError) as missing:
        write_report(tmp_path / "regreen.duckdb", tmp_path / "report", ZONE)
    assert str(tmp_path / "regreen.duckdb") in str(missing.value) and "regreen build" in str(missing.value)
    old = tmp_path / "old.duckdb"
    with duckdb.connect(str(old)) as con:
        con.execute("create schema marts; create table marts.dim_project (project_code varchar)")
    with pytest.raises(WarehouseOutdatedError) as outdated:
        write_report(old, tmp_path / "report", ZONE)
    assert "regreen build" in str(outdated.value) and str(old) in str(outdated.value)
    broken = tmp_path / "broken.duckdb"
    broken.write_bytes(b"not a database" * 100)
    with pytest.raises(WarehouseUnreadableError) as unreadable:
        write_report(broken, tmp_path / "report", ZONE)
    assert str(broken) in str(unreadable.value)
    assert not (tmp_path / "report" / "index.html").exists()


def regreen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "regreen.cli", *args], capture_output=True, text=True, check=False
    )


def test_regreen_report_writes_into_the_data_directory(warehouse: Path, tmp_path: Path) -> None:
    shutil.copyfile(warehouse, tmp_path / "regreen.duckdb")
    result = regreen("report", "--data-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "report" / "index.html")
    assert (tmp_path / "report" / "quality.html").exists()
    empty = regreen("report", "--data-dir", str(tmp_path / "nothing-here"))
    assert empty.returncode == 2
    assert "regreen build" in empty.stderr and "Traceback" not in empty.stderr


# --- the data dictionary ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def docs(warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[DataDir, str, str]:
    data_dir = DataDir(tmp_path_factory.mktemp("data"))
    shutil.copyfile(warehouse, data_dir.warehouse)
    before = hashlib.sha256(data_dir.warehouse.read_bytes()).hexdigest()
    written = write_docs(data_dir)
    assert written == data_dir.root / "docs" / "index.html"
    return data_dir, before, written.read_text(encoding="utf-8")


def test_the_data_dictionary_describes_the_published_marts(docs: tuple[DataDir, str, str]) -> None:
    _, _, page = docs
    assert "model.regreen.dim_project" in page and "model.regreen.district_progress_monthly" in page
    # The catalog is read from the warehouse: the columns and types of what was published.
    start = page.rindex('{"metadata"', 0, page.index("https://schemas.getdbt.com/dbt/catalog/"))
    catalog, _ = json.JSONDecoder().raw_decode(page, start)
    funding = catalog["nodes"]["model.regreen.funding_by_source"]
    assert funding["metadata"]["schema"] == "marts"
    assert funding["columns"]["waste_rock_10k_m3_per_mu"]["type"] == "DOUBLE"
    assert '"send_anonymous_usage_stats": false' in page
    # Whatever dbt's page would load from a CDN, the policy lets the browser fetch nothing.
    head = page[: page.index("</head>")]
    assert 'http-equiv="Content-Security-Policy"' in head and "default-src &#x27;none&#x27;" in head


def test_the_data_dictionary_opens_on_the_project_overview(docs: tuple[DataDir, str, str]) -> None:
    _, _, page = docs
    # dbt shows the project's `__overview__` doc block on its front page instead of its own boilerplate.
    assert "doc.regreen.__overview__" in page and "Start with these marts" in page
    overview = (PROJECT_ROOT / "models" / "overview.md").read_text(encoding="utf-8")
    missing = [
        m.stem for m in (PROJECT_ROOT / "models" / "marts").glob("*.sql") if f"`{m.stem}`" not in overview
    ]
    assert missing == []


def test_the_data_dictionary_leaves_the_published_warehouse_alone(docs: tuple[DataDir, str, str]) -> None:
    data_dir, before, _ = docs
    assert hashlib.sha256(data_dir.warehouse.read_bytes()).hexdigest() == before
    assert list(data_dir.work.iterdir()) == []


def test_regreen_docs_without_a_warehouse_says_what_to_do(tmp_path: Path) -> None:
    result = regreen("docs", "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert "regreen build" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "docs").exists()
