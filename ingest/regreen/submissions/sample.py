"""Sample monthly submissions: what four township clerks would plausibly send, marked as sample data.

`write_sample` writes the files a real inbox would hold from 2023-06 to `today`'s month: one file per
township per month (a few covering two months, two months missing), each with its arrival time as the
file's modification time, in the formats and with the slips real clerks make. Everything follows from
the seed: the same seed and the same `today` give byte-identical files and the same modification times.

Every file is marked as sample data three ways: its name starts with `示例-` or `sample-`, every 备注
cell says 示例数据, and the reporter and phone are obviously fake.
"""

from __future__ import annotations

import csv
import io
import os
import random
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

from regreen.project import DataDir
from regreen.submissions.columns import COLUMNS, STAGES, SUPERVISED_FROM
from regreen.submissions.reference import PlanReference, ProjectRef

# Arrival times are recorded as the clerks' wall clock; China has had no daylight saving since 1991.
CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")

SAMPLE_NOTE = "示例数据"
SAMPLE_PREFIXES = ("示例-", "sample-")

# One clerk per township: fake names and phones nobody could mistake for real ones.
_REPORTERS = {
    "百崎乡": ("示例填报人甲", "000-0000-0001"),
    "东园镇": ("示例填报人乙", "000-0000-0002"),
    "洛阳镇": ("示例填报人丙", "000-0000-0003"),
    "张坂镇": ("示例填报人丁", "000-0000-0004"),
}
_ZHANGBAN_NEW_CLERK = ("示例填报人戊", "000-0000-0005")
_SUPERVISORS = ("福建示例工程监理有限公司", "泉州示例建设监理有限公司", "厦门示例工程咨询有限公司")
_PINYIN = {"百崎乡": "baiqi", "东园镇": "dongyuan", "洛阳镇": "luoyang", "张坂镇": "zhangban"}
_MU_PER_HECTARE = Decimal(15)
_SQUARE_METRES_PER_MU = Decimal(10000) / Decimal(15)
_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")

# Where the sample plants the mess a real inbox collects (see _township_files).
_TWO_MONTH_FILES = {("东园镇", date(2024, 1, 1)), ("张坂镇", date(2025, 1, 1))}
_MISSING_MONTHS = {("洛阳镇", date(2024, 2, 1)), ("洛阳镇", date(2024, 9, 1))}
_APPROXIMATE_VALUE = ("洛阳镇", date(2024, 5, 1))  # '约120' in an area cell: rejected, then resent
_UNKNOWN_PROJECT = ("张坂镇", date(2024, 11, 1))  # a project that is not in the plan: rejected, then resent
_RESTATED = ("张坂镇", date(2024, 8, 1))  # a stale row, corrected a week later: two accepted versions
_SENT_TWICE = ("百崎乡", date(2024, 6, 1))  # the same bytes mailed twice under another name
_FULL_WIDTH_DIGITS = ("洛阳镇", date(2023, 12, 1))  # typed with the input method in full-width mode
_UNKNOWN_PROJECT_NAME = "张坂镇浮山村废弃矿山生态治理项目"
_LATE_PROJECTS = 4  # finish one to three months after their plan year; the rest on time


def _add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def _months_between(first: date, last: date) -> int:
    return (last.year - first.year) * 12 + last.month - first.month


def _rng(seed: int, *key: object) -> random.Random:
    """An independent stream per project or file, so changing one thing does not reshuffle the rest."""
    return random.Random("/".join(str(part) for part in (seed, *key)))


def _dec(value: float, places: str) -> Decimal:
    return Decimal(str(value)).quantize(Decimal(places))


# --- how each project unfolds ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Course:
    """The true course of one project in the sample, month by month."""

    project: ProjectRef
    design: date  # first month of 方案编制
    review: date
    issued: date
    build: date  # first month of 施工中
    complete: date | None  # month it is 已完工; None when it never finishes (the anomaly)
    accepted_on: date | None
    final_area: Decimal
    land_shares: tuple[Decimal, Decimal, Decimal]  # forest, farmland, grassland
    cost_per_mu: Decimal  # 万元
    fund_shares: tuple[Decimal, Decimal, Decimal, Decimal]  # higher level, district, waste rock, social
    waste_per_mu: Decimal  # 万立方米 per mu restored (normal projects)
    waste_per_month: Decimal  # 万立方米 a month (the anomaly only)
    supervisor: str
    weights: tuple[float, ...]  # share of the works done in each month from `build` to `complete`

    @property
    def stalls(self) -> bool:
        return self.complete is None


def _construction_weights(rng: random.Random, build: date, months: int) -> tuple[float, ...]:
    weights = []
    for offset in range(months):
        month = _add_months(build, offset).month
        weight = rng.uniform(0.7, 1.3)
        if offset == 0 or offset == months - 1:
            weight *= 0.5  # mobilisation and finishing touches
        if month == 2:
            weight *= 0.3  # Spring Festival
        elif month in (7, 8, 9):
            weight *= 0.7  # rain and typhoons
        weights.append(weight)
    return tuple(weights)


def _land_shares(rng: random.Random, township: str) -> tuple[Decimal, Decimal, Decimal]:
    """宜林则林、宜耕则耕、宜草则草: hill quarries mostly to forest, pits by villages partly to farmland."""
    usable = rng.uniform(0.93, 1.0)  # the rest is access roads, ditches and retaining walls
    farmland = rng.uniform(0.15, 0.4) if township in ("洛阳镇", "百崎乡") else rng.uniform(0.0, 0.12)
    forest = rng.uniform(0.55, 0.8) * (usable - farmland)
    grassland = usable - farmland - forest
    return _dec(forest, "0.001"), _dec(farmland, "0.001"), _dec(grassland, "0.001")


def _plan_course(
    project: ProjectRef, seed: int, first_month: date, anomalous: bool, late: bool, today: date
) -> _Course:
    rng = _rng(seed, "course", project.project_code)
    year = project.plan_year
    # The district bureau has each year's schemes written and reviewed, then issues them early in the
    # year (the notice, 四、(二)); the first year's projects could only start after the notice itself.
    design = max(first_month, date(year - 1, rng.choice((10, 10, 11)), 1))
    review = _add_months(design, rng.choice((1, 2)))
    issued = max(_add_months(review, 1), date(year, rng.choice((1, 2)), 1))
    build = _add_months(issued, 1)
    if anomalous:
        complete = None
    else:
        end = date(year, 12, 1)
        slip = rng.choice((1, 1, 2, 3)) if late else rng.choice((-1, 0, 0))
        complete = _add_months(end, slip)
        complete = max(complete, _add_months(build, 3))
    accepted_on = None
    if complete is not None:
        acceptance_month = _add_months(complete, rng.choice((1, 1, 2, 3)))
        accepted_on = acceptance_month.replace(day=rng.randint(6, 26))
    months = _months_between(build, complete) + 1 if complete else 0
    planned = project.area_planned_mu
    fund_waste = (
        Decimal(str(rng.uniform(0.1, 0.35))) if not anomalous else Decimal(str(rng.uniform(0.55, 0.7)))
    )
    fund_social = Decimal(str(rng.choice((0, 0, 0, 0.2, 0.3)))) if not anomalous else 1 - fund_waste
    fund_higher = Decimal(str(rng.choice((0, 0.15, 0.25, 0.3)))) if not anomalous else Decimal(0)
    fund_higher = min(fund_higher, 1 - fund_waste - fund_social)
    fund_district = 1 - fund_waste - fund_social - fund_higher
    return _Course(
        project=project,
        design=design,
        review=review,
        issued=issued,
        build=build,
        complete=complete,
        accepted_on=accepted_on if accepted_on is None or accepted_on <= today else None,
        final_area=(planned * Decimal(str(rng.uniform(0.98, 1.01)))).quantize(Decimal("0.1")),
        land_shares=_land_shares(rng, project.township_name),
        cost_per_mu=_dec(rng.uniform(1.8, 4.2), "0.01"),
        fund_shares=(fund_higher, fund_district, fund_waste, fund_social),
        waste_per_mu=_dec(rng.uniform(0.02, 0.12), "0.001"),
        waste_per_month=(planned * Decimal(str(rng.uniform(0.035, 0.05)))).quantize(Decimal("0.01")),
        supervisor=rng.choice(_SUPERVISORS),
        weights=_construction_weights(rng, build, months),
    )


def _stage(course: _Course, month: date) -> str:
    if month < course.review:
        return "方案编制"
    if month < course.issued:
        return "方案评审"
    if month < course.build:
        return "已下达"
    if course.complete is None or month < course.complete:
        return "施工中"
    if course.accepted_on is not None and month >= course.accepted_on.replace(day=1):
        return "已验收"
    return "已完工"


def _reported(course: _Course, month: date) -> bool:
    """Clerks list a project from its design until two months after its acceptance."""
    if month < course.design:
        return False
    return course.accepted_on is None or month <= _add_months(course.accepted_on.replace(day=1), 2)


# The anomaly keeps to a normal pace for ten months, then barely advances while the rock keeps leaving.
_STALL_PACE = 0.072
_STALL_AFTER = 10
_STALL_CREEP = 0.006


def _works_done(course: _Course, month: date) -> float:
    """The share of the restoration works done by the end of `month`, 0 to 1."""
    if month < course.build:
        return 0.0
    elapsed = _months_between(course.build, month) + 1
    if course.stalls:
        return min(elapsed, _STALL_AFTER) * _STALL_PACE + max(0, elapsed - _STALL_AFTER) * _STALL_CREEP
    assert course.complete is not None
    if month >= course.complete:
        return 1.0
    return sum(course.weights[:elapsed]) / sum(course.weights)


def _waste_rock(course: _Course, month: date, done: float, seed: int) -> Decimal:
    if course.stalls:
        elapsed = _months_between(course.build, month) + 1 if month >= course.build else 0
        pace = _rng(seed, "waste", course.project.project_code)
        return sum(
            (course.waste_per_month * _dec(pace.uniform(0.8, 1.2), "0.01") for _ in range(elapsed)),
            Decimal(0),
        ).quantize(Decimal("0.01"))
    # Slopes are cut back first, so most of the rock leaves early in the works.
    share = 1 - (1 - done) ** 1.5
    return _dec(float(course.waste_per_mu * course.final_area) * share, "0.01")


@dataclass(frozen=True)
class _Report:
    """One project's line for one month: cumulative to the month's end, in 亩, 万元 and 万立方米."""

    month: date
    project: ProjectRef
    stage: str
    patches: int
    area: Decimal
    land: tuple[Decimal, Decimal, Decimal]  # forest, farmland, grassland
    invested: Decimal
    funds: tuple[Decimal, Decimal, Decimal, Decimal]  # higher level, district, waste rock, social
    waste_rock: Decimal
    supervisor: str | None
    accepted_on: date | None
    note: str


def _report(course: _Course, month: date, seed: int) -> _Report:
    project = course.project
    stage = _stage(course, month)
    done = _works_done(course, month)
    area = (course.final_area * Decimal(str(done))).quantize(Decimal("0.1"))
    started = max(0.0, (done - 0.15) / 0.85)
    patches = project.patches_planned if done >= 1 else int(project.patches_planned * started)
    forest, farmland, grassland = (
        (area * share).quantize(Decimal("0.1"), rounding=ROUND_FLOOR) for share in course.land_shares
    )
    spent = Decimal(str(0.05 + 0.95 * done)) if month >= course.build else Decimal(0)
    total_cost = course.cost_per_mu * (project.area_planned_mu if course.stalls else course.final_area)
    higher, district, waste, social = (
        (total_cost * spent * share).quantize(Decimal("0.01")) for share in course.fund_shares
    )
    note = SAMPLE_NOTE
    late = month > date(project.plan_year, 12, 1) and stage == "施工中"
    if course.stalls and late:
        note += "；废石外运中，治理进度滞后"
    elif late:
        note += "；受雨季影响，工期顺延"
    elif stage == "施工中" and month.month == 2:
        note += "；春节停工一周"
    elif stage == "方案评审" and month == course.review:
        note += "；方案已报区自然资源局组织评审"
    return _Report(
        month=month,
        project=project,
        stage=stage,
        patches=patches,
        area=area,
        land=(forest, farmland, grassland),
        invested=higher + district + waste + social,
        funds=(higher, district, waste, social),
        waste_rock=_waste_rock(course, month, done, seed),
        supervisor=course.supervisor if STAGES.index(stage) >= SUPERVISED_FROM else None,
        accepted_on=course.accepted_on if stage == "已验收" else None,
        note=note,
    )


# --- how each township's clerk writes ----------------------------------------------------------------


_AT = {column.key: index for index, column in enumerate(COLUMNS)}  # a column's place in a row
_NUMBER_COLUMNS = tuple(i for i, c in enumerate(COLUMNS) if c.kind in ("integer", "area", "amount"))
_MONEY_COLUMNS = tuple(i for i, c in enumerate(COLUMNS) if c.unit == "万元")


@dataclass(frozen=True)
class _Habit:
    """How one clerk writes a file; a township's habit changes when its clerk does."""

    file_format: str  # xlsx | gbk | utf-8-sig | utf-8
    area_unit: str  # 亩 | 公顷 | 平方米
    title_row: bool
    total_row: bool
    month_style: str  # dash: 2024-03 | chinese: 2024年3月 | date: an Excel date cell
    thousands: tuple[int, ...]  # the columns written with thousands separators, 1,234.50 (CSV only)
    instructions_sheet: bool  # a 填报说明 sheet before 月度进展 (.xlsx only)
    pinyin_name: bool
    full_width_brackets: bool  # 累计治理面积（公顷）
    clerk: tuple[str, str]  # reporter, phone
    lists_patches: bool = False  # fills the optional 已完成图斑编号 from the GIS tool


_ZHANGBAN_HANDOVER = date(2025, 7, 1)


def _habit(township: str, month: date) -> _Habit:
    clerk = _REPORTERS[township]
    plain = _Habit("xlsx", "亩", False, False, "dash", (), False, False, False, clerk)
    if township == "百崎乡":  # an old WPS install that saves CSV as GBK, with the table's title above it
        return replace(plain, file_format="gbk", title_row=True, total_row=True)
    if township == "东园镇":  # a workbook kept in hectares, with a merged title row
        return replace(
            plain, area_unit="公顷", title_row=True, month_style="chinese", full_width_brackets=True
        )
    if township == "洛阳镇":  # Excel's "CSV UTF-8" export, with a 合计 row and formatted money
        return replace(plain, file_format="utf-8-sig", total_row=True, thousands=_MONEY_COLUMNS)
    if month < _ZHANGBAN_HANDOVER:  # 张坂镇: the district's workbook with its instructions sheet
        return replace(plain, instructions_sheet=True, month_style="date")
    # 张坂镇's new clerk exports plain UTF-8 CSV from a GIS tool that measures in square metres.
    return replace(
        plain,
        file_format="utf-8",
        area_unit="平方米",
        thousands=_NUMBER_COLUMNS,
        pinyin_name=True,
        clerk=_ZHANGBAN_NEW_CLERK,
        lists_patches=True,
    )


def _written_name(project: ProjectRef, month: date) -> str:
    """The project name as the township's clerk types it, not always as the notice prints it."""
    name = project.name
    township = project.township_name
    if township == "百崎乡" and "莲埭、下埭" in name:
        return "百崎莲埭下埭村项目"
    if township == "洛阳镇":
        return name.replace("洛阳镇", "洛阳", 1)
    if township == "张坂镇" and month < _ZHANGBAN_HANDOVER:
        return name.replace("菘山", "崧山")  # the clerk writes 崧 for both of 崧山村's projects
    if township == "张坂镇":
        return name.replace("崧山", "菘山").replace("废弃矿山生态治理项目", "项目")
    return name


def _headers(habit: _Habit) -> list[str]:
    headers = [f"{c.label}({habit.area_unit})" if c.kind == "area" else c.header for c in COLUMNS]
    if habit.full_width_brackets:
        return [header.replace("(", "（").replace(")", "）") for header in headers]
    return headers


def _in_unit(mu: Decimal, unit: str) -> Decimal:
    if unit == "公顷":
        return (mu / _MU_PER_HECTARE).quantize(Decimal("0.0001"))
    if unit == "平方米":
        return (mu * _SQUARE_METRES_PER_MU).quantize(Decimal("0.01"))
    return mu


def _month_cell(month: date, style: str) -> str | date:
    if style == "date":
        return month
    return f"{month.year}年{month.month}月" if style == "chinese" else f"{month:%Y-%m}"


Cell = str | int | Decimal | date | None


def _row(report: _Report, habit: _Habit) -> list[Cell]:
    areas = [_in_unit(value, habit.area_unit) for value in (report.area, *report.land)]
    reporter, phone = habit.clerk
    return [
        _month_cell(report.month, habit.month_style),
        report.project.township_name,
        _written_name(report.project, report.month),
        report.patches,
        *areas,
        report.stage,
        report.invested,
        *report.funds,
        report.waste_rock,
        report.supervisor,
        report.accepted_on,
        report.note,
        _completed_patches(report) if habit.lists_patches else None,
        reporter,
        phone,
    ]


def _completed_patches(report: _Report) -> str | None:
    """The codes of the patches done so far, as the sample patch layer (regreen.patches.sample) names them."""
    codes = [f"{report.project.project_code}-{number:03d}" for number in range(1, report.patches + 1)]
    return "、".join(codes) or None


def _total_row(rows: Sequence[Sequence[Cell]]) -> list[Cell]:
    total: list[Cell] = [None] * len(rows[0])
    total[0] = "合计"
    for column in _NUMBER_COLUMNS:
        summed = sum((Decimal(str(row[column])) for row in rows), Decimal(0))
        total[column] = int(summed) if column == _AT["patches_done"] else summed
    return total


def _title(township: str, months: Sequence[date]) -> str:
    first, last = months[0], months[-1]
    period = f"{first.year}年{first.month}月" + (f"至{last.month}月" if last != first else "")
    return f"{township}废弃矿山生态修复项目月度进展表（{period}）"


# --- files ----------------------------------------------------------------------------------------


def _csv_text(cell: Cell, column: int, habit: _Habit) -> str:
    if cell is None:
        return ""
    if isinstance(cell, Decimal) and column in habit.thousands:
        return f"{cell:,}"
    if isinstance(cell, date):
        return cell.isoformat()
    return str(cell)


def _csv_bytes(title: str | None, rows: Sequence[Sequence[Cell]], habit: _Habit) -> bytes:
    text = io.StringIO()
    # Excel writes CRLF and pads every line, the title's too, to the table's width.
    writer = csv.writer(text, lineterminator="\r\n")
    width = len(rows[0])
    if title is not None:
        writer.writerow([title] + [""] * (width - 1))
    for row in rows:
        writer.writerow([_csv_text(cell, column, habit) for column, cell in enumerate(row)])
    return text.getvalue().encode(habit.file_format)


_INSTRUCTIONS = (
    "填报说明",
    "1. 每月5日前报送上月进展，数据为截至月末的累计数。",
    "2. 面积单位为亩，资金单位为万元，废石处置量单位为万立方米。",
    "3. 项目阶段填写：方案编制、方案评审、已下达、施工中、已完工、已验收。",
    f"4. 本文件为{SAMPLE_NOTE}，仅供演示。",
)


def _xlsx_bytes(title: str | None, rows: Sequence[Sequence[Cell]], habit: _Habit, arrival: datetime) -> bytes:
    # Imported here: `regreen ingest` imports this module for its constants, and openpyxl costs it 0.1 s.
    from openpyxl import Workbook
    from openpyxl.writer.excel import ExcelWriter

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Sheet1"
    if habit.instructions_sheet:
        sheet.title = "填报说明"
        for line in _INSTRUCTIONS:
            sheet.append([line])
        sheet = workbook.create_sheet("月度进展")
    if title is not None:
        sheet.append([title])
        sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(rows[0]))
    for row in rows:
        sheet.append(list(row))
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, date):
                cell.number_format = "yyyy-mm" if cell.column == 1 else "yyyy-mm-dd"
    # A workbook records when it was saved, in its properties and in every zip entry; pin both to the
    # arrival so that the same seed gives the same bytes.
    saved = arrival.astimezone(UTC).replace(tzinfo=None)
    workbook.properties.creator = SAMPLE_NOTE
    workbook.properties.created = saved
    workbook.properties.modified = saved
    unpinned = io.BytesIO()
    with zipfile.ZipFile(unpinned, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(workbook, archive).save()
    pinned = io.BytesIO()
    stamp = arrival.timetuple()[:6]
    with zipfile.ZipFile(unpinned) as source, zipfile.ZipFile(pinned, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            info = zipfile.ZipInfo(entry.filename, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(info, source.read(entry.filename))
    return pinned.getvalue()


@dataclass(frozen=True)
class _File:
    name: str
    arrival: datetime
    content: bytes


def _arrival(seed: int, township: str, last_month: date, today: date) -> datetime:
    """Usually in the first five days of the next month, now and then a week or two late."""
    rng = _rng(seed, "arrival", township, last_month)
    day = rng.randint(8, 15) if rng.random() < 0.1 else rng.randint(1, 5)
    clock = time(8, 30) if day > 28 else time(8 + rng.randint(0, 8), rng.randint(0, 59))
    arrival = datetime.combine(_add_months(last_month, 1).replace(day=day), clock, CHINA_TZ)
    # The current month's report cannot have arrived after today: it came in early, today.
    return min(arrival, datetime.combine(today, time(9, 0), CHINA_TZ))


def _file_stem(habit: _Habit, township: str, months: Sequence[date]) -> str:
    if habit.pinyin_name:
        return f"sample-{_PINYIN[township]}-{months[0]:%Y-%m}" + (
            f"-{months[-1]:%m}" if len(months) > 1 else ""
        )
    period = f"{months[0]:%Y-%m}" + (f"至{months[-1]:%m}" if len(months) > 1 else "")
    return f"示例-{township}-{period}-月度进展"


@dataclass(frozen=True)
class _Layout:
    """How one file is laid out: the clerk's habit, the title line and whether a 合计 row closes it."""

    habit: _Habit
    title: str | None
    with_total: bool

    def render(
        self, rows: list[list[Cell]], saved: datetime, summed: list[list[Cell]] | None = None
    ) -> bytes:
        """The file's bytes; the 合计 row adds up `summed` (default: `rows`)."""
        total = [_total_row(rows if summed is None else summed)] if self.with_total else []
        table = [_headers(self.habit), *rows, *total]
        if self.habit.file_format == "xlsx":
            return _xlsx_bytes(self.title, table, self.habit, saved)
        return _csv_bytes(self.title, table, self.habit)


def _groups(township: str, months: Sequence[date]) -> list[list[date]]:
    """One file per month, except where the clerk sent two months together."""
    grouped: list[list[date]] = []
    for month in months:
        previous = grouped[-1] if grouped else None
        if (
            previous is not None
            and len(previous) == 1
            and (township, previous[0]) in _TWO_MONTH_FILES
            and month == _add_months(previous[0], 1)
        ):
            previous.append(month)
        else:
            grouped.append([month])
    return grouped


def _stale_line(reports: Sequence[_Report], courses: dict[str, _Course], seed: int) -> tuple[int, _Report]:
    """The line a hurried clerk forgets to update: the one that moved most since last month."""
    moved = []
    for index, report in enumerate(reports):
        course = courses[report.project.project_code]
        if report.stage == "施工中" and report.month > course.build:
            previous = _report(course, _add_months(report.month, -1), seed)
            moved.append(
                (report.area - previous.area, index, replace(previous, month=report.month, note=report.note))
            )
    _, index, stale = max(moved, key=lambda item: (item[0], -item[1]))
    return index, stale


def _township_files(
    township: str, reports: dict[date, list[_Report]], courses: dict[str, _Course], seed: int, today: date
) -> list[_File]:
    files = []
    for group in _groups(township, sorted(reports)):
        habit = _habit(township, group[0])
        arrival = _arrival(seed, township, group[-1], today)
        suffix = ".xlsx" if habit.file_format == "xlsx" else ".csv"
        stem = _file_stem(habit, township, group)
        title = _title(township, group) if habit.title_row else None
        # Nobody adds up two months' cumulative figures, so a two-month file has no 合计 row.
        layout = _Layout(habit, title, with_total=habit.total_row and len(group) == 1)
        render = layout.render

        rows = [_row(report, habit) for month in group for report in reports[month]]
        key = (township, group[0])
        if key == _APPROXIMATE_VALUE:
            slipped = [list(row) for row in rows]
            target = next(row for row in slipped if row[_AT["stage"]] == "施工中")
            target[_AT["area_done_mu"]] = f"约{target[_AT['area_done_mu']]:.0f}"
            files.append(_File(stem + suffix, arrival, render(slipped, arrival, summed=rows)))
            resent = arrival + timedelta(days=1, hours=2)
            files.append(_File(stem + "-重报" + suffix, resent, render(rows, resent)))
        elif key == _UNKNOWN_PROJECT:
            extra = list(rows[-1])
            for key, column in zip(_AT, COLUMNS, strict=True):
                if column.kind in ("integer", "area", "amount"):
                    extra[_AT[key]] = 0 if column.kind == "integer" else Decimal("0.0")
            extra[_AT["project_name"]] = _UNKNOWN_PROJECT_NAME
            extra[_AT["stage"]] = "方案编制"
            extra[_AT["supervisor"]] = extra[_AT["accepted_on"]] = None
            extra[_AT["notes"]] = SAMPLE_NOTE + "；新发现图斑，申请纳入计划"
            files.append(_File(stem + suffix, arrival, render([*rows, extra], arrival)))
            resent = arrival + timedelta(days=1, hours=3)
            files.append(_File(stem + "-重报" + suffix, resent, render(rows, resent)))
        elif key == _RESTATED:
            index, stale = _stale_line(reports[group[0]], courses, seed)
            first = [*rows[:index], _row(stale, habit), *rows[index + 1 :]]
            files.append(_File(stem + suffix, arrival, render(first, arrival)))
            corrected = arrival + timedelta(days=7)
            files.append(_File(stem + "（更正）" + suffix, corrected, render(rows, corrected)))
        elif key == _SENT_TWICE:
            content = render(rows, arrival)
            files.append(_File(stem + suffix, arrival, content))
            files.append(_File(stem + "(1)" + suffix, arrival + timedelta(days=1), content))
        elif key == _FULL_WIDTH_DIGITS:
            patches = _AT["patches_done"]
            typed = [
                [*row[:patches], str(row[patches]).translate(_FULL_WIDTH), *row[patches + 1 :]]
                for row in rows
            ]
            files.append(_File(stem + suffix, arrival, render(typed, arrival, summed=rows)))
        else:
            files.append(_File(stem + suffix, arrival, render(rows, arrival)))
    return files


def _anomaly(reference: PlanReference, seed: int) -> ProjectRef:
    """The one project whose waste rock per mu restored is far beyond what restoration needs."""
    second_year = min(p.plan_year for p in reference.projects) + 1
    candidates = [p for p in reference.projects if p.plan_year == second_year] or list(reference.projects)
    return _rng(seed, "anomaly").choice(sorted(candidates, key=lambda p: p.project_code))


def write_sample(data_dir: DataDir, reference: PlanReference, seed: int, today: date) -> list[Path]:
    """Write the sample inbox from the month after the notice to `today`'s month; returns the files
    written, in arrival order."""
    anomaly = _anomaly(reference, seed)
    others = sorted((p for p in reference.projects if p != anomaly), key=lambda p: p.project_code)
    late = _rng(seed, "late").sample(others, k=min(_LATE_PROJECTS, len(others)))
    first_month = _add_months(reference.issue_month, 1)
    courses = {
        p.project_code: _plan_course(p, seed, first_month, p == anomaly, p in late, today)
        for p in reference.projects
    }
    last_month = today.replace(day=1)
    files: list[_File] = []
    for township in reference.townships:
        reports: dict[date, list[_Report]] = {}
        month = first_month
        while month <= last_month:
            listed = [
                _report(course, month, seed)
                for code, course in sorted(courses.items())
                if course.project.township_name == township and _reported(course, month)
            ]
            if listed and (township, month) not in _MISSING_MONTHS:
                reports[month] = listed
            month = _add_months(month, 1)
        files.extend(_township_files(township, reports, courses, seed, today))
    data_dir.inbox.mkdir(parents=True, exist_ok=True)
    written = []
    for file in sorted(files, key=lambda f: (f.arrival, f.name)):
        # Written beside, dated, then renamed into place: a nightly running meanwhile sees the whole file
        # with its arrival time, or nothing (see the ingest's settle rule).
        path = data_dir.inbox / file.name
        temp = data_dir.inbox / f".{file.name}.partial"
        temp.write_bytes(file.content)
        # Dated before today began (this month's report "arrived" this morning, which may not have come yet
        # where the server is): a file dated in the future would stay unsettled and out of this night, and
        # one dated "now" would arrive anew with every `regreen sample`.
        latest = datetime.combine(today, time(0), CHINA_TZ) - timedelta(hours=1)
        arrived = min(file.arrival, latest, datetime.now(UTC) - timedelta(hours=1))
        stamp = int(arrived.timestamp()) * 1_000_000_000
        os.utime(temp, ns=(stamp, stamp))
        temp.replace(path)
        written.append(path)
    return written
