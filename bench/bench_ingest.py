"""Benchmark `regreen ingest` against the tools it is built on.

Generates valid monthly submissions for the plan's 14 projects — ROWS rows over files of 20 to 500 rows
each — once as CSV and once as .xlsx, then measures in one run, each in its own process:

- our ingest (archive, validate, load into the landing DuckDB) of the CSV files, and of the .xlsx files;
- DuckDB's own read_csv loading the same CSV files into a table (the CSV baseline);
- pandas.read_excel(engine="openpyxl") reading the same .xlsx files (the .xlsx baseline).

Prints rows/s, peak memory (ru_maxrss) and the two ratios against their targets, and writes the lot as
JSON to bench/results/.

    .venv/bin/python bench/bench_ingest.py             # 100,000 rows
    .venv/bin/python bench/bench_ingest.py --rows 5000 # a quick run
    .venv/bin/python bench/bench_ingest.py --profile   # also cProfile our two ingests (top functions)
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import io
import json
import os
import platform
import pstats
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
TODAY = date(2026, 11, 28)  # fixed, so that every run validates the same months
FILE_ROWS = (20, 500)
CSV_TARGET = 0.25  # our CSV ingest at least a quarter of DuckDB's read_csv
XLSX_TARGET = 3.0  # our .xlsx ingest at least three times pandas.read_excel(engine="openpyxl")


# --- the data -----------------------------------------------------------------------------------------


def _months(first: date, last: date) -> list[date]:
    months = []
    month = first
    while month <= last:
        months.append(month)
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return months


@dataclass(frozen=True)
class _Line:
    project: object  # ProjectRef
    month: date
    index: int  # the month's place since the first month


def _accepted_on(index: int) -> str:
    """The 15th of the month `index` months after 2023-06."""
    months = 5 + index
    return f"{2023 + months // 12}-{months % 12 + 1:02d}-15"


def _row(line: _Line, headers: list[str], file_number: int) -> list[object]:
    """One valid, monotone line: a project's figures at the end of a month."""
    p = line.project
    start = 4 + (p.plan_year - 2023) * 12  # construction starts in the plan year's spring
    done = min(1.0, max(0.0, (line.index - start + 1) / 9))
    if line.index < start - 3:
        stage = "方案编制"
    elif line.index < start - 1:
        stage = "方案评审"
    elif line.index < start:
        stage = "已下达"
    elif done < 1:
        stage = "施工中"
    elif line.index < start + 10:
        stage = "已完工"
    else:
        stage = "已验收"
    area = round(float(p.area_planned_mu) * done, 1)
    invested = round(area * 3.1, 2)
    values = {
        "填报月份": f"{line.month:%Y-%m}",
        "乡镇": p.township_name,
        "项目名称": p.name,
        "累计完成图斑(个)": int(p.patches_planned * done),
        "累计治理面积(亩)": area,
        "其中林地(亩)": round(area * 0.6, 1),
        "其中耕地(亩)": round(area * 0.2, 1),
        "其中草地(亩)": round(area * 0.15, 1),
        "项目阶段": stage,
        "累计完成投资(万元)": invested,
        "上级资金(万元)": round(invested * 0.2, 2),
        "区财政资金(万元)": round(invested * 0.5, 2),
        "废石处置收入(万元)": round(invested * 0.3, 2),
        "社会资本(万元)": 0,
        "废石处置量(万立方米)": round(area * 0.05, 2),
        "监理单位": "示例监理有限公司" if stage in ("施工中", "已完工", "已验收") else None,
        "验收日期": _accepted_on(start + 10) if stage == "已验收" else None,
        "备注": f"示例数据（基准测试，第 {file_number} 号文件）",  # no two files alike
        "填报人": "示例填报人",
        "联系电话": "000-0000-0000",
    }
    return [values[h] for h in headers]


def _files(rows: int, seed: int) -> list[list[_Line]]:
    """Files of 20 to 500 lines, each a run of (month, project) pairs: every project of each month
    listed, no project twice in a month, so the files are valid."""
    from regreen.project import BUNDLED_NOTICE
    from regreen.submissions.reference import load_reference

    reference = load_reference(BUNDLED_NOTICE)
    months = _months(date(2023, 6, 1), TODAY.replace(day=1))
    pairs = [_Line(p, m, i) for i, m in enumerate(months) for p in reference.projects]
    rng = random.Random(seed)
    files, left = [], rows
    while left > 0:
        size = min(left, rng.randint(*FILE_ROWS))
        start = rng.randrange(0, len(pairs) - size + 1, len(reference.projects))
        files.append(pairs[start : start + size])
        left -= size
    return files


def _headers() -> list[str]:
    from regreen.submissions.columns import COLUMNS

    return [c.header for c in COLUMNS]


def write_csv(files: list[list[_Line]], folder: Path) -> list[Path]:
    headers = _headers()
    paths = []
    for number, lines in enumerate(files):
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(headers)
        writer.writerows(_row(line, headers, number) for line in lines)
        path = folder / f"bench-{number:05d}.csv"
        path.write_text(text.getvalue(), encoding="utf-8")
        paths.append(path)
    return paths


def write_xlsx(files: list[list[_Line]], folder: Path) -> list[Path]:
    from openpyxl import Workbook

    headers = _headers()
    paths = []
    for number, lines in enumerate(files):
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("月度进展")
        sheet.append(headers)
        for line in lines:
            sheet.append(_row(line, headers, number))
        path = folder / f"bench-{number:05d}.xlsx"
        workbook.save(path)
        paths.append(path)
    return paths


def stage_inbox(files: list[Path], root: Path) -> Path:
    """A fresh data directory whose inbox holds copies of `files`, arriving one second apart."""
    inbox = root / "inbox"
    inbox.mkdir(parents=True)
    start = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    for offset, path in enumerate(files):
        copy = inbox / path.name
        shutil.copyfile(path, copy)
        os.utime(copy, (start + offset, start + offset))
    return root


# --- the measurements, each run in a child process ------------------------------------------------------


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure_ingest(root: Path, profile: bool) -> dict[str, Any]:
    from regreen.project import BUNDLED_NOTICE, DataDir
    from regreen.submissions.ingest import ingest_inbox
    from regreen.submissions.reference import load_reference

    reference = load_reference(BUNDLED_NOTICE)
    before = _peak_mib()
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    summary = ingest_inbox(DataDir(root), reference, TODAY)
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - started
    result: dict[str, Any] = {
        "rows": summary.rows_loaded,
        "files": summary.accepted,
        "rejected_files": summary.rejected,
        "seconds": seconds,
        "peak_mib": _peak_mib(),
        "peak_mib_before": before,
    }
    if profiler:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(25)
        result["profile"] = text.getvalue()
    return result


def measure_duckdb(root: Path) -> dict[str, Any]:
    import duckdb

    files = sorted(str(p) for p in (root / "inbox").glob("*.csv"))
    before = _peak_mib()
    started = time.perf_counter()
    with duckdb.connect(str(root / "baseline.duckdb")) as con:
        con.execute("create table submission_rows as select * from read_csv(?, header = true)", [files])
        [(rows,)] = con.execute("select count(*) from submission_rows").fetchall()
    seconds = time.perf_counter() - started
    return {
        "rows": rows,
        "files": len(files),
        "seconds": seconds,
        "peak_mib": _peak_mib(),
        "peak_mib_before": before,
    }


def measure_openpyxl(root: Path) -> dict[str, Any]:
    import pandas as pd

    files = sorted((root / "inbox").glob("*.xlsx"))
    before = _peak_mib()
    started = time.perf_counter()
    rows = sum(len(pd.read_excel(path, engine="openpyxl")) for path in files)
    seconds = time.perf_counter() - started
    return {
        "rows": rows,
        "files": len(files),
        "seconds": seconds,
        "peak_mib": _peak_mib(),
        "peak_mib_before": before,
    }


def _child(kind: str, root: Path, profile: bool = False) -> dict[str, Any]:
    command = [sys.executable, __file__, "--measure", kind, "--root", str(root)]
    if profile:
        command.append("--profile")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{done.stderr}")
    return json.loads(done.stdout)


# --- the run ----------------------------------------------------------------------------------------------


def _rate(result: dict[str, Any]) -> float:
    return float(result["rows"]) / float(result["seconds"])


def run(rows: int, seed: int, profile: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="regreen-bench-") as scratch:
        work = Path(scratch)
        sources = {kind: work / f"source-{kind}" for kind in ("csv", "xlsx")}
        for folder in sources.values():
            folder.mkdir()
        files = _files(rows, seed)
        print(f"generating {rows} rows in {len(files)} files (CSV and .xlsx) …", file=sys.stderr)
        csv_files = write_csv(files, sources["csv"])
        xlsx_files = write_xlsx(files, sources["xlsx"])
        results = {
            "ingest_csv": _child("ingest", stage_inbox(csv_files, work / "ingest-csv"), profile),
            "duckdb_read_csv": _child("duckdb", stage_inbox(csv_files, work / "duckdb")),
            "ingest_xlsx": _child("ingest", stage_inbox(xlsx_files, work / "ingest-xlsx"), profile),
            "pandas_read_excel_openpyxl": _child("openpyxl", stage_inbox(xlsx_files, work / "openpyxl")),
        }
    for name, result in results.items():
        if result["rows"] != rows:
            raise SystemExit(f"{name} read {result['rows']} rows, expected {rows}: {result}")
    csv_ratio = _rate(results["ingest_csv"]) / _rate(results["duckdb_read_csv"])
    xlsx_ratio = _rate(results["ingest_xlsx"]) / _rate(results["pandas_read_excel_openpyxl"])
    return {
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": rows,
        "files": len(files),
        "seed": seed,
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "results": results,
        "ratios": {
            "csv_vs_duckdb": {"value": csv_ratio, "target": CSV_TARGET, "met": csv_ratio >= CSV_TARGET},
            "xlsx_vs_openpyxl": {
                "value": xlsx_ratio,
                "target": XLSX_TARGET,
                "met": xlsx_ratio >= XLSX_TARGET,
            },
        },
    }


def render(report: dict[str, Any]) -> str:
    results = report["results"]
    lines = [
        f"{report['rows']} rows in {report['files']} files",
        f"{'measurement':<28} {'seconds':>9} {'rows/s':>10} {'peak MiB':>9}",
    ]
    for name, result in results.items():
        lines.append(
            f"{name:<28} {result['seconds']:>9.2f} {_rate(result):>10.0f} {result['peak_mib']:>9.0f}"
        )
    for name, ratio in report["ratios"].items():
        verdict = "met" if ratio["met"] else "MISSED"
        lines.append(f"ratio {name:<22} {ratio['value']:>9.2f}× (target ≥ {ratio['target']}×: {verdict})")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000, help="rows to generate (default 100000)")
    parser.add_argument("--seed", type=int, default=1, help="seed for file sizes and placement")
    parser.add_argument("--profile", action="store_true", help="cProfile our ingests and print the top")
    parser.add_argument("--measure", choices=("ingest", "duckdb", "openpyxl"), help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measures = {
            "ingest": lambda: measure_ingest(args.root, args.profile),
            "duckdb": lambda: measure_duckdb(args.root),
            "openpyxl": lambda: measure_openpyxl(args.root),
        }
        print(json.dumps(measures[args.measure]()))
        return 0
    report = run(args.rows, args.seed, args.profile)
    profiles = {name: report["results"][name].pop("profile", None) for name in ("ingest_csv", "ingest_xlsx")}
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"bench_ingest-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(render(report))
    for name, profile in profiles.items():
        if profile:
            print(f"\n--- cProfile of {name} ---\n{profile}")
    print(f"written to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
