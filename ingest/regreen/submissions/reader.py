"""Read a submission file into a table of raw cells, one row per data row, numbered as the clerk sees them.

.xlsx is read with python-calamine (the sheet named 月度进展, else the first); .csv is decoded as UTF-8
(with or without BOM) or GB18030 (which covers GBK) and parsed by the csv module with every cell as
text: for the small files townships send, that is several times faster than pandas.read_csv, whose fixed
cost per call is far above the csv module's whole parse. Lines above the header (a title) are skipped:
the header is the first of the first rows that names at least three known columns. Nothing here judges
the values; see validate.py.

Every read is bounded (ReadLimits, from the [limits] settings) before anything is allocated for it: the
file is opened without following a symlink and without blocking on a pipe, and only a regular file no
larger than max_file_bytes is read; a CSV with more lines than max_rows allows is refused before it is
parsed; an .xlsx is a zip whose worksheets are scanned, streaming, for their declared dimension, their
unpacked size and the cells they place (calamine allocates rows × columns of the furthest cell, so one
cell at XFD1048576 would ask for half a terabyte) before calamine sees the file.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import posixpath
import re
import stat
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pandas as pd
import python_calamine

from regreen.config import Config, default_config
from regreen.containers import compound_file
from regreen.errors import RegreenError
from regreen.submissions.columns import COLUMNS, fold, header_as_written, match_header
from regreen.submissions.names import display_name

SHEET_NAME = "月度进展"
SUPPORTED_SUFFIXES = (".xlsx", ".csv")
# A township's files zipped into one mail attachment: refused with how to send them, not left unread.
ARCHIVE_SUFFIXES = (".zip", ".rar", ".7z")
HEADER_SEARCH_ROWS = 10  # a title block longer than this is not a title
MIN_HEADER_MATCHES = 3
# Fields a CSV line may have beyond the header and still be read, so the line can be named as having too
# many (a stray comma shifts every later value); past this the whole file is refused.
CSV_SPARE_FIELDS = 8
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# How to make the CSV this reader takes, in Excel's and WPS's words.
_SAVE_AS_CSV_ZH = (
    "请在 Excel 或 WPS 中“另存为”→“CSV UTF-8（逗号分隔）(*.csv)”或“Excel 工作簿(*.xlsx)”后重新提交"
)
_SAVE_AS_CSV_EN = (
    'in Excel or WPS, Save As "CSV UTF-8 (Comma delimited) (*.csv)" or "Excel Workbook (*.xlsx)" and resubmit'
)
# Rows a sheet may hold besides its data rows: a title block, the header, a 合计 row.
_SPARE_ROWS = HEADER_SEARCH_ROWS + 2
_SCAN_CHUNK = 1 << 20


@dataclass(frozen=True)
class ReadLimits:
    """How much of a file is read at most (the [limits] settings); past any of them the file is refused."""

    max_file_bytes: int
    max_rows: int
    max_columns: int
    max_cells: int
    max_unpacked_bytes: int

    @classmethod
    def from_config(cls, config: Config | None = None) -> ReadLimits:
        """The limits of `config` (default: the defaults of regreen.config)."""
        config = config or default_config()
        return cls(**{key: config.get("limits", key) for key in cls.__dataclass_fields__})


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
        name = display_name(path.name)
        super().__init__(f"{name}：{problem_zh}", f"{name}: {problem_en}")


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
    # The workbook counts its serial numbers from 1904-01-01 (Excel for Mac's option): a number that is
    # a date there means another day than in the 1900 system. calamine reads a cell formatted as a date
    # right either way; a bare number is for validate to date.
    date1904: bool = False


def read_table(path: Path, limits: ReadLimits | None = None, data: bytes | None = None) -> RawTable:
    """Read `path` (or `data`, the bytes already read from it); raises SubmissionReadError when it is not
    a readable submission within `limits` (default: the default settings)."""
    limits = limits or ReadLimits.from_config()
    suffix = path.suffix.lower()
    if suffix in ARCHIVE_SUFFIXES:
        raise SubmissionReadError(
            path,
            "archive",
            "这是压缩包，无法直接读取；请解压后分别提交其中的 .xlsx 或 .csv 文件",
            "a compressed archive, which is not read; unpack it and submit the .xlsx or .csv files inside",
        )
    if suffix not in SUPPORTED_SUFFIXES:
        raise SubmissionReadError(
            path,
            "unsupported_file",
            f"不支持的文件类型“{path.suffix or '（无扩展名）'}”，请提交 .xlsx 或 .csv 文件",
            f"unsupported file type {path.suffix or '(no extension)'!r}; submit an .xlsx or .csv file",
        )
    if data is None:
        data = read_regular_file(path, limits.max_file_bytes)
    elif len(data) > limits.max_file_bytes:
        raise too_large_error(path, len(data), limits.max_file_bytes)
    return _read_xlsx(path, data, limits) if suffix == ".xlsx" else _read_csv(path, data, limits)


def too_large_error(path: Path, size: int, limit: int) -> SubmissionReadError:
    return SubmissionReadError(
        path,
        "file_too_large",
        f"文件大小 {size} 字节，超过上限 {limit} 字节，未读取；乡镇月报通常只有几十 KB，请检查是否提交错了文件",
        f"the file has {size} bytes, more than the limit of {limit}, and was not read; a township's monthly "
        "report is a few dozen KB: check that this is the right file",
    )


def special_file_kind(mode: int) -> tuple[str, str] | None:
    """What a non-regular file is (Chinese, English), or None for a regular file."""
    for test, zh, en in (
        (stat.S_ISLNK, "符号链接", "a symbolic link"),
        (stat.S_ISDIR, "文件夹", "a folder"),
        (stat.S_ISFIFO, "命名管道", "a named pipe"),
        (stat.S_ISSOCK, "套接字", "a socket"),
        (stat.S_ISCHR, "字符设备", "a character device"),
        (stat.S_ISBLK, "块设备", "a block device"),
    ):
        if test(mode):
            return zh, en
    return None if stat.S_ISREG(mode) else ("特殊文件", "a special file")


def open_regular(path: Path) -> int:
    """A descriptor on `path` if it is a regular file: never through a symlink, never blocking on a pipe
    or device. Raises SubmissionReadError otherwise."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        raise SubmissionReadError(path, "file_not_found", "文件不存在", "the file does not exist") from None
    except OSError as exc:
        try:
            kind = special_file_kind(os.lstat(path).st_mode)
        except OSError:  # gone meanwhile
            kind = None
        if kind is not None:
            raise _not_regular(path, kind) from None
        raise SubmissionReadError(
            path,
            "unreadable_file",
            f"无法打开文件（{exc.strerror}）",
            f"cannot open the file ({exc.strerror})",
        ) from None
    kind = special_file_kind(os.fstat(descriptor).st_mode)
    if kind is not None:
        os.close(descriptor)
        raise _not_regular(path, kind)
    return descriptor


def _not_regular(path: Path, kind: tuple[str, str]) -> SubmissionReadError:
    return SubmissionReadError(
        path,
        "not_a_regular_file",
        f"这是{kind[0]}，不是普通文件，未读取（符号链接不会被跟随）",
        f"this is {kind[1]}, not a regular file, and was not read (symbolic links are never followed)",
    )


def read_regular_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of the regular file `path`, refused unread when larger than `max_bytes`."""
    descriptor = open_regular(path)
    with os.fdopen(descriptor, "rb") as handle:
        size = os.fstat(descriptor).st_size
        if size > max_bytes:
            raise too_large_error(path, size, max_bytes)
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:  # it grew while being read
        raise too_large_error(path, len(data), max_bytes)
    return data


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
    path: Path,
    sheet: str | None,
    header_row: int,
    headers: tuple[str, ...],
    columns: Sequence[np.ndarray],
    written: Sequence[np.ndarray],
    date1904: bool = False,
) -> RawTable:
    """The table of `columns` (one per position, all of one length, the first row being `header_row` + 1;
    `written[position]` tells which cells hold a value): the columns under a header kept, the rows with no
    value under one left out, the rows with a value outside noted."""
    length = len(columns[0]) if columns else 0
    outside = np.zeros(length, dtype=bool)
    kept = np.zeros(length, dtype=bool)
    for position, present in enumerate(written):
        if position < len(headers) and headers[position]:
            kept |= present
        else:
            outside |= present
    row_numbers = np.arange(header_row + 1, header_row + 1 + length, dtype=np.int64)
    under_headers = [columns[position] for position in range(min(len(columns), len(headers)))]
    under_headers += [np.full(length, None, dtype=object)] * (len(headers) - len(under_headers))
    rows = slice(None) if kept.all() else kept  # mostly every row: take the columns as they are
    return RawTable(
        path,
        sheet,
        header_row,
        headers,
        row_numbers[rows],
        tuple(column[rows] for column in under_headers),
        tuple(row_numbers[outside].tolist()),
        date1904,
    )


_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\b[^>]*?\bref=\"([A-Z$]*)([0-9$]*):?([A-Z$]*)([0-9$]*)\"")
_CELL = re.compile(rb"<(?:\w+:)?c[\s>/]")
_CELL_REF = re.compile(rb"<(?:\w+:)?c\b[^>]*?\br=\"([A-Z]{1,4})([0-9]{1,8})\"")
_ROW = re.compile(rb"<(?:\w+:)?row[\s>/]")
# A cell holding a formula: its opening tag's attributes (not an empty cell's <c …/>), then what follows
# the formula's tag up to the cell's end (its cached value <v>, if any).
_FORMULA_CELL = re.compile(
    rb"<(?:\w+:)?c\b([^>]*)(?<!/)>(?:[^<]|<(?!/(?:\w+:)?c>))*?<(?:\w+:)?f[\s>/](.*?)</(?:\w+:)?c>", re.S
)
_CELL_TYPE = re.compile(rb"\bt=\"(\w+)\"")
_CACHED_VALUE = re.compile(rb"<(?:\w+:)?v>[^<]")
_DATE1904 = re.compile(rb"<(?:\w+:)?workbookPr\b[^>]*\bdate1904=\"(?:1|true)\"")
_RECALCULATE_ON_LOAD = re.compile(rb"<(?:\w+:)?calcPr\b[^>]*\bfullCalcOnLoad=\"(?:1|true)\"")
_NAMED_CELLS = 5  # the cells a message names; the rest are counted


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters.replace(b"$", b""):
        number = number * 26 + letter - 64
    return number


def _unpacked_too_large(path: Path, budget: int) -> SubmissionReadError:
    return SubmissionReadError(
        path,
        "file_too_large",
        f"工作簿解压后超过 {budget} 字节，未读取",
        f"the workbook unpacks to more than {budget} bytes and was not read",
    )


def _chunks(path: Path, part: io.BufferedIOBase, left: list[int], limit: int) -> Iterator[bytes]:
    """The part's bytes as unpacked (not as its header declares), each taken from what is `left`[0] of
    the workbook's `limit`."""
    while chunk := part.read(_SCAN_CHUNK):
        left[0] -= len(chunk)
        if left[0] < 0:
            raise _unpacked_too_large(path, limit)
        yield chunk


def _sheet_extent(chunks: Iterable[bytes]) -> tuple[int, int, int, bool]:
    """(rows, columns, cells) a worksheet's XML asks calamine to allocate: the furthest cell placed or
    declared, and how many cell and row elements it holds; and whether it holds a formula."""
    rows = columns = cells = row_elements = 0
    formulas = False
    carry = b""
    for chunk in chunks:
        buffer = carry + chunk
        end = buffer.rfind(b">") + 1  # scan whole tags only; the rest waits for the next chunk
        whole, carry = buffer[:end], buffer[end:]
        for match in _DIMENSION.finditer(whole):
            last_col, last_row = match.group(3) or match.group(1), match.group(4) or match.group(2)
            columns = max(columns, _column_number(last_col))
            rows = max(rows, int(last_row.replace(b"$", b"") or 0))
        for match in _CELL_REF.finditer(whole):
            columns = max(columns, _column_number(match.group(1)))
            rows = max(rows, int(match.group(2)))
        cells += len(_CELL.findall(whole))
        row_elements += len(_ROW.findall(whole))
        # Every formula's element but a data table's ends "f>" (<f>…</f>, </x:f>; a shared one's master
        # holds its text), and a plain substring costs a fifth of a regex here: the tags are matched
        # (_FORMULA_CELL) only in a sheet where it is found.
        formulas = formulas or b"f>" in whole
    return max(rows, row_elements), columns, max(cells, rows * columns), formulas


def _scan_xlsx(path: Path, data: bytes, limits: ReadLimits) -> tuple[frozenset[str], bool]:
    """Refuse a workbook whose worksheets would make calamine allocate past `limits`; the worksheet parts
    that hold a formula, and whether the workbook is in the 1904 date system."""
    with_formulas = set()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        # What the headers declare first (cheap), then every part unpacked for real, since a header can lie.
        if sum(info.file_size for info in archive.infolist()) > limits.max_unpacked_bytes:
            raise _unpacked_too_large(path, limits.max_unpacked_bytes)
        limit = limits.max_unpacked_bytes
        left = [limit]
        for info in archive.infolist():
            with archive.open(info) as part:
                if not info.filename.startswith("xl/worksheets/") or not info.filename.endswith(".xml"):
                    for _ in _chunks(path, part, left, limit):
                        pass
                    continue
                rows, columns, cells, formulas = _sheet_extent(_chunks(path, part, left, limit))
            if formulas:
                with_formulas.add(info.filename)
            if (
                rows > limits.max_rows + _SPARE_ROWS
                or columns > limits.max_columns
                or cells > limits.max_cells
            ):
                raise SubmissionReadError(
                    path,
                    "sheet_too_large",
                    f"工作表（{info.filename}）占用 {rows} 行 × {columns} 列，超过上限（{limits.max_rows} 行、"
                    f"{limits.max_columns} 列、{limits.max_cells} 个单元格），未读取；请删去表格外的内容后重新提交",
                    f"a worksheet ({info.filename}) spans {rows} rows × {columns} columns, beyond the limits "
                    f"({limits.max_rows} rows, {limits.max_columns} columns, {limits.max_cells} cells), and was "
                    "not read; delete what lies outside the table and resubmit",
                )
        try:
            date1904 = _DATE1904.search(archive.read("xl/workbook.xml")) is not None
        except KeyError:  # calamine says what is wrong with such a workbook
            date1904 = False
    return frozenset(with_formulas), date1904


def _compound_file_error(path: Path, kind: str, named: str = ".xlsx") -> SubmissionReadError:
    """The refusal of an OLE compound file named `named`: an encrypted workbook, or an old .xls."""
    if kind == "encrypted":
        return SubmissionReadError(
            path,
            "password_protected",
            "工作簿设有打开密码，无法读取；请在 Excel 或 WPS 中取消打开密码（Excel：文件 → 信息 → 保护工作簿 → "
            "用密码进行加密，清空密码）后保存，重新提交",
            "the workbook has a password to open it and cannot be read; remove the password in Excel or WPS "
            "(Excel: File → Info → Protect Workbook → Encrypt with Password, clear it), save and resubmit",
        )
    return SubmissionReadError(
        path,
        "unreadable_file",
        f"这是旧版 Excel 97-2003（.xls）格式的文件，扩展名却是 {named}；请用 Excel 或 WPS 另存为“Excel 工作簿（.xlsx）”"
        "后重新提交",
        f"this is an Excel 97-2003 (.xls) file named {named}; save it as an Excel workbook (.xlsx) and resubmit",
    )


def _worksheet_part(archive: zipfile.ZipFile, sheet: str) -> str | None:
    """The zip member holding the worksheet named `sheet`, as xl/workbook.xml and its relationships place
    it; None when they do not say."""
    try:
        book = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        relationships = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ElementTree.ParseError):
        return None
    rel_id = next(
        (
            value
            for element in book.iter()
            if element.tag.endswith("}sheet") and element.get("name") == sheet
            for key, value in element.attrib.items()
            if key.endswith("}id")
        ),
        None,
    )
    target = next((r.get("Target") for r in relationships.iter() if r.get("Id") == rel_id), None)
    if rel_id is None or target is None:
        return None
    return target.removeprefix("/") if target.startswith("/") else posixpath.normpath(f"xl/{target}")


def _uncalculated_formulas(
    data: bytes, sheet: str, with_formulas: frozenset[str]
) -> list[tuple[int, int, str]]:
    """(row, column index, reference such as E2) of the formula cells of `sheet` (or, when the workbook
    does not say which part it is, of every part in `with_formulas`) whose value was never calculated,
    rows as Excel numbers them. calamine reads a formula's cached value, which a program writing a
    workbook does not work out (openpyxl leaves it empty, xlsxwriter writes 0, a library editing a
    workbook keeps the value from before the edit): it asks the spreadsheet to calculate on opening
    instead (fullCalcOnLoad). Excel, WPS and LibreOffice store what they calculated, and do not ask. So
    every formula of a workbook that asks is suspect; otherwise one with no cached value (but an empty
    text, which is a value: =IF(…,"",…))."""
    found = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        part = _worksheet_part(archive, sheet)
        parts = with_formulas & {part} if part is not None else with_formulas
        if not parts:
            return found
        recalculate = _RECALCULATE_ON_LOAD.search(archive.read("xl/workbook.xml")) is not None
        xml = b"".join(archive.read(name) for name in sorted(parts))
    for match in _FORMULA_CELL.finditer(xml):
        attributes, rest = match.groups()
        kind = _CELL_TYPE.search(attributes)
        if not recalculate and (
            _CACHED_VALUE.search(rest) or (kind is not None and kind[1] in (b"str", b"inlineStr"))
        ):
            continue
        reference = _CELL_REF.match(b"<c " + attributes)
        if reference is None:  # r is optional, but rare: the cell counts, named by no place
            found.append((0, -1, "?"))
        else:
            row, letters = int(reference[2]), reference[1]
            found.append((row, _column_number(letters) - 1, f"{letters.decode()}{row}"))
    return found


def _refuse_uncalculated(
    path: Path, data: bytes, sheet: str, with_formulas: frozenset[str], first_row: int, headers: Sequence[str]
) -> None:
    """Refuse the workbook if a formula cell of `sheet` from `first_row` (the header's) down has no value
    calculated: read as it is, a clerk's figure would be blank or 0. A title's formula does not matter."""
    found = _uncalculated_formulas(data, sheet, with_formulas)
    cells = [cell for cell in found if cell[0] >= first_row or not cell[0]]
    if not cells:
        return
    named_zh, named_en = [], []
    for row, column, place in cells[:_NAMED_CELLS]:
        header = headers[column] if 0 <= column < len(headers) and headers[column] else None
        named_zh.append(f"第 {row} 行「{header}」（{place}）" if header else f"第 {row} 行（{place}）")
        named_en.append(f"row {row}, column {header} ({place})" if header else f"row {row} ({place})")
    more_zh = f"等共 {len(cells)} 个单元格" if len(cells) > _NAMED_CELLS else ""
    more_en = f", {len(cells)} cells in all" if len(cells) > _NAMED_CELLS else ""
    raise SubmissionReadError(
        path,
        "formula_not_calculated",
        f"工作簿由程序生成，其中公式的结果没有计算：{'、'.join(named_zh)}{more_zh}；照此读取会把这些数读成空白或 0。"
        "请用 Excel 或 WPS 打开该文件并保存（LibreOffice：先按 Ctrl+Shift+F9 重新计算再保存），或把公式改为数值，"
        "然后重新提交",
        f"the workbook was written by a program and its formulas were never calculated: {'; '.join(named_en)}"
        f"{more_en}; read as they are, these figures would be blank or 0. Open the file in Excel or WPS and "
        "save it (LibreOffice: press Ctrl+Shift+F9 to recalculate first), or replace the formulas by their "
        "values, and resubmit",
        row=cells[0][0] or None,
    )


def _pick_sheet(path: Path, sheets: Sequence[python_calamine.SheetMetadata]) -> str:
    """The name of the sheet to read: the one named 月度进展 (spaces and full-width forms aside); else
    the first worksheet shown whose name begins so (月度进展（6月）); else the first worksheet shown (a
    hidden one before it holds a drop-down's choices, say). A 月度进展 sheet the clerk hid is refused:
    what they filled in is elsewhere, maybe in a copy of it (月度进展 (2))."""
    worksheets = [s for s in sheets if s.typ == python_calamine.SheetTypeEnum.WorkSheet] or list(sheets)
    shown = [s for s in worksheets if s.visible == python_calamine.SheetVisibleEnum.Visible]
    named = next((s for s in worksheets if fold(s.name) == SHEET_NAME), None)
    if named is not None and named not in shown:
        raise SubmissionReadError(
            path,
            "sheet_hidden",
            f"工作表“{named.name}”被隐藏了，无法确定所填内容在哪个工作表；请取消隐藏（右键单击工作表标签 → 取消隐藏）"
            "并把数据填在其中，或删除它，然后重新提交",
            f"the sheet {named.name!r} is hidden, so which sheet holds the report is unclear; unhide it (right-click a "
            "sheet tab → Unhide) and fill it in, or delete it, and resubmit",
        )
    begins = [s for s in shown if fold(s.name).startswith(SHEET_NAME)]
    return (named or next(iter(begins + shown + worksheets))).name


_WEB_PAGE = re.compile(
    rb"\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|table|meta|head)\b", re.IGNORECASE | re.DOTALL
)


def _not_a_workbook(path: Path, data: bytes) -> SubmissionReadError | None:
    """What a file named .xlsx that is no zip is, when it can be told: a web page (a web system's "Excel"
    export is often an HTML table), or CSV text renamed; None otherwise."""
    head = data[:4096].removeprefix(_UTF8_BOM)
    if _WEB_PAGE.match(head):
        return SubmissionReadError(
            path,
            "unreadable_file",
            "这是网页（HTML 表格，网上业务系统导出的“Excel”常是这样），扩展名却是 .xlsx；请用 Excel 或 WPS 打开后"
            "“另存为”Excel 工作簿（.xlsx）再重新提交",
            "this is a web page (an HTML table, as web systems often export 'Excel') named .xlsx; open it in "
            "Excel or WPS, save it as an Excel workbook (.xlsx) and resubmit",
        )
    first_line = head.split(b"\n", 1)[0]
    if b"," in first_line and b"\0" not in head:
        return SubmissionReadError(
            path,
            "unreadable_file",
            "这是 CSV 文本文件，扩展名却是 .xlsx；请把扩展名改为 .csv，或用 Excel 或 WPS 另存为 .xlsx 后重新提交",
            "this is a CSV text file named .xlsx; rename it .csv, or save it as .xlsx in Excel or WPS, and "
            "resubmit",
        )
    return None


def _read_xlsx(path: Path, data: bytes, limits: ReadLimits) -> RawTable:
    if kind := compound_file(data):
        raise _compound_file_error(path, kind)
    if not data.startswith(b"PK") and (error := _not_a_workbook(path, data)):
        raise error
    try:
        with_formulas, date1904 = _scan_xlsx(path, data, limits)
        with python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data)) as workbook:
            if not workbook.sheet_names:
                raise SubmissionReadError(
                    path, "empty_file", "工作簿中没有工作表", "the workbook has no sheet"
                )
            sheet = _pick_sheet(path, workbook.sheets_metadata)
            found = workbook.get_sheet_by_name(sheet)
            rows = _merged_filled(found.to_python(skip_empty_area=False), found.merged_cell_ranges or ())
    # zipfile's errors on a damaged or exotic zip (before calamine sees it), then calamine's own.
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        NotImplementedError,
        EOFError,
        ValueError,
        OSError,
        python_calamine.CalamineError,
    ) as exc:
        raise SubmissionReadError(
            path,
            "unreadable_file",
            f"无法作为 Excel（.xlsx）文件读取（{exc}）；请用 Excel 或 WPS 另存为 .xlsx 后重新提交",
            f"cannot be read as an Excel .xlsx workbook ({exc}); save it again as .xlsx and resubmit",
        ) from exc
    if not rows:
        raise SubmissionReadError(path, "empty_file", f"工作表“{sheet}”是空的", f"sheet {sheet!r} is empty")
    header_index = _header_at(rows, path)
    second = _continues_header(rows[header_index + 1 : header_index + 2])
    header_end = header_index + 1 if second else header_index
    headers = _headers(_lowest_written(rows[header_index : header_end + 1]))
    if with_formulas:
        _refuse_uncalculated(path, data, sheet, with_formulas, header_index + 1, headers)
    # Row i of to_python(skip_empty_area=False) is Excel row i + 1.
    # pandas gives each column one type: a column of numbers becomes float64, read without parsing.
    frame = pd.DataFrame(rows[header_end + 1 :])
    columns = [_column(frame[position]) for position in frame.columns]
    written = [~pd.isna(column) for column in columns]
    return _table(path, sheet, header_end + 1, headers, columns, written, date1904)


def _continues_header(below: Sequence[Sequence[object]]) -> bool:
    """Whether the row `below` the header (none, or one) is a second row of it: every cell written in it
    names a column. Reports lay a group of columns out so, its name (资金来源（万元）) above their own
    names (上级资金、区财政资金…), the other names merged down both rows or written on the first only."""
    written = [cell for row in below for cell in row if cell not in ("", None)]
    return bool(written) and all(isinstance(cell, str) and match_header(cell) is not None for cell in written)


def _lowest_written(header_rows: Sequence[Sequence[object]]) -> list[object]:
    """Each column's name in a header of several rows: its lowest cell written (a merged cell's value is
    in each row it spans, see _merged_filled)."""
    width = max(map(len, header_rows))
    names: list[object] = [None] * width
    for row in header_rows:
        for position, cell in enumerate(row):
            if cell not in ("", None):
                names[position] = cell
    return names


def _merged_filled(
    rows: list[list[object]], merged: Iterable[tuple[tuple[int, int], tuple[int, int]]]
) -> list[list[object]]:
    """`rows` with each merged cell's value in every row it spans, in its first column: a month or a
    township written once and merged down the rows of its projects, as Chinese reports lay them out, is
    what the clerk sees on each of those rows (Excel keeps it in the top cell only). Ranges are
    ((first row, first column), (last row, last column)), 0-based, as rows are indexed from A1. Columns
    to the right of a range's first stay empty: a value merged across columns is one value, not two."""
    for (first_row, column), (last_row, _) in merged:
        if first_row >= len(rows) or column >= len(rows[first_row]):
            continue
        value = rows[first_row][column]
        for row in rows[first_row + 1 : last_row + 1]:
            if column < len(row) and row[column] in ("", None):
                row[column] = value
    return rows


def decode_csv(path: Path, data: bytes) -> str:
    if data.startswith(_UTF16_BOMS):
        raise SubmissionReadError(
            path,
            "unreadable_file",
            f"这是 UTF-16 编码、以制表符分隔的文本（Excel 的“Unicode 文本”），不是 CSV 文件；{_SAVE_AS_CSV_ZH}",
            f'this is UTF-16 text separated by tabs (Excel\'s "Unicode Text"), not a CSV file; {_SAVE_AS_CSV_EN}',
        )
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


def _read_csv(path: Path, data: bytes, limits: ReadLimits) -> RawTable:
    if data.startswith(b"PK\x03\x04"):
        raise SubmissionReadError(
            path,
            "unreadable_file",
            "这是 Excel 工作簿（.xlsx），扩展名却是 .csv；请把扩展名改回 .xlsx 后重新提交",
            "this is an Excel workbook (.xlsx) named .csv; rename it .xlsx and resubmit",
        )
    if kind := compound_file(data):
        raise _compound_file_error(path, kind, ".csv")
    lines = data.count(b"\n")
    if lines > limits.max_rows + _SPARE_ROWS:
        raise SubmissionReadError(
            path,
            "too_many_rows",
            f"文件有 {lines} 行，超过上限 {limits.max_rows} 行数据，未读取",
            f"the file has {lines} lines, more than the limit of {limits.max_rows} data rows, and was not read",
        )
    text = decode_csv(path, data)
    if not text or text.isspace():
        raise SubmissionReadError(path, "empty_file", "文件是空的", "the file is empty")

    try:
        leading = _leading_records(text, HEADER_SEARCH_ROWS)
    except csv.Error as exc:  # a value longer than the csv module's field limit
        raise SubmissionReadError(
            path, "unreadable_file", f"CSV 格式有误（{exc}）", f"malformed CSV ({exc})"
        ) from exc
    try:
        header_index = _header_at([record for record, _, _ in leading], path)
    except SubmissionReadError as exc:
        raise _other_text_format(path, text) or exc from None
    if _continues_header([record for record, _, _ in leading[header_index + 1 : header_index + 2]]):
        headers = _headers(_lowest_written([leading[header_index][0], leading[header_index + 1][0]]))
        header_index += 1
    else:
        headers = _headers(leading[header_index][0])
    _, body_start, header_line = leading[header_index]
    if len(headers) > limits.max_columns:
        raise SubmissionReadError(
            path,
            "too_many_columns",
            f"表头有 {len(headers)} 列，超过上限 {limits.max_columns} 列，未读取",
            f"the header has {len(headers)} columns, more than the limit of {limits.max_columns}, and was not read",
            row=header_line,
        )
    plain = _plain_cells(text[body_start:], len(headers) + CSV_SPARE_FIELDS)
    if plain is not None:
        written = plain.astype(bool)  # not ""
        plain[~written] = None
        return _table(path, None, header_line, headers, list(plain), list(written))
    # One more line, blank, after the text: it becomes a record of its own, unless the text ends inside
    # a quoted value, which then swallows it (the csv module returns an unclosed value without a word).
    records: list[list[str]] = []
    try:
        records.extend(csv.reader(itertools.chain(io.StringIO(text[body_start:], newline=""), ["\n"])))
        unclosed = bool(records.pop())
    except csv.Error:
        # The csv module gives up only on a value longer than its field limit, far more than a spreadsheet
        # cell holds: a quote opened in the record it was reading is never closed.
        unclosed = True
    # A record is numbered as a line: from the line after the header, one number per record (a quoted
    # value over several lines still counts one), blank lines included.
    records = _check_fields(path, records, header_line, len(headers))
    if unclosed:
        line = header_line + 1 + len(records)
        raise SubmissionReadError(
            path,
            "unclosed_quote",
            f"第 {line} 行起的引号没有闭合，无法读取；请检查该行的英文双引号",
            f"the quote opened on line {line} is never closed; check that line's double quotes",
            row=line,
        )
    if records and min(map(len, records)) == max(map(len, records)):  # the usual CSV: one width throughout
        cells = np.array(records, dtype=object).T  # one row per field position
    else:
        cells = np.array(list(itertools.zip_longest(*records)), dtype=object)
    written = cells.astype(bool)  # neither None (a short line) nor ""
    cells[~written] = None
    return _table(path, None, header_line, headers, list(cells), list(written))


def _other_text_format(path: Path, text: str) -> SubmissionReadError | None:
    """Why a CSV without a header cannot be read, when it is a text file of another kind: its columns
    separated by tabs (Excel's "Text (Tab delimited)") or semicolons (a CSV of a locale writing decimal
    commas, whose figures would be misread), or its Chinese lost as question marks (Excel for Mac's "CSV
    (Macintosh)" is in Mac Roman, which has no Chinese). None when it is none of them."""
    lines = text[: 1 << 16].splitlines()[:HEADER_SEARCH_ROWS]
    for separator, zh, en in (("\t", "制表符", "tabs"), (";", "分号", "semicolons")):
        if any(
            sum(match_header(cell) is not None for cell in line.split(separator)) >= MIN_HEADER_MATCHES
            for line in lines
        ):
            return SubmissionReadError(
                path,
                "not_comma_separated",
                f"各列以{zh}而不是逗号分隔，无法读取；{_SAVE_AS_CSV_ZH}",
                f"the columns are separated by {en}, not commas, and cannot be read; {_SAVE_AS_CSV_EN}",
            )
    if any("??" in line for line in lines):
        return SubmissionReadError(
            path,
            "chinese_lost",
            "文件中的中文都变成了问号（?），表头无法识别：保存时所选的格式不能保存中文（如 Excel for Mac 的“CSV（Macintosh）”）；"
            f"{_SAVE_AS_CSV_ZH}",
            "the Chinese in the file has become question marks (?), so the header cannot be found: it was saved in "
            'a format that cannot hold Chinese (such as Excel for Mac\'s "CSV (Macintosh)"); '
            + _SAVE_AS_CSV_EN,
        )
    return None


def _plain_cells(body: str, width: int) -> np.ndarray | None:
    """The cells of `body` (the lines under the header), one row per field position, when the text is
    plain: no quote, no NUL, no CR but in CR LF line ends, no blank line, every line of one number of
    fields, at most `width`. Splitting such text at commas and line ends gives exactly the csv module's
    records, in a few passes of C over the whole text instead of the csv module's work per field (half the
    time of reading a file). None when it is not plain: the csv module reads it, and names what is wrong."""
    if '"' in body or "\0" in body:
        return None
    if "\r" in body:
        body = body.replace("\r\n", "\n")
        if "\r" in body:
            return None
    body = body.removesuffix("\n")
    lines = body.split("\n")
    fields = body.count(",", 0, len(lines[0])) + 1
    if not body or fields > width or body.count(",") != (fields - 1) * len(lines):
        return None
    if set(map(str.count, lines, itertools.repeat(","))) != {fields - 1}:  # the same total, spread unevenly
        return None
    if max(map(len, lines)) > csv.field_size_limit():  # a field the csv module would refuse, maybe
        return None
    if fields == 1 and not all(lines):  # a blank line: the csv module reads no field, not an empty one
        return None
    split = body.replace("\n", ",").split(",")
    # fromiter copies the references: np.array would look into each of a million strings for a sequence.
    cells = np.fromiter(split, dtype=object, count=len(split))
    return cells.reshape(len(lines), fields).T


def _check_fields(path: Path, records: list[list[str]], header_line: int, columns: int) -> list[list[str]]:
    """`records`, cut to CSV_SPARE_FIELDS fields beyond the header; the file is refused at the first record
    with a value past that. Empty fields past it are harmless: a spreadsheet whose used range reaches
    further right than its header writes them on every line."""
    width = columns + CSV_SPARE_FIELDS
    if not records or max(map(len, records)) <= width:
        return records
    wide = next((index for index, record in enumerate(records) if any(record[width:])), None)
    if wide is None:
        return [record[:width] for record in records]
    line = header_line + 1 + wide
    raise SubmissionReadError(
        path,
        "too_many_fields",
        f"第 {line} 行的字段远多于表头的 {columns} 列，无法读取；请检查是否有多余的逗号",
        f"line {line} has far more fields than the header's {columns}; look for stray commas",
        row=line,
    )


def _leading_records(text: str, count: int) -> list[tuple[list[str], int, int]]:
    """The first `count` CSV records of `text`, each with the offset just past it and its last line number.

    Lines are split at LF, so CR LF and a stray CR before it end one line; only a file with a lone CR
    between values (classic Mac line ends), which the csv module refuses in such lines, is split at every
    CR as well."""
    try:
        return _first_records(text, count, _lf_lines(text))
    except csv.Error:
        return _first_records(text, count, io.StringIO(text, newline=""))


def _lf_lines(text: str) -> Iterator[str]:
    position = 0
    while position < len(text):
        end = text.find("\n", position)
        end = len(text) if end < 0 else end + 1
        yield text[position:end]
        position = end


def _first_records(text: str, count: int, lines: Iterable[str]) -> list[tuple[list[str], int, int]]:
    position, line = 0, 0

    def counted() -> Iterator[str]:
        nonlocal position
        for chunk in lines:
            position += len(chunk)
            yield chunk

    records = []
    for record in csv.reader(counted()):
        start = records[-1][1] if records else 0
        line += text.count("\n", start, position) + (text[position - 1 : position] != "\n")
        records.append((record, position, line))
        if len(records) == count:
            break
    return records
