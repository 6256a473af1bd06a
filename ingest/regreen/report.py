"""The progress report and the data dictionary, written from the published warehouse.

`write_report` reads the marts and the latest run's checks from `<data-dir>/regreen.duckdb` (read-only)
and writes `<data-dir>/report/index.html` and `quality.html`: self-contained pages (CSS, SVG charts and
JS inline) that load nothing from anywhere, so they open the same on an office PC without internet.
Every value taken from the data is HTML-escaped; no personal data is read.

`write_docs` runs `dbt docs generate --static` on a copy of the published warehouse (dbt opens its
database read-write, and readers hold the published file open) and writes `<data-dir>/docs/index.html`.
"""

from __future__ import annotations

import math
import secrets
import shutil
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any

import duckdb

from regreen import __version__
from regreen.dbt import dbt_docs_generate
from regreen.errors import RegreenError
from regreen.log import logger
from regreen.project import DataDir

ASSETS = Path(__file__).resolve().parent / "report_assets"
REPORT_FOLDER = "report"
DOCS_FOLDER = "docs"

# Nothing on these pages may be fetched from anywhere: inline styles and scripts, data: images only.
# dbt's page builds its views with `new Function`, hence unsafe-eval there, and asks for a placeholder
# image as a local file before its script fills in the logo, hence file: (never a network request).
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
DOCS_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline' 'unsafe-eval'; "
    "img-src data: blob: file:; font-src data:"
)

# A project whose waste rock per mu restored is this many times the district's median is highlighted.
WASTE_ROCK_ALARM_RATIO = 3

STATUS_LABELS = {
    "on_time": ("✓", "按时", "on time"),
    "late": ("迟", "逾期", "late"),
    "missing": ("缺", "缺报", "missing"),
    "rejected": ("退", "退回", "rejected"),
}
CHECK_STATUS_LABELS = {
    "failed": ("失败", "failed"),
    "warned": ("警告", "warned"),
    "passed": ("通过", "passed"),
}
FLAG_LABELS = {
    "flag_area_decreased": ("累计面积减少", "area decreased"),
    "flag_patches_decreased": ("累计图斑减少", "patches decreased"),
    "flag_stage_backwards": ("阶段倒退", "stage went backwards"),
    "flag_area_above_plan": ("面积超计划", "area above plan"),
}
COMPLETED_RANK = 5  # 已完工
ACCEPTED_RANK = 6  # 已验收
STAGE_COUNT = 6


class WarehouseMissingError(RegreenError):
    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(
            f"找不到已发布的仓库 {path}，请先运行 regreen build",
            f"there is no published warehouse at {path}; run `regreen build` first",
        )


class WarehouseOutdatedError(RegreenError):
    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(
            f"仓库 {path} 缺少报告所需的表或列（{problem}），请用当前版本重新运行 regreen build",
            f"warehouse {path} lacks a table or column the report needs ({problem}); "
            "run `regreen build` with this version again",
        )


class WarehouseUnreadableError(RegreenError):
    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(
            f"无法读取仓库 {path}（{problem}）：它不是完整的 DuckDB 文件，或正被其他程序以写方式打开",
            f"cannot read warehouse {path} ({problem}): it is not a whole DuckDB file, or another program "
            "holds it open for writing",
        )


class DocsGenerateError(RegreenError):
    def __init__(self, path: Path, output_tail: Sequence[str]) -> None:
        self.path = path
        self.output_tail = tuple(output_tail)
        said = " | ".join(line.strip() for line in output_tail if line.strip()) or "无输出 / no output"
        super().__init__(
            f"无法为仓库 {path} 生成数据字典（dbt docs generate 失败）：{said}",
            f"could not write the data dictionary of {path} (dbt docs generate failed): {said}",
        )


# --- what the report shows ----------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectStatus:
    """One plan project as of its latest report."""

    code: str
    name: str
    township: str
    plan_year: int
    patches_planned: int
    area_planned: Decimal
    patches_done: int | None  # None: never reported
    area_done: Decimal | None
    stage: str | None
    stage_rank: int | None
    latest_month: date | None
    first_progress: date | None  # first month with restored area
    last_progress: date | None  # last month its area, patches or stage went forward
    flags: tuple[tuple[str, tuple[date, ...]], ...]  # (flag column, months it was raised)

    @property
    def accepted(self) -> bool:
        return self.stage_rank == ACCEPTED_RANK

    @property
    def completed(self) -> bool:
        return (self.stage_rank or 0) >= COMPLETED_RANK

    @property
    def pct_planned(self) -> Decimal:
        return (self.area_done or Decimal(0)) * 100 / self.area_planned


@dataclass(frozen=True)
class Risk:
    project: ProjectStatus
    reason: str  # 'pace' | 'not_started' | 'not_accepted'
    pace: Decimal | None = None  # mu a month since its first progress
    needed: Decimal | None = None  # mu a month it needs from now to finish by the end of its plan year
    projected: Decimal | None = None  # mu at the end of its plan year at its pace


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    refreshed_at: datetime  # when the published data were built
    status: str | None  # from meta.runs, when the nightly recorded the run
    files: tuple[int, int, int, int] | None  # received, accepted, rejected, duplicate
    rows_loaded: int | None


@dataclass(frozen=True)
class ReportData:
    as_of: date | None  # the latest report month in the warehouse
    burnup: list[tuple[date, Decimal]]
    task_mu: Decimal
    planned_mu: Decimal
    milestones: list[tuple[int, Decimal]]  # (plan year, cumulative planned mu by its end)
    district: dict[str, Any]
    by_year: list[dict[str, Any]]
    by_township: list[dict[str, Any]]
    projects: list[ProjectStatus]
    risks: list[Risk]
    townships: list[tuple[str, str]]  # (township_name, name_en) in the plan's order
    submissions: list[dict[str, Any]]
    funding: list[dict[str, Any]]
    waste_rock_median: Decimal | None
    run: RunInfo | None
    checks: list[dict[str, Any]]
    sample_data: bool  # some progress rows come from `regreen sample`


def months_between(first: date, last: date) -> int:
    return (last.year - first.year) * 12 + last.month - first.month


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def projects_at_risk(projects: Iterable[ProjectStatus], as_of: date) -> list[Risk]:
    """Projects that will not, or did not, finish their plan year's work, as of the month `as_of`.

    - not_accepted: its plan year has ended and it has no accepted completion;
    - not_started: its plan year has begun and no area has been restored;
    - pace: restoring at its pace since its first progress, it would not reach its planned area by
      December of its plan year.
    """
    risks = []
    for project in projects:
        year_end = date(project.plan_year, 12, 1)
        if project.accepted:
            continue
        if as_of > year_end:
            risks.append(Risk(project, "not_accepted"))
        elif project.completed or as_of.year < project.plan_year:
            continue
        elif project.first_progress is None:
            risks.append(Risk(project, "not_started"))
        else:
            done = project.area_done or Decimal(0)
            pace = done / (months_between(project.first_progress, as_of) + 1)
            remaining = months_between(as_of, year_end)
            projected = done + pace * remaining
            if projected < project.area_planned:
                needed = (project.area_planned - done) / remaining if remaining else None
                risks.append(Risk(project, "pace", pace, needed, projected))
    return risks


def load_report_data(con: duckdb.DuckDBPyConnection) -> ReportData:
    """Everything the report shows, from the marts and the latest run's checks."""
    burnup = [(row["report_month"], row["restored_mu"]) for row in _rows(con, BURNUP_SQL)]
    targets = _rows(con, TARGETS_SQL)
    projects = [_project_status(row) for row in _rows(con, PROJECTS_SQL)]
    as_of = burnup[-1][0] if burnup else None
    funding = _rows(con, FUNDING_SQL)
    ratios = [
        row["waste_rock_10k_m3_per_mu"] for row in funding if row["waste_rock_10k_m3_per_mu"] is not None
    ]
    run, checks = _latest_run(con)
    return ReportData(
        as_of=as_of,
        burnup=burnup,
        task_mu=targets[0]["task_mu"] if targets else Decimal(0),
        planned_mu=targets[0]["planned_mu"] if targets else Decimal(0),
        milestones=[(row["plan_year"], row["cumulative_mu"]) for row in _rows(con, MILESTONES_SQL)],
        district=(_rows(con, DISTRICT_SQL) or [{}])[0],
        by_year=_rows(con, BY_YEAR_SQL),
        by_township=_rows(con, BY_TOWNSHIP_SQL),
        projects=projects,
        risks=projects_at_risk(projects, as_of) if as_of else [],
        townships=[(row["township_name"], row["name_en"]) for row in _rows(con, TOWNSHIPS_SQL)],
        submissions=_rows(con, SUBMISSIONS_SQL),
        funding=funding,
        waste_rock_median=Decimal(str(statistics.median(ratios))) if ratios else None,
        run=run,
        checks=checks,
        sample_data=con.execute(SAMPLE_SQL).fetchone()[0],
    )


BURNUP_SQL = """
select report_month, restored_mu from marts.district_progress_monthly order by report_month
"""
TARGETS_SQL = """
select task_mu, planned_mu from marts.district_progress_monthly order by report_month desc limit 1
"""
MILESTONES_SQL = """
select plan_year, sum(sum(area_planned_mu)) over (order by plan_year) as cumulative_mu
from marts.dim_project group by plan_year order by plan_year
"""
_TOTALS = (
    "projects_planned",
    "projects_completed",
    "projects_accepted",
    "patches_planned",
    "patches_done",
    "area_planned_mu",
    "area_done_mu",
    "pct_area_planned",
)
DISTRICT_SQL = f"select {', '.join(_TOTALS)} from marts.plan_vs_actual_district"
BY_YEAR_SQL = f"select plan_year, {', '.join(_TOTALS)} from marts.plan_vs_actual_plan_year order by plan_year"
BY_TOWNSHIP_SQL = f"""
select a.township_name, t.name_en, {", ".join(f"a.{column}" for column in _TOTALS)}
from marts.plan_vs_actual_township as a
join marts.dim_township as t on a.township_code = t.township_code
order by t.township_code
"""
SAMPLE_SQL = "select coalesce(bool_or(is_sample), false) from marts.fct_project_month"
TOWNSHIPS_SQL = "select township_name, name_en from marts.dim_township order by township_code"
_FLAG_MONTHS = ",\n        ".join(
    f"list(report_month order by report_month) filter (where {flag}) as {flag}" for flag in FLAG_LABELS
)
PROJECTS_SQL = f"""
with months as (
    select
        *,
        area_done_mu > coalesce(lag(area_done_mu) over project_months, 0)
        or patches_done > coalesce(lag(patches_done) over project_months, 0)
        or stage_rank > lag(stage_rank) over project_months as went_forward
    from marts.fct_project_month
    window project_months as (partition by project_code order by report_month)
),
latest as (
    select * from months
    qualify row_number() over (partition by project_code order by report_month desc) = 1
),
history as (
    select
        project_code,
        min(report_month) filter (where area_done_mu > 0) as first_progress,
        max(report_month) filter (where went_forward) as last_progress,
        {_FLAG_MONTHS}
    from months
    group by project_code
)
select
    p.project_code, p.project_name, p.township_name, p.plan_year, p.patches_planned, p.area_planned_mu,
    l.patches_done, l.area_done_mu, l.stage, l.stage_rank, l.report_month as latest_month,
    h.first_progress, h.last_progress, {", ".join(f"h.{flag}" for flag in FLAG_LABELS)}
from marts.dim_project as p
left join latest as l on p.project_code = l.project_code
left join history as h on p.project_code = h.project_code
order by p.project_code
"""
SUBMISSIONS_SQL = """
select township_name, report_month, expected, status, due_date, first_submitted_at, rejection_reasons
from marts.submission_timeliness
order by report_month, township_name
"""
FUNDING_SQL = """
select
    f.project_code, p.project_name, f.fund_higher_level, f.fund_district, f.fund_waste_rock, f.fund_social,
    f.invested_10k_yuan, f.area_done_mu, f.invested_10k_yuan_per_mu, f.waste_rock_10k_m3,
    f.waste_rock_10k_m3_per_mu
from marts.funding_by_source as f
join marts.dim_project as p on f.project_code = p.project_code
order by f.project_code
"""


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    cursor = con.execute(sql, list(params))
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _project_status(row: dict[str, Any]) -> ProjectStatus:
    return ProjectStatus(
        code=row["project_code"],
        name=row["project_name"],
        township=row["township_name"],
        plan_year=row["plan_year"],
        patches_planned=row["patches_planned"],
        area_planned=Decimal(row["area_planned_mu"]),
        patches_done=row["patches_done"],
        area_done=row["area_done_mu"],
        stage=row["stage"],
        stage_rank=row["stage_rank"],
        latest_month=row["latest_month"],
        first_progress=row["first_progress"],
        last_progress=row["last_progress"],
        flags=tuple((flag, tuple(row[flag])) for flag in FLAG_LABELS if row[flag]),
    )


def _latest_run(con: duckdb.DuckDBPyConnection) -> tuple[RunInfo | None, list[dict[str, Any]]]:
    """The checks of the build that produced this warehouse, and what the nightly recorded of it."""
    latest = con.execute(
        "select run_id, max(checked_at) from quality.check_results group by run_id order by 2 desc limit 1"
    ).fetchone()
    if latest is None:
        return None, []
    # The latest results are those of the build that produced this file: the nightly carries earlier
    # runs' results into each warehouse it publishes, and a rollback publishes a file unchanged.
    run_id, checked_at = latest
    checks = _rows(
        con,
        """
        select * -- carried_from_run is absent from warehouses built before incremental builds
        from quality.check_results
        where run_id = ?
        order by case status when 'failed' then 0 when 'warned' then 1 else 2 end, suite, check_name
        """,
        [run_id],
    )
    # `regreen build` alone records no meta.runs; the nightly does.
    has_runs = con.execute(
        "select count(*) from duckdb_tables() where schema_name = 'meta' and table_name = 'runs'"
    ).fetchone()[0]
    recorded = (
        _rows(
            con,
            "select ended_at, status, files_received, files_accepted, files_rejected, files_duplicate, "
            "rows_loaded from meta.runs where run_id = ?",
            [run_id],
        )
        if has_runs
        else []
    )
    if not recorded:
        return RunInfo(run_id, checked_at, None, None, None), checks
    run = recorded[0]
    files = (run["files_received"], run["files_accepted"], run["files_rejected"], run["files_duplicate"])
    # meta.runs is in UTC; checked_at, like everything else shown, is the machine's local time.
    ended = run["ended_at"].replace(tzinfo=UTC).astimezone().replace(tzinfo=None) if run["ended_at"] else None
    return RunInfo(run_id, ended or checked_at, run["status"], files, run["rows_loaded"]), checks


# --- writing ----------------------------------------------------------------------------------


def report_dir(data_dir: DataDir) -> Path:
    return data_dir.root / REPORT_FOLDER


def write_report(warehouse: Path, out_dir: Path) -> Path:
    """Write index.html (the progress report) and quality.html into `out_dir`; returns index.html."""
    if not warehouse.exists():
        raise WarehouseMissingError(warehouse)
    try:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            data = load_report_data(con)
    except (duckdb.CatalogException, duckdb.BinderException) as exc:
        raise WarehouseOutdatedError(warehouse, str(exc).splitlines()[0]) from exc
    except duckdb.Error as exc:
        raise WarehouseUnreadableError(warehouse, str(exc).splitlines()[0]) from exc
    generated_at = datetime.now().replace(microsecond=0)
    out_dir.mkdir(parents=True, exist_ok=True)
    index = out_dir / "index.html"
    _write_text(index, render_report(data, generated_at))
    _write_text(out_dir / "quality.html", render_quality(data, generated_at))
    logger.info("wrote %s and quality.html", index)
    return index


def write_docs(data_dir: DataDir) -> Path:
    """Write the data dictionary of the published warehouse to `<data-dir>/docs/index.html`."""
    warehouse = data_dir.warehouse
    if not warehouse.exists():
        raise WarehouseMissingError(warehouse)
    work = data_dir.ensure().work / f"docs-{secrets.token_hex(4)}"
    work.mkdir()
    try:
        copy = work / warehouse.name
        shutil.copyfile(warehouse, copy)
        docs = dbt_docs_generate(copy, work)
        if docs.static_page is None:
            raise DocsGenerateError(warehouse, docs.output_tail)
        page = offline_page(docs.static_page.read_text(encoding="utf-8"), DOCS_CSP)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = data_dir.root / DOCS_FOLDER / "index.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_text(out, page)
    logger.info("wrote %s", out)
    return out


def offline_page(page: str, csp: str) -> str:
    """`page` with a Content-Security-Policy that lets the browser fetch nothing from anywhere.

    dbt's page would load a tracker from a CDN if the manifest allowed usage statistics (regreen turns
    them off); the policy makes sure no such request can leave the machine whatever dbt does.
    """
    meta = f'<meta http-equiv="Content-Security-Policy" content="{escape(csp)}">'
    head = page.index("<head>") + len("<head>")
    return page[:head] + meta + page[head:]


def _write_text(path: Path, text: str) -> None:
    """Write beside `path`, then rename: a browser or web server never sees half a page."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


# --- formatting -------------------------------------------------------------------------------


def _e(value: object) -> str:
    return escape("" if value is None else str(value))


def _mu(value: Decimal | float | None, places: int = 1) -> str:
    return "—" if value is None else f"{value:,.{places}f}"


def _int(value: int | Decimal | None) -> str:
    return "—" if value is None else f"{int(value):,}"


def _pct(value: Decimal | float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def _month(value: date | None) -> str:
    return "—" if value is None else f"{value:%Y-%m}"


def _heading(level: int, zh: str, en: str, anchor: str | None = None) -> str:
    ident = f' id="{anchor}"' if anchor else ""
    return f'<h{level}{ident}>{zh}<span class="en">{en}</span></h{level}>'


def _th(zh: str, en: str, numeric: bool = False) -> str:
    cls = ' class="num"' if numeric else ""
    return f'<th scope="col"{cls}>{zh}<span class="en">{en}</span></th>'


def _td(content: str, cls: str = "", sort: object = None) -> str:
    attrs = f' class="{cls}"' if cls else ""
    if sort is not None:
        attrs += f' data-sort="{_e(sort)}"'
    return f"<td{attrs}>{content}</td>"


def _table(headers: Sequence[str], rows: Sequence[str], sortable: bool = False) -> str:
    attr = ' class="sortable"' if sortable else ""
    return (
        f'<div class="scroll"><table{attr}><thead><tr>{"".join(headers)}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _bar(pct: Decimal | float) -> str:
    width = max(0.0, min(float(pct), 100.0))
    return f'<div class="bar" role="presentation"><span style="width:{width:.1f}%"></span></div>'


def _stage_chip(project: ProjectStatus) -> str:
    if project.stage is None:
        return '<span class="chip">未填报 not reported</span>'
    cls = "ok" if project.accepted else ("warn" if project.completed else "")
    return f'<span class="chip {cls}">{project.stage_rank}/{STAGE_COUNT} {_e(project.stage)}</span>'


# --- the burn-up chart -------------------------------------------------------------------------


def burnup_svg(
    points: Sequence[tuple[date, Decimal]],
    task_mu: Decimal,
    planned_mu: Decimal,
    milestones: Sequence[tuple[int, Decimal]],
) -> str:
    """The district's cumulative restored mu by month against the task, the plan and its milestones."""
    width, height = 760, 380
    left, right, top, bottom = 62, 150, 20, 64
    first = points[0][0]
    last = max(points[-1][0], *(date(year, 12, 1) for year, _ in milestones))
    span = max(months_between(first, last), 1)
    peak = max([float(task_mu), float(planned_mu), *(float(v) for _, v in points)])
    y_max = math.ceil(peak * 1.08 / 500) * 500

    def x(month: date) -> float:
        return left + (width - left - right) * months_between(first, month) / span

    def y(value: Decimal | float) -> float:
        return top + (height - top - bottom) * (1 - float(value) / y_max)

    parts = []
    for value in range(0, y_max + 1, 500):
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            f'stroke="#e3e8e5"/><text x="{left - 6}" y="{y(value) + 4:.1f}" text-anchor="end" '
            f'font-size="12" fill="#5d6b63">{value:,}</text>'
        )
    for offset in range(span + 1):
        month = add_months(first, offset)
        tick = 6 if month.month == 1 else 3
        parts.append(
            f'<line x1="{x(month):.1f}" x2="{x(month):.1f}" y1="{height - bottom}" '
            f'y2="{height - bottom + tick}" stroke="#9aa7a0"/>'
        )
        # January and July are labelled, and the first month when no label is near it.
        if month.month in (1, 7) or (offset == 0 and (7 - month.month) % 6 >= 3):
            parts.append(
                f'<text x="{x(month):.1f}" y="{height - bottom + 20}" text-anchor="middle" font-size="12" '
                f'fill="#5d6b63">{month:%Y-%m}</text>'
            )
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{height - bottom}" y2="{height - bottom}" '
        'stroke="#5d6b63"/>'
    )
    for value, label, color, dy in (
        (planned_mu, f"计划 {_mu(planned_mu, 0)} 亩 planned", "#2b6cb0", -6),
        (task_mu, f"任务 {_mu(task_mu, 0)} 亩 task", "#b83232", 15),
    ):
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            f'stroke="{color}" stroke-dasharray="6 4" stroke-width="1.5"/>'
            f'<text x="{width - right + 6}" y="{y(value) + dy:.1f}" '
            f'font-size="12" fill="{color}">{label}</text>'
        )
    plan_path = [(first, Decimal(0)), *((date(year, 12, 1), value) for year, value in milestones)]
    parts.append(
        '<polyline fill="none" stroke="#2b6cb0" stroke-width="1.5" stroke-dasharray="2 3" points="'
        + " ".join(f"{x(m):.1f},{y(v):.1f}" for m, v in plan_path)
        + '"/>'
    )
    for year, value in milestones:
        mx, my = x(date(year, 12, 1)), y(value)
        parts.append(
            f'<path d="M{mx:.1f},{my - 6:.1f} l6,6 l-6,6 l-6,-6 z" fill="#2b6cb0" class="milestone" '
            f'data-year="{year}" data-mu="{_e(value)}"><title>{year} 年底计划累计 {_mu(value, 0)} 亩 / '
            f"planned by end of {year}</title></path>"
            f'<text x="{mx - 8:.1f}" y="{my - 10:.1f}" text-anchor="end" font-size="12" fill="#2b6cb0">'
            f"{year} 年底 {_mu(value, 0)}</text>"
        )
    line = " ".join(f"{x(m):.1f},{y(v):.1f}" for m, v in points)
    base = height - bottom
    parts.append(
        f'<polygon fill="#d9efe1" opacity="0.8" '
        f'points="{x(first):.1f},{base} {line} {x(points[-1][0]):.1f},{base}"/>'
        f'<polyline fill="none" stroke="#2e7d4f" stroke-width="2.5" points="{line}"/>'
    )
    for month, value in points:
        parts.append(
            f'<circle cx="{x(month):.1f}" cy="{y(value):.1f}" r="3" fill="#2e7d4f">'
            f"<title>{month:%Y-%m}：累计 {_mu(value)} 亩 / cumulative mu</title></circle>"
        )
    latest_month, latest = points[-1]
    # Right of the last point while the plan runs on; at the right edge, under it over the green area,
    # clear of the task and plan labels in the margin.
    at_edge = months_between(latest_month, last) < 4
    label_x, anchor = (x(latest_month) - 6, "end") if at_edge else (x(latest_month) + 8, "start")
    parts.append(
        f'<text id="burnup-latest" x="{label_x:.1f}" y="{y(latest) + 24:.1f}" text-anchor="{anchor}" '
        'font-size="14" font-weight="bold" fill="#1d5535" stroke="#fff" stroke-width="3" '
        f'paint-order="stroke" data-month="{latest_month:%Y-%m}" data-mu="{_e(latest)}">'
        f"{_mu(latest)} 亩</text>"
    )
    legend_y = height - 14
    for offset, (color, dash, label) in enumerate(
        (
            ("#2e7d4f", "", "实际累计 actual"),
            ("#2b6cb0", "2 3", "计划进度 plan"),
            ("#b83232", "6 4", "任务 task"),
        )
    ):
        lx = left + offset * 170
        parts.append(
            f'<line x1="{lx}" x2="{lx + 26}" y1="{legend_y - 4}" y2="{legend_y - 4}" stroke="{color}" '
            f'stroke-width="2.5" stroke-dasharray="{dash}"/>'
            f'<text x="{lx + 32}" y="{legend_y}" font-size="12" '
            f'fill="#1f2a24">{label}</text>'
        )
    summary = (
        f"截至 {latest_month:%Y-%m} 全区累计修复 {_mu(latest)} 亩，任务 {_mu(task_mu, 0)} 亩，"
        f"计划 {_mu(planned_mu, 0)} 亩 / cumulative restored by {latest_month:%Y-%m}"
    )
    return (
        f'<svg id="burnup-chart" viewBox="0 0 {width} {height}" role="img" aria-labelledby="burnup-title" '
        f'xmlns="http://www.w3.org/2000/svg" data-latest-month="{latest_month:%Y-%m}" '
        f'data-latest-mu="{_e(latest)}"><title id="burnup-title">{summary}</title>{"".join(parts)}</svg>'
    )


# --- the report page ---------------------------------------------------------------------------


def _page(title: str, body: str) -> str:
    css = (ASSETS / "report.css").read_text(encoding="utf-8")
    js = (ASSETS / "report.js").read_text(encoding="utf-8")
    return f"""<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{escape(REPORT_CSP)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="regreen {escape(__version__)}">
<title>{title}</title>
<style>
{css}</style>
</head>
<body>
{body}
<script>
{js}</script>
</body>
</html>
"""


def render_report(data: ReportData, generated_at: datetime) -> str:
    refreshed = f"{data.run.refreshed_at:%Y-%m-%d %H:%M}" if data.run else "—"
    sample = (
        '<p class="sample">示例数据：进展数据来自 regreen sample 生成的示例填报，不是真实进展。/ '
        "SAMPLE DATA: the progress shown comes from sample submissions written by `regreen sample`, "
        "not from the townships.</p>"
        if data.sample_data
        else ""
    )
    header = f"""<header class="page">
<h1>泉州台商投资区废弃矿山生态修复进展<span class="en">Abandoned-mine restoration progress,
Quanzhou Taiwanese Investment Zone</span></h1>
{sample}<p>依据《全区废弃矿山生态修复三年行动方案》（泉台管办〔2023〕36号）/ against the three-year
plan of notice 泉台管办〔2023〕36号 · 数据截至 data as of <strong>{_month(data.as_of)}</strong> ·
数据更新 refreshed <strong>{refreshed}</strong></p>
<p><a href="quality.html">全部检查结果 / all check results</a> ·
<a href="../{DOCS_FOLDER}/index.html">数据字典 / data dictionary</a>（由 regreen docs 生成 / written by
<code>regreen docs</code>）</p>
</header>
<nav class="toc" aria-label="目录 / contents">
<a href="#burnup">累计进度 Burn-up</a><a href="#plan">计划与完成 Plan vs actual</a>
<a href="#risk">风险项目 At risk</a><a href="#submissions">报送 Submissions</a>
<a href="#funding">资金与废石 Funding</a><a href="#quality">数据质量 Data quality</a>
</nav>"""
    sections = [
        _cards(data),
        _burnup_section(data),
        _plan_section(data),
        _risk_section(data),
        _submissions_section(data),
        _funding_section(data),
        _quality_section(data),
    ]
    footer = f"""<footer>
<p>本报告不含任何个人信息：填报人与联系电话只保存在接收区，不进入仓库。/ No personal data: the reporters'
names and phone numbers stay in the landing zone and never reach the warehouse.</p>
<p>生成时间 generated {generated_at:%Y-%m-%d %H:%M} · regreen {escape(__version__)} ·
页面不从网络加载任何内容 / this page loads nothing from the network.</p>
</footer>"""
    body = header + "\n<main>\n" + "\n".join(sections) + "\n</main>\n" + footer
    return _page("废弃矿山生态修复进展 / Restoration progress", body)


def _cards(data: ReportData) -> str:
    district = data.district
    latest = data.burnup[-1][1] if data.burnup else Decimal(0)
    task_pct = latest * 100 / data.task_mu if data.task_mu else None
    failed = sum(1 for c in data.checks if c["status"] == "failed")
    warned = sum(1 for c in data.checks if c["status"] == "warned")
    cards = [
        ("累计修复", "restored", f"{_mu(latest)} 亩", f"截至 {_month(data.as_of)}", ""),
        (
            "任务完成",
            "of the task",
            _pct(task_pct),
            f"任务 {_mu(data.task_mu, 0)} 亩 · 计划 {_mu(data.planned_mu, 0)} 亩",
            "",
        ),
        (
            "项目验收",
            "projects accepted",
            f"{_int(district.get('projects_accepted'))} / {_int(district.get('projects_planned'))}",
            f"已完工 completed {_int(district.get('projects_completed'))}",
            "",
        ),
        (
            "图斑",
            "patches restored",
            f"{_int(district.get('patches_done'))} / {_int(district.get('patches_planned'))}",
            "累计完成 / planned",
            "",
        ),
        (
            "风险项目",
            "projects at risk",
            str(len(data.risks)),
            "见下文 / see below",
            "alarm" if data.risks else "",
        ),
        (
            "数据检查",
            "checks",
            f"{failed} 失败 · {warned} 警告",
            f"共 {len(data.checks)} 项 / {failed} failed, {warned} warned of {len(data.checks)}",
            "alarm" if failed else "",
        ),
    ]
    return (
        '<div class="cards" aria-label="概要 / summary">'
        + "".join(
            f'<div class="card {cls}"><div class="label">{zh} <span class="en">{en}</span></div>'
            f'<div class="value">{value}</div><div class="sub">{sub}</div></div>'
            for zh, en, value, sub, cls in cards
        )
        + "</div>"
    )


def _burnup_section(data: ReportData) -> str:
    head = _heading(2, "全区累计修复进度", "District burn-up", "burnup")
    if not data.burnup:
        return (
            f'<section>{head}<p class="note">尚无进展填报 / no progress has been reported yet.</p></section>'
        )
    milestones = "，".join(f"{year} 年底 {_mu(value, 0)} 亩" for year, value in data.milestones)
    rows = [
        f"<tr>{_td(_month(month))}{_td(_mu(value), 'num')}"
        f"{_td(_pct(value * 100 / data.task_mu) if data.task_mu else '—', 'num')}</tr>"
        for month, value in data.burnup
    ]
    table = _table(
        [_th("月份", "month"), _th("累计修复（亩）", "cumulative mu", True), _th("占任务", "of task", True)],
        rows,
    )
    return f"""<section>{head}
<p class="note">绿色为各月全区累计修复面积（未报月份沿用上次数据），虚线为方案进度：{milestones}。/ Green: the
district's cumulative restored mu each month (a project's last report carried over months it did not report);
dashed: the plan's year-end milestones, the {_mu(data.task_mu, 0)}-mu task and the {_mu(data.planned_mu, 0)}
mu planned.</p>
<div class="chart">{burnup_svg(data.burnup, data.task_mu, data.planned_mu, data.milestones)}</div>
<details><summary>逐月数据 / the figures by month</summary>{table}</details>
</section>"""


def _totals_cells(row: dict[str, Any]) -> str:
    return (
        _td(f"{_int(row['projects_planned'])}", "num")
        + _td(_int(row["projects_completed"]), "num")
        + _td(_int(row["projects_accepted"]), "num")
        + _td(f"{_int(row['patches_done'])} / {_int(row['patches_planned'])}", "num", row["patches_done"])
        + _td(f"{_mu(row['area_done_mu'])} / {_mu(row['area_planned_mu'], 0)}", "num", row["area_done_mu"])
        + _td(_pct(row["pct_area_planned"]), "num", row["pct_area_planned"])
        + _td(_bar(row["pct_area_planned"] or 0))
    )


_TOTALS_HEADERS = [
    _th("计划项目", "projects", True),
    _th("已完工", "completed", True),
    _th("已验收", "accepted", True),
    _th("图斑 完成/计划", "patches done / planned", True),
    _th("面积（亩）完成/计划", "mu done / planned", True),
    _th("完成率", "of planned area", True),
    _th("进度", "progress"),
]


def _name_with_english(row: dict[str, Any]) -> str:
    return f'{_e(row["township_name"])} <span class="en">{_e(row["name_en"])}</span>'


def _plan_section(data: ReportData) -> str:
    by_year = _table(
        [_th("计划年度", "plan year"), *_TOTALS_HEADERS],
        [f"<tr>{_td(str(row['plan_year']))}{_totals_cells(row)}</tr>" for row in data.by_year],
    )
    by_township = _table(
        [_th("乡镇", "township"), *_TOTALS_HEADERS],
        [f"<tr>{_td(_name_with_english(row))}{_totals_cells(row)}</tr>" for row in data.by_township],
    )
    project_rows = []
    for p in data.projects:
        since = (
            months_between(p.last_progress, data.as_of)
            if p.last_progress and data.as_of and not p.accepted
            else None
        )
        flags = "".join(
            f'<span class="chip warn" title="{_e("、".join(_month(m) for m in months))}">'
            f"{FLAG_LABELS[flag][0]} {FLAG_LABELS[flag][1]} ×{len(months)}</span>"
            for flag, months in p.flags
        )
        stale = since is not None and since >= 3
        project_rows.append(
            f'<tr class="{"warn" if stale else ""}">'
            + _td(_e(p.code), "code")
            + _td(_e(p.name), "name")
            + _td(_e(p.township))
            + _td(str(p.plan_year), "num")
            + _td(_stage_chip(p), "stage", p.stage_rank or 0)
            + _td(f"{_int(p.patches_done)} / {_int(p.patches_planned)}", "num", p.patches_done or 0)
            + _td(f"{_mu(p.area_done)} / {_mu(p.area_planned, 0)}", "num", p.area_done or 0)
            + _td(_pct(p.pct_planned), "num", f"{p.pct_planned:.2f}")
            + _td(_bar(p.pct_planned))
            + _td(
                "—" if since is None else str(since),
                "num",
                -1 if since is None else since,
            )
            + _td(_month(p.latest_month))
            + _td(flags or "—")
            + "</tr>"
        )
    projects = _table(
        [
            _th("编号", "code"),
            _th("项目", "project"),
            _th("乡镇", "township"),
            _th("年度", "plan year", True),
            _th("阶段", "stage"),
            _th("图斑", "patches", True),
            _th("面积（亩）", "mu done / planned", True),
            _th("完成率", "of planned area", True),
            _th("进度", "progress"),
            _th("距上次进展（月）", "months since progress", True),
            _th("最近填报", "latest report"),
            _th("标记", "flags"),
        ],
        project_rows,
        sortable=True,
    )
    return f"""<section>{_heading(2, "计划与完成", "Plan vs actual", "plan")}
<p class="note">完成数为各项目最近一次填报的累计数 / done: each project's latest cumulative report.</p>
{_heading(3, "分年度", "By plan year")}{by_year}
{_heading(3, "分乡镇", "By township")}{by_township}
{_heading(3, "分项目", "By project")}
<p class="note">“距上次进展”指面积、图斑或阶段最近一次推进至 {_month(data.as_of)} 的月数
（已验收项目不计），满 3 个月标黄；标记悬停可见月份；点击表头排序。/ Months since its area, patches or
stage last went forward, up to {_month(data.as_of)} (not counted once accepted), yellow from 3; hover a flag
for its months; click a header to sort.</p>
{projects}
</section>"""


RISK_REASONS = {
    "pace": ("进度不足", "behind pace", "bad"),
    "not_started": ("尚未开始治理", "not started", "warn"),
    "not_accepted": ("年度已过未验收", "plan year over, not accepted", "bad"),
}


def _risk_section(data: ReportData) -> str:
    head = _heading(2, "风险项目", "Projects at risk", "risk")
    explain = f"""<p class="note">截至 {_month(data.as_of)}：<strong>进度不足</strong>——按首次有进展以来的
平均速度，到计划年度 12 月仍达不到计划面积；<strong>尚未开始治理</strong>——计划年度已开始但尚无治理面积；
<strong>年度已过未验收</strong>——计划年度已结束，仍无验收完成。/ As of {_month(data.as_of)}:
<em>behind pace</em> — at its average pace since its first progress it would not reach its planned area by
December of its plan year; <em>not started</em> — its plan year has begun and no area is restored;
<em>plan year over, not accepted</em> — its plan year has ended without an accepted completion.</p>"""
    if not data.risks:
        quiet = '<p class="callout quiet">暂无风险项目 / no project at risk.</p>'
        return f"<section>{head}{explain}{quiet}</section>"
    rows = []
    for risk in data.risks:
        p = risk.project
        zh, en, cls = RISK_REASONS[risk.reason]
        rows.append(
            "<tr>"
            + _td(_e(p.code), "code")
            + _td(_e(p.name), "name")
            + _td(_e(p.township))
            + _td(str(p.plan_year), "num")
            + _td(_stage_chip(p), "stage", p.stage_rank or 0)
            + _td(_pct(p.pct_planned), "num", f"{p.pct_planned:.2f}")
            + _td(f'<span class="chip {cls}">{zh} {en}</span>')
            + _td(_mu(risk.pace), "num")
            + _td(_mu(risk.needed), "num")
            + _td(_mu(risk.projected), "num")
            + _td(_e(_month(p.last_progress)))
            + "</tr>"
        )
    table = _table(
        [
            _th("编号", "code"),
            _th("项目", "project"),
            _th("乡镇", "township"),
            _th("年度", "plan year", True),
            _th("阶段", "stage"),
            _th("完成率", "of planned area", True),
            _th("原因", "why"),
            _th("当前速度（亩/月）", "pace, mu/month", True),
            _th("所需速度（亩/月）", "needed, mu/month", True),
            _th("年底预计（亩）", "projected by December", True),
            _th("上次进展", "last progress"),
        ],
        rows,
        sortable=True,
    )
    return f"<section>{head}{explain}{table}</section>"


def _submissions_section(data: ReportData) -> str:
    head = _heading(2, "报送情况", "Submissions", "submissions")
    if not data.submissions:
        return f'<section>{head}<p class="note">尚无应报月份 / no month is due yet.</p></section>'
    month_list = sorted({row["report_month"] for row in data.submissions})
    due_day = data.submissions[0]["due_date"].day
    cells = {(row["township_name"], row["report_month"]): row for row in data.submissions}
    years: dict[int, int] = {}
    for month in month_list:
        years[month.year] = years.get(month.year, 0) + 1
    reasons: list[str] = []
    body = []
    for township, name_en in data.townships:
        tds = [f'<td class="township">{_e(township)} <span class="en">{_e(name_en)}</span></td>']
        due = on_time = 0
        for month in month_list:
            row = cells.get((township, month))
            if row is None or (not row["expected"] and row["status"] == "missing"):
                not_due = f"{township} {month:%Y-%m}：不需报送 / not due"
                tds.append(f'<td class="cell not_expected" title="{_e(not_due)}">·</td>')
                continue
            symbol, zh, en = STATUS_LABELS.get(row["status"], ("?", row["status"], row["status"]))
            title = f"{township} {month:%Y-%m}：{zh} / {en}"
            if row["expected"]:
                due += 1
                on_time += row["status"] == "on_time"
            else:
                title += "（无在建项目，不需报送 / no active project, not due）"
            submitted = row["first_submitted_at"]
            if submitted:
                title += f"；首次报送 first submitted {submitted:%Y-%m-%d %H:%M}"
            content = escape(symbol)
            if row["rejection_reasons"]:
                anchor = f"rejection-{len(reasons) + 1}"
                reason_text = _reasons_text(row["rejection_reasons"])
                title += f"；退回原因 rejected because: {reason_text}"
                reasons.append(
                    f'<li id="{anchor}"><strong>{_e(township)} {month:%Y-%m}</strong>（{zh} {en}）：'
                    f"{_e(reason_text)}</li>"
                )
                marker = "" if row["status"] == "rejected" else '<sup class="had-rejection">*</sup>'
                content = f'<a href="#{anchor}">{content}{marker}</a>'
            tds.append(f'<td class="cell {escape(row["status"])}" title="{_e(title)}">{content}</td>')
        rate = _pct(on_time * 100 / due) if due else "—"
        tds.append(_td(rate, "num"))
        body.append(f"<tr>{''.join(tds)}</tr>")
    year_row = "".join(f'<th class="year" colspan="{count}">{year}</th>' for year, count in years.items())
    month_row = "".join(f'<th class="month" scope="col">{month:%m}</th>' for month in month_list)
    grid = (
        '<div class="scroll"><table class="grid"><thead>'
        f'<tr><th class="township" rowspan="2">乡镇<span class="en">township</span></th>{year_row}'
        f'<th rowspan="2" class="num">按时率<span class="en">on time</span></th></tr><tr>{month_row}</tr>'
        f"</thead><tbody>{''.join(body)}</tbody></table></div>"
    )
    legend = (
        '<p class="legend">'
        + "".join(
            f'<span><i class="cell {status}"></i>{escape(symbol)} {zh} {en}</span>'
            for status, (symbol, zh, en) in STATUS_LABELS.items()
        )
        + "<span>* 曾被退回后重报 / rejected, then sent again</span></p>"
    )
    reason_list = (
        f"<details><summary>退回原因（{len(reasons)} 份）/ why files were rejected ({len(reasons)})</summary>"
        f"<ul>{''.join(reasons)}</ul></details>"
        if reasons
        else '<p class="note">没有被退回的报送 / no file was rejected.</p>'
    )
    return f"""<section>{head}
<p class="note">每格为一个乡镇一个月的报送：次月 {due_day} 日前送达为按时；点击或悬停带链接的格子可见
退回原因。/ One cell per township and month: on time when it arrived by day {due_day} of the following month;
click or hover a linked cell for why a file was rejected.</p>
{legend}{grid}{reason_list}
</section>"""


def _reasons_text(reasons: object) -> str:
    if isinstance(reasons, list | tuple):
        return "；".join(str(reason) for reason in reasons)
    return str(reasons)


def _funding_section(data: ReportData) -> str:
    head = _heading(2, "资金与废石", "Funding and waste rock", "funding")
    median = data.waste_rock_median
    threshold = median * WASTE_ROCK_ALARM_RATIO if median else None
    rows = []
    alarms = []
    for row in data.funding:
        ratio = row["waste_rock_10k_m3_per_mu"]
        times = Decimal(str(ratio)) / median if ratio is not None and median else None
        alarm = threshold is not None and ratio is not None and Decimal(str(ratio)) > threshold
        if alarm:
            alarms.append((row, ratio, times))
        funds = [row["fund_higher_level"], row["fund_district"], row["fund_waste_rock"], row["fund_social"]]
        total = sum((f or Decimal(0) for f in funds), Decimal(0))
        segments = "".join(
            f'<span class="{cls}" style="width:{float((f or 0) * 100 / total):.1f}%" '
            f'title="{label} {_mu(f)} 万元"></span>'
            for f, cls, label in zip(
                funds,
                ("f-higher", "f-district", "f-rock", "f-social"),
                ("上级资金 higher level", "区财政 district", "废石处置 waste rock", "社会资本 social"),
                strict=True,
            )
            if total
        )
        rows.append(
            f'<tr class="{"alarm" if alarm else ""}">'
            + _td(_e(row["project_code"]), "code")
            + _td(_e(row["project_name"]), "name")
            + "".join(_td(_mu(f), "num", f) for f in funds)
            + _td(_mu(row["invested_10k_yuan"]), "num", row["invested_10k_yuan"])
            + _td(f'<div class="fundbar">{segments}</div>')
            + _td(_mu(row["area_done_mu"]), "num", row["area_done_mu"])
            + _td(_mu(row["invested_10k_yuan_per_mu"], 2), "num", row["invested_10k_yuan_per_mu"])
            + _td(_mu(row["waste_rock_10k_m3"], 2), "num", row["waste_rock_10k_m3"])
            + _td(_mu(ratio, 3), "num", ratio)
            + _td("—" if times is None else f"{times:.1f}×", "num", times)
            + "</tr>"
        )
    table = _table(
        [
            _th("编号", "code"),
            _th("项目", "project"),
            _th("上级资金", "higher level", True),
            _th("区财政", "district", True),
            _th("废石处置", "waste rock sales", True),
            _th("社会资本", "social", True),
            _th("累计投资", "invested", True),
            _th("来源构成", "by source"),
            _th("治理面积（亩）", "mu restored", True),
            _th("万元/亩", "10k yuan per mu", True),
            _th("废石处置量 万m³", "waste rock 10k m³", True),
            _th("废石 万m³/亩", "waste rock 10k m³ per mu", True),
            _th("相对中位数", "× median", True),
        ],
        rows,
        sortable=True,
    )
    callout = ""
    if alarms:
        named = "；".join(
            f"{_e(row['project_code'])} {_e(row['project_name'])}：每亩 {_mu(ratio, 3)} 万m³，"
            f"为中位数的 {times:.1f} 倍"
            for row, ratio, times in alarms
        )
        callout = f"""<div class="callout"><strong>以修复之名行开采之实？/ Mining under the name of
restoration?</strong> 以下项目每修复一亩运出的废石超过全区中位数（{_mu(median, 3)} 万m³/亩）的
{WASTE_ROCK_ALARM_RATIO} 倍：{named}。方案要求对“利用生态修复为名实施矿山开采”的举报认真调查核实
（五、（三））。/ These projects remove more than {WASTE_ROCK_ALARM_RATIO}× the district's median waste rock
per mu restored; the notice requires reports of mining under the name of restoration to be investigated
(section 5.3).</div>"""
    legend = (
        '<p class="legend"><span><i class="f-higher"></i>上级资金 higher level</span>'
        '<span><i class="f-district"></i>区财政 district</span><span><i class="f-rock"></i>废石处置收入 '
        'waste rock sales</span><span><i class="f-social"></i>社会资本 social capital</span></p>'
    )
    return f"""<section>{head}
<p class="note">金额单位万元，为各项目最近一次填报的累计数；每亩废石 = 累计废石处置量 ÷ 累计治理面积。
/ Amounts in 10k yuan, each project's latest cumulative report; waste rock per mu = cumulative waste rock
removed ÷ mu restored.</p>
{callout}{legend}{table}
</section>"""


def _quality_summary(checks: Sequence[dict[str, Any]]) -> str:
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for check in checks:
        bucket = counts.setdefault(
            (check["suite"], check["severity"]), {"passed": 0, "warned": 0, "failed": 0}
        )
        bucket[check["status"]] = bucket.get(check["status"], 0) + 1
    rows = [
        f'<tr class="{"alarm" if c["failed"] else ("warn" if c["warned"] else "")}">'
        f"{_td(_e(suite))}{_td(_e(severity))}{_td(str(c['passed']), 'num')}{_td(str(c['warned']), 'num')}"
        f"{_td(str(c['failed']), 'num')}</tr>"
        for (suite, severity), c in sorted(counts.items())
    ]
    return _table(
        [
            _th("套件", "suite"),
            _th("级别", "severity"),
            _th("通过", "passed", True),
            _th("警告", "warned", True),
            _th("失败", "failed", True),
        ],
        rows,
    )


def _folded(text: str | None, shown: int = 160) -> str:
    """Long text (a check listing its offending rows) folded after `shown` characters, a click away."""
    if text is None or len(text) <= shown:
        return _e(text)
    return f"{_e(text[:shown])}…<details><summary>全文 / full text</summary>{_e(text)}</details>"


def _carried_note(run_id: str | None) -> str:
    if run_id is None:
        return ""
    return (
        f'<span class="carried">沿用运行 {_e(run_id)} 的结果（所读数据未变，未重查）/ result of run '
        f"{_e(run_id)}, carried: nothing it reads changed since.</span> "
    )


def _check_rows(checks: Sequence[dict[str, Any]]) -> list[str]:
    rows = []
    for check in checks:
        zh, en = CHECK_STATUS_LABELS.get(check["status"], (check["status"], check["status"]))
        cls = {"failed": "alarm", "warned": "warn"}.get(check["status"], "")
        chip = {"failed": "bad", "warned": "warn", "passed": "ok"}.get(check["status"], "")
        rows.append(
            f'<tr class="{cls}">'
            + _td(_e(check["suite"]))
            + _td(_e(check["check_name"]), "name")
            + _td(_e(check["severity"]))
            + _td(f'<span class="chip {chip}">{zh} {en}</span>', sort=check["status"])
            + _td(_e(check["observed"]), "long")
            + _td(_e(check["expected"]), "long")
            + _td(_carried_note(check.get("carried_from_run")) + _folded(check["details"]), "details")
            + "</tr>"
        )
    return rows


_CHECK_HEADERS = [
    _th("套件", "suite"),
    _th("检查", "check"),
    _th("级别", "severity"),
    _th("结果", "status"),
    _th("实际", "observed"),
    _th("应为", "expected"),
    _th("说明", "details"),
]


def _run_note(run: RunInfo | None) -> str:
    if run is None:
        return '<p class="note">仓库中没有检查结果 / the warehouse holds no check results.</p>'
    parts = [
        f"运行 run <code>{_e(run.run_id)}</code>",
        f"数据更新 refreshed {run.refreshed_at:%Y-%m-%d %H:%M}",
    ]
    if run.status:
        parts.append(f"状态 status {_e(run.status)}")
    if run.files:
        received, accepted, rejected, duplicate = run.files
        parts.append(
            f"收到文件 files received {_int(received)}（接收 accepted {_int(accepted)}，退回 rejected "
            f"{_int(rejected)}，重复 duplicate {_int(duplicate)}）"
        )
    if run.rows_loaded is not None:
        parts.append(f"载入行 rows loaded {_int(run.rows_loaded)}")
    return f'<p class="note">{" · ".join(parts)}</p>'


def _quality_section(data: ReportData) -> str:
    head = _heading(2, "数据质量", "Data quality", "quality")
    problems = [c for c in data.checks if c["status"] != "passed"]
    listing = (
        _table(_CHECK_HEADERS, _check_rows(problems), sortable=True)
        if problems
        else '<p class="callout quiet">最近一次运行的检查全部通过 / every check of the latest run passed.</p>'
    )
    return f"""<section>{head}
{_run_note(data.run)}
{_heading(3, "按套件与级别", "By suite and severity")}{_quality_summary(data.checks)}
{_heading(3, "未通过的检查", "Checks that warned or failed")}{listing}
<p><a href="quality.html">全部 {len(data.checks)} 项检查 / all {len(data.checks)} checks</a></p>
</section>"""


def render_quality(data: ReportData, generated_at: datetime) -> str:
    """The expectation results page: every check of the latest run."""
    body = f"""<header class="page">
<h1>数据质量检查结果<span class="en">Expectation results</span></h1>
<p>最近一次运行的全部检查 / every check of the latest run · <a href="index.html">返回进展报告 / back to the
progress report</a></p>
</header>
<main>
<section>{_heading(2, "运行", "Run", "run")}{_run_note(data.run)}{_quality_summary(data.checks)}</section>
<section>{_heading(2, "全部检查", "All checks", "checks")}
<p class="note">error 级失败会阻止发布，warning 级只报告；点击表头排序。/ A failed error-level check stops
publishing, a warning is reported only; click a header to sort.</p>
{_table(_CHECK_HEADERS, _check_rows(data.checks), sortable=True)}
</section>
</main>
<footer><p>生成时间 generated {generated_at:%Y-%m-%d %H:%M} · regreen {escape(__version__)}</p></footer>"""
    return _page("数据质量检查结果 / Expectation results", body)
