"""The progress report and the data dictionary, written from the published warehouse.

`write_report` reads the marts and the latest run's checks from `<data-dir>/regreen.duckdb` (read-only)
and writes `<data-dir>/report/index.html` and `quality.html`: self-contained pages (CSS, SVG charts and
JS inline) that load nothing from anywhere, so they open the same on an office PC without internet.
The pages are Jinja2 templates in `report_templates/` with autoescaping on, so every value taken
from the data is HTML-escaped; this module reads the data and shapes it for them. No personal data is read.

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
from datetime import date, datetime
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import jinja2
import markupsafe

from regreen import __version__
from regreen.check_names import check_sentence
from regreen.clock import as_utc, local_time, utc_now
from regreen.config import SETTINGS
from regreen.dbt import dbt_docs_generate
from regreen.errors import RegreenError
from regreen.log import logger
from regreen.memory import limit_connection, within_memory_limit
from regreen.patchmap import MapPatch, patch_map_svg
from regreen.project import DataDir, make_readable

ASSETS = Path(__file__).resolve().parent / "report_assets"
TEMPLATES = Path(__file__).resolve().parent / "report_templates"
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
class FailedRun:
    """The latest run, which meant to publish and did not: the report says so above the last good data."""

    run_id: str
    at: datetime  # UTC: when it ended
    status: str  # checks_failed | warehouse_in_use | error | interrupted
    reason: str | None


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    refreshed_at: datetime  # UTC: when the published data were built
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
    projects: list[ProjectStatus]  # the first [report] project_rows by code
    project_count: int  # all of them
    risks: list[Risk]  # marts.projects_behind_schedule, the first project_rows by code
    risk_count: int
    townships: list[tuple[str, str]]  # (township_name, name_en) in the plan's order
    submissions: list[dict[str, Any]]
    funding: list[dict[str, Any]]  # the first project_rows by code
    funding_count: int
    waste_rock_median: Decimal | None  # over every project
    waste_rock_alarms: list[dict[str, Any]]  # every project above WASTE_ROCK_ALARM_RATIO × the median
    run: RunInfo | None
    checks: list[dict[str, Any]]
    sample_data: bool  # some progress rows come from `regreen sample`
    patches: list[MapPatch]  # the patch register, for the map; empty when none was loaded


def months_between(first: date, last: date) -> int:
    return (last.year - first.year) * 12 + last.month - first.month


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def risk_reason(project: ProjectStatus, as_of: date) -> str | None:
    """Why `project` will not, or did not, finish its plan year's work as of the month `as_of`, or None:

    - not_accepted: its plan year has ended and it has no accepted completion;
    - not_started: its plan year has begun and no area has been restored;
    - pace: restoring at its pace since its first progress, it would not reach its planned area by
      December of its plan year.

    marts.projects_behind_schedule holds the same list for the whole district (the report reads it);
    tests/test_queries.py and tests/test_marts_questions.py hold the two to the same projects."""
    year_end = date(project.plan_year, 12, 1)
    if project.accepted:
        return None
    if as_of > year_end:
        return "not_accepted"
    if project.completed or as_of.year < project.plan_year:
        return None
    if project.first_progress is None:
        return "not_started"
    _, _, projected = _pace(project, as_of)
    return "pace" if projected < project.area_planned else None


def _pace(project: ProjectStatus, as_of: date) -> tuple[Decimal, Decimal | None, Decimal]:
    """A started project's mu a month since its first progress, the mu a month it needs from now to
    finish by December of its plan year (None in December), and where its pace takes it by then."""
    done = project.area_done or Decimal(0)
    pace = done / (months_between(project.first_progress, as_of) + 1)
    remaining = months_between(as_of, date(project.plan_year, 12, 1))
    needed = (project.area_planned - done) / remaining if remaining else None
    return pace, needed, done + pace * remaining


def at_risk(project: ProjectStatus, reason: str, as_of: date) -> Risk:
    """`project` at risk for `reason`, with its pace figures when the reason is its pace."""
    return Risk(project, reason, *_pace(project, as_of)) if reason == "pace" else Risk(project, reason)


def projects_at_risk(projects: Iterable[ProjectStatus], as_of: date) -> list[Risk]:
    """The projects among `projects` at risk as of the month `as_of` (`risk_reason`)."""
    return [at_risk(p, reason, as_of) for p in projects if (reason := risk_reason(p, as_of)) is not None]


def load_report_data(
    con: duckdb.DuckDBPyConnection, project_rows: int = SETTINGS["report"]["project_rows"].default
) -> ReportData:
    """Everything the report shows, from the marts and the latest run's checks: the per-project tables'
    first `project_rows` projects and how many there are, the at-risk list from
    marts.projects_behind_schedule, totals and the waste-rock median computed by DuckDB."""
    burnup = [(row["report_month"], row["restored_mu"]) for row in _rows(con, BURNUP_SQL)]
    targets = _rows(con, TARGETS_SQL)
    as_of = burnup[-1][0] if burnup else None
    projects = {
        row["project_code"]: _project_status(row) for row in _rows(con, PROJECTS_SQL, [project_rows] * 2)
    }
    listed = [code for (code,) in con.execute(FIRST_PROJECTS_SQL, [project_rows]).fetchall()]
    behind = con.execute(AT_RISK_SQL, [project_rows]).fetchall()
    median = _waste_rock_median(con)
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
        projects=[projects[code] for code in listed],
        project_count=con.execute("select count(*) from marts.dim_project").fetchone()[0],
        risks=[at_risk(projects[code], reason, as_of) for code, reason in behind] if as_of else [],
        risk_count=con.execute("select count(*) from marts.projects_behind_schedule").fetchone()[0]
        if as_of
        else 0,
        townships=[(row["township_name"], row["name_en"]) for row in _rows(con, TOWNSHIPS_SQL)],
        submissions=_rows(con, SUBMISSIONS_SQL),
        funding=_rows(con, FUNDING_SQL.format(where="", limit="limit ?"), [project_rows]),
        funding_count=con.execute("select count(*) from marts.funding_by_source").fetchone()[0],
        waste_rock_median=median,
        waste_rock_alarms=_waste_rock_alarms(con, median),
        run=run,
        checks=checks,
        sample_data=con.execute(SAMPLE_SQL).fetchone()[0],
        patches=_map_patches(con),
    )


def _waste_rock_median(con: duckdb.DuckDBPyConnection) -> Decimal | None:
    """The median waste rock per mu over every project, as `statistics.median` gives it: DuckDB finds
    the middle value or two, Python averages them."""
    (count,) = con.execute(f"select count({_RATIO}) from marts.funding_by_source").fetchone()
    if not count:
        return None
    middle = con.execute(
        f"select {_RATIO} from marts.funding_by_source where {_RATIO} is not null order by 1 limit ? offset ?",
        [2 - count % 2, (count - 1) // 2],
    ).fetchall()
    return Decimal(str(statistics.median(value for (value,) in middle)))


def _waste_rock_alarms(con: duckdb.DuckDBPyConnection, median: Decimal | None) -> list[dict[str, Any]]:
    """The funding rows above WASTE_ROCK_ALARM_RATIO times `median`: DuckDB keeps those within a hair of
    it (a double compared with a decimal), the exact comparison is `funding_rows`'."""
    if not median:
        return []
    near = float(median * WASTE_ROCK_ALARM_RATIO) * (1 - 1e-9)
    rows = _rows(con, FUNDING_SQL.format(where=f"where f.{_RATIO} > ?", limit=""), [near])
    return [row for row in funding_rows(rows, median) if row["alarm"]]


def _map_patches(con: duckdb.DuckDBPyConnection) -> list[MapPatch]:
    """The register's patches with their project's stage; none from a warehouse built before patches
    were loaded (it has no marts.dim_patch), whose report then says so instead of failing."""
    database = con.execute("select current_database()").fetchone()[0]
    if not con.execute(
        "select count(*) from information_schema.tables where table_catalog = ? and table_schema = 'marts' "
        "and table_name = 'dim_patch'",
        [database],
    ).fetchone()[0]:
        return []
    return [MapPatch(*row) for row in con.execute(PATCHES_SQL).fetchall()]


PATCHES_SQL = """
select
    d.patch_code, d.project_code, d.project_name, d.geometry_area_mu, p.stage,
    '已完成 / completed ' || strftime(d.completed_month, '%Y-%m') as status,
    d.geometry_wkb
from marts.dim_patch as d
left join marts.plan_vs_actual_project as p on d.project_code = p.project_code
where d.geometry_wkb is not null
order by d.patch_code
"""
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
# The projects a page shows: the first `project_rows` by code, and the first at risk.
FIRST_PROJECTS_SQL = "select project_code from marts.dim_project order by project_code limit ?"
AT_RISK_SQL = "select project_code, reason from marts.projects_behind_schedule order by project_code limit ?"
# Their status, each project's months read alone (not the whole fact table's).
PROJECTS_SQL = f"""
with shown as (
    ({FIRST_PROJECTS_SQL})
    union
    (select project_code from ({AT_RISK_SQL}))
),
months as (
    select
        *,
        area_done_mu > coalesce(lag(area_done_mu) over project_months, 0)
        or patches_done > coalesce(lag(patches_done) over project_months, 0)
        or stage_rank > lag(stage_rank) over project_months as went_forward
    from marts.fct_project_month
    where project_code in (select project_code from shown)
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
inner join shown on p.project_code = shown.project_code
left join latest as l on p.project_code = l.project_code
left join history as h on p.project_code = h.project_code
order by p.project_code
"""
SUBMISSIONS_SQL = """
select township_name, report_month, expected, status, due_date, first_submitted_at, rejection_reasons
from marts.submission_timeliness
order by report_month, township_name
"""
_RATIO = "waste_rock_10k_m3_per_mu"
FUNDING_SQL = """
select
    f.project_code, p.project_name, f.fund_higher_level, f.fund_district, f.fund_waste_rock, f.fund_social,
    f.invested_10k_yuan, f.area_done_mu, f.invested_10k_yuan_per_mu, f.waste_rock_10k_m3,
    f.waste_rock_10k_m3_per_mu
from marts.funding_by_source as f
join marts.dim_project as p on f.project_code = p.project_code
{where}
order by f.project_code
{limit}
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
    relations: dict[str, set[str]] = {}
    for table, column in con.execute("select table_name, column_name from duckdb_columns()").fetchall():
        relations.setdefault(table, set()).add(column)
    for check in checks:
        check["sentence"] = check_sentence(check["check_name"], relations)
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
        return RunInfo(run_id, as_utc(checked_at), None, None, None), checks
    run = recorded[0]
    files = (run["files_received"], run["files_accepted"], run["files_rejected"], run["files_duplicate"])
    ended = as_utc(run["ended_at"]) if run["ended_at"] else as_utc(checked_at)
    return RunInfo(run_id, ended, run["status"], files, run["rows_loaded"]), checks


# --- writing ----------------------------------------------------------------------------------


def report_dir(data_dir: DataDir) -> Path:
    return data_dir.root / REPORT_FOLDER


def write_report(
    warehouse: Path,
    out_dir: Path,
    zone: ZoneInfo,
    failed: FailedRun | None = None,
    project_rows: int = SETTINGS["report"]["project_rows"].default,
    memory_limit: str = SETTINGS["storage"]["memory_limit"].default,
) -> Path:
    """Write index.html (the progress report) and quality.html into `out_dir`; returns index.html.

    Times are shown in `zone`, with its name. With `failed` (the latest run did not publish), both pages
    open with a red banner saying which run, when and why, above the last good data. The per-project
    tables list at most `project_rows` projects (config report.project_rows). DuckDB is bounded by
    `memory_limit` (config storage.memory_limit)."""
    if not warehouse.exists():
        raise WarehouseMissingError(warehouse)
    try:
        with duckdb.connect(str(warehouse), read_only=True) as con, within_memory_limit(memory_limit):
            data = load_report_data(limit_connection(con, memory_limit), project_rows)
    except (duckdb.CatalogException, duckdb.BinderException) as exc:
        raise WarehouseOutdatedError(warehouse, str(exc).splitlines()[0]) from exc
    except duckdb.Error as exc:
        raise WarehouseUnreadableError(warehouse, str(exc).splitlines()[0]) from exc
    page = Page(utc_now(), zone, failed, project_rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    index = out_dir / "index.html"
    _write_text(index, render_report(data, page))
    _write_text(out_dir / "quality.html", render_quality(data, page))
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
    make_readable(partial)
    make_readable(path.parent)
    partial.replace(path)


# --- what the templates are given --------------------------------------------------------------


def months_since_progress(project: ProjectStatus, as_of: date | None) -> int | None:
    """Months from the last time its area, patches or stage went forward to `as_of`; None once accepted."""
    if project.last_progress is None or as_of is None or project.accepted:
        return None
    return months_between(project.last_progress, as_of)


@dataclass(frozen=True)
class BurnupChart:
    """Where the burn-up chart puts things: months along x, mu up y, in SVG user units."""

    first: date
    last: date  # the later of the latest report and the plan's last year end
    y_max: int  # mu at the top: the first tick above the highest line
    milestones: tuple[tuple[int, Decimal], ...]
    y_step: int = 500  # mu between gridlines
    width: int = 760
    height: int = 380
    left: int = 62
    right: int = 150
    top: int = 20
    bottom: int = 64

    @classmethod
    def of(cls, data: ReportData) -> BurnupChart:
        first = data.burnup[0][0]
        last = max(data.burnup[-1][0], *(date(year, 12, 1) for year, _ in data.milestones))
        peak = max([float(data.task_mu), float(data.planned_mu), *(float(v) for _, v in data.burnup)])
        step = cls.tick_step(peak * 1.08)
        return cls(first, last, max(math.ceil(peak * 1.08 / step), 1) * step, tuple(data.milestones), step)

    @staticmethod
    def tick_step(top: float, most: int = 8) -> int:
        """The smallest step of 1, 2 or 5 × 10^k mu that reaches `top` in at most `most` gridlines: 500
        for the district's 3,000-mu task, 200,000 for a province's million (not thousands of lines)."""
        magnitude = 1
        while True:
            for factor in (1, 2, 5):
                if math.ceil(top / (factor * magnitude)) <= most:
                    return factor * magnitude
            magnitude *= 10

    @property
    def span(self) -> int:
        return max(months_between(self.first, self.last), 1)

    @property
    def plot_right(self) -> int:
        return self.width - self.right

    @property
    def base(self) -> int:
        return self.height - self.bottom

    def x(self, month: date) -> float:
        return self.left + (self.plot_right - self.left) * months_between(self.first, month) / self.span

    def y(self, value: Decimal | float) -> float:
        return self.top + (self.base - self.top) * (1 - float(value) / self.y_max)

    def y_ticks(self) -> range:
        return range(0, self.y_max + 1, self.y_step)

    def month_ticks(self) -> list[tuple[date, int, bool]]:
        """(month, tick length, labelled): January and July are labelled, and the first month when no
        label is near it."""
        ticks = []
        for offset in range(self.span + 1):
            month = add_months(self.first, offset)
            labelled = month.month in (1, 7) or (offset == 0 and (7 - month.month) % 6 >= 3)
            ticks.append((month, 6 if month.month == 1 else 3, labelled))
        return ticks

    def plan_path(self) -> list[tuple[date, Decimal]]:
        return [(self.first, Decimal(0)), *((date(year, 12, 1), value) for year, value in self.milestones)]

    def milestone_marks(self) -> list[tuple[int, Decimal, float, float]]:
        return [(year, value, self.x(date(year, 12, 1)), self.y(value)) for year, value in self.milestones]

    def points(self, series: Iterable[tuple[date, Decimal]]) -> str:
        return " ".join(f"{self.x(month):.1f},{self.y(value):.1f}" for month, value in series)

    def latest_label(self, latest_month: date) -> tuple[float, str]:
        """Right of the last point while the plan runs on; at the right edge, under it over the green
        area, clear of the task and plan labels in the margin."""
        if months_between(latest_month, self.last) < 4:
            return self.x(latest_month) - 6, "end"
        return self.x(latest_month) + 8, "start"


@dataclass(frozen=True)
class SubmissionGrid:
    due_day: int
    years: list[tuple[int, int]]  # (year, months of it shown)
    months: list[date]
    rows: list[dict[str, Any]]  # township, name_en, cells, on_time_pct
    rejections: list[dict[str, Any]]  # the footnotes cells with a rejected file link to


def submission_grid(data: ReportData) -> SubmissionGrid | None:
    """Each township's months: status, the text a hover shows, and the footnote of a rejected file."""
    if not data.submissions:
        return None
    months = sorted({row["report_month"] for row in data.submissions})
    years: dict[int, int] = {}
    for month in months:
        years[month.year] = years.get(month.year, 0) + 1
    cells = {(row["township_name"], row["report_month"]): row for row in data.submissions}
    rejections: list[dict[str, Any]] = []
    rows = []
    for township, name_en in data.townships:
        shown = []
        due = on_time = 0
        for month in months:
            row = cells.get((township, month))
            # not_due: the township owed nothing that month (no active project), whatever arrived.
            if row is None or row["status"] == "not_due":
                shown.append({"status": None, "title": f"{township} {month:%Y-%m}：不需报送 / not due"})
                continue
            symbol, zh, en = STATUS_LABELS.get(row["status"], ("?", row["status"], row["status"]))
            title = f"{township} {month:%Y-%m}：{zh} / {en}"
            due += 1
            on_time += row["status"] == "on_time"
            if row["first_submitted_at"]:
                title += f"；首次报送 first submitted {row['first_submitted_at']:%Y-%m-%d %H:%M}"
            anchor = None
            if row["rejection_reasons"]:
                anchor = f"rejection-{len(rejections) + 1}"
                text = _reasons_text(row["rejection_reasons"])
                title += f"；退回原因 rejected because: {text}"
                rejections.append(
                    {"anchor": anchor, "township": township, "month": month, "zh": zh, "en": en, "text": text}
                )
            shown.append({"status": row["status"], "title": title, "symbol": symbol, "anchor": anchor})
        rate = on_time * 100 / due if due else None
        rows.append({"township": township, "name_en": name_en, "cells": shown, "on_time_pct": rate})
    due_day = data.submissions[0]["due_date"].day
    return SubmissionGrid(due_day, list(years.items()), months, rows, rejections)


def _reasons_text(reasons: object) -> str:
    if isinstance(reasons, list | tuple):
        return "；".join(str(reason) for reason in reasons)
    return str(reasons)


FUND_SOURCES = (
    ("fund_higher_level", "f-higher", "上级资金 higher level"),
    ("fund_district", "f-district", "区财政 district"),
    ("fund_waste_rock", "f-rock", "废石处置 waste rock"),
    ("fund_social", "f-social", "社会资本 social"),
)


def funding_rows(funding: Iterable[dict[str, Any]], median: Decimal | None) -> list[dict[str, Any]]:
    """Each project's funds by source, and its waste rock per mu against the district's `median`."""
    threshold = median * WASTE_ROCK_ALARM_RATIO if median else None
    rows = []
    for row in funding:
        ratio = row["waste_rock_10k_m3_per_mu"]
        times = Decimal(str(ratio)) / median if ratio is not None and median else None
        sources = [(row[column], cls, label) for column, cls, label in FUND_SOURCES]
        rows.append(
            {
                "row": row,
                "ratio": ratio,
                "times": times,
                "alarm": threshold is not None and ratio is not None and Decimal(str(ratio)) > threshold,
                "sources": sources,
                "total": sum((fund or Decimal(0) for fund, _, _ in sources), Decimal(0)),
            }
        )
    return rows


def check_counts(checks: Iterable[dict[str, Any]]) -> list[tuple[tuple[str, str], dict[str, int]]]:
    """Passed, warned and failed checks by (suite, severity)."""
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for check in checks:
        bucket = counts.setdefault(
            (check["suite"], check["severity"]), {"passed": 0, "warned": 0, "failed": 0}
        )
        bucket[check["status"]] = bucket.get(check["status"], 0) + 1
    return sorted(counts.items())


# --- formatting (the templates' filters) --------------------------------------------------------


def _mu(value: Decimal | float | None, places: int = 1) -> str:
    return "—" if value is None else f"{value:,.{places}f}"


def _int(value: int | Decimal | None) -> str:
    return "—" if value is None else f"{int(value):,}"


def _pct(value: Decimal | float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def _month(value: date | None) -> str:
    return "—" if value is None else f"{value:%Y-%m}"


def _px(value: float) -> str:
    return f"{value:.1f}"


def _bar_width(pct: Decimal | float) -> float:
    return max(0.0, min(float(pct), 100.0))


# --- the pages ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """What every page says besides the data: when it was written, the zone times are shown in, and the
    latest run if it did not publish."""

    generated_at: datetime  # UTC
    zone: ZoneInfo
    failed: FailedRun | None = None
    # The per-project tables stop here: a page listing a province's 130,000 projects is 194 MB and takes
    # minutes to write, and nobody reads it; the exports hold every project.
    project_rows: int = SETTINGS["report"]["project_rows"].default


FAILED_STATUS_LABELS = {
    "checks_failed": ("检查未通过", "checks failed"),
    "warehouse_in_use": ("仓库被其他程序以读写方式占用", "the warehouse was held open read-write"),
    "error": ("出错", "error"),
    "interrupted": ("被中断", "interrupted"),
}


def _templates(zone: ZoneInfo) -> jinja2.Environment:
    """The report's templates, autoescaping every value; None prints as nothing; times in `zone`."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=lambda value: "" if value is None else value,
    )
    env.filters.update(
        mu=_mu, number=_int, pct=_pct, month=_month, px=_px, local=lambda moment: local_time(moment, zone)
    )
    env.globals.update(
        version=__version__,
        csp=REPORT_CSP,
        css=(ASSETS / "report.css").read_text(encoding="utf-8"),
        js=(ASSETS / "report.js").read_text(encoding="utf-8"),
        docs_folder=DOCS_FOLDER,
        alarm_ratio=WASTE_ROCK_ALARM_RATIO,
        stage_count=STAGE_COUNT,
        status_labels=STATUS_LABELS,
        check_status_labels=CHECK_STATUS_LABELS,
        flag_labels=FLAG_LABELS,
        risk_reasons=RISK_REASONS,
        bar_width=_bar_width,
        check_counts=check_counts,
        months_since_progress=months_since_progress,
        failed_status_labels=FAILED_STATUS_LABELS,
    )
    return env


RISK_REASONS = {
    "pace": ("进度不足", "behind pace", "bad"),
    "not_started": ("尚未开始治理", "not started", "warn"),
    "not_accepted": ("年度已过未验收", "plan year over, not accepted", "bad"),
}


def render_report(data: ReportData, page: Page) -> str:
    """The progress report page (report_templates/index.html.j2)."""
    return (
        _templates(page.zone)
        .get_template("index.html.j2")
        .render(
            data=data,
            page=page,
            chart=BurnupChart.of(data) if data.burnup else None,
            grid=submission_grid(data),
            projects=data.projects[: page.project_rows],
            funding=funding_rows(data.funding[: page.project_rows], data.waste_rock_median),
            alarms=data.waste_rock_alarms,
            patch_map=markupsafe.Markup(patch_map_svg(data.patches)),
        )
    )


def render_quality(data: ReportData, page: Page) -> str:
    """The expectation results page: every check of the latest run (report_templates/quality.html.j2)."""
    return _templates(page.zone).get_template("quality.html.j2").render(data=data, page=page)
