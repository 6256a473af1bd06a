"""Write a township's monthly progress template for one month.

The 月度进展 sheet lists the projects the township owes that month (issued by then: its plan year has
begun; and not accepted before that month), with the contract's header, drop-down lists that refuse a
wrong entry, and, to the right, protected reference columns (the plan's targets, the last month
received) that are never read back as data. Projects accepted earlier or not yet issued are listed apart
on the 无需填报 sheet. The 说明 sheet holds the instructions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill, Protection
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from regreen.errors import RegreenError
from regreen.submissions.columns import (
    AREA_UNIT_FACTORS,
    COLUMNS,
    REFERENCE_MARK,
    REQUIRED_KEYS,
    STAGES,
)
from regreen.submissions.history import History, Version
from regreen.submissions.reader import SHEET_NAME
from regreen.submissions.reference import PlanReference, ProjectRef, UnknownTownshipError

TITLE_ROW, HEADER_ROW, FIRST_DATA_ROW = 1, 2, 3
SPARE_ROWS = 50  # rows below the projects that keep the drop-down lists, for a second month
APART_SHEET = "无需填报"
_REQUIRED_FILL = PatternFill("solid", fgColor="FDE9D9")
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_REFERENCE_FILL = PatternFill("solid", fgColor="EDEDED")
# The reference columns: header (after REFERENCE_MARK) and what each holds.
REFERENCE_HEADERS = (
    "方案图斑(个)",
    "方案面积(亩)",
    "上次填报月份",
    "上次累计图斑(个)",
    "上次累计治理面积(亩)",
    "上次项目阶段",
)

INSTRUCTIONS = (
    "废弃矿山生态修复月度进展填报说明",
    "",
    "1. 在“月度进展”工作表填写，第 1 行标题和第 2 行表头不要删改（面积列的单位除外，见第 5 条）。",
    "2. 每个项目每月填一行。已预填本乡镇本月应填报的方案项目（已下达且此前未验收）；"
    f"此前已验收和尚未下达的项目列在“{APART_SHEET}”表中，不必填写。",
    "3. 图斑、面积、投资等均填截至当月月底的累计数，只填数字，不要加“约”等文字，不能为负数。"
    "累计数不应低于上次填报的数（灰色参考列，仅供对照，不作为数据读取，也不能修改）。",
    "4. 项目阶段从下拉列表选择：" + "、".join(STAGES) + "；填写其他内容会被拒绝。",
    "   施工中及以后须填写监理单位；阶段为“已验收”时须填写验收日期（不晚于填报当天），其他阶段不填。",
    "5. 面积单位默认为亩。若按公顷或平方米填写，请点击该面积列的表头，从下拉列表选择带相应单位的表头，"
    "系统按表头单位换算为亩（1 公顷 = 15 亩，1 亩 ≈ 666.67 平方米）。"
    "累计治理面积超过方案面积过多（默认 20% 以上）的文件会被拒收（多为公顷与亩填混）。",
    "6. 林地、耕地、草地之和不能超过累计治理面积（允许 0.5 亩误差）。",
    "7. 填报月份写成 2024-03、2024/3 或 2024年3月；一个文件可以包含多个月份。表尾可加“合计”行，系统只核对、不入库。",
    "8. 填报人和联系电话仅用于联系，不会出现在任何报表中。",
    "9. 提交前可运行 regreen check 文件名 自行检查。",
    "",
    "English: fill in the 月度进展 sheet, one row per project and month, cumulative figures to the month's end.",
    "Projects accepted earlier or not yet issued are listed on the 无需填报 sheet and need no report.",
    "The grey 【参考】 columns (plan targets, the last month received) are for reference and never read.",
    "See docs/submission-format.md for the full contract.",
)


class TemplateWriteError(RegreenError):
    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        super().__init__(f"无法写入模板 {path}：{reason}", f"cannot write the template {path}: {reason}")


class TemplateMonthError(RegreenError):
    """A month no report is owed for: outside the plan's reporting period, or nothing owed."""

    def __init__(self, township: str, month: date, first: date, last: date, owed_nothing: bool) -> None:
        self.township, self.month = township, month
        if owed_nothing:
            super().__init__(
                f"{township} {month:%Y-%m} 无需填报：其方案项目此前均已验收或尚未下达",
                f"{township} owes no report for {month:%Y-%m}: its plan projects are all accepted "
                "earlier or not yet issued",
            )
        else:
            super().__init__(
                f"月份 {month:%Y-%m} 不在填报期内（{first:%Y-%m} 至 {last:%Y-%m}）",
                f"month {month:%Y-%m} is outside the reporting period ({first:%Y-%m} to {last:%Y-%m})",
            )


@dataclass(frozen=True)
class MonthDue:
    """What a township owes for a month."""

    township: str
    month: date
    owed: tuple[ProjectRef, ...] = ()  # issued by then and not accepted before the month
    accepted: tuple[tuple[ProjectRef, date], ...] = ()  # accepted before the month, with that month
    not_issued: tuple[ProjectRef, ...] = ()  # plan year not begun


def month_due(reference: PlanReference, township: str, month: date, history: History) -> MonthDue:
    """The projects `township` (canonical) owes for `month`, and those it does not, by the history."""
    owed, accepted, not_issued = [], [], []
    for project in reference.township_projects(township):
        accepted_in = history.accepted_month(project.project_code)
        if project.plan_year > month.year:
            not_issued.append(project)
        elif accepted_in is not None and accepted_in < month:
            accepted.append((project, accepted_in))
        else:
            owed.append(project)
    return MonthDue(township, month, tuple(owed), tuple(accepted), tuple(not_issued))


def _list_validation(choices: list[str], cells: str, what: str) -> DataValidation:
    validation = DataValidation(
        type="list",
        formula1='"' + ",".join(choices) + '"',
        allow_blank=True,
        showErrorMessage=True,
        errorStyle="stop",
        errorTitle="请从下拉列表选择 / pick from the list",
        error=f"{what}只能是：{'、'.join(choices)} / {what} must be one of the list",
    )
    validation.add(cells)
    return validation


def _reference_values(project: ProjectRef, last: Version | None) -> tuple[object, ...]:
    plan: tuple[object, ...] = (project.patches_planned, float(project.area_planned_mu))
    if last is None:
        return (*plan, "无 / none", None, None, None)
    return (*plan, f"{last.report_month:%Y-%m}", last.patches_done, last.area_done_mu, last.stage)


def _progress_sheet(sheet: Worksheet, due: MonthDue, history: History) -> None:
    projects = due.owed
    data_columns = len(COLUMNS)
    last_column = get_column_letter(data_columns + len(REFERENCE_HEADERS))
    sheet.title = SHEET_NAME
    sheet.cell(TITLE_ROW, 1, f"{due.township} {due.month.year}年{due.month.month}月 废弃矿山生态修复月度进展")
    sheet.cell(TITLE_ROW, 1).font = Font(bold=True, size=14)
    sheet.merge_cells(f"A{TITLE_ROW}:{last_column}{TITLE_ROW}")
    last_row = FIRST_DATA_ROW + len(projects) + SPARE_ROWS - 1
    unlocked = Protection(locked=False)
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
            sheet.add_data_validation(_list_validation(choices, f"{letter}{HEADER_ROW}", "表头"))
            header.protection = unlocked
        if column.kind == "stage":
            sheet.add_data_validation(_list_validation(list(STAGES), data_cells, "项目阶段"))
        if column.kind in ("integer", "area", "amount"):
            number = DataValidation(
                type="whole" if column.kind == "integer" else "decimal",
                operator="greaterThanOrEqual",
                formula1="0",
                allow_blank=True,
                showErrorMessage=True,
                errorStyle="stop",
                errorTitle="只填数字 / figures only",
                error="请填写不小于 0 的数字 / enter a number of 0 or more",
            )
            number.add(data_cells)
            sheet.add_data_validation(number)
        for row in range(FIRST_DATA_ROW, last_row + 1):
            cell = sheet.cell(row, index)
            cell.protection = unlocked
            if column.kind in ("month", "date"):
                cell.number_format = "@"
    keys = [column.key for column in COLUMNS]
    for offset, name in enumerate(REFERENCE_HEADERS, start=data_columns + 1):
        header = sheet.cell(HEADER_ROW, offset, REFERENCE_MARK + name)
        header.font = Font(bold=True, italic=True)
        header.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
        header.fill = _REFERENCE_FILL
        sheet.column_dimensions[get_column_letter(offset)].width = 14
    for offset, project in enumerate(projects):
        row = FIRST_DATA_ROW + offset
        sheet.cell(row, keys.index("report_month") + 1, f"{due.month:%Y-%m}")
        sheet.cell(row, keys.index("township") + 1, due.township)
        sheet.cell(row, keys.index("project_name") + 1, project.name)
        last = history.previous(project.project_code, due.month)
        for position, value in enumerate(_reference_values(project, last), start=data_columns + 1):
            cell = sheet.cell(row, position, value)
            cell.fill = _REFERENCE_FILL
    sheet.row_dimensions[HEADER_ROW].height = 32
    sheet.freeze_panes = f"A{FIRST_DATA_ROW}"
    # Locked cells (title, header, reference columns) cannot be changed; the clerk may still resize,
    # insert and delete rows, sort and filter. No password: this guards against slips, not people.
    protection = sheet.protection
    protection.sheet = True
    for allowed in ("formatColumns", "formatRows", "insertRows", "deleteRows", "sort", "autoFilter"):
        setattr(protection, allowed, False)


def _apart_sheet(sheet: Worksheet, due: MonthDue) -> None:
    sheet.append([f"{due.township} {due.month:%Y-%m} 无需填报的方案项目 / plan projects that need no report"])
    sheet.cell(1, 1).font = Font(bold=True, size=14)
    sheet.append(["项目编号 / code", "项目名称 / project", "原因 / why"])
    for cell in sheet[2]:
        cell.font = Font(bold=True)
    for project, month in due.accepted:
        sheet.append(
            [project.project_code, project.name, f"{month:%Y-%m} 已验收 / accepted in {month:%Y-%m}"]
        )
    for project in due.not_issued:
        sheet.append(
            [
                project.project_code,
                project.name,
                f"{project.plan_year} 年度项目，尚未下达 / a {project.plan_year} project, not yet issued",
            ]
        )
    sheet.column_dimensions["B"].width = 44
    sheet.column_dimensions["C"].width = 40


def write_template(
    reference: PlanReference,
    township: str,
    month: date,
    output: Path,
    period: tuple[date, date],
    history: History | None = None,
) -> Path:
    """Write the template for `township` (any spelling of it) and `month`; returns the path written.

    `period` is the first and last month a report may be owed for (PlanReference.due_period); a month outside it,
    or one the township owes nothing for, is refused. `history` (what was received before; see
    regreen.submissions.history) decides which projects were accepted earlier and fills the last month
    received.
    """
    canonical = reference.resolve_township(township)
    if canonical is None:
        raise UnknownTownshipError(township, reference.townships)
    history = history or History()
    first, last = period
    if not first <= month <= last:
        raise TemplateMonthError(canonical, month, first, last, owed_nothing=False)
    due = month_due(reference, canonical, month, history)
    if not due.owed:
        raise TemplateMonthError(canonical, month, first, last, owed_nothing=True)
    workbook = Workbook()
    _progress_sheet(workbook.active, due, history)
    _apart_sheet(workbook.create_sheet(APART_SHEET), due)
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
