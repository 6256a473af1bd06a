"""Take every file in the inbox: archive it, validate it, then load it or quarantine it.

Files are taken in order of arrival (modification time, then name). For each one:

1. read its bytes (skipped, and left in the inbox, if it changes while being read) and hash them;
2. archive them to `archive/<sha256><suffix>` (temp file, fsync, rename; kept if already there);
3. same bytes already received: a receipt with outcome 'duplicate', nothing reloaded;
4. else validate exactly those bytes (the archive copy, under the clerk's file name): accepted → its
   rows are to land in raw.submission_rows; rejected → the file and its clerk-readable report are
   written to `quarantine/`. Either way a raw.submission_files row, its issues and a receipt are to land.
5. Files land in batches (BATCH_FILES, BATCH_ROWS), one transaction each. Before it, the archive and
   quarantine folders are synced; only after it committed are the batch's files removed from the inbox
   (each unless it was replaced or rewritten since it was read: that is a new arrival, taken next run).

No superseding happens here: every version stays, the warehouse picks the latest per project and month.

What a crash (power loss, SIGKILL) at each point leaves, and what the next run does with it:

- while archiving or writing to quarantine: the inbox still holds the file; at most a `.partial` temp
  file, which the next run deletes. The file is processed afresh.
- after archiving, before or during the batch's transaction: the archive (and quarantine) hold the
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
import os
import shutil
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal

import duckdb
import numpy as np
import pandas as pd

from regreen.clock import new_run_id
from regreen.errors import EXIT_LOCKED, RegreenError
from regreen.log import logger
from regreen.project import DataDir
from regreen.submissions.landing import ensure_landing
from regreen.submissions.reader import SUPPORTED_SUFFIXES
from regreen.submissions.reference import PlanReference
from regreen.submissions.sample import CHINA_TZ, SAMPLE_NOTE, SAMPLE_PREFIXES
from regreen.submissions.validate import FileReport, validate_file

Outcome = Literal["accepted", "rejected", "duplicate", "skipped"]

# Spreadsheets in a format we do not read are still submissions: they are rejected with a report that
# says how to resave them, rather than left in the inbox.
_WRONG_FORMAT_SUFFIXES = (".xls", ".xlsm", ".xlsb", ".et", ".ods", ".numbers")
_PARTIAL = ".partial"
_WORK_PREFIX = "ingest-"


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


@dataclass(frozen=True)
class IngestSummary:
    run_id: str
    files: tuple[FileOutcome, ...]

    def _count(self, outcome: Outcome) -> int:
        return sum(f.outcome == outcome for f in self.files)

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
        return sum(f.rows_read for f in self.files)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)

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
        return "\n".join(lines)


# --- files on disk ----------------------------------------------------------------------------------


def _fsync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_durably(path: Path, data: bytes) -> None:
    """Write `path` so that it is either absent or complete, even after a crash. Its folder is synced
    once per batch (see _Batch.commit), before any file of the batch leaves the inbox."""
    temp = path.with_name(f".{path.name}{_PARTIAL}")
    with temp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)


def _remove_leftovers(data_dir: DataDir) -> None:
    """Temp files and work copies of a run that crashed; safe because we hold the landing database."""
    for folder in (data_dir.archive, data_dir.quarantine):
        for temp in folder.glob(f".*{_PARTIAL}"):
            temp.unlink()
    for work in data_dir.work.glob(f"{_WORK_PREFIX}*"):
        shutil.rmtree(work)


def _skip_reason(path: Path) -> str | None:
    """Why `path` is not a submission, or None when it is one."""
    name = path.name
    if path.is_dir():
        return "文件夹 / a folder"
    if name.startswith("~$"):
        return "Office 锁定文件 / an Office lock file"
    if name.startswith("."):
        return "隐藏文件 / a hidden file"
    if path.suffix.lower() not in (*SUPPORTED_SUFFIXES, *_WRONG_FORMAT_SUFFIXES):
        return "不是填报文件 / not a submission (.xlsx or .csv)"
    return None


def _local_time(ns: int) -> datetime:
    """A modification time as Quanzhou wall-clock time, exact to the microsecond."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)
    return moment.astimezone(CHINA_TZ).replace(tzinfo=None)


def _arrivals(inbox: Path) -> list[tuple[Path, os.stat_result]]:
    entries = [(path, path.stat()) for path in inbox.iterdir()]
    return sorted(entries, key=lambda entry: (entry[1].st_mtime_ns, entry[0].name))


def _quarantine_name(quarantine: Path, name: str, sha256: str) -> str:
    """The file's own name, unless a different file already sits in quarantine under it."""
    taken = quarantine / name
    if not taken.exists() or hashlib.sha256(taken.read_bytes()).hexdigest() == sha256:
        return name
    return f"{Path(name).stem}.{sha256[:12]}{Path(name).suffix}"


def _is_sample(name: str, report: FileReport) -> bool:
    if name.startswith(SAMPLE_PREFIXES):
        return True
    notes = report.rows.get("notes", [])
    return any(isinstance(note, str) and SAMPLE_NOTE in note for note in notes)


# --- the landing --------------------------------------------------------------------------------------

# A batch of files lands in one transaction: DuckDB's cost per transaction and per statement is far
# above its cost per row. Small enough that a crash costs little work to redo.
BATCH_FILES = 50
BATCH_ROWS = 20_000


def _open_landing(path: Path) -> duckdb.DuckDBPyConnection:
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


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    con.register("batch_frame", frame)
    try:
        con.execute(f"insert into {table} by name select * from batch_frame")
    finally:
        con.unregister("batch_frame")


@dataclass(frozen=True)
class _Arrival:
    """One file as taken from the inbox."""

    path: Path
    data: bytes
    sha256: str
    submitted_at: datetime
    identity: tuple[int, int, int]  # inode, size, modification time (ns) when read

    @property
    def name(self) -> str:
        return self.path.name

    def remove_from_inbox(self) -> None:
        """Remove the file, unless someone replaced or rewrote it since we read it: that is a new
        arrival, for the next run to take."""
        now = self.path.stat()
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
        return len(self.report.rows) if self.report.status == "accepted" else 0

    def outcome(self) -> FileOutcome:
        report = self.report
        return FileOutcome(
            name=self.arrival.name,
            outcome=report.status,
            sha256=self.arrival.sha256,
            rows_read=report.rows_read,
            rows_loaded=self.rows_loaded,
            rows_rejected=report.rows_read - self.rows_loaded,
            errors=len(report.errors),
            warnings=len(report.warnings),
            detail=self.report_path,
        )


class _Batch:
    """Files taken from the inbox but not landed yet; `commit` lands them in one transaction and only
    then removes them from the inbox."""

    def __init__(self) -> None:
        self.new: dict[str, _NewFile] = {}  # by sha256
        self.receipts: list[tuple[_Arrival, FileOutcome]] = []  # in order of arrival
        self.row_count = 0

    @property
    def full(self) -> bool:
        return len(self.receipts) >= BATCH_FILES or self.row_count >= BATCH_ROWS

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
        # The archive and quarantine copies must outlive a crash before their inbox files go.
        _fsync_dir(data_dir.archive)
        _fsync_dir(data_dir.quarantine)
        now = datetime.now(CHINA_TZ).replace(tzinfo=None)
        con.begin()
        try:
            file_ids = dict(zip(self.new, _next_ids(con, "raw.file_id_seq", len(self.new)), strict=True))
            if self.new:
                _insert(con, "raw.submission_files", self._files(file_ids, now, run_id))
            loaded = [(file_ids[sha], n.report.rows) for sha, n in self.new.items() if n.rows_loaded]
            if loaded:
                rows = pd.concat([frame for _, frame in loaded], ignore_index=True)
                rows["file_id"] = np.repeat([i for i, _ in loaded], [len(frame) for _, frame in loaded])
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
                "size_bytes": [len(n.arrival.data) for n in new],
                "submitted_at": [n.arrival.submitted_at for n in new],
                "ingested_at": now,
                "status": [n.report.status for n in new],
                "sheet": pd.Series([n.report.sheet for n in new], dtype=object),
                "rows_read": [n.report.rows_read for n in new],
                "rows_loaded": [n.rows_loaded for n in new],
                "rows_rejected": [n.report.rows_read - n.rows_loaded for n in new],
                "error_count": [len(n.report.errors) for n in new],
                "warning_count": [len(n.report.warnings) for n in new],
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
        logger.warning("%s: rejected with %d errors; see %s", outcome.name, outcome.errors, outcome.detail)
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
        run_id: str,
    ) -> None:
        self.con = con
        self.data_dir = data_dir
        self.reference = reference
        self.today = today
        self.run_id = run_id
        self.work = data_dir.work / f"{_WORK_PREFIX}{self.run_id}"
        self.batch = _Batch()
        # Content already landed (sha256 → file_id), and every arrival already receipted: a crash after
        # a commit leaves those files in the inbox.
        self.known: dict[str, int] = dict(
            con.execute("select sha256, file_id from raw.submission_files").fetchall()
        )
        self.receipted = set(
            con.execute("select file_id, original_name, submitted_at from raw.submission_receipts").fetchall()
        )
        # The first month each project was reported 已验收: a later file may leave it out without a warning.
        self.accepted_earlier: dict[str, date] = dict(
            con.execute(
                "select project_code, min(report_month) from raw.submission_rows "
                "where stage = '已验收' group by project_code"
            ).fetchall()
        )

    def take(self, path: Path, before: os.stat_result) -> FileOutcome:
        reason = _skip_reason(path)
        if reason is not None:
            return self._skipped(path, reason)
        try:
            data = path.read_bytes()
            after = path.stat()
        except OSError as exc:
            return self._skipped(path, f"无法读取 / cannot be read: {exc.strerror}")
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) or len(
            data
        ) != after.st_size:
            return self._skipped(path, "仍在写入，下次再收 / still being written; taken next run")
        arrival = _Arrival(
            path,
            data,
            hashlib.sha256(data).hexdigest(),
            _local_time(before.st_mtime_ns),
            (before.st_ino, before.st_size, before.st_mtime_ns),
        )
        archived = self.data_dir.archive / f"{arrival.sha256}{path.suffix.lower()}"
        if not archived.exists():
            _write_durably(archived, data)

        file_id = self.known.get(arrival.sha256)
        if file_id is not None and (file_id, arrival.name, arrival.submitted_at) in self.receipted:
            # Landed by a run that crashed before it could clear the inbox: finish its work, add nothing.
            arrival.remove_from_inbox()
            logger.info("%s: landed by an interrupted run; removed from the inbox", arrival.name)
            return _recovered(self.con, file_id, arrival.name)
        if file_id is not None or arrival.sha256 in self.batch.new:
            outcome = self.batch.add_duplicate(arrival)
        else:
            outcome = self.batch.add_new(self._validate(arrival, archived))
        if self.batch.full:
            self.finish_batch()
        return outcome

    def finish_batch(self) -> None:
        self.batch.commit(self.con, self.known, self.data_dir, self.run_id)
        self.batch = _Batch()

    def _skipped(self, path: Path, reason: str) -> FileOutcome:
        outcome = FileOutcome(path.name, "skipped", detail=reason)
        _log(outcome)
        return outcome

    def _validate(self, arrival: _Arrival, archived: Path) -> _NewFile:
        # Validate exactly the bytes archived, under the name the clerk gave them: a hard link to the
        # archive copy (a copy where the file system has no links).
        self.work.mkdir(parents=True, exist_ok=True)
        private = self.work / arrival.name
        try:
            os.link(archived, private)
        except OSError:
            private.write_bytes(arrival.data)
        try:
            report = validate_file(private, self.reference, self.today, self.accepted_earlier)
        finally:
            private.unlink()
        if report.status == "accepted":
            self._note_acceptances(report)
        report_path = None
        if report.status == "rejected":
            quarantine = self.data_dir.quarantine
            name = _quarantine_name(quarantine, arrival.name, arrival.sha256)
            _write_durably(quarantine / name, arrival.data)
            _write_durably(quarantine / f"{name}.errors.txt", (report.render() + "\n").encode("utf-8"))
            report_path = (quarantine / f"{name}.errors.txt").relative_to(self.data_dir.root).as_posix()
        return _NewFile(arrival, report, archived.relative_to(self.data_dir.root).as_posix(), report_path)

    def _note_acceptances(self, report: FileReport) -> None:
        stages = report.rows["stage"].to_numpy()
        accepted = np.flatnonzero(stages == "已验收")
        codes = report.rows["project_code"].to_numpy()[accepted]
        months = report.rows["report_month"].to_numpy()[accepted]
        for code, month in zip(codes, months, strict=True):
            known = self.accepted_earlier.get(code)
            self.accepted_earlier[code] = month if known is None else min(known, month)


def _recovered(con: duckdb.DuckDBPyConnection, file_id: int, name: str) -> FileOutcome:
    """What an interrupted run recorded for this file, reported again by the run that cleared it."""
    [(receipt, sha256, status, rows_read, rows_loaded, rows_rejected, errors, warnings)] = con.execute(
        "select r.outcome, f.sha256, f.status, f.rows_read, f.rows_loaded, f.rows_rejected, f.error_count, "
        "f.warning_count from raw.submission_receipts r join raw.submission_files f using (file_id) "
        "where r.file_id = ? and r.original_name = ? order by r.receipt_id desc limit 1",
        [file_id, name],
    ).fetchall()
    note = "上次运行中断前已载入 / landed by an interrupted earlier run"
    if receipt == "duplicate":
        return FileOutcome(name, "duplicate", sha256, detail=note)
    return FileOutcome(name, status, sha256, rows_read, rows_loaded, rows_rejected, errors, warnings, note)


def ingest_inbox(
    data_dir: DataDir, reference: PlanReference, today: date, run_id: str | None = None
) -> IngestSummary:
    """Take every file in `data_dir.inbox`, oldest arrival first; see the module docstring.

    `run_id` is the nightly's run (raw.submission_files.ingest_run_id joins meta.runs on it); an ingest
    of its own (`regreen ingest`) gets a new one, in the same form.
    """
    data_dir.ensure()
    with _open_landing(data_dir.landing) as con:
        ensure_landing(con)
        _remove_leftovers(data_dir)
        run = _Run(con, data_dir, reference, today, run_id or new_run_id())
        try:
            outcomes = [run.take(path, before) for path, before in _arrivals(data_dir.inbox)]
            run.finish_batch()
        finally:
            shutil.rmtree(run.work, ignore_errors=True)
    return IngestSummary(run.run_id, tuple(outcomes))
