"""The notice as PDF producers other than our fixtures' reportlab write it.

- Chromium's print-to-PDF of the notice as a web page (ruled HTML tables, Debian's Noto CJK font), as a
  notice posted on a government site and saved from the browser arrives. Its text layer gives radicals
  for some ideographs it prints ('项⽬名称': U+2F6C KANGXI RADICAL EYE; '前⻅': U+2EC5 CJK RADICAL
  C-SIMPLIFIED SEE), which NFKC alone does not all undo; the parser reads them as the ideographs
  (regreen.ideographs). Printed live, with the browser set-up of test_report_browser (skipped without
  chromium unless CI is set).
- LibreOffice Writer's export of the notice as a Word document (`notices/notice-libreoffice-7.4.pdf`,
  kept as made: a python-docx document of the bundled text with "Table Grid" tables, converted by
  `soffice --headless --convert-to pdf`, LibreOffice 7.4.7 of Debian 12). As Word does by default, it
  lets a table row break across pages: the first 2023 row's name ends in a ruled row of its own at the top
  of page 2. And it prints the 2024 year heading right under the 2023 table, touching its frame.
- The same document exported as a government office often posts it: encrypted, with copying and changes
  forbidden by a permissions password (`notices/notice-libreoffice-7.4-no-copying.pdf`), which opens and
  reads without one; and with a password to open it (`notices/notice-libreoffice-7.4-open-password.pdf`,
  the password is "secret"), which is refused saying so. Both by LibreOffice's PDF export options
  (RestrictPermissions, EnableCopyingOfContent false, Changes 0; EncryptFile, DocumentOpenPassword).
- The LibreOffice PDF printed again through cairo (`notices/notice-libreoffice-7.4-through-pdftocairo-22.12.pdf`,
  `pdftocairo -pdf` of poppler 22.12, cairo 1.16 of Debian 12): cairo is how a Linux desktop prints to PDF
  (统信 UOS and 麒麟 in government offices among them). Its CJK font declares a descent that puts each
  character's box a whole em below its baseline, while the digits' font sits on it: read as printed, a
  line splits in two ('泉台管办〔 〕号' over '2023 36') and the 涉及图斑 digits leave their table cells.
- The same PDF printed to PostScript and distilled again (`notices/notice-libreoffice-7.4-through-postscript-gs-10.0.pdf`:
  Ghostscript 10.0's ps2write, then its pdfwrite), as a "print to PDF" through a PostScript driver comes
  out: its fonts lose the map from glyph to character, so the text reads '(cid:1)(cid:2)… !"#$%'. Refused
  as a PDF without readable text, where it was refused as "no yearly plan table".
- Watermarked, as offices mark a notice 内部资料: LibreOffice's PDF export option Watermark
  (`notices/notice-libreoffice-7.4-watermark.pdf`, of the notice as .odt), which sets the word in 198 pt
  across every page, turned a right angle; and Chromium printing a page with a CSS watermark at a slant
  (87 pt, turned 30°). A watermark's character read with the text falls into a table's cell ('资2' for
  涉及图斑 2, '密993' for 面积 993): both were refused, and are now read without it.
- The notice scanned and made "searchable" (`notices/notice-scanned-ocr-tesseract-5.3.pdf`: the LibreOffice
  PDF's pages as 110 dpi pictures, through Tesseract 5.3.0 of Debian 12 with chi_sim, which draws its
  recognised text invisibly over each picture). Its text is the recogniser's guesses ('自崎' for 百崎,
  '5D84' for 584): refused, saying it is an OCR'd scan, where it was refused as "no 合计 row".
"""

from __future__ import annotations

import html
from pathlib import Path

import pdfplumber
import pytest
from notice_expected import assert_same_notice, notice_blocks
from PIL import Image
from test_report_browser import browse, chromium  # noqa: F401 (chromium is the shared fixture)

from regreen.errors import NoticeHasNoTextError
from regreen.ideographs import UNIFIED_IDEOGRAPHS
from regreen.plan import NoticeUnreadableError, parse_notice
from regreen.project import BUNDLED_NOTICE

NOTICES = Path(__file__).parent / "notices"
LIBREOFFICE_PDF = NOTICES / "notice-libreoffice-7.4.pdf"

PAGE = "body { font-family: 'Noto Serif CJK SC', serif } table { border-collapse: collapse }"
STYLES = {
    # names wrap over two or three lines, as in the printed notice
    "wide": PAGE + "body { font-size: 16pt; margin: 2cm } table { width: 100% }"
    "td, th { border: 1px solid black; padding: 4px } td:nth-child(2) { width: 30% }",
    # large type in a narrow name column: names wrap over four or five lines and rows break across pages,
    # Chromium drawing no rule where it cuts them
    "narrow": PAGE + "body { font-size: 18pt } td, th { border: 1px solid black; padding: 2px }"
    "td:nth-child(2) { width: 5em }",
}


def _notice_page(text: str, style: str) -> str:
    parts = [f'<!doctype html><html><head><meta charset="utf-8"><style>{style}</style></head><body>']
    for block in notice_blocks(text):
        if isinstance(block, str):
            parts.append(f"<p>{html.escape(block)}</p>")
            continue
        header, *rows = block
        parts.append("<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in header) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows]
        parts.append("</table>")
    return "\n".join([*parts, "</body></html>"])


def _printed(browser: Path, folder: Path, style: str, on_top: str = "") -> Path:
    """The bundled notice as a web page in `style`, `on_top` opening its body, printed to PDF by
    Chromium in `folder` (which also holds what the page links to)."""
    page = folder / "notice.html"
    text = _notice_page(BUNDLED_NOTICE.read_text(encoding="utf-8"), style)
    page.write_text(text.replace("<body>", f"<body>{on_top}", 1), encoding="utf-8")
    pdf = folder / "notice.pdf"
    browse(browser, folder / "profile", page.as_uri(), "--no-pdf-header-footer", f"--print-to-pdf={pdf}")
    return pdf


@pytest.mark.parametrize("style", STYLES)
def test_the_notice_printed_by_chromium_gives_the_bundled_notice(
    chromium: Path,  # noqa: F811 (the shared fixture, imported above)
    style: str,
    tmp_path: Path,
) -> None:
    pdf = _printed(chromium, tmp_path, STYLES[style])
    with pdfplumber.open(pdf) as document:
        layer = "".join(p.extract_text() for p in document.pages)
        numbered = [
            row for p in document.pages for t in p.find_tables() for row in t.extract() if row[0].isdigit()
        ]
    # What makes this producer foreign to the parser: radicals in the text layer; in the narrow layout,
    # rows cut by a page break, which pdfplumber's table finder alone does not see as rows.
    radicals = {char for char in layer if ord(char) in UNIFIED_IDEOGRAPHS}
    assert {"\u2f6c", "\u2ec5"} <= radicals, sorted(radicals)
    assert "项目名称" not in layer
    assert (len(numbered) < 14) == (style == "narrow"), numbered

    plan = parse_notice(pdf)

    assert_same_notice(plan, parse_notice(BUNDLED_NOTICE))
    assert plan.document.source_format == "pdf"
    assert [p.name for p in plan.projects if p.plan_year == 2024][
        3
    ] == "张坂镇前见、后见村废弃矿山生态治理项目"


def test_the_notice_exported_by_libreoffice_gives_the_bundled_notice() -> None:
    with pdfplumber.open(LIBREOFFICE_PDF) as document:
        assert document.metadata["Producer"] == "LibreOffice 7.4"
        page = document.pages[1]
        tables = page.find_tables()
        heading = next(w for w in page.extract_words() if w["text"].startswith("（二）2024"))
    # What makes this producer foreign to the parser: a row broken across the page break, and the heading
    # inside the bounding box of the table above it (pdfplumber's outside_bbox drops such words).
    assert tables[0].extract()[0] == ["", "矿山生态治理项目", "", ""]
    assert heading["top"] < tables[0].bbox[3] < heading["bottom"]

    plan = parse_notice(LIBREOFFICE_PDF)

    assert_same_notice(plan, parse_notice(BUNDLED_NOTICE))
    first = plan.projects[0]
    assert (first.name, first.source_ref) == ("百崎乡莲埭村废弃矿山生态治理项目", "page 1, table 1, row 2")


def test_a_notice_whose_permissions_forbid_copying_is_read_all_the_same() -> None:
    path = NOTICES / "notice-libreoffice-7.4-no-copying.pdf"
    with pdfplumber.open(path) as document:
        assert document.doc.encryption is not None  # encrypted, openable without a password

    assert_same_notice(parse_notice(path), parse_notice(BUNDLED_NOTICE))


def test_a_notice_with_a_password_to_open_it_is_refused_saying_so() -> None:
    path = NOTICES / "notice-libreoffice-7.4-open-password.pdf"
    with pytest.raises(NoticeUnreadableError) as refused:
        parse_notice(path)
    message = str(refused.value)
    assert str(path) in message
    assert "设有打开密码" in message and "needs a password to open" in message
    assert "不是有效的 PDF" not in message  # it is one


def test_a_notice_printed_over_a_page_sized_picture_is_read_not_taken_for_a_scan(
    chromium: Path,  # noqa: F811 (the shared fixture, imported above)
    tmp_path: Path,
) -> None:
    # A letterhead or watermark picture under every page, as some offices print their notices: its own
    # text and rules over it, unlike a scan's.
    picture = tmp_path / "paper.png"
    Image.new("RGB", (850, 1100), (255, 250, 240)).save(picture)
    style = STYLES["wide"] + (
        " @page { margin: 0 } body { margin: 2cm } html { print-color-adjust: exact }"
        " .paper { position: fixed; left: 0; top: 0; width: 100%; height: 100%; z-index: -1 }"
    )
    pdf = _printed(chromium, tmp_path, style, f'<img class="paper" src="{picture.name}">')
    with pdfplumber.open(pdf) as document:
        covered = [
            p.images and p.images[0]["x1"] - p.images[0]["x0"] >= p.width * 0.99 for p in document.pages
        ]
    assert all(covered)

    assert_same_notice(parse_notice(pdf), parse_notice(BUNDLED_NOTICE))


@pytest.mark.parametrize(
    ("name", "why", "says_zh", "says_en"),
    [
        ("notice-scanned-ocr-tesseract-5.3.pdf", "ocr", "识别（OCR）所得", "recognised by OCR"),
        (
            "notice-libreoffice-7.4-through-postscript-gs-10.0.pdf",
            "unmapped",
            "没有字符映射",
            "do not say which characters",
        ),
    ],
)
def test_a_pdf_whose_text_is_not_the_notices_is_refused_saying_why(
    name: str, why: str, says_zh: str, says_en: str
) -> None:
    path = NOTICES / name
    with pdfplumber.open(path) as document:
        if why == "ocr":  # a recogniser's text over one picture a page
            assert document.metadata["Producer"].startswith("Tesseract")
            assert all(page.chars and len(page.images) == 1 for page in document.pages)
        else:  # glyphs whose characters the fonts no longer say
            assert document.metadata["Creator"].endswith("(ps2write)")
            text = document.pages[0].extract_text()
            assert text.startswith("(cid:1)(cid:2)(cid:3)") and "泉" not in text
    with pytest.raises(NoticeHasNoTextError) as refused:
        parse_notice(path)
    assert refused.value.why == why
    assert says_zh in str(refused.value) and says_en in str(refused.value)


def test_the_notice_printed_again_through_cairo_gives_the_bundled_notice() -> None:
    path = NOTICES / "notice-libreoffice-7.4-through-pdftocairo-22.12.pdf"
    with pdfplumber.open(path) as document:
        assert document.metadata["Producer"].startswith("cairo")
        chars = document.pages[0].chars
    # What makes this producer foreign: the ideographs' boxes lie below their own baseline (the matrix's
    # y), the digits' boxes around it.
    below = [c for c in chars if c["y1"] < c["matrix"][5]]
    assert {c["text"] for c in below} >= set("泉台管办号") and not any(c["text"].isdigit() for c in below)

    assert_same_notice(parse_notice(path), parse_notice(BUNDLED_NOTICE))


def test_a_notice_watermarked_by_libreoffice_gives_the_bundled_notice() -> None:
    path = NOTICES / "notice-libreoffice-7.4-watermark.pdf"
    with pdfplumber.open(path) as document:
        marks = [c for page in document.pages for c in page.chars if c["size"] > 100]
    assert "".join(c["text"] for c in marks[:4]) == "内部资料" and not any(c["upright"] for c in marks)

    assert_same_notice(parse_notice(path), parse_notice(BUNDLED_NOTICE))


def test_a_notice_printed_with_a_slanted_watermark_gives_the_bundled_notice(
    chromium: Path,  # noqa: F811 (the shared fixture, imported above)
    tmp_path: Path,
) -> None:
    style = STYLES["wide"] + (
        " .mark { position: fixed; top: 35%; left: 5%; font-size: 64pt; color: rgba(0, 0, 0, 0.12);"
        " transform: rotate(-30deg); white-space: nowrap }"
    )
    pdf = _printed(chromium, tmp_path, style, '<div class="mark">内部资料 注意保密</div>')
    with pdfplumber.open(pdf) as document:
        slanted = [c for p in document.pages for c in p.chars if c["matrix"][0] and c["matrix"][1]]
    assert len(slanted) >= 8 and {c["text"] for c in slanted} - {" "} == set("内部资料注意保密")

    assert_same_notice(parse_notice(pdf), parse_notice(BUNDLED_NOTICE))
