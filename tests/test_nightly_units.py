"""The nightly's parts on small real DuckDB files: lock, publish, history, rollback, exports, schedule, meta.

The end-to-end runs (real ingest, dbt and suites, processes killed with SIGKILL) are in test_nightly.py.
"""

from __future__ import annotations

import csv
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from regreen.build import working_database
from regreen.errors import MemoryLimitError
from regreen.nightly import (
    LockHeldError,
    OrphanBusyError,
    RollbackTargetError,
    RunRecord,
    UnknownPausePointError,
    append_run,
    fault_pause_point,
    hold_lock,
    lock_path,
    read_runs,
    recover_interrupted,
    repair_exports,
    rollback,
    runs_log,
    write_meta,
)
from regreen.project import DataDir
from regreen.publish import (
    UTF8_BOM,
    commit_warehouse,
    export_dir,
    export_marts,
    export_run_id,
    export_tmp_dir,
    history_dir,
    history_runs,
    prune_history,
    published_run_id,
    swap_exports,
)
from regreen.quality import CheckResult, store_check_results

REGREEN = Path(sys.executable).with_name("regreen")
FORMULAS = ['=HYPERLINK("http://example.com","点我")', "+86 595 0000", "-1+2", "@SUM(A1)", "\tTAB", "\rCR"]
HARMLESS = ["张坂镇", "a=b", "", None]


def make_warehouse(path: Path, run_id: str, rows: int) -> Path:
    """A small closed warehouse with what the publish side relies on: raw.plan_documents and marts."""
    with duckdb.connect(str(path)) as con:
        con.execute("create schema raw; create table raw.plan_documents (run_id varchar)")
        con.execute("insert into raw.plan_documents values (?)", [run_id])
        con.execute("create schema marts")
        con.execute(
            f"create table marts.progress as select range as n, 'row ' || range as label from range({rows})"
        )
        con.execute("create table marts.notes (note varchar, amount decimal(10, 2))")
        con.executemany("insert into marts.notes values (?, ?)", [[v, -5] for v in FORMULAS + HARMLESS])
        con.execute("checkpoint")
    return path


def publish_synthetic(data_dir: DataDir, run_id: str, rows: int, keep: int = 3) -> None:
    """Publish a synthetic warehouse the way the nightly does: exports first, rename, then the swap."""
    data_dir.ensure()
    sealed = make_warehouse(working_database(data_dir), run_id, rows)
    with duckdb.connect(str(sealed), read_only=True) as con:
        export_marts(con, export_tmp_dir(data_dir, run_id), run_id)
    commit_warehouse(data_dir, sealed)
    swap_exports(export_tmp_dir(data_dir, run_id), export_dir(data_dir))
    prune_history(data_dir, keep)


def published_rows(data_dir: DataDir) -> int:
    with duckdb.connect(str(data_dir.warehouse), read_only=True) as con:
        return con.execute("select count(*) from marts.progress").fetchone()[0]


HOLDER = """
import sys
from pathlib import Path
from regreen.nightly import hold_lock
with hold_lock(Path(sys.argv[1]), "20260101T000000Z-holder") as lock:
    lock.note_stage("dbt")
    print("held", flush=True)
    sys.stdin.read()
"""


def start_holder(lock: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    return holder


# --- the lock ---------------------------------------------------------------------------------------


def test_a_second_run_exits_75_at_once_and_touches_nothing(tmp_path: Path) -> None:
    data_dir = DataDir(tmp_path / "data").ensure()
    (data_dir.inbox / "张坂镇-2026-10.csv").write_text("not touched\n", encoding="utf-8")
    holder = start_holder(lock_path(data_dir))
    try:
        second = subprocess.run(
            [str(REGREEN), "nightly", "--data-dir", str(data_dir.root)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        holder.communicate("")
    assert second.returncode == 75
    assert f"pid {holder.pid}" in second.stderr and f"进程 {holder.pid}" in second.stderr
    assert "stage dbt" in second.stderr and str(lock_path(data_dir)) in second.stderr
    assert second.stdout == ""
    assert "Traceback" not in second.stderr
    assert [p.name for p in data_dir.inbox.iterdir()] == ["张坂镇-2026-10.csv"]
    assert not data_dir.landing.exists()
    # Recorded all the same, as a run that changed nothing.
    (record,) = read_runs(data_dir)
    assert (record.status, record.published, record.command) == ("locked", False, "nightly")
    assert f"pid {holder.pid}" in record.error_message
    assert lock_path(data_dir).read_text() == ""  # the holder ended cleanly


def test_lock_held_in_process_raises_with_exit_code_75(tmp_path: Path) -> None:
    path = tmp_path / "nightly.lock"
    holder = start_holder(path)
    try:
        with pytest.raises(LockHeldError) as raised, hold_lock(path, "second"):
            pass
    finally:
        holder.communicate("")
    assert raised.value.exit_code == 75
    assert raised.value.holder["run_id"] == "20260101T000000Z-holder"


def test_a_lock_left_by_a_killed_run_is_taken_over_and_the_run_recorded(tmp_path: Path) -> None:
    data_dir = DataDir(tmp_path / "data").ensure()
    holder = start_holder(lock_path(data_dir))
    holder.send_signal(signal.SIGKILL)
    holder.wait()

    with hold_lock(lock_path(data_dir), "20260101T010000Z-next") as lock:
        assert lock.stale["pid"] == holder.pid
        assert lock.stale["run_id"] == "20260101T000000Z-holder" and lock.stale["stage"] == "dbt"
        recover_interrupted(data_dir, lock.stale, orphan_wait=5)
    (record,) = read_runs(data_dir)
    assert record.run_id == "20260101T000000Z-holder"
    assert record.status == "interrupted" and not record.published
    assert "during dbt" in record.error_message and "dbt 阶段中断" in record.error_message

    with hold_lock(lock_path(data_dir), "20260101T020000Z-after") as lock:
        assert lock.stale == {}  # the take-over ended cleanly


ORPHAN = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("create table t as select 1")
print("open", flush=True)
sys.stdin.read()
"""


def test_a_take_over_waits_for_the_dead_runs_dbt_and_gives_up_with_75(tmp_path: Path) -> None:
    data_dir = DataDir(tmp_path / "data").ensure()
    dead = "20260101T000000Z-dead01"
    working = working_database(data_dir)
    stale = {"run_id": dead, "pid": 1, "host": "h", "started_at": "2026-01-01T00:00:00Z", "stage": "dbt"}
    # A process still writing the dead run's working database, as its orphaned dbt would.
    orphan = subprocess.Popen(
        [sys.executable, "-c", ORPHAN, str(working)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert orphan.stdout is not None and orphan.stdout.readline() == "open\n"
    try:
        with pytest.raises(OrphanBusyError) as raised:
            recover_interrupted(data_dir, stale, orphan_wait=1.5)
        assert raised.value.exit_code == 75 and str(working) in str(raised.value)
        assert read_runs(data_dir) == []
    finally:
        orphan.communicate("")
    recover_interrupted(data_dir, stale, orphan_wait=1.5)
    assert [(r.run_id, r.status) for r in read_runs(data_dir)] == [(dead, "interrupted")]


def test_fault_pause_point_refuses_an_unknown_point(tmp_path: Path) -> None:
    assert fault_pause_point({}) is None
    assert fault_pause_point({"REGREEN_FAULT_PAUSE": "publish-swap"}) == "publish-swap"
    with pytest.raises(UnknownPausePointError):
        fault_pause_point({"REGREEN_FAULT_PAUSE": "publsh"})
    refused = subprocess.run(
        [str(REGREEN), "nightly", "--data-dir", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        env={**os.environ, "REGREEN_FAULT_PAUSE": "publsh"},
        timeout=120,
    )
    assert refused.returncode == 2 and "publsh" in refused.stderr and "publish-swap" in refused.stderr
    assert not (tmp_path / "data").exists()


# --- publishing and history -------------------------------------------------------------------------


def test_publish_keeps_open_readers_on_their_version_and_keeps_three_in_history(tmp_path: Path) -> None:
    data_dir = DataDir(tmp_path / "data")
    publish_synthetic(data_dir, "20260101T000000Z-v1", rows=10)
    before = os.stat(data_dir.warehouse)
    reader = duckdb.connect(str(data_dir.warehouse), read_only=True)
    assert reader.execute("select run_id from raw.plan_documents").fetchone() == ("20260101T000000Z-v1",)

    for day, rows in ((2, 20), (3, 30), (4, 40), (5, 50)):
        publish_synthetic(data_dir, f"2026010{day}T000000Z-v{day}", rows=rows)

    # Opened before four publishes, and marts never read through it yet: still the whole of v1.
    assert reader.execute("select count(*), max(n) from marts.progress").fetchone() == (10, 9)
    reader.close()
    assert published_rows(data_dir) == 50 and published_run_id(data_dir) == "20260105T000000Z-v5"
    assert history_runs(data_dir) == ["20260102T000000Z-v2", "20260103T000000Z-v3", "20260104T000000Z-v4"]
    with duckdb.connect(str(history_dir(data_dir) / "20260104T000000Z-v4.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from marts.progress").fetchone() == (40,)
    assert not data_dir.warehouse.with_name("regreen.duckdb.wal").exists()
    assert not working_database(data_dir).exists()
    # v1's inode lived on for the reader; it is gone from history now that only three are kept.
    assert all(os.stat(p).st_ino != before.st_ino for p in history_dir(data_dir).iterdir())


def test_exports_are_swapped_atomically_for_a_reader(tmp_path: Path) -> None:
    data_dir = DataDir(tmp_path / "data")
    publish_synthetic(data_dir, "20260101T000000Z-v0", rows=3)
    seen: list[str] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def read_manifest() -> None:
        while not stop.is_set():
            try:
                seen.append(
                    json.loads((export_dir(data_dir) / "_run.json").read_text(encoding="utf-8"))["run_id"]
                )
            except (OSError, ValueError) as exc:
                failures.append(exc)

    reader = threading.Thread(target=read_manifest)
    reader.start()
    try:
        for number in range(1, 60):
            new = export_tmp_dir(data_dir, f"r{number}")
            new.mkdir()
            (new / "_run.json").write_text(json.dumps({"run_id": f"r{number}"}), encoding="utf-8")
            swap_exports(new, export_dir(data_dir))
    finally:
        stop.set()
        reader.join()
    assert failures == []
    assert len(set(seen)) > 1
    assert export_run_id(export_dir(data_dir)) == "r59"
    assert sorted(p.name for p in data_dir.root.iterdir() if p.name.startswith("export")) == ["export"]


def test_exports_neutralise_formulas_in_csv_and_keep_parquet_values(tmp_path: Path) -> None:
    warehouse = make_warehouse(tmp_path / "w.duckdb", "20260101T000000Z-x", rows=4)
    target = tmp_path / "export.tmp-x"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        counts = export_marts(con, target, "20260101T000000Z-x")
    assert counts == {"notes": 10, "progress": 4}
    assert json.loads((target / "_run.json").read_text(encoding="utf-8"))["rows"] == counts

    raw = (target / "csv" / "notes.csv").read_bytes()
    assert raw.startswith(UTF8_BOM) and not raw[3:].startswith(UTF8_BOM)
    with (target / "csv" / "notes.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    notes = [row["note"] for row in rows]
    assert notes[: len(FORMULAS)] == ["'" + value for value in FORMULAS]
    assert notes[len(FORMULAS) :] == ["张坂镇", "a=b", "", ""]
    assert {row["amount"] for row in rows} == {"-5.00"}  # numbers are numbers, not text: left alone

    with duckdb.connect() as con:
        parquet = con.execute(f"select note from '{target / 'notes.parquet'}' where amount < 0").fetchall()
    assert [row[0] for row in parquet] == FORMULAS + HARMLESS


def test_repair_exports_after_a_publish_cut_between_rename_and_swap(tmp_path: Path) -> None:
    data_dir = DataDir(tmp_path / "data")
    publish_synthetic(data_dir, "20260101T000000Z-v1", rows=5)
    # v2 renamed into place, then the process died before the export swap.
    sealed = make_warehouse(working_database(data_dir), "20260102T000000Z-v2", rows=7)
    commit_warehouse(data_dir, sealed)
    assert export_run_id(export_dir(data_dir)) == "20260101T000000Z-v1"

    # Bounded like every export: a limit too small for DuckDB's writers is said, and nothing is swapped.
    with pytest.raises(MemoryLimitError):
        repair_exports(data_dir, "20260103T000000Z-r", "1KB")
    assert export_run_id(export_dir(data_dir)) == "20260101T000000Z-v1"

    repair_exports(data_dir, "20260103T000000Z-r", "256MB")
    assert export_run_id(export_dir(data_dir)) == "20260102T000000Z-v2"
    assert not list(data_dir.work.glob("repair-*"))  # its spill folder removed
    with duckdb.connect() as con:
        assert con.execute(
            f"select count(*) from '{export_dir(data_dir) / 'progress.parquet'}'"
        ).fetchone() == (7,)


def test_rollback_restores_the_previous_warehouse_atomically_and_can_be_undone(tmp_path: Path) -> None:
    data_dir = DataDir(tmp_path / "data")
    for day, rows in ((1, 10), (2, 20), (3, 30)):
        publish_synthetic(data_dir, f"2026010{day}T000000Z-v{day}", rows=rows)

    record = rollback(data_dir)
    assert record.restored_run_id == "20260102T000000Z-v2" and record.published
    assert published_run_id(data_dir) == "20260102T000000Z-v2" and published_rows(data_dir) == 20
    assert export_run_id(export_dir(data_dir)) == "20260102T000000Z-v2"
    with duckdb.connect() as con:
        assert con.execute(
            f"select count(*) from '{export_dir(data_dir) / 'progress.parquet'}'"
        ).fetchone() == (20,)
    assert "20260103T000000Z-v3" in history_runs(data_dir)  # the warehouse rolled back from is kept
    (logged,) = read_runs(data_dir)
    assert (logged.status, logged.restored_run_id, logged.published) == (
        "rollback",
        "20260102T000000Z-v2",
        True,
    )

    listed = subprocess.run(
        [str(REGREEN), "rollback", "--list", "--data-dir", str(data_dir.root)], capture_output=True, text=True
    )
    assert listed.returncode == 0
    # Warehouses that hold no meta.runs (these synthetic ones) are listed all the same.
    assert listed.stdout.splitlines() == [
        "20260101T000000Z-v1  （无运行记录 / no run record）",
        "20260102T000000Z-v2  （无运行记录 / no run record）  ← 已发布 / published",
        "20260103T000000Z-v3  （无运行记录 / no run record）",
    ]
    undone = subprocess.run(
        [str(REGREEN), "rollback", "--to", "20260103T000000Z-v3", "--data-dir", str(data_dir.root)],
        capture_output=True,
        text=True,
    )
    assert undone.returncode == 0, undone.stderr
    assert "20260103T000000Z-v3" in undone.stdout
    assert published_rows(data_dir) == 30

    with pytest.raises(RollbackTargetError) as raised:
        rollback(data_dir, to="20250101T000000Z-none")
    assert raised.value.exit_code == 2 and "20260102T000000Z-v2" in str(raised.value)
    assert published_rows(data_dir) == 30


def test_rollback_with_empty_history_is_refused(tmp_path: Path) -> None:
    data_dir = DataDir(tmp_path / "data")
    publish_synthetic(data_dir, "20260101T000000Z-v1", rows=1)
    refused = subprocess.run(
        [str(REGREEN), "rollback", "--data-dir", str(data_dir.root)], capture_output=True, text=True
    )
    assert refused.returncode == 2
    assert "history" in refused.stderr and "Traceback" not in refused.stderr
    assert published_run_id(data_dir) == "20260101T000000Z-v1"


# --- run history --------------------------------------------------------------------------------------


def check(run_id: str, status: str) -> CheckResult:
    return CheckResult("plan_figures", "2023 面积 / 2023 area", "error", status, "994", "993", None, run_id)


def test_meta_runs_accumulate_from_warehouse_log_and_failed_builds(tmp_path: Path) -> None:
    data_dir = DataDir(tmp_path / "data").ensure()
    first = RunRecord(
        "20260101T000000Z-r1", datetime(2026, 1, 1), datetime(2026, 1, 1, 0, 1), "published", True
    )
    first.stage_seconds = {"ingest": 1.5, "dbt": 20.0}
    # r1 is published: its warehouse holds meta.runs and its checks.
    with duckdb.connect(str(tmp_path / "r1.duckdb")) as con:
        store_check_results(con, [check(first.run_id, "passed")])
        write_meta(con, data_dir, first)
    os.replace(tmp_path / "r1.duckdb", data_dir.warehouse)
    # r2 failed its checks: only the log and its kept failed build know it.
    failed = RunRecord(
        "20260102T000000Z-r2", datetime(2026, 1, 2), datetime(2026, 1, 2, 0, 1), "checks_failed"
    )
    failed.error_message = "1 项错误级检查未通过 / 1 error-level check(s) failed"
    append_run(data_dir, failed)
    with duckdb.connect(str(data_dir.work / f"failed-{failed.run_id}.duckdb")) as con:
        store_check_results(con, [check(failed.run_id, "failed")])
    # r1's log line has its final state (ended later than the row sealed into its warehouse).
    append_run(data_dir, RunRecord.from_mapping({**first.to_json_dict(), "ended_at": "2026-01-01T00:02:00"}))

    current = RunRecord("20260103T000000Z-r3", datetime(2026, 1, 3), status="published", published=True)
    with duckdb.connect(str(tmp_path / "new.duckdb")) as con:
        store_check_results(con, [check(current.run_id, "passed")])
        write_meta(con, data_dir, current)
        runs = con.execute(
            "select run_id, status, published, ended_at, error_message from meta.runs"
        ).fetchall()
        checks = con.execute("select run_id, status from quality.check_results order by run_id").fetchall()
        stage_seconds = con.execute(
            "select stage_seconds->>'dbt' from meta.runs where run_id = ?", [first.run_id]
        )
        assert stage_seconds.fetchone() == ("20.0",)
        uncommented = con.execute(
            "select column_name from duckdb_columns() where schema_name = 'meta' and table_name = 'runs' "
            "and not coalesce(regexp_matches(comment, '[一-龥].*/.*[a-z]'), false)"
        ).fetchall()
        table_comment = con.execute(
            "select comment from duckdb_tables() where schema_name = 'meta'"
        ).fetchone()
    assert runs == [
        (first.run_id, "published", True, datetime(2026, 1, 1, 0, 2, tzinfo=UTC), None),
        (failed.run_id, "checks_failed", False, datetime(2026, 1, 2, 0, 1, tzinfo=UTC), failed.error_message),
        (current.run_id, "published", True, None, None),
    ]
    assert checks == [(first.run_id, "passed"), (failed.run_id, "failed"), (current.run_id, "passed")]
    assert uncommented == []
    assert "运行记录" in table_comment[0] and "one row per nightly run" in table_comment[0]


def test_run_log_skips_a_torn_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data_dir = DataDir(tmp_path / "data").ensure()
    append_run(data_dir, RunRecord("20260101T000000Z-a", datetime(2026, 1, 1), status="error"))
    with runs_log(data_dir).open("a", encoding="utf-8") as log:
        log.write('{"run_id": "20260102T000000Z-b", "started_')
    assert [r.run_id for r in read_runs(data_dir)] == ["20260101T000000Z-a"]
    assert "line 2 is not a run record" in caplog.text


# --- schedule -----------------------------------------------------------------------------------------


def test_schedule_prints_cron_and_systemd_with_absolute_paths(tmp_path: Path) -> None:
    data = tmp_path / "data 100%"
    printed = subprocess.run(
        [str(REGREEN), "schedule", "--print", "--data-dir", "data 100%", "--at", "03:15"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert printed.returncode == 0, printed.stderr
    lines = printed.stdout.splitlines()
    (cron,) = [line for line in lines if line and not line.startswith("#") and line[0].isdigit()]
    assert cron.startswith("15 3 * * * ")
    # cron turns an unescaped % into a newline; what sh then runs:
    argv = shlex.split(cron.removeprefix("15 3 * * * ").replace("\\%", "%"))
    assert argv[:4] == [str(REGREEN), "nightly", "--data-dir", str(data)]
    assert argv[4:] == [">>", str(data / "logs" / "nightly.log"), "2>&1"]
    assert os.access(argv[0], os.X_OK)
    (exec_start,) = [line for line in lines if line.startswith("ExecStart=")]
    assert exec_start == f'ExecStart={REGREEN} nightly --data-dir "{str(data).replace("%", "%%")}"'
    # 03:15 where the office is, whatever zone the server's clock is set to.
    assert "OnCalendar=*-*-* 03:15:00 Asia/Shanghai" in lines and "Persistent=true" in lines
    assert lines[lines.index(cron) - 1] == "CRON_TZ=Asia/Shanghai"
    assert "[Timer]" in lines and "[Service]" in lines and "Type=oneshot" in lines
    # Never root: a dedicated user that owns the data directory, files created owner-only.
    assert "User=regreen" in lines and "UMask=0077" in lines


def test_schedule_runs_in_the_configured_zone_with_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "office.toml"
    config.write_text('[general]\ntimezone = "Asia/Taipei"\n', encoding="utf-8")
    printed = subprocess.run(
        [str(REGREEN), "schedule", "--print", "--data-dir", "d", "--config", str(config), "--at", "01:00"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert printed.returncode == 0, printed.stderr
    lines = printed.stdout.splitlines()
    assert "CRON_TZ=Asia/Taipei" in lines and "OnCalendar=*-*-* 01:00:00 Asia/Taipei" in lines
    (exec_start,) = [line for line in lines if line.startswith("ExecStart=")]
    assert exec_start.endswith(f"--config {config}")


def test_schedule_requires_print(tmp_path: Path) -> None:
    refused = subprocess.run([str(REGREEN), "schedule"], capture_output=True, text=True, cwd=tmp_path)
    assert refused.returncode == 2 and "--print" in refused.stderr
