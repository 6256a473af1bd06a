"""Write a township's monthly progress template: the contract's header, the township's plan projects
pre-filled, drop-down lists where a value must come from a list, and an instruction sheet (说明)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from regreen.errors import RegreenError
from regreen.submissions.columns import AREA_UNIT_FACTORS, COLUMNS, REQUIRED_KEYS, STAGES
from regreen.submissions.reader import SHEET_NAME
from regreen.submissions.reference import PlanReference, UnknownTownshipError

TITLE_ROW, HEADER_ROW, FIRST_DATA_ROW = 1, 2, 3
SPARE_ROWS = 50  # rows below the projects that keep the drop-down lists, for a second month
_REQUIRED_FILL = PatternFill("solid", fgColor="FDE9D9")
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")

INSTRUCTIONS = (
    "废弃矿山生态修复月度进展填报说明",
    "",
    "1. 在“月度进展”工作表填写，第 1 行标题和第 2 行表头不要删改（面积列的单位除外，见第 5 条）。",
    "2. 每个项目每月填一行。已预填本乡镇的全部方案项目；已验收的项目此后不必再填。",
    "3. 图斑、面积、投资等均填截至当月月底的累计数，只填数字，不要加“约”等文字，不能为负数。",
    "4. 项目阶段从下拉列表选择：" + "、".join(STAGES) + "。",
    "   施工中及以后须填写监理单位；阶段为“已验收”时须填写验收日期（不晚于填报当天），其他阶段不填。",
    "5. 面积单位默认为亩。若按公顷或平方米填写，请点击该面积列的表头，从下拉列表选择带相应单位的表头，"
    "系统按表头单位换算为亩（1 公顷 = 15 亩，1 亩 ≈ 666.67 平方米）。",
    "6. 林地、耕地、草地之和不能超过累计治理面积（允许 0.5 亩误差）。",
    "7. 填报月份写成 2024-03 的形式；一个文件可以包含多个月份。表尾可加“合计”行，系统只核对、不入库。",
    "8. 填报人和联系电话仅用于联系，不会出现在任何报表中。",
    "9. 提交前可运行 regreen check 文件名 自行检查。",
    "",
    "English: fill in the 月度进展 sheet, one row per project and month, cumulative figures to the month's end.",
    "See docs/submission-format.md for the full contract.",
)


class TemplateWriteError(RegreenError):
    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        super().__init__(f"无法写入模板 {path}：{reason}", f"cannot write the template {path}: {reason}")


def _list_validation(choices: list[str], cells: str) -> DataValidation:
    validation = DataValidation(type="list", formula1='"' + ",".join(choices) + '"', allow_blank=True)
    validation.add(cells)
    return validation


def _progress_sheet(sheet: Worksheet, reference: PlanReference, township: str, month: date) -> None:
    projects = reference.township_projects(township)
    last_column = get_column_letter(len(COLUMNS))
    sheet.title = SHEET_NAME
    sheet.cell(TITLE_ROW, 1, f"{township} {month.year}年{month.month}月 废弃矿山生态修复月度进展")
    sheet.cell(TITLE_ROW, 1).font = Font(bold=True, size=14)
    sheet.merge_cells(f"A{TITLE_ROW}:{last_column}{TITLE_ROW}")
    last_row = FIRST_DATA_ROW + len(projects) + SPARE_ROWS - 1
    for index, column in enumerate(COLUMNS, start=1):
        letter = get_column_letter(index)
        header = sheet.cell(HEADER_ROW, index, column.header)
        header.font = Font(bold=True)
        header.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
        header.fill = _REQUIRED_FILL if column.key in REQUIRED_KEYS else _HEADER_FILL
        sheet.column_dimensions[letter].width = 44 if column.key == "project_name" else 14
        data_cells = f"{letter}{FIRST_DATA_ROW}:{letter}{last_row}"
        if column.kind == "area":
            # The unit is chosen by picking the header that names it.
            choices = [f"{column.label}({unit})" for unit in AREA_UNIT_FACTORS]
            sheet.add_data_validation(_list_validation(choices, f"{letter}{HEADER_ROW}"))
        if column.kind == "stage":
            sheet.add_data_validation(_list_validation(list(STAGES), data_cells))
        if column.kind in ("integer", "area", "amount"):
            number = DataValidation(
                type="whole" if column.kind == "integer" else "decimal",
                operator="greaterThanOrEqual",
                formula1="0",
                allow_blank=True,
                showErrorMessage=True,
                errorTitle="只填数字 / figures only",
                error="请填写不小于 0 的数字 / enter a number of 0 or more",
            )
            number.add(data_cells)
            sheet.add_data_validation(number)
        if column.kind in ("month", "date"):
            for row in range(FIRST_DATA_ROW, last_row + 1):
                sheet.cell(row, index).number_format = "@"
    keys = [column.key for column in COLUMNS]
    for offset, project in enumerate(projects):
        row = FIRST_DATA_ROW + offset
        sheet.cell(row, keys.index("report_month") + 1, f"{month:%Y-%m}")
        sheet.cell(row, keys.index("township") + 1, township)
        sheet.cell(row, keys.index("project_name") + 1, project.name)
    sheet.row_dimensions[HEADER_ROW].height = 32
    sheet.freeze_panes = f"A{FIRST_DATA_ROW}"


def write_template(reference: PlanReference, township: str, month: date, output: Path) -> Path:
    """Write the template for `township` (any spelling of it) and `month`; returns the path written."""
    canonical = reference.resolve_township(township)
    if canonical is None:
        raise UnknownTownshipError(township, reference.townships)
    workbook = Workbook()
    _progress_sheet(workbook.active, reference, canonical, month)
    notes = workbook.create_sheet("说明")
    for row, line in enumerate(INSTRUCTIONS, start=1):
        notes.cell(row, 1, line)
    notes.cell(1, 1).font = Font(bold=True, size=14)
    notes.column_dimensions["A"].width = 120
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        workbook.save(output)
    except OSError as exc:
        raise TemplateWriteError(output, exc.strerror or str(exc)) from exc
    return output
