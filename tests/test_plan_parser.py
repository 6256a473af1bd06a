"""The notice parser reads the bundled text, PDF-extracted text and a Word file alike; it refuses bad input.

The PDF-extracted text and the .docx are written by these tests from the bundled notice, so all three forms
carry the same notice; each must give exactly the same projects and declared totals. The PDF itself is
tested in test_plan_pdf.py.
"""

from __future__ import annotations

import hashlib
import logging
import re
import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path

import docx
import pytest
from notice_expected import (
    DECLARED_TOTALS,
    PROJECTS,
    assert_same_notice,
    notice_blocks,
    project_rows,
    total_rows,
    wrap,
)

from regreen.cli import main
from regreen.errors import (
    NoPlanTableError,
    NoticeNotFoundError,
    NoticeUnreadableError,
    PlanTableMismatchError,
)
from regreen.plan import NoticeLayoutError, Plan, PlanCellError, PlanNameError, parse_notice
from regreen.project import BUNDLED_NOTICE

BUNDLED_TEXT = BUNDLED_NOTICE.read_text(encoding="utf-8")

# --- writing the notice in its other forms -------------------------------------------------------------


NAME_WIDTH = 14  # characters of a project name that fit on one line of the PDF's table


def _layout_row(cells: list[str], figures_on: str, width: int) -> list[str]:
    """One table row as text extracted from a PDF prints it: the name wrapped every `width` characters, the
    序号 and figures on its first, middle or last line, or on a line of their own between the name's lines
    (cells centred vertically beside a name of an even number of lines)."""
    seq, name, patches, area = cells
    if seq == "合计":
        return [f"  合  计{' ' * (2 * width + 6)}{patches:>6}    {area:>6}"]
    parts = [name[i : i + width] for i in range(0, len(name), width)]
    lines = [f"        {part}{' ' * (2 * (width - len(part)) + 4)}" for part in parts]
    figures = f"{patches:>6}    {area:>6}"
    if figures_on == "own":
        lines.insert(len(lines) // 2, f"  {seq:>2}    {' ' * (2 * width + 4)}{figures}")
        return lines
    at = {"first": 0, "middle": len(lines) // 2, "last": len(lines) - 1}[figures_on]
    lines[at] = f"  {seq:>2}    {lines[at][8:]}{figures}"
    return [line.rstrip() for line in lines]


def _pdf_text(text: str, figures_on: str = "first", width: int = NAME_WIDTH) -> str:
    """The notice as text extracted from its PDF: indented, wrapped, columns aligned by spaces, footers."""
    text = text.replace("共 5 个治理项目", "共５个治理项目")
    lines: list[str] = []
    for block in notice_blocks(text):
        if isinstance(block, str):
            lines.extend(f"    {part}" for part in wrap(block, 30))
        else:
            header, *rows = block
            lines.append("  " + "    ".join(header))
            lines.extend(line for row in rows for line in _layout_row(row, figures_on, width))
        lines.append("")
    # Page footers land anywhere, also between two rows of the 2024 table.
    footers = {"（一）2023 年度计划": "— 1 —", "张坂镇后见、前": "— 2 —", "四、保障措施": "— 3 —"}
    for before, footer in footers.items():
        at = next(i for i, line in enumerate(lines) if before in line)
        lines[at:at] = ["", f"                         {footer}", ""]
    return "\n".join(lines) + "\n"


def _write_docx(text: str, path: Path) -> Path:
    """The notice as a Word file: paragraphs, real tables, 合计 in a cell merged across 序号 and 项目名称."""
    document = docx.Document()
    for block in notice_blocks(text):
        if isinstance(block, str):
            document.add_paragraph(block)
            continue
        table = document.add_table(rows=len(block), cols=4)
        for row, cells in zip(table.rows, block, strict=True):
            if cells[0] == "合计":
                row.cells[0].merge(row.cells[1]).text = "合 计"
                grid = row.cells
                assert grid[0] is grid[1]  # python-docx now sees one cell spanning both columns
                grid[2].text, grid[3].text = cells[2], cells[3]
            else:
                for cell, value in zip(row.cells, cells, strict=True):
                    cell.text = value
    document.save(path)
    return path


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- the three forms ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled() -> Plan:
    return parse_notice(BUNDLED_NOTICE)


def test_bundled_text_gives_the_14project_rows(bundled: Plan) -> None:
    assert project_rows(bundled) == PROJECTS
    assert [p.source_ref for p in bundled.projects] == [
        f"line {n}" for n in [40, 41, 42, 43, 44, 52, 53, 54, 55, 57, 58, 66, 67, 68]
    ]
    assert sum(p.patches for p in bundled.projects) == 182
    assert sum(p.area_mu for p in bundled.projects) == Decimal(3126)


def test_bundled_text_gives_the_declaredtotal_rows(bundled: Plan) -> None:
    assert total_rows(bundled) == DECLARED_TOTALS
    refs = {(t.plan_year, t.source): t.source_ref for t in bundled.declared_totals}
    assert refs == {
        (None, "task"): "line 27",
        (None, "sentence"): "line 33",
        (2023, "sentence"): "line 37",
        (2023, "total_row"): "line 45",
        (2024, "sentence"): "line 49",
        (2024, "total_row"): "line 59",
        (2025, "sentence"): "line 63",
        (2025, "total_row"): "line 69",
    }


def test_bundled_text_gives_the_document(bundled: Plan) -> None:
    doc = bundled.document
    assert doc.document_number == "泉台管办〔2023〕36号"
    assert doc.title == "泉州台商投资区管理委员会办公室关于印发全区废弃矿山生态修复三年行动方案的通知"
    assert doc.issued_on == date(2023, 5, 5)
    assert doc.sha256 == hashlib.sha256(BUNDLED_NOTICE.read_bytes()).hexdigest()
    assert doc.source_path == str(BUNDLED_NOTICE)
    assert doc.source_format == "txt"


def test_pdf_extracted_text_gives_the_same_notice(tmp_path: Path, bundled: Plan) -> None:
    text = _pdf_text(BUNDLED_TEXT)
    # The test's own PDF form must really have what pdftotext produces, or the comparison proves nothing.
    assert "\t" not in text
    assert "合  计" in text and "共５个治理项目" in text
    assert "张坂玉田、玉园、玉塘村废弃矿山生态治理项目" not in text  # wrapped onto two lines
    assert "张坂镇 3 个治理项目，共 6 个治理项目" not in text  # a sentence wrapped too
    lines = text.splitlines()
    inside_2024 = lines.index("                         — 2 —")
    assert "张坂镇前见、后见村废弃矿" in lines[inside_2024 - 3] and "张坂镇后见" in lines[inside_2024 + 2]
    path = _write(tmp_path / "notice-from-pdf.txt", text)

    plan = parse_notice(path)

    assert_same_notice(plan, bundled)
    assert plan.document.source_format == "pdf_text"
    assert plan.document.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("figures_on", ["first", "middle", "last", "own"])
@pytest.mark.parametrize("width", [8, 11])
def test_wrapped_names_in_extracted_text_give_the_same_notice(
    figures_on: str, width: int, tmp_path: Path, bundled: Plan
) -> None:
    text = _pdf_text(BUNDLED_TEXT, figures_on, width)
    lines = text.splitlines()
    # The names really wrap over two or three lines, and the figures sit where the case says.
    name = "张坂玉田、玉园、玉塘村废弃矿山生态治理项目"
    parts = [name[i : i + width] for i in range(0, len(name), width)]
    assert len(parts) == (3 if width == 8 else 2) and name not in text
    (figures_line,) = [line for line in lines if re.search(r"\s19\s+107$", line)]
    at = lines.index(figures_line)
    holds = {"first": parts[0], "middle": parts[len(parts) // 2], "last": parts[-1]}
    if figures_on == "own":
        assert not re.search(r"[\u4e00-\u9fff]", figures_line)
        assert (lines[at - 1].strip(), lines[at + 1].strip()) == (
            parts[len(parts) // 2 - 1],
            parts[len(parts) // 2],
        )
    else:
        assert holds[figures_on] in figures_line and figures_line.lstrip().startswith("2 ")
    path = _write(tmp_path / "extracted.txt", text)

    plan = parse_notice(path)

    assert_same_notice(plan, bundled)
    assert plan.document.source_format == "pdf_text"


def test_word_document_gives_the_same_notice(tmp_path: Path, bundled: Plan) -> None:
    path = _write_docx(BUNDLED_TEXT, tmp_path / "notice.docx")

    plan = parse_notice(path)

    assert_same_notice(plan, bundled)
    assert plan.document.source_format == "docx"
    assert plan.projects[0].source_ref == "table 1 row 2"
    assert [t.source_ref for t in plan.declared_totals if t.source == "total_row"][:2] == [
        "table 1 row 7"
    ] * 2


def _as_word_marks_it(path: Path) -> None:
    """Mark up the notice's .docx as Word does when it was edited there (the markup Word writes, put in by
    hand: no Word here): the first project's name in a smart tag (Word 2003–2007 tagged place names),
    the second project's area changed from 150 to 80 with Track Changes on, the third's area cell in a
    content control (Developer → Controls), and a row deleted with Track Changes on, its text still in the
    file."""
    with zipfile.ZipFile(path) as package:
        parts = {name: package.read(name) for name in package.namelist()}
    xml = parts["word/document.xml"].decode()
    name = "<w:r><w:t>百崎乡莲埭村废弃矿山生态治理项目</w:t></w:r>"
    xml = xml.replace(
        name,
        f'<w:smartTag w:uri="urn:schemas-microsoft-com:office:smarttags" w:element="place">{name}</w:smartTag>',
        1,
    )
    xml = xml.replace(
        "<w:p><w:r><w:t>80</w:t></w:r></w:p>",
        '<w:p><w:del w:id="1" w:author="张三" w:date="2023-05-04T10:00:00Z"><w:r><w:delText>150</w:delText></w:r>'
        '</w:del><w:ins w:id="2" w:author="张三" w:date="2023-05-04T10:00:00Z"><w:r><w:t>80</w:t></w:r></w:ins></w:p>',
        1,
    )
    cell = re.search(r"<w:tc>(?:(?!</w:tc>).)*<w:t>144</w:t>.*?</w:tc>", xml)[0]
    xml = xml.replace(
        cell,
        f'<w:sdt><w:sdtPr><w:alias w:val="面积"/></w:sdtPr><w:sdtContent>{cell}</w:sdtContent></w:sdt>',
        1,
    )
    tracked = 'w:author="张三" w:date="2023-05-04T10:00:00Z"'
    cells = "".join(
        f'<w:tc><w:p><w:del w:id="{4 + n}" {tracked}><w:r><w:delText>{text}</w:delText></w:r></w:del></w:p></w:tc>'
        for n, text in enumerate(["9", "已删除的项目", "1", "1"])
    )
    second = re.findall(r"<w:tr>.*?</w:tr>", xml)[2]
    xml = xml.replace(second, f'{second}<w:tr><w:trPr><w:del w:id="3" {tracked}/></w:trPr>{cells}</w:tr>', 1)
    parts["word/document.xml"] = xml.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        for part, data in parts.items():
            package.writestr(part, data)


def test_a_word_document_edited_in_word_gives_the_same_notice(
    tmp_path: Path, bundled: Plan, caplog: pytest.LogCaptureFixture
) -> None:
    # python-docx reads only the runs and cells directly under a paragraph or row: the smart-tagged name,
    # the inserted 80 and the content control's cell were not read ("the row lacks a name or a figure"),
    # and a row deleted with tracking on would have been read as a row.
    path = _write_docx(BUNDLED_TEXT, tmp_path / "notice.docx")
    _as_word_marks_it(path)
    raw = docx.Document(str(path)).tables[0]
    assert raw.rows[1].cells[1].text == raw.rows[2].cells[3].text == "" and len(raw.rows[4].cells) == 3

    with caplog.at_level(logging.WARNING, logger="regreen"):
        plan = parse_notice(path)

    assert_same_notice(plan, bundled)
    assert "修订" in caplog.text and "tracked changes" in caplog.text


def test_json_is_json_safe(bundled: Plan) -> None:
    data = bundled.to_json_dict()
    assert data["document"]["issued_on"] == "2023-05-05"
    assert data["projects"][0] == {
        "plan_year": 2023,
        "seq": 1,
        "name": "百崎乡莲埭村废弃矿山生态治理项目",
        "patches": 13,
        "area_mu": 139,
    }
    assert data["declared_totals"][0] == {
        "plan_year": None,
        "source": "task",
        "township": None,
        "measure": "task_area_mu",
        "value": 3000,
        "source_ref": "line 27",
    }


def test_render_shows_every_project_and_the_sums(bundled: Plan) -> None:
    text = bundled.render()
    assert "项目名称" in text and "申报合计" in text
    for _, _, name, _, _ in PROJECTS:
        assert name in text
    assert re.search(r"合计\s+14 个项目\s+182\s+3126", text)


# --- bad input ----------------------------------------------------------------------------------------


def _without_line(text: str, start: str) -> str:
    lines = text.splitlines(keepends=True)
    (dropped,) = [line for line in lines if line.startswith(start)]
    return "".join(line for line in lines if line is not dropped)


def _edited(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1
    return text.replace(old, new)


BAD_TEXTS = {
    # a lost row shows as a 合计 mismatch: 72 - 14 = 58 patches
    "lost-row": (
        _without_line(BUNDLED_TEXT, "3\t洛阳镇陈坝"),
        PlanTableMismatchError,
        ["2023", "line 39", "图斑", "72", "58"],
    ),
    "wrong-total": (
        _edited(BUNDLED_TEXT, "合计\t\t53\t1728", "合计\t\t53\t1828"),
        PlanTableMismatchError,
        ["2024", "line 51", "面积", "1828", "1728"],
    ),
    "numbering-gap": (
        _edited(BUNDLED_TEXT, "3\t东园镇群青", "4\t东园镇群青"),
        PlanTableMismatchError,
        ["2025", "line 65", "序号", "1..3", "1,2,4"],
    ),
    "no-total-row": (
        _without_line(BUNDLED_TEXT, "合计\t\t57"),
        NoticeLayoutError,
        ["2025", "合计", "line 65"],
    ),
    "word-for-a-number": (
        _edited(BUNDLED_TEXT, "13\t139", "十三\t139"),
        PlanCellError,
        ["line 40", "涉及图斑", "十三"],
    ),
    "header-words-in-a-name": (
        _edited(
            BUNDLED_TEXT, "5\t张坂镇苏坑村废弃矿山生态治理项目", "5\t张坂镇苏坑村废弃矿山生态治理项目(个)"
        ),
        PlanNameError,
        ["line 44", "2023", "line 39", "张坂镇苏坑村废弃矿山生态治理项目(个)", "(个)"],
    ),
    "name-runs-into-the-next-row": (
        _edited(
            BUNDLED_TEXT,
            "2\t东园镇阳光、琅山村废弃矿山生态治理项目",
            "2\t东园镇阳光、琅山村废弃矿山生态治理项目洛阳镇陈坝",
        ),
        PlanNameError,
        ["line 41", "2023", "洛阳镇陈坝", "next row"],
    ),
    # the 序号 run into the name, as words standing too close in a table without grid lines
    "no-numbered-rows": (
        re.sub(r"(?m)^(\d)\t", r"\1", BUNDLED_TEXT),
        NoticeLayoutError,
        ["line 39", "2023", "序号"],
    ),
    "no-document-number": (_without_line(BUNDLED_TEXT, "泉台管办"), NoticeLayoutError, ["文号"]),
    "no-year-heading": (
        _without_line(BUNDLED_TEXT, "（一）2023"),
        NoticeLayoutError,
        ["line 38", "年度标题"],
    ),
    "no-table": (
        "".join(line for line in BUNDLED_TEXT.splitlines(True) if "\t" not in line),
        NoPlanTableError,
        [],
    ),
    "lost-row-in-pdf-text": (
        _pdf_text(_without_line(BUNDLED_TEXT, "2\t洛阳镇上曾")),
        PlanTableMismatchError,
        ["2024", "图斑", "53", "33"],
    ),
}


def _assert_cli_refuses(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["plan", "show", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1 and err.startswith("regreen: ")


@pytest.mark.parametrize("case", BAD_TEXTS)
def test_bad_notice_text_is_refused(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text, error, fragments = BAD_TEXTS[case]
    path = _write(tmp_path / f"{case}.txt", text)

    with pytest.raises(error) as raised:
        parse_notice(path)

    for fragment in [str(path), *fragments]:
        assert fragment in str(raised.value)
    _assert_cli_refuses(path, capsys)


@pytest.mark.parametrize("form", ["txt", "pdf_text", "docx"])
def test_a_row_glued_into_the_name_above_is_refused_in_every_form(form: str, tmp_path: Path) -> None:
    # Row 3 of 2023 lost its own line and ran into row 2's name (its 序号 and figures with it).
    text = _edited(
        BUNDLED_TEXT,
        "琅山村废弃矿山生态治理项目\t12\t80\n3\t洛阳镇陈坝、陈埭头村废弃矿山生态治理项目\t14\t144",
        "琅山村废弃矿山生态治理项目洛阳镇陈坝、陈埭头村废弃矿山生态治理项目\t26\t224",
    )
    if form == "docx":
        path = _write_docx(text, tmp_path / "notice.docx")
    else:
        path = _write(tmp_path / "notice.txt", text if form == "txt" else _pdf_text(text, width=40))

    with pytest.raises(PlanNameError) as raised:
        parse_notice(path)

    assert raised.value.row.seq == 2 and raised.value.row.plan_year == 2023
    assert "runs into the next row" in str(raised.value) and raised.value.row.source_ref in str(raised.value)


def test_a_name_that_does_not_end_like_the_others_is_a_warning(
    tmp_path: Path, bundled: Plan, caplog: pytest.LogCaptureFixture
) -> None:
    path = _write(
        tmp_path / "odd-name.txt",
        _edited(BUNDLED_TEXT, "6\t张坂镇塘园村废弃矿山生态治理项目", "6\t张坂镇塘园村废弃矿山生态治理工程"),
    )

    with caplog.at_level("WARNING", logger="regreen"):
        plan = parse_notice(path)

    assert plan.projects[10].name == "张坂镇塘园村废弃矿山生态治理工程"
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        f"{path}（line 58，2024 年度计划表）项目名称“张坂镇塘园村废弃矿山生态治理工程”不以“项目”结尾，请核对是否缺字 / "
        f"{path} (line 58, 2024 plan table): the project name '张坂镇塘园村废弃矿山生态治理工程' does not end in "
        "'项目'; check that nothing is missing"
    ]


def test_a_lost_row_names_the_year_table_measure_and_figures(tmp_path: Path) -> None:
    path = _write(tmp_path / "lost-row.txt", BAD_TEXTS["lost-row"][0])
    with pytest.raises(PlanTableMismatchError) as raised:
        parse_notice(path)
    error = raised.value
    assert (error.plan_year, error.table, error.measure, error.declared, error.counted) == (
        2023,
        "line 39",
        "图斑",
        "72",
        "58",
    )
    assert "2023 年度计划表" in error.message_zh


NOTICES = Path(__file__).parent / "notices"


@pytest.mark.parametrize(
    ("form", "says_zh", "says_en"),
    [
        ("doc", "旧版 Word 97-2003（.doc）", "an old Word 97-2003 (.doc)"),
        ("doc-named-docx", "旧版 Word 97-2003（.doc）", "an old Word 97-2003 (.doc)"),
        ("docx-with-password", "设有打开密码", "needs a password to open"),
        ("ofd", "OFD 版式文件", "export it to PDF"),
        ("odt", "OpenDocument 文档（.odt", "an OpenDocument text (.odt"),
        ("rtf", "RTF 文档", "an RTF document; save it as .docx or PDF"),
    ],
)
def test_a_notice_in_a_form_we_do_not_read_says_which(
    form: str, says_zh: str, says_en: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # LibreOffice 7.4's Word 97-2003 export of the notice, as saved and as renamed .docx; the notice's
    # .docx encrypted with a password to open it (msoffcrypto-tool 6.1.0, as Word 2010+ does); an OFD
    # package (GB/T 33190: a zip whose entry point is OFD.xml; made here, no OFD writer being at hand);
    # LibreOffice 7.4's OpenDocument and RTF exports of the notice's .docx. Before, the .odt was "not a
    # valid Word document ([Content_Types].xml)" and the RTF "has no yearly plan table".
    if form in ("odt", "rtf"):
        path = NOTICES / f"notice-libreoffice-7.4.{form}"
    elif form == "doc":
        path = NOTICES / "notice-libreoffice-7.4.doc"
    elif form == "doc-named-docx":
        path = tmp_path / "notice.docx"
        path.write_bytes((NOTICES / "notice-libreoffice-7.4.doc").read_bytes())
    elif form == "docx-with-password":
        path = NOTICES / "notice-open-password.docx"
    else:
        path = tmp_path / "notice.ofd"
        with zipfile.ZipFile(path, "w") as package:
            package.writestr("OFD.xml", '<ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016" Version="1.0"/>')
            package.writestr("Doc_0/Document.xml", "<ofd:Document/>")

    with pytest.raises(NoticeUnreadableError) as raised:
        parse_notice(path)

    message = str(raised.value)
    assert str(path) in message and says_zh in message and says_en in message
    _assert_cli_refuses(path, capsys)


def test_missing_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nowhere.txt"
    with pytest.raises(NoticeNotFoundError, match="nowhere.txt"):
        parse_notice(path)
    _assert_cli_refuses(path, capsys)


@pytest.mark.parametrize("form", ["directory", "gbk-text", "truncated-docx", "text-named-docx", "pdf"])
def test_unreadable_file_is_refused(form: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if form == "directory":
        path = tmp_path / "notice"
        path.mkdir()
    elif form == "gbk-text":
        path = tmp_path / "notice.txt"
        path.write_bytes(BUNDLED_TEXT.encode("gb18030"))
    elif form == "truncated-docx":
        whole = _write_docx(BUNDLED_TEXT, tmp_path / "whole.docx").read_bytes()
        path = tmp_path / "notice.docx"
        path.write_bytes(whole[: len(whole) // 2])
    elif form == "text-named-docx":
        path = _write(tmp_path / "notice.docx", BUNDLED_TEXT)
    else:
        path = tmp_path / "notice.pdf"
        path.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")

    with pytest.raises(NoticeUnreadableError) as raised:
        parse_notice(path)

    assert str(path) in str(raised.value)
    _assert_cli_refuses(path, capsys)
