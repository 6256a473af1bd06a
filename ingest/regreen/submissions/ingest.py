"""Take every file in the inbox: archive it, validate it, then load it or quarantine it.

Files are taken in order of arrival (modification time, then name). What is taken, and what is left:

- Only regular files. The inbox is listed with lstat and a file is opened with O_NOFOLLOW | O_NONBLOCK:
  a symlink is never followed (so the inbox cannot be used to copy /etc/passwd into archive/), and a
  named pipe, socket or device is never read (a pipe would block the run forever). These, folders,
  Office lock files (~$…), macOS metadata files (._…) and files of other types are left in the inbox,
  skipped with a reason.
- Only finished uploads. A file whose modification time is less than `settle_seconds` old may still be
  being written: it is left in the inbox for the next run. Every write moves the modification time
  forward; a tool that sets an older one (cp -p, scp -p, rsync -t, WinSCP) does so after the last byte,
  and a file renamed into the inbox (rsync, `regreen sample`) is complete when it appears: in all these
  cases an old modification time means a complete file. A time in the future (a clerk's clock, kept by
  scp -p) is not trusted: the change time (ctime, which nobody can set) is used instead.
- A file that changes while it is read (size, modification or change time) is left in the inbox too.
- A file larger than `max_file_bytes` is archived (streamed, never held in memory) and rejected unread.

For each file taken:

1. read its bytes and hash them;
2. archive them to `archive/<sha256><suffix>` (temp file, rename; an existing copy is kept if its
   bytes hash the same): a file leaves the inbox only once a copy of exactly the bytes judged is
   archived, and synced (step 5). A file too large to hold is copied in chunks and its copy hashed
   again, since it may change between the two reads;
3. same bytes already received: a receipt with outcome 'duplicate', nothing reloaded;
4. else validate exactly those bytes, under the clerk's file name: accepted → its rows are to land in
   raw.submission_rows; rejected → the file (a hard link to its archive copy) and its clerk-readable
   report are written to `quarantine/`. Either way a raw.submission_files row, its issues (at most
   `max_issues_per_file`, personal data masked) and a receipt are to land. Small CSV files wait for the
   next few and are judged together (Judge.judge_files), each exactly as if judged alone in turn.
5. Files land in batches (BATCH_FILES, BATCH_ROWS; the files left for the last two split evenly, see
   batch_limit), one transaction each, checkpointed as it commits (its rows written from DuckDB's
   write-ahead log into the database file). Before it, every archive and quarantine file of the batch is
   synced (all at once, then the folders); only after it committed are the batch's files removed from the
   inbox (each unless it was replaced or rewritten since it was read: that is a new arrival, taken next
   run). A batch lands on a thread of its own while the next batch's files are read, archived and judged;
   batches land one at a time, in order, and the run ends once the last has landed.

No superseding happens here: every version stays, the warehouse picks the latest per project and month.

A file name is data (see names.py): it is stored and printed in its escaped display form, and a file
regreen writes is named by the sha256 (archive/) or a short sanitised form of it (quarantine/).

What a crash (power loss, SIGKILL) at each point leaves, and what the next run does with it:

- while archiving or writing to quarantine: the inbox still holds the file; at most a `.partial` temp
  file, which the next run deletes. The file is processed afresh.
- after archiving, before the batch's sync: the inbox still holds every file of the batch. After a
  power loss an archive copy may be damaged: the next run finds its hash wrong and archives it again.
- after the sync, before or during the batch's transaction: the archive (and quarantine) hold the
  bytes, the landing holds nothing of the batch (DuckDB rolls an uncommitted transaction back), the
  inbox still holds every file of it. The next run finds the archive copy in place, rewrites the same
  quarantine files, and lands the batch as if for the first time.
- after the commit, before or while the batch's files leave the inbox: the landing already holds a
  receipt for each of those very arrivals (same content, name and modification time). The next run
  recognises them, removes them from the inbox and adds nothing, instead of recording duplicates.
- after removing them: done.

So a rerun converges on what one uninterrupted run would have landed: nothing lost, nothing twice.
Two ingests cannot interleave: the landing database is opened read-write for the whole run, and
DuckDB lets only one process hold it so.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal

import duckdb
import numpy as np
import pandas as pd

from regreen.clock import new_run_id
from regreen.config import SETTINGS, Config, default_config
from regreen.errors import EXIT_LOCKED, RegreenError
from regreen.log import logger
from regreen.memory import limit_connection
from regreen.project import DataDir, fsync_path
from regreen.submissions.columns import ROW_FRAME_COLUMNS
from regreen.submissions.history import read_history
from regreen.submissions.landing import ensure_landing
from regreen.submissions.names import display_name, safe_name
from regreen.submissions.reader import (
    ARCHIVE_SUFFIXES,
    SUPPORTED_SUFFIXES,
    ReadLimits,
    SubmissionReadError,
    open_regular,
    special_file_kind,
    too_large_error,
)
from regreen.submissions.reference import PlanReference
from regreen.submissions.sample import CHINA_TZ, SAMPLE_NOTE, SAMPLE_PREFIXES
from regreen.submissions.validate import (
    TOGETHER,
    TOGETHER_ROWS,
    FileReport,
    Judge,
    Submitted,
    prepare_checks,
    read_error_report,
    rows_frame,
)

Outcome = Literal["accepted", "rejected", "duplicate", "skipped"]

# Spreadsheets in a format we do not read, and archives of submissions, are still submissions: they are
# rejected with a report that says how to resave or unpack them, rather than left in the inbox.
_WRONG_FORMAT_SUFFIXES = (".xls", ".xlsm", ".xlsb", ".et", ".ods", ".numbers", *ARCHIVE_SUFFIXES)
_PARTIAL = ".partial"
_COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class IngestSettings:
    """The settings an ingest runs with (regreen.toml's [limits] and [submissions])."""

    limits: ReadLimits
    settle_seconds: float
    max_issues: int
    tolerance: float  # see validate_file
    memory_limit: str = SETTINGS["storage"]["memory_limit"].default  # the landing's DuckDB (regreen.memory)

    @classmethod
    def from_config(cls, config: Config | None = None) -> IngestSettings:
        config = config or default_config()
        return cls(
            ReadLimits.from_config(config),
            config.get("submissions", "settle_seconds"),
            config.get("submissions", "max_issues_per_file"),
            config.get("submissions", "area_over_plan_tolerance"),
            config.get("storage", "memory_limit"),
        )


class LandingLockedError(RegreenError):
    exit_code = EXIT_LOCKED

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(
            f"落地库 {path} 正被另一个 regreen 进程使用（ingest 或 build），请稍后再试",
            f"the landing database {path} is in use by another regreen process (ingest or build); "
            "try again when it has finished",
        )


@dataclass(frozen=True)
class FileOutcome:
    """What became of one file taken from the inbox."""

    name: str
    outcome: Outcome
    sha256: str | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    errors: int = 0
    warnings: int = 0
    detail: str | None = None  # the quarantine report of a rejected file; why a file was skipped
    # Each project-month this file restates, with the version it replaces and when that was received.
    restated: tuple[str, ...] = ()
    # Landed before, by a run that stopped before clearing the inbox (or sent again with the same name,
    # bytes and time, which looks the same): its outcome is that earlier landing's, nothing new this run.
    recovered: bool = False


@dataclass(frozen=True)
class IngestSummary:
    run_id: str
    files: tuple[FileOutcome, ...]

    def _count(self, outcome: Outcome) -> int:
        """Files with this outcome this run; a recovered file was received, and landed, before."""
        if outcome == "duplicate":
            return sum(f.outcome == "duplicate" or f.recovered for f in self.files)
        return sum(f.outcome == outcome and not f.recovered for f in self.files)

    @property
    def _new(self) -> list[FileOutcome]:
        return [f for f in self.files if not f.recovered]

    @property
    def received(self) -> int:
        return len(self.files)

    @property
    def accepted(self) -> int:
        return self._count("accepted")

    @property
    def rejected(self) -> int:
        return self._count("rejected")

    @property
    def duplicate(self) -> int:
        return self._count("duplicate")

    @property
    def skipped(self) -> int:
        return self._count("skipped")

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self._new)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self._new)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self._new)

    def to_dict(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "files": {
                "received": self.received,
                "accepted": self.accepted,
                "rejected": self.rejected,
                "duplicate": self.duplicate,
                "skipped": self.skipped,
            },
            "rows": {"read": self.rows_read, "loaded": self.rows_loaded, "rejected": self.rows_rejected},
            "details": [asdict(f) for f in self.files],
        }

    def render(self) -> str:
        if not self.files:
            return "收件箱中没有文件 / the inbox is empty"
        lines = [
            f"收到 {self.received} 个文件：接收 {self.accepted}，拒收 {self.rejected}，重复 {self.duplicate}，"
            f"跳过 {self.skipped} / {self.received} files: {self.accepted} accepted, {self.rejected} rejected, "
            f"{self.duplicate} duplicate, {self.skipped} skipped",
            f"数据行：读取 {self.rows_read}，载入 {self.rows_loaded}，拒收 {self.rows_rejected} / rows: "
            f"{self.rows_read} read, {self.rows_loaded} loaded, {self.rows_rejected} rejected",
        ]
        lines += [f"拒收 / rejected: {f.name} → {f.detail}" for f in self.files if f.outcome == "rejected"]
        lines += [f"跳过 / skipped: {f.name}（{f.detail}）" for f in self.files if f.outcome == "skipped"]
        lines += [f"重报 / restated: {f.name}: {line}" for f in self.files for line in f.restated]
        return "\n".join(lines)


# --- files on disk ----------------------------------------------------------------------------------


def _write_durably(path: Path, data: bytes) -> None:
    """Write `data` to `path` (a temp file renamed into place). Not synced here: the batch syncs every
    file it wrote at once (see _sync_files) before any of its files leaves the inbox. Until then a power
    loss can leave `path` damaged, but the inbox still holds the file: the next run finds the archive
    copy's hash wrong and writes it again, and writes the quarantine files afresh."""
    temp = path.with_name(f".{path.name}{_PARTIAL}")
    with temp.open("wb") as handle:
        handle.write(data)
    os.replace(temp, path)


def _copy_durably(path: Path, source: io.BufferedReader) -> str:
    """Copy `source` to `path` in chunks, as _write_durably writes bytes, and return the sha256 of what
    was copied."""
    temp = path.with_name(f".{path.name}{_PARTIAL}")
    digest = hashlib.sha256()
    with temp.open("wb") as handle:
        while chunk := source.read(_COPY_CHUNK):
            handle.write(chunk)
            digest.update(chunk)
    os.replace(temp, path)
    return digest.hexdigest()


# fsync waits for the disk and releases the GIL: syncing a batch's files together lets the file system
# commit them in a few journal transactions instead of one per file (5× faster here for 160 files).
_SYNC_THREADS = 8


def _sync_files(paths: Iterable[Path], folders: Iterable[Path]) -> None:
    """Make `paths`, then their `folders` (the names), durable."""
    with ThreadPoolExecutor(_SYNC_THREADS) as pool:
        list(pool.map(fsync_path, dict.fromkeys(paths)))
    for folder in folders:
        fsync_path(folder)


def _file_sha256(path: Path) -> str | None:
    """The sha256 of the file at `path`, or None if there is none."""
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except FileNotFoundError:
        return None


def _holds(path: Path, sha256: str, size: int) -> bool:
    """Whether `path` holds the `size` bytes that hash to `sha256` (archived by an earlier run, or for an
    earlier copy of the same content). Most arrivals are new: a stat tells so without opening a file."""
    try:
        if path.stat().st_size != size:
            return False
    except FileNotFoundError:
        return False
    return _file_sha256(path) == sha256


def _link_durably(source: Path, path: Path) -> None:
    """Give the archived file `source` the second name `path` (a copy where links are not possible)."""
    # Already so named: a run killed before its batch landed linked it, and the rerun judged the same
    # archived file again. Renaming a second link of the same file onto it would do nothing (POSIX
    # rename), leaving the temp name behind.
    if path.exists() and os.path.samefile(source, path):
        return
    temp = path.with_name(f".{path.name}{_PARTIAL}")
    temp.unlink(missing_ok=True)
    try:
        os.link(source, temp)
    except OSError:
        with source.open("rb") as handle:
            _copy_durably(path, handle)
        return
    os.replace(temp, path)


def _remove_leftovers(data_dir: DataDir) -> None:
    """Temp files of a run that crashed; safe because we hold the landing database."""
    for folder in (data_dir.archive, data_dir.quarantine):
        for temp in folder.glob(f".*{_PARTIAL}"):
            temp.unlink()


def _skip_reason(name: str, mode: int) -> str | None:
    """Why the inbox entry `name` of type `mode` (from lstat) is not a submission, or None."""
    if stat.S_ISDIR(mode):
        return "文件夹 / a folder"
    kind = special_file_kind(mode)
    if kind is not None:
        return f"{kind[0]}，不跟随、不读取 / {kind[1]}, neither followed nor read"
    if name.startswith("~$"):
        return "Office 锁定文件 / an Office lock file"
    if name.startswith("._"):
        # What macOS writes beside a file on a drive or in a zip it makes (AppleDouble): the file's
        # Finder metadata under the file's name, never a workbook.
        return "macOS 元数据文件（._）/ a macOS metadata file (AppleDouble)"
    if Path(name).suffix.lower() not in (*SUPPORTED_SUFFIXES, *_WRONG_FORMAT_SUFFIXES):
        return "不是填报文件 / not a submission (.xlsx or .csv)"
    return None


def _changed(before: os.stat_result, after: os.stat_result) -> bool:
    return (before.st_ino, before.st_size, before.st_mtime_ns, before.st_ctime_ns) != (
        after.st_ino,
        after.st_size,
        after.st_mtime_ns,
        after.st_ctime_ns,
    )


def _last_change_ns(status: os.stat_result, now_ns: int) -> int:
    """When the file last changed: its modification time, or its change time if the former lies ahead."""
    return status.st_mtime_ns if status.st_mtime_ns <= now_ns else status.st_ctime_ns


def _local_time(ns: int) -> datetime:
    """A modification time as Quanzhou wall-clock time, exact to the microsecond."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)
    return moment.astimezone(CHINA_TZ).replace(tzinfo=None)


def _arrivals(inbox: Path) -> list[tuple[Path, os.stat_result | None]]:
    """The inbox's entries as lstat sees them (None: gone before it could be looked at), oldest first."""
    entries: list[tuple[Path, os.stat_result | None]] = []
    with os.scandir(inbox) as listing:
        for entry in listing:
            try:
                entries.append((Path(entry.path), entry.stat(follow_symlinks=False)))
            except FileNotFoundError:
                entries.append((Path(entry.path), None))
    return sorted(entries, key=lambda e: (e[1].st_mtime_ns if e[1] else 0, os.fsencode(e[0].name)))


def _quarantine_name(quarantine: Path, name: str, sha256: str) -> str:
    """`name`, unless a different file already sits in quarantine under it."""
    found = _file_sha256(quarantine / name)
    if found is None or found == sha256:
        return name
    return f"{Path(name).stem}.{sha256[:12]}{Path(name).suffix}"


def _rows_at_most(arrival: _Arrival) -> int:
    """No more rows than this can land from the file: its lines, for a CSV (anything else is judged at
    once, see _Run.take)."""
    if arrival.data is None or arrival.path.suffix.lower() != ".csv":
        return BATCH_ROWS
    return arrival.data.count(b"\n") + 1


def _is_sample(name: str, report: FileReport) -> bool:
    if name.startswith(SAMPLE_PREFIXES):
        return True
    notes = report.columns["notes"]
    return any(isinstance(note, str) and SAMPLE_NOTE in note for note in notes)


# --- the landing --------------------------------------------------------------------------------------

# A batch of files lands in one transaction: DuckDB's cost per transaction and per statement is far
# above its cost per row. Small enough that a crash costs little work to redo.
BATCH_FILES = 50
BATCH_ROWS = 100_000


def batch_limit(files_left: int) -> int:
    """How many files the batch that opens now may hold, with `files_left` files listed in the inbox and
    not taken yet: BATCH_FILES, or half of them when they would fill one batch and part of another.

    Only the last batch lands after the last file is judged, and the one before it must land first. A
    batch of many small files lands beside the judging in about the time its files took to judge (its
    statements wait for the interpreter, which the judging holds): with a last batch of a few files, the
    one before was still landing when they were judged, and the run waited for both (50, 50, 50 and 14
    files at 100,000 rows: 0.15 s). Split evenly (50, 50, 32 and 32), the one before lands while the last
    is judged, and the run waits for the last alone (0.09 s). Batches that BATCH_ROWS fills first (16
    files of 6,000 rows at 1 M) stay as they are: such a batch lands in time by the row, and halving the
    last 20 files made the wait longer (a larger last batch to checkpoint)."""
    if BATCH_FILES < files_left <= 2 * BATCH_FILES:
        return -(-files_left // 2)
    return BATCH_FILES


def open_landing(path: Path) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path))
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise LandingLockedError(path) from exc
        raise


def _next_ids(con: duckdb.DuckDBPyConnection, sequence: str, count: int) -> list[int]:
    """`count` fresh ids from `sequence`, ascending, in one statement."""
    drawn = con.execute(f"select nextval('{sequence}') from range({count})").fetchall()
    return sorted(value for (value,) in drawn)


def _insert(con: duckdb.DuckDBPyConnection, table: str, batch_frame: pd.DataFrame) -> None:
    # DuckDB finds `batch_frame` among this function's arguments (a replacement scan): registering the
    # frame as a view and dropping it again cost ~1.8 ms a statement more, on the landing thread, holding
    # the interpreter's lock the judging thread needs (4 statements a batch).
    con.execute(f"insert into {table} by name select * from batch_frame")


@dataclass(frozen=True)
class _Arrival:
    """One file as taken from the inbox."""

    path: Path
    data: bytes | None  # None: larger than max_file_bytes, archived unread
    sha256: str
    submitted_at: datetime
    identity: tuple[int, int, int]  # inode, size, modification time (ns) when read

    @property
    def name(self) -> str:
        """The name as stored and shown (see names.py)."""
        return display_name(self.path.name)

    @property
    def size(self) -> int:
        return self.identity[1]

    def remove_from_inbox(self) -> None:
        """Remove the file, unless someone replaced or rewrote it since we read it: that is a new
        arrival, for the next run to take."""
        try:
            now = os.lstat(self.path)
        except FileNotFoundError:
            logger.info("%s: already gone from the inbox", self.name)
            return
        if (now.st_ino, now.st_size, now.st_mtime_ns) == self.identity:
            self.path.unlink()
        else:
            logger.info("%s: changed in the inbox since it was read; left for the next run", self.name)


@dataclass(frozen=True)
class _NewFile:
    """A file whose content the landing does not hold yet, validated."""

    arrival: _Arrival
    report: FileReport
    archived_path: str
    report_path: str | None

    @property
    def rows_loaded(self) -> int:
        return self.report.row_count if self.report.status == "accepted" else 0

    def outcome(self) -> FileOutcome:
        report = self.report
        return FileOutcome(
            name=self.arrival.name,
            outcome=report.status,
            sha256=self.arrival.sha256,
            rows_read=report.rows_read,
            rows_loaded=self.rows_loaded,
            rows_rejected=report.rows_read - self.rows_loaded,
            errors=report.error_count,
            warnings=report.warning_count,
            detail=self.report_path,
            restated=tuple(
                i.message for i in report.warnings if i.code == "restatement" and report.status == "accepted"
            ),
        )


class _Batch:
    """Files taken from the inbox but not landed yet; `commit` lands them in one transaction and only
    then removes them from the inbox."""

    def __init__(self, files_limit: int) -> None:
        self.files_limit = files_limit  # see batch_limit
        self.new: dict[str, _NewFile] = {}  # by sha256
        self.receipts: list[tuple[_Arrival, FileOutcome]] = []  # in order of arrival
        self.row_count = 0
        self.written: list[Path] = []  # archive and quarantine files, synced before the batch lands

    @property
    def full(self) -> bool:
        return len(self.receipts) >= self.files_limit or self.row_count >= BATCH_ROWS

    def add_new(self, new: _NewFile) -> FileOutcome:
        self.new[new.arrival.sha256] = new
        self.row_count += new.rows_loaded
        outcome = new.outcome()
        self.receipts.append((new.arrival, outcome))
        return outcome

    def add_duplicate(self, arrival: _Arrival) -> FileOutcome:
        outcome = FileOutcome(arrival.name, "duplicate", arrival.sha256)
        self.receipts.append((arrival, outcome))
        return outcome

    def commit(
        self, con: duckdb.DuckDBPyConnection, known: dict[str, int], data_dir: DataDir, run_id: str
    ) -> None:
        if not self.receipts:
            return
        # The archive and quarantine copies must outlive a crash before the landing refers to them and
        # their inbox files go. A copy found in place is synced too: a killed run may have left it unsynced.
        _sync_files(self.written, (data_dir.archive, data_dir.quarantine))
        now = datetime.now(CHINA_TZ).replace(tzinfo=None)
        con.begin()
        try:
            file_ids = dict(zip(self.new, _next_ids(con, "raw.file_id_seq", len(self.new)), strict=True))
            if self.new:
                _insert(con, "raw.submission_files", self._files(file_ids, now, run_id))
            loaded = [(file_ids[sha], n.report) for sha, n in self.new.items() if n.rows_loaded]
            if loaded:
                # One frame for the batch's rows, not one a file (see FileReport.columns).
                rows = rows_frame(
                    {
                        name: np.concatenate([report.columns[name] for _, report in loaded])
                        for name in ROW_FRAME_COLUMNS
                    }
                )
                rows["file_id"] = np.repeat([i for i, _ in loaded], [r.row_count for _, r in loaded])
                _insert(con, "raw.submission_rows", rows)
            issues = self._issues(file_ids)
            if len(issues):
                _insert(con, "raw.submission_issues", issues)
            receipt_ids = _next_ids(con, "raw.receipt_id_seq", len(self.receipts))
            receipts = pd.DataFrame(
                {
                    "receipt_id": receipt_ids,
                    "file_id": [
                        file_ids[a.sha256] if a.sha256 in file_ids else known[a.sha256]
                        for a, _ in self.receipts
                    ],
                    "original_name": [a.name for a, _ in self.receipts],
                    "submitted_at": [a.submitted_at for a, _ in self.receipts],
                    "ingested_at": now,
                    "outcome": ["duplicate" if o.outcome == "duplicate" else "new" for _, o in self.receipts],
                    "ingest_run_id": run_id,
                }
            )
            _insert(con, "raw.submission_receipts", receipts)
            con.commit()
        except BaseException:
            con.rollback()
            raise
        known.update(file_ids)
        for arrival, outcome in self.receipts:
            arrival.remove_from_inbox()
            _log(outcome)

    def _files(self, file_ids: dict[str, int], now: datetime, run_id: str) -> pd.DataFrame:
        new = list(self.new.values())
        return pd.DataFrame(
            {
                "file_id": [file_ids[n.arrival.sha256] for n in new],
                "sha256": [n.arrival.sha256 for n in new],
                "original_name": [n.arrival.name for n in new],
                "archived_path": [n.archived_path for n in new],
                "size_bytes": [n.arrival.size for n in new],
                "submitted_at": [n.arrival.submitted_at for n in new],
                "ingested_at": now,
                "status": [n.report.status for n in new],
                "sheet": pd.Series([n.report.sheet for n in new], dtype=object),
                "rows_read": [n.report.rows_read for n in new],
                "rows_loaded": [n.rows_loaded for n in new],
                "rows_rejected": [n.report.rows_read - n.rows_loaded for n in new],
                "error_count": [n.report.error_count for n in new],
                "warning_count": [n.report.warning_count for n in new],
                "report_path": pd.Series([n.report_path for n in new], dtype=object),
                "is_sample": [_is_sample(n.arrival.name, n.report) for n in new],
                "ingest_run_id": run_id,
            }
        )

    def _issues(self, file_ids: dict[str, int]) -> pd.DataFrame:
        issues = [
            (file_ids[sha], i.sheet, i.row, i.column, i.value, i.severity, i.code, i.message_zh, i.message_en)
            for sha, n in self.new.items()
            for i in (*n.report.errors, *n.report.warnings)
        ]
        columns = ["file_id", "sheet", "row_number", "column_name", "value", "severity", "code"]
        frame = pd.DataFrame(issues, columns=[*columns, "message_zh", "message_en"], dtype=object)
        frame["row_number"] = frame["row_number"].astype("Int64")
        return frame


def _log(outcome: FileOutcome) -> None:
    if outcome.outcome == "accepted":
        logger.info(
            "%s: accepted, %d rows loaded, %d warnings", outcome.name, outcome.rows_loaded, outcome.warnings
        )
    elif outcome.outcome == "rejected":
        logger.warning(
            "%s：拒收，%d 个错误，见 %s / %s: rejected with %d errors; see %s",
            outcome.name,
            outcome.errors,
            outcome.detail,
            outcome.name,
            outcome.errors,
            outcome.detail,
        )
    elif outcome.outcome == "duplicate":
        logger.info("%s: same content as a file already received; receipt recorded", outcome.name)
    else:
        logger.info("%s: skipped (%s)", outcome.name, outcome.detail)


# --- the run ------------------------------------------------------------------------------------------


class _Run:
    """One ingest: what the landing already holds, the open batch, and how each file is taken."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        data_dir: DataDir,
        reference: PlanReference,
        today: date,
        settings: IngestSettings,
        run_id: str,
        listed: int,
        after_first_batch: Callable[[], None] | None = None,
    ) -> None:
        self.con = con
        self.after_first_batch = after_first_batch
        self.batches_landed = 0
        self.data_dir = data_dir
        self.settings = settings
        self.run_id = run_id
        self.listed = listed  # files listed in the inbox; each one taken has its place in `outcomes`
        self.outcomes: list[FileOutcome | None] = []  # of every file taken, in order (see take)
        self.batch = self._open_batch()
        # The batch before it, landing on a thread of its own while this one is read and judged: the syncs
        # and the commit's checkpoint wait on the disk and on DuckDB's own threads, not on Python. Its
        # inserts wait for the interpreter's lock (DuckDB reads a frame's columns holding it), yet doing them
        # on the judging thread instead gained nothing (docs/benchmarks.md, the twenty-first pass). At most
        # one batch lands at a time, in order.
        self._lander = ThreadPoolExecutor(1, thread_name_prefix="regreen-landing")
        self._landing: tuple[_Batch, Future[None]] | None = None
        # Content already landed (sha256 → file_id), and every arrival already receipted: a crash after
        # a commit leaves those files in the inbox.
        self.known: dict[str, int] = dict(
            con.execute("select sha256, file_id from raw.submission_files").fetchall()
        )
        self.receipted = set(
            con.execute("select file_id, original_name, submitted_at from raw.submission_receipts").fetchall()
        )
        # One judge for check and ingest: what the landing holds is the history each file is judged
        # against, and each accepted file joins it. The history is read on the landing thread (idle until
        # the first batch): DuckDB's query over every row landed leaves this thread free meanwhile to work
        # out what the checks need of the plan, both in proportion to the plan's projects.
        reading = self._lander.submit(read_history, con, data_dir.landing)
        try:
            prepare_checks(reference)
        finally:
            history = reading.result()
        self.judge = Judge(
            reference, today, history, settings.tolerance, settings.limits, settings.max_issues
        )
        self._waiting: list[tuple[_Arrival, Path]] = []  # archived, to be judged together
        self._waiting_rows = 0  # at most
        self._slots: dict[str, int] = {}  # a waiting file's place in `outcomes`, by sha256

    def take(self, path: Path, before: os.stat_result | None) -> None:
        """Take the file at `path` (as listed: `before`); its outcome goes to `outcomes`, at once or once
        it is judged (judge_waiting)."""
        slot = len(self.outcomes)
        self.outcomes.append(None)
        outcome = self._take(path, before, slot)
        if outcome is not None:
            self.outcomes[slot] = outcome

    def _take(self, path: Path, before: os.stat_result | None, slot: int) -> FileOutcome | None:
        name = display_name(path.name)
        if before is None:
            return self._skipped(name, "列出后即消失 / gone before it could be read")
        reason = _skip_reason(path.name, before.st_mode)
        if reason is not None:
            return self._skipped(name, reason, refused=special_file_kind(before.st_mode) is not None)
        settle = self.settings.settle_seconds
        now_ns = time.time_ns()
        if now_ns - _last_change_ns(before, now_ns) < settle * 1e9:
            return self._skipped(
                name,
                f"{settle:g} 秒内有改动，可能仍在上传，下次再收 / changed in the last {settle:g} s, "
                "maybe still uploading; taken next run",
            )
        try:
            taken = self._read_and_archive(path, before)
        except SubmissionReadError as exc:
            gone = exc.code == "file_not_found"  # removed since it was listed: nothing left to refuse
            return self._skipped(name, f"{exc.problem_zh} / {exc.problem_en}", refused=not gone)
        if taken is None:
            return self._skipped(name, "读取时仍在改动，下次再收 / changed while being read; taken next run")
        arrival, archived = taken
        self.batch.written.append(archived)
        if self.after_first_batch is not None and (self.batches_landed or self._landing is not None):
            self.wait_landed()
            hook, self.after_first_batch = self.after_first_batch, None
            hook()  # the fault tests' pause: one batch landed, this file archived, not landed

        file_id = self.known.get(arrival.sha256)
        if file_id is not None and (file_id, arrival.name, arrival.submitted_at) in self.receipted:
            # Landed by a run that crashed before it could clear the inbox: finish its work, add nothing.
            arrival.remove_from_inbox()
            logger.info("%s: landed by an interrupted run; removed from the inbox", arrival.name)
            self.wait_landed()  # the connection is the landing thread's until then
            return _recovered(self.con, file_id, arrival.name)
        landing = self._landing[0].new if self._landing else {}
        # Content of the batch still landing is not in `known` yet: a second copy is a duplicate all the
        # same, receipted by a later batch, which lands after it.
        if (
            file_id is not None
            or arrival.sha256 in self.batch.new
            or arrival.sha256 in landing
            or any(arrival.sha256 == waiting.sha256 for waiting, _ in self._waiting)
        ):
            self.judge_waiting()  # receipted after the files before it, as they arrived
            outcome: FileOutcome | None = self.batch.add_duplicate(arrival)
        else:
            # Judged with the files after it (Judge.judge_files), once as many wait as are judged together
            # or the batch would be full with them; its outcome is known then.
            self._waiting.append((arrival, archived))
            self._slots[arrival.sha256] = slot
            self._waiting_rows += _rows_at_most(arrival)
            outcome = None
            if (
                len(self._waiting) >= TOGETHER
                or self._waiting_rows >= TOGETHER_ROWS
                or len(self.batch.receipts) + len(self._waiting) >= self.batch.files_limit
                or self.batch.row_count + self._waiting_rows >= BATCH_ROWS
            ):
                self.judge_waiting()
        if self.batch.full:
            self.finish_batch()
        return outcome

    def judge_waiting(self) -> None:
        """Judge the files waiting (see take), in order, and add them to the batch."""
        waiting, self._waiting, self._waiting_rows = self._waiting, [], 0
        readable = [arrival for arrival, _ in waiting if arrival.data is not None]
        reports = iter(
            self.judge.judge_files(
                [Submitted(Path(a.name), a.submitted_at, a.name, a.data) for a in readable]
            )
        )
        for arrival, archived in waiting:
            report = self._too_large(arrival) if arrival.data is None else next(reports)
            self.outcomes[self._slots.pop(arrival.sha256)] = self.batch.add_new(
                self._new_file(arrival, archived, report)
            )

    def finish_batch(self) -> None:
        """Hand the open batch to the landing thread, once the batch before it has landed."""
        self.wait_landed()
        batch, self.batch = self.batch, self._open_batch()
        landed = self._lander.submit(batch.commit, self.con, self.known, self.data_dir, self.run_id)
        self._landing = (batch, landed)

    def _open_batch(self) -> _Batch:
        """A new batch, sized for the files listed and not taken yet (batch_limit)."""
        return _Batch(batch_limit(self.listed - len(self.outcomes)))

    def wait_landed(self) -> None:
        """Wait for the batch being landed, if any; its error, if it failed, is raised here."""
        if self._landing is None:
            return
        landed, self._landing = self._landing[1], None
        landed.result()
        self.batches_landed += 1

    def close(self) -> None:
        """Wait for the last batch to land (also when the run stops on an error: the connection closes
        after it), and end the landing thread."""
        try:
            self.wait_landed()
        finally:
            self._lander.shutdown()

    def _skipped(self, name: str, reason: str, refused: bool = False) -> FileOutcome:
        """`name` left in the inbox; `refused`: it never will be taken (a symlink, a pipe), which the
        operator is told at every run, not only with --verbose."""
        outcome = FileOutcome(name, "skipped", detail=reason)
        if refused:
            logger.warning("%s: left in the inbox, refused (%s)", name, reason)
        else:
            _log(outcome)
        return outcome

    def _read_and_archive(self, path: Path, before: os.stat_result) -> tuple[_Arrival, Path] | None:
        """The file's bytes, hashed and archived, or None when it changed since it was listed or while it
        was read. Raises SubmissionReadError when it is no longer a regular file or cannot be opened."""
        limit = self.settings.limits.max_file_bytes
        with os.fdopen(open_regular(path), "rb") as handle:
            opened = os.fstat(handle.fileno())
            if _changed(before, opened):
                return None
            if opened.st_size > limit:
                data, sha256 = None, hashlib.file_digest(handle, "sha256").hexdigest()
            else:
                data = handle.read(opened.st_size + 1)  # one byte more tells that it grew meanwhile
                sha256 = hashlib.sha256(data).hexdigest()
            if _changed(opened, os.fstat(handle.fileno())) or (
                data is not None and len(data) != opened.st_size
            ):
                return None
            archived = self.data_dir.archive / f"{sha256}{path.suffix.lower()}"
            if not _holds(archived, sha256, opened.st_size):
                if data is not None:
                    # Exactly the bytes hashed and judged. Reading the copy back would read the page
                    # cache, not the disk: it could not tell more than this hash does.
                    _write_durably(archived, data)
                else:
                    handle.seek(0)
                    if _copy_durably(archived, handle) != sha256 or _file_sha256(archived) != sha256:
                        # The large file changed between its two reads: nothing is taken.
                        archived.unlink(missing_ok=True)
                        return None
        arrival = _Arrival(
            path,
            data,
            sha256,
            _local_time(opened.st_mtime_ns),
            (opened.st_ino, opened.st_size, opened.st_mtime_ns),
        )
        return arrival, archived

    def _too_large(self, arrival: _Arrival) -> FileReport:
        shown = Path(arrival.name)
        return read_error_report(
            shown, too_large_error(shown, arrival.size, self.settings.limits.max_file_bytes)
        )

    def _new_file(self, arrival: _Arrival, archived: Path, report: FileReport) -> _NewFile:
        # Exactly the bytes archived are judged (judge_waiting), under the name the clerk gave them (as
        # displayed).
        report_path = None
        if report.status == "rejected":
            quarantine = self.data_dir.quarantine
            name = _quarantine_name(quarantine, safe_name(arrival.path.name), arrival.sha256)
            _link_durably(archived, quarantine / name)
            _write_durably(quarantine / f"{name}.errors.txt", (report.render() + "\n").encode("utf-8"))
            self.batch.written += [quarantine / name, quarantine / f"{name}.errors.txt"]
            report_path = (quarantine / f"{name}.errors.txt").relative_to(self.data_dir.root).as_posix()
        # The bytes are archived and judged: the batch need not hold them until it lands.
        kept = replace(arrival, data=None)
        return _NewFile(kept, report, archived.relative_to(self.data_dir.root).as_posix(), report_path)


def _recovered(con: duckdb.DuckDBPyConnection, file_id: int, name: str) -> FileOutcome:
    """What an interrupted run recorded for this file, reported again by the run that cleared it."""
    [(receipt, sha256, status, rows_read, rows_loaded, rows_rejected, errors, warnings)] = con.execute(
        "select r.outcome, f.sha256, f.status, f.rows_read, f.rows_loaded, f.rows_rejected, f.error_count, "
        "f.warning_count from raw.submission_receipts r join raw.submission_files f using (file_id) "
        "where r.file_id = ? and r.original_name = ? order by r.receipt_id desc limit 1",
        [file_id, name],
    ).fetchall()
    note = "上次运行中断前已载入（或同名、同内容、同时间重发）/ landed by an interrupted earlier run (or sent again with the same name, bytes and time)"
    if receipt == "duplicate":
        return FileOutcome(name, "duplicate", sha256, detail=note, recovered=True)
    return FileOutcome(
        name, status, sha256, rows_read, rows_loaded, rows_rejected, errors, warnings, note, recovered=True
    )


def ingest_inbox(
    data_dir: DataDir,
    reference: PlanReference,
    today: date,
    settings: IngestSettings | None = None,
    after_first_batch: Callable[[], None] | None = None,
    run_id: str | None = None,
) -> IngestSummary:
    """Take every file in `data_dir.inbox`, oldest arrival first, with `settings` (default: the default
    configuration); see the module docstring. `after_first_batch` is called once, when a file has been
    archived after a batch landed (where the nightly's fault tests kill it). `run_id` is the nightly's run
    (raw.submission_files.ingest_run_id joins meta.runs on it); `regreen ingest` alone gets a new one,
    in the same form."""
    settings = settings or IngestSettings.from_config()
    data_dir.ensure()
    with open_landing(data_dir.landing) as con:
        limit_connection(con, settings.memory_limit)
        # Before the threshold below: each of its statements commits, and would checkpoint (a new landing
        # zone, from connecting to closing: 29 syncs of the file instead of 11, 16 ms instead of 6 here).
        ensure_landing(con)
        # Every commit checkpoints: a batch's rows go into the database file as it lands, on the landing
        # thread, beside the judging of the next batch, and closing the connection has nothing left to
        # write. (With a threshold of write-ahead log instead, the close wrote every row since the last
        # checkpoint after the last file was judged, with nothing beside it: 0.13 s of a 100,000-row run,
        # 13 s of a 10 M one.)
        con.execute("set checkpoint_threshold = '0B'")
        _remove_leftovers(data_dir)
        arrivals = _arrivals(data_dir.inbox)
        run = _Run(
            con,
            data_dir,
            reference,
            today,
            settings,
            run_id or new_run_id(),
            len(arrivals),
            after_first_batch,
        )
        try:
            for path, before in arrivals:
                run.take(path, before)
            run.judge_waiting()
            run.finish_batch()
        finally:
            run.close()
    return IngestSummary(run.run_id, tuple(o for o in run.outcomes if o is not None))
