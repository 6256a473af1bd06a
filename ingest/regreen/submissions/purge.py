"""`regreen purge`: remove personal data from received files older than the retention.

archive/ and quarantine/ keep every file as received, the reporter's name and phone included, so that
a disputed figure can be traced to the bytes a township sent. After `[history] archive_retention_days`
that reason is gone and the personal data goes; what stays is what the figures need:

- each file older than the retention (by when it was archived: its modification time there) is replaced,
  atomically, by a redacted copy in the same format: the reporter and phone columns emptied, and every
  other cell passed through `mask_personal` (a name after 填报人, phone and ID-card numbers). A file that
  cannot be read safely (too large, not a spreadsheet, a bomb) is replaced by a short text saying so;
- the archive copy keeps its name, which is the original's sha256; every replacement is recorded in
  `logs/purged.jsonl` (path, original and redacted sha256, size, when), so the checksum of what was
  received is never lost, and a second purge leaves a file already purged alone;
- in `landing.duckdb`, the reporter and phone of rows from files received before the cutoff are set to
  NULL, and any issue value or message, or file name, stored unmasked (by a version of regreen before
  masking) is masked, whatever its age: the next nightly then rebuilds the warehouse in full without it.
  Figures are not touched.

Error reports (`*.errors.txt`) hold no personal data (their values are masked when written) and stay.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import openpyxl

from regreen.log import logger
from regreen.project import DataDir
from regreen.submissions.columns import match_header
from regreen.submissions.ingest import open_landing
from regreen.submissions.landing import PERSONAL_COLUMNS, ensure_landing
from regreen.submissions.names import display_name, mask_name
from regreen.submissions.personal import mask_personal
from regreen.submissions.reader import (
    HEADER_SEARCH_ROWS,
    MIN_HEADER_MATCHES,
    ReadLimits,
    decode_csv,
    read_table,
)
from regreen.submissions.sample import CHINA_TZ

PURGE_LOG = "purged.jsonl"
_REPORT_SUFFIX = ".errors.txt"


@dataclass(frozen=True)
class PurgeSummary:
    cutoff: datetime
    files: tuple[str, ...]  # relative to the data directory
    landing_rows: int

    def render(self) -> str:
        listed = "".join(f"\n  {name}" for name in self.files)
        return (
            f"已清除 {len(self.files)} 个 {self.cutoff:%Y-%m-%d} 之前收到的文件中的个人信息，落地库 {self.landing_rows} 行"
            f" / personal data removed from {len(self.files)} files received before {self.cutoff:%Y-%m-%d} "
            f"and from {self.landing_rows} landing rows{listed}"
        )


def _personal_positions(rows: list[list[object]]) -> tuple[int, set[int]]:
    """The header row's index among `rows` and the positions of its personal columns; (-1, ∅) if none."""
    for index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        matches = [match_header(cell) if isinstance(cell, str) else None for cell in row]
        if sum(m is not None for m in matches) >= MIN_HEADER_MATCHES:
            return index, {i for i, m in enumerate(matches) if m and m.column.key in PERSONAL_COLUMNS}
    return -1, set()


def _redacted_cell(value: object, personal: bool) -> object:
    if personal:
        return None
    return mask_personal(value) if isinstance(value, str) else value


def _redact_csv(path: Path, data: bytes) -> bytes:
    rows = list(csv.reader(io.StringIO(decode_csv(path, data), newline="")))
    header, personal = _personal_positions(rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for index, row in enumerate(rows):
        writer.writerow(
            [_redacted_cell(cell, index > header >= 0 and i in personal) or "" for i, cell in enumerate(row)]
        )
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


def _redact_xlsx(path: Path, data: bytes, limits: ReadLimits) -> bytes:
    read_table(path, limits, data)  # refuses what could not be opened safely (a bomb, a huge sheet)
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    for sheet in workbook.worksheets:
        rows = [[cell.value for cell in row] for row in sheet.iter_rows(max_row=HEADER_SEARCH_ROWS)]
        header, personal = _personal_positions(rows)
        for row in sheet.iter_rows():
            for cell in row:
                if cell.value is None:  # empty, or covered by a merged cell (whose value is read-only)
                    continue
                personal_cell = header >= 0 and cell.row > header + 1 and cell.column - 1 in personal
                cell.value = _redacted_cell(cell.value, personal_cell)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def redacted(path: Path, data: bytes, limits: ReadLimits) -> bytes:
    """`data` (the content of `path`) without personal data, in the same format when it can be read."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv" and len(data) <= limits.max_file_bytes:
            return _redact_csv(path, data)
        if suffix == ".xlsx":
            return _redact_xlsx(path, data, limits)
    # openpyxl raises many kinds of error on a workbook it cannot make sense of; whatever it is, the
    # content goes and the note below takes its place, which is what purging needs.
    except Exception as exc:  # noqa: BLE001
        logger.info(
            "%s: cannot be redacted cell by cell (%s); replaced by a note", display_name(path.name), exc
        )
    digest = hashlib.sha256(data).hexdigest()
    return (
        f"regreen purge: 原文件（{len(data)} 字节，sha256 {digest}）无法安全读取，为清除个人信息已删除其内容 / "
        f"the original ({len(data)} bytes, sha256 {digest}) could not be read safely; its content was "
        "removed with any personal data in it\n"
    ).encode()


def _purged(log: Path) -> dict[str, str]:
    """Path → sha256 of the redacted copy, for every file purged before."""
    if not log.exists():
        return {}
    entries = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]
    return {entry["path"]: entry["redacted_sha256"] for entry in entries}


def purge(
    data_dir: DataDir, retention_days: int, limits: ReadLimits, now: float | None = None
) -> PurgeSummary:
    """Remove personal data from what was received more than `retention_days` ago (module docstring)."""
    now = time.time() if now is None else now
    cutoff = now - retention_days * 86400
    log = data_dir.logs / PURGE_LOG
    data_dir.logs.mkdir(parents=True, exist_ok=True)
    done = _purged(log)
    files = []
    for folder in (data_dir.archive, data_dir.quarantine):
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            status = path.lstat()
            relative = path.relative_to(data_dir.root).as_posix()
            if not path.is_file() or path.name.startswith(".") or path.name.endswith(_REPORT_SUFFIX):
                continue
            if status.st_mtime >= cutoff:
                continue
            data = path.read_bytes()
            if done.get(relative) == hashlib.sha256(data).hexdigest():
                continue
            clean = redacted(path, data, limits)
            temp = path.with_name(f".{path.name}.purge")
            temp.write_bytes(clean)
            os.utime(temp, ns=(status.st_atime_ns, status.st_mtime_ns))  # still as old as what it replaces
            os.replace(temp, path)
            entry = {
                "path": relative,
                "original_sha256": hashlib.sha256(data).hexdigest(),
                "original_bytes": len(data),
                "redacted_sha256": hashlib.sha256(clean).hexdigest(),
                "purged_at": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
            }
            with log.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
            files.append(relative)
    return PurgeSummary(datetime.fromtimestamp(cutoff, UTC), tuple(files), _purge_landing(data_dir, cutoff))


def _purge_landing(data_dir: DataDir, cutoff: float) -> int:
    """Set the personal columns of rows from files ingested before `cutoff` to NULL, and mask the issues
    and file names stored unmasked; rows changed."""
    if not data_dir.landing.exists():
        return 0
    moment = datetime.fromtimestamp(cutoff, UTC).astimezone(CHINA_TZ).replace(tzinfo=None)
    with open_landing(data_dir.landing) as con:
        ensure_landing(con)
        cleared = " or ".join(f"{column} is not null" for column in PERSONAL_COLUMNS)
        (changed,) = con.execute(
            f"update raw.submission_rows set {', '.join(f'{c} = null' for c in PERSONAL_COLUMNS)} "
            f"where ({cleared}) and file_id in (select file_id from raw.submission_files where ingested_at < ?)",
            [moment],
        ).fetchone()
        stored = [
            *(
                ("raw.submission_issues", column, mask_personal)
                for column in ("value", "message_zh", "message_en")
            ),
            # a name as a regreen before 2026-12-01 stored it (names.py masks a name as it is taken now)
            *(
                (table, "original_name", mask_name)
                for table in ("raw.submission_files", "raw.submission_receipts")
            ),
        ]
        for table, column, mask in stored:
            texts = [t for (t,) in con.execute(f"select distinct {column} from {table}").fetchall()]
            masked = [(m, t) for t in texts if t and (m := mask(t)) != t]
            if masked:
                con.executemany(f"update {table} set {column} = ? where {column} = ?", masked)
                changed += len(masked)
    return changed
