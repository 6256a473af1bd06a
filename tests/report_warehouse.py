"""Warehouses for the report, docs and query tests: one with known figures, one built from the sample.

`write_warehouse` writes a published warehouse whose figures are known: the marts, quality.check_results
and meta.runs with the columns the real build publishes (the latter two from the modules that own them),
and rows a real district would produce: the 14 projects of the notice, reported monthly from 2023-06 to
AS_OF with their stages, funding and waste rock, and the anomalies the report must show:

- 2023-05 and 2024-04 finished but were never accepted, though their plan years have ended;
- 2024-06 stalls at about 40 % while removing far more waste rock per mu than any other project;
- 2025-02 progresses too slowly to reach its planned area by the end of 2025;
- 2025-03 has not started;
- 洛阳镇 missed 2024-02, was rejected then late in 2024-05; 东园镇's 2025-05 file was rejected;
- 东园镇 owed nothing between its 2023 project's acceptance and 2025.

`sample_data_dir` is a data directory built the way a user builds one: `regreen sample`, `ingest`, `build`.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

from regreen.nightly import META_DDL
from regreen.quality import CHECK_RESULTS_DDL

AS_OF = date(2025, 6, 1)
FIRST_MONTH = date(2023, 6, 1)
STAGES = ("方案编制", "方案评审", "已下达", "施工中", "已完工", "已验收")
TOWNSHIPS = (
    ("baiqi", "百崎乡", "百崎", "百崎回族乡", "Baiqi Hui Ethnic Township"),
    ("dongyuan", "东园镇", "东园", "东园镇", "Dongyuan Town"),
    ("luoyang", "洛阳镇", "洛阳", "洛阳镇", "Luoyang Town"),
    ("zhangban", "张坂镇", "张坂", "张坂镇", "Zhangban Town"),
)
TOWNSHIP_CODES = {name: code for code, name, *_ in TOWNSHIPS}
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

# Months a township's file did not arrive or was rejected: its projects have no row that month.
MISSING = {("洛阳镇", date(2024, 2, 1))}
REJECTED = {("东园镇", date(2025, 5, 1))}
LATE = {("洛阳镇", date(2024, 5, 1)), ("张坂镇", date(2024, 9, 1)), ("百崎乡", date(2025, 1, 1))}
REJECTION_REASONS = {
    (
        "洛阳镇",
        date(2024, 5, 1),
    ): "第 6 行 累计治理面积(亩)“约120”不是数字 / row 6 area_done_mu '约120' is not a number",
    (
        "东园镇",
        date(2025, 5, 1),
    ): "第 5 行 项目名称“东园镇群青村治理项目”不在方案中 / row 5 project is not in the plan",
}


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


def project_months(course: Course) -> list[dict]:
    """The rows of marts.fct_project_month for one project."""
    rows: list[dict] = []
    previous: dict | None = None
    for month in months(max(FIRST_MONTH, add_months(course.build, -3)), AS_OF):
        if (course.township, month) in MISSING | REJECTED:
            continue
        area = _area(course, month)
        if course.complete is None and course.build <= month:
            # The stalled site keeps hauling rock after its area stopped growing.
            waste = (
                course.waste_per_mu * course.area * course.final_share * len(months(course.build, month)) / 8
            )
        else:
            waste = course.waste_per_mu * area
        invested = course.cost_per_mu * area
        stage = _stage(course, month)
        finished = course.complete is not None and month >= course.complete
        patches = course.patches if finished else int(course.patches * area / course.area)
        row = {
            "project_code": course.code,
            "report_month": month,
            "township_code": TOWNSHIP_CODES[course.township],
            "township_name": course.township,
            "plan_year": int(course.code[:4]),
            "patches_done": patches,
            "area_done_mu": area,
            "forest_mu": (area * Decimal("0.7")).quantize(Decimal("0.1")),
            "farmland_mu": (area * Decimal("0.2")).quantize(Decimal("0.1")),
            "grassland_mu": area
            - (area * Decimal("0.7")).quantize(Decimal("0.1"))
            - (area * Decimal("0.2")).quantize(Decimal("0.1")),
            "stage": stage,
            "stage_rank": STAGES.index(stage) + 1,
            "invested_10k_yuan": invested.quantize(Decimal("0.01")),
            "fund_higher_level": (invested * course.funds[0]).quantize(Decimal("0.01")),
            "fund_district": (invested * course.funds[1]).quantize(Decimal("0.01")),
            "fund_waste_rock": (invested * course.funds[2]).quantize(Decimal("0.01")),
            "fund_social": (invested * course.funds[3]).quantize(Decimal("0.01")),
            "waste_rock_10k_m3": waste.quantize(Decimal("0.01")),
            "supervisor": "福建示例工程监理有限公司" if month >= course.build else None,
            "accepted_on": course.accepted.replace(day=18)
            if course.accepted and month >= course.accepted
            else None,
            "area_increment_mu": area - (previous["area_done_mu"] if previous else Decimal(0)),
            "patches_increment": patches - (previous["patches_done"] if previous else 0),
            "pct_area_planned": float(round(area * 100 / course.area, 2)),
            "version_count": 2 if (course.code, month) == ("2024-04", date(2024, 8, 1)) else 1,
            "file_id": len(rows) + 1,
            "sheet": "月度进展",
            "row_number": 4 + int(course.code[-2:]),
            "is_sample": False,
            "flag_area_decreased": False,
            "flag_patches_decreased": False,
            "flag_stage_backwards": False,
            "flag_area_above_plan": area > course.area,
        }
        rows.append(row)
        previous = row
    return rows


def district_months(fct: list[dict]) -> list[tuple[date, int, Decimal]]:
    """Each month's projects reported so far and district total, a project's latest report carried over
    months it did not report."""
    latest: dict[str, Decimal] = {}
    out = []
    for month in months(FIRST_MONTH, AS_OF):
        for row in fct:
            if row["report_month"] == month:
                latest[row["project_code"]] = row["area_done_mu"]
        out.append((month, len(latest), sum(latest.values(), Decimal(0))))
    return out


def _owes_report(township: str, month: date) -> bool:
    """A township owes a month's report while a project of its has begun its plan year and is not accepted."""
    return any(
        c.township == township
        and int(c.code[:4]) <= month.year
        and (c.accepted is None or month <= c.accepted)
        for c in COURSES
    )


def _timeliness() -> list[list]:
    rows = []
    for code, township, *_ in TOWNSHIPS:
        for month in months(FIRST_MONTH, AS_OF):
            key = (township, month)
            due = add_months(month, 1).replace(day=5)
            expected = _owes_report(township, month)
            accepted = rejected = 0
            if not expected:
                status, submitted = "not_due", None
            elif key in MISSING:
                status, submitted = "missing", None
            elif key in REJECTED:
                status, submitted, rejected = "rejected", datetime(due.year, due.month, 3, 9, 30), 1
            elif key in LATE:
                status, submitted, accepted = "late", datetime(due.year, due.month, 12, 16, 5), 1
                rejected = int(key in REJECTION_REASONS)
            else:
                status, submitted, accepted = "on_time", datetime(due.year, due.month, 3, 10, 15), 1
            active = sum(1 for c in COURSES if c.township == township and int(c.code[:4]) <= month.year)
            rows.append(
                [code, township, month, expected, active if expected else 0, due, submitted,
                 submitted if accepted else None, accepted, rejected, REJECTION_REASONS.get(key), status]
            )  # fmt: skip
    return rows


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


def write_warehouse(path: Path) -> Path:
    """Write the published warehouse at `path` and return it."""
    fct = [row for course in COURSES for row in project_months(course)]
    with duckdb.connect(str(path)) as con:
        con.execute(SCHEMA_DDL + CHECK_RESULTS_DDL + META_DDL)
        for code, name, short, full, english in TOWNSHIPS:
            planned = [c for c in COURSES if c.township == name]
            con.execute(
                "insert into marts.dim_township values (?, ?, ?, ?, ?, ?, ?, ?)",
                [code, name, short, full, english, len(planned), sum(c.patches for c in planned),
                 sum(c.area for c in planned)],
            )  # fmt: skip
        for c in COURSES:
            con.execute(
                "insert into marts.dim_project values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [c.code, int(c.code[:4]), int(c.code[-2:]), c.name,
                 c.name.replace("废弃矿山生态治理项目", ""),
                 TOWNSHIP_CODES[c.township], c.township, "一分区" if "一分区" in c.name else None, c.patches,
                 c.area, c.villages, f"泉台管办〔2023〕36号 {c.code[:4]} 年度计划表第 {int(c.code[-2:])} 行"],
            )  # fmt: skip
        columns = list(fct[0])
        con.executemany(
            f"insert into marts.fct_project_month ({', '.join(columns)}) "
            f"values ({', '.join('?' * len(columns))})",
            [[row[c] for c in columns] for row in fct],
        )
        milestones = {2023: 993, 2024: 2721, 2025: 3126}
        con.executemany(
            "insert into marts.district_progress_monthly values (?, 3000, 3126, ?, ?, ?, ?, ?)",
            [
                [month, milestones[month.year], reported, total, float(round(total * 100 / 3000, 2)),
                 float(round(total * 100 / milestones[month.year], 2))]
                for month, reported, total in district_months(fct)
            ],
        )  # fmt: skip
        con.executemany(
            "insert into marts.submission_timeliness values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            _timeliness(),
        )
        con.execute(DERIVED_MARTS_SQL)
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


SCHEMA_DDL = """
create schema marts;
create table marts.dim_township (
    township_code varchar, township_name varchar, short_name varchar, full_name varchar, name_en varchar,
    projects_planned bigint, patches_planned bigint, area_planned_mu decimal(18, 2)
);
create table marts.dim_project (
    project_code varchar, plan_year integer, seq integer, project_name varchar, normalized_name varchar,
    township_code varchar, township_name varchar, zone varchar, patches_planned integer,
    area_planned_mu decimal(12, 2), village_names varchar, source_ref varchar
);
create table marts.fct_project_month (
    project_code varchar, report_month date, township_code varchar, township_name varchar, plan_year integer,
    patches_done integer, area_done_mu decimal(14, 4), forest_mu decimal(14, 4), farmland_mu decimal(14, 4),
    grassland_mu decimal(14, 4), stage varchar, stage_rank integer, invested_10k_yuan decimal(14, 4),
    fund_higher_level decimal(14, 4), fund_district decimal(14, 4), fund_waste_rock decimal(14, 4),
    fund_social decimal(14, 4), waste_rock_10k_m3 decimal(14, 4), supervisor varchar, accepted_on date,
    area_increment_mu decimal(15, 4), patches_increment integer, pct_area_planned double,
    version_count bigint, file_id integer, sheet varchar, row_number integer, is_sample boolean,
    flag_area_decreased boolean, flag_patches_decreased boolean, flag_stage_backwards boolean,
    flag_area_above_plan boolean
);
create table marts.district_progress_monthly (
    report_month date, task_mu decimal(12, 2), planned_mu decimal(12, 2), planned_milestone_mu decimal(12, 2),
    projects_reported bigint, restored_mu decimal(14, 4), pct_of_task double, pct_of_planned_milestone double
);
create table marts.submission_timeliness (
    township_code varchar, township_name varchar, report_month date, expected boolean, active_projects bigint,
    due_date date, first_submitted_at timestamp, first_accepted_at timestamp, accepted_files bigint,
    rejected_files bigint, rejection_reasons varchar, status varchar
);
"""

# The marts that only aggregate the ones above, computed the way the dbt models do.
_MEASURES = """
    max(latest_report_month) as latest_report_month,
    count(*) as projects_planned,
    count(latest_report_month) as projects_reported,
    count(*) filter (where is_completed) as projects_completed,
    count(*) filter (where is_accepted) as projects_accepted,
    cast(sum(patches_planned) as integer) as patches_planned,
    cast(sum(patches_done) as integer) as patches_done,
    cast(sum(area_planned_mu) as decimal(12, 2)) as area_planned_mu,
    cast(sum(area_done_mu) as decimal(14, 4)) as area_done_mu,
    round(sum(patches_done) * 100 / sum(patches_planned), 2) as pct_patches_planned,
    round(sum(area_done_mu) * 100 / sum(area_planned_mu), 2) as pct_area_planned
"""
DERIVED_MARTS_SQL = f"""
create table marts.plan_vs_actual_project as
with latest as (
    select * from marts.fct_project_month
    qualify row_number() over (partition by project_code order by report_month desc) = 1
)
select
    p.project_code, p.project_name, p.plan_year, p.township_code, p.township_name,
    l.report_month as latest_report_month, l.stage, l.stage_rank,
    coalesce(l.stage_rank >= 5, false) as is_completed, coalesce(l.stage_rank = 6, false) as is_accepted,
    p.patches_planned, p.area_planned_mu, coalesce(l.patches_done, 0) as patches_done,
    coalesce(l.area_done_mu, 0) as area_done_mu,
    round(coalesce(l.patches_done, 0) * 100 / p.patches_planned, 2) as pct_patches_planned,
    round(coalesce(l.area_done_mu, 0) * 100 / p.area_planned_mu, 2) as pct_area_planned
from marts.dim_project as p
left join latest as l on p.project_code = l.project_code;

create table marts.plan_vs_actual_township as
select township_code, township_name, {_MEASURES}
from marts.plan_vs_actual_project group by township_code, township_name;

create table marts.plan_vs_actual_plan_year as
select plan_year, {_MEASURES} from marts.plan_vs_actual_project group by plan_year;

create table marts.plan_vs_actual_district as
select {_MEASURES} from marts.plan_vs_actual_project;

create table marts.funding_by_source as
select
    project_code, township_name, plan_year, report_month, fund_higher_level, fund_district, fund_waste_rock,
    fund_social, invested_10k_yuan, area_done_mu, waste_rock_10k_m3, is_sample,
    fund_higher_level + fund_district + fund_waste_rock + fund_social as fund_total_10k_yuan,
    round(invested_10k_yuan / nullif(area_done_mu, 0), 4) as invested_10k_yuan_per_mu,
    round(waste_rock_10k_m3 / nullif(area_done_mu, 0), 4) as waste_rock_10k_m3_per_mu
from marts.fct_project_month
qualify row_number() over (partition by project_code order by report_month desc) = 1;
"""
