"""Warehouses for the report, docs and query tests: one with known figures, one built from the sample.

`build_warehouse` builds a warehouse whose figures are known the way the product builds one: it writes
the monthly submission files a real district's townships would send (the 14 projects of the notice,
reported monthly from FIRST_MONTH to AS_OF with their stages, funding and waste rock), ingests them and
runs the nightly (dbt build, suites, publish). Only quality.check_results and meta.runs are replaced, by a
known run history. The files carry the anomalies the report must show:

- 2023-05 and 2024-04 finished but were never accepted, though their plan years have ended;
- 2024-06 stalls at about 40 % while removing far more waste rock per mu than any other project;
- 2025-02 progresses too slowly to reach its planned area by the end of 2025;
- 2025-03 has not started;
- 2024-05 restores more than its plan;
- 洛阳镇 missed 2024-02, was rejected then late in 2024-05; 东园镇's 2025-05 file was rejected;
- 东园镇 owed nothing between its 2023 project's acceptance and 2025;
- 张坂镇's 2024-08 was sent twice, the earlier copy landing after the later one.

The tests build it once per session (the `known_warehouse` fixture) and copy it to change it.
`sample_data_dir` is a data directory built the way a user builds one: `regreen sample`, `ingest`, `build`.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

from regreen.nightly import nightly
from regreen.project import BUNDLED_NOTICE, DataDir
from regreen.submissions.columns import COLUMNS
from regreen.submissions.ingest import ingest_inbox
from regreen.submissions.reference import load_reference
from regreen.submissions.sample import CHINA_TZ

AS_OF = date(2025, 6, 1)
FIRST_MONTH = date(2023, 5, 1)  # the notice was issued in May 2023
STAGES = ("方案编制", "方案评审", "已下达", "施工中", "已完工", "已验收")
BUILT_ON = date(2025, 7, 3)  # the day the nightly ingests and builds
LATEST_RUN = "20250703T020000Z-a1b2c3"
EARLIER_RUN = "20250702T020000Z-d4e5f6"
CHECKED_RUN = "20250701T020000Z-0a0b0c"


@dataclass(frozen=True)
class Course:
    code: str
    township: str
    name: str
    villages: str
    patches: int
    area: int
    build: date  # first month of 施工中; 方案编制 three months before
    complete: date | None  # first month of 已完工; None: never finishes
    accepted: date | None
    final_share: Decimal  # final area / planned area
    waste_per_mu: Decimal  # 万立方米 per mu restored
    cost_per_mu: Decimal  # 万元 per mu restored
    funds: tuple[Decimal, Decimal, Decimal, Decimal]  # higher level, district, waste rock, social


def _d(text: str) -> Decimal:
    return Decimal(text)


NORMAL_FUNDS = (_d("0.25"), _d("0.55"), _d("0.20"), _d("0"))
COURSES = (
    Course("2023-01", "百崎乡", "百崎乡莲埭村废弃矿山生态治理项目", "莲埭村", 13, 139, date(2023, 7, 1),
           date(2023, 12, 1), date(2024, 2, 1), _d("1.00"), _d("0.05"), _d("2.40"), NORMAL_FUNDS),
    Course("2023-02", "东园镇", "东园镇阳光、琅山村废弃矿山生态治理项目", "阳光村、琅山村", 12, 80,
           date(2023, 7, 1), date(2023, 11, 1), date(2024, 1, 1), _d("1.00"), _d("0.03"), _d("2.10"),
           NORMAL_FUNDS),
    Course("2023-03", "洛阳镇", "洛阳镇陈坝、陈埭头村废弃矿山生态治理项目", "陈坝村、陈埭头村", 14, 144,
           date(2023, 8, 1), date(2024, 1, 1), date(2024, 3, 1), _d("0.99"), _d("0.06"), _d("2.80"),
           NORMAL_FUNDS),
    Course("2023-04", "张坂镇", "张坂镇崧山村一分区废弃矿山生态治理项目", "崧山村", 12, 280, date(2023, 7, 1),
           date(2023, 12, 1), date(2024, 4, 1), _d("1.00"), _d("0.08"), _d("3.10"), NORMAL_FUNDS),
    Course("2023-05", "张坂镇", "张坂镇苏坑村废弃矿山生态治理项目", "苏坑村", 21, 350, date(2023, 8, 1),
           date(2024, 2, 1), None, _d("1.00"), _d("0.07"), _d("2.90"), NORMAL_FUNDS),
    Course("2024-01", "百崎乡", "百崎莲埭、下埭村废弃矿山生态治理项目", "莲埭村、下埭村", 9, 153,
           date(2024, 3, 1), date(2024, 11, 1), date(2025, 1, 1), _d("1.00"), _d("0.04"), _d("2.20"),
           NORMAL_FUNDS),
    Course("2024-02", "洛阳镇", "洛阳镇上曾、群山村废弃矿山生态治理项目", "上曾村、群山村", 20, 161,
           date(2024, 3, 1), date(2024, 12, 1), date(2025, 2, 1), _d("1.00"), _d("0.05"), _d("2.60"),
           NORMAL_FUNDS),
    Course("2024-03", "洛阳镇", "洛阳镇上田、下曾村废弃矿山生态治理项目", "上田村、下曾村", 9, 139,
           date(2024, 4, 1), date(2025, 1, 1), date(2025, 3, 1), _d("1.00"), _d("0.06"), _d("2.50"),
           NORMAL_FUNDS),
    Course("2024-04", "张坂镇", "张坂镇前见、后见村废弃矿山生态治理项目", "前见村、后见村", 1, 526,
           date(2024, 3, 1), date(2025, 2, 1), None, _d("1.00"), _d("0.09"), _d("3.60"), NORMAL_FUNDS),
    Course("2024-05", "张坂镇", "张坂镇后见、前头村废弃矿山生态治理项目", "后见村、前头村", 2, 165,
           date(2024, 4, 1), date(2024, 12, 1), date(2025, 2, 1), _d("1.02"), _d("0.05"), _d("2.70"),
           NORMAL_FUNDS),
    Course("2024-06", "张坂镇", "张坂镇塘园村废弃矿山生态治理项目", "塘园村", 12, 584, date(2024, 3, 1), None,
           None, _d("0.40"), _d("1.60"), _d("4.00"), (_d("0"), _d("0"), _d("0.65"), _d("0.35"))),
    Course("2025-01", "张坂镇", "张坂镇菘山村二分区废弃矿山生态治理项目", "崧山村", 28, 266, date(2025, 2, 1),
           date(2025, 11, 1), None, _d("1.00"), _d("0.06"), _d("2.90"), NORMAL_FUNDS),
    Course("2025-02", "张坂镇", "张坂玉田、玉园、玉塘村废弃矿山生态治理项目", "玉田村、玉园村、玉塘村", 19,
           107,
           date(2025, 3, 1), date(2026, 9, 1), None, _d("1.00"), _d("0.05"), _d("2.30"), NORMAL_FUNDS),
    Course("2025-03", "东园镇", "东园镇群青、锦丰村废弃矿山生态治理项目", "群青村、锦丰村", 10, 32,
           date(2025, 9, 1),
           date(2025, 12, 1), None, _d("1.00"), _d("0.04"), _d("2.00"), NORMAL_FUNDS),
)  # fmt: skip

# Months a township's file did not arrive, was rejected, or came late (after a rejected first file for
# those in REJECTED_FIRST); the project and month restated by a second file.
MISSING = {("洛阳镇", date(2024, 2, 1))}
REJECTED = {("东园镇", date(2025, 5, 1))}
LATE = {("洛阳镇", date(2024, 5, 1)), ("张坂镇", date(2024, 9, 1)), ("百崎乡", date(2025, 1, 1))}
REJECTED_FIRST = {("洛阳镇", date(2024, 5, 1))}
RESTATED = ("2024-04", date(2024, 8, 1))

CHECKS = (
    # suite, check, severity, status, observed, expected, details, carried_from_run (the plan checks were
    # last run by CHECKED_RUN: an incremental build rebuilt nothing they read)
    ("dbt", "not_null_dim_project_project_code", "error", "passed", "0", "0", None, None),
    ("dbt", "unique_dim_project_project_code", "error", "passed", "0", "0", None, None),
    ("dbt", "accepted_values_fct_project_month_stage", "error", "passed", "0", "0", None, None),
    ("plan_figures", "项目数 14 / 14 projects", "error", "passed", "14", "14", None, CHECKED_RUN),
    ("plan_figures", "图斑合计 182 / 182 patches", "error", "passed", "182", "182", None, CHECKED_RUN),
    ("plan_figures", "面积合计 3126 亩 / 3126 mu", "error", "passed", "3126", "3126", None, CHECKED_RUN),
    ("plan_declared_totals", "2023 年每乡镇 1 个项目 / one 2023 project per township", "warning", "warned",
     "2", "1", "张坂镇 2023 年有 2 个项目，文字写“四个乡镇各完成 1 个” / 张坂镇 has two 2023 projects", CHECKED_RUN),
    ("progress_monthly", "累计面积不减少 / area never decreases", "warning", "passed", None, "0",
     "检查 310 行，0 行不符", None),
    ("progress_monthly", "废石量与面积相称 / waste rock in proportion to area", "warning", "warned", "1.6",
     "≤ 0.5", "project_code=2024-06: waste_rock_10k_m3_per_mu=1.6", None),
    ("progress_monthly", "每月每乡镇有报送 / every township reports monthly", "warning", "warned", "1", "0",
     "洛阳镇 2024-05 <缺报>", None),
)  # fmt: skip


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def months(first: date, last: date) -> list[date]:
    out = []
    while first <= last:
        out.append(first)
        first = add_months(first, 1)
    return out


def _stage(course: Course, month: date) -> str:
    if month < add_months(course.build, -2):
        return STAGES[0]
    if month < add_months(course.build, -1):
        return STAGES[1]
    if month < course.build:
        return STAGES[2]
    if course.complete is None or month < course.complete:
        return STAGES[3]
    if course.accepted is not None and month >= course.accepted:
        return STAGES[5]
    return STAGES[4]


def _area(course: Course, month: date) -> Decimal:
    """Cumulative restored mu: linear from the first building month to completion."""
    final = (course.area * course.final_share).quantize(Decimal("0.1"))
    if month < course.build:
        return Decimal(0)
    if course.complete is None:
        # Stalls: reaches its final share after eight months and stays there.
        done = min(len(months(course.build, month)), 8)
        return (final * done / 8).quantize(Decimal("0.1"))
    if month >= course.complete:
        return final
    total = len(months(course.build, course.complete))
    return (final * len(months(course.build, month)) / total).quantize(Decimal("0.1"))


def project_months(course: Course) -> list[dict[str, object]]:
    """The rows a township's clerk writes for one project, month by month, keyed by submission column:
    from three months before its works (or FIRST_MONTH) to its acceptance (or AS_OF)."""
    last = add_months(course.accepted, 0) if course.accepted else AS_OF
    rows: list[dict[str, object]] = []
    for month in months(max(FIRST_MONTH, add_months(course.build, -3)), min(last, AS_OF)):
        if (course.township, month) in MISSING:
            continue
        area = _area(course, month)
        if course.complete is None and course.build <= month:
            # The stalled site keeps hauling rock after its area stopped growing.
            waste = (
                course.waste_per_mu * course.area * course.final_share * len(months(course.build, month)) / 8
            )
        else:
            waste = course.waste_per_mu * area
        invested = (course.cost_per_mu * area).quantize(Decimal("0.01"))
        funds = [(invested * share).quantize(Decimal("0.01")) for share in course.funds]
        funds[1] += invested - sum(funds)  # the district's share takes the rounding
        stage = _stage(course, month)
        finished = course.complete is not None and month >= course.complete
        forest = (area * Decimal("0.7")).quantize(Decimal("0.1"))
        farmland = (area * Decimal("0.2")).quantize(Decimal("0.1"))
        rows.append(
            {
                "report_month": f"{month:%Y-%m}",
                "township": course.township,
                "project_name": course.name,
                "patches_done": course.patches if finished else int(course.patches * area / course.area),
                "area_done_mu": area,
                "forest_mu": forest,
                "farmland_mu": farmland,
                "grassland_mu": area - forest - farmland,
                "stage": stage,
                "invested_10k_yuan": invested,
                "fund_higher_level": funds[0],
                "fund_district": funds[1],
                "fund_waste_rock": funds[2],
                "fund_social": funds[3],
                "waste_rock_10k_m3": waste.quantize(Decimal("0.01")),
                "supervisor": "福建示例工程监理有限公司" if month >= course.build else None,
                "accepted_on": f"{course.accepted:%Y-%m}-18" if stage == STAGES[5] else None,
                "reporter": "测试填报人",
                "phone": "000-0000-0000",
            }
        )
    return rows


def _arrival(township: str, month: date, late: bool) -> datetime:
    due = add_months(month, 1)
    return datetime(due.year, due.month, 12, 16, 5) if late else datetime(due.year, due.month, 3, 10, 15)


def _write_file(inbox: Path, name: str, rows: list[dict[str, object]], arrived: datetime) -> None:
    path = inbox / name
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([c.header for c in COLUMNS])
        writer.writerows(["" if row.get(c.key) is None else row[c.key] for c in COLUMNS] for row in rows)
    stamp = int(arrived.replace(tzinfo=CHINA_TZ).timestamp() * 1e9)
    os.utime(path, ns=(stamp, stamp))


def write_submissions(inbox: Path) -> None:
    """Each township's monthly files as its clerk sends them, arriving when the scenario says: on the 3rd
    of the next month, on the 12th when late; a rejected file (a figure written as text, a project not in
    the plan) on the 3rd, before the late correction that replaces it if there is one."""
    by_month: dict[tuple[str, date], list[dict[str, object]]] = {}
    for course in COURSES:
        for row in project_months(course):
            key = (course.township, date.fromisoformat(f"{row['report_month']}-01"))
            by_month.setdefault(key, []).append(row)
    for (township, month), rows in sorted(by_month.items()):
        name = f"{township}-{month:%Y-%m}.csv"
        if (township, month) in REJECTED_FIRST:
            bad = [rows[0] | {"area_done_mu": "约120"}, *rows[1:]]
            _write_file(
                inbox, f"{township}-{month:%Y-%m}-初报.csv", bad, _arrival(township, month, late=False)
            )
        _write_file(inbox, name, rows, _arrival(township, month, (township, month) in LATE))
    for township, month in REJECTED:
        # A project the plan does not have, in a month the township had nothing else to report.
        [course] = [c for c in COURSES if c.code == "2025-03"]
        row = project_months(course)[0] | {
            "report_month": f"{month:%Y-%m}",
            "project_name": "东园镇群青村治理项目",
        }
        _write_file(inbox, f"{township}-{month:%Y-%m}.csv", [row], _arrival(township, month, late=False))


def _restatement(inbox: Path) -> None:
    """张坂镇's August 2024 sent a second time from another computer: written on 2 September, before the
    file of the 3rd, but found on a share and landed by a later ingest. The file of the 3rd, sent last,
    stays current."""
    [course] = [c for c in COURSES if c.code == RESTATED[0]]
    [row] = [r for r in project_months(course) if r["report_month"] == f"{RESTATED[1]:%Y-%m}"]
    others = [
        r
        for c in COURSES
        if c.township == course.township and c.code != course.code
        for r in project_months(c)
        if r["report_month"] == row["report_month"]
    ]
    early = row | {"area_done_mu": row["area_done_mu"] - 1, "grassland_mu": row["grassland_mu"] - 1}
    _write_file(inbox, "张坂镇-2024-08-补发.csv", [early, *others], datetime(2024, 9, 2, 9, 0))


def build_warehouse(root: Path) -> Path:
    """A data directory at `root` whose warehouse `regreen` built from the scenario's submission files
    (ingested, then one nightly: dbt build, suites, publish), its run records replaced by RUNS and CHECKS
    so that the report shows a known history. Returns the published warehouse."""
    data_dir = DataDir(root).ensure()
    reference = load_reference(BUNDLED_NOTICE)
    write_submissions(data_dir.inbox)
    ingest_inbox(data_dir, reference, BUILT_ON)
    _restatement(data_dir.inbox)
    run = nightly(BUNDLED_NOTICE, data_dir, today=BUILT_ON, full=True)
    assert run.exit_code == 0, run.render()
    with duckdb.connect(str(data_dir.warehouse)) as con:
        con.execute("delete from quality.check_results")
        con.execute("delete from meta.runs")
        con.executemany(
            "insert into quality.check_results (run_id, suite, check_name, severity, status, observed, "
            "expected, details, carried_from_run, checked_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [[LATEST_RUN, *check, datetime(2025, 7, 3, 10, 4)] for check in CHECKS]
            + [[EARLIER_RUN, "plan_figures", "面积合计 3126 亩 / 3126 mu", "error", "failed", "3100", "3126",
                "上次失败的构建 / the earlier failed build", None, datetime(2025, 7, 2, 10, 4)]],
        )  # fmt: skip
        con.executemany(
            "insert into meta.runs (run_id, started_at, ended_at, status, published, files_received, "
            "files_accepted, files_rejected, files_duplicate, rows_loaded, checks_passed, checks_warned, "
            "checks_failed, error_message) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [EARLIER_RUN, datetime(2025, 7, 2, 2, 0), datetime(2025, 7, 2, 2, 5), "checks_failed", False,
                 4, 3, 1, 0, 300, 9, 0, 1, "1 项错误级检查未通过 / 1 error-level check failed"],
                [LATEST_RUN, datetime(2025, 7, 3, 2, 0), datetime(2025, 7, 3, 2, 5), "published", True, 4, 4,
                 0, 0, 310, 7, 3, 0, None],
            ],
        )  # fmt: skip
    return data_dir.warehouse


def write_warehouse(path: Path, built: Path) -> Path:
    """A copy of the `built` warehouse (see build_warehouse) at `path`, for a test that changes it."""
    shutil.copyfile(built, path)
    return path


def sample_data_dir(base: Path) -> Path:
    """`<base>/sample`: sample submissions ingested and built by the CLI, as a user would (built once per
    `base`, so test modules given the same session folder share one build)."""
    data_dir = base / "sample"
    if (data_dir / "regreen.duckdb").exists():
        return data_dir
    for step in (["sample", "--seed", "11"], ["ingest"], ["build"]):
        result = subprocess.run(
            [sys.executable, "-m", "regreen.cli", *step, "--data-dir", str(data_dir)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"regreen {step[0]}: {result.stdout}\n{result.stderr}"
    return data_dir
