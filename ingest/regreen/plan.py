"""Parse the plan notice 泉台管办〔2023〕36号 into its projects and the totals it declares.

The notice reaches us in three forms: the bundled text file (tab-separated tables), text extracted from the
PDF with `pdftotext -layout` (columns aligned by spaces, wrapped names, page footers) and a Word .docx. Each
form has one tokenising step that turns it into the same `_Line`s (normalised cells plus where they came
from); one shared step then reads the yearly tables, the sentences and the document header from them.

The parser records what the notice declares. Whether a year's sentence agrees with its table is for the
checks downstream; a table that disagrees with its own 合计 row is refused here, because then the rows
themselves cannot be trusted.
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
import zipfile
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from pathlib import Path

from regreen.errors import (
    NoPlanTableError,
    NoticeNotFoundError,
    NoticeUnreadableError,
    PlanTableMismatchError,
    RegreenError,
)

# --- errors only this parser raises -----------------------------------------------------------------


class NoticeLayoutError(RegreenError):
    """The notice lacks a part every plan notice has (document number, title, date, a table's 合计 row)."""

    def __init__(self, path: Path, where: str, problem_zh: str, problem_en: str) -> None:
        self.path = path
        self.where = where
        super().__init__(f"{path}（{where}）：{problem_zh}", f"{path} ({where}): {problem_en}")


class PlanCellError(RegreenError):
    """A row of a yearly plan table does not hold what one of its columns needs."""

    def __init__(
        self, path: Path, where: str, column: str, value: str, problem_zh: str, problem_en: str
    ) -> None:
        self.path = path
        self.where = where
        self.column = column
        self.value = value
        super().__init__(
            f"{path}（{where}）“{column}”列的值“{value}”{problem_zh}",
            f"{path} ({where}), column {column}, value {value!r}: {problem_en}",
        )


# --- the parsed notice -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanDocument:
    document_number: str
    title: str
    issued_on: date
    sha256: str
    source_path: str
    source_format: str  # 'txt' | 'pdf_text' | 'docx'


@dataclass(frozen=True)
class PlanProject:
    plan_year: int
    seq: int
    name: str
    patches: int
    area_mu: Decimal
    source_ref: str


@dataclass(frozen=True)
class DeclaredTotal:
    plan_year: int | None  # None for the district task
    source: str  # 'total_row' | 'sentence' | 'task'
    township: str | None  # only for a count a sentence gives one named township
    measure: str
    value: Decimal
    source_ref: str


@dataclass(frozen=True)
class Plan:
    document: PlanDocument
    projects: tuple[PlanProject, ...]
    declared_totals: tuple[DeclaredTotal, ...]

    def to_json_dict(self) -> dict:
        doc = self.document
        return {
            "document": {
                "document_number": doc.document_number,
                "title": doc.title,
                "issued_on": doc.issued_on.isoformat(),
                "sha256": doc.sha256,
                "source_path": doc.source_path,
                "source_format": doc.source_format,
            },
            "projects": [
                {
                    "plan_year": p.plan_year,
                    "seq": p.seq,
                    "name": p.name,
                    "patches": p.patches,
                    "area_mu": _json_number(p.area_mu),
                }
                for p in self.projects
            ],
            "declared_totals": [
                {
                    "plan_year": t.plan_year,
                    "source": t.source,
                    "township": t.township,
                    "measure": t.measure,
                    "value": _json_number(t.value),
                    "source_ref": t.source_ref,
                }
                for t in self.declared_totals
            ],
        }

    def render(self) -> str:
        doc = self.document
        projects = [
            [str(p.plan_year), str(p.seq), p.name, str(p.patches), _figure(p.area_mu)] for p in self.projects
        ]
        projects.append(
            [
                "合计",
                "",
                f"{len(self.projects)} 个项目",
                str(sum(p.patches for p in self.projects)),
                _figure(sum((p.area_mu for p in self.projects), Decimal(0))),
            ]
        )
        totals = [
            [
                "—" if t.plan_year is None else str(t.plan_year),
                _SOURCE_LABELS[t.source],
                t.township or "—",
                _MEASURE_LABELS[t.measure],
                _figure(t.value),
                t.source_ref,
            ]
            for t in self.declared_totals
        ]
        return "\n".join(
            [
                f"{doc.document_number}  {doc.title}",
                f"成文日期 {doc.issued_on.isoformat()}  格式 {doc.source_format}  sha256 {doc.sha256[:12]}…",
                "",
                "计划项目",
                *_text_table(
                    ["年度", "序号", "项目名称", "涉及图斑(个)", "面积(亩)"], projects, right={0, 1, 3, 4}
                ),
                "",
                "申报合计",
                *_text_table(["年度", "来源", "乡镇", "指标", "数值", "位置"], totals, right={4}),
            ]
        )


_SOURCE_LABELS = {"total_row": "合计行", "sentence": "正文说明", "task": "工作目标"}
_MEASURE_LABELS = {
    "projects": "项目数",
    "patches": "图斑数",
    "area_mu": "面积(亩)",
    "township_projects": "乡镇项目数",
    "township_count": "乡镇数",
    "projects_per_township": "每乡镇项目数",
    "task_area_mu": "任务面积(亩)",
}


def parse_notice(path: Path) -> Plan:
    """Read a plan notice (.txt, PDF-extracted text or .docx) into its projects and declared totals."""
    data = _read_bytes(path)
    source_format, lines = _tokenise(path, data)
    lines = [line for line in lines if line.cells and not _PAGE_MARK.fullmatch(line.text)]
    tables, prose = _split_tables(path, lines)
    if not tables:
        raise NoPlanTableError(path)
    for table in tables:
        _check_table(path, table)
    number, title, issued_on = _read_header(path, prose)
    document = PlanDocument(
        document_number=number,
        title=title,
        issued_on=issued_on,
        sha256=hashlib.sha256(data).hexdigest(),
        source_path=str(path),
        source_format=source_format,
    )
    declared = _plan_totals(prose)
    for table in tables:
        declared.extend(_sentence_totals(table))
        declared.extend(_total_row_totals(table))
    projects = tuple(project for table in tables for project in table.rows)
    return Plan(document, projects, tuple(declared))


# --- reading and tokenising: one step per form, all producing `_Line`s --------------------------------


@dataclass(frozen=True)
class _Line:
    """One line of the notice as cells of normalised text; `ref` says where a user finds it."""

    cells: tuple[str, ...]
    ref: str

    @property
    def text(self) -> str:
        return "".join(self.cells)


# The three forms print the same figures with full-width or half-width digits and brackets and with
# stray spaces ('涉及图斑 (个)', '合  计', '共５个'); after this they read alike.
_HALF_WIDTH = str.maketrans({**{chr(0xFF10 + d): str(d) for d in range(10)}, "（": "(", "）": ")", "．": "."})


def _clean(text: str) -> str:
    return "".join(text.translate(_HALF_WIDTH).split())


def _line(cells: Iterable[str], ref: str) -> _Line:
    return _Line(tuple(cell for cell in map(_clean, cells) if cell), ref)


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise NoticeNotFoundError(path)
    if path.is_dir():
        raise NoticeUnreadableError(path, "这是一个目录 / it is a directory")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise NoticeUnreadableError(path, exc.strerror or str(exc)) from exc


def _tokenise(path: Path, data: bytes) -> tuple[str, list[_Line]]:
    """Recognise the form by content (a .docx is a zip; only the bundled text has tabs) and split it."""
    if data.startswith(b"PK\x03\x04") or path.suffix.lower() == ".docx":
        return "docx", _docx_lines(path, data)
    if data.startswith(b"%PDF"):
        raise NoticeUnreadableError(
            path,
            "这是 PDF 文件，请先用 pdftotext -layout 提取文本 / it is a PDF; extract its text with pdftotext "
            "-layout",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NoticeUnreadableError(
            path, f"第 {exc.start} 字节起不是 UTF-8 文本 / not UTF-8 text from byte {exc.start}"
        ) from exc
    if "\t" in text:
        return "txt", [_line(raw.split("\t"), f"line {n}") for n, raw in enumerate(text.splitlines(), 1)]
    return "pdf_text", [
        _line(_LAYOUT_GAP.split(raw), f"line {n}") for n, raw in enumerate(text.splitlines(), 1)
    ]


# pdftotext -layout separates columns by runs of spaces; a single space is part of a cell's text.
_LAYOUT_GAP = re.compile(r"[ \u3000]{2,}")


def _docx_lines(path: Path, data: bytes) -> list[_Line]:
    import docx
    from docx.text.paragraph import Paragraph
    from lxml.etree import XMLSyntaxError

    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError, XMLSyntaxError) as exc:
        raise NoticeUnreadableError(
            path, f"不是有效的 Word 文档 / not a valid Word document ({exc})"
        ) from exc
    lines: list[_Line] = []
    paragraphs = tables = 0
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            paragraphs += 1
            lines.append(_line([block.text], f"paragraph {paragraphs}"))
            continue
        tables += 1
        for n, row in enumerate(block.rows, 1):
            # python-docx repeats a merged cell (e.g. 合计 across 序号 and 项目名称) once per column it
            # spans; it is one cell on the page. (Each `row.cells` call builds new objects: call it once.)
            grid = row.cells
            cells = [cell.text for i, cell in enumerate(grid) if i == 0 or cell is not grid[i - 1]]
            lines.append(_line(cells, f"table {tables} row {n}"))
    return lines


# --- interpreting the lines (shared by every form) ---------------------------------------------------

_PAGE_MARK = re.compile(r"[—–\-－]+\d+[—–\-－]+|第\d+页(共\d+页)?")
_YEAR_HEADING = re.compile(r"\([一二三四五六七八九十]+\)(\d{4})年度计划")
_TABLE_HEADER = re.compile(r"序号项目名称涉及图斑(\(个\))?面积(\(亩\))?")
_HEADER_UNITS = re.compile(r"(\((个|亩)\))+")  # the header's units, wrapped onto a line of their own
_INTEGER = re.compile(r"\d+")
_AREA = re.compile(r"\d+(\.\d+)?")
_SENTENCE_END = re.compile(r"[。，；：]")


@dataclass(frozen=True)
class _Table:
    plan_year: int
    ref: str  # where its header is
    sentence: tuple[_Line, ...]  # the year's prose, between its heading and the table
    rows: tuple[PlanProject, ...]
    total_patches: int
    total_area: Decimal
    total_ref: str


def _split_tables(path: Path, lines: Sequence[_Line]) -> tuple[list[_Table], list[_Line]]:
    """Return the yearly tables, each with the sentence before it, and every line outside them."""
    tables: list[_Table] = []
    prose: list[_Line] = []
    year: int | None = None
    sentence: list[_Line] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if _TABLE_HEADER.fullmatch(line.text):
            if year is None:
                raise NoticeLayoutError(
                    path,
                    line.ref,
                    "表格前没有“（一）2023 年度计划”这样的年度标题",
                    "a table with no year heading",
                )
            if any(t.plan_year == year for t in tables):
                raise NoticeLayoutError(
                    path, line.ref, f"{year} 年度有两张计划表", f"a second {year} plan table"
                )
            table, i = _read_table(path, lines, i, year, sentence)
            tables.append(table)
            year, sentence = None, []
            continue
        heading = _YEAR_HEADING.fullmatch(line.text)
        if heading:
            year, sentence = int(heading[1]), []
        elif year is not None:
            sentence.append(line)
        prose.append(line)
        i += 1
    return tables, prose


def _read_table(
    path: Path, lines: Sequence[_Line], start: int, year: int, sentence: Sequence[_Line]
) -> tuple[_Table, int]:
    """Read the rows after the header at `start` up to the 合计 row; returns the table and the next index."""
    rows: list[PlanProject] = []
    where = "文件末尾 / end of file"
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if _TABLE_HEADER.fullmatch(line.text) or (not rows and _HEADER_UNITS.fullmatch(line.text)):
            continue  # the header repeated after a page break, or its units wrapped below it
        label, figures = _split_label(line.cells)
        if label == "合计":
            patches, area = _figures(path, line, figures)
            table = _Table(year, lines[start].ref, tuple(sentence), tuple(rows), patches, area, line.ref)
            return table, i + 1
        if _INTEGER.fullmatch(line.cells[0]):
            rows.append(_project(path, line, year))
        elif rows and len(line.cells) == 1 and not _is_prose(line):
            # pdftotext puts the rest of a long project name on a line of its own, under the name.
            rows[-1] = replace(rows[-1], name=rows[-1].name + line.text)
        else:
            where = line.ref
            break
    raise NoticeLayoutError(
        path,
        where,
        f"{year} 年度计划表（{lines[start].ref}）没有合计行",
        f"the {year} plan table has no 合计 row",
    )


def _is_prose(line: _Line) -> bool:
    return bool(_SENTENCE_END.search(line.text) or _YEAR_HEADING.fullmatch(line.text))


def _split_label(cells: Sequence[str]) -> tuple[str, list[str]]:
    """Split a row into its leading text ('合计', possibly printed '合  计' across two cells) and figures."""
    first_figure = next((i for i, cell in enumerate(cells) if _AREA.fullmatch(cell)), len(cells))
    return "".join(cells[:first_figure]), list(cells[first_figure:])


def _project(path: Path, line: _Line, year: int) -> PlanProject:
    seq, *name_parts = line.cells
    name = "".join(name_parts[:-2])
    if not name:
        raise PlanCellError(
            path, line.ref, "项目名称", line.text, "缺少项目名称或数值", "the row lacks a name or a figure"
        )
    patches, area = _figures(path, line, name_parts[-2:])
    return PlanProject(year, int(seq), name, patches, area, line.ref)


def _figures(path: Path, line: _Line, figures: Sequence[str]) -> tuple[int, Decimal]:
    """The (涉及图斑, 面积) pair that ends every row."""
    if len(figures) != 2:
        raise PlanCellError(
            path,
            line.ref,
            "涉及图斑(个)/面积(亩)",
            " ".join(figures),
            "应为两个数：图斑个数和面积",
            "expected two figures, the patch count and the area",
        )
    patches, area = figures
    if not _INTEGER.fullmatch(patches):
        raise PlanCellError(path, line.ref, "涉及图斑(个)", patches, "不是整数", "is not a whole number")
    if not _AREA.fullmatch(area):
        raise PlanCellError(path, line.ref, "面积(亩)", area, "不是数字", "is not a number")
    return int(patches), Decimal(area)


def _check_table(path: Path, table: _Table) -> None:
    """Refuse a table whose 合计 row disagrees with its rows, or whose rows are not numbered 1..n.

    A lost row shows in both; the sums come first because they give the figures the 合计 row printed.
    """
    counted_patches = sum(row.patches for row in table.rows)
    if counted_patches != table.total_patches:
        raise PlanTableMismatchError(
            path, table.plan_year, table.ref, "图斑", str(table.total_patches), str(counted_patches)
        )
    counted_area = sum((row.area_mu for row in table.rows), Decimal(0))
    if counted_area != table.total_area:
        raise PlanTableMismatchError(
            path, table.plan_year, table.ref, "面积", _figure(table.total_area), _figure(counted_area)
        )
    numbers = [row.seq for row in table.rows]
    if numbers != list(range(1, len(numbers) + 1)):
        raise PlanTableMismatchError(
            path, table.plan_year, table.ref, "序号", f"1..{len(numbers)}", ",".join(map(str, numbers))
        )


# --- the document header -----------------------------------------------------------------------------

_DOCUMENT_NUMBER = re.compile(r"([\u4e00-\u9fff]+)[〔\[［](\d{4})[〕\]］](\d+)号")
_ISSUED_ON = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日")
_TITLE_MAX_LINES = 4


def _read_header(path: Path, prose: Sequence[_Line]) -> tuple[str, str, date]:
    """The document number, the title printed below it (ending in 通知) and the date the office signed."""
    at = next((i for i, line in enumerate(prose) if _DOCUMENT_NUMBER.search(line.text)), None)
    if at is None:
        raise NoticeLayoutError(
            path, "文件开头 / top", "没有找到文号（如 泉台管办〔2023〕36号）", "no document number"
        )
    number = _DOCUMENT_NUMBER.search(prose[at].text)
    title = ""
    for line in prose[at + 1 : at + 1 + _TITLE_MAX_LINES]:
        title += line.text
        if title.endswith("通知"):
            break
    else:
        raise NoticeLayoutError(
            path, prose[at].ref, "文号下方没有以“通知”结尾的标题", "no title ending in 通知"
        )
    issued = next((m for line in prose if (m := _ISSUED_ON.fullmatch(line.cells[-1]))), None)
    if issued is None:
        raise NoticeLayoutError(
            path, "落款 / signature", "没有找到成文日期（如 2023年5月5日）", "no issue date"
        )
    issued_on = date(int(issued[1]), int(issued[2]), int(issued[3]))
    return f"{number[1]}〔{number[2]}〕{number[3]}号", title, issued_on


# --- what the sentences and 合计 rows declare --------------------------------------------------------


@dataclass(frozen=True)
class _Prose:
    """Running text joined across lines (a PDF wraps sentences anywhere), remembering each line's start."""

    text: str
    starts: tuple[int, ...]
    refs: tuple[str, ...]

    @classmethod
    def of(cls, lines: Sequence[_Line]) -> _Prose:
        starts = []
        offset = 0
        for line in lines:
            starts.append(offset)
            offset += len(line.text)
        return cls("".join(line.text for line in lines), tuple(starts), tuple(line.ref for line in lines))

    def ref_at(self, position: int) -> str:
        return self.refs[bisect_right(self.starts, position) - 1]


_TASK = re.compile(r"(\d+(?:\.\d+)?)亩[\u4e00-\u9fff]*?治理任务")
# '初步划定 14 个废弃矿山治理项目': the number of projects in the whole plan.
_PLAN_PROJECTS = re.compile(r"划定(\d+)个[\u4e00-\u9fff]*?项目")
_SENTENCE_MEASURES = {
    "projects": re.compile(r"共(\d+)个(?:治理)?项目"),
    "patches": re.compile(r"涉及图斑(\d+)个"),
    "area_mu": re.compile(r"面积(\d+(?:\.\d+)?)亩"),
}
# '四个乡镇各完成 1 个治理项目' (2023) and '完成百崎乡 1 个，洛阳镇 2 个…' (2024, 2025).
_EACH_TOWNSHIP = re.compile(r"([一二三四五六七八九十]|\d+)个乡镇各完成(\d+)个")
_NAMED_TOWNSHIP = re.compile(r"(?:^|[，、,；])(?:完成)?([\u4e00-\u9fff]{1,4}?[乡镇])(\d+)个")
_CHINESE_NUMERALS = "一二三四五六七八九十"


def _plan_totals(prose: Sequence[_Line]) -> list[DeclaredTotal]:
    """What the prose outside the yearly sections declares for the whole plan: the task, the projects."""
    text = _Prose.of(prose)
    declared = []
    if task := _TASK.search(text.text):
        declared.append(
            DeclaredTotal(None, "task", None, "task_area_mu", Decimal(task[1]), text.ref_at(task.start()))
        )
    if projects := _PLAN_PROJECTS.search(text.text):
        declared.append(
            DeclaredTotal(
                None, "sentence", None, "projects", Decimal(projects[1]), text.ref_at(projects.start())
            )
        )
    return declared


def _sentence_totals(table: _Table) -> list[DeclaredTotal]:
    """Every count the year's sentence gives, in the order it gives them."""
    if not table.sentence:
        return []
    text = _Prose.of(table.sentence)
    found: list[tuple[int, str | None, str, Decimal]] = []
    for measure, pattern in _SENTENCE_MEASURES.items():
        if match := pattern.search(text.text):
            found.append((match.start(), None, measure, Decimal(match[1])))
    if each := _EACH_TOWNSHIP.search(text.text):
        found.append((each.start(), None, "township_count", Decimal(_count(each[1]))))
        found.append((each.start(2), None, "projects_per_township", Decimal(each[2])))
    for named in _NAMED_TOWNSHIP.finditer(text.text):
        found.append((named.start(1), named[1], "township_projects", Decimal(named[2])))
    return [
        DeclaredTotal(table.plan_year, "sentence", township, measure, value, text.ref_at(position))
        for position, township, measure, value in sorted(found, key=lambda item: item[0])
    ]


def _count(numeral: str) -> int:
    return int(numeral) if numeral.isdigit() else _CHINESE_NUMERALS.index(numeral) + 1


def _total_row_totals(table: _Table) -> list[DeclaredTotal]:
    return [
        DeclaredTotal(
            table.plan_year, "total_row", None, "patches", Decimal(table.total_patches), table.total_ref
        ),
        DeclaredTotal(table.plan_year, "total_row", None, "area_mu", table.total_area, table.total_ref),
    ]


# --- formatting --------------------------------------------------------------------------------------


def _figure(value: Decimal) -> str:
    """A figure as the notice prints it: '993', '12.5' (never '993.00' or '1E+3')."""
    return str(int(value)) if value == value.to_integral_value() else format(value.normalize(), "f")


def _json_number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _text_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    """Columns padded by display width, so Chinese text (two columns per character) lines up."""
    widths = [max(_display_width(row[c]) for row in [headers, *rows]) for c in range(len(headers))]

    def fmt(row: Sequence[str]) -> str:
        cells = []
        for c, cell in enumerate(row):
            pad = " " * (widths[c] - _display_width(cell))
            cells.append(pad + cell if c in right else cell + pad)
        return "  ".join(cells).rstrip()

    return [fmt(headers), *(fmt(row) for row in rows)]
