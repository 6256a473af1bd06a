"""`write_template`: a township's template that, once filled in, passes validation."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import openpyxl
import pytest

from regreen.submissions.columns import COLUMNS, STAGES
from regreen.submissions.reference import UnknownTownshipError
from regreen.submissions.template import write_template
from regreen.submissions.validate import validate_file

# 张坂镇's projects owed in March 2024 with nothing received yet: its 2025 projects are not issued then.
ZHANGBAN_CODES = ["2023-04", "2023-05", "2024-04", "2024-05", "2024-06"]
PERIOD = (date(2023, 6, 1), date(2024, 4, 1))


def fill_in(path: Path, reference) -> None:
    """Fill every pre-filled row with valid figures, as a clerk would in Excel."""
    workbook = openpyxl.load_workbook(path)
    sheet = workbook["月度进展"]
    column = {cell.value: cell.column for cell in sheet[2]}
    for row in range(3, sheet.max_row + 1):
        name = sheet.cell(row, column["项目名称"]).value
        if name is None:
            continue
        planned = next(p for p in reference.projects if p.name == name)
        values = {
            "累计完成图斑(个)": planned.patches_planned,
            "累计治理面积(亩)": 1,
            "其中林地(亩)": 1,
            "项目阶段": "施工中",
            "累计完成投资(万元)": 12.5,
            "监理单位": "泉州某工程监理有限公司",
            "填报人": "陈建国",
            "联系电话": "0595-87654321",
        }
        for header, value in values.items():
            sheet.cell(row, column[header], value)
    workbook.save(path)


def test_template_for_zhangban(tmp_path, reference):
    path = write_template(reference, "张坂镇", date(2024, 3, 1), tmp_path / "t.xlsx", PERIOD)
    workbook = openpyxl.load_workbook(path)
    assert workbook.sheetnames == ["月度进展", "无需填报", "说明"]
    sheet = workbook["月度进展"]
    assert "张坂镇" in sheet["A1"].value and "2024年3月" in sheet["A1"].value
    assert [cell.value for cell in sheet[2]][: len(COLUMNS)] == [c.header for c in COLUMNS]
    rows = [[cell.value for cell in row[:3]] for row in sheet.iter_rows(min_row=3) if row[2].value]
    assert [r[2] for r in rows] == [reference.project(code).name for code in ZHANGBAN_CODES]
    assert {(r[0], r[1]) for r in rows} == {("2024-03", "张坂镇")}
    lists = {str(v.sqref): v.formula1 for v in sheet.data_validations.dataValidation if v.type == "list"}
    assert lists["I3:I57"] == '"' + ",".join(STAGES) + '"'
    assert lists["E2"] == '"累计治理面积(亩),累计治理面积(公顷),累计治理面积(平方米)"'
    assert {"F2", "G2", "H2"} <= set(lists)
    assert "说明" in workbook.sheetnames and "监理单位" in "".join(
        str(c.value) for c in workbook["说明"]["A"] if c.value
    )


def test_a_filled_in_template_passes_validation(tmp_path, reference):
    path = write_template(reference, "张坂", date(2024, 3, 1), tmp_path / "t.xlsx", PERIOD)
    fill_in(path, reference)
    report = validate_file(path, reference, date(2024, 4, 20))
    assert (report.status, report.errors, report.warnings) == ("accepted", [], [])
    assert list(report.rows["project_code"]) == ZHANGBAN_CODES
    assert set(report.rows["report_month"]) == {date(2024, 3, 1)}


def test_picking_another_unit_in_the_header_converts_the_areas(tmp_path, reference):
    path = write_template(reference, "东园镇", date(2024, 3, 1), tmp_path / "t.xlsx", PERIOD)
    fill_in(path, reference)
    workbook = openpyxl.load_workbook(path)
    workbook["月度进展"]["E2"] = "累计治理面积(公顷)"  # what the header's drop-down offers
    workbook.save(path)
    report = validate_file(path, reference, date(2024, 4, 20))
    assert report.errors == []
    assert list(report.rows["area_done_mu"]) == [15.0]  # 东园镇's 2025 project is not issued in 2024


def test_unknown_township_names_the_four(tmp_path, reference):
    with pytest.raises(UnknownTownshipError) as caught:
        write_template(reference, "西园镇", date(2024, 3, 1), tmp_path / "t.xlsx", PERIOD)
    assert "百崎乡、东园镇、洛阳镇、张坂镇" in caught.value.message_zh
    assert not (tmp_path / "t.xlsx").exists()
