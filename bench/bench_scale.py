"""Benchmark regreen at 1× and 10× (and, with --huge, 100×) the province-sized load, each against bare
DuckDB baselines measured in the same run.

For each size (1× = 1,300 generated projects reporting every month from a start between 2023-06 and
2024-05 to 2026-09; 10× = 13,000; 100× = 130,000), in a fresh data directory:

1. the generated notice (14 yearly tables, its own document number) and its figure contract, so that
   its plan suites hold its own figures and the build publishes;
2. every township's monthly file written to the inbox as CSV (UTF-8 with BOM, as the sample's), then
   DuckDB's own `read_csv` of the same files timed as the ingest baseline;
3. `regreen nightly` (real ingest, load, dbt, suites, publish), timed per stage by the nightly itself,
   peak memory from wait4's rusage of the nightly and its dbt child;
4. bare SQL: the two large facts (fct_submission_versions, fct_project_month, 30 and 32 columns) built
   by hand-written DuckDB SQL from the published warehouse's raw tables, timed and compared with the
   marts row for row (`except all` both ways), once with DuckDB's defaults and once with the settings
   dbt's DuckDB has in the nightly (its memory limit; "bare*"); printed against it: the whole dbt stage
   (which also builds ~45 small relations and runs ~250 tests) and dbt's own time on the nodes that
   build the same two facts (FACT_NODES), with the dbt build split into models, tests and dbt's time
   between nodes;
5. the suites again, as regreen runs them (pushed down, GX on bounded results) and as the same DuckDB
   queries without GX, each pass in a child process of its own (SQL, regreen, regreen, SQL), for the
   suites' ratio and the stage's peak memory;
6. the next month's files in the inbox and `regreen nightly` again: an incremental night; with
   `--nights N`, N such nights, one generated month each (the full night then lands N - 1 months fewer,
   so the last night brings the same month as with one), each printed with its wall, its ratio to the
   full night and its file size over the full build's; after them `regreen build --full` of the same
   landing zone, for the file size (and wall) of a full build of what the nights hold, with the bare SQL
   timed on the same raw tables just before and just after it: its dbt stage against the mean of the
   two (step 4 times the bare SQL once, after the night's suites and publish);
7. memory: each night's resident high-water mark per stage as the nightly records it (its own process
   and its dbt child), beside the whole run's through a launcher (`run_measured`), and `regreen report`
   alone on the full night's warehouse;
8. across the sizes: how each of those costs grows, as the exponent k in cost ∝ size^k between each two
   neighbouring sizes and from the smallest to the largest (`exponents`).

usage: .venv/bin/python bench/bench_scale.py [--sizes 1 10] [--huge] [--keep] [--nights N]
       (--huge adds 100×: ~4.5 M project-months, minutes and a few GB of disk; run it once)
Writes bench/results/scale-<UTC time>.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path

import duckdb
from bench_nightly import (
    PROVINCE_FIRST,
    PROVINCE_LAST,
    REGREEN,
    SEED,
    Measured,
    add_months,
    run_measured,
    run_nightly,
    scaling_exponent,
    scratch_root,
    synthetic_notice,
    write_province_month,
    write_results,
)

from regreen.config import load_config
from regreen.memory import limit_connection
from regreen.nightly import read_runs
from regreen.project import DataDir
from regreen.publish import open_read_only
from regreen.submissions.reference import load_reference

BASE_PROJECTS = 1300
YEARLY_TABLES = 14  # the generated plan's years at every size, so that only the number of projects grows

# fct_submission_versions and fct_project_month from the raw tables, as one would write them by hand.
BARE_SQL = """
create schema if not exists handmade;
create or replace table handmade.versions as
select
    r.project_code, r.report_month,
    row_number() over key_order as version_number,
    count(*) over (partition by r.project_code, r.report_month) as version_count,
    row_number() over key_order = count(*) over (partition by r.project_code, r.report_month) as is_current,
    r.township as township_name, r.project_name as project_name_as_written, r.file_id, r.sheet, r.row_number,
    f.original_name, f.submitted_at, f.is_sample,
    r.patches_done, cast(r.area_done_mu as decimal(14, 4)) as area_done_mu,
    cast(r.forest_mu as decimal(14, 4)) as forest_mu, cast(r.farmland_mu as decimal(14, 4)) as farmland_mu,
    cast(r.grassland_mu as decimal(14, 4)) as grassland_mu, r.stage,
    cast(r.invested_10k_yuan as decimal(14, 4)) as invested_10k_yuan,
    cast(r.fund_higher_level as decimal(14, 4)) as fund_higher_level,
    cast(r.fund_district as decimal(14, 4)) as fund_district,
    cast(r.fund_waste_rock as decimal(14, 4)) as fund_waste_rock,
    cast(r.fund_social as decimal(14, 4)) as fund_social,
    cast(r.waste_rock_10k_m3 as decimal(14, 4)) as waste_rock_10k_m3, r.supervisor, r.accepted_on,
    lag(r.file_id) over key_order as replaces_file_id, lag(f.original_name) over key_order as replaces_original_name,
    lag(f.submitted_at) over key_order as replaces_submitted_at
from raw.submission_rows as r
inner join raw.submission_files as f on r.file_id = f.file_id
window key_order as (partition by r.project_code, r.report_month order by f.submitted_at, r.file_id, r.row_number);

create or replace table handmade.project_months as
with current_rows as (
    select v.*, s.stage_rank, p.township_code, p.township_name as planned_township_name, p.plan_year,
        p.area_planned_mu
    from handmade.versions as v
    left join reference.stages as s on v.stage = s.stage
    left join marts.dim_project as p on v.project_code = p.project_code
    where v.is_current
),
with_previous as (
    select *,
        lag(patches_done ignore nulls) over history as previous_patches_done,
        lag(area_done_mu ignore nulls) over history as previous_area_done_mu,
        lag(stage_rank ignore nulls) over history as previous_stage_rank
    from current_rows
    window history as (partition by project_code order by report_month)
)
select
    project_code, report_month, township_code, planned_township_name as township_name, plan_year,
    patches_done, area_done_mu, forest_mu, farmland_mu, grassland_mu, stage, stage_rank, invested_10k_yuan,
    fund_higher_level, fund_district, fund_waste_rock, fund_social, waste_rock_10k_m3, supervisor, accepted_on,
    area_done_mu - coalesce(previous_area_done_mu, 0) as area_increment_mu,
    patches_done - coalesce(previous_patches_done, 0) as patches_increment,
    round(100.0 * area_done_mu / nullif(area_planned_mu, 0), 2) as pct_area_planned,
    version_count, file_id, sheet, row_number, is_sample,
    coalesce(area_done_mu < previous_area_done_mu, false) as flag_area_decreased,
    coalesce(patches_done < previous_patches_done, false) as flag_patches_decreased,
    coalesce(stage_rank < previous_stage_rank, false) as flag_stage_backwards,
    coalesce(area_done_mu > area_planned_mu, false) as flag_area_above_plan
from with_previous;
"""
BARE_PAIRS = (("versions", "fct_submission_versions"), ("project_months", "fct_project_month"))
# The dbt nodes that build the same two facts from the same raw tables (each fact versions or completes
# its rows itself, with no intermediate copy): their time in the nightly's dbt build against BARE_SQL's
# compares like with like (the whole stage also builds ~45 other relations and
# runs ~250 tests, whose fixed cost per node dominates at small sizes).
FACT_NODES = (
    "stg_submissions__rows",
    "stg_submissions__files",
    "fct_submission_versions",
    "fct_project_month",
)


@dataclass
class Night:
    """One incremental night of `--nights`: the nightly as measured, and the file it published."""

    measured: Measured
    file_mb: float


@dataclass
class SizeResult:
    size: int
    projects: int
    csv_rows: int
    csv_files: int
    read_csv_seconds: float
    full: Measured
    incremental: Measured
    full_file_mb: float
    incremental_file_mb: float
    bare_sql_seconds: float  # with DuckDB's defaults
    bare_sql_limited_seconds: float  # with the settings of dbt's DuckDB in the nightly (time_bare_sql)
    bare_equal: bool
    suites: dict[str, float] = field(default_factory=dict)
    nights: list[Night] = field(default_factory=list)
    rebuilt: Bracket | None = None  # `regreen build --full` of the landing the nights ended with
    report: dict[str, float] = field(default_factory=dict)  # `regreen report` alone: seconds, peak MiB

    @property
    def ingest_rows_per_second(self) -> float:
        return self.csv_rows / self.full.stage_seconds["ingest"]


def write_months(data_dir: DataDir, notice: Path, held_back: int = 0) -> int:
    """The generated months from PROVINCE_FIRST to PROVINCE_LAST but the last `held_back`, in the inbox."""
    reference = load_reference(notice)
    months = (PROVINCE_LAST.year - PROVINCE_FIRST.year) * 12 + PROVINCE_LAST.month - PROVINCE_FIRST.month + 1
    months -= held_back
    return sum(
        write_province_month(data_dir, reference, add_months(PROVINCE_FIRST, n)) for n in range(months)
    )


def time_read_csv(files: list[Path], scratch: Path) -> float:
    """DuckDB's own reading of the same CSV files into a table: the ingest baseline."""
    with duckdb.connect(str(scratch)) as con:
        started = time.perf_counter()
        con.execute(
            "create table rows as select * from read_csv(?, header = true)", [[str(f) for f in files]]
        )
        seconds = time.perf_counter() - started
    scratch.unlink()
    return seconds


def time_bare_sql(warehouse: Path, scratch: Path, memory_limit: str) -> tuple[float, float, bool]:
    """Seconds of BARE_SQL on a copy of the published warehouse with DuckDB's defaults and, run first,
    with the settings dbt's DuckDB has in the nightly (profiles.yml: `memory_limit`, [storage]
    memory_limit of regreen.toml; no insertion order kept), and whether its output equals the marts.

    Both, because the second took 1.5–1.8× as long at 100×: the facts' window and join fit in DuckDB's
    default memory (80 % of the machine's) and spill at the nightly's 512 MB, which bounds its peak.
    Also prints dbt's own time on FACT_NODES in the nightly that built `warehouse` (its run_results.json,
    in the data directory's work/dbt-target) beside the bare SQL's, and how the dbt stage splits into
    models, tests and dbt's own time between nodes."""
    shutil.copyfile(warehouse, scratch)
    with limit_connection(duckdb.connect(str(scratch)), memory_limit, ordered=False) as con:
        limited = _run_bare_sql(con)
    with duckdb.connect(str(scratch)) as con:
        seconds = _run_bare_sql(con)
        equal = all(
            con.execute(
                f"select count(*) from (select * from handmade.{bare} except all select * from marts.{mart}) "
                f"union all select count(*) from (select * from marts.{mart} except all select * from handmade.{bare})"
            ).fetchall()
            == [(0,), (0,)]
            for bare, mart in BARE_PAIRS
        )
    scratch.unlink()
    results = _dbt_results(DataDir(warehouse.parent))
    timed = [(r["unique_id"], r["execution_time"]) for r in results["results"]]
    tests = [t for node, t in timed if node.startswith("test.")]
    models = sum(t for node, t in timed) - sum(tests)
    facts = _facts_seconds(results)
    print(
        f"dbt on the two facts' nodes {facts:.1f} s against bare SQL {seconds:.1f} s: {facts / seconds:.1f}× "
        f"(with dbt's settings, memory_limit {memory_limit}: {limited:.1f} s, {facts / limited:.1f}×); "
        f"dbt build {results['elapsed_time']:.1f} s = models and seeds {models:.1f} s + {len(tests)} tests "
        f"{sum(tests):.1f} s + between nodes {results['elapsed_time'] - models - sum(tests):.1f} s",
        flush=True,
    )
    return seconds, limited, equal


def _run_bare_sql(con: duckdb.DuckDBPyConnection) -> float:
    started = time.perf_counter()
    con.execute(BARE_SQL)
    return time.perf_counter() - started


def _dbt_results(data_dir: DataDir) -> dict:
    """The run_results.json of the last dbt build in `data_dir`."""
    return json.loads((data_dir.work / "dbt-target" / "run_results.json").read_text())


def _facts_seconds(results: dict) -> float:
    """dbt's own seconds on FACT_NODES in a build's run_results.json."""
    return sum(
        r["execution_time"]
        for r in results["results"]
        if r["unique_id"].startswith("model.") and r["unique_id"].split(".")[-1] in FACT_NODES
    )


def time_hand_sql(warehouse: Path, scratch: Path) -> float:
    """Seconds of BARE_SQL with DuckDB's defaults on a copy of `warehouse`."""
    shutil.copyfile(warehouse, scratch)
    try:
        with duckdb.connect(str(scratch)) as con:
            return _run_bare_sql(con)
    finally:
        scratch.unlink()


@dataclass
class Bracket:
    """`regreen build --full` of the landing the nights ended with, the hand SQL timed on the same raw
    tables just before it and just after it: the dbt stage against the mean of the two.

    Step 4 times the hand SQL once, after the full night's suites and publish: a slow stretch of the
    shared machine can fall on the night's dbt stage and not on that one run, or the other way round.
    Here the build sits between two timings of the hand SQL, and their spread shows how much the machine
    moved meanwhile."""

    hand_before: float
    hand_after: float
    dbt_seconds: float  # the build's dbt stage, as its run record has it
    facts_seconds: float  # dbt's own time on FACT_NODES in that build
    build_seconds: float  # the whole `regreen build --full`
    file_mb: float

    @property
    def hand_mean(self) -> float:
        return (self.hand_before + self.hand_after) / 2


def time_bracketed_build(data_dir: DataDir, notice: Path, scratch: Path) -> Bracket:
    """The hand SQL on the published warehouse, `regreen build --full`, the hand SQL on what it built."""
    before = time_hand_sql(data_dir.warehouse, scratch)
    build_seconds, built = rebuild_in_full(data_dir, notice)
    after = time_hand_sql(built, scratch)
    record = read_runs(data_dir)[-1]
    return Bracket(
        hand_before=round(before, 2),
        hand_after=round(after, 2),
        dbt_seconds=round(record.stage_seconds["dbt"], 2),
        facts_seconds=round(_facts_seconds(_dbt_results(data_dir)), 2),
        build_seconds=build_seconds,
        file_mb=round(built.stat().st_size / 2**20, 1),
    )


def time_suites(warehouse: Path) -> dict[str, float]:
    """The suites as regreen runs them (GX on DuckDB's bounded results) against the same checks as plain
    SQL: exactly the DuckDB queries regreen runs (`evaluate_suite`), without GX. Each pass runs in a child
    process of its own, on a fresh connection with the configured memory limit, in the order SQL, regreen,
    regreen, SQL so that a drift in the shared machine's load falls on both alike; the seconds are the
    means, the peak memory the larger of the regreen children's (the suite stage's)."""
    runs: dict[str, list[dict[str, float]]] = {"sql": [], "regreen": []}
    started = time.perf_counter()
    for kind in ("sql", "regreen", "regreen", "sql"):
        with tempfile.TemporaryFile("w+", encoding="utf-8") as out:
            code, peak_mb = run_measured(
                [sys.executable, __file__, "--suites-child", kind, str(warehouse)], stdout=out
            )
            assert code == 0, f"the suites child ({kind}) failed"
            out.seek(0)
            runs[kind].append({**json.loads(out.read()), "peak_mb": peak_mb})
    return {
        "sql_seconds": round(sum(r["seconds"] for r in runs["sql"]) / 2, 2),
        "regreen_seconds": round(sum(r["seconds"] for r in runs["regreen"]) / 2, 2),
        "sql_cpu_seconds": round(sum(r["cpu_seconds"] for r in runs["sql"]) / 2, 2),
        "regreen_cpu_seconds": round(sum(r["cpu_seconds"] for r in runs["regreen"]) / 2, 2),
        "peak_mb": round(max(r["peak_mb"] for r in runs["regreen"]), 1),
        "sql_peak_mb": round(max(r["peak_mb"] for r in runs["sql"]), 1),
        "failed_checks": max(r["failed"] for r in runs["regreen"]),
        "child_wall": round(time.perf_counter() - started, 2),
    }


def suites_child(kind: str, warehouse: Path) -> None:
    """One pass over the suites on `warehouse` (`kind` 'regreen' or 'sql'); prints its seconds as JSON."""
    from regreen.project import CONTRACTS_DIR
    from regreen.quality import evaluate_suite, find_contract, load_suites, run_suites

    data_dir = DataDir(warehouse.parent)
    with open_read_only(warehouse) as con:
        (document_number,) = con.execute("select document_number from raw.plan_documents").fetchone()
        # Loading the suites imports GX, before the timing (the nightly imports it while dbt runs).
        suites = load_suites(contract=find_contract(document_number, [data_dir.contracts, CONTRACTS_DIR]))
        limit = load_config(data_dir.root).get("quality", "suite_memory_limit")
        # spilled as the nightly's file-backed connection spills: beside the database, not in the cwd
        con.execute("set temp_directory = ?", [f"{warehouse}.tmp"])
        con.execute("set memory_limit = ?", [limit])
        started, cpu, failed = time.perf_counter(), time.process_time(), 0
        if kind == "regreen":
            failed = sum(
                r.status == "failed" for r in run_suites(con, "bench", suites=suites, memory_limit=limit)
            )
        else:
            for suite in suites:
                evaluate_suite(con, suite)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    # A failed row-level check costs a second pass over its suite's rows: the figures say whether any did.
    print(json.dumps({"seconds": round(seconds, 2), "cpu_seconds": round(cpu_seconds, 2), "failed": failed}))


def time_report(data_dir: DataDir) -> dict[str, float]:
    """`regreen report` on the published warehouse in a process of its own: the nightly's last step (it
    refreshes the report after its run record is written, so the record has no peak for it)."""
    started = time.perf_counter()
    code, peak_mb = run_measured(
        [str(REGREEN), "report", "--data-dir", str(data_dir.root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert code == 0, "regreen report failed"
    return {"seconds": round(time.perf_counter() - started, 2), "peak_mb": round(peak_mb, 1)}


def rebuild_in_full(data_dir: DataDir, notice: Path) -> tuple[float, Path]:
    """Seconds of `regreen build --full` (same landing zone, a fresh file) and the file it built: the
    published warehouse, or the build it kept when a check failed."""
    started = time.perf_counter()
    built = subprocess.run(
        [str(REGREEN), "build", "--full", "--data-dir", str(data_dir.root), "--notice", str(notice)],
        capture_output=True,
        check=False,
    )
    seconds = round(time.perf_counter() - started, 2)
    if built.returncode == 0:
        return seconds, data_dir.warehouse
    return seconds, max(data_dir.work.glob("failed-*.duckdb"), key=lambda p: p.stat().st_mtime)


def measure(root: Path, size: int, nights: int = 1) -> SizeResult:
    projects = BASE_PROJECTS * size
    data_dir = DataDir(root / f"{size}x").ensure()
    notice = synthetic_notice(
        root / f"notice-{size}x.txt",
        projects,
        seed=SEED,
        contracts=data_dir.contracts,
        per_table=-(-projects // YEARLY_TABLES),
    )
    rows = write_months(data_dir, notice, held_back=nights - 1)
    files = sorted(data_dir.inbox.glob("*.csv"))
    read_csv = time_read_csv(files, root / "read_csv.duckdb")
    full = run_nightly(f"{size}x full", data_dir, notice)
    full_mb = data_dir.warehouse.stat().st_size / 2**20
    memory_limit = load_config(data_dir.root).get("storage", "memory_limit")
    bare, bare_limited, equal = time_bare_sql(data_dir.warehouse, root / "bare.duckdb", memory_limit)
    suites = time_suites(data_dir.warehouse)
    report = time_report(data_dir)
    measured = []
    for night in range(1, nights + 1):
        month = add_months(PROVINCE_LAST, night + 1 - nights)
        write_province_month(data_dir, load_reference(notice), month)
        measured.append(
            Night(
                run_nightly(f"{size}x incremental {night}", data_dir, notice),
                round(data_dir.warehouse.stat().st_size / 2**20, 1),
            )
        )
    result = SizeResult(
        size=size,
        projects=projects,
        csv_rows=rows,
        csv_files=len(files),
        read_csv_seconds=round(read_csv, 2),
        full=full,
        incremental=measured[0].measured,
        full_file_mb=round(full_mb, 1),
        incremental_file_mb=measured[0].file_mb,
        bare_sql_seconds=round(bare, 2),
        bare_sql_limited_seconds=round(bare_limited, 2),
        bare_equal=equal,
        suites=suites,
        nights=measured,
        report=report,
    )
    result.rebuilt = time_bracketed_build(data_dir, notice, root / "bare.duckdb")
    return result


def render_nights(results: list[SizeResult]) -> str:
    """Each incremental night of `--nights`: wall, its ratio to the full night, the file over the full's."""
    header = f"{'size':>5}{'night':>6}{'mode':>12}{'exit':>5}{'wall s':>8}{'incr/full':>10}{'file MB':>8}{'/full':>7}"
    lines = [header, "-" * len(header)]
    for r in results:
        for number, night in enumerate(r.nights, start=1):
            m = night.measured
            lines.append(
                f"{r.size:>4}×{number:>6}{m.build_mode:>12}{m.exit_code:>5}{m.wall_seconds:>8.1f}"
                f"{m.wall_seconds / r.full.wall_seconds:>10.2f}{night.file_mb:>8.0f}"
                f"{night.file_mb / r.full_file_mb:>7.2f}"
            )
        if r.rebuilt:
            lines.append(
                f"{r.size:>4}× after {len(r.nights)} night{'s' if len(r.nights) > 1 else ''}: a full build "
                f"of the same landing takes {r.rebuilt.build_seconds:.1f} s and {r.rebuilt.file_mb:.0f} MB; "
                f"the last night's file is {r.nights[-1].file_mb / r.rebuilt.file_mb:.2f}× that, its wall "
                f"{r.nights[-1].measured.wall_seconds / r.rebuilt.build_seconds:.2f}× that"
            )
    return "\n".join(lines)


PEAK_STAGES = ("ingest", "load", "dbt", "dbt_child", "expectations", "compact", "publish")


def render_peaks(results: list[SizeResult]) -> str:
    """Each night's resident high-water mark per stage, MiB, as the nightly records it (its own process;
    dbt_child: its dbt child), the whole run's through the launcher, and `regreen report` alone."""
    header = f"{'size':>5}{'night':>14}{'wall s':>8}" + "".join(f"{stage:>13}" for stage in PEAK_STAGES)
    header += f"{'whole run':>10}{'report':>8}"
    lines = [header, "-" * len(header)]
    for r in results:
        for number, m in enumerate([r.full, *(n.measured for n in r.nights)]):
            cells = "".join(
                f"{m.stage_peak_mb[stage]:>13.0f}" if stage in m.stage_peak_mb else f"{'—':>13}"
                for stage in PEAK_STAGES
            )
            report = f"{r.report['peak_mb']:>8.0f}" if number == 0 and r.report else f"{'':>8}"
            name = "full" if number == 0 else f"incremental {number}"
            lines.append(f"{r.size:>4}×{name:>14}{m.wall_seconds:>8.1f}{cells}{m.peak_rss_mb:>10.0f}{report}")
    return "\n".join(lines)


def render(results: list[SizeResult]) -> str:
    header = (
        f"{'size':>5}{'proj-mo':>10}{'exit':>6}{'full s':>8}{'incr s':>8}{'incr/full':>10}{'ingest s':>9}"
        f"{'rows/s':>9}{'vs read_csv':>12}{'load s':>7}{'dbt s':>7}{'bare s':>7}{'dbt/bare':>9}{'bare* s':>8}"
        f"{'dbt/bare*':>10}"
        f"{'suites s':>9}{'SQL s':>7}{'ratio':>6}{'suite MB':>9}{'publish s':>10}{'peak MB':>8}{'file MB':>8}"
        f"{'after incr':>11}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        f, i, s = r.full, r.incremental, r.suites
        ingest = f.stage_seconds["ingest"]
        lines.append(
            f"{r.size:>4}×{f.project_months:>10}{f'{f.exit_code}/{i.exit_code}':>6}{f.wall_seconds:>8.1f}"
            f"{i.wall_seconds:>8.1f}{i.wall_seconds / f.wall_seconds:>10.2f}{ingest:>9.1f}"
            f"{r.ingest_rows_per_second:>9.0f}{r.read_csv_seconds / ingest:>11.2f}×{f.stage_seconds['load']:>7.1f}"
            f"{f.stage_seconds['dbt']:>7.1f}{r.bare_sql_seconds:>7.1f}{f.stage_seconds['dbt'] / r.bare_sql_seconds:>8.1f}×"
            f"{r.bare_sql_limited_seconds:>8.1f}{f.stage_seconds['dbt'] / r.bare_sql_limited_seconds:>9.1f}×"
            f"{s['regreen_seconds']:>9.1f}{s['sql_seconds']:>7.1f}{s['regreen_seconds'] / s['sql_seconds']:>5.1f}×"
            f"{s['peak_mb']:>9.0f}{f.stage_seconds['publish']:>10.1f}{f.peak_rss_mb:>8.0f}{r.full_file_mb:>8.0f}"
            f"{r.incremental_file_mb:>11.0f}"
        )
    lines.append(
        "bare SQL output equal to the marts: " + ", ".join(f"{r.size}×: {r.bare_equal}" for r in results)
    )
    lines.append("bare*: the same bare SQL with the settings of dbt's DuckDB in the nightly (memory_limit)")
    for r in results:
        if r.rebuilt:
            b = r.rebuilt
            lines.append(
                f"{r.size}×, `regreen build --full` between two runs of the bare SQL: dbt stage {b.dbt_seconds:.1f} s "
                f"against bare SQL {b.hand_before:.1f} s before it and {b.hand_after:.1f} s after it: "
                f"{b.dbt_seconds / b.hand_mean:.1f}× their mean; the facts' nodes {b.facts_seconds:.1f} s, "
                f"{b.facts_seconds / b.hand_mean:.1f}×"
            )
    return "\n".join(lines)


def _costs(r: SizeResult) -> dict[str, tuple[float, float]]:
    """What exponents() compares between sizes: each cost with the size it is in proportion to
    (project-months for what the warehouse builds and holds, CSV rows for what reads the files)."""
    f, months = r.full, r.full.project_months
    costs = {"full night, wall s": (months, f.wall_seconds)}
    for stage, seconds in f.stage_seconds.items():
        costs[f"  its {stage} s"] = (r.csv_rows if stage == "ingest" else months, seconds)
    costs["DuckDB read_csv of the files s"] = (r.csv_rows, r.read_csv_seconds)
    if r.rebuilt:
        costs["full build's dbt stage s"] = (months, r.rebuilt.dbt_seconds)
        costs["  dbt on the two facts' nodes s"] = (months, r.rebuilt.facts_seconds)
        costs["hand SQL of the two facts s"] = (months, r.rebuilt.hand_mean)
    costs["suites, as regreen runs them s"] = (months, r.suites["regreen_seconds"])
    costs["the suites' queries alone s"] = (months, r.suites["sql_seconds"])
    costs["first incremental night, wall s"] = (months, r.incremental.wall_seconds)
    costs["nightly's peak MB"] = (months, f.peak_rss_mb)
    costs["published file MB"] = (months, r.full_file_mb)
    return costs


def exponents(results: list[SizeResult]) -> dict[str, dict[str, float | None]]:
    """How each cost grows from one size to the next (and from the smallest to the largest), as k in
    cost ∝ size^k (scaling_exponent), by cost and by pair of sizes ("1×→10×"); None where one of the two
    was not measured (a stage a night did not run, or too short to time)."""
    ordered = sorted(results, key=lambda r: r.size)
    pairs = list(pairwise(ordered))
    if not pairs:
        return {}
    if len(ordered) > 2:
        pairs.append((ordered[0], ordered[-1]))
    costs = {r.size: _costs(r) for r in ordered}
    table: dict[str, dict[str, float | None]] = {}
    for name in costs[ordered[0].size]:
        table[name] = {}
        for a, b in pairs:
            small, large = costs[a.size].get(name), costs[b.size].get(name)
            measured = small and large and small[1] > 0 and large[1] > 0
            table[name][f"{a.size}×→{b.size}×"] = (
                round(scaling_exponent(*small, *large), 3) if measured else None
            )
    return table


def render_exponents(table: dict[str, dict[str, float | None]]) -> str:
    """exponents() as a table: the issue's quadratic ingest was k ≈ 2; linear is 1; under 1, fixed costs
    still shrinking a row."""
    if not table:
        return ""
    pairs = next(iter(table.values()))
    header = f"{'exponent k (cost ∝ size^k)':<34}" + "".join(f"{pair:>12}" for pair in pairs)
    lines = [header, "-" * len(header)]
    for name, row in table.items():
        lines.append(f"{name:<34}" + "".join(f"{'—' if k is None else f'{k:.2f}':>12}" for k in row.values()))
    return "\n".join(lines)


def sizes_to_run(sizes: list[int], huge: bool) -> list[int]:
    """Each size once, smallest first: each size's data directory is `<size>x`, and a size measured twice
    would find its files received already (a nightly with nothing to do, after the whole first pass)."""
    return sorted({*sizes, *([100] if huge else [])})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10], help="multiples of 1,300 projects")
    parser.add_argument("--huge", action="store_true", help="add 100× (130,000 projects)")
    parser.add_argument("--keep", action="store_true", help="keep the data directories (printed)")
    parser.add_argument(
        "--nights", type=int, default=1, help="incremental nights after the full one, one month each"
    )
    parser.add_argument("--suites-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.suites_child:
        suites_child(args.suites_child[0], Path(args.suites_child[1]))
        return
    if args.nights < 1:
        parser.error("--nights must be at least 1")
    if min(args.sizes) < 1:
        parser.error("--sizes must be at least 1")
    sizes = sizes_to_run(args.sizes, args.huge)
    with scratch_root("regreen-bench-scale-", keep=args.keep) as root:
        results = [measure(root, size, args.nights) for size in sizes]
    print(render(results))
    print(render_nights(results))
    print(render_peaks(results))
    scaling = exponents(results)
    print(render_exponents(scaling))
    write_results(
        "scale",
        {
            "results": [
                {**asdict(r), "ingest_rows_per_second": round(r.ingest_rows_per_second)} for r in results
            ],
            "exponents": scaling,
        },
    )


if __name__ == "__main__":
    main()
