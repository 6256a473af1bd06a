"""The columns of a monthly progress submission and how a header cell, as a clerk wrote it, maps to one.

A header is recognised by its label (the Chinese canonical label or the English alias) after NFKC
folding (full-width parentheses and digits become ASCII), with every space and line break removed.
A unit in parentheses after the label is checked against the column: area columns accept 亩, 公顷 or
平方米 and say how to convert to 亩; every other column accepts only its canonical unit. A figure may be
followed by the unit its column is in (FIGURE_UNITS).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from regreen.ideographs import unify_ideographs

Kind = Literal["month", "text", "integer", "area", "amount", "stage", "date"]

# Multiply a value in this unit by the factor to get 亩 (1 亩 = 10000/15 平方米, 1 公顷 = 15 亩).
AREA_UNIT_FACTORS: dict[str, float] = {"亩": 1.0, "公顷": 15.0, "平方米": 15.0 / 10000.0}
_UNIT_SYNONYMS = {
    "mu": "亩",
    "ha": "公顷",
    "hectare": "公顷",
    "hm2": "公顷",
    "m2": "平方米",  # also ㎡ and m², NFKC-folded
    "平方": "平方米",
    "平米": "平方米",
    "m3": "立方米",
    "方": "立方米",  # as builders say it: 土石方, 万方
    "万方": "万立方米",
}
# The units a figure may be written in, by the canonical unit of its column, each with its size in that
# unit: a figure written with its unit after it (150亩, 3个, 250万元) is read in the column's own unit,
# and one in another of these gets an error that converts it.
FIGURE_UNITS: dict[str, dict[str, float]] = {
    "亩": AREA_UNIT_FACTORS,
    "个": {"个": 1.0},
    "万元": {"万元": 1.0, "元": 1e-4},
    "万立方米": {"万立方米": 1.0, "立方米": 1e-4},
}


def unit_name(text: str) -> str:
    """A unit as written (NFKC-folded), by the name the columns use: m2 → 平方米."""
    return _UNIT_SYNONYMS.get(text.lower(), text)


def figure_unit(text: str) -> str | None:
    """What follows a figure in a cell (NFKC-folded) as one of FIGURE_UNITS' units, or None when it is
    none of them (约, 左右, 万)."""
    unit = unit_name(text)
    return unit if any(unit in sizes for sizes in FIGURE_UNITS.values()) else None


@dataclass(frozen=True)
class Column:
    key: str  # the landing column (raw.submission_rows)
    label: str  # canonical Chinese header without its unit, e.g. 累计治理面积
    unit: str | None  # the unit the canonical header names, e.g. 亩
    alias: str  # the English header accepted instead of the Chinese one
    kind: Kind

    @property
    def header(self) -> str:
        """The canonical Chinese header, e.g. 累计治理面积(亩)."""
        return f"{self.label}({self.unit})" if self.unit else self.label


COLUMNS: tuple[Column, ...] = (
    Column("report_month", "填报月份", None, "report_month", "month"),
    Column("township", "乡镇", None, "township", "text"),
    Column("project_name", "项目名称", None, "project", "text"),
    Column("patches_done", "累计完成图斑", "个", "patches_done", "integer"),
    Column("area_done_mu", "累计治理面积", "亩", "area_done_mu", "area"),
    Column("forest_mu", "其中林地", "亩", "forest_mu", "area"),
    Column("farmland_mu", "其中耕地", "亩", "farmland_mu", "area"),
    Column("grassland_mu", "其中草地", "亩", "grassland_mu", "area"),
    Column("stage", "项目阶段", None, "stage", "stage"),
    Column("invested_10k_yuan", "累计完成投资", "万元", "invested_10k_yuan", "amount"),
    Column("fund_higher_level", "上级资金", "万元", "fund_higher_level", "amount"),
    Column("fund_district", "区财政资金", "万元", "fund_district", "amount"),
    Column("fund_waste_rock", "废石处置收入", "万元", "fund_waste_rock", "amount"),
    Column("fund_social", "社会资本", "万元", "fund_social", "amount"),
    Column("waste_rock_10k_m3", "废石处置量", "万立方米", "waste_rock_10k_m3", "amount"),
    Column("supervisor", "监理单位", None, "supervisor", "text"),
    Column("accepted_on", "验收日期", None, "accepted_on", "date"),
    Column("notes", "备注", None, "notes", "text"),
    # Optional: the codes (图斑编号) of the patches completed so far, separated by 、; checked against the
    # patch register at build time (expectations/patch_status.json).
    Column("patches_completed", "已完成图斑编号", None, "patches_completed", "text"),
    Column("reporter", "填报人", None, "reporter", "text"),
    Column("phone", "联系电话", None, "phone", "text"),
)
COLUMNS_BY_KEY: dict[str, Column] = {c.key: c for c in COLUMNS}
REQUIRED_KEYS = ("report_month", "township", "project_name", "stage")
NUMERIC_KEYS = tuple(c.key for c in COLUMNS if c.kind in ("integer", "area", "amount"))
LAND_PART_KEYS = ("forest_mu", "farmland_mu", "grassland_mu")

# The columns of FileReport.rows: raw.submission_rows without file_id, in the same order.
ROW_FRAME_COLUMNS: tuple[str, ...] = (
    "sheet",
    "row_number",
    "report_month",
    "township",
    "project_name",
    "project_code",
    *(c.key for c in COLUMNS[3:]),
)

STAGES: tuple[str, ...] = ("方案编制", "方案评审", "已下达", "施工中", "已完工", "已验收")
STAGE_ALIASES: dict[str, str] = {
    **{s: s for s in STAGES},
    "design": "方案编制",
    "review": "方案评审",
    "issued": "已下达",
    "construction": "施工中",
    "completed": "已完工",
    "accepted": "已验收",
}
SUPERVISED_FROM = STAGES.index("施工中")
ACCEPTED = "已验收"

# The template's reference columns (plan targets, the last month received) are headed with this mark and
# are never read back as data: a file that keeps them is read as if they were not there.
REFERENCE_MARK = "【参考】"


def is_reference_header(text: object) -> bool:
    return isinstance(text, str) and fold(text).startswith(fold(REFERENCE_MARK))


_LABELS: dict[str, Column] = {
    **{c.label: c for c in COLUMNS},
    **{c.alias.lower(): c for c in COLUMNS},
}
_HEADER = re.compile(r"(?P<label>[^()]*)(?:\((?P<unit>[^()]*)\))?")


@dataclass(frozen=True)
class HeaderMatch:
    """A header cell recognised as one of COLUMNS."""

    column: Column
    written: str  # the header as the clerk wrote it, line breaks removed
    factor: float  # multiply the column's numbers by this to get the canonical unit (亩 for areas)
    problem_zh: str | None = None  # the unit cannot be used
    problem_en: str | None = None

    @property
    def unit(self) -> str | None:
        """The unit the column's figures are written in: the header's (亩 for an area whose header names
        none, or a unit that cannot be used), else the column's own."""
        if self.column.kind == "area":
            return next(unit for unit, factor in AREA_UNIT_FACTORS.items() if factor == self.factor)
        return self.column.unit


def header_as_written(text: str) -> str:
    """The header cell as the clerk wrote it, on one line."""
    return re.sub(r"\s*[\r\n]+\s*", "", text).strip()


def fold(text: str) -> str:
    """NFKC-fold, radicals as their ideographs (a name copied from a PDF's text layer, regreen.ideographs),
    and drop every space and line break: the form headers and names are compared in."""
    return "".join(unify_ideographs(unicodedata.normalize("NFKC", text)).split())


def match_header(text: object) -> HeaderMatch | None:
    """The column a header cell names, or None when it names none."""
    return _match_text(text) if isinstance(text, str) else None


# Every file repeats the same few header texts, and a header is looked for in each of the first rows.
@functools.lru_cache(maxsize=1024)
def _match_text(text: str) -> HeaderMatch | None:
    parts = _HEADER.fullmatch(fold(text))
    if parts is None:
        return None
    column = _LABELS.get(parts["label"]) or _LABELS.get(parts["label"].lower())
    if column is None:
        return None
    written = header_as_written(text)
    unit = parts["unit"]
    if unit is None or unit == "":
        return HeaderMatch(column, written, 1.0)
    unit = unit_name(unit)
    if column.kind == "area":
        if unit in AREA_UNIT_FACTORS:
            return HeaderMatch(column, written, AREA_UNIT_FACTORS[unit])
        return HeaderMatch(
            column,
            written,
            1.0,
            f"面积单位“{unit}”无法识别，请用 亩、公顷 或 平方米",
            f"area unit {unit!r} is not known; use 亩 (mu), 公顷 (hectare) or 平方米 (square metre)",
        )
    if unit == column.unit:
        return HeaderMatch(column, written, 1.0)
    expected = column.unit or "无单位"
    return HeaderMatch(
        column,
        written,
        1.0,
        f"单位“{unit}”不符，本列应以“{expected}”填写（表头为 {column.header}）",
        f"unit {unit!r} does not fit: this column is in {expected} (header {column.header})",
    )
