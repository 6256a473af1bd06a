"""Marts built by a chain of incremental nights equal, row for row, the marts of one full build of the
same landing zone: on the sample (restated months and late files included) and on a small generated
plan with its own figure contract. Real processes, real DuckDB files, real dbt and GX runs."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from datetime import date, datetime
from datetime import time as clock_time
from pathlib import Path

import duckdb

from regreen.project import BUNDLED_NOTICE, PROJECT_ROOT, DataDir
from regreen.publish import export_marts, open_read_only
from regreen.submissions.reference import PlanReference, ProjectRef, load_reference
from regreen.submissions.sample import write_sample

sys.path.insert(0, str(PROJECT_ROOT / "bench"))
import bench_nightly  # noqa: E402  (the bench's generator of province-sized plans and months)

# The sample's arrivals up to each of these days make one night each; the first night is a full build.
SAMPLE_NIGHTS = (date(2024, 3, 15), date(2024, 9, 15), date(2025, 2, 15))
GENERATED_PROJECTS = 40
GENERATED_NIGHTS = ((date(2023, 6, 1), date(2023, 9, 1)), (date(2023, 10, 1),), (date(2023, 11, 1),))


def regreen(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "regreen.cli", *args], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result


def night(data_dir: DataDir, notice: Path, *flags: str) -> str:
    """Ingest the inbox and build; the build's mode as it says it."""
    regreen("ingest", "--data-dir", str(data_dir.root), "--notice", str(notice))
    built = regreen("build", "--data-dir", str(data_dir.root), "--notice", str(notice), *flags)
    [(mode,)] = query(data_dir, "select build_mode from meta.build")
    assert "Traceback" not in built.stderr
    return mode


def query(data_dir: DataDir, sql: str) -> list[tuple]:
    with duckdb.connect(str(data_dir.warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def assert_same_marts(chained: DataDir, full: DataDir) -> None:
    """Every table of the marts and of the intermediate models (the incremental ones carry the previous
    month's figures) equal, row for row and column for column, in the two warehouses."""
    with duckdb.connect() as con:
        con.execute("attach ? as chained (read_only)", [str(chained.warehouse)])
        con.execute("attach ? as full_build (read_only)", [str(full.warehouse)])
        names = con.execute(
            "select table_schema, table_name from information_schema.tables where table_catalog = 'full_build' "
            "and table_schema in ('marts', 'intermediate') and table_type = 'BASE TABLE' order by 1, 2"
        ).fetchall()
        assert len(names) > 10 and {
            ("marts", "fct_project_month"),
            ("intermediate", "int_project_figures_carried"),
        } <= set(names)
        for schema, name in names:
            table = f'{schema}."{name}"'
            counts = [
                con.execute(f"select count(*) from {c}.{table}").fetchone()[0]
                for c in ("chained", "full_build")
            ]
            assert counts[0] == counts[1], f"{table}: {counts[0]} rows chained, {counts[1]} in full"
            for a, b in (("chained", "full_build"), ("full_build", "chained")):
                extra = con.execute(
                    f"select count(*) from (select * from {a}.{table} except all select * from {b}.{table})"
                ).fetchone()[0]
                assert extra == 0, f"{table}: {extra} rows in {a} not in {b}"


def rebuilt_in_full(chained: DataDir, root: Path, notice: Path) -> DataDir:
    full = DataDir(root / "full")
    shutil.copytree(chained.root, full.root)
    assert night(full, notice, "--full") == "full"
    return full


def generated_plan(tmp_path: Path, seed: int) -> tuple[DataDir, Path, PlanReference]:
    """A data directory for a generated plan of GENERATED_PROJECTS projects with its own figure contract."""
    data_dir = DataDir(tmp_path / "chained").ensure()
    notice = bench_nightly.synthetic_notice(
        tmp_path / "notice.txt", GENERATED_PROJECTS, seed=seed, contracts=data_dir.contracts
    )
    return data_dir, notice, load_reference(notice)


def test_a_chain_of_incremental_nights_on_the_sample_gives_the_marts_of_a_full_build(tmp_path: Path) -> None:
    data_dir = DataDir(tmp_path / "chained").ensure()
    reference = load_reference(BUNDLED_NOTICE)
    delivered: set[str] = set()
    modes = []
    for today in SAMPLE_NIGHTS:
        scratch = DataDir(tmp_path / f"sample-{today}").ensure()
        for path in write_sample(scratch, reference, seed=2023, today=today):
            if path.name not in delivered:
                shutil.copy2(path, data_dir.inbox / path.name)
                delivered.add(path.name)
        modes.append(night(data_dir, BUNDLED_NOTICE))
    assert modes == ["full"] + ["incremental"] * (len(SAMPLE_NIGHTS) - 1)
    # The chain carried restated months: more versions than project-months.
    [(versions, months)] = query(
        data_dir,
        "select (select count(*) from marts.fct_submission_versions), (select count(*) from marts.fct_project_month)",
    )
    assert versions > months > 0

    assert_same_marts(data_dir, rebuilt_in_full(data_dir, tmp_path, BUNDLED_NOTICE))


def test_a_chain_of_incremental_nights_on_a_generated_plan_gives_the_marts_of_a_full_build(
    tmp_path: Path,
) -> None:
    data_dir, notice, reference = generated_plan(tmp_path, seed=7)
    modes = []
    for months in GENERATED_NIGHTS:
        for month in months:
            bench_nightly.write_province_month(data_dir, reference, month)
        modes.append(night(data_dir, notice))
    assert modes == ["full", "incremental", "incremental"]
    # The generated plan publishes: its suites hold its own contract's figures.
    [(document, failed)] = query(
        data_dir,
        "select (select document_number from raw.plan_documents), (select count(*) from quality.check_results "
        "where status = 'failed' and run_id = (select run_id from meta.build))",
    )
    assert (document, failed) == (bench_nightly.BENCH_DOCUMENT_NUMBER, 0)

    assert_same_marts(data_dir, rebuilt_in_full(data_dir, tmp_path, notice))


def test_restated_skipped_blank_and_late_months_chain_to_the_marts_of_a_full_build(tmp_path: Path) -> None:
    """Nights of hand-made files on a generated plan, each case one that a model recomputing only the
    months new rows hold, or not carrying the month before a night's first one, gets wrong."""
    data_dir, notice, reference = generated_plan(tmp_path, seed=13)
    rng = random.Random(13)

    def reports(project: ProjectRef, month: date) -> bool:
        return bench_nightly.project_month(project, month, rng) is not None

    def month_files(month: date, left_out: ProjectRef | None = None, blank: ProjectRef | None = None) -> None:
        """Each township's file for `month`, with one project left out and one project's figures blank."""
        arrived = datetime.combine(bench_nightly.add_months(month, 1).replace(day=5), clock_time(9))
        for (township, _), entries in bench_nightly.township_months(reference, [month]).items():
            rows = [
                {**entry, "patches_done": None, "area_done_mu": None}
                if blank and entry["project_name"] == blank.name
                else entry
                for entry in entries
                if not left_out or entry["project_name"] != left_out.name
            ]
            name = f"{township}-{month:%Y-%m}-月度进展.csv"
            bench_nightly.write_township_file(data_dir.inbox / name, rows, arrived)

    # Projects reporting from the first month: by 2023-09 their figures are above zero and grow monthly.
    skipped, blank, restated = [p for p in reference.projects if reports(p, date(2023, 6, 1))][:3]
    newcomers = [
        p for p in reference.projects if reports(p, date(2023, 12, 1)) and not reports(p, date(2023, 11, 1))
    ]
    assert newcomers, "no project first reports on the second night"

    # Night 1, full: 2023-06 to 2023-11; `skipped` leaves out 2023-10, `blank` leaves 2023-11 blank.
    for month in (date(2023, m, 1) for m in range(6, 12)):
        month_files(
            month, left_out=skipped if month.month == 10 else None, blank=blank if month.month == 11 else None
        )
    modes = [night(data_dir, notice)]
    # Night 2: 2023-12, which `blank` compares with its last figures before its blank month; the
    # newcomers' first month.
    month_files(date(2023, 12, 1))
    modes.append(night(data_dir, notice))
    # Night 3: 2024-01; `skipped` sends its missing 2023-10 (a month before its latest); `restated` sends
    # 2023-09 again as its 2023-11 row with 5 mu more, above what it reported for 2023-10 (whose
    # increment and decrease flag change, though no new row is for that month); `blank` sends 2023-12
    # again blank, so that the month before tonight's first is blank as well as the one before it.
    month_files(date(2024, 1, 1))
    corrected = datetime.combine(date(2024, 2, 6), clock_time(10))
    later = bench_nightly.project_month(restated, date(2023, 11, 1), rng)
    assert later is not None
    restatement = {
        **later,
        "report_month": date(2023, 9, 1),
        "area_done_mu": later["area_done_mu"] + 5,
        "grassland_mu": later["grassland_mu"] + 5,
    }
    for project, entry in (
        (skipped, bench_nightly.project_month(skipped, date(2023, 10, 1), rng)),
        (restated, restatement),
        (
            blank,
            {
                **bench_nightly.project_month(blank, date(2023, 12, 1), rng),
                "patches_done": None,
                "area_done_mu": None,
            },
        ),
    ):
        name = f"{project.township_name}-{entry['report_month']:%Y-%m}-更正-{project.project_code}.csv"
        bench_nightly.write_township_file(data_dir.inbox / name, [entry], corrected)
    modes.append(night(data_dir, notice))
    assert modes == ["full", "incremental", "incremental"]

    assert query(data_dir, "select count(*) from raw.submission_files where status != 'accepted'") == [(0,)]
    facts = {
        (code, f"{month:%Y-%m}"): (area, increment, decreased, versions)
        for code, month, area, increment, decreased, versions in query(
            data_dir,
            "select project_code, report_month, area_done_mu, area_increment_mu, flag_area_decreased, "
            "version_count from marts.fct_project_month",
        )
    }
    # The cases happened: the restated month has two versions and the month after it decreased.
    assert facts[(restated.project_code, "2023-09")][0] == restatement["area_done_mu"]
    assert facts[(restated.project_code, "2023-09")][3] == 2
    assert facts[(restated.project_code, "2023-10")][2] is True
    assert facts[(restated.project_code, "2023-10")][1] < 0
    assert facts[(skipped.project_code, "2023-10")][3] == 1
    assert (
        facts[(blank.project_code, "2023-11")][0] is None
        and facts[(blank.project_code, "2023-12")][0] is None
    )
    # 2024-01 of `blank` counts from its 2023-10 figure, across its two blank months.
    assert facts[(blank.project_code, "2024-01")][1] == (
        facts[(blank.project_code, "2024-01")][0] - facts[(blank.project_code, "2023-10")][0]
    )
    assert all((p.project_code, "2023-12") in facts for p in newcomers)

    assert_same_marts(data_dir, rebuilt_in_full(data_dir, tmp_path, notice))


def export_files(data_dir: DataDir) -> dict[str, int]:
    """Every file of export/ but its manifest, by path within it: its inode."""
    root = data_dir.root / "export"
    return {
        str(path.relative_to(root)): path.stat().st_ino
        for path in root.rglob("*")
        if path.is_file() and path.name != "_run.json"
    }


def assert_same_exports(data_dir: DataDir, fresh: Path) -> None:
    """export/ holds what a fresh export of the published warehouse holds: the same files, the same rows."""
    published = data_dir.root / "export"
    assert sorted(export_files(data_dir)) == sorted(
        str(p.relative_to(fresh)) for p in fresh.rglob("*") if p.is_file() and p.name != "_run.json"
    )
    with duckdb.connect() as con:
        for name in export_files(data_dir):
            if name.endswith(".parquet"):
                for a, b in ((published, fresh), (fresh, published)):
                    extra = con.execute(
                        f"select count(*) from (select * from '{a / name}' except all select * from '{b / name}')"
                    ).fetchone()[0]
                    assert extra == 0, f"{name}: {extra} rows in {a} not in {b}"
            elif name.endswith(".csv"):
                lines = [(root / name).read_bytes().splitlines() for root in (published, fresh)]
                assert lines[0][0] == lines[1][0] and sorted(lines[0]) == sorted(lines[1]), name


def test_nights_rewrite_only_the_exports_that_changed_and_keep_the_file_near_a_full_builds_size(
    tmp_path: Path,
) -> None:
    data_dir, notice, reference = generated_plan(tmp_path, seed=11)
    months = [date(2023, 6, 1), date(2023, 7, 1), date(2023, 8, 1)]
    nights = [date(2023, 9, 1), date(2023, 10, 1), date(2023, 11, 1), date(2023, 12, 1)]
    for month in months:
        bench_nightly.write_province_month(data_dir, reference, month)
    assert night(data_dir, notice) == "full"
    before = export_files(data_dir)

    bench_nightly.write_province_month(data_dir, reference, nights[0])
    assert night(data_dir, notice) == "incremental"
    after = export_files(data_dir)
    # The plan's marts did not change: the same files (hard links, the same inode); the progress did.
    unchanged = ["dim_project.parquet", "csv/dim_project.csv", "fct_plan.parquet", "csv/fct_plan.csv"]
    changed = ["fct_project_month.parquet", "csv/fct_project_month.csv", "fct_submission_versions.parquet"]
    assert all(after[name] == before[name] for name in unchanged)
    assert all(after[name] != before[name] for name in changed)
    fresh = tmp_path / "fresh-export"
    with open_read_only(data_dir.warehouse) as con:
        export_marts(con, fresh, "fresh")
    assert_same_exports(data_dir, fresh)

    for month in nights[1:]:
        bench_nightly.write_province_month(data_dir, reference, month)
        assert night(data_dir, notice) == "incremental"
    full = rebuilt_in_full(data_dir, tmp_path, notice)
    assert data_dir.warehouse.stat().st_size <= 1.2 * full.warehouse.stat().st_size
    assert_same_marts(data_dir, full)
