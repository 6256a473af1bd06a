"""Writes the plan notice as a PDF laid out the way offices print it, for the tests of the PDF route.

A4, reportlab's built-in CID font STSong-Light (no font file needed, and pdfplumber reads its text back), a
narrow 项目名称 column so names wrap over two or three lines, `— n —` page footers, tables that cross pages.
`Layout` varies what the issue lists: where the one-line cells sit in a wrapped row, whether a continued
table repeats its header, a wrapped header, full-width digits, 合 and 计 in two cells, and a table without
grid lines. `scanned_pdf` writes a page that is an image only, as a scanner does.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

from notice_expected import notice_blocks, wrap
from PIL import Image, ImageDraw
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 72
TEXT_SIZE = 12
CELL_SIZE = 10.5
LEADING = 1.5
PADDING = 5
FOOTER_SPACE = 60  # the footer sits in the bottom margin; content stops above it
FULL_WIDTH = str.maketrans({str(d): chr(0xFF10 + d) for d in range(10)})


@dataclass(frozen=True)
class Layout:
    name_chars: int = 9  # characters of a project name per printed line: names wrap over 2-3 lines
    valign: str = "middle"  # where one-line cells (序号, figures) sit in a wrapped row: top, middle, bottom
    grid: bool = True  # False: a rule above and below each table, nothing else
    repeat_header: bool = True  # the header again where a table continues on a new page
    wrapped_header: bool = True  # '涉及图斑' over '(个)' in one cell
    full_width: bool = False  # digits printed full-width: '１３'
    split_total: bool = False  # '合' under 序号 and '计' under 项目名称 instead of one merged '合  计' cell
    break_after: tuple[int, int] | None = (2024, 4)  # a page break after this (year, row) of a table
    running_head: str = ""  # printed at the top of every page after the first


class _Writer:
    def __init__(self, path: Path, layout: Layout) -> None:
        self.canvas = Canvas(str(path), pagesize=A4, invariant=1)
        self.layout = layout
        self.page = 1
        self.year = 0  # the year of the table being written, from the heading before it
        self.y = PAGE_HEIGHT - MARGIN
        name_width = layout.name_chars * CELL_SIZE + 2 * PADDING + 2
        self.columns = [40, name_width, 70, 70]

    def footer(self) -> None:
        self.canvas.setFont(FONT, TEXT_SIZE)
        self.canvas.drawCentredString(PAGE_WIDTH / 2, 40, f"— {self.page} —")

    def new_page(self) -> None:
        self.footer()
        self.canvas.showPage()
        self.page += 1
        self.y = PAGE_HEIGHT - MARGIN
        if self.layout.running_head:
            self.canvas.setFont(FONT, CELL_SIZE)
            self.canvas.drawString(MARGIN, PAGE_HEIGHT - 45, self.layout.running_head)

    def close(self) -> None:
        self.footer()
        self.canvas.save()

    def text(self, value: str) -> str:
        return value.translate(FULL_WIDTH) if self.layout.full_width else value

    def paragraph(self, text: str) -> None:
        per_line = int((PAGE_WIDTH - 2 * MARGIN) / TEXT_SIZE)
        for line in wrap(self.text(text), per_line):
            if self.y - TEXT_SIZE * LEADING < FOOTER_SPACE:
                self.new_page()
            self.canvas.setFont(FONT, TEXT_SIZE)
            self.canvas.drawString(MARGIN, self.y - TEXT_SIZE, line)
            self.y -= TEXT_SIZE * LEADING
        self.y -= TEXT_SIZE * 0.5

    def table(self, rows: list[list[str]]) -> None:
        """A yearly table; its header is drawn as the layout says, not as the text spells it."""
        body = rows[1:]
        units = ["", "", "(个)", "(亩)"]
        words = ["序号", "项目名称", "涉及图斑", "面积"]
        if self.layout.wrapped_header:
            header_cells = [[w, u] if u else [w] for w, u in zip(words, units, strict=True)]
        else:
            header_cells = [[w + u] for w, u in zip(words, units, strict=True)]
        self.rule()
        self.row(header_cells)
        year_rows = body[:-1]
        for cells in year_rows:
            seq, name, patches, area = cells
            row = [
                [self.text(seq)],
                wrap(name, self.layout.name_chars),
                [self.text(patches)],
                [self.text(area)],
            ]
            if self.y - self._height(row) < FOOTER_SPACE:
                self.continue_table(header_cells)
            self.row(row)
            if self.layout.break_after == (self.year, int(seq)):
                self.continue_table(header_cells)
        _, _, patches, area = body[-1]
        if self.layout.split_total:
            self.row([["合"], ["计"], [self.text(patches)], [self.text(area)]])
        else:
            self.row([["合  计"], [self.text(patches)], [self.text(area)]], merged_first=True)
        self.rule()
        self.y -= TEXT_SIZE

    def continue_table(self, header_cells: list[list[str]]) -> None:
        """Close the table at the foot of this page and go on with it on the next."""
        self.rule()
        self.new_page()
        self.rule()
        if self.layout.repeat_header:
            self.row(header_cells)

    def rule(self) -> None:
        self.canvas.line(MARGIN, self.y, MARGIN + sum(self.columns), self.y)

    def _height(self, cells: list[list[str]]) -> float:
        return max(len(lines) for lines in cells) * CELL_SIZE * LEADING + 2 * PADDING

    def row(self, cells: list[list[str]], merged_first: bool = False) -> None:
        """One table row; one-line cells sit where the layout says, multi-line cells fill the row."""
        widths = [self.columns[0] + self.columns[1], *self.columns[2:]] if merged_first else self.columns
        height = self._height(cells)
        tallest = max(len(lines) for lines in cells)
        x = MARGIN
        self.canvas.setFont(FONT, CELL_SIZE)
        for width, lines in zip(widths, cells, strict=True):
            if self.layout.grid:
                self.canvas.rect(x, self.y - height, width, height)
            block = len(lines) * CELL_SIZE * LEADING
            if len(lines) == tallest or self.layout.valign == "top":
                top = PADDING
            elif self.layout.valign == "bottom":
                top = height - PADDING - block
            else:
                top = (height - block) / 2
            for n, line in enumerate(lines):
                baseline = self.y - top - n * CELL_SIZE * LEADING - CELL_SIZE
                if width == self.columns[1] and len(lines) > 1:
                    self.canvas.drawString(x + PADDING, baseline, line)
                else:
                    self.canvas.drawCentredString(x + width / 2, baseline, line)
            x += width
        self.y -= height


def notice_pdf(text: str, path: Path, layout: Layout = Layout()) -> Path:
    """Write the notice `text` (the bundled notice's form: tables tab-separated) as a PDF at `path`."""
    writer = _Writer(path, layout)
    for block in notice_blocks(text):
        if isinstance(block, str):
            if heading := re.search(r"(\d{4}) 年度计划", block):
                writer.year = int(heading[1])
            writer.paragraph(block)
        else:
            writer.table(block)
    writer.close()
    return path


def scanned_pdf(path: Path) -> Path:
    """A one-page PDF that is a picture of a page (dark bars for lines of text): no text layer at all."""
    image = Image.new("L", (595, 842), 255)
    draw = ImageDraw.Draw(image)
    for y in range(80, 760, 24):
        draw.rectangle((72, y, 523, y + 10), fill=40)
    png = io.BytesIO()
    image.save(png, format="PNG")
    canvas = Canvas(str(path), pagesize=A4, invariant=1)
    canvas.drawImage(ImageReader(io.BytesIO(png.getvalue())), 0, 0, PAGE_WIDTH, PAGE_HEIGHT)
    canvas.showPage()
    canvas.save()
    return path
