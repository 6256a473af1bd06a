"""Parse the plan notice 泉台管办〔2023〕36号 into its projects and the totals it declares.

The notice reaches us in five forms: the PDF as published (its ruled tables read by pdfplumber, the text
around them in reading order), a Word .docx, the web page the site published it as (saved as .html or
.mhtml), the bundled text file (tab-separated tables) and text someone already extracted from a PDF
(columns aligned by spaces, wrapped names, page footers). Each form has one
tokenising step that turns it into the same `_Line`s (normalised cells plus where they came from); one shared
step then reads the yearly tables, the sentences and the document header from them. Every project name is
checked on the way out, whatever the form: a wrapped name is where a PDF goes wrong silently.

The parser records what the notice declares. Whether a year's sentence agrees with its table is for the
checks downstream; a table that disagrees with its own 合计 row is refused here, because then the rows
themselves cannot be trusted.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import io
import re
import unicodedata
import zipfile
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from regreen.containers import compound_file
from regreen.errors import (
    NoPlanTableError,
    NoticeHasNoTextError,
    NoticeNotFoundError,
    NoticeUnreadableError,
    PlanTableMismatchError,
    RegreenError,
)
from regreen.ideographs import UNIFIED_IDEOGRAPHS
from regreen.log import logger

if TYPE_CHECKING:
    from pdfplumber.page import Page

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


class PlanNameError(RegreenError):
    """A project name holds what cannot be part of a name: header words, or the start of the next row."""

    def __init__(self, path: Path, row: PlanProject, table: str, problem_zh: str, problem_en: str) -> None:
        self.path = path
        self.row = row
        self.table = table
        super().__init__(
            f"{path}（{row.source_ref}，{row.plan_year} 年度计划表，表头在 {table}）项目名称“{row.name}”{problem_zh}；"
            "请核对该行是否读错，本次未生成新数据",
            f"{path} ({row.source_ref}, the {row.plan_year} plan table headed at {table}): the project name "
            f"{row.name!r} {problem_en}; check how the row was read. Nothing was built",
        )


# --- the parsed notice -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanDocument:
    document_number: str
    title: str
    issued_on: date
    sha256: str
    source_path: str
    source_format: str  # 'pdf' | 'docx' | 'html' | 'txt' | 'pdf_text'
    page_count: int | None = None  # a PDF's pages; None for the other forms
    extractor: str | None = None  # what read a PDF, with its version ('pdfplumber 0.11.10')


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
                "page_count": doc.page_count,
                "extractor": doc.extractor,
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
        pages = "" if doc.page_count is None else f"（{doc.page_count} 页，{doc.extractor}）"
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
                f"成文日期 {doc.issued_on.isoformat()}  格式 {doc.source_format}{pages}  sha256 {doc.sha256[:12]}…",
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
    """Read a plan notice (.pdf, .docx, .txt or PDF-extracted text) into its projects and declared totals."""
    data = _read_bytes(path)
    form = _tokenise(path, data)
    lines = [line for line in form.lines if line.cells and not _PAGE_MARK.fullmatch(line.text)]
    tables, prose = _split_tables(path, lines)
    if not tables:
        raise NoPlanTableError(path)
    for table in tables:
        _check_names(path, table)  # first: a row glued into a name also breaks the sums, less tellingly
        _check_table(path, table)
    number, title, issued_on = _read_header(path, prose)
    document = PlanDocument(
        document_number=number,
        title=title,
        issued_on=issued_on,
        sha256=hashlib.sha256(data).hexdigest(),
        source_path=str(path),
        source_format=form.source_format,
        page_count=form.page_count,
        extractor=form.extractor,
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
    """One line of the notice as cells of normalised text; `ref` says where a user finds it.

    `ruled` marks a row of a table whose cells the document itself delimits (a PDF's ruled table, a Word
    table), as against a line of text whose cells are only words standing apart.
    """

    cells: tuple[str, ...]
    ref: str
    ruled: bool = False

    @property
    def text(self) -> str:
        return "".join(self.cells)


# The three forms print the same figures with full-width or half-width digits and brackets and with
# stray spaces ('涉及图斑 (个)', '合  计', '共５个'), and a PDF's text layer may give a radical for the
# ideograph it prints ('项⽬名称', regreen.ideographs); after this they read alike.
_READ_ALIKE = {
    **UNIFIED_IDEOGRAPHS,
    **str.maketrans({**{chr(0xFF10 + d): str(d) for d in range(10)}, "（": "(", "）": ")", "．": "."}),
}
_READ_DIFFERENTLY = re.compile("[" + re.escape("".join(map(chr, _READ_ALIKE))) + "]+")


def _squeeze(text: str) -> str:
    return "".join(text.split())


def _clean(text: str) -> str:
    return _squeeze(text.translate(_READ_ALIKE))


def _line(cells: Iterable[str], ref: str, ruled: bool = False, clean: Callable[[str], str] = _clean) -> _Line:
    """The line of `cells`; `clean=_squeeze` for cells of a text already translated (`_READ_ALIKE`)."""
    return _Line(tuple(cell for cell in map(clean, cells) if cell), ref, ruled)


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise NoticeNotFoundError(path)
    if path.is_dir():
        raise NoticeUnreadableError(path, "这是一个目录 / it is a directory")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise NoticeUnreadableError(path, exc.strerror or str(exc)) from exc


@dataclass(frozen=True)
class _Form:
    source_format: str
    lines: list[_Line]
    page_count: int | None = None
    extractor: str | None = None


def _tokenise(path: Path, data: bytes) -> _Form:
    """Recognise the form by content (a PDF's magic, a .docx is a zip, a web page's markup; only the bundled
    text has tabs)."""
    if data.startswith(b"%PDF"):
        return _pdf_form(path, data)
    if kind := compound_file(data):
        raise NoticeUnreadableError(path, _COMPOUND_NOTICE[kind])
    if data.startswith(b"PK\x03\x04") and _is_ofd(data):
        raise NoticeUnreadableError(
            path,
            "这是 OFD 版式文件，暂不支持；请用 OFD 阅读器另存为 PDF / an OFD document (GB/T 33190), which regreen "
            "does not read; export it to PDF from the OFD reader",
        )
    if data.startswith(b"PK\x03\x04") and _is_opendocument(data):
        raise NoticeUnreadableError(
            path,
            "这是 OpenDocument 文档（.odt，LibreOffice 或 WPS 所存），请另存为 .docx 或 PDF / an OpenDocument "
            "text (.odt, as LibreOffice or WPS save it); save it as .docx or PDF",
        )
    if data.startswith(b"PK\x03\x04") or path.suffix.lower() == ".docx":
        return _Form("docx", _docx_lines(path, data))
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{\\rtf"):
        raise NoticeUnreadableError(
            path, "这是 RTF 文档，请另存为 .docx 或 PDF / an RTF document; save it as .docx or PDF"
        )
    if page := _web_page(path, data):
        return _Form("html", _html_lines(path, page))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NoticeUnreadableError(
            path, f"第 {exc.start} 字节起不是 UTF-8 文本 / not UTF-8 text from byte {exc.start}"
        ) from exc
    # The whole text translated at once (a plan of 130,000 projects has half a million cells): the
    # translation maps characters one for one and none of them is a tab, a space or a line break, so the
    # lines and cells split from it are those of the text, each translated. Only the runs of characters
    # it maps are translated: str.translate looks up every character of ten megabytes.
    lines = _READ_DIFFERENTLY.sub(lambda run: run[0].translate(_READ_ALIKE), text).splitlines()
    if "\t" in text:
        return _Form(
            "txt", [_line(raw.split("\t"), f"line {n}", clean=_squeeze) for n, raw in enumerate(lines, 1)]
        )
    return _Form(
        "pdf_text",
        [_line(_LAYOUT_GAP.split(raw), f"line {n}", clean=_squeeze) for n, raw in enumerate(lines, 1)],
    )


_COMPOUND_NOTICE = {
    "encrypted": "文档设有打开密码，请另存一份不设打开密码的文档 / the document needs a password to open; "
    "save a copy without it",
    "binary": "这是旧版 Word 97-2003（.doc）或 WPS（.wps）格式，请另存为 .docx 或 PDF / an old Word 97-2003 "
    "(.doc) or WPS (.wps) document; save it as .docx or PDF",
}


def _is_opendocument(data: bytes) -> bool:
    """An OpenDocument file (.odt and its kin): a zip whose first entry, `mimetype`, names its kind."""
    return data[30:38] == b"mimetype" and b"application/vnd.oasis.opendocument" in data[38:120]


_HTML_START = re.compile(rb"\s*(<!--.*?-->\s*)*<(!doctype\s+html|html[\s>])", re.IGNORECASE | re.DOTALL)


def _web_page(path: Path, data: bytes) -> bytes | str | None:
    """The HTML of a notice saved from the website that published it: the page itself ("web page, HTML
    only"), or the HTML part of a single-file archive (.mht/.mhtml, "web page, single file" in Edge,
    Chrome and IE), as text when the part's header names its charset; None for anything else."""
    head = data.removeprefix(b"\xef\xbb\xbf")
    if _HTML_START.match(head[:4096]):
        return data
    if path.suffix.lower() not in (".mht", ".mhtml") and b"multipart/related" not in head[:1024].lower():
        return None
    message = email.message_from_bytes(data, policy=email.policy.compat32)
    for part in message.walk():
        if part.get_content_type() == "text/html":
            payload = part.get_payload(decode=True)
            charset = part.get_content_charset()
            if not isinstance(payload, bytes):
                return None
            if charset:
                # The part's header names its charset; the page inside may say nothing, or the charset
                # it was served in before the archive re-encoded it.
                try:
                    return payload.decode(charset)
                except (LookupError, UnicodeDecodeError) as exc:
                    raise NoticeUnreadableError(
                        path, f"网页不是其所称的 {charset} 编码 / the page is not in the {charset} it names"
                    ) from exc
            return payload
    return None


# A layout table's parts: each of its cells a block (a data table's cells are read by the table).
_LAYOUT_CELLS = frozenset(("table", "tr", "td", "th"))
# Elements that start a line of their own; text inside a table's cell stays in the cell.
_HTML_BLOCKS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "caption",
        "center",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "ul",
    ]
)


def _html_lines(path: Path, page: bytes | str) -> list[_Line]:
    """The lines of a web page: each paragraph (or other block, or text between <br>s) a line, each table
    row a ruled line of its cells, in the page's order. A table that holds tables lays out the page (as
    older government sites are built): its cells are read as blocks. The page's own declared charset (a
    government site's is often GB2312) decides how its bytes are read."""
    import lxml.html
    from lxml import etree

    try:
        root = lxml.html.document_fromstring(page)
    except (etree.ParserError, ValueError) as exc:
        raise NoticeUnreadableError(path, f"不是有效的网页 / not a valid web page ({exc})") from exc
    lines: list[_Line] = []
    pending: list[str] = []  # text of the line being gathered
    tables = 0

    def end_line() -> None:
        text = "".join(pending)
        pending.clear()
        if text.strip():
            lines.append(_line([text], f"paragraph {sum(not line.ruled for line in lines) + 1}"))

    def visit(element: lxml.html.HtmlElement) -> None:
        nonlocal tables
        tag = element.tag if isinstance(element.tag, str) else ""
        if tag in ("script", "style", "head", "title", "noscript", "template"):
            return
        if tag == "table" and not element.xpath(".//table"):
            end_line()
            tables += 1
            rows = element.xpath("./tr | ./thead/tr | ./tbody/tr | ./tfoot/tr")
            for n, row in enumerate(rows, 1):
                cells = [cell.text_content() for cell in row.xpath("./td | ./th")]
                lines.append(_line(cells, f"table {tables} row {n}", ruled=True))
            return
        if tag == "br" or tag in _HTML_BLOCKS or tag in _LAYOUT_CELLS:
            end_line()
        if element.text and tag:
            pending.append(element.text)
        for child in element:
            visit(child)
            if child.tail:
                pending.append(child.tail)
        if tag in _HTML_BLOCKS or tag in _LAYOUT_CELLS:
            end_line()

    body = root.find("body")
    visit(body if body is not None else root)
    end_line()
    return lines


def _is_ofd(data: bytes) -> bool:
    """An OFD document: a zip whose entry point is OFD.xml at its root (GB/T 33190), as Chinese
    government offices increasingly publish notices."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            return "OFD.xml" in package.namelist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError):
        return False


# Extracted text separates columns by runs of spaces; a single space is part of a cell's text.
_LAYOUT_GAP = re.compile(r"[ \u3000]{2,}")
# On a PDF page, words further apart than this many character heights are in different columns.
_PDF_COLUMN_GAP = 1.5
# Words whose tops differ by less than this many points are on one printed line.
_PDF_LINE_TOLERANCE = 3


def _pdf_form(path: Path, data: bytes) -> _Form:
    """A PDF: each ruled table row by row, and the words outside the tables as lines, in reading order.

    Text outside a ruled table is split into cells where words stand apart, as a text extract would be, so
    a table printed without grid lines still reaches the table reader as rows of cells.
    """
    import pdfplumber
    from pdfminer.pdfdocument import PDFPasswordIncorrect
    from pdfplumber.utils import cluster_objects
    from pdfplumber.utils.exceptions import PdfminerException

    try:
        pdf = pdfplumber.open(io.BytesIO(data))
    except PdfminerException as exc:
        if exc.args and isinstance(exc.args[0], PDFPasswordIncorrect):
            # A PDF only permissions protect (no copying, no printing) opens without a password, and is read.
            raise NoticeUnreadableError(
                path,
                "PDF 文件设有打开密码，请另存一份不设打开密码的 PDF / the PDF needs a password to open; "
                "save a copy without it",
            ) from exc
        raise NoticeUnreadableError(path, f"不是有效的 PDF 文件 / not a valid PDF file ({exc})") from exc
    pages: list[list[_Line]] = []
    has_text = False
    # Characters whose font does not say which they are (pdfminer reads "(cid:12)"), and the rest.
    unmapped = mapped = 0
    scanned = True  # every page a picture of a page, whatever text lies over it
    with pdf:
        try:
            for number, printed_page in enumerate(pdf.pages, 1):
                page = _without_watermark(printed_page)
                has_text = has_text or bool(page.chars)
                glyphs = sum(char["text"].startswith("(cid:") for char in page.chars)
                unmapped, mapped = unmapped + glyphs, mapped + len(page.chars) - glyphs
                scanned = scanned and _scanned(page)
                _box_from_baseline(page)
                placed: list[tuple[float, _Line]] = []
                tables = page.find_tables(_closed_at_page_break(page))
                for t, table in enumerate(tables, 1):
                    for r, (row, cells) in enumerate(zip(table.rows, table.extract(), strict=True), 1):
                        ref = f"page {number}, table {t}, row {r}"
                        placed.append((row.bbox[1], _line([cell or "" for cell in cells], ref, ruled=True)))
                words = [w for w in page.extract_words() if not any(_within(w, t.bbox) for t in tables)]
                for n, printed in enumerate(cluster_objects(words, "top", _PDF_LINE_TOLERANCE), 1):
                    placed.append((printed[0]["top"], _line(_pdf_cells(printed), f"page {number}, line {n}")))
                pages.append([line for _, line in sorted(placed, key=lambda item: item[0])])
                printed_page.close()  # pdfplumber keeps every parsed page otherwise
        except PdfminerException as exc:
            raise NoticeUnreadableError(path, f"PDF 文件已损坏 / the PDF file is damaged ({exc})") from exc
        if not has_text:
            raise NoticeHasNoTextError(path)
        if scanned:
            raise NoticeHasNoTextError(path, "ocr")
        if unmapped > _UNMAPPED_SHARE * (unmapped + mapped):
            raise NoticeHasNoTextError(path, "unmapped")
        extractor = f"pdfplumber {pdfplumber.__version__}"
    heads = _running_heads(pages)
    lines = [line for page in pages for line in page if line.ruled or line.text not in heads]
    return _Form("pdf", lines, len(pages), extractor)


# A character this many times the size of its page's middling one is a watermark's (内部资料 across the
# page, as an office's PDF export sets it), not the notice's: a red-headed title is two or three times the
# size of the body.
_WATERMARK_SIZE = 5


def _without_watermark(page: Page) -> Page:
    """`page` without the characters of a watermark: much larger than the page's text, or set at a
    slant. Over a table, a watermark's character falls into a cell ('资2' for 涉及图斑 2)."""
    sizes = sorted(char["size"] for char in page.chars)
    if not sizes:
        return page
    largest = _WATERMARK_SIZE * sizes[len(sizes) // 2]

    def watermark(char: dict) -> bool:
        across, up = char["matrix"][0], char["matrix"][1]
        return char["size"] > largest or (abs(across) > 1e-6 and abs(up) > 1e-6)

    if not any(watermark(char) for char in page.chars):
        return page
    return page.filter(lambda obj: obj.get("object_type") != "char" or not watermark(obj))


# How far below its baseline a character's box reaches, in ems, when no character of its page tells.
_DESCENT = 0.12


def _box_from_baseline(page: Page) -> None:
    """Give each character of `page` whose box misses its own baseline a box around the baseline, as the
    page's other characters have. pdfminer places a box by the font's declared descent; cairo (the PDF
    printer of Linux desktops, 统信 UOS and 麒麟 among them, and poppler's pdftocairo) declares one that
    puts a CJK font's boxes a whole em below the line, while the digits' font beside them sits on it:
    each printed line then reads as two (泉台管办〔 〕号 over 2023 36), and a digit's box falls out of
    its table cell."""
    # Only characters set the usual way up (the glyph's y axis up the page): their baseline is the
    # matrix's y.
    chars = [char for char in page.chars if char["matrix"][0] > 0 and char["matrix"][3] > 0]
    chars = [char for char in chars if char["matrix"][1] == char["matrix"][2] == 0 and char["size"] > 0]
    fits = [char["y0"] <= char["matrix"][5] <= char["y1"] for char in chars]
    if all(fits):
        return
    descents = sorted(
        (char["matrix"][5] - char["y0"]) / char["size"] for char, fit in zip(chars, fits, strict=True) if fit
    )
    descent = descents[len(descents) // 2] if descents else _DESCENT
    for char, fit in zip(chars, fits, strict=True):
        if fit:
            continue
        y0 = char["matrix"][5] - descent * char["size"]
        shift = y0 - char["y0"]
        char["y0"], char["y1"] = y0, char["y1"] + shift
        char["top"], char["bottom"], char["doctop"] = (
            char["top"] - shift,
            char["bottom"] - shift,
            char["doctop"] - shift,
        )


def _closed_at_page_break(page: Page) -> dict:
    """pdfplumber's table settings for `page`: a rule across the page where its vertical rules start and
    where they end. A browser printing a table row that breaks across pages draws the row's vertical
    rules to the page's edge of text and no rule under (or over) the part on each page, so the part is no
    cell and its words read as text, squeezed together ('东园镇阳12'). Closed, each part is a row of the
    table, the name's end continuing the row above (`_rows`), as a row Word or LibreOffice breaks is. A
    table already closed there gains a rule on one it has."""
    verticals = [edge for edge in page.edges if edge["orientation"] == "v"]
    if not verticals:
        return {}
    top, bottom = min(edge["top"] for edge in verticals), max(edge["bottom"] for edge in verticals)
    return {"explicit_horizontal_lines": [top, bottom]}


def _within(word: dict, bbox: tuple[float, float, float, float]) -> bool:
    """Whether a word's centre is in `bbox`: as pdfplumber puts a character in a table cell by its centre.
    A word merely touching a table's border is outside it (pdfplumber's `outside_bbox` would drop it: a
    year heading LibreOffice prints right under the table before it, 0.5 pt into the table's frame)."""
    x0, top, x1, bottom = bbox
    return x0 <= (word["x0"] + word["x1"]) / 2 <= x1 and top <= (word["top"] + word["bottom"]) / 2 <= bottom


def _running_heads(pages: Sequence[Sequence[_Line]]) -> set[str]:
    """Text printed first or last on two or more pages (a running head or foot): page furniture, which
    would otherwise be read into the name of a table row continued on the next page. A table header
    repeated at the top of each page is not furniture: the table reader needs it."""
    seen: dict[str, int] = {}
    for page in pages:
        ends = {
            line.text for line in (page[:1] + page[-1:]) if not line.ruled and _header_words(line) is None
        }
        for text in ends:
            seen[text] = seen.get(text, 0) + 1
    return {text for text, count in seen.items() if count >= 2}


# A font without a character map gives "(cid:N)" for some glyphs and ASCII for the rest ('!"#$%' for
# 全区废弃…): past this share of a document's characters, its text is no text. A document with a few
# glyphs its fonts leave unmapped (a symbol, a logo) stays well below.
_UNMAPPED_SHARE = 0.1
# A page image covering this much of the page is a scan of it.
_SCAN_COVERS = 0.9


def _scanned(page: Page) -> bool:
    """Whether `page` is a picture of a page: one image covers (nearly) all of it and nothing is drawn
    (no rule, no box: a notice printed from a document rules its tables, and a government header has its
    red rule). Text on such a page is a text recogniser's (a "searchable PDF", its text drawn invisibly
    over the picture), not the notice's own; a background image under a document's own text and rules
    is not a scan."""
    area = page.width * page.height
    covered = any(
        (image["x1"] - image["x0"]) * (image["bottom"] - image["top"]) >= _SCAN_COVERS * area
        for image in page.images
    )
    return covered and not (page.lines or page.rects or page.curves)


def _pdf_cells(words: Sequence[dict]) -> list[str]:
    """The words of one printed line, joined into cells wherever they stand a column gap apart."""
    cells: list[str] = []
    right = None
    for word in sorted(words, key=lambda w: w["x0"]):
        height = word["bottom"] - word["top"]
        if right is None or word["x0"] - right > _PDF_COLUMN_GAP * height:
            cells.append("")
        cells[-1] += word["text"]
        right = word["x1"]
    return cells


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
    if _as_word_shows_it(document.element.body):
        logger.warning(
            "%s：文档含有修订，按全部接受后的内容读取 / the document has tracked changes; read as if all of "
            "them were accepted",
            path,
        )
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
            lines.append(_line(cells, f"table {tables} row {n}", ruled=True))
    return lines


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
# Elements that only wrap what Word shows (a smart tag, a content control, custom XML, a simple field, a
# tracked insertion or move): python-docx reads the runs, cells and paragraphs directly under a paragraph,
# row or body, so it skips what they hold. Their own properties go with them.
_WRAPPERS = {f"{_W}{tag}": f"{_W}{tag}Pr" for tag in ("smartTag", "customXml", "fldSimple", "ins", "moveTo")}
_REMOVED = {f"{_W}del", f"{_W}moveFrom"}  # tracked deletions, and text moved away: not shown


def _as_word_shows_it(body: Any) -> bool:
    """Rewrite a .docx body as Word shows it with every tracked change accepted: wrappers unwrapped, a
    content control replaced by its content (sdtContent), deleted text gone (a deleted row keeps only
    empty cells, which no line holds). True when it had tracked changes."""
    tracked = False
    # In document order: what lies inside an element removed first is handled in the removed copy, unseen.
    for element in list(body.iter(f"{_W}sdt", *_WRAPPERS, *_REMOVED)):
        parent = element.getparent()
        tag = element.tag
        if tag in (f"{_W}ins", f"{_W}del"):
            tracked = True
        if tag in _REMOVED:
            parent.remove(element)
            continue
        if tag == f"{_W}sdt":
            content = element.find(f"{_W}sdtContent")
            children = list(content) if content is not None else []
        else:
            children = [child for child in element if child.tag != _WRAPPERS[tag]]
        index = parent.index(element)
        parent.remove(element)
        for offset, child in enumerate(children):
            parent.insert(index + offset, child)
    return tracked


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
        if _header_span(lines, i):
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


_HEADER_WORDS = ("序号", "项目名称", "涉及图斑", "面积")
_HEADER_MAX_LINES = 3


def _header_span(lines: Sequence[_Line], start: int) -> int:
    """How many lines the table header at `start` takes (0: no header there).

    A header with wrapped cells spreads its words over up to three printed lines, in any order when the
    cells are centred vertically ('涉及图斑  面积' above '序号  项目名称' above '(个)  (亩)').
    """
    if _TABLE_HEADER.fullmatch(lines[start].text):
        return 1
    found: list[str] = []
    for n, line in enumerate(lines[start : start + _HEADER_MAX_LINES], 1):
        words = _header_words(line)
        if words is None or (n == 1 and not words):
            return 0
        found.extend(words)
        if sorted(found) == sorted(_HEADER_WORDS):
            return n
    return 0


def _header_words(line: _Line) -> list[str] | None:
    """The header words of a line that holds nothing else ([] for the units alone), or None."""
    words = []
    for cell in line.cells:  # a table's rows are most lines: their first cell ends the look
        word = _HEADER_UNITS.sub("", cell)
        if word and word not in _HEADER_WORDS:
            return None
        if word:
            words.append(word)
    return words


def _read_table(
    path: Path, lines: Sequence[_Line], start: int, year: int, sentence: Sequence[_Line]
) -> tuple[_Table, int]:
    """Read the rows after the header at `start` up to the 合计 row; returns the table and the next index."""
    body: list[_Line] = []
    where = "文件末尾 / end of file"
    i = header_end = start + _header_span(lines, start)
    while i < len(lines):
        line = lines[i]
        if span := _header_span(lines, i):
            i = header_end = i + span  # the header repeated after a page break
            continue
        if i == header_end and _HEADER_UNITS.fullmatch(line.text):
            i += 1  # the header's units, wrapped onto a line of their own
            continue
        label, figures = _split_label(line.cells)
        if label == "合计":
            patches, area = _figures(path, line, figures)
            rows = _rows(path, body, year)
            if not rows:
                raise NoticeLayoutError(
                    path,
                    lines[start].ref,
                    f"{year} 年度计划表没有一行以序号开头（无表格线的表格中序号与项目名称挨得太近时也会这样）",
                    f"no row of the {year} plan table starts with a 序号 (as happens when, in a table without "
                    "grid lines, the 序号 stands too close to the name)",
                )
            table = _Table(year, lines[start].ref, tuple(sentence), tuple(rows), patches, area, line.ref)
            return table, i + 1
        if _is_prose(line):
            where = line.ref
            break
        # Text between the rows of a ruled table is the page's furniture (a running head where the table
        # continues on a new page), not part of a row.
        if line.ruled or not lines[start].ruled:
            body.append(line)
        i += 1
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


# How this notice's project names end; a wrapped name is complete when it reaches this.
NAME_ENDING = "项目"


@dataclass(frozen=True)
class _Piece:
    """One printed line of a table body: a row's 序号, part of its name and its figures, each maybe absent.

    A name that wraps puts the one-line cells (序号, 涉及图斑, 面积) on its first, middle or last line, or on a
    line of their own when the cells are centred vertically; a row is the line with its 序号 plus the name
    lines around it.
    """

    line: _Line
    seq: str | None
    name: str
    figures: tuple[str, ...]

    @classmethod
    def of(cls, line: _Line) -> _Piece:
        cells = list(line.cells)
        figures: tuple[str, ...] = ()
        # A line ending in a number ends with the row's two figures; _figures says which one is wrong.
        if len(cells) >= 2 and _AREA.fullmatch(cells[-1]):
            figures, cells = tuple(cells[-2:]), cells[:-2]
        seq = cells.pop(0) if cells and _INTEGER.fullmatch(cells[0]) else None
        return cls(line, seq, "".join(cells), figures)


def _rows(path: Path, body: Sequence[_Line], year: int) -> list[PlanProject]:
    """Group a table body's printed lines into rows: each row is one 序号 with the name lines around it."""
    pieces = [_Piece.of(line) for line in body]
    anchors = [i for i, piece in enumerate(pieces) if piece.seq is not None]
    if not anchors:
        return []
    groups = [[*pieces[: anchors[0]], pieces[anchors[0]]]]
    for here, after in zip(anchors, anchors[1:], strict=False):
        between = pieces[here + 1 : after]
        cut = _cut(path, groups[-1], between)
        groups[-1].extend(between[:cut])
        groups.append([*between[cut:], pieces[after]])
    groups[-1].extend(pieces[anchors[-1] + 1 :])
    return [_project(path, group, year) for group in groups]


def _cut(path: Path, row: Sequence[_Piece], between: Sequence[_Piece]) -> int:
    """Where the lines between two 序号 stop belonging to the upper row and start the lower one.

    The upper row takes lines until its name ends as this notice's names end and it has its figures; if no
    cut or several cuts do that, the lines cannot be told apart and the table is refused rather than guessed.
    """
    if not between:
        return 0

    def fits(cut: int) -> bool:
        upper = [*row, *between[:cut]]
        return (
            "".join(piece.name for piece in upper).endswith(NAME_ENDING)
            and sum(bool(piece.figures) for piece in upper) == 1
            and sum(bool(piece.figures) for piece in between[cut:]) <= 1
        )

    cuts = [cut for cut in range(len(between) + 1) if fits(cut)]
    if len(cuts) != 1:
        line = between[0].line
        raise PlanCellError(
            path,
            line.ref,
            "项目名称",
            line.text,
            "无法判断属于上一行还是下一行",
            "cannot tell whether this line belongs to the row above or the row below",
        )
    return cuts[0]


def _project(path: Path, pieces: Sequence[_Piece], year: int) -> PlanProject:
    (anchor,) = [piece for piece in pieces if piece.seq is not None]
    name = "".join(piece.name for piece in pieces)
    with_figures = [piece for piece in pieces if piece.figures]
    if not name or len(with_figures) != 1:
        text = " ".join(piece.line.text for piece in pieces)
        raise PlanCellError(
            path, anchor.line.ref, "项目名称", text, "缺少项目名称或数值", "the row lacks a name or a figure"
        )
    patches, area = _figures(path, with_figures[0].line, with_figures[0].figures)
    return PlanProject(year, int(anchor.seq), name, patches, area, anchor.line.ref)


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


# Words of the table's header: in a project name they mean a header cell was read into the row.
_NAME_FORBIDDEN = ("序号", "项目名称", "涉及图斑", "面积", "(个)", "(亩)")


def _check_names(path: Path, table: _Table) -> None:
    """Refuse a name with header words in it or one that runs on into the next row; warn about an odd ending.

    These are the ways a wrapped name goes wrong silently when a table is read from a page.
    """
    for row in table.rows:
        found = next((word for word in _NAME_FORBIDDEN if word in row.name), None)
        if found is not None:
            raise PlanNameError(
                path, row, table.ref, f"含有表头文字“{found}”", f"contains the header words {found!r}"
            )
        ending = row.name.find(NAME_ENDING)
        if 0 <= ending < len(row.name) - len(NAME_ENDING):
            raise PlanNameError(
                path,
                row,
                table.ref,
                f"在“{NAME_ENDING}”之后还有“{row.name[ending + len(NAME_ENDING) :]}”，像是接上了下一行",
                f"goes on after {NAME_ENDING!r} with {row.name[ending + len(NAME_ENDING) :]!r}: it runs into "
                "the next row",
            )
        if not row.name.endswith(NAME_ENDING):
            logger.warning(
                "%s（%s，%s 年度计划表）项目名称“%s”不以“%s”结尾，请核对是否缺字 / "
                "%s (%s, %s plan table): the project name %r does not end in %r; check that nothing is missing",
                path, row.source_ref, row.plan_year, row.name, NAME_ENDING,
                path, row.source_ref, row.plan_year, row.name, NAME_ENDING,
            )  # fmt: skip


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
