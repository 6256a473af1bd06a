"""Benchmark: poison files are rejected within a stated memory ceiling.

Builds, in a temporary folder: a 200 MB CSV of bad rows (bigger than [limits] max_file_bytes), an .xlsx
bomb (5 KB, one cell at XFD1048576: read naively, 512 GiB), a 7 MB CSV of 86,000 bad rows (under every
limit, so it is parsed and judged: one issue per row, of which max_issues_per_file are stored), and as
the baseline one good sample file. Each goes alone through `regreen ingest` and through `regreen check`,
each run in its own process; the peak resident memory of that process (ru_maxrss from wait4) is
reported, with its ratio to the baseline's measured in the same run, and checked against CEILING.

    .venv/bin/python bench/bench_poison.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb
import openpyxl

from regreen.project import BUNDLED_NOTICE, DataDir
from regreen.submissions.reference import load_reference
from regreen.submissions.sample import write_sample

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
REGREEN = Path(sys.executable).with_name("regreen")
CEILING_BYTES = 1 << 30  # 1 GiB: the stated ceiling for any single input file
LONG_AGO = 1_000_000_000
HEADER = "填报月份,乡镇,项目名称,累计完成图斑(个),累计治理面积(亩),项目阶段,填报人,联系电话\n"
BAD_ROW = "2024-13,某某镇,不在方案中的项目,很多,约20,快完了,张三,13812345678\n"


def bad_csv(path: Path, size: int) -> int:
    """A CSV of about `size` bytes whose every row is wrong; returns its rows."""
    rows = max(size // len(BAD_ROW.encode()), 1)
    with path.open("w", encoding="utf-8") as handle:
        handle.write(HEADER)
        block = BAD_ROW * 1000
        for _ in range(rows // 1000):
            handle.write(block)
        handle.write(BAD_ROW * (rows % 1000))
    return rows


def bomb(path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "月度进展"
    sheet["A1"] = "填报月份"
    sheet["XFD1048576"] = "x"
    workbook.save(path)


def measured(*args: str) -> tuple[int, float, int]:
    """(exit code, seconds, peak RSS in bytes) of `regreen <args>` in its own process."""
    start = time.perf_counter()
    process = subprocess.Popen([str(REGREEN), *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read().decode() if process.stderr else ""
    if "Traceback" in stderr:
        raise SystemExit(f"regreen {' '.join(args)} crashed:\n{stderr}")
    return process.returncode, seconds, usage.ru_maxrss * 1024


def ingest_alone(work: Path, name: str, source: Path) -> dict[str, object]:
    data_dir = DataDir(work / f"data-{name}").ensure()
    target = data_dir.inbox / source.name
    shutil.copyfile(source, target)
    os.utime(target, (LONG_AGO, LONG_AGO))
    code, seconds, peak = measured("ingest", "--data-dir", str(data_dir.root))
    with duckdb.connect(str(data_dir.landing), read_only=True) as con:
        status, issues, errors = con.execute(
            "select f.status, count(i.code), any_value(f.error_count) from raw.submission_files f "
            "left join raw.submission_issues i using (file_id) group by f.status"
        ).fetchone()
    return {
        "exit": code,
        "seconds": round(seconds, 2),
        "peak_bytes": peak,
        "status": status,
        "issues_stored": issues,
        "errors_counted": errors,
    }


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-poison-"))
    try:
        sample = write_sample(
            DataDir(work / "sample"), load_reference(BUNDLED_NOTICE), 2023, date(2026, 11, 28)
        )
        baseline = next(p for p in sample if p.name.startswith("sample-") and p.suffix == ".csv")
        big = work / "张坂镇-200MB.csv"
        big_rows = bad_csv(big, 200 * 1024 * 1024)
        many = work / "张坂镇-86000行.csv"
        many_rows = bad_csv(many, 7 * 1024 * 1024)
        bomb_path = work / "张坂镇-bomb.xlsx"
        bomb(bomb_path)
        cases = {
            "baseline (one good file)": baseline,
            f"200 MB CSV, {big_rows} bad rows": big,
            f"7 MB CSV, {many_rows} bad rows": many,
            ".xlsx bomb (cell at XFD1048576)": bomb_path,
        }
        results = {}
        for index, (label, path) in enumerate(cases.items()):
            ingest = ingest_alone(work, str(index), path)
            check_code, check_seconds, check_peak = measured("check", str(path))
            results[label] = {
                "file_bytes": path.stat().st_size,
                "ingest": ingest,
                "check": {"exit": check_code, "seconds": round(check_seconds, 2), "peak_bytes": check_peak},
            }
    finally:
        shutil.rmtree(work, ignore_errors=True)

    base_peak = results["baseline (one good file)"]["ingest"]["peak_bytes"]
    print(
        f"{'file':<36} {'bytes':>11} {'ingest MiB':>10} {'×base':>6} {'s':>6} {'stored/counted':>15} "
        f"{'check MiB':>9} {'s':>6}"
    )
    ok = True
    for label, r in results.items():
        ingest, check = r["ingest"], r["check"]
        ok &= max(ingest["peak_bytes"], check["peak_bytes"]) < CEILING_BYTES
        print(
            f"{label:<36} {r['file_bytes']:>11} {ingest['peak_bytes'] / 2**20:>10.0f} "
            f"{ingest['peak_bytes'] / base_peak:>6.2f} {ingest['seconds']:>6.1f} "
            f"{ingest['issues_stored']:>7}/{ingest['errors_counted']:<7} "
            f"{check['peak_bytes'] / 2**20:>9.0f} {check['seconds']:>6.1f}"
        )
    print(f"every peak under the ceiling of {CEILING_BYTES / 2**20:.0f} MiB: {'yes' if ok else 'NO'}")
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"poison-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(
        json.dumps({"ceiling_bytes": CEILING_BYTES, "results": results}, ensure_ascii=False, indent=2)
    )
    print(f"written to {out}")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
