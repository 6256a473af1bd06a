"""Benchmark `regreen nightly`: wall time, peak memory and each stage's share, full and incremental.

Four scenarios, each a real `regreen nightly` process on its own data directory:

- sample, full: the bundled notice and the sample inbox up to 2026-10;
- sample, incremental: the same directory once the sample's 2026-11 files arrive (the nightly builds on
  a copy of the warehouse the first run published, rebuilding only what the new rows touch);
- province, full: a generated notice of 1,300 projects (the same townships and villages), each reporting
  every month from a start between 2023-06 and 2024-05 to 2026-09: ~45,000 project-months, written
  straight into the landing database (one file per township and month, as ingest would have landed them);
- province, incremental: the four townships' 2026-10 files (~1,300 rows) put in the inbox as CSV, taken
  through the real ingest.

Peak memory is the largest resident set of the nightly and its dbt child (from wait4's rusage, through a
launcher: `run_measured`). The stage seconds and each stage's resident high-water mark are the ones the
nightly records itself (`meta.runs.stage_seconds`, `stage_peak_mb`).

The generated plan's projects are spread over yearly tables of at most 99 (2023, 2024, …), under its
own document number (BENCH_DOCUMENT_NUMBER) with its own figure contract in the data directory's
contracts/, so its plan suites hold its own figures and the province runs publish. Should a run not
publish, its publish stage is timed by running the nightly's own publish step (`publish_build`) on the
kept build, marked `publish*` in the table.

usage: .venv/bin/python bench/bench_nightly.py [--quick] [--keep]
       (--quick: 130 projects instead of 1,300; --keep: keep the data directories)
Writes bench/results/nightly-<UTC time>.json and prints a table.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from datetime import time as clock_time
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from regreen.build import working_database
from regreen.nightly import STAGES, RunRecord, StageClock, publish_build
from regreen.project import BUNDLED_NOTICE, SEEDS_DIR, DataDir
from regreen.publish import open_read_only
from regreen.submissions.columns import COLUMNS, SUPERVISED_FROM
from regreen.submissions.columns import STAGES as SUBMISSION_STAGES
from regreen.submissions.landing import ensure_landing
from regreen.submissions.reference import PlanReference, ProjectRef, load_reference
from regreen.submissions.sample import SAMPLE_NOTE, write_sample

REGREEN = Path(sys.executable).with_name("regreen")
RESULTS = Path(__file__).resolve().parent / "results"
BASE_TODAY = date(2026, 10, 15)
NEXT_TODAY = date(2026, 11, 15)
PROVINCE_FIRST = date(2023, 6, 1)
PROVINCE_LAST = date(2026, 9, 1)  # the landing holds up to here; the incremental run brings the next month
SEED = 2023
CENT = Decimal("0.01")
# Shares of the investment from higher-level funds, the district and waste-rock sales; the rest is social.
FUND_SHARES = (Decimal("0.4"), Decimal("0.3"), Decimal("0.2"))
PER_TABLE = 99  # projects in one yearly table at most (see the module docstring)


@dataclass
class Measured:
    scenario: str
    build_mode: str
    exit_code: int
    wall_seconds: float
    peak_rss_mb: float
    files_received: int
    rows_loaded: int
    project_months: int
    stage_seconds: dict[str, float]
    publish_timed_separately: bool = False
    notes: list[str] = field(default_factory=list)
    # The nightly's own resident high-water mark per stage and its dbt child's (meta.runs.stage_peak_mb).
    stage_peak_mb: dict[str, float] = field(default_factory=dict)


def chinese_numeral(number: int) -> str:
    """1 → 一, 11 → 十一, 23 → 二十三 (for the 「（一）2023 年度计划」 headings; up to 99)."""
    digits = "零一二三四五六七八九"
    tens, ones = divmod(number, 10)
    if not tens:
        return digits[ones]
    return (digits[tens] if tens > 1 else "") + "十" + (digits[ones] if ones else "")


BENCH_DOCUMENT_NUMBER = (
    "台区基准〔2026〕1号"  # the generated notice's own number, so its own contract applies
)


def synthetic_notice(
    path: Path, projects: int, seed: int, contracts: Path | None = None, per_table: int = PER_TABLE
) -> Path:
    """The bundled notice with its three yearly tables replaced by `projects` generated ones, under its
    own document number; its figure contract (what the plan suites hold it to) goes into `contracts`."""
    rng = random.Random(seed)
    villages: dict[str, list[str]] = {}
    with (SEEDS_DIR / "villages.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            villages.setdefault(row["township_name"], []).append(row["village_name"])
    original = BUNDLED_NOTICE.read_text(encoding="utf-8")
    head = original[: original.index("（一）2023 年度计划")]
    head = head.replace("泉台管办〔2023〕36号", BENCH_DOCUMENT_NUMBER).replace(
        "初步划定 14 个", f"初步划定 {projects} 个"
    )
    tail = original[original.index("四、保障措施") :]
    tables = -(-projects // per_table)
    sections = []
    years: dict[str, dict[str, int]] = {}
    for index in range(tables):
        year = 2023 + index
        rows = []
        for seq in range(1, projects // tables + (index < projects % tables) + 1):
            township = rng.choice(sorted(villages))
            name = f"{township}{rng.choice(villages[township])}{year}年第{seq}号废弃矿山生态治理项目"
            rows.append((name, rng.randint(1, 30), rng.randint(10, 600)))
        patches, area = sum(r[1] for r in rows), sum(r[2] for r in rows)
        years[str(year)] = {"projects": len(rows), "patches": patches, "area_mu": area}
        lines = [
            f"（{chinese_numeral(index + 1)}）{year} 年度计划",
            "",
            f"共 {len(rows)} 个治理项目，涉及图斑 {patches} 个，治理面积 {area} 亩。",
            "",
            "序号\t项目名称\t涉及图斑(个)\t面积(亩)",
            *(f"{seq}\t{name}\t{p}\t{a}" for seq, (name, p, a) in enumerate(rows, start=1)),
            f"合计\t\t{patches}\t{area}",
            "",
            "",
        ]
        sections.append("\n".join(lines))
    path.write_text(head + "".join(sections) + tail, encoding="utf-8")
    if contracts is not None:
        figures = {
            "plan_years": [int(year) for year in years],
            "townships": sorted(villages),
            "years": years,
            **{
                measure: sum(y[measure] for y in years.values())
                for measure in ("projects", "patches", "area_mu")
            },
            "task_area_mu": 3000,
            "declared_totals": [
                *(f"{year} total_row {m}" for year in years for m in ("patches", "area_mu")),
                *(f"{year} sentence {m}" for year in years for m in ("projects", "patches", "area_mu")),
                "all task task_area_mu",
                "all sentence projects",
            ],
        }
        contract = {
            "document_number": BENCH_DOCUMENT_NUMBER,
            "description": "the bench's generated plan",
            "figures": figures,
        }
        contracts.mkdir(parents=True, exist_ok=True)
        (contracts / "bench.json").write_text(
            json.dumps(contract, ensure_ascii=False, indent=2), encoding="utf-8"
        )
    return path


def next_month_files(notice: Path, known: set[str], scratch: Path) -> list[Path]:
    """The sample files that arrive between BASE_TODAY and NEXT_TODAY (names not in `known`)."""
    later = write_sample(DataDir(scratch).ensure(), load_reference(notice), seed=SEED, today=NEXT_TODAY)
    return [path for path in later if path.name not in known]


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def project_month(project: ProjectRef, month: date, rng: random.Random) -> dict[str, object] | None:
    """What `project` reports for `month`: design, review, issue, 8-20 months of works, completion, acceptance."""
    start = add_months(PROVINCE_FIRST, project.seq % 12)
    age = (month.year - start.year) * 12 + month.month - start.month
    if age < 0:
        return None
    works = 8 + int(project.project_code.rsplit("-", 1)[1]) % 13  # the same for every month of a project
    if age < 3:
        stage = age  # 方案编制, 方案评审, 已下达
    elif age < 3 + works:
        stage = 3  # 施工中
    else:
        stage = 4 if age < 5 + works else 5  # 已完工, then 已验收
    done = Decimal(min(max(age - 2, 0), works)) / works
    area = (project.area_planned_mu * done).quantize(CENT)
    forest, farmland = (area * Decimal("0.5")).quantize(CENT), (area * Decimal("0.3")).quantize(CENT)
    invested = (area * Decimal("2.5")).quantize(CENT)
    higher, district, waste = ((invested * share).quantize(CENT) for share in FUND_SHARES)
    return {
        "report_month": month,
        "township": project.township_name,
        "project_name": project.name,
        "patches_done": round(project.patches_planned * float(done)),
        "area_done_mu": area,
        "forest_mu": forest,
        "farmland_mu": farmland,
        "grassland_mu": area - forest - farmland,
        "stage": SUBMISSION_STAGES[stage],
        "invested_10k_yuan": invested,
        "fund_higher_level": higher,
        "fund_district": district,
        "fund_waste_rock": waste,
        "fund_social": invested - higher - district - waste,
        "waste_rock_10k_m3": (area * Decimal("0.8")).quantize(CENT),
        "supervisor": "泉州示例建设监理有限公司" if stage >= SUPERVISED_FROM else None,
        "accepted_on": add_months(start, 5 + works).replace(day=20) if stage == 5 else None,
        "notes": SAMPLE_NOTE,
        "reporter": f"示例填报人{rng.randint(1, 9)}",
        "phone": "000-0000-0000",
    }


def township_months(reference: PlanReference, months: list[date]) -> dict[tuple[str, date], list[dict]]:
    """Every project's row for each month, grouped as the townships send them: one file per month."""
    rng = random.Random(SEED)
    files: dict[tuple[str, date], list[dict]] = {}
    for month in months:
        for project in reference.projects:
            row = project_month(project, month, rng)
            if row is not None:
                files.setdefault((project.township_name, month), []).append(row)
    return files


def land_province(data_dir: DataDir, reference: PlanReference) -> int:
    """Write PROVINCE_FIRST..PROVINCE_LAST into the landing database as ingest would have; rows written."""
    count = (PROVINCE_LAST.year - PROVINCE_FIRST.year) * 12 + PROVINCE_LAST.month - PROVINCE_FIRST.month + 1
    files = township_months(reference, [add_months(PROVINCE_FIRST, n) for n in range(count)])
    codes = {project.name: project.project_code for project in reference.projects}
    file_rows, rows = [], []
    for file_id, ((township, month), entries) in enumerate(sorted(files.items()), start=1):
        arrived = datetime.combine(add_months(month, 1).replace(day=5), clock_time(9))
        sha256 = hashlib.sha256(f"{township}{month}".encode()).hexdigest()
        file_rows.append(
            [sha256, f"{township}-{month:%Y-%m}.csv", f"archive/{sha256}.csv", 1000 * len(entries), arrived]
            + [arrived, "accepted", None, len(entries), len(entries), 0, 0, 0, None, True, "bench"]
        )
        for number, entry in enumerate(entries, start=2):
            rows.append(
                {
                    "file_id": file_id,
                    "sheet": None,
                    "row_number": number,
                    **entry,
                    "project_code": codes[entry["project_name"]],
                }
            )
    with duckdb.connect(str(data_dir.landing)) as con:
        ensure_landing(con)
        # A fresh landing: the sequence numbers the files 1, 2, … in the order of file_rows.
        con.executemany(
            f"insert into raw.submission_files values (nextval('raw.file_id_seq'), {', '.join('?' * 16)})",
            file_rows,
        )
        con.execute(
            "insert into raw.submission_receipts select nextval('raw.receipt_id_seq'), file_id, original_name, "
            "submitted_at, ingested_at, 'new', 'bench' from raw.submission_files order by file_id"
        )
        frame = pd.DataFrame(rows)
        con.register("rows_frame", frame)
        con.execute("insert into raw.submission_rows by name select * from rows_frame")
        assert con.execute("select max(file_id) from raw.submission_files").fetchone() == (len(file_rows),)
    return len(rows)


def write_province_month(data_dir: DataDir, reference: PlanReference, month: date) -> int:
    """The townships' files for `month`, as CSV in the inbox (UTF-8 with BOM, like the sample's)."""
    written = 0
    for (township, _), entries in township_months(reference, [month]).items():
        arrived = datetime.combine(add_months(month, 1).replace(day=5), clock_time(9))
        write_township_file(data_dir.inbox / f"{township}-{month:%Y-%m}-月度进展.csv", entries, arrived)
        written += len(entries)
    return written


def write_township_file(path: Path, entries: list[dict], arrived: datetime) -> None:
    """`entries` (project_month's rows; a None figure is left blank) as a township's CSV file (UTF-8 with
    BOM, like the sample's) that arrived at `arrived` (its modification time)."""
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        out = csv.writer(handle)
        out.writerow([column.header for column in COLUMNS])
        for entry in entries:
            out.writerow(
                [
                    f"{entry['report_month']:%Y-%m}"
                    if column.key == "report_month"
                    else entry.get(column.key, "")  # 已完成图斑编号 is optional: left blank
                    for column in COLUMNS
                ]
            )
    os.utime(path, (arrived.timestamp(), arrived.timestamp()))


# Linux carries a parent's resident high-water mark into a child it forks (through exec), so a child of a
# bench that holds gigabytes (DuckDB after a baseline) reports them as its own peak. A small launcher
# process starts the measured one and reports its wait4 rusage: the launcher's memory is all it inherits.
_LAUNCHER = (
    "import os, subprocess, sys; child = subprocess.Popen(sys.argv[2:]); _, status, usage = os.wait4(child.pid, 0); "
    "os.write(int(sys.argv[1]), f'{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}'.encode())"
)


def run_measured(args: list[str], **popen: Any) -> tuple[int, float]:
    """Run `args` (Popen keywords as given: stdout, stderr…) to its end; its exit code and peak resident
    memory in MiB, its own and its children's (wait4's rusage), whatever this process holds."""
    read, write = os.pipe()
    try:
        launcher = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, str(write), *args], pass_fds=[write], **popen
        )
        os.close(write)
        write = -1
        launcher.wait()
        code, kib = os.read(read, 100).decode().split()
    finally:
        os.close(read)
        if write >= 0:
            os.close(write)
    return int(code), int(kib) / 1024  # Linux reports kilobytes


def run_nightly(scenario: str, data_dir: DataDir, notice: Path) -> Measured:
    log = data_dir.root / f"bench-{scenario.replace(' ', '-')}.log"
    with log.open("w", encoding="utf-8") as stderr, tempfile.TemporaryFile("w+", encoding="utf-8") as stdout:
        started = time.perf_counter()
        exit_code, peak_mb = run_measured(
            [str(REGREEN), "nightly", "--data-dir", str(data_dir.root), "--notice", str(notice), "--json"],
            stdout=stdout,
            stderr=stderr,
        )
        wall = time.perf_counter() - started
        stdout.seek(0)
        printed = stdout.read().strip()
    if not printed:
        raise SystemExit(f"{scenario}: nightly exited {exit_code} without a run record; see {log}")
    record = RunRecord.from_mapping(json.loads(printed.splitlines()[-1]))
    measured = Measured(
        scenario=scenario,
        build_mode=record.build_mode or "?",
        exit_code=exit_code,
        wall_seconds=round(wall, 2),
        # The nightly resets its high-water mark as each stage begins (regreen.memory.reset_peak_rss),
        # which resets what wait4 reports too: the launcher's figure is the peak since the last stage
        # began (the report's included), the stages' own marks the peaks before it.
        peak_rss_mb=round(max(peak_mb, *record.stage_peak_mb.values()), 1),
        files_received=record.files_received or 0,
        rows_loaded=record.rows_loaded or 0,
        project_months=0,
        stage_seconds=dict(record.stage_seconds),
        stage_peak_mb=dict(record.stage_peak_mb),
    )
    if not record.published:
        measured.notes.append(record.error_message or record.status)
        measured.stage_seconds["publish"] = time_publish(data_dir, record)
        measured.publish_timed_separately = True
    with open_read_only(data_dir.warehouse) as con:
        measured.project_months = con.execute("select count(*) from marts.fct_project_month").fetchone()[0]
    return measured


def time_publish(data_dir: DataDir, record: RunRecord) -> float:
    """Run the nightly's publish step on the build a failed run kept; its seconds."""
    working = working_database(data_dir)
    shutil.copyfile(data_dir.work / f"failed-{record.run_id}.duckdb", working)
    clock = StageClock(record)
    clock.enter("publish")
    publish_build(data_dir, working, record, keep=3, clock=clock)
    clock.finish()
    return record.stage_seconds["publish"]


def sample_pair(root: Path) -> list[Measured]:
    data_dir = DataDir(root / "sample").ensure()
    written = write_sample(data_dir, load_reference(BUNDLED_NOTICE), seed=SEED, today=BASE_TODAY)
    full = run_nightly("sample full", data_dir, BUNDLED_NOTICE)
    for path in next_month_files(BUNDLED_NOTICE, {path.name for path in written}, root / "sample-next"):
        shutil.copy2(path, data_dir.inbox / path.name)
    return [full, run_nightly("sample incremental", data_dir, BUNDLED_NOTICE)]


def province_pair(root: Path, projects: int) -> list[Measured]:
    data_dir = DataDir(root / "province").ensure()
    notice = synthetic_notice(root / "province-notice.txt", projects, seed=SEED, contracts=data_dir.contracts)
    reference = load_reference(notice)
    landed = land_province(data_dir, reference)
    full = run_nightly("province full", data_dir, notice)
    full.notes.append(f"{landed} rows written into the landing database before the run")
    write_province_month(data_dir, reference, add_months(PROVINCE_LAST, 1))
    return [full, run_nightly("province incremental", data_dir, notice)]


def render(results: list[Measured]) -> str:
    header = f"{'scenario':<22}{'build':>12}{'exit':>5}{'wall s':>8}{'peak MB':>9}{'files':>7}{'rows':>7}{'proj-mo':>9}"
    header += "".join(f"{stage:>14}" for stage in STAGES)
    lines = [header, "-" * len(header)]
    for m in results:
        total = sum(m.stage_seconds.values())
        cells = []
        for stage in STAGES:
            seconds = m.stage_seconds.get(stage, 0.0)
            mark = "*" if stage == "publish" and m.publish_timed_separately else ""
            cells.append(f"{seconds:>6.1f}s {100 * seconds / total:>3.0f}%{mark:1}")
        lines.append(
            f"{m.scenario:<22}{m.build_mode:>12}{m.exit_code:>5}{m.wall_seconds:>8.1f}{m.peak_rss_mb:>9.0f}{m.files_received:>7}"
            f"{m.rows_loaded:>7}{m.project_months:>9}" + "".join(f"{cell:>14}" for cell in cells)
        )
    lines.append("* publish timed separately on the kept build (the run did not publish)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="130 generated projects instead of 1,300")
    parser.add_argument("--keep", action="store_true", help="keep the data directories (printed)")
    args = parser.parse_args()
    projects = 130 if args.quick else 1300
    with scratch_root("regreen-bench-nightly-", keep=args.keep) as root:
        results = sample_pair(root) + province_pair(root, projects)
    print(render(results))
    write_results("nightly", {"projects": projects, "results": [asdict(m) for m in results]})


@contextmanager
def scratch_root(prefix: str, keep: bool) -> Iterator[Path]:
    """A temporary folder for the data directories, removed afterwards unless `keep` (then printed)."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield root
    finally:
        if keep:
            print(f"data directories kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


def scaling_exponent(small: float, small_cost: float, large: float, large_cost: float) -> float:
    """k in cost ∝ size^k between two measured sizes: 1 is linear, 2 quadratic; under 1, a cost a run or
    a file that the larger size spreads over more rows."""
    return math.log(large_cost / small_cost) / math.log(large / small)


def write_results(kind: str, payload: dict) -> None:
    """bench/results/<kind>-<UTC time>.json: `payload` and the machine it was measured on."""
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{kind}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    machine = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    out.write_text(
        json.dumps({"machine": machine, **payload}, ensure_ascii=False, indent=2, default=str),
        encoding="utf-8",
    )
    print(f"written {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
