"""Does dbt build faster with more threads on one DuckDB file? Measured before raising `threads`.

Loads the bundled notice and the sample submissions into a working database once, then times
`dbt build --threads N` on fresh copies of it, alternating the thread counts so that both see the same
machine load, and reports each count's median against one thread.

    .venv/bin/python bench/bench_dbt_threads.py [--repeat 3] [--threads 1 2 4]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from regreen.build import copy_submissions
from regreen.plan import parse_notice
from regreen.project import BUNDLED_NOTICE, PROJECT_ROOT, DataDir
from regreen.rawload import load_plan
from regreen.submissions.ingest import ingest_inbox
from regreen.submissions.reference import load_reference
from regreen.submissions.sample import write_sample


def prepare(root: Path) -> Path:
    """A database holding the raw tables of the bundled notice and the sample submissions."""
    data_dir = DataDir(root / "data").ensure()
    reference = load_reference(BUNDLED_NOTICE)
    write_sample(data_dir, reference, seed=2023, today=date(2026, 11, 28))
    ingest_inbox(data_dir, reference, today=date(2026, 11, 28))
    # Not "raw.duckdb": its catalog would share the name of the raw schema.
    raw = root / "loaded.duckdb"
    with duckdb.connect(str(raw)) as con:
        load_plan(con, parse_notice(BUNDLED_NOTICE), "bench")
        copy_submissions(con, data_dir.landing)
    return raw


def dbt_build_seconds(raw: Path, work: Path, threads: int) -> float:
    database = work / f"threads-{threads}.duckdb"
    shutil.copy(raw, database)
    env = {
        **os.environ,
        "REGREEN_DB_PATH": str(database),
        "DBT_TARGET_PATH": str(work / f"target-{threads}"),
        "DBT_LOG_PATH": str(work / "logs"),
    }
    command = [str(Path(sys.executable).with_name("dbt")), "build", "--threads", str(threads)]
    command += ["--project-dir", str(PROJECT_ROOT), "--profiles-dir", str(PROJECT_ROOT)]
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    elapsed = time.perf_counter() - started
    database.unlink()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        raw = prepare(work)
        times: dict[int, list[float]] = {n: [] for n in args.threads}
        for _ in range(args.repeat):
            for threads in args.threads:
                times[threads].append(dbt_build_seconds(raw, work, threads))
    baseline = statistics.median(times[args.threads[0]])
    print(f"{'threads':>7} {'median s':>9} {'vs ' + str(args.threads[0]):>8}")
    for threads, runs in times.items():
        print(f"{threads:>7} {statistics.median(runs):>9.2f} {statistics.median(runs) / baseline:>7.2f}×")
    results = PROJECT_ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    out = results / f"bench_dbt_threads-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({"seconds": times}, indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
