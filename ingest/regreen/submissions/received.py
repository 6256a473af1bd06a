"""Files already received, found by their content, so that `regreen check` names them instead of judging them.

`ingest` keeps every file by the SHA-256 of its bytes and never loads the same bytes twice: a second copy
gets a 'duplicate' receipt and adds nothing. Judged again against the published history, such a file
would be compared with itself (each of its rows "a restatement" of the version it brought), which tells a
clerk nothing true. `check` says instead when the same bytes came, under which name, and what became of
them; a file given twice on one command line is, as in the inbox, a duplicate of the first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import duckdb

from regreen.submissions.history import HistoryUnreadableError
from regreen.submissions.names import display_name
from regreen.submissions.reader import SubmissionReadError, read_regular_file

if TYPE_CHECKING:
    from regreen.submissions.validate import FileReport, Judge

_RECEIVED = """
select original_name, submitted_at, status, rows_read, error_count, warning_count, report_path
from raw.submission_files
where sha256 = ?
order by file_id
limit 1
"""


@dataclass(frozen=True)
class Duplicate:
    """`file` has the bytes of `original_name`, received at `received_at` (None: given earlier on the same
    command line) and then accepted or rejected."""

    file: Path
    original_name: str
    received_at: datetime | None
    original_status: Literal["accepted", "rejected"]
    rows_read: int
    error_count: int
    warning_count: int
    report_path: str | None = None

    @property
    def status(self) -> Literal["accepted", "rejected"]:
        """The verdict sending these bytes again comes to: theirs the first time."""
        return self.original_status

    def to_json_dict(self) -> dict:
        return {
            "file": display_name(str(self.file)),
            "status": "duplicate",
            "rows": self.rows_read,
            "error_count": 0,
            "warning_count": 0,
            "errors": [],
            "warnings": [],
            "duplicate_of": {
                "file": display_name(self.original_name),
                "received_at": None if self.received_at is None else f"{self.received_at:%Y-%m-%d %H:%M}",
                "status": self.original_status,
                "error_count": self.error_count,
                "warning_count": self.warning_count,
                "report": self.report_path,
            },
        }

    def render(self) -> str:
        name, original = display_name(self.file.name), display_name(self.original_name)
        if self.received_at is None:
            when_zh, when_en = f"与上面的“{original}”内容相同", f"the same bytes as {original} above"
        else:
            at = f"{self.received_at:%Y-%m-%d %H:%M}"
            when_zh, when_en = f"已于 {at} 以“{original}”收到", f"already received on {at} as {original}"
        if self.original_status == "accepted":
            verdict_zh = f"当时已接收（{self.rows_read} 行，{self.warning_count} 个提醒）"
            verdict_en = f"accepted then ({self.rows_read} rows, {self.warning_count} warnings)"
            advice_zh, advice_en = "无需再次提交", "nothing to send again"
        else:
            verdict_zh = f"当时被拒收（{self.error_count} 个错误）"
            verdict_en = f"rejected then ({self.error_count} errors)"
            advice_zh, advice_en = "请改正后重新提交", "fix it and send the corrected file"
            if self.report_path:
                verdict_zh += f"，错误清单见 {self.report_path}"
                verdict_en += f", errors listed in {self.report_path}"
        return (
            f"{name}：重复文件 / DUPLICATE\n"
            f"  {when_zh}，{verdict_zh}；同样的内容再次提交不会重复载入，{advice_zh} / "
            f"{when_en}, {verdict_en}; the same bytes sent again load nothing: {advice_en}"
        )


def content_digest(data: bytes) -> str:
    """What `ingest` knows a file's content by (raw.submission_files.sha256)."""
    return hashlib.sha256(data).hexdigest()


class ReceivedFiles:
    """The published warehouse's received files, looked up by content (`find`), plus those `note`d as
    given earlier on the same command line."""

    def __init__(self, warehouse: Path) -> None:
        self.warehouse = warehouse
        self._noted: dict[str, Duplicate] = {}
        self._con: duckdb.DuckDBPyConnection | None = None  # opened at the first lookup, for them all

    def __enter__(self) -> ReceivedFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._con is not None:
            self._con.close()

    def find(self, path: Path, digest: str) -> Duplicate | None:
        """What became of the bytes of `path` (`content_digest`) when received before, or None if never."""
        noted = self._noted.get(digest)
        if noted is not None:
            return replace(noted, file=path)
        if not self.warehouse.exists():
            return None
        try:
            if self._con is None:
                self._con = duckdb.connect(str(self.warehouse), read_only=True)
            row = self._con.execute(_RECEIVED, [digest]).fetchone()
        except duckdb.Error as exc:
            raise HistoryUnreadableError(self.warehouse, str(exc).splitlines()[0]) from exc
        return None if row is None else Duplicate(path, *row)

    def note(self, path: Path, digest: str, report: FileReport) -> None:
        """`path`, with `digest` and `report`'s verdict, counts as received for the files after it."""
        self._noted[digest] = Duplicate(
            path, path.name, None, report.status, report.rows_read, report.error_count, report.warning_count
        )


def check_files(
    judge: Judge, warehouse: Path, paths: Sequence[Path], now: Callable[[], datetime]
) -> list[FileReport | Duplicate]:
    """`regreen check`: each of `paths` judged in turn (an accepted one joins the history), except a file
    whose bytes the published `warehouse` received before, or that were given earlier in `paths`: that
    one is named a `Duplicate`. A file that cannot be read is left to the judge, which words why."""
    reports: list[FileReport | Duplicate] = []
    with ReceivedFiles(warehouse) as received:
        for path in paths:
            try:
                data = read_regular_file(path, judge.limits.max_file_bytes)
            except SubmissionReadError:
                reports.append(judge.judge(path, now()))
                continue
            digest = content_digest(data)
            duplicate = received.find(path, digest)
            if duplicate is None:
                report = judge.judge(path, now(), data=data)
                received.note(path, digest, report)
                reports.append(report)
            else:
                reports.append(duplicate)
    return reports
