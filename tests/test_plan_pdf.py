"""The notice as published, a PDF, read directly: every layout gives the bundled notice, bad PDFs one line.

The PDFs are written by these tests (tests/notice_pdf.py, reportlab) from the bundled notice, in the layouts
offices use; each test first checks that its PDF really has the layout it claims, read back with pdfplumber.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pdfplumber
import pytest
from notice_expected import DECLARED_TOTALS, PROJECTS, assert_same_notice
from notice_pdf import Layout, notice_pdf, scanned_pdf

from regreen.cli import main
from regreen.errors import NoticeHasNoTextError
from regreen.plan import Plan, PlanCellError, PlanNameError, parse_notice
from regreen.project import BUNDLED_NOTICE
from regreen.rawload import load_plan

BUNDLED_TEXT = BUNDLED_NOTICE.read_text(encoding="utf-8")

RUNNING_HEAD = "泉州台商投资区管理委员会办公室文件"
LAYOUTS = {
    # ruled tables: one-line cells centred beside wrapped names, header repeated after the page break
    "grid-centred": Layout(),
    "grid-top-no-repeated-header-full-width": Layout(valign="top", repeat_header=False, full_width=True),
    "grid-bottom-three-line-names-split-total": Layout(
        valign="bottom", name_chars=7, split_total=True, wrapped_header=False
    ),
    # rules above and below only: the table is read from the words' positions
    "rules-only-centred": Layout(grid=False),
    "rules-only-top-full-width": Layout(grid=False, valign="top", full_width=True, repeat_header=False),
    "rules-only-bottom-three-line-names-split-total": Layout(
        grid=False, valign="bottom", name_chars=7, split_total=True
    ),
    # a running head on every page but the first, also where a table continues without its header
    "grid-running-head": Layout(running_head=RUNNING_HEAD, repeat_header=False),
    "rules-only-running-head": Layout(grid=False, running_head=RUNNING_HEAD, repeat_header=False),
}


@pytest.fixture(scope="module")
def bundled() -> Plan:
    return parse_notice(BUNDLED_NOTICE)


def _pages(path: Path) -> list[str]:
    with pdfplumber.open(path) as pdf:
        return [page.extract_text() for page in pdf.pages]


def _ruled_tables(path: Path) -> int:
    with pdfplumber.open(path) as pdf:
        return sum(len(page.find_tables()) for page in pdf.pages)


def _page_of(ref: str) -> int:
    return int(re.match(r"page (\d+),", ref)[1])


@pytest.mark.parametrize("case", LAYOUTS)
def test_every_layout_gives_the_bundled_notice(case: str, tmp_path: Path, bundled: Plan) -> None:
    layout = LAYOUTS[case]
    path = notice_pdf(BUNDLED_TEXT, tmp_path / f"{case}.pdf", layout)
    pages = _pages(path)
    text = "\n".join(pages)
    # The PDF has the layout it claims: wrapped names, footers, full-width digits, grid lines or none.
    assert "张坂玉田、玉园、玉塘村废弃矿山生态治理项目" not in text
    assert "张坂玉田" in text
    assert [page.splitlines()[-1] for page in pages] == [f"— {n} —" for n in range(1, len(pages) + 1)]
    assert ("１３" in text) == layout.full_width and ("13" in text) != layout.full_width
    assert (_ruled_tables(path) > 0) == layout.grid
    assert [page.startswith(RUNNING_HEAD) for page in pages] == [False] + [bool(layout.running_head)] * (
        len(pages) - 1
    )

    plan = parse_notice(path)

    assert_same_notice(plan, bundled)
    doc = plan.document
    assert (doc.source_format, doc.page_count) == ("pdf", len(pages))
    assert doc.extractor == f"pdfplumber {pdfplumber.__version__}"
    assert doc.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    # The 2024 table crosses a page after its 4th row, with or without its header repeated.
    refs_2024 = [p.source_ref for p in plan.projects if p.plan_year == 2024]
    assert _page_of(refs_2024[3]) + 1 == _page_of(refs_2024[4])
    continued = pages[_page_of(refs_2024[4]) - 1]
    assert ("序号" in continued.split("张坂镇后见")[0]) == layout.repeat_header
    if layout.grid:
        assert all(re.fullmatch(r"page \d, table \d, row \d", p.source_ref) for p in plan.projects)
    else:
        assert all(re.fullmatch(r"page \d, line \d+", p.source_ref) for p in plan.projects)


def test_references_say_page_table_and_row(tmp_path: Path) -> None:
    path = notice_pdf(BUNDLED_TEXT, tmp_path / "notice.pdf")

    plan = parse_notice(path)

    refs = {(p.plan_year, p.seq): p.source_ref for p in plan.projects}
    assert (refs[(2024, 4)], refs[(2024, 5)]) == ("page 2, table 2, row 5", "page 3, table 1, row 2")
    totals = {(t.plan_year, t.source, t.measure): t.source_ref for t in plan.declared_totals}
    assert totals[(2024, "total_row", "patches")] == "page 3, table 1, row 4"
    # Lines are counted on the page outside its tables: the 23rd line of text on page 1 has the task.
    assert totals[(None, "task", "task_area_mu")] == "page 1, line 23"
    with pdfplumber.open(path) as pdf:
        assert "3000 亩废弃矿山生态修复治理任务" in pdf.pages[0].extract_text_lines()[22]["text"]


def test_plan_show_json_of_a_pdf(tmp_path: Path) -> None:
    path = notice_pdf(BUNDLED_TEXT, tmp_path / "泉台管办〔2023〕36号.pdf", LAYOUTS["rules-only-centred"])

    result = subprocess.run(
        [sys.executable, "-m", "regreen.cli", "plan", "show", path.name, "--json"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    plan = json.loads(result.stdout)
    assert [tuple(p.values()) for p in plan["projects"]] == PROJECTS
    assert [
        (t["plan_year"], t["source"], t["township"], t["measure"], t["value"])
        for t in plan["declared_totals"]
    ] == DECLARED_TOTALS
    assert plan["document"]["source_format"] == "pdf"
    assert plan["document"]["page_count"] == 4


def test_the_pdf_is_kept_in_raw_plan_documents(tmp_path: Path) -> None:
    path = notice_pdf(BUNDLED_TEXT, tmp_path / "notice.pdf")
    plan = parse_notice(path)

    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        load_plan(con, plan, "run-1")
        row = con.execute(
            "select document_sha256, source_format, page_count, extractor, source_path from raw.plan_documents"
        ).fetchall()

    assert row == [
        (
            hashlib.sha256(path.read_bytes()).hexdigest(),
            "pdf",
            4,
            f"pdfplumber {pdfplumber.__version__}",
            str(path),
        )
    ]


def _refused(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["plan", "show", str(path), "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1 and err.startswith("regreen: ")
    return err


def test_a_scanned_pdf_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = scanned_pdf(tmp_path / "scan.pdf")
    with pdfplumber.open(path) as pdf:
        assert len(pdf.pages[0].images) == 1 and pdf.pages[0].chars == []

    with pytest.raises(NoticeHasNoTextError):
        parse_notice(path)

    err = _refused(path, capsys)
    assert "this PDF has no text: OCR is not supported" in err and str(path) in err


@pytest.mark.parametrize("grid", [True, False])
def test_header_words_in_a_name_are_refused(
    grid: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "张坂镇塘园村废弃矿山生态治理项目"
    text = BUNDLED_TEXT.replace(name, "面积" + name)
    path = notice_pdf(text, tmp_path / "notice.pdf", Layout(grid=grid))

    with pytest.raises(PlanNameError) as raised:
        parse_notice(path)

    message = str(raised.value)
    assert "面积" + name in message and "2024" in message and "header words" in message
    assert raised.value.row.source_ref == ("page 3, table 1, row 3" if grid else "page 3, line 8")
    _refused(path, capsys)


def test_a_rules_only_table_that_cannot_be_told_apart_stops_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # With grid lines this name is read whole (and warned about); without them, where the wrapped lines
    # between rows 1 and 2 belong is decided by how names end, and this one does not end like the others.
    text = BUNDLED_TEXT.replace("百崎乡莲埭村废弃矿山生态治理项目", "百崎乡莲埭村废弃矿山生态治理")
    ruled = notice_pdf(text, tmp_path / "ruled.pdf", Layout())
    assert parse_notice(ruled).projects[0].name == "百崎乡莲埭村废弃矿山生态治理"
    path = notice_pdf(text, tmp_path / "rules-only.pdf", Layout(grid=False))

    with pytest.raises(PlanCellError) as raised:
        parse_notice(path)

    assert raised.value.where.startswith("page 2, line ")
    assert "cannot tell whether this line belongs to the row above or the row below" in str(raised.value)
    _refused(path, capsys)


def test_nightly_with_a_scanned_pdf_stops_before_anything_runs(tmp_path: Path) -> None:
    path = scanned_pdf(tmp_path / "scan.pdf")
    data_dir = tmp_path / "data"

    result = subprocess.run(
        [sys.executable, "-m", "regreen.cli", "nightly", "--notice", str(path), "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "this PDF has no text: OCR is not supported" in result.stderr
    assert not (data_dir / "regreen.duckdb").exists()
