"""Validate a monthly progress submission against the contract in docs/submission-format.md.

Every rule runs over whole columns (numpy arrays, one per column, aligned with the rows' numbers):
numbers go through pandas' C parser first and only the cells it cannot read are looked at again; text,
months, townships, projects and stages are worked out once per distinct value and mapped back. Python
runs per row only to build an Issue for a row that broke a rule. Fixed costs per file are kept small
too, since townships send many small files: whatever depends only on the plan is worked out once per
PlanReference (_plan), the numbers of all a file's columns go through the parser together, and each
column is factorised once. A file with any error is rejected whole; warnings never change a value.

The reporter's name and phone are read into `FileReport.rows` (the ingest lands them) but no rule looks
at them; a name or phone written elsewhere (a footer line under the table) can still be a cell an Issue
quotes, so every Issue kept is masked (personal.py) before it reaches a report, JSON, the log or the
warehouse. A report keeps at most `max_issues` issues one by one (the [submissions] setting); the rest
are counted in one summary issue, so that a file of a million bad rows gives a report of a few pages.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from numbers import Real
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from regreen.config import SETTINGS, default_config
from regreen.log import logger
from regreen.submissions.columns import (
    ACCEPTED,
    AREA_UNIT_FACTORS,
    COLUMNS_BY_KEY,
    FIGURE_UNITS,
    LAND_PART_KEYS,
    NUMERIC_KEYS,
    REQUIRED_KEYS,
    ROW_FRAME_COLUMNS,
    STAGE_ALIASES,
    STAGES,
    SUPERVISED_FROM,
    HeaderMatch,
    figure_unit,
    fold,
    is_reference_header,
    match_header,
)
from regreen.submissions.history import History, month_from_ordinal
from regreen.submissions.landing import PERSONAL_COLUMNS
from regreen.submissions.names import display_name
from regreen.submissions.personal import mask_all, mask_personal
from regreen.submissions.reader import RawTable, ReadLimits, SubmissionReadError, read_table
from regreen.submissions.reference import PlanReference, ProjectRef
from regreen.submissions.sample import CHINA_TZ

Severity = Literal["error", "warning"]

LAND_PARTS_TOLERANCE_MU = 0.5  # forest + farmland + grassland may exceed the total by rounding, up to this
TOTAL_TOLERANCE = 0.01  # a 合计 cell is usually rounded to two decimals
# 汇总: the label Excel (zh-CN) gives a table's total row.
TOTAL_LABELS = frozenset({"合计", "总计", "合計", "總計", "汇总", "匯總", "彙總", "total"})
# How the sign-off lines under a report's table open (its unit and seal, who filled and checked it, when).
SIGN_OFF_LABELS = (
    "填报单位", "填表单位", "报送单位", "单位", "填报人", "填表人", "制表人", "制表", "审核人", "审核",
    "负责人", "单位负责人", "分管领导", "联系人", "联系电话", "填报日期", "填表日期", "报送日期", "日期",
)  # fmt: skip
# Why a date written m/d/yy is not read, and what to write instead ({example}).
_US_SHORT_DATE_ZH = (
    "这是美式短日期（月/日/两位年份，如网上业务系统用 SheetJS 导出 CSV 时把日期写成 3/1/24），年份不全、月和日的次序"
    "也无法确定，未读取；请写成 {example} 的形式"
)
_US_SHORT_DATE_EN = (
    "a US short date (month/day/two-digit year, as a web system exporting CSV with SheetJS writes a date: "
    "3/1/24), whose year is cut short and whose order of month and day cannot be told; write it like {example}"
)
RENDER_LIMIT = 100  # issues listed per section by render(); the JSON report lists all
MORE_ISSUES = "more_issues"  # the code of the summary issue standing for those not kept
ACCEPTED_INDEX = STAGES.index(ACCEPTED)
COMPLETED_INDEX = STAGES.index("已完工")
_EXCEL_EPOCH = date(1899, 12, 30)  # Excel's day 0 in the 1900 date system (it counts 1900-02-29)
_MAC_EPOCH = date(1904, 1, 1)  # day 0 in the 1904 date system (a workbook's option, Excel for Mac's)
_SERIAL_RANGE = (1, 2958465)  # Excel's dates 1900-01-01 .. 9999-12-31
_BEIJING_MIDNIGHT_IN_UTC = timedelta(hours=16)  # of the day before: China is at UTC+8 all year
_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[+-]?\.\d+")
# A figure with a unit written after it: 150亩, 3 个, 100933.33平方米, 1,500 m2 (NFKC-folded).
_FIGURE_AND_UNIT = re.compile(rf"(?P<figure>{_NUMBER.pattern})\s*(?P<unit>[^\d\s.,+-]\S*)")
# 2024-03, 2024/3, 2024.03, 2024年3月, 2024年03月份, and a year of two digits before 年 (24年3月).
_YEAR_MONTH = re.compile(r"(\d{4}|\d{2}(?=\s*年))\s*[-/.年]\s*(\d{1,2})\s*(?:月份?)?")
# January as typed, or October as a cell of General format shows 2024.10 (and Excel saves it to a CSV).
_JANUARY_OR_OCTOBER = re.compile(r"\d{4}\.1")
_YEAR_MONTH_DAY = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:\s*[T ]?\s*\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
)
_COMPACT_MONTH = re.compile(r"(\d{4})(\d{2})")
# A date and time with its zone (ISO 8601), as a web system exports a JS Date: 2024-02-29T16:00:00.000Z.
_ZONED = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)")
# m/d/yy: a date cell as a program writes it into a CSV in its cell's format (SheetJS's default, 3/1/24).
_US_SHORT_DATE = re.compile(r"\d{1,2}/\d{1,2}/\d{2}")
_COMPACT_DAY = re.compile(r"(\d{4})(\d{2})(\d{2})")
_SERIAL = re.compile(r"\d{1,7}(?:\.\d+)?")
# What a form's figure cell holds for "none" or "not applicable" (NFKC-folded, lower case): read as blank.
_PLACEHOLDERS = frozenset({"-", "--", "—", "——", "–", "/", "\\", "无", "暂无", "n/a"})

# No figure of a township's project comes near this: 10⁹ mu, 万元, m³ or patches.
MAX_FIGURE = 1e9
DEFAULT_TOLERANCE: float = SETTINGS["submissions"]["area_over_plan_tolerance"].default


@dataclass
class Issue:
    row: int | None  # the row (line) number the clerk sees; None for the file as a whole
    column: str | None  # the header as written (the canonical header when the column is missing)
    value: str | None  # the cell as written
    severity: Severity
    code: str
    message_zh: str
    message_en: str
    file: Path
    sheet: str | None

    @property
    def message(self) -> str:
        return f"{self.message_zh} / {self.message_en}"

    def to_json_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "value": self.value, "message": self.message}

    def describe(self) -> str:
        """One line naming where the problem is and what it is, Chinese first."""
        zh, en = [], []
        if self.row is not None:
            zh.append(f"第 {self.row} 行")
            en.append(f"row {self.row}")
        if self.column is not None:
            zh.append(f"「{self.column}」")
            en.append(f"column {self.column}")
        if self.value is not None:
            zh.append(f"值“{self.value}”")
            en.append(f"value {self.value!r}")
        where_zh = " ".join(zh) or "文件"
        where_en = ", ".join(en) or "file"
        return f"{where_zh}：{self.message_zh} / {where_en}: {self.message_en}"


def _empty_rows() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=object) for name in ROW_FRAME_COLUMNS})


def _no_columns() -> dict[str, np.ndarray]:
    return {name: np.empty(0, dtype=object) for name in ROW_FRAME_COLUMNS}


def rows_frame(columns: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """The frame of FileReport.columns (or of several files' columns put end to end): patches_done as
    Int64, the other columns as pandas infers them."""
    if not len(columns["row_number"]):
        return _empty_rows()
    patches = pd.array(columns["patches_done"], dtype="Int64")
    return pd.DataFrame(
        {name: patches if name == "patches_done" else columns[name] for name in ROW_FRAME_COLUMNS}
    )


@dataclass
class FileReport:
    file: Path
    status: Literal["accepted", "rejected"]
    sheet: str | None
    rows_read: int  # data rows: the title, header, 合计 and empty rows excluded
    # One array per column of `rows` (ROW_FRAME_COLUMNS), one entry per data row; patches_done float64
    # (NaN where missing). A DataFrame is built only when `rows` is asked for: the ingest puts a batch's
    # files' columns end to end and builds one frame a batch, which costs a file less than a frame each.
    columns: dict[str, np.ndarray]
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    # Issues found beyond the max_issues kept one by one (one summary issue among `errors` or `warnings`
    # stands for them).
    errors_omitted: int = 0
    warnings_omitted: int = 0

    @functools.cached_property
    def rows(self) -> pd.DataFrame:
        """One row per data row: the landing columns of raw.submission_rows except file_id, normalised
        (report_month the 1st of the month, canonical township and stage, project_code resolved, areas in
        亩, patches_done Int64, other figures float64). A cell that broke a rule is missing."""
        return rows_frame(self.columns)

    @property
    def row_count(self) -> int:
        """Rows in `rows`."""
        return len(self.columns["row_number"])

    @property
    def error_count(self) -> int:
        """Errors found, the omitted ones included (the summary issue is not one of them)."""
        return sum(i.code != MORE_ISSUES for i in self.errors) + self.errors_omitted

    @property
    def warning_count(self) -> int:
        return sum(i.code != MORE_ISSUES for i in self.warnings) + self.warnings_omitted

    def to_json_dict(self) -> dict:
        return {
            "file": display_name(str(self.file)),
            "status": self.status,
            "rows": self.rows_read,
            "error_count": self.error_count,
            "warning_count": self.warning_count,
            "errors": [issue.to_json_dict() for issue in self.errors],
            "warnings": [issue.to_json_dict() for issue in self.warnings],
        }

    def render(self) -> str:
        """The report a township clerk reads: verdict, then each error and warning on its own line."""
        verdict = (
            "通过 / ACCEPTED"
            if self.status == "accepted"
            else "拒收，请改正后重新提交 / REJECTED, fix and resubmit"
        )
        name = display_name(self.file.name)
        where = f"{name}（工作表 {self.sheet}）" if self.sheet else name
        lines = [
            f"{where}：{verdict}",
            f"  读取 {self.rows_read} 行数据，{self.error_count} 个错误，{self.warning_count} 个提醒 / "
            f"{self.rows_read} data rows read, {self.error_count} errors, {self.warning_count} warnings",
        ]
        for title, issues in (("错误 / Errors", self.errors), ("提醒 / Warnings", self.warnings)):
            if not issues:
                continue
            lines.append(f"  {title}:")
            lines.extend(f"    - {issue.describe()}" for issue in issues[:RENDER_LIMIT])
            if len(issues) > RENDER_LIMIT:
                more = len(issues) - RENDER_LIMIT
                lines.append(f"    …… 另有 {more} 条，完整列表见 --json / … and {more} more, see --json")
        return "\n".join(lines)


# --- per distinct value --------------------------------------------------------------------------------


class _Distinct:
    """A column's distinct values, so Python runs once per distinct value rather than once per row.
    Subsets share what was worked out per value (its text), so that each is worked out once per file."""

    def __init__(self, codes: np.ndarray, values: Sequence[object], texts: list | None = None) -> None:
        self.codes, self.values = codes, values
        self._texts = [] if texts is None else texts  # [the values' texts], once worked out

    @classmethod
    def of(cls, column: np.ndarray) -> _Distinct:
        return cls(*pd.factorize(column))

    def subset(self, rows: np.ndarray | slice) -> _Distinct:
        """The same distinct values, for the rows `rows` selects (a mask or indices) only."""
        return _Distinct(self.codes[rows], self.values, self._texts)

    @property
    def texts(self) -> list[str | None]:
        """cell_text of each distinct value."""
        if not self._texts:
            values = self.values
            if pd.api.types.infer_dtype(values, skipna=False) == "string":
                self._texts.append([value.strip() or None for value in values])
            else:
                self._texts.append([cell_text(value) for value in values])
        return self._texts[0]

    def text(self) -> np.ndarray:
        """Each row's cell_text (None where the cell is missing)."""
        return self.spread(self.texts)

    def written(self) -> np.ndarray:
        """Where a row's cell is written (not blank)."""
        return self.spread([text is not None for text in self.texts], False, bool)

    def map(
        self, func: Callable[[object], object], missing: object = None, dtype: object = object
    ) -> np.ndarray:
        return self.spread([func(value) for value in self.values], missing, dtype)

    def spread(
        self, per_value: Sequence[object], missing: object = None, dtype: object = object
    ) -> np.ndarray:
        """Each row's entry of `per_value` (one per distinct value), `missing` where the cell is missing."""
        return _with_missing(per_value, missing, dtype)[self.codes]  # a missing cell's code is -1


def _with_missing(values: Sequence[object], missing: object = None, dtype: object = object) -> np.ndarray:
    """`values` and one more slot, `missing`, for an index of -1."""
    return np.fromiter(itertools.chain(values, (missing,)), dtype=dtype, count=len(values) + 1)


class _Plan:
    """What checks need of a PlanReference, built once per reference (see _plan) rather than per file;
    name resolutions are remembered as they are met, since every file repeats the same few names."""

    def __init__(self, reference: PlanReference) -> None:
        self.reference = reference
        projects = reference.projects
        self.codes = _with_missing([p.project_code for p in projects])
        self.patches = _with_missing([p.patches_planned for p in projects], np.nan, np.float64)
        self.area = _with_missing([float(p.area_planned_mu) for p in projects], np.nan, np.float64)
        self.township_names = _with_missing(reference.townships)
        self._township_index = {name: position for position, name in enumerate(reference.townships)}
        self.project_township = np.array(
            [self._township_index[p.township_name] for p in projects], dtype=np.int64
        )
        self.plan_year = np.array([p.plan_year for p in projects], dtype=np.int64)
        # The names as printed in the plan, which a project column mostly repeats: none is a 合计 label.
        # Each name is folded once per reference (PlanReference.folded_names), not once per use.
        names = reference.folded_names
        self.plain_names = frozenset(
            p.name for p, name in zip(projects, names, strict=True) if not _is_folded_total_label(name)
        )
        # Each printed name that is the only one of its spelling in the plan and, folded, in its township:
        # written in that township, it resolves to its project (PlanReference.resolve_project).
        keys = list(zip((p.township_name for p in projects), names, strict=True))
        folded = Counter(keys)
        printed = Counter(p.name for p in projects)
        unique = [i for i, p in enumerate(projects) if printed[p.name] == 1 and folded[keys[i]] == 1]
        self._printed = pd.Index([projects[i].name for i in unique], dtype=object)
        self._printed_at = np.array(unique, dtype=np.int64)
        self._position = {p.project_code: index for index, p in enumerate(projects)}
        self._townships: dict[str, int] = {}
        self._projects: dict[tuple[str | None, str], tuple[str | None, str, int]] = {}

    def printed_positions(self, names: Sequence[str | None]) -> np.ndarray:
        """For each name, the index in reference.projects of the project printed so (see _printed), or -1."""
        found = self._printed.get_indexer(pd.Index(names, dtype=object))
        return np.where(
            found >= 0, self._printed_at[np.maximum(found, 0)] if len(self._printed_at) else -1, -1
        )

    def township(self, text: str | None) -> int:
        """The index in reference.townships of the township `text` names, or -1."""
        if text is None:
            return -1
        found = self._townships.get(text)
        if found is None:
            canonical = self.reference.resolve_township(text)
            found = self._townships[text] = self._township_index.get(canonical or "", -1)
        return found

    def project(self, township: str | None, name: str) -> tuple[str | None, str, int]:
        """What `name` stands for in `township`: the problem (None when it resolves), the candidates as
        listed in a message, and the project's index in reference.projects (-1 when it does not resolve)."""
        found = self._projects.get((township, name))
        if found is None:
            resolution = self.reference.resolve_project(township, name)
            index = self._position[resolution.project.project_code] if resolution.project else -1
            found = (resolution.problem, _project_list(resolution.candidates), index)
            self._projects[(township, name)] = found
        return found


@functools.lru_cache(maxsize=8)
def _plan(reference: PlanReference) -> _Plan:
    """The one _Plan of a reference: validate_file is called once per file with the same reference, and
    a PlanReference is frozen, so what is derived from it can be kept."""
    return _Plan(reference)


def prepare_checks(reference: PlanReference) -> None:
    """Work out now what the checks need of `reference` (it is kept for the files judged against it)."""
    _plan(reference)


def _parse_numbers(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The numbers of `cells` (text, or a mix; any shape), NaN when blank or unreadable, and where a cell
    was written but is not a number. Each distinct cell is parsed once: by pandas' C parser, then, for what
    it could not read (full-width digits, 1,234.5, spaces, text), by _number."""
    distinct = _Distinct.of(cells.ravel())
    values = np.asarray(pd.to_numeric(distinct.values, errors="coerce"), dtype=np.float64)
    invalid = np.zeros(len(values), dtype=bool)
    for index in np.flatnonzero(np.isnan(values)).tolist():
        value = distinct.values[index]
        number = _number(value)
        values[index] = np.nan if number is None else number
        invalid[index] = number is None and _is_written(value)
    parsed = np.append(values, np.nan)[distinct.codes], np.append(invalid, False)[distinct.codes]
    return parsed[0].reshape(cells.shape), parsed[1].reshape(cells.shape)


def cell_text(value: object) -> str | None:
    """A cell as the clerk wrote it, as text; None when blank."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else format(value, ".15g")
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _number(value: object) -> float | None:
    """A number written as text: full-width digits and thousands separators allowed; else None."""
    if not isinstance(value, str):
        return None
    text = unicodedata.normalize("NFKC", value).strip()
    return float(text.replace(",", "")) if _NUMBER.fullmatch(text) else None


def _figure_and_unit(value: object) -> tuple[float, str] | None:
    """A figure written with one of FIGURE_UNITS' units after it, and the unit by the name the columns use;
    else None."""
    if not isinstance(value, str):
        return None
    parts = _FIGURE_AND_UNIT.fullmatch(unicodedata.normalize("NFKC", value).strip())
    unit = figure_unit(parts["unit"]) if parts else None
    return (float(parts["figure"].replace(",", "")), unit) if parts and unit else None


def _figure_in(value: object, unit: str | None) -> float | None:
    """A figure written as text, alone or followed by `unit`, the unit its column is in; else None."""
    number = _number(value)
    if number is None and unit is not None and (found := _figure_and_unit(value)) and found[1] == unit:
        number = found[0]
    return number


def _serial_date(number: float, epoch: date) -> date | None:
    if not _SERIAL_RANGE[0] <= number <= _SERIAL_RANGE[1]:
        return None
    return epoch + timedelta(days=int(number))


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse_month(value: object, epoch: date = _EXCEL_EPOCH) -> date | None:
    """The month a 填报月份 cell names, as its first day: 2024-03, 2024/3, 2024年3月, 202403, an Excel
    date cell or serial number (counted from `epoch`), or a full date; None when it names no month."""
    if isinstance(value, datetime | date):
        return date(value.year, value.month, 1)
    if isinstance(value, Real) and not isinstance(value, bool):
        number = float(value)
        if number.is_integer() and 190001 <= number <= 299912:
            return _safe_date(int(number) // 100, int(number) % 100, 1)
        if 1900 < number < 3000 and not number.is_integer():  # 2024.03 typed in a cell: no date of 1905
            return parse_month(cell_text(number), epoch)
        serial = _serial_date(number, epoch)
        return serial.replace(day=1) if serial else None
    if not isinstance(value, str):
        return None
    text = unicodedata.normalize("NFKC", value).strip()
    if _JANUARY_OR_OCTOBER.fullmatch(text):
        return None
    if parts := _YEAR_MONTH.fullmatch(text) or _COMPACT_MONTH.fullmatch(text):
        year = int(parts[1])
        return _safe_date(year + 2000 if year < 100 else year, int(parts[2]), 1)
    if (parts := _YEAR_MONTH_DAY.fullmatch(text)) and _safe_date(int(parts[1]), int(parts[2]), int(parts[3])):
        return date(int(parts[1]), int(parts[2]), 1)
    if day := _zoned_day(text):
        return day.replace(day=1)
    if _SERIAL.fullmatch(text):
        return parse_month(float(text), epoch)
    return None


def _zoned_day(text: str) -> date | None:
    """The day in Beijing of a date and time written with its zone (2024-02-29T16:00:00.000Z is 2024-03-01
    there: a JS Date made in China for midnight, written in UTC); None for any other text."""
    if not _ZONED.fullmatch(text):
        return None
    try:
        return datetime.fromisoformat(text).astimezone(CHINA_TZ).date()
    except ValueError:  # no such day or time, or an offset beyond a day
        return None


def beijing_midnight_in_utc(value: object) -> date | None:
    """The day a date cell meant when it holds 16:00 (to the second): midnight of the next day in Beijing
    time, written in UTC. A web system's export with ExcelJS turns a JS Date into a serial number in UTC,
    so a date made in a browser or server in China (new Date(2024, 2, 1)) is stored, and shown by Excel, a
    day early. None for any other cell."""
    if not isinstance(value, datetime):
        return None
    since_midnight = value - datetime.combine(value.date(), datetime.min.time())
    if abs(since_midnight - _BEIJING_MIDNIGHT_IN_UTC) >= timedelta(seconds=1):
        return None
    return value.date() + timedelta(days=1)


def us_short_date(text: str | None) -> bool:
    """Whether a cell's text is a date written m/d/yy (3/1/24), as a program exports a date cell to CSV."""
    return text is not None and _US_SHORT_DATE.fullmatch(text) is not None


def january_or_october(value: object) -> bool:
    """Whether a 填报月份 cell reads 2024.1, which parse_month cannot know: January, or October."""
    text = cell_text(value)
    return text is not None and _JANUARY_OR_OCTOBER.fullmatch(unicodedata.normalize("NFKC", text)) is not None


def parse_date(value: object, epoch: date = _EXCEL_EPOCH) -> date | None:
    """The day a 验收日期 cell names: 2024-03-15, 2024/3/15, 2024年3月15日, 20240315, an Excel date
    cell or serial number (counted from `epoch`); None when it names no day."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, Real) and not isinstance(value, bool):
        number = float(value)
        if number.is_integer() and 19000101 <= number <= 29991231:
            whole = int(number)
            return _safe_date(whole // 10000, whole // 100 % 100, whole % 100)
        return _serial_date(number, epoch)
    if not isinstance(value, str):
        return None
    text = unicodedata.normalize("NFKC", value).strip()
    if parts := _YEAR_MONTH_DAY.fullmatch(text) or _COMPACT_DAY.fullmatch(text):
        return _safe_date(int(parts[1]), int(parts[2]), int(parts[3]))
    if day := _zoned_day(text):
        return day
    if _SERIAL.fullmatch(text):
        return parse_date(float(text), epoch)
    return None


def parse_stage(value: object) -> str | None:
    text = cell_text(value)
    return None if text is None else STAGE_ALIASES.get(fold(text).lower())


def _is_total_label(text: str | None) -> bool:
    return text is not None and _is_folded_total_label(fold(text))


def _is_folded_total_label(folded: str) -> bool:
    return folded.lower().rstrip(":") in TOTAL_LABELS


def _is_sign_off(value: object) -> bool:
    """Whether a cell is a report's sign-off under its table (填报单位（盖章）：… 填报人：… 审核人：…
    填报日期：…): it opens with one of SIGN_OFF_LABELS, then a colon."""
    if not isinstance(value, str) or not (":" in value or "：" in value):  # most cells: no fold needed
        return False
    folded = fold(value).replace(" ", "")
    return any(
        folded.startswith(label) and ":" in folded[len(label) : len(label) + 5] for label in SIGN_OFF_LABELS
    )


def _figure(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".")


def _project_list(projects: Iterable[ProjectRef]) -> str:
    return "；".join(f"{p.name}（{p.township_name}，{p.project_code}）" for p in projects)


# --- validation ----------------------------------------------------------------------------------------


def _received_zh(name: str, at: datetime) -> str:
    """A file the history holds, as a message names it."""
    return f"{at:%Y-%m-%d %H:%M} 收到的“{name}”"


def _received_en(name: str, at: datetime) -> str:
    return f"{name}, received {at:%Y-%m-%d %H:%M}"


def _is_blank(value: object) -> bool:
    return cell_text(value) is None


def _is_written(value: object) -> bool:
    return cell_text(value) is not None


def _month_ordinal(month: date | None) -> int:
    return -1 if month is None else month.year * 12 + month.month - 1


def _stage_index(value: object) -> int:
    stage = parse_stage(value)
    return -1 if stage is None else STAGES.index(stage)


class _Apart(Exception):
    """Files put together (see _FileValidation's `parts`) that may not be judged together."""


class _FileValidation:
    """The checks of one file: build with the table, then call report().

    Every column is a numpy array over the data rows (self.rows holds their row numbers); references to
    the plan are indices into reference.projects / reference.townships, -1 where there is none, so that
    arrays built by _with_missing can be indexed by them directly.

    With `parts`, `table` is several files' tables end to end, in order of arrival (see
    Judge.judge_files), judged in one pass of the checks and reported one file each (reports()), as each
    would have been judged alone after the ones before it: every issue names its own file and row. Rules
    across rows pair rows of one part (duplicates, months in order, acceptance, the projects missing from a
    township's month); what a part is compared with from before it (a project's previous month, the month
    it restates, whether it was accepted) comes from the history or, as the history would hold it once they
    joined it, from the parts before it (`arrivals` names them as the history would). Rows are paired by
    project, and a row's project is always one of its township's, so parts of other townships never meet.
    Where a part could not be judged so (a row of no known township, a rejected part whose township a
    later part reports), _Apart is raised and the files are judged one at a time.
    """

    def __init__(
        self,
        table: RawTable,
        reference: PlanReference,
        today: date,
        history: History,
        tolerance: float,
        max_issues: int,
        parts: Sequence[RawTable] = (),
        arrivals: Sequence[tuple[str, datetime]] = (),
    ) -> None:
        self.table = table
        self.parts = tuple(parts) or (table,)
        self.arrivals = tuple(arrivals)  # each part's name and arrival, as History.files holds a file's
        # The part (file) of each of the table's rows, then (report) of each data row, and of each issue.
        self._part_of_row = np.repeat(
            np.arange(len(self.parts)), [len(part.row_numbers) for part in self.parts]
        )
        self.file_of = np.empty(0, dtype=np.intp)
        self.issue_parts: list[int] = []
        self.max_issues = max_issues
        self.reference = reference
        self.today = today
        self.history = history
        self.tolerance = tolerance
        self.issues: list[Issue] = []
        self.matches: dict[str, tuple[int, HeaderMatch]] = {}
        self.rows = np.empty(0, dtype=np.int64)
        self.data: np.ndarray | slice = slice(0)  # which of the table's rows are data rows
        self.raw: dict[str, np.ndarray] = {}
        self.plan = _plan(reference)
        self._columns: dict[int, _Distinct] = {}
        self._township = np.empty(0, dtype=np.int64)  # of each data row (see _check_rows)

    # issues

    def _issue(
        self,
        severity: Severity,
        code: str,
        row: int | None,
        column: str | None,
        value: str | None,
        zh: str,
        en: str,
        part: int = 0,
    ) -> None:
        self.issues.append(
            Issue(row, column, value, severity, code, zh, en, self.parts[part].path, self.table.sheet)
        )
        self.issue_parts.append(part)

    def _header(self, key: str) -> str:
        """The column's header as written, or its canonical header when the file has no such column."""
        found = self.matches.get(key)
        return found[1].written if found else COLUMNS_BY_KEY[key].header

    def _flag(
        self,
        mask: np.ndarray,
        key: str,
        code: str,
        zh: str,
        en: str,
        severity: Severity = "error",
        **context: np.ndarray,
    ) -> None:
        """One issue for each data row where `mask` holds, at column `key`, with the cell as written.

        `zh` and `en` are str.format templates whose fields are filled, row by row, from `context`.
        """
        if not mask.any():
            return
        picked = np.flatnonzero(mask)
        raw = self.raw.get(key)
        values = _Distinct.of(raw[picked]).text().tolist() if raw is not None else [None] * len(picked)
        names = list(context)
        columns = [context[name][picked].tolist() for name in names]
        fields = list(zip(*columns, strict=True)) if names else [()] * len(picked)
        # Rows often share their context (a whole file of one mistake): format each context once.
        messages: dict[tuple, tuple[str, str]] = {}
        header = self._header(key)
        parts, sheet = self.file_of[picked].tolist(), self.table.sheet
        for row, value, field_values, part in zip(
            self.rows[picked].tolist(), values, fields, parts, strict=True
        ):
            message = messages.get(field_values)
            if message is None:
                named = dict(zip(names, field_values, strict=True))
                message = messages[field_values] = (zh.format(**named), en.format(**named))
            path = self.parts[part].path
            self.issues.append(Issue(row, header, value, severity, code, *message, path, sheet))
        self.issue_parts += parts

    # the header

    def _match_headers(self) -> bool:
        """Map header positions to columns; False when the columns cannot be read."""
        row = self.table.header_row
        usable = True
        for position, written in enumerate(self.table.headers):
            if not written or is_reference_header(written):
                continue
            match = match_header(written)
            if match is None:
                self._issue(
                    "warning",
                    "unknown_column",
                    row,
                    written,
                    None,
                    "不是模板中的列，已忽略",
                    "not a column of the template; ignored",
                )
            elif match.problem_zh:
                usable = False
                self._issue(
                    "error", "bad_unit", row, written, written, match.problem_zh, match.problem_en or ""
                )
            elif match.column.key in self.matches:
                usable = False
                first = self.matches[match.column.key][1].written
                self._issue(
                    "error",
                    "duplicate_column",
                    row,
                    written,
                    None,
                    f"与“{first}”是同一列，请删去重复的列",
                    f"the same column as {first!r}; remove one of them",
                )
            else:
                self.matches[match.column.key] = (position, match)
        for key in REQUIRED_KEYS:
            if key not in self.matches:
                usable = False
                column = COLUMNS_BY_KEY[key]
                self._issue(
                    "error",
                    "missing_column",
                    row,
                    column.header,
                    None,
                    f"缺少必填列“{column.header}”（英文表头 {column.alias} 亦可）",
                    f"required column {column.header} (or {column.alias}) is missing",
                )
        return usable

    # the file

    def report(self) -> FileReport:
        """The verdict on the table (one file)."""
        [report] = self.reports()
        return report

    def reports(self) -> list[FileReport]:
        """The verdict on each of the parts, in order; raises _Apart when they may not be judged together
        (a file whose header, rows or 合计 row need a message of the file's own, or townships that meet)."""
        table = self.table
        usable = self._match_headers()
        arrays = table.columns
        row_numbers = table.row_numbers
        nothing = np.zeros(len(row_numbers), dtype=bool)
        blank = self._blank_rows(arrays) if usable else nothing
        signed = self._sign_off_rows(arrays) & ~blank if usable else nothing
        totals = self._total_rows(arrays) & ~blank & ~signed
        data = ~blank & ~totals & ~signed
        rows_read = int(data.sum())
        self._flag_unlabelled()
        together = len(self.parts) > 1
        counts = np.bincount(self._part_of_row[data], minlength=len(self.parts))
        if together and (self.issues or not usable or totals.any() or signed.any() or not counts.all()):
            raise _Apart
        for row in row_numbers[signed].tolist():
            # Named by its row only: a sign-off names the clerk and their phone, which stay in the file.
            self._issue(
                "warning",
                "sign_off_row",
                row,
                None,
                None,
                "是表格下方的落款（填报单位、填报人、日期等），不作为数据读取",
                "is the sign-off under the table (unit, who filled it in, date), not read as data",
            )
        if usable and rows_read == 0:
            self._issue(
                "error",
                "no_rows",
                None,
                None,
                None,
                "表头下没有数据行",
                "there are no data rows under the header",
            )
        if usable and rows_read:
            # Mostly every row is a data row: then the columns are taken as they are, not copied.
            self.data = slice(None) if rows_read == len(row_numbers) else data
            self.rows = row_numbers[self.data]
            self.file_of = self._part_of_row[self.data]
            self.raw = {key: arrays[position][self.data] for key, (position, _) in self.matches.items()}
            total_cells = {key: arrays[position][totals] for key, (position, _) in self.matches.items()}
            rows = self._check_rows(row_numbers[totals], total_cells)
        else:
            rows = _no_columns()
        if not together:
            return [self._part_report(table.path, rows_read, rows, self.issues)]
        self._check_rejected_apart()
        ends = np.cumsum(counts).tolist()
        # Each part's issues, in the order found: one pass over the issues, not one a part (a group of
        # small files with many warnings would cost parts × issues).
        issues_of: list[list[Issue]] = [[] for _ in self.parts]
        for issue, at in zip(self.issues, self.issue_parts, strict=True):
            issues_of[at].append(issue)
        return [
            self._part_report(
                part.path, end - start, {name: values[start:end] for name, values in rows.items()}, issues
            )
            for part, start, end, issues in zip(self.parts, [0, *ends], ends, issues_of, strict=False)
        ]

    def _check_rejected_apart(self) -> None:
        """Raise _Apart when a part is rejected and a later part reports one of its townships: that part
        was judged as if the rejected one had joined the history, which it does not."""
        rejected = {
            part
            for issue, part in zip(self.issues, self.issue_parts, strict=True)
            if issue.severity == "error"
        }
        if not rejected or rejected == {len(self.parts) - 1}:
            return
        pairs = np.unique(self.file_of * len(self.reference.townships) + self._township)
        part_of, township_of = np.divmod(pairs, len(self.reference.townships))
        for part in rejected:
            if np.isin(township_of[part_of > part], township_of[part_of == part]).any():
                raise _Apart

    def _part_report(
        self, path: Path, rows_read: int, rows: dict[str, np.ndarray], issues: list[Issue]
    ) -> FileReport:
        issues.sort(key=lambda issue: -1 if issue.row is None else issue.row)
        status: Literal["accepted", "rejected"] = (
            "rejected" if any(i.severity == "error" for i in issues) else "accepted"
        )
        logger.info("checked %s: %s, %d rows", display_name(path.name), status, rows_read)
        return _report(path, status, self.table.sheet, rows_read, rows, issues, self.max_issues)

    def _blank_rows(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        """Rows whose every cell is blank or spaces (the reader already left out the wholly empty)."""
        blank = np.ones(len(self.table.row_numbers), dtype=bool)
        for key in REQUIRED_KEYS:
            blank &= ~self._column(self.matches[key][0]).written()
        # Only rows already blank in every required column are looked at cell by cell; the template's
        # reference columns are not the clerk's and do not count.
        read = [
            column
            for column, header in zip(arrays, self.table.headers, strict=False)
            if not is_reference_header(header)
        ]
        for index in np.flatnonzero(blank):
            blank[index] = all(_is_blank(column[index]) for column in read)
        return blank

    def _label_positions(self) -> set[int]:
        """Where a row's label (合计, a sign-off) stands: the first column, the month, township or project."""
        labelled = ("report_month", "township", "project_name")
        return {0} | {self.matches[k][0] for k in labelled if k in self.matches}

    def _sign_off_rows(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        """Rows whose every cell written is a sign-off (see _is_sign_off), one of them where a 合计 label
        may stand (_label_positions)."""
        candidates = np.zeros(len(self.table.row_numbers), dtype=bool)
        for position in self._label_positions():
            distinct = self._column(position)
            candidates |= distinct.spread([_is_sign_off(value) for value in distinct.values], False, bool)
        for index in np.flatnonzero(candidates):
            cells = [column[index] for column in arrays]
            candidates[index] = all(_is_blank(cell) or _is_sign_off(cell) for cell in cells)
        return candidates

    def _total_rows(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        """The 合计 rows: a 合计/总计 label in the first column or in the month, township or project column."""
        totals = np.zeros(len(self.table.row_numbers), dtype=bool)
        for position in self._label_positions():
            distinct = self._column(position)
            plain = self.plan.plain_names
            labels = [text not in plain and _is_total_label(text) for text in distinct.texts]
            totals |= distinct.spread(labels, False, bool)
        return totals

    def _column(self, position: int) -> _Distinct:
        """The distinct values of the table's column at `position`, all rows: factorised once per file."""
        found = self._columns.get(position)
        if found is None:
            found = self._columns[position] = _Distinct.of(self.table.columns[position])
        return found

    def _flag_unlabelled(self) -> None:
        """A value with no header: in a CSV line every later value has shifted (an error); in a sheet it
        is only left unread (a warning)."""
        for row in self.table.unlabelled:
            if self.table.sheet is None:
                self._issue(
                    "error",
                    "too_many_fields",
                    row,
                    None,
                    None,
                    "此行的字段比表头多，之后的值都错了列；请检查值中是否有多余的逗号",
                    "this line has more fields than the header, so later values are in the wrong columns; "
                    "look for a stray comma in a value",
                )
            else:
                self._issue(
                    "warning",
                    "unlabelled_value",
                    row,
                    None,
                    None,
                    "此行在没有表头的列中有内容，已忽略",
                    "this row has a value in a column without a header; it was ignored",
                )

    # the rows

    def _distinct(self, key: str) -> _Distinct:
        found = self.matches.get(key)
        if found is None:
            return _Distinct(np.full(len(self.rows), -1, dtype=np.intp), ())
        return self._column(found[0]).subset(self.data)

    def _numbers(self) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """The numbers of the NUMERIC_KEYS columns, one row each, in the header's unit (NaN when blank or
        unreadable), where a cell was written but is not a number, and, by column, the unit a cell wrote
        after its figure where that is not the column's (None in the column's other rows). The columns'
        text cells are parsed together, so a file costs one pass through the parser; a figure followed by
        its column's own unit (150亩 under 累计治理面积(亩)) is read as the figure."""
        values = np.full((len(NUMERIC_KEYS), len(self.rows)), np.nan)
        invalid = np.zeros(values.shape, dtype=bool)
        units: dict[str, np.ndarray] = {}
        text = []
        for index, key in enumerate(NUMERIC_KEYS):
            raw = self.raw.get(key)
            if raw is not None and raw.dtype.kind in "fiu":
                values[index] = raw
            elif raw is not None:
                text.append(index)
        if text:
            values[text], invalid[text] = _parse_numbers(np.stack([self.raw[NUMERIC_KEYS[i]] for i in text]))
        for index in text:  # what the parser could not read is rare: cell by cell
            key = NUMERIC_KEYS[index]
            unit = self.matches[key][1].unit
            for row in np.flatnonzero(invalid[index]).tolist():
                found = _figure_and_unit(self.raw[key][row])
                if found is None:
                    continue
                if found[1] == unit:
                    values[index, row] = found[0]
                else:
                    units.setdefault(key, np.full(len(self.rows), None, dtype=object))[row] = found[1]
                invalid[index, row] = False
        infinite = np.isinf(values)
        values[infinite] = np.nan
        return values, invalid | infinite, units

    def _check_rows(
        self, total_rows: np.ndarray, total_cells: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        text = {
            key: self._distinct(key).text()
            for key in (
                "township",
                "project_name",
                "supervisor",
                "notes",
                "patches_completed",
                "reporter",
                "phone",
            )
        }
        month, month_ordinal = self._check_month()
        township = self._township = self._check_township(text["township"])
        if len(self.parts) > 1 and (township < 0).any():
            raise _Apart  # a row of no known township: which earlier rows it may meet is not known
        project = self._check_project(township, text["project_name"])
        numbers, unreadable, units = self._numbers()
        figures = self._check_figures(numbers, unreadable, units, project)
        stage = self._check_stage(text["supervisor"])
        accepted_on, accepted_ordinal = self._check_accepted_on(stage)
        stage_names = _with_missing(STAGES)[stage]
        columns = {
            "sheet": np.full(len(self.rows), self.table.sheet, dtype=object),
            "row_number": self.rows,
            "report_month": month,
            "township": self.plan.township_names[township],
            "project_name": text["project_name"],
            "project_code": self.plan.codes[project],
            **figures,
            "stage": stage_names,
            "supervisor": text["supervisor"],
            "accepted_on": accepted_on,
            "notes": text["notes"],
            "patches_completed": text["patches_completed"],
            "reporter": text["reporter"],
            "phone": text["phone"],
        }
        self._check_sequence(project, month, month_ordinal, stage, figures)
        self._check_acceptance_month(project, month, month_ordinal, stage, accepted_ordinal)
        self._check_missing_projects(township, project, month_ordinal, stage)
        self._check_totals(numbers, total_rows, total_cells)
        return {name: columns[name] for name in ROW_FRAME_COLUMNS}

    @property
    def _epoch(self) -> date:
        """The day 0 of the table's serial numbers."""
        return _MAC_EPOCH if self.table.date1904 else _EXCEL_EPOCH

    def _check_month(self) -> tuple[np.ndarray, np.ndarray]:
        """The month of each row (a date, or None) and its ordinal (year * 12 + month - 1, or -1)."""
        distinct = self._distinct("report_month")
        written = distinct.written()
        months = [parse_month(value, self._epoch) for value in distinct.values]
        # A day early changes nothing but on the 1st: then the month read is the one before.
        meant = [beijing_midnight_in_utc(value) for value in distinct.values]
        meant = [
            day if day is not None and parse_month(day) != read else None
            for day, read in zip(meant, months, strict=True)
        ]
        shifted = distinct.spread([day is not None for day in meant], False, bool)
        month = distinct.spread(months)
        ordinal = distinct.spread([_month_ordinal(m) for m in months], -1, np.int64)
        earliest, latest = self.reference.issue_month, self.today.replace(day=1)
        before = (ordinal >= 0) & (ordinal < _month_ordinal(earliest))
        after = ordinal > _month_ordinal(latest)
        self._flag(
            ~written, "report_month", "month_missing", "填报月份为必填项", "the report month is required"
        )
        ambiguous = distinct.spread([january_or_october(value) for value in distinct.values], False, bool)
        self._flag(
            ambiguous,
            "report_month",
            "month_ambiguous",
            "无法确定是 1 月还是 10 月（Excel 把 2024.10 显示为 2024.1）；请写成 2024-01 或 2024-10 的形式",
            "January or October? (Excel shows 2024.10 as 2024.1); write it like 2024-01 or 2024-10",
        )
        us_short = self._flag_us_short_dates("report_month", "month_invalid", distinct, "2024-03")
        self._flag(
            written & (ordinal < 0) & ~ambiguous & ~us_short,
            "report_month",
            "month_invalid",
            "无法识别的月份，请写成 2024-03 的形式（须含年份）",
            "not a month; write it like 2024-03 (with the year)",
        )
        self._flag(
            before,
            "report_month",
            "month_before_plan",
            f"早于方案印发月份 {earliest:%Y-%m}",
            f"before the plan was issued ({earliest:%Y-%m})",
        )
        self._flag(
            after,
            "report_month",
            "month_in_future",
            f"晚于本月（{latest:%Y-%m}），不能填报未来月份",
            f"after the current month ({latest:%Y-%m})",
        )
        self._flag_beijing_midnight("report_month", distinct, meant, "月份", "month", "%Y-%m")
        unread = before | after | shifted
        month[unread] = None
        ordinal[unread] = -1
        return month, ordinal

    def _flag_us_short_dates(self, key: str, code: str, distinct: _Distinct, example: str) -> np.ndarray:
        """Flag the cells of `key` written m/d/yy (see us_short_date) under `code`, saying to write them
        like `example`; returns where they are, which the generic message then leaves alone."""
        us_short = distinct.spread([us_short_date(text) for text in distinct.texts], False, bool)
        self._flag(
            us_short,
            key,
            code,
            _US_SHORT_DATE_ZH.format(example=example),
            _US_SHORT_DATE_EN.format(example=example),
        )
        return us_short

    def _flag_beijing_midnight(
        self,
        key: str,
        distinct: _Distinct,
        meant: Sequence[date | None],
        what_zh: str,
        what_en: str,
        form: str,
    ) -> None:
        """Flag the date cells of `key` whose distinct value holds 16:00 of the day before the day it
        `meant` (see beijing_midnight_in_utc; None where it does not). Read as written, the day (and on the
        1st, the month) would be one early; read as meant, it would not be what Excel shows the clerk."""
        self._flag(
            distinct.spread([day is not None for day in meant], False, bool),
            key,
            "date_in_utc",
            "日期带有时刻 16:00：看来是网上业务系统导出时把北京时间 {meant} 0 时按世界时（UTC）写成了前一天的 16:00"
            f"（Excel 中显示为前一天）；为免把{what_zh}读错，未读取。请确认所报的{what_zh}，把该单元格改为文字"
            "（如 {written}）后重新提交",
            "the date is at 16:00: a web system's export seems to have written midnight of {meant} in Beijing "
            "time in UTC, as 16:00 of the day before (Excel shows the day before); it was not read, lest the "
            f"{what_en} be wrong. Check the {what_en} reported, type it as text (such as {{written}}) and resubmit",
            meant=distinct.spread(meant),
            written=distinct.spread([day and day.strftime(form) for day in meant]),
        )

    def _check_township(self, written: np.ndarray) -> np.ndarray:
        """The index of each row's township in reference.townships, or -1."""
        distinct = self._distinct("township")
        township = distinct.spread([self.plan.township(text) for text in distinct.texts], -1, np.int64)
        listed = "、".join(self.reference.townships)
        missing = pd.isna(written)
        self._flag(missing, "township", "township_missing", "乡镇为必填项", "the township is required")
        self._flag(
            ~missing & (township < 0),
            "township",
            "township_unknown",
            f"不是方案中的乡镇，应为：{listed}",
            f"not a township of the plan; use one of: {listed}",
        )
        return township

    def _check_project(self, township: np.ndarray, written: np.ndarray) -> np.ndarray:
        """The index of each row's plan project in reference.projects, or -1 where the name does not
        resolve."""
        townships = self.reference.townships
        distinct = self._distinct("project_name")
        names = distinct.texts
        base = len(names) + 1
        # A name as printed in the plan, in its project's township, is that project; the other rows are
        # resolved once per distinct (township, name) pair, not per row.
        at = distinct.spread(self.plan.printed_positions(names), -1, np.int64)
        printed = (at >= 0) & (self.plan.project_township[np.maximum(at, 0)] == township)
        codes, pairs = pd.factorize(np.where(printed, -1, (township + 1) * base + distinct.codes + 1))
        resolutions = []
        for pair in pairs.tolist():
            if pair < 0:
                resolutions.append((None, "", -1))
                continue
            township_code, name_code = divmod(pair, base)
            name = names[name_code - 1] if name_code else None
            resolutions.append(
                self.plan.project(townships[township_code - 1] if township_code else None, name)
                if name is not None
                else (None, "", -1)
            )
        self._flag(
            pd.isna(written), "project_name", "project_missing", "项目名称为必填项", "the project is required"
        )
        problem = np.array([r[0] for r in resolutions], dtype=object)[codes]
        candidates = np.array([r[1] for r in resolutions], dtype=object)
        context = {
            "candidates": candidates[codes],
            "township": self.plan.township_names[township],
        }
        self._flag(
            problem == "unknown",
            "project_name",
            "project_unknown",
            "方案中没有这个项目；最接近的方案项目：{candidates}",
            "no plan project has this name; closest: {candidates}",
            **context,
        )
        self._flag(
            problem == "ambiguous",
            "project_name",
            "project_ambiguous",
            "与多个方案项目相符：{candidates}；请写完整项目名称",
            "matches several plan projects: {candidates}; write the full name",
            **context,
        )
        self._flag(
            problem == "other_township",
            "project_name",
            "project_other_township",
            "该项目属于其他乡镇：{candidates}，不属于{township}",
            "this project belongs to another township: {candidates}, not to {township}",
            **context,
        )
        return np.where(printed, at, np.array([r[2] for r in resolutions], dtype=np.int64)[codes])

    def _check_figures(
        self, numbers: np.ndarray, unreadable: np.ndarray, units: dict[str, np.ndarray], project: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Check the figures (see _numbers); returns them in canonical units (areas in 亩, rounded to 4
        decimals), a cell that broke a rule left out (NaN)."""
        negative = numbers < 0
        # Far beyond any real project, and beyond what an integer column holds: a typo, not a figure.
        too_large = numbers >= MAX_FIGURE
        for index, key in enumerate(NUMERIC_KEYS):
            placeholder = self._placeholders(key, unreadable[index])
            self._flag(
                unreadable[index] & ~placeholder,
                key,
                "number_invalid",
                "不是数字（只填数字，不加“约”等文字）",
                "not a number (figures only, no words such as 约)",
            )
            self._flag(
                placeholder,
                key,
                "number_placeholder",
                "读作未填（空白）；如果是 0，请填 0",
                "read as not given (blank); if it is zero, write 0",
                "warning",
            )
            if key in units:
                self._check_units(key, units[key])
            self._flag(negative[index], key, "number_negative", "不能为负数", "must not be negative")
            self._flag(
                too_large[index],
                key,
                "number_too_large",
                "数值过大（应小于 10 亿），请检查是否多写了位数",
                "too large (must be under one billion); check for extra digits",
            )
        factors = [self.matches[key][1].factor if key in self.matches else 1.0 for key in NUMERIC_KEYS]
        canonical = np.round(np.where(negative | too_large, np.nan, numbers) * np.array(factors)[:, None], 4)
        usable = dict(zip(NUMERIC_KEYS, canonical, strict=True))
        patches = usable["patches_done"]
        fractional = np.mod(patches, 1) > 0
        self._flag(
            fractional, "patches_done", "patches_not_integer", "图斑数应为整数", "must be a whole number"
        )
        planned_patches = self.plan.patches[project]
        self._flag(
            patches > planned_patches,
            "patches_done",
            "patches_above_plan",
            "超过方案图斑数 {planned:.0f} 个",
            "more than the {planned:.0f} patches the plan gives this project",
            planned=planned_patches,
        )
        area = usable["area_done_mu"]
        parts = np.round(sum(np.nan_to_num(usable[key]) for key in LAND_PART_KEYS), 4)
        # Only against an area that was read: a blank or unreadable area is its own problem.
        self._flag(
            parts > area + LAND_PARTS_TOLERANCE_MU,
            "area_done_mu",
            "land_parts_exceed_area",
            "林地、耕地、草地合计 {parts:.12g} 亩，超过累计治理面积 {area:.12g} 亩",
            "forest + farmland + grassland = {parts:.12g} mu, more than the area done ({area:.12g} mu)",
            parts=parts,
            area=area,
        )
        self._check_area_against_plan(area, self.plan.area[project])
        patches[fractional] = np.nan
        return usable

    def _check_area_against_plan(self, area: np.ndarray, planned: np.ndarray) -> None:
        """Above the plan within the tolerance is a warning; beyond it, almost always a unit slip (mu typed
        under a 公顷 header makes a project 15 times its plan, hectares under a 亩 header a fifteenth), so
        it is an error that names the likely cause and the figure in both units."""
        above = area > planned
        slip = area > planned * (1 + self.tolerance)
        unit = self._area_unit()
        written = area / AREA_UNIT_FACTORS[unit]
        context = {
            "area": area,
            "hectares": area / AREA_UNIT_FACTORS["公顷"],
            "planned": planned,
            "planned_hectares": planned / AREA_UNIT_FACTORS["公顷"],
            "percent": np.round((area / np.where(planned > 0, planned, np.nan) - 1) * 100),
        }
        self._flag(
            above & ~slip,
            "area_done_mu",
            "area_above_plan",
            "累计治理面积 {area:.12g} 亩，超过方案面积 {planned:.12g} 亩",
            "area done {area:.12g} mu is more than the planned {planned:.12g} mu",
            "warning",
            **context,
        )
        if unit == "公顷":
            cause_zh = "可能把亩数填在了“公顷”表头下：若所填 {written:.12g} 是亩，则为 {written:.12g} 亩（{alt:.4g} 公顷）"
            cause_en = (
                "likely mu typed under a 公顷 (hectare) header: if {written:.12g} is mu, it is {alt:.4g} ha"
            )
            alternative = written / AREA_UNIT_FACTORS["公顷"]
        else:
            cause_zh = "可能单位填错（如公顷与亩、平方米与亩混用）：请核对表头单位“{unit}”与所填数字"
            cause_en = "likely a unit slip (公顷/亩/平方米 mixed up): check the header's unit, {unit}, against the figure"
            alternative = written
        self._flag(
            slip,
            "area_done_mu",
            "area_unit_slip",
            "累计治理面积 {area:.12g} 亩（{hectares:.4g} 公顷）比方案面积 {planned:.12g} 亩（{planned_hectares:.4g} 公顷）"
            "多 {percent:.0f}%，超出容许的 " + f"{self.tolerance:.0%}；" + cause_zh,
            "area done {area:.12g} mu ({hectares:.4g} ha) is {percent:.0f}% above the planned {planned:.12g} mu "
            "({planned_hectares:.4g} ha), beyond the " + f"{self.tolerance:.0%} allowed; " + cause_en,
            **context,
            written=written,
            alt=alternative,
            unit=np.full(len(area), unit, dtype=object),
        )

    def _placeholders(self, key: str, unreadable: np.ndarray) -> np.ndarray:
        """Which of the `unreadable` cells of column `key` hold a mark for none (— / 无, _PLACEHOLDERS)."""
        found = np.zeros(len(unreadable), dtype=bool)
        for row in np.flatnonzero(unreadable).tolist():
            text = cell_text(self.raw[key][row])
            found[row] = text is not None and unicodedata.normalize("NFKC", text).lower() in _PLACEHOLDERS
        return found

    def _check_units(self, key: str, written: np.ndarray) -> None:
        """A figure written with a unit that is not its column's (see _numbers): converted in the message
        when it measures the same thing (平方米 under a 亩 header), else named."""
        named = written != None  # noqa: E711 (numpy compares element-wise)
        unit = self.matches[key][1].unit
        sizes = FIGURE_UNITS[COLUMNS_BY_KEY[key].unit]
        figure, converted = np.full(len(written), np.nan), np.full(len(written), np.nan)
        for row in np.flatnonzero(named).tolist():
            number, other = _figure_and_unit(self.raw[key][row])
            if other in sizes:
                figure[row], converted[row] = number, round(number * sizes[other] / sizes[unit], 4)
        context = {"written": written, "unit": np.full(len(written), unit, dtype=object)}
        self._flag(
            ~np.isnan(converted),
            key,
            "number_unit",
            "数字后写了单位“{written}”，本列以“{unit}”计：只填数字，{figure:.12g} {written} = {converted:.12g} {unit}",
            "a unit, {written}, is written after the figure, but this column is in {unit}: write the figure "
            "alone, {figure:.12g} {written} = {converted:.12g} {unit}",
            **context,
            figure=figure,
            converted=converted,
        )
        self._flag(
            named & np.isnan(converted),
            key,
            "number_unit",
            "数字后写了单位“{written}”，本列以“{unit}”计：只填按“{unit}”计的数字",
            "a unit, {written}, is written after the figure, but this column is in {unit}: write the figure "
            "alone, in {unit}",
            **context,
        )

    def _area_unit(self) -> str:
        """The unit the file's 累计治理面积 header names (亩 when it names none)."""
        found = self.matches.get("area_done_mu")
        return found[1].unit if found else "亩"

    def _check_stage(self, supervisor: np.ndarray) -> np.ndarray:
        """The index of each row's stage in STAGES, or -1."""
        distinct = self._distinct("stage")
        written = distinct.written()
        stage = distinct.map(_stage_index, -1, np.int64)
        listed = "、".join(STAGES)
        self._flag(~written, "stage", "stage_missing", "项目阶段为必填项", "the stage is required")
        self._flag(
            written & (stage < 0),
            "stage",
            "stage_invalid",
            f"项目阶段应为：{listed}",
            f"the stage must be one of {listed} (or design, review, issued, construction, completed, accepted)",
        )
        self._flag(
            (stage >= SUPERVISED_FROM) & pd.isna(supervisor),
            "supervisor",
            "supervisor_missing",
            "项目阶段为“{stage}”，须填写监理单位",
            "a supervisor is required from 施工中 (construction) on; the stage is {stage}",
            stage=_with_missing(STAGES)[stage],
        )
        return stage

    def _check_accepted_on(self, stage: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The acceptance date of each row (a date, or None where it is missing, unreadable or in the
        future) and its month's ordinal (-1 where there is none)."""
        distinct = self._distinct("accepted_on")
        written = distinct.written()
        meant = [beijing_midnight_in_utc(value) for value in distinct.values]
        days = [
            None if day is not None else parse_date(value, self._epoch)
            for value, day in zip(distinct.values, meant, strict=True)
        ]
        accepted_on = distinct.spread(days)
        shifted = distinct.spread([day is not None for day in meant], False, bool)
        late = [day is not None and day > self.today for day in days]
        future = distinct.spread(late, False, bool)
        ordinal = distinct.spread(
            [-1 if after else _month_ordinal(day) for day, after in zip(days, late, strict=True)],
            -1,
            np.int64,
        )
        accepted = stage == ACCEPTED_INDEX
        self._flag(
            accepted & ~written,
            "accepted_on",
            "accepted_on_missing",
            "项目阶段为“已验收”，须填写验收日期",
            "the stage is 已验收 (accepted): the acceptance date is required",
        )
        self._flag(
            (stage >= 0) & ~accepted & written,
            "accepted_on",
            "accepted_on_unexpected",
            "项目阶段为“{stage}”，尚未验收，不应填写验收日期",
            "the stage is {stage}, not 已验收 (accepted): leave the acceptance date empty",
            stage=_with_missing(STAGES)[stage],
        )
        self._flag_beijing_midnight("accepted_on", distinct, meant, "验收日期", "acceptance date", "%Y-%m-%d")
        us_short = self._flag_us_short_dates("accepted_on", "accepted_on_invalid", distinct, "2024-03-15")
        self._flag(
            written & pd.isna(accepted_on) & ~shifted & ~us_short,
            "accepted_on",
            "accepted_on_invalid",
            "无法识别的日期，请写成 2024-03-15 的形式",
            "not a date; write it like 2024-03-15",
        )
        self._flag(
            future,
            "accepted_on",
            "accepted_on_future",
            f"验收日期晚于今天（{self.today:%Y-%m-%d}）",
            f"the acceptance date is after today ({self.today:%Y-%m-%d})",
        )
        accepted_on[future] = None
        return accepted_on, ordinal

    def _check_acceptance_month(
        self,
        project: np.ndarray,
        month: np.ndarray,
        month_ordinal: np.ndarray,
        stage: np.ndarray,
        accepted_ordinal: np.ndarray,
    ) -> None:
        """Acceptance comes in or after the month the project was completed: not after the month the row
        reports, nor in or before a month this file reports the project not yet completed."""
        dated = (stage == ACCEPTED_INDEX) & (accepted_ordinal >= 0) & (month_ordinal >= 0)
        self._flag(
            dated & (accepted_ordinal > month_ordinal),
            "accepted_on",
            "accepted_after_report_month",
            "验收日期晚于填报月份 {month:%Y-%m}",
            "the acceptance date is after the month reported ({month:%Y-%m})",
            month=month,
        )
        # Rows reporting a project not yet completed, keyed (part, project, month) in order: an acceptance
        # row is wrong if one of its part falls between its acceptance month and its report month.
        months = 12 * 10000  # more month ordinals than any date has
        key = (self.file_of * len(self.reference.projects) + project) * months
        open_rows = np.flatnonzero(
            (project >= 0) & (month_ordinal >= 0) & (stage >= 0) & (stage < COMPLETED_INDEX)
        )
        open_keys = key[open_rows] + month_ordinal[open_rows]
        order = np.argsort(open_keys, kind="stable")
        open_keys, open_rows = open_keys[order], open_rows[order]
        if not len(open_rows):
            return
        first = np.searchsorted(open_keys, key + accepted_ordinal, "left")
        last = np.searchsorted(open_keys, key + month_ordinal, "right")
        found = open_rows[np.minimum(first, len(open_rows) - 1)]
        self._flag(
            dated & (project >= 0) & (last > first),
            "accepted_on",
            "accepted_before_completion",
            "验收日期早于完工：第 {line} 行填报该项目 {open_month:%Y-%m} 仍为“{open_stage}”",
            "accepted before completion: row {line} reports the project {open_stage} in {open_month:%Y-%m}",
            line=self.rows[found],
            open_month=month[found],
            open_stage=_with_missing(STAGES)[stage[found]],
        )

    def _check_sequence(
        self,
        project: np.ndarray,
        month: np.ndarray,
        month_ordinal: np.ndarray,
        stage: np.ndarray,
        figures: dict[str, np.ndarray],
    ) -> None:
        """Rules across rows: one row per project and month; no project going backwards month to month."""
        part = self.file_of
        known = np.flatnonzero((project >= 0) & (month_ordinal >= 0))
        order = known[np.lexsort((self.rows[known], month_ordinal[known], project[known], part[known]))]
        same_project = (project[order[1:]] == project[order[:-1]]) & (part[order[1:]] == part[order[:-1]])
        repeated = np.zeros(len(order), dtype=bool)
        repeated[1:] = same_project & (month_ordinal[order[1:]] == month_ordinal[order[:-1]])
        group_start = np.maximum.accumulate(np.where(repeated, 0, np.arange(len(order))))
        first_row = np.zeros(len(self.rows), dtype=np.int64)
        first_row[order] = self.rows[order[group_start]]
        duplicate = np.zeros(len(self.rows), dtype=bool)
        duplicate[order[repeated]] = True
        self._flag(
            duplicate,
            "project_name",
            "duplicate_project_month",
            "该项目本月已在第 {first} 行填报，一个项目每月只填一行",
            "this project already has a row for this month (row {first}); one row per project and month",
            first=first_row,
        )
        # Each project's months in order: compare each row with the project's previous month, in the file
        # or, for the project's first month in the file, in the history (or the parts before).
        monthly = order[~repeated]
        follows = (
            np.flatnonzero(
                (project[monthly[1:]] == project[monthly[:-1]]) & (part[monthly[1:]] == part[monthly[:-1]])
            )
            + 1
        )
        now, before = monthly[follows], monthly[follows - 1]
        n = len(self.rows)
        previous_month = np.full(n, None, dtype=object)
        previous_month[now] = month[before]
        where_zh, where_en = np.full(n, "", dtype=object), np.full(n, "", dtype=object)
        where_zh[now] = [f"第 {row} 行" for row in self.rows[before].tolist()]
        where_en[now] = [f"row {row}" for row in self.rows[before].tolist()]
        previous = {key: np.full(n, np.nan) for key in ("area_done_mu", "patches_done")}
        for key, values in previous.items():
            values[now] = figures[key][before]
        previous_stage = np.full(n, -1, dtype=np.int64)
        previous_stage[now] = stage[before]
        # Each project's first month in the file (`now` is the rest of `monthly`), in row order.
        first = np.ones(len(monthly), dtype=bool)
        first[follows] = False
        in_row_order = np.argsort(monthly[first])
        first_in_file = monthly[first][in_row_order]
        restates, preceding = self._in_earlier_parts(project, month_ordinal, monthly, first)
        history = self.history
        # Each monthly row's project in the history, looked up once for this check and the restatements'.
        monthly_ids = history.ids(self.plan.codes[project[monthly]])
        ids = monthly_ids[first][in_row_order]
        earlier = history.values(history.previous_cells(ids, month_ordinal[first_in_file]))
        # The parts before hold a later version than the history's, of a month as late or later.
        in_part = preceding[first][in_row_order]
        from_part = (in_part >= 0) & (month_ordinal[in_part] >= earlier["ordinal"])
        held = (earlier["ordinal"] >= 0) & ~from_part
        index, files = first_in_file[held], earlier["file"][held]
        if len(index):
            ordinals, month_of = np.unique(earlier["ordinal"][held], return_inverse=True)
            previous_month[index] = _with_missing([month_from_ordinal(o) for o in ordinals.tolist()])[
                month_of
            ]
            # Labelled once per file the history holds them from, not once per row.
            file_codes, file_ids = pd.factorize(files)
            labels = [history.files[i] for i in file_ids.tolist()]
            where_zh[index] = _with_missing([_received_zh(name, at) for name, at in labels])[file_codes]
            where_en[index] = _with_missing([_received_en(name, at) for name, at in labels])[file_codes]
            previous["area_done_mu"][index] = earlier["area_done_mu"][held]
            previous["patches_done"][index] = earlier["patches_done"][held]
            stage_of = np.array([*(STAGES.index(stage) for stage in history.stages), -1], dtype=np.int64)
            previous_stage[index] = stage_of[earlier["stage"][held]]
        if from_part.any():
            index, source = first_in_file[from_part], in_part[from_part]
            previous_month[index] = month[source]
            source_part = part[source]
            where_zh[index] = _with_missing([_received_zh(name, at) for name, at in self.arrivals])[
                source_part
            ]
            where_en[index] = _with_missing([_received_en(name, at) for name, at in self.arrivals])[
                source_part
            ]
            for key, values in previous.items():
                values[index] = figures[key][source]
            previous_stage[index] = stage[source]
        for key, zh_name, en_name in (
            ("area_done_mu", "累计治理面积", "area done"),
            ("patches_done", "累计完成图斑", "patches done"),
        ):
            self._flag(
                figures[key] < previous[key],
                key,
                "cumulative_decrease",
                zh_name
                + "为累计数，{now:%Y-%m} 的 {value:.12g} 低于上月 {month:%Y-%m}（{where_zh}）的 {before:.12g}",
                en_name
                + " is cumulative, but {now:%Y-%m}'s {value:.12g} is below {month:%Y-%m}'s {before:.12g} "
                "({where_en})",
                "warning",
                now=month,
                value=figures[key],
                month=previous_month,
                before=previous[key],
                where_zh=where_zh,
                where_en=where_en,
            )
        self._flag(
            (stage >= 0) & (stage < previous_stage),
            "stage",
            "stage_backwards",
            "项目阶段倒退：{month:%Y-%m}（{where_zh}）为“{stage}”",
            "the stage went backwards from {stage} ({month:%Y-%m}, {where_en})",
            "warning",
            month=previous_month,
            where_zh=where_zh,
            where_en=where_en,
            stage=_with_missing(STAGES)[previous_stage],
        )
        self._check_restatements(project, month, month_ordinal, monthly, monthly_ids, restates, figures)

    def _in_earlier_parts(
        self, project: np.ndarray, month_ordinal: np.ndarray, monthly: np.ndarray, first: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """For each of `monthly` (the first row of each project and month in a part): the row of the parts
        before it that holds the version of its month it restates, and, for those `first` in their part,
        the row of the project's latest month before it, each as the history would hold them once those
        parts joined it (-1: none there)."""
        count = len(monthly)
        restates, preceding = np.full(count, -1, dtype=np.int64), np.full(count, -1, dtype=np.int64)
        if len(self.parts) == 1 or not count:
            return restates, preceding
        part, ordinal, of = self.file_of[monthly], month_ordinal[monthly], project[monthly]
        # By project, month, then part: a month's versions in order of arrival.
        chrono = np.lexsort((part, ordinal, of))
        part, ordinal, of = part[chrono], ordinal[chrono], of[chrono]
        starts = np.ones(count, dtype=bool)
        starts[1:] = (of[1:] != of[:-1]) | (ordinal[1:] != ordinal[:-1])
        position = np.arange(count)
        # The version before, of the same month: a part's rows hold a month once, so it is an earlier part's.
        restates[chrono[~starts]] = monthly[chrono[position[~starts] - 1]]
        # The latest version of the latest month before: the last of the months before this one, unless a
        # later part holds it (a late correction of an older month): then the last before it of a part
        # before this one, found walking back over the project's months (later parts' rows are few).
        last_before = np.maximum.accumulate(np.where(starts, position, 0)) - 1
        found = np.flatnonzero((last_before >= 0) & (of[np.maximum(last_before, 0)] == of) & first[chrono])
        at = last_before[found]
        for index in np.flatnonzero(part[at] > part[found]).tolist():
            walked, this = int(at[index]), int(found[index])
            while walked >= 0 and of[walked] == of[this] and part[walked] > part[this]:
                walked -= 1
            at[index] = walked if walked >= 0 and of[walked] == of[this] else -1
        held = at >= 0
        preceding[chrono[found[held]]] = monthly[chrono[at[held]]]
        return restates, preceding

    def _check_restatements(
        self,
        project: np.ndarray,
        month: np.ndarray,
        month_ordinal: np.ndarray,
        monthly: np.ndarray,
        monthly_ids: np.ndarray,
        restates: np.ndarray,
        figures: dict[str, np.ndarray],
    ) -> None:
        """A project-month already received: this file restates it, and the clerk is told which version
        it replaces. Built row by row without _flag: a township resending a quarter restates every row.
        `monthly_ids`: the history's row of each `monthly` row's project; `restates`: the row of the parts
        before that holds the version replaced, if they do (see _in_earlier_parts)."""
        history = self.history
        cells = history.cells(monthly_ids, month_ordinal[monthly])
        in_part = restates >= 0
        restated = (cells >= 0) | in_part
        if not restated.any():
            return
        old = history.values(np.where(in_part, -1, cells)[restated])
        # What the history holds of a file, then of each part before (as they would join it).
        labels = [*history.files, *self.arrivals]
        source = np.where(
            in_part[restated], len(history.files) + self.file_of[restates[restated]], old["file"]
        )
        old_area = np.where(
            in_part[restated], figures["area_done_mu"][restates[restated]], old["area_done_mu"]
        )
        header, written = self._header("project_name"), self.raw.get("project_name")
        sheet = self.table.sheet
        row_numbers, parts = self.rows.tolist(), self.file_of.tolist()
        arrivals: dict[int, str] = {}  # a restated file's rows share a few replaced files
        for index, code, when, file, area_done in zip(
            monthly[restated].tolist(),
            self.plan.codes[project[monthly[restated]]].tolist(),
            month[monthly[restated]].tolist(),
            source.tolist(),
            old_area.tolist(),
            strict=True,
        ):
            file_name, submitted_at = labels[file]
            received = arrivals.get(file)
            if received is None:
                received = arrivals[file] = f"{submitted_at:%Y-%m-%d %H:%M}"
            area = "—" if math.isnan(area_done) else _figure(area_done)
            self.issues.append(
                Issue(
                    row_numbers[index],
                    header,
                    None if written is None else cell_text(written[index]),
                    "warning",
                    "restatement",
                    f"重报：{code} {when:%Y-%m} 已于 {received} 在“{file_name}”中收到（累计治理面积 {area} 亩），"
                    "本行将取代该版本",
                    f"restatement: {code} {when:%Y-%m} was received on {received} in {file_name} "
                    f"(area done {area} mu); this row replaces that version",
                    self.parts[parts[index]].path,
                    sheet,
                )
            )
            self.issue_parts.append(parts[index])

    def _check_missing_projects(
        self, township: np.ndarray, project: np.ndarray, month_ordinal: np.ndarray, stage: np.ndarray
    ) -> None:
        """Each month the file reports for a township should list every plan project of that township whose
        plan year has begun and that was not reported 已验收 in an earlier month, in this file or (when the
        history holds them) in files received before (or in the parts before)."""
        reported = np.flatnonzero((township >= 0) & (month_ordinal >= 0))
        if not len(reported):
            return
        projects, plan = self.reference.projects, self.plan
        months = 12 * 10000  # more month ordinals than any date has
        townships = len(self.reference.townships)
        keys, first, key_of = np.unique(
            (self.file_of[reported] * townships + township[reported]) * months + month_ordinal[reported],
            return_index=True,
            return_inverse=True,
        )
        key_part_township, key_ordinal = np.divmod(keys, months)
        key_part, key_township = np.divmod(key_part_township, townships)
        # missing[k, p]: key k (a part, a township and a month) leaves out plan project p, one of that
        # township's whose plan year has begun and that was not reported 已验收 before that month.
        missing = (plan.project_township == key_township[:, None]) & (
            plan.plan_year <= key_ordinal[:, None] // 12
        )
        listed = project[reported] >= 0
        missing[key_of[listed], project[reported][listed]] = False
        # The history is asked only about the projects some month would miss, not the whole plan.
        candidates = np.flatnonzero(missing.any(axis=0))
        if len(candidates):  # mostly none: every project listed
            # accepted_in[part, c]: the first month candidate c was reported 已验收 in, in that part or
            # the parts before it, or in the history.
            column = np.full(len(projects), -1, dtype=np.int64)
            column[candidates] = np.arange(len(candidates))
            accepted = (stage == ACCEPTED_INDEX) & (project >= 0) & (month_ordinal >= 0)
            accepted &= column[np.maximum(project, 0)] >= 0
            accepted_in = np.full((len(self.parts), len(candidates)), months, dtype=np.int64)
            np.minimum.at(
                accepted_in, (self.file_of[accepted], column[project[accepted]]), month_ordinal[accepted]
            )
            accepted_in = np.minimum.accumulate(accepted_in, axis=0)
            accepted_in = np.minimum(accepted_in, self.history.accepted_ordinals(plan.codes[candidates]))
            missing[:, candidates] &= accepted_in[key_part] >= key_ordinal[:, None]
        for key_index, index in zip(*np.nonzero(missing), strict=True):
            name = self.reference.townships[key_township[key_index]]
            ordinal = int(key_ordinal[key_index])
            month = date(ordinal // 12, ordinal % 12 + 1, 1)
            at = reported[first[key_index]]
            row = int(self.rows[at])
            planned = projects[index]
            self._issue(
                "warning",
                "project_missing_from_month",
                None,
                self._header("project_name"),
                planned.name,
                f"{name} {month:%Y-%m} 的填报（第 {row} 行起）缺少这个未验收的方案项目"
                f"（{planned.project_code}）",
                f"{name}'s report for {month:%Y-%m} (from row {row}) leaves out this plan "
                f"project ({planned.project_code}), which is not yet accepted",
                int(self.file_of[at]),
            )

    def _check_totals(
        self, numbers: np.ndarray, total_rows: np.ndarray, total_cells: dict[str, np.ndarray]
    ) -> None:
        """A 合计 row is compared with the sum of the data rows, in the header's unit."""
        for index, row in enumerate(total_rows.tolist()):
            for position, key in enumerate(NUMERIC_KEYS):
                if key not in total_cells:
                    continue
                declared_text = cell_text(total_cells[key][index])
                if declared_text is None:
                    continue
                declared = _figure_in(declared_text, self.matches[key][1].unit)
                summed = float(np.nansum(numbers[position]))
                if declared is None:
                    self._issue(
                        "warning",
                        "total_unreadable",
                        row,
                        self._header(key),
                        declared_text,
                        "合计行的值不是数字，未核对",
                        "the 合计 (total) value is not a number; not checked",
                    )
                elif abs(declared - summed) > TOTAL_TOLERANCE:
                    self._issue(
                        "warning",
                        "total_mismatch",
                        row,
                        self._header(key),
                        declared_text,
                        f"合计行与各行之和 {_figure(summed)} 不一致",
                        f"the 合计 (total) row disagrees with the rows' sum, {_figure(summed)}",
                    )


@functools.lru_cache(maxsize=256)
def _is_personal_column(header: str | None) -> bool:
    match = match_header(header) if header else None
    return match is not None and match.column.key in PERSONAL_COLUMNS


# Messages repeat from row to row and file to file (one template, a few contexts): each is masked once.
_mask = functools.lru_cache(maxsize=4096)(mask_personal)


def _masked(issue: Issue) -> Issue:
    """The issue as it may leave the landing zone: personal data in its value and messages masked."""
    value = mask_all(issue.value) if _is_personal_column(issue.column) else _mask(issue.value)
    zh, en = _mask(issue.message_zh), _mask(issue.message_en)
    if value == issue.value and zh == issue.message_zh and en == issue.message_en:
        return issue  # nothing personal in it (most issues): no copy
    return replace(issue, value=value, message_zh=zh, message_en=en)


def _report(
    path: Path,
    status: Literal["accepted", "rejected"],
    sheet: str | None,
    rows_read: int,
    columns: dict[str, np.ndarray],
    issues: Sequence[Issue],
    max_issues: int,
) -> FileReport:
    """The report of `issues` (ordered as listed): errors first, at most `max_issues` kept one by one and
    masked; what is left over counted in one summary issue (an error if any error was left over)."""
    errors = [i for i in issues if i.severity == "error"]
    warnings = [i for i in issues if i.severity == "warning"]
    kept_errors = errors[:max_issues]
    kept_warnings = warnings[: max(max_issues - len(kept_errors), 0)]
    left = [*errors[len(kept_errors) :], *warnings[len(kept_warnings) :]]
    errors_omitted, warnings_omitted = len(errors) - len(kept_errors), len(warnings) - len(kept_warnings)
    kept_errors, kept_warnings = [_masked(i) for i in kept_errors], [_masked(i) for i in kept_warnings]
    if left:
        common = "、".join(f"{code} × {n}" for code, n in Counter(i.code for i in left).most_common(5))
        first, last = (
            min((i.row for i in left if i.row is not None), default=None),
            max((i.row for i in left if i.row is not None), default=None),
        )
        span_zh = f"，第 {first}–{last} 行" if first is not None else ""
        span_en = f", rows {first}–{last}" if first is not None else ""
        summary = Issue(
            None,
            None,
            None,
            "error" if errors_omitted else "warning",
            MORE_ISSUES,
            f"另有 {len(left)} 个问题未逐条列出（错误 {errors_omitted} 个，提醒 {warnings_omitted} 个{span_zh}；"
            f"最多的是 {common}）；请先改正以上问题，再用 regreen check 检查",
            f"{len(left)} more issues not listed one by one ({errors_omitted} errors, {warnings_omitted} "
            f"warnings{span_en}; most common: {common}); fix those above, then run regreen check again",
            path,
            sheet,
        )
        (kept_errors if errors_omitted else kept_warnings).append(summary)
    return FileReport(
        path, status, sheet, rows_read, columns, kept_errors, kept_warnings, errors_omitted, warnings_omitted
    )


def read_error_report(path: Path, exc: SubmissionReadError) -> FileReport:
    issue = Issue(exc.row, None, None, "error", exc.code, exc.problem_zh, exc.problem_en, path, None)
    logger.info("checked %s: rejected, %s", display_name(path.name), exc.code)
    return _report(path, "rejected", None, 0, _no_columns(), [issue], 1)


def default_max_issues() -> int:
    return default_config().get("submissions", "max_issues_per_file")


def validate_file(
    path: Path,
    reference: PlanReference,
    today: date,
    history: History | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    limits: ReadLimits | None = None,
    max_issues: int | None = None,
    data: bytes | None = None,
) -> FileReport:
    """Read and check one submission; bad content gives a rejected report, never an exception.

    `history` holds what was received before (see regreen.submissions.history): a project accepted
    earlier may be left out, a decrease is measured against the last month received, and a month
    already received is reported as a restatement. Without it the file is judged alone.
    `tolerance`: the share by which a cumulative area may exceed its plan before it is rejected.
    `limits` bound the read, `max_issues` the issues kept (default: the default settings). With `data`,
    those bytes are read as the content of `path` (whose name the report uses) and the file system is not
    touched.
    """
    try:
        table = read_table(path, limits, data)
    except SubmissionReadError as exc:
        return read_error_report(path, exc)
    max_issues = default_max_issues() if max_issues is None else max_issues
    return _FileValidation(table, reference, today, history or History(), tolerance, max_issues).report()


# Files judged in one pass at most (Judge.judge_files), of any townships, a township's months one after the
# other. A pass costs ~700 rows' worth whatever its rows (~40 numpy and pandas calls), so only files of few
# rows gain by it: a pass takes at most TOGETHER_ROWS rows, where what it saves is under a tenth of its
# cost, and larger files are judged as they come (a pass that parts judges its files again, one by one).
# The rows bound a pass; the files bound only what a pass that parts costs again. At 16 files, the scale
# bench's 1× files (~280 rows) made passes of ~3,600 rows, its 10× files passes of ~6,400: the small files
# paid for a pass twice as often a row (12 passes for 43,620 rows; 6 at 50, as many as an ingest's batch
# holds; docs/benchmarks.md, the twenty-third pass).
TOGETHER = 50
TOGETHER_ROWS = 10_000


@dataclass(frozen=True)
class Submitted:
    """A file for Judge.judge_files: as judge() takes it."""

    path: Path
    submitted_at: datetime
    name: str | None = None
    data: bytes | None = None

    @property
    def arrival(self) -> tuple[str, datetime]:
        """The file's own name and when it arrived, as the history holds them (History.files)."""
        return self.name or self.path.name, self.submitted_at


def _end_to_end(tables: Sequence[RawTable]) -> RawTable:
    """Tables of one header, as one table (the first's path and header)."""
    first = tables[0]
    return RawTable(
        first.path,
        first.sheet,
        first.header_row,
        first.headers,
        np.concatenate([table.row_numbers for table in tables]),
        tuple(
            np.concatenate([table.columns[position] for table in tables])
            for position in range(len(first.columns))
        ),
        (),
    )


def _first_township(table: RawTable) -> str | None:
    """The township the table's first row names, as written: which township a file is from, as a guess."""
    for position, header in enumerate(table.headers):
        found = match_header(header)
        if found is not None and found.column.key == "township" and len(table.row_numbers):
            return cell_text(table.columns[position][0])
    return None


@dataclass
class Judge:
    """The one judge of submissions, for `regreen check` and `regreen ingest` alike: each file is
    validated against the history, and an accepted file then joins the history, so that the next file
    is judged as if this one had been received (as the ingest lands it)."""

    reference: PlanReference
    today: date
    history: History = field(default_factory=History)
    tolerance: float = DEFAULT_TOLERANCE
    limits: ReadLimits | None = None
    max_issues: int | None = None

    def __post_init__(self) -> None:
        # Every month a file may be accepted for lies between the notice's month and this month.
        self.history.reserve_months(self.reference.issue_month, self.today.replace(day=1))

    def judge(
        self, path: Path, submitted_at: datetime, name: str | None = None, data: bytes | None = None
    ) -> FileReport:
        """The verdict on the file at `path` (or on `data`, its bytes), received at `submitted_at` under
        `name` (its own name)."""
        report = validate_file(
            path, self.reference, self.today, self.history, self.tolerance, self.limits, self.max_issues, data
        )
        if report.status == "accepted":
            self.history.add_rows(report.columns, name or path.name, submitted_at)
        return report

    def judge_files(self, files: Sequence[Submitted]) -> list[FileReport]:
        """The verdicts on `files`, in order, each the one judge() gives it after the files before it.

        What a file costs whatever its rows (~40 numpy and pandas calls) is shared: consecutive CSV files
        with the same header are judged in one pass of the checks (see _FileValidation), up to TOGETHER
        files and TOGETHER_ROWS rows at a time, a township's next month compared with its month in the
        file before as with the history. A group that turns out otherwise (a row with no known township, a
        合计 row, a file-level issue, a rejected file whose township a later one reports) is judged again
        one file at a time."""
        reports: list[FileReport] = []
        group: list[tuple[Submitted, RawTable]] = []

        def judge_group() -> None:
            if len(group) > 1:
                tables = [table for _, table in group]
                validation = _FileValidation(
                    _end_to_end(tables),
                    self.reference,
                    self.today,
                    self.history,
                    self.tolerance,
                    self._max_issues,
                    tables,
                    [file.arrival for file, _ in group],
                )
                try:
                    judged = validation.reports()
                except _Apart:
                    judged = []
                if judged:
                    reports.extend(judged)
                    self.history.add_files(
                        [
                            (report.columns, *file.arrival)
                            for (file, _), report in zip(group, judged, strict=True)
                            if report.status == "accepted"
                        ]
                    )
                    group.clear()
                    return
            for file, table in group:
                validation = _FileValidation(
                    table, self.reference, self.today, self.history, self.tolerance, self._max_issues
                )
                reports.append(self._taken(validation.report(), file))
            group.clear()

        for file in files:
            try:
                table = read_table(file.path, self.limits, file.data)
            except SubmissionReadError as exc:
                judge_group()
                reports.append(read_error_report(file.path, exc))
                continue
            # A file whose first row names no township would only part the group again (see _Apart).
            alike = table.sheet is None and not table.unlabelled and _first_township(table) is not None
            joins = (
                alike
                and bool(group)
                and len(group) < TOGETHER
                and sum(len(t.row_numbers) for _, t in group) + len(table.row_numbers) <= TOGETHER_ROWS
                and (table.headers, table.header_row) == (group[0][1].headers, group[0][1].header_row)
            )
            if not joins:
                judge_group()
            group.append((file, table))
            if not alike:
                judge_group()
        judge_group()
        return reports

    @property
    def _max_issues(self) -> int:
        return default_max_issues() if self.max_issues is None else self.max_issues

    def _taken(self, report: FileReport, file: Submitted) -> FileReport:
        """`report`, its file's rows taken into the history if it is accepted."""
        if report.status == "accepted":
            self.history.add_rows(report.columns, *file.arrival)
        return report

    @property
    def judged_alone(self) -> bool:
        """True when there was no history to judge against (no published warehouse)."""
        return self.history.source is None
