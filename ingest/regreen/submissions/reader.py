"""Read a submission file into a table of raw cells, one row per data row, numbered as the clerk sees them.

.xlsx is read with python-calamine (the sheet named 月度进展, else the first); .csv is decoded as UTF-8
(with or without BOM) or GB18030 (which covers GBK) and parsed by pandas' C engine with every cell as
text. Lines above the header (a title) are skipped: the header is the first of the first rows that
names at least three known columns. Nothing here judges the values; see validate.py.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import python_calamine

from regreen.errors import RegreenError
from regreen.submissions.columns import COLUMNS, fold, header_as_written, match_header

SHEET_NAME = "月度进展"
SUPPORTED_SUFFIXES = (".xlsx", ".csv")
HEADER_SEARCH_ROWS = 10  # a title block longer than this is not a title
MIN_HEADER_MATCHES = 3
# Fields a CSV line may have beyond the header and still be read, so the line can be named as having too
# many (a stray comma shifts every later value); past this the whole file is refused.
CSV_SPARE_FIELDS = 8
_UTF8_BOM = b"\xef\xbb\xbf"


class SubmissionReadError(RegreenError):
    """The file cannot be read as a submission at all; it becomes one file-level issue."""

    def __init__(
        self, path: Path, code: str, problem_zh: str, problem_en: str, row: int | None = None
    ) -> None:
        self.path = path
        self.code = code
        self.row = row
        self.problem_zh = problem_zh
        self.problem_en = problem_en
        super().__init__(f"{path.name}：{problem_zh}", f"{path.name}: {problem_en}")


@dataclass(frozen=True)
class RawTable:
    path: Path
    sheet: str | None  # None for a CSV file
    header_row: int  # the row (line) number of the header as the clerk sees it
    headers: tuple[str, ...]  # each header cell as written, by position ('' when empty)
    # The rows read, as the row (line) numbers the clerk sees; rows with no value under a header are
    # left out.
    row_numbers: np.ndarray
    # One array per header position, aligned with row_numbers: the cells as read (text for CSV; str,
    # float, datetime … for .xlsx), missing (None or NaN) when empty.
    columns: tuple[np.ndarray, ...]
    # The row numbers with a value in a column that has no header (right of the header, or under an
    # empty header cell): in a CSV line, the sign of a stray comma.
    unlabelled: tuple[int, ...]


def read_table(path: Path) -> RawTable:
    """Read `path`; raises SubmissionReadError when it is not a readable submission."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise SubmissionReadError(
            path,
            "unsupported_file",
            f"不支持的文件类型“{path.suffix or '（无扩展名）'}”，请提交 .xlsx 或 .csv 文件",
            f"unsupported file type {path.suffix or '(no extension)'!r}; submit an .xlsx or .csv file",
        )
    if not path.is_file():
        raise SubmissionReadError(path, "file_not_found", "文件不存在", "the file does not exist")
    return _read_xlsx(path) if suffix == ".xlsx" else _read_csv(path)


def _header_at(rows: Sequence[Sequence[object]], path: Path) -> int:
    """The index of the header among the first rows: the first to name MIN_HEADER_MATCHES known columns."""
    for index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        if sum(match_header(cell) is not None for cell in row) >= MIN_HEADER_MATCHES:
            return index
    expected = "、".join(c.header for c in COLUMNS[:4])
    raise SubmissionReadError(
        path,
        "no_header",
        f"前 {HEADER_SEARCH_ROWS} 行中找不到表头（应包含 {expected} 等列）；请使用 regreen template 生成的模板",
        f"no header row in the first {HEADER_SEARCH_ROWS} rows (expected columns such as {expected}); "
        "use the template from `regreen template`",
    )


def _headers(row: Sequence[object]) -> tuple[str, ...]:
    written = [header_as_written(cell) if isinstance(cell, str) else "" for cell in row]
    while written and not written[-1]:
        written.pop()
    return tuple(written)


def _column(series: pd.Series) -> np.ndarray:
    """A column's cells as a numpy array: floats stay float64; dates become datetime objects; an empty
    string is missing."""
    if series.dtype.kind in "fiub":
        return series.to_numpy()
    column = series.to_numpy(dtype=object, copy=True)
    column[column == ""] = None
    return column


def _table(
    path: Path, sheet: str | None, header_row: int, headers: tuple[str, ...], frame: pd.DataFrame
) -> RawTable:
    """The table of `frame` (one column per position, the first row being `header_row` + 1): the columns
    under a header kept, the rows with no value under one left out, the rows with a value outside noted."""
    columns = [_column(frame[position]) for position in frame.columns]
    written = [~pd.isna(column) for column in columns]
    labelled = [position for position, header in enumerate(headers) if header]
    outside = np.zeros(len(frame), dtype=bool)
    for position, present in enumerate(written):
        if position not in labelled:
            outside |= present
    kept = np.zeros(len(frame), dtype=bool)
    for position in labelled:
        kept |= written[position]
    row_numbers = np.arange(header_row + 1, header_row + 1 + len(frame), dtype=np.int64)
    return RawTable(
        path,
        sheet,
        header_row,
        headers,
        row_numbers[kept],
        tuple(column[kept] for column in columns[: len(headers)]),
        tuple(row_numbers[outside].tolist()),
    )


def _read_xlsx(path: Path) -> RawTable:
    try:
        with python_calamine.CalamineWorkbook.from_path(path) as workbook:
            names = workbook.sheet_names
            if not names:
                raise SubmissionReadError(
                    path, "empty_file", "工作簿中没有工作表", "the workbook has no sheet"
                )
            sheet = next((name for name in names if fold(name) == SHEET_NAME), names[0])
            rows = workbook.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
    except (OSError, python_calamine.CalamineError) as exc:
        raise SubmissionReadError(
            path,
            "unreadable_file",
            f"无法作为 Excel（.xlsx）文件读取（{exc}）；请用 Excel 或 WPS 另存为 .xlsx 后重新提交",
            f"cannot be read as an Excel .xlsx workbook ({exc}); save it again as .xlsx and resubmit",
        ) from exc
    if not rows:
        raise SubmissionReadError(path, "empty_file", f"工作表“{sheet}”是空的", f"sheet {sheet!r} is empty")
    header_index = _header_at(rows, path)
    headers = _headers(rows[header_index])
    # Row i of to_python(skip_empty_area=False) is Excel row i + 1.
    frame = pd.DataFrame(rows[header_index + 1 :])
    frame = frame.reindex(columns=range(max(len(headers), frame.shape[1])))
    return _table(path, sheet, header_index + 1, headers, frame)


def _decode(path: Path, data: bytes) -> str:
    encodings = ("utf-8-sig",) if data.startswith(_UTF8_BOM) else ("utf-8", "gb18030")
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise SubmissionReadError(
        path,
        "unreadable_file",
        "无法识别文件编码；CSV 文件请保存为 UTF-8 或 GBK/GB18030 编码",
        "cannot decode the file; save the CSV as UTF-8 or GBK/GB18030",
    )


def _read_csv(path: Path) -> RawTable:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SubmissionReadError(
            path,
            "unreadable_file",
            f"无法读取文件（{exc.strerror}）",
            f"cannot read the file ({exc.strerror})",
        ) from exc
    text = _decode(path, data)
    if not text.strip():
        raise SubmissionReadError(path, "empty_file", "文件是空的", "the file is empty")

    leading = _leading_records(text, HEADER_SEARCH_ROWS)
    header_index = _header_at([record for record, _, _ in leading], path)
    headers = _headers(leading[header_index][0])
    _, body_start, header_line = leading[header_index]
    width = len(headers) + CSV_SPARE_FIELDS
    try:
        with warnings.catch_warnings():
            # pandas warns, and drops data, when the first line is wider than `names`: refuse instead.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            cells = pd.read_csv(
                io.StringIO(text[body_start:]),
                header=None,
                names=range(width),
                index_col=False,
                dtype=object,
                keep_default_na=False,
                na_values=[""],
                skip_blank_lines=False,
            )
    except pd.errors.EmptyDataError:
        cells = pd.DataFrame({position: pd.Series(dtype=object) for position in range(width)})
    except (pd.errors.ParserError, pd.errors.ParserWarning) as exc:
        raise _parser_error(path, exc, header_line, len(headers)) from exc
    return _table(path, None, header_line, headers, cells)


def _leading_records(text: str, count: int) -> list[tuple[list[str], int, int]]:
    """The first `count` CSV records of `text`, each with the offset just past it and its last line number,
    so the header can be found by the csv module and the rest handed to pandas' C parser."""
    position, line = 0, 0

    def lines() -> Iterator[str]:
        nonlocal position, line
        while position < len(text):
            end = text.find("\n", position)
            end = len(text) if end < 0 else end + 1
            chunk = text[position:end]
            position, line = end, line + 1
            yield chunk

    records = []
    for record in csv.reader(lines()):
        records.append((record, position, line))
        if len(records) == count:
            break
    return records


def _parser_error(path: Path, exc: Exception, header_line: int, columns: int) -> SubmissionReadError:
    """The file-level error for what pandas' parser refused; its line numbers count from the body."""
    if quote := re.search(r"EOF inside string starting at row (\d+)", str(exc)):
        line = header_line + 1 + int(quote[1])
        return SubmissionReadError(
            path,
            "unclosed_quote",
            f"第 {line} 行起的引号没有闭合，无法读取；请检查该行的英文双引号",
            f"the quote opened on line {line} is never closed; check that line's double quotes",
            row=line,
        )
    if isinstance(exc, pd.errors.ParserWarning):  # pandas checks only the first line for this
        line = header_line + 1
    elif wide := re.search(r"line (\d+), saw", str(exc)):
        line = header_line + int(wide[1])
    else:
        return SubmissionReadError(
            path, "unreadable_file", f"CSV 格式有误（{exc}）", f"malformed CSV ({exc})"
        )
    return SubmissionReadError(
        path,
        "too_many_fields",
        f"第 {line} 行的字段远多于表头的 {columns} 列，无法读取；请检查是否有多余的逗号",
        f"line {line} has far more fields than the header's {columns}; look for stray commas",
        row=line,
    )
