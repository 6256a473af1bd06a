"""`regreen nightly`, `regreen rollback`, `regreen schedule`: the unattended run BI tools rely on.

One nightly run, under a lock: ingest the inbox; build the working database (load, dbt build, the
expectation suites: in full, or on a copy of the published warehouse rebuilding only what new submissions
touch, see regreen.build); and only when no error-level check failed, publish it over `<data-dir>/regreen.duckdb`
with its Parquet/CSV exports (the order is in regreen.publish). Every run, published or not, appends one
JSON line to `<data-dir>/logs/runs.jsonl` before it exits, whatever its exit code (a bad notice and a
locked warehouse included); each published warehouse carries the whole history in meta.runs and
quality.check_results. One run id (regreen.clock) names the run everywhere. A nightly that finds nothing
new (no new landing row, the same notice, models and code as the published warehouse) builds and
publishes nothing and records a `nothing_to_do` run, so history/ keeps only distinct warehouses. After
every run the report is refreshed (with a red banner when the run did not publish) and a nightly sends
its alert (regreen.notify).

The lock is `fcntl.flock` on `<data-dir>/nightly.lock`. The kernel drops it when its holder dies, so a run
killed with SIGKILL never blocks the next one; the file also holds the holder's pid, host, start time,
run id and stage, which a second run quotes when it exits (code 75), and which a clean exit empties. A
run that finds the lock free but the file not empty knows its predecessor died: it records that run as
interrupted, waits (bounded) for any dbt child the dead run left behind, and removes its leftovers.
The lock file itself is never deleted: a run holding the lock on a deleted file would not exclude a run
that created a new one.

A warehouse held open read-write by another program (DBeaver's default connection) cannot be read nor
replaced: the run then builds in full (it cannot build on a file it cannot read), checks, keeps the
build as `work/unpublished-<run>.duckdb` and ends with WarehouseInUseError (exit 73), naming the holder
when DuckDB does; the next run publishes as usual.

Test hook: with REGREEN_FAULT_PAUSE=<point> in the environment, the run logs `paused at <point>` to stderr
and sleeps when it reaches that point (one of PAUSE_POINTS), so a test can SIGKILL it there.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import gc
import json
import os
import shlex
import shutil
import socket
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date, datetime
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

from regreen.build import (
    COMPACT_NAME,
    BuildInputs,
    build_inputs,
    discard,
    nothing_new,
    prepare_copy,
    stage_build,
    working_database,
)
from regreen.clock import as_utc, local_time, new_run_id, utc_now
from regreen.config import SETTINGS, Config, default_config
from regreen.dbt import DbtProcess, dbt_vars, remember_first_due_month, start_dbt
from regreen.errors import (
    EXIT_CHECKS_FAILED,
    EXIT_LOCKED,
    EXIT_OK,
    ChecksFailedError,
    RegreenError,
    WarehouseInUseError,
    disk_full,
)
from regreen.log import logger
from regreen.memory import limit_connection, peak_rss_mb, reset_peak_rss, within_memory_limit
from regreen.notice_cache import parsed_notice
from regreen.notify import compose_alert, overdue_townships, send_alert
from regreen.plan import Plan
from regreen.project import BUNDLED_NOTICE, DataDir
from regreen.publish import (
    StagedExports,
    commit_warehouse,
    copy_database,
    export_dir,
    export_marts,
    export_run_id,
    export_tmp_dir,
    history_dir,
    history_runs,
    open_read_only,
    prune_history,
    published_run_id,
    swap_exports,
    warehouse_holder,
)
from regreen.quality import CheckResult
from regreen.report import FailedRun, report_dir, write_report
from regreen.submissions.ingest import IngestSettings, IngestSummary, ingest_inbox

STAGES = ("ingest", "load", "dbt", "expectations", "publish")
# Stage starts, plus one point inside ingest (one batch landed, the next file archived but not landed)
# and two inside publish: before the warehouse rename and before the export swap.
PAUSE_POINTS = (*STAGES, "ingest-batch", "publish-rename", "publish-swap")
FAULT_PAUSE_ENV = "REGREEN_FAULT_PAUSE"
FAULT_PAUSE_SECONDS = 600
# How long a run waits for a dbt process left running by an interrupted run before giving up (exit 75).
ORPHAN_WAIT_SECONDS = 600.0


class LockHeldError(RegreenError):
    """Another nightly or rollback holds the lock; this run changed nothing."""

    exit_code = EXIT_LOCKED
    run_status = "locked"

    def __init__(self, lock: Path, holder: Mapping[str, Any]) -> None:
        self.lock = lock
        self.holder = dict(holder)
        pid, host = holder.get("pid", "?"), holder.get("host", "?")
        started, stage = holder.get("started_at", "?"), holder.get("stage", "?")
        super().__init__(
            f"另一次夜间任务或回滚正在运行（进程 {pid}，主机 {host}，开始于 {started}，阶段 {stage}，锁文件 {lock}）；"
            "本次未做任何改动，已退出，请待其结束后再运行",
            f"another nightly run or rollback holds {lock} (pid {pid} on {host}, started {started}, stage {stage}); "
            "this run changed nothing and exits; run again once it has finished",
        )


class OrphanBusyError(RegreenError):
    """A process left behind by an interrupted run still writes its working database."""

    exit_code = EXIT_LOCKED
    run_status = "locked"

    def __init__(self, working: Path, run_id: str, waited: float) -> None:
        self.working = working
        super().__init__(
            f"被中断的运行 {run_id} 遗留的进程（通常是 dbt）等待 {waited:.0f} 秒后仍在使用 {working}；"
            "本次未做任何改动，已退出，请稍后再运行",
            f"a process left by interrupted run {run_id} (usually its dbt) still uses {working} after "
            f"{waited:.0f} s; this run changed nothing and exits; run again later",
        )


class UnknownPausePointError(RegreenError):
    def __init__(self, point: str) -> None:
        self.point = point
        listed = ", ".join(PAUSE_POINTS)
        super().__init__(
            f"环境变量 {FAULT_PAUSE_ENV}={point} 无效，应为以下之一：{listed}",
            f"{FAULT_PAUSE_ENV}={point} is not a pause point; use one of: {listed}",
        )


class RollbackTargetError(RegreenError):
    def __init__(self, wanted: str | None, available: Sequence[str], history: Path) -> None:
        self.wanted = wanted
        listed = ", ".join(available) or "—"
        if wanted is None:
            zh, en = (
                f"{history} 中没有可回滚的旧仓库",
                f"{history} holds no earlier warehouse to roll back to",
            )
        else:
            zh, en = f"{history} 中没有运行 {wanted} 的仓库", f"{history} holds no warehouse of run {wanted}"
        super().__init__(f"{zh}；可选：{listed}", f"{en}; available: {listed}")


# --- the run record: one line of logs/runs.jsonl, one row of meta.runs ----------------------------


@dataclass
class RunRecord:
    run_id: str
    started_at: datetime  # UTC, aware
    ended_at: datetime | None = None
    # published | nothing_to_do | checks_failed | warehouse_in_use | error | locked | interrupted | rollback
    status: str = "running"
    published: bool = False
    files_received: int | None = None
    files_accepted: int | None = None
    files_rejected: int | None = None
    files_duplicate: int | None = None
    files_skipped: int | None = None
    rows_read: int | None = None
    rows_loaded: int | None = None
    rows_rejected: int | None = None
    checks_passed: int | None = None
    checks_warned: int | None = None
    checks_failed: int | None = None
    build_mode: str | None = None  # full | incremental
    build_base_run_id: str | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)
    restored_run_id: str | None = None
    error_message: str | None = None
    command: str | None = None  # nightly | build | rollback (None in records written before it was kept)
    # The run's resident high-water mark per stage, MiB (StageClock), and its dbt child's ("dbt_child").
    stage_peak_mb: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.started_at = as_utc(self.started_at)
        self.ended_at = self.ended_at and as_utc(self.ended_at)

    @property
    def failed(self) -> bool:
        """Whether the run meant to publish and could not (what the report's red banner is for)."""
        return self.status in FAILED_STATUSES

    def to_json_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("started_at", "ended_at"):
            data[key] = data[key] and data[key].isoformat(timespec="seconds")
        return data

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RunRecord:
        """From a JSON log line or a meta.runs row; unknown keys (a newer or older layout) are ignored."""
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        for key in ("started_at", "ended_at"):
            if isinstance(values.get(key), str):
                values[key] = _parse_utc(values[key])
            elif isinstance(values.get(key), datetime):
                values[key] = as_utc(values[key])
        for key in ("stage_seconds", "stage_peak_mb"):
            if isinstance(values.get(key), str):
                values[key] = json.loads(values[key])
            values[key] = values.get(key) or {}
        return cls(**values)

    def take_ingest(self, summary: IngestSummary) -> None:
        self.files_received = summary.received
        self.files_accepted = summary.accepted
        self.files_rejected = summary.rejected
        self.files_duplicate = summary.duplicate
        self.files_skipped = summary.skipped
        self.rows_read = summary.rows_read
        self.rows_loaded = summary.rows_loaded
        self.rows_rejected = summary.rows_rejected

    def take_checks(self, checks: Sequence[CheckResult]) -> None:
        self.checks_passed = sum(c.status == "passed" for c in checks)
        self.checks_warned = sum(c.status == "warned" for c in checks)
        self.checks_failed = sum(c.status == "failed" for c in checks)


FAILED_STATUSES = ("checks_failed", "warehouse_in_use", "error", "interrupted")


def _parse_utc(text: str) -> datetime:
    return as_utc(datetime.fromisoformat(text))


def runs_log(data_dir: DataDir) -> Path:
    return data_dir.logs / "runs.jsonl"


def append_run(data_dir: DataDir, record: RunRecord) -> None:
    """Append `record` as one line, in one write, so a killed writer never leaves half a line; a write
    the disk cut short (full) is taken back, so that the next run's line does not join half of this one."""
    data_dir.logs.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record.to_json_dict(), ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(runs_log(data_dir), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        end = os.fstat(fd).st_size
        try:
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(runs_log(data_dir)))
            os.fsync(fd)
        except OSError:
            os.ftruncate(fd, end)
            raise
    finally:
        os.close(fd)


def read_runs(data_dir: DataDir) -> list[RunRecord]:
    """Every run in logs/runs.jsonl, in the order they ended; an unreadable line is skipped with a warning."""
    path = runs_log(data_dir)
    if not path.exists():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            records.append(RunRecord.from_mapping(json.loads(line)))
        except (ValueError, TypeError) as exc:
            logger.warning(
                "%s 第 %d 行不是运行记录，已跳过 / %s line %d is not a run record, skipped: %s",
                path,
                number,
                path,
                number,
                exc,
            )
    return records


# --- meta tables in the published warehouse -------------------------------------------------------

META_DDL = """
create schema if not exists meta;
create or replace table meta.runs (
    run_id varchar primary key,
    started_at timestamptz not null,
    ended_at timestamptz,
    status varchar not null,
    published boolean not null,
    files_received integer,
    files_accepted integer,
    files_rejected integer,
    files_duplicate integer,
    files_skipped integer,
    rows_read integer,
    rows_loaded integer,
    rows_rejected integer,
    checks_passed integer,
    checks_warned integer,
    checks_failed integer,
    build_mode varchar,
    build_base_run_id varchar,
    stage_seconds json,
    restored_run_id varchar,
    error_message varchar,
    command varchar,
    stage_peak_mb json
);
comment on table meta.runs is
    '夜间任务与回滚的运行记录，每次一行（含未发布与被中断的运行）/ one row per nightly run or rollback, '
    'including runs that were not published or were interrupted';
comment on column meta.runs.run_id is '运行编号（UTC 开始时间加随机后缀）/ run id: UTC start time and a random suffix';
comment on column meta.runs.started_at is '开始时间（UTC，带时区）/ when the run started (UTC, with its zone)';
comment on column meta.runs.ended_at is
    '结束时间（UTC，带时区）；本仓库自身那次运行记为封存时刻 / when it ended (UTC, with its zone); for the run that built this '
    'warehouse, the moment the warehouse was sealed';
comment on column meta.runs.status is
    '结果：published 已发布，nothing_to_do 无新内容未构建，checks_failed 检查未通过，warehouse_in_use 仓库被占用'
    '未能发布，error 出错，locked 另一运行持锁，interrupted 被中断，rollback 回滚 / outcome: published, '
    'nothing_to_do (nothing new, nothing built), checks_failed, warehouse_in_use (built, but the published '
    'file was held open read-write), error, locked (another run held the lock), interrupted (killed or '
    'crashed) or rollback';
comment on column meta.runs.published is '是否发布了新仓库 / whether it published a warehouse';
comment on column meta.runs.files_received is '收件箱中收到的文件数 / files taken from the inbox';
comment on column meta.runs.files_accepted is '通过校验并载入的文件数 / files accepted and loaded';
comment on column meta.runs.files_rejected is '被拒收并隔离的文件数 / files rejected and quarantined';
comment on column meta.runs.files_duplicate is '与已收文件内容相同的文件数 / files whose bytes were received before';
comment on column meta.runs.files_skipped is '跳过的文件数（非填报文件）/ files skipped (not submissions)';
comment on column meta.runs.rows_read is '读取的数据行数 / data rows read';
comment on column meta.runs.rows_loaded is '载入的数据行数 / data rows loaded';
comment on column meta.runs.rows_rejected is '拒收的数据行数 / data rows rejected';
comment on column meta.runs.checks_passed is '通过的检查数 / checks passed';
comment on column meta.runs.checks_warned is '警告级未通过的检查数 / warning-level checks that failed';
comment on column meta.runs.checks_failed is '错误级未通过的检查数（>0 则不发布）/ error-level checks failed (any blocks publishing)';
comment on column meta.runs.build_mode is
    '构建方式：full 全量重建，incremental 只重建新数据涉及的部分 / full: everything rebuilt; '
    'incremental: only what new data touches rebuilt on the previous warehouse';
comment on column meta.runs.build_base_run_id is '增量构建所基于的仓库（运行编号）/ for an incremental build, the warehouse it started from';
comment on column meta.runs.stage_seconds is
    '各阶段用时（秒，JSON：ingest、load、dbt、expectations、压缩时 compact、publish）/ seconds per stage (JSON)';
comment on column meta.runs.restored_run_id is '回滚时恢复到的运行 / for a rollback, the run restored';
comment on column meta.runs.error_message is '失败原因（中文 / English）/ why it failed, in Chinese then English';
comment on column meta.runs.command is '命令：nightly、build 或 rollback / the command: nightly, build or rollback';
comment on column meta.runs.stage_peak_mb is
    '各阶段常驻内存峰值（MiB，JSON；dbt_child 为 dbt 子进程）/ resident memory high-water mark per stage '
    '(MiB, JSON; dbt_child: the dbt child process)';
"""


def _table_columns(con: duckdb.DuckDBPyConnection, database: str, schema: str, table: str) -> list[str]:
    return [
        row[0]
        for row in con.execute(
            "select column_name from information_schema.columns "
            "where table_catalog = ? and table_schema = ? and table_name = ? order by ordinal_position",
            [database, schema, table],
        ).fetchall()
    ]


def _dict_rows(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _carry_check_results(con: duckdb.DuckDBPyConnection, database: str) -> None:
    """Append the check results of runs this warehouse does not hold yet from attached `database`."""
    source = _table_columns(con, database, "quality", "check_results")
    here = con.execute("select current_database()").fetchone()[0]
    target = set(_table_columns(con, here, "quality", "check_results"))
    common = ", ".join(f'"{c}"' for c in source if c in target)
    if common:
        con.execute(
            f"insert into quality.check_results ({common}) select {common} from "
            f'"{database}".quality.check_results '
            "where run_id not in (select distinct run_id from quality.check_results)"
        )


def write_meta(con: duckdb.DuckDBPyConnection, data_dir: DataDir, record: RunRecord) -> None:
    """Write meta.runs and the earlier runs' check results into the warehouse about to be published.

    History comes from the warehouse published now (meta.runs, quality.check_results), then from the run
    log, which also has the runs that were never published; a failed build kept under work/ gives its
    check results. The log wins over the warehouse for a run in both: it has the run's final state.
    """
    con.execute(META_DDL)
    runs: dict[str, RunRecord] = {}
    if data_dir.warehouse.exists():
        con.execute("attach ? as previous (read_only)", [str(data_dir.warehouse)])
        if _table_columns(con, "previous", "meta", "runs"):
            for row in _dict_rows(con, "select * from previous.meta.runs"):
                runs[row["run_id"]] = RunRecord.from_mapping(row)
        if _table_columns(con, "previous", "quality", "check_results"):
            _carry_check_results(con, "previous")
        con.execute("detach previous")
    for logged in read_runs(data_dir):
        runs[logged.run_id] = logged
    runs[record.run_id] = record
    for run in runs.values():
        failed_build = data_dir.work / f"failed-{run.run_id}.duckdb"
        if run.status == "checks_failed" and failed_build.exists():
            con.execute("attach ? as failed_build (read_only)", [str(failed_build)])
            _carry_check_results(con, "failed_build")
            con.execute("detach failed_build")
    names = [f.name for f in fields(RunRecord)]
    rows = []
    for run in sorted(runs.values(), key=lambda r: (r.started_at, r.run_id)):
        data = run.to_json_dict()
        data["stage_seconds"] = json.dumps(data["stage_seconds"])
        data["stage_peak_mb"] = json.dumps(data["stage_peak_mb"])
        rows.append([data[name] for name in names])
    con.executemany(
        f"insert into meta.runs ({', '.join(names)}) values ({', '.join('?' for _ in names)})", rows
    )


# --- the lock -------------------------------------------------------------------------------------


def lock_path(data_dir: DataDir) -> Path:
    return data_dir.root / "nightly.lock"


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        holder = json.loads(os.pread(fd, 65536, 0).decode("utf-8") or "{}")
    except (ValueError, UnicodeDecodeError):
        return {}
    return holder if isinstance(holder, dict) else {}


@dataclass
class NightlyLock:
    path: Path
    fd: int
    holder: dict[str, Any]
    stale: dict[str, Any]  # what a holder that died left in the file; empty after a clean exit

    def note_stage(self, stage: str) -> None:
        """Say in the lock file which stage the run is in, for the message a second run prints."""
        self.holder["stage"] = stage
        content = json.dumps(self.holder, ensure_ascii=False).encode("utf-8")
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, content, 0)


@contextmanager
def hold_lock(path: Path, run_id: str) -> Iterator[NightlyLock]:
    """Take the nightly lock without waiting, or raise LockHeldError naming the run that has it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeldError(path, _read_holder(fd)) from None
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": utc_now().isoformat(timespec="seconds"),
            "run_id": run_id,
        }
        lock = NightlyLock(path, fd, holder, _read_holder(fd))
        lock.note_stage("starting")
        try:
            yield lock
        finally:
            os.ftruncate(fd, 0)  # an empty file tells the next run this one ended on its own
    finally:
        os.close(fd)  # releases the flock


def _in_use(database: Path) -> bool:
    """Whether another process has `database` open: DuckDB holds a POSIX record lock on an open file.

    Only for files this process does not have open itself (closing the probe would drop its own lock).
    """
    try:
        fd = os.open(database, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def recover_interrupted(data_dir: DataDir, stale: Mapping[str, Any], orphan_wait: float) -> None:
    """Record a run that died holding the lock, and wait for the dbt it may have left running."""
    dead = stale.get("run_id")
    where = (dead, stale.get("pid"), stale.get("host"), stale.get("stage"), lock_path(data_dir))
    logger.warning(
        "运行 %s（%s 上的进程 %s）在 %s 阶段中断，未释放 %s；本次运行接管 / "
        "run %s (pid %s on %s) stopped during %s without releasing %s; taking over",
        where[0],
        where[2],
        where[1],
        where[3],
        where[4],
        *where,
    )
    if not isinstance(dead, str):
        return
    working = working_database(data_dir)
    deadline = time.monotonic() + orphan_wait
    while _in_use(working):
        if time.monotonic() > deadline:
            raise OrphanBusyError(working, dead, orphan_wait)
        time.sleep(1)
    if any(run.run_id == dead for run in read_runs(data_dir)):
        return  # it died after logging itself
    if published_run_id(data_dir) == dead:
        # It died after its rename: its own row, sealed into the warehouse it published, is the record.
        with open_read_only(data_dir.warehouse) as con:
            (row,) = _dict_rows(con, "select * from meta.runs where run_id = ?", [dead])
        append_run(data_dir, RunRecord.from_mapping(row))
        return
    stage = stale.get("stage", "?")
    append_run(
        data_dir,
        RunRecord(
            run_id=dead,
            started_at=_parse_utc(stale["started_at"]),
            status="interrupted",
            error_message=f"运行在 {stage} 阶段中断（进程被终止或崩溃），未发布；其工作由下一次运行重做 / "
            f"the run stopped during {stage} (killed or crashed) and published nothing; the next run redid its work",
        ),
    )


def sweep_leftovers(data_dir: DataDir, keep: int) -> None:
    """Remove what interrupted runs left: half-written exports and working databases nobody has open.

    Failed builds (work/failed-*.duckdb) are kept for inspection, the `keep` newest of them.
    """
    for folder in data_dir.root.glob("export.tmp-*"):
        shutil.rmtree(folder)
    for database in sorted(data_dir.work.glob("unpublished-*.duckdb"))[: -keep or None]:
        database.unlink()
    for pattern in (working_database(data_dir).name, COMPACT_NAME, "rollback-*.duckdb"):
        for database in data_dir.work.glob(pattern):
            if not _in_use(database):
                database.unlink()
                database.with_name(database.name + ".wal").unlink(missing_ok=True)
    failed = sorted(data_dir.work.glob("failed-*.duckdb"))
    for database in failed[: max(len(failed) - keep, 0)]:
        database.unlink()
        database.with_name(database.name + ".wal").unlink(missing_ok=True)


def repair_exports(data_dir: DataDir, run_id: str, memory_limit: str) -> None:
    """Re-export the published warehouse if export/ belongs to another run (a publish cut short); DuckDB
    bounded by `memory_limit` (config storage.memory_limit), as every other export is."""
    if warehouse_holder(data_dir.warehouse) is not None:
        return  # nothing can read it now; the run says so when it comes to publish
    published = published_run_id(data_dir)
    if published is None or export_run_id(export_dir(data_dir)) == published:
        return
    logger.warning(
        "export/ 与已发布的仓库 %s 不符，重新导出 / export/ does not match the published warehouse %s; "
        "exporting it again",
        published,
        published,
    )
    exports = export_tmp_dir(data_dir, run_id)
    spill = data_dir.work / f"repair-{run_id}.tmp"  # the warehouse is opened read-only: spill beside it
    try:
        with open_read_only(data_dir.warehouse) as con, within_memory_limit(memory_limit):
            limit_connection(con, memory_limit, spill_to=spill)
            export_marts(con, exports, published, previous=export_dir(data_dir))
    finally:
        shutil.rmtree(spill, ignore_errors=True)
    swap_exports(exports, export_dir(data_dir))


@contextmanager
def _exclusive(
    data_dir: DataDir, run_id: str, keep: int, orphan_wait: float, memory_limit: str
) -> Iterator[NightlyLock]:
    """Hold the lock, with whatever an interrupted predecessor left behind recorded and tidied (its
    exports redone within `memory_limit`)."""
    data_dir.ensure()
    with hold_lock(lock_path(data_dir), run_id) as lock:
        if lock.stale:
            recover_interrupted(data_dir, lock.stale, orphan_wait)
        sweep_leftovers(data_dir, keep)
        repair_exports(data_dir, run_id, memory_limit)
        yield lock


# --- stages ---------------------------------------------------------------------------------------


class StageClock:
    """Times a run's stages into its record, with this process's resident high-water mark in each (the
    mark is reset as a stage begins), notes each in the lock file, and pauses where a test asks."""

    def __init__(
        self, record: RunRecord, lock: NightlyLock | None = None, pause_at: str | None = None
    ) -> None:
        self.record = record
        self.lock = lock
        self.pause_at = pause_at
        self.current: str | None = None
        self.since = time.monotonic()

    def enter(self, stage: str) -> None:
        self.finish()
        self.current, self.since = stage, time.monotonic()
        reset_peak_rss()
        if self.lock is not None:
            self.lock.note_stage(stage)
        logger.info("run %s: %s", self.record.run_id, stage)
        self.pause(stage)

    def lap(self) -> dict[str, float]:
        """Seconds per stage so far, the current stage up to now included."""
        laps = dict(self.record.stage_seconds)
        if self.current is not None:
            laps[self.current] = round(laps.get(self.current, 0.0) + time.monotonic() - self.since, 3)
        return laps

    def finish(self) -> None:
        """End the current stage: its seconds and its resident high-water mark into the record."""
        self.record.stage_seconds = self.lap()
        peak = peak_rss_mb()
        if self.current is not None and peak is not None:
            peaks = self.record.stage_peak_mb
            peaks[self.current] = max(peaks.get(self.current, 0.0), peak)
        self.current = None

    def pause(self, point: str) -> None:
        if point == self.pause_at:
            logger.warning("测试暂停于 %s / paused at %s (%s test hook)", point, point, FAULT_PAUSE_ENV)
            time.sleep(FAULT_PAUSE_SECONDS)


@contextmanager
def _recorded(data_dir: DataDir, record: RunRecord, clock: StageClock) -> Iterator[None]:
    """Log the run when it ends, however it ends; an exception is recorded as the run's error and raised.

    A run that could not take the lock is recorded as `locked`: it changed nothing."""
    try:
        yield
    except BaseException as exc:  # a bug or Ctrl-C too: recorded, then raised as is
        full = disk_full(exc, data_dir.root)
        if full is not None:  # wherever it struck (our writes, DuckDB's, the dbt child's): said so
            record.status, record.error_message = full.run_status, str(full)
            raise full from exc
        record.status = exc.run_status if isinstance(exc, RegreenError) else "error"
        record.error_message = str(exc) if isinstance(exc, RegreenError) else f"{type(exc).__name__}: {exc}"
        raise
    finally:
        clock.finish()
        record.ended_at = utc_now()
        try:
            append_run(data_dir, record)
        except OSError as exc:  # a full disk takes the log line too; the error above is what matters
            logger.warning("运行记录未能写入 / the run was not logged in %s: %s", runs_log(data_dir), exc)


def _publish(
    data_dir: DataDir, sealed: Path, exports: Path, record: RunRecord, keep: int, clock: StageClock
) -> None:
    clock.pause("publish-rename")
    commit_warehouse(data_dir, sealed)
    record.published = True
    clock.pause("publish-swap")
    swap_exports(exports, export_dir(data_dir))
    prune_history(data_dir, keep)


def publish_build(
    data_dir: DataDir,
    working: Path,
    record: RunRecord,
    keep: int,
    clock: StageClock,
    memory_limit: str = SETTINGS["storage"]["memory_limit"].default,
    staged: StagedExports | None = None,
) -> None:
    """Seal a checked build (the run history into meta.*, its exports beside it) and publish both;
    DuckDB bounded by `memory_limit` (config storage.memory_limit). The exports are those `staged`
    already wrote beside the suites (an incremental build), else written now."""
    exports = export_tmp_dir(data_dir, record.run_id)
    # Sealed in as published: if the rename below does not happen, nobody ever sees this row.
    sealed = replace(
        record, status="published", published=True, ended_at=utc_now(), stage_seconds=clock.lap()
    )
    with duckdb.connect(str(working)) as con:
        limit_connection(con, memory_limit)
        write_meta(con, data_dir, sealed)
        if staged is None:
            export_marts(con, exports, record.run_id, previous=export_dir(data_dir))
        elif not staged.written:
            staged.write(con)
        con.execute("checkpoint")
    _publish(data_dir, working, exports, record, keep, clock)


@dataclass
class NightlyRun:
    record: RunRecord
    warehouse: Path
    command: str  # nightly | build: how the run was asked for, for its summary
    config: Config
    relations_built: int = 0
    checks: list[CheckResult] = field(default_factory=list)
    restated: list[str] = field(default_factory=list)  # the ingest receipt's restatements, file: message

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.record.status in ("published", "nothing_to_do") else EXIT_CHECKS_FAILED

    @property
    def new_files(self) -> int:
        """Files this run took that were not received before (accepted or rejected)."""
        return (self.record.files_accepted or 0) + (self.record.files_rejected or 0)

    def render(self) -> str:
        """What this run did, this time: new files, rows loaded, relations rebuilt, checks, the outcome."""
        r = self.record
        when = local_time(r.started_at, self.config.zone)
        if r.status == "nothing_to_do":
            outcome = (
                f"没有新内容，未构建、未发布；已发布的仓库（运行 {r.build_base_run_id}）不变 / nothing new: "
                f"no new file and no change to the notice, models or code; {self.warehouse} (run "
                f"{r.build_base_run_id}) left as it was"
            )
        elif r.published:
            outcome = f"已发布 / published {self.warehouse}"
        else:
            outcome = f"未发布，保留上次成功的仓库 / NOT published, {self.warehouse} left as it was"
        lines = [f"regreen {self.command} {r.run_id} ({when}): {outcome}"]
        if self.command == "nightly":
            if r.files_received:
                lines.append(
                    f"  本次新文件 / new files: {self.new_files} ({r.files_accepted} accepted, "
                    f"{r.files_rejected} rejected); also {r.files_duplicate} received before, "
                    f"{r.files_skipped} skipped"
                )
                lines.append(
                    f"  本次数据行 / rows this run: {r.rows_read} read, {r.rows_loaded} loaded, "
                    f"{r.rows_rejected} rejected"
                )
            else:
                lines.append("  本次新文件 / new files: 0 (收件箱为空 / the inbox was empty)")
            lines += [f"  重报 / restated: {line}" for line in self.restated]
        if r.build_mode == "incremental":
            carried = sum(c.carried_from_run is not None for c in self.checks)
            lines.append(
                f"  增量构建 / incremental build on {r.build_base_run_id}: {self.relations_built} tables "
                f"and views rebuilt, {carried} checks carried (nothing they read changed)"
            )
        elif r.build_mode == "full":
            lines.append(f"  全量构建 / full build: {self.relations_built} tables and views built")
        if r.checks_passed is not None:
            lines.append(
                f"  检查 / checks: {r.checks_passed} passed, {r.checks_warned} warned, {r.checks_failed} failed"
            )
        seconds = ", ".join(f"{stage} {spent:.1f}" for stage, spent in r.stage_seconds.items())
        lines.append(f"  用时 / seconds: {seconds} (total {sum(r.stage_seconds.values()):.1f})")
        for c in self.checks:
            if c.status == "passed":
                continue
            lines.append(
                f"  [{c.status}] {c.suite}: {c.check}（实际 / observed {c.observed}，应为 / expected {c.expected}）"
            )
            # A row-level check lists the rows it rejected by their keys (project and month) and values.
            if c.details:
                lines.append(f"      {c.details}")
        return "\n".join(lines)


def nightly(
    notice: Path,
    data_dir: DataDir,
    today: date,
    config: Config | None = None,
    keep: int | None = None,
    pause_at: str | None = None,
    orphan_wait: float = ORPHAN_WAIT_SECONDS,
    ingest: bool = True,
    full: bool = False,
    dbt: DbtProcess | None = None,
) -> NightlyRun:
    """One nightly run (see the module docstring). Raises LockHeldError if another run is in progress.

    With `ingest=False` (`regreen build`) the inbox is left alone and the warehouse is rebuilt from the
    notice and what the landing zone already holds, under the same lock and the same publish.
    The build is incremental when the published warehouse allows it (regreen.build), full with `full`.
    A RegreenError on the way (a bad notice, dbt failing, the lock held, the published file held
    read-write by another program) is recorded in the run log and raised again; failed error-level
    checks are recorded and returned, with nothing published. `config` gives the ingest its settings,
    the time zone, the alert targets (default: the defaults); `keep` overrides its `[history] keep`.
    `dbt` is the child `regreen.dbt.start_early` started before this run (the build uses it if it
    parses with this run's vars, see `start_dbt`); the caller ends it.
    """
    config = config or default_config()
    keep = config.get("history", "keep") if keep is None else keep
    command = "nightly" if ingest else "build"
    record = RunRecord(new_run_id(), started_at=utc_now(), command=command)
    run = NightlyRun(record, data_dir.warehouse, command, config)
    clock = StageClock(record, pause_at=pause_at)
    try:
        with (
            _recorded(data_dir.ensure(), record, clock),
            _exclusive(
                data_dir, record.run_id, keep, orphan_wait, config.get("storage", "memory_limit")
            ) as lock,
        ):
            clock.lock = lock
            _build_and_publish(run, notice, data_dir, today, keep, clock, full, dbt)
    finally:
        if record.status != "locked":  # the run holding the lock will tell
            refresh_report(data_dir, config)
            if ingest:
                _alert(run, data_dir, config, today)
    return run


def _build_and_publish(
    run: NightlyRun,
    notice: Path,
    data_dir: DataDir,
    today: date,
    keep: int,
    clock: StageClock,
    full: bool,
    early: DbtProcess | None,
) -> None:
    record = run.record
    if run.command == "nightly":
        clock.enter("ingest")
    parsed = parsed_notice(notice, data_dir.work)
    plan, reference = parsed.plan, parsed.reference
    due_setting = run.config.get("submissions", "first_due_month")
    first_due = reference.first_due_month(due_setting)
    remember_first_due_month(data_dir.work, notice, due_setting, first_due)
    memory_limit = run.config.get("storage", "memory_limit")
    variables = dbt_vars(run.config, first_due)
    storage_version = run.config.get("storage", "duckdb_storage_version")
    with ExitStack() as stack, start_dbt(data_dir, variables, memory_limit, early) as dbt:
        # The plan's objects live as long as the run: kept out of the cyclic garbage collector's later
        # collections, each of which walked them all (at 130,000 projects, 0.6 s of the 0.9 s the
        # ingest's name lookups took to build), until the run is over.
        gc.freeze()
        stack.callback(gc.unfreeze)
        # The copy an incremental build starts from, made while the ingest runs (removed if not taken).
        # Only with files in the inbox: a night with none has nothing to overlap it with, and most such
        # nights find nothing new, which would wait for a copy (2 s at the scale bench's 100×) to remove it.
        inputs = (
            _inputs_before_ingest(plan, data_dir, dbt.variables, storage_version)
            if run.command == "nightly" and not full
            else None
        )
        overlap = inputs is not None and any(data_dir.inbox.iterdir())
        prepared = prepare_copy(data_dir, dbt, inputs) if overlap else None
        if prepared is not None:
            stack.callback(prepared.discard)
        if run.command == "nightly":
            settings = IngestSettings.from_config(run.config)
            pause = functools.partial(clock.pause, "ingest-batch")
            received = ingest_inbox(data_dir, reference, today, settings, pause, run_id=record.run_id)
            record.take_ingest(received)
            run.restated = [f"{f.name}: {line}" for f in received.files for line in f.restated]
        # A warehouse held read-write cannot be read: built in full, and not compared with either.
        held = warehouse_holder(data_dir.warehouse) is not None
        may_skip = run.command == "nightly" and not (full or held)
        if may_skip:
            # Found again only if they could not be before the ingest: raises what stood in the way.
            inputs = inputs or build_inputs(plan, data_dir, dbt.variables, storage_version)
            if (published := nothing_new(data_dir, inputs)) is not None:
                record.status, record.build_base_run_id = "nothing_to_do", published
                return
        clock.enter("load")
        # Exports staged while dbt and the suites run (StagedExports); removed unless swapped in.
        exports = StagedExports(data_dir, record.run_id)
        stack.callback(exports.close)

        stack.callback(parsed.join)

        def on_stage(stage: str) -> None:
            clock.enter(stage)
            if stage == "dbt":  # work for this process's idle core while dbt's child builds
                exports.prefetch()
                parsed.keep()

        with within_memory_limit(memory_limit):
            staged = stage_build(
                plan,
                data_dir,
                record.run_id,
                dbt,
                storage_version,
                on_stage=on_stage,
                full=full or held,
                compact_slack=run.config.get("storage", "compact_slack"),
                memory_limit=memory_limit,
                beside_suites=exports.write,
                suite_memory_limit=run.config.get("quality", "suite_memory_limit"),
                prepared=prepared,
                inputs=inputs,
            )
        summary = staged.summary
        if summary.dbt_peak_mb is not None:
            record.stage_peak_mb["dbt_child"] = summary.dbt_peak_mb
        record.build_mode, record.build_base_run_id = summary.mode, summary.base_run_id
        run.relations_built, run.checks = summary.relations_built, summary.checks
        record.take_checks(summary.checks)
        if failed := summary.failed_checks:
            discard(staged)
            record.status = "checks_failed"
            record.error_message = str(
                ChecksFailedError([f"{c.suite}: {c.check} ({c.observed} ≠ {c.expected})" for c in failed])
            )
            return
        holder = warehouse_holder(data_dir.warehouse)
        if holder is not None:
            kept = staged.working.rename(staged.working.with_name(f"unpublished-{record.run_id}.duckdb"))
            raise WarehouseInUseError(data_dir.warehouse, holder or None, kept)
        clock.enter("publish")
        with within_memory_limit(memory_limit):
            publish_build(data_dir, staged.working, record, keep, clock, memory_limit, exports)
        record.status = "published"


def _inputs_before_ingest(
    plan: Plan, data_dir: DataDir, variables: Mapping[str, object], storage_version: str
) -> BuildInputs | None:
    """The build's inputs and its base (`build_inputs`), found once for the whole night: the published
    warehouse does not change under the lock, and each finding reads every project file and opens the
    published warehouse (~0.1 s at 1×). None when they cannot be found yet (no figure contract, the
    published file held read-write by another program): the ingest runs all the same."""
    try:
        return build_inputs(plan, data_dir, variables, storage_version)
    except (RegreenError, duckdb.Error) as exc:
        logger.info("the build's inputs are not known before the ingest: %s", exc)
        return None


def latest_failure(data_dir: DataDir) -> FailedRun | None:
    """The latest run, if it meant to publish and did not (runs that found the lock held do not count)."""
    runs = [run for run in read_runs(data_dir) if run.status not in ("locked", "running")]
    if not runs or not runs[-1].failed:
        return None
    latest = runs[-1]
    return FailedRun(latest.run_id, latest.ended_at or latest.started_at, latest.status, latest.error_message)


def refresh_report(data_dir: DataDir, config: Config) -> None:
    """Rewrite the progress report from the published warehouse, with a red banner when the latest run
    did not publish. The run is already over, so a report that cannot be written is a warning."""
    if not data_dir.warehouse.exists():
        return  # nothing published yet: no report to show
    try:
        write_report(
            data_dir.warehouse,
            report_dir(data_dir),
            config.zone,
            latest_failure(data_dir),
            config.get("report", "project_rows"),
            config.get("storage", "memory_limit"),
        )
    except (RegreenError, OSError) as exc:  # OSError: a full disk, which the run's own error reports
        logger.warning("未能更新进展报告 / the report was not refreshed: %s", exc)


def _alert(run: NightlyRun, data_dir: DataDir, config: Config, today: date) -> None:
    """Tell the configured targets what the run found; a target that cannot be reached is only logged."""
    overdue = overdue_townships(data_dir.warehouse, today, config.get("submissions", "due_day"))
    alert = compose_alert(run.record, run.checks, overdue, config.zone)
    if alert is not None:
        send_alert(alert, config)


def fault_pause_point(environ: Mapping[str, str]) -> str | None:
    """The REGREEN_FAULT_PAUSE test hook's point, if set."""
    point = environ.get(FAULT_PAUSE_ENV) or None
    if point is not None and point not in PAUSE_POINTS:
        raise UnknownPausePointError(point)
    return point


# --- rollback -------------------------------------------------------------------------------------


def rollback(
    data_dir: DataDir, to: str | None = None, config: Config | None = None, keep: int | None = None
) -> RunRecord:
    """Publish a copy of a warehouse kept in history/ (default: the newest that is not published now).

    The copy is published like a nightly build (the outgoing warehouse goes to history/, so a rollback can
    itself be undone with --to) and its exports are written again; the file is left exactly as it was
    built, and the rollback is recorded in the run log (the next nightly's meta.runs shows it).
    """
    config = config or default_config()
    keep = config.get("history", "keep") if keep is None else keep
    run_id = new_run_id()
    memory_limit = config.get("storage", "memory_limit")
    with _exclusive(data_dir, run_id, keep, ORPHAN_WAIT_SECONDS, memory_limit) as lock:
        available = history_runs(data_dir)
        current = published_run_id(data_dir)
        target = to if to is not None else next((r for r in reversed(available) if r != current), None)
        if target is None or target not in available:
            raise RollbackTargetError(to, available, history_dir(data_dir))
        record = RunRecord(
            run_id, started_at=utc_now(), status="rollback", restored_run_id=target, command="rollback"
        )
        clock = StageClock(record, lock)
        with _recorded(data_dir, record, clock):
            clock.enter("publish")
            copy = data_dir.work / f"rollback-{run_id}.duckdb"
            copy_database(history_dir(data_dir) / f"{target}.duckdb", copy)
            exports = export_tmp_dir(data_dir, run_id)
            with open_read_only(copy) as con, within_memory_limit(memory_limit):
                limit_connection(con, memory_limit, spill_to=copy.with_name(f"{copy.name}.tmp"))
                export_marts(con, exports, target, previous=export_dir(data_dir))
            _publish(data_dir, copy, exports, record, keep, clock)
    refresh_report(data_dir, config)
    return record


@dataclass(frozen=True)
class KeptWarehouse:
    """One warehouse `regreen rollback` can publish (or the one published now), as its meta.runs says."""

    run_id: str
    path: Path
    published: bool
    run: RunRecord | None  # None for a warehouse that holds no record of its own run

    def render(self, zone: ZoneInfo) -> str:
        mark = "  ← 已发布 / published" if self.published else ""
        r = self.run
        if r is None:
            return f"{self.run_id}  （无运行记录 / no run record）{mark}"
        return (
            f"{self.run_id}  {local_time(r.ended_at or r.started_at, zone)}  {r.status}  "
            f"files {r.files_accepted if r.files_accepted is not None else '—'}  "
            f"rows {r.rows_loaded if r.rows_loaded is not None else '—'}  "
            f"checks {r.checks_passed}/{r.checks_warned}/{r.checks_failed} passed/warned/failed{mark}"
        )


def kept_warehouses(data_dir: DataDir) -> list[KeptWarehouse]:
    """The warehouses in history/ and the published one, oldest first, each with its own run's record."""
    published = published_run_id(data_dir)
    paths = {run_id: history_dir(data_dir) / f"{run_id}.duckdb" for run_id in history_runs(data_dir)}
    if published is not None:
        paths[published] = data_dir.warehouse
    kept = []
    for run_id in sorted(paths):
        with open_read_only(paths[run_id]) as con:
            has_runs = _table_columns(con, "warehouse", "meta", "runs")
            rows = _dict_rows(con, "select * from meta.runs where run_id = ?", [run_id]) if has_runs else []
        run = RunRecord.from_mapping(rows[0]) if rows else None
        kept.append(KeptWarehouse(run_id, paths[run_id], run_id == published, run))
    return kept


# --- schedule -------------------------------------------------------------------------------------


def venv_regreen() -> Path:
    """The `regreen` script of the environment running now (the venv's bin/, beside its python)."""
    return Path(sys.executable).with_name("regreen")


def _systemd_quote(word: str) -> str:
    escaped = word.replace("%", "%%").replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"' if any(c.isspace() for c in word) or '"' in word else escaped


def schedule_text(
    regreen: Path, data_dir: Path, notice: Path, at: clock_time, zone: ZoneInfo, config: Path | None = None
) -> str:
    """A crontab line, and a systemd service and timer, running the nightly at `at` every day in `zone`
    (the configured time zone), whatever zone the server's clock is set to."""
    command = [str(regreen), "nightly", "--data-dir", str(data_dir)]
    if config is not None:
        command += ["--config", str(config)]
    if notice != BUNDLED_NOTICE:
        command += ["--notice", str(notice)]
    log = data_dir / "logs" / "nightly.log"
    # cron hands the line to sh, and treats an unescaped % as a newline.
    cron = " ".join(shlex.quote(word) for word in command) + f" >> {shlex.quote(str(log))} 2>&1"
    cron = cron.replace("%", "\\%")
    exec_start = " ".join(_systemd_quote(word) for word in command)
    return f"""\
# --- crontab of the regreen user (crontab -u regreen -e): every day at {at:%H:%M} {zone.key}, output
#     appended to {log}
# CRON_TZ is honoured by cronie (RHEL, Fedora, Arch, SUSE); Debian's and Ubuntu's cron ignore it and use
# the server's zone: there, use the systemd timer below.
CRON_TZ={zone.key}
{at.minute} {at.hour} * * * {cron}

# --- /etc/systemd/system/regreen-nightly.service
[Unit]
Description=regreen nightly warehouse build (废弃矿山生态修复数据仓库夜间构建)
After=local-fs.target

[Service]
Type=oneshot
# A dedicated user owning {data_dir}, never root: the inbox holds what others upload.
# (useradd --system --home-dir {data_dir} regreen && chown -R regreen: {data_dir})
User=regreen
Group=regreen
UMask=0077
NoNewPrivileges=yes
ExecStart={exec_start}
# Exit codes: 0 published or nothing new, 1 checks failed (nothing published), 2 usage/configuration,
# 73 the published warehouse is held open read-write by another program, 75 locked.
TimeoutStartSec=3h
Nice=10

# --- /etc/systemd/system/regreen-nightly.timer
[Unit]
Description=Run regreen nightly every day at {at:%H:%M} {zone.key}

[Timer]
# A time zone after the time needs systemd 235 or later.
OnCalendar=*-*-* {at:%H:%M}:00 {zone.key}
Persistent=true

[Install]
WantedBy=timers.target

# then: systemctl daemon-reload && systemctl enable --now regreen-nightly.timer
#       journalctl -u regreen-nightly   (the run's output)
"""
