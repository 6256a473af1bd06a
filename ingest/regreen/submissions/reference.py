"""What a submission is checked against: the plan's projects and townships, and the names clerks use for them.

Clerks do not copy project names exactly: they drop 镇, write 菘山 for 崧山, leave out 废弃矿山生态治理项目
or the township. A name resolves to a plan project by its exact printed name, else by its normalised form
(aliases applied, township names shortened, the boilerplate and 、 dropped), with or without the row's
township in front.
"""

from __future__ import annotations

import csv
import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Literal, Protocol

from regreen.errors import RegreenError
from regreen.plan import parse_notice
from regreen.project import SEEDS_DIR
from regreen.submissions.columns import fold

# Longest first: 废弃矿山生态治理项目 must go before its tail 项目 does.
_BOILERPLATE = re.compile(r"废弃矿山生态(?:修复)?(?:治理)?(?:项目)?|项目|[、,]")


class UnknownTownshipError(RegreenError):
    def __init__(self, township: str, townships: Sequence[str]) -> None:
        self.township = township
        listed = "、".join(townships)
        super().__init__(
            f"乡镇“{township}”不在方案中，应为以下之一：{listed}",
            f"township {township!r} is not in the plan; use one of: {', '.join(townships)}",
        )


class PlanTownshipError(RegreenError):
    """A plan project's name does not start with a township of seeds/townships.csv."""

    def __init__(self, project: str, seeds_dir: Path) -> None:
        self.project = project
        super().__init__(
            f"方案项目“{project}”的名称不以任何乡镇开头，请在 {seeds_dir / 'townships.csv'} 或 name_aliases.csv 中补充",
            f"plan project {project!r} does not start with a known township; add it to "
            f"{seeds_dir / 'townships.csv'} or name_aliases.csv",
        )


class PlannedProject(Protocol):
    """What the reference needs of a parsed plan project (regreen.plan.PlanProject)."""

    @property
    def plan_year(self) -> int: ...
    @property
    def seq(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def patches(self) -> int: ...
    @property
    def area_mu(self) -> Decimal: ...


@dataclass(frozen=True)
class ProjectRef:
    project_code: str  # e.g. 2024-04: plan year and the row's 序号 in that year's table
    plan_year: int
    seq: int
    name: str  # as printed in the notice
    normalized_name: str
    township_name: str  # canonical, e.g. 张坂镇
    patches_planned: int
    area_planned_mu: Decimal


@dataclass(frozen=True)
class ProjectResolution:
    """What a project name in a submission stands for."""

    project: ProjectRef | None
    # When project is None: the projects the name matched (several, or in another township), else the
    # plan projects whose names are closest to it.
    candidates: tuple[ProjectRef, ...]
    problem: Literal["unknown", "ambiguous", "other_township"] | None


def normalize_project_name(name: str, replacements: Sequence[tuple[str, str]]) -> str:
    """The form project names are matched in.

    `replacements` maps variants to their canonical short form, longest variant first: township names to
    their short names (张坂镇 → 张坂) and village aliases to the canonical village (菘山村 → 崧山村); see
    `name_replacements`. '张坂镇菘山村二分区废弃矿山生态治理项目' → '张坂崧山村二分区'.
    """
    return _normalize_folded(fold(name), replacements)


def _normalize_folded(folded: str, replacements: Sequence[tuple[str, str]]) -> str:
    """normalize_project_name of a name already folded."""
    text = _BOILERPLATE.sub("", folded)
    for variant, canonical in replacements:
        text = text.replace(variant, canonical)
    return text


@dataclass(frozen=True)
class _Township:
    name: str
    short_name: str
    chinese: tuple[str, ...]  # its Chinese spellings: name, short name, full name, curated aliases
    codes: tuple[str, ...]  # township_code and English name

    @property
    def names(self) -> tuple[str, ...]:
        return self.chinese + self.codes


def _read_seed(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _townships(seeds_dir: Path) -> tuple[_Township, ...]:
    aliases = [row for row in _read_seed(seeds_dir / "name_aliases.csv") if row["kind"] == "township"]
    return tuple(
        _Township(
            name=row["township_name"],
            short_name=row["short_name"],
            chinese=(
                row["township_name"],
                row["short_name"],
                row["full_name"],
                *(a["alias"] for a in aliases if a["canonical"] == row["township_name"]),
            ),
            codes=(row["township_code"], row["name_en"]),
        )
        for row in _read_seed(seeds_dir / "townships.csv")
    )


def name_replacements(seeds_dir: Path = SEEDS_DIR) -> tuple[tuple[str, str], ...]:
    """Variant → canonical short form for project names: every township spelling to its short name,
    every village alias to its canonical village; longest variant first so 百崎回族乡 goes before 百崎乡."""
    pairs = {fold(spelling): t.short_name for t in _townships(seeds_dir) for spelling in t.chinese}
    pairs.update(
        (fold(row["alias"]), row["canonical"])
        for row in _read_seed(seeds_dir / "name_aliases.csv")
        if row["kind"] == "village"
    )
    return tuple(sorted(((v, c) for v, c in pairs.items() if v != c), key=lambda pair: -len(pair[0])))


@dataclass(frozen=True)
class PlanReference:
    issued_on: date
    projects: tuple[ProjectRef, ...]
    townships: tuple[str, ...]  # canonical names, in seeds/townships.csv order
    township_spellings: tuple[tuple[str, str], ...]  # folded spelling → canonical township
    township_short_names: tuple[tuple[str, str], ...]  # canonical township → short name
    replacements: tuple[tuple[str, str], ...]  # see name_replacements

    # Hashed once: the checks keep what they derive from a reference in a cache keyed by it, asked once
    # per file, and the field-wise hash walks every project of the plan.
    @cached_property
    def _hash(self) -> int:
        return hash(
            (self.issued_on, self.projects, self.townships, self.township_spellings, self.replacements)
        )

    def __hash__(self) -> int:
        return self._hash

    @cached_property
    def _spelling_map(self) -> dict[str, str]:
        return dict(self.township_spellings)

    @cached_property
    def _short_names(self) -> tuple[str, ...]:
        return tuple(short for _, short in self.township_short_names)

    # Lookups built once per reference, so that resolving a name costs the same at 14 projects as at
    # 130,000 (a scan of every project per distinct name made ingest quadratic in the plan's size).
    @cached_property
    def folded_names(self) -> tuple[str, ...]:
        """fold() of each project's printed name, in plan order."""
        return tuple(fold(p.name) for p in self.projects)

    @cached_property
    def _by_printed_name(self) -> dict[str, tuple[ProjectRef, ...]]:
        groups: dict[str, list[ProjectRef]] = {}
        for name, project in zip(self.folded_names, self.projects, strict=True):
            groups.setdefault(name, []).append(project)
        return {name: tuple(group) for name, group in groups.items()}

    @cached_property
    def _by_normalized_name(self) -> dict[str, tuple[ProjectRef, ...]]:
        return _group(self.projects, lambda p: p.normalized_name)

    @cached_property
    def _by_township(self) -> dict[str, tuple[ProjectRef, ...]]:
        return _group(self.projects, lambda p: p.township_name)

    @cached_property
    def _by_code(self) -> dict[str, ProjectRef]:
        return {p.project_code: p for p in self.projects}

    @cached_property
    def _order(self) -> dict[str, int]:
        return {p.project_code: index for index, p in enumerate(self.projects)}

    @property
    def issue_month(self) -> date:
        return self.issued_on.replace(day=1)

    def first_due_month(self, setting: str = "") -> date:
        """The first month a report is owed for: `setting` (YYYY-MM, [submissions] first_due_month), or
        when it is empty the month after the notice's date."""
        if setting:
            year, month = setting.split("-")
            return date(int(year), int(month), 1)
        issue = self.issue_month
        return date(issue.year + issue.month // 12, issue.month % 12 + 1, 1)

    def due_period(self, setting: str, today: date) -> tuple[date, date]:
        """The months a report may be owed for: from the first month due to the current month."""
        return self.first_due_month(setting), today.replace(day=1)

    def normalize_project_name(self, name: str) -> str:
        return normalize_project_name(name, self.replacements)

    def resolve_township(self, text: str) -> str | None:
        """The canonical township `text` names (张坂, 张坂镇, Zhangban Town …), or None."""
        key = fold(text)
        return self._spelling_map.get(key) or self._spelling_map.get(key.lower())

    def township_projects(self, township: str) -> tuple[ProjectRef, ...]:
        return self._by_township.get(township, ())

    def project(self, project_code: str) -> ProjectRef:
        return self._by_code[project_code]

    def _keys(self, name: str) -> set[str]:
        normalized = self.normalize_project_name(name)
        if normalized.startswith(self._short_names):
            return {normalized}
        # The clerk left the township out of the name: try it under every township; the caller then
        # tells a project of the row's township from one of another.
        return {normalized} | {short + normalized for short in self._short_names}

    def resolve_project(self, township: str | None, name: str) -> ProjectResolution:
        """The plan project `name` stands for in `township` (canonical, or None when unknown)."""
        matches = list(self._by_printed_name.get(fold(name), ()))
        if not matches:
            found = {
                p.project_code: p for key in self._keys(name) for p in self._by_normalized_name.get(key, ())
            }
            matches = sorted(found.values(), key=lambda p: self._order[p.project_code])  # in plan order
        here = [p for p in matches if township is None or p.township_name == township]
        if len(here) == 1:
            return ProjectResolution(here[0], (), None)
        if here:
            return ProjectResolution(None, tuple(here), "ambiguous")
        if matches:
            return ProjectResolution(None, tuple(matches), "other_township")
        return ProjectResolution(None, self.closest_projects(township, name), "unknown")

    def closest_projects(self, township: str | None, name: str, count: int = 3) -> tuple[ProjectRef, ...]:
        """The plan projects whose normalised names are most like `name` (difflib), the row's township first."""

        def likeness(project: ProjectRef) -> tuple[float, bool]:
            ratio = max(
                difflib.SequenceMatcher(None, key, project.normalized_name).ratio()
                for key in self._keys(name)
            )
            return ratio, project.township_name == township

        return tuple(sorted(self.projects, key=likeness, reverse=True)[:count])


def _group(
    projects: Iterable[ProjectRef], key: Callable[[ProjectRef], str]
) -> dict[str, tuple[ProjectRef, ...]]:
    """`projects` by `key`, each group in plan order."""
    groups: dict[str, list[ProjectRef]] = {}
    for project in projects:
        groups.setdefault(key(project), []).append(project)
    return {name: tuple(group) for name, group in groups.items()}


def build_reference(
    issued_on: date, planned: Iterable[PlannedProject], seeds_dir: Path = SEEDS_DIR
) -> PlanReference:
    """The reference for a plan issued on `issued_on` with projects `planned`, names from `seeds_dir`."""
    townships = _townships(seeds_dir)
    replacements = name_replacements(seeds_dir)
    # A project belongs to the township its printed name starts with (百崎莲埭… → 百崎乡), its longest
    # spelling first: one regular expression tries them in that order (the first alternative that
    # matches wins), instead of a scan of every spelling per project.
    prefixes: dict[str, str] = {}
    for spelling, name in sorted(
        ((fold(spelling), t.name) for t in townships for spelling in t.chinese), key=lambda p: -len(p[0])
    ):
        prefixes.setdefault(spelling, name)
    starts = re.compile("|".join(map(re.escape, prefixes)))
    projects = []
    for p in planned:
        printed = fold(p.name)
        found = starts.match(printed) if prefixes else None
        if found is None:
            raise PlanTownshipError(p.name, seeds_dir)
        township = prefixes[found.group()]
        projects.append(
            ProjectRef(
                project_code=f"{p.plan_year}-{p.seq:02d}",
                plan_year=p.plan_year,
                seq=p.seq,
                name=p.name,
                normalized_name=_normalize_folded(printed, replacements),
                township_name=township,
                patches_planned=p.patches,
                area_planned_mu=p.area_mu,
            )
        )
    spellings: dict[str, str] = {}
    for t in townships:
        spellings.update((fold(s), t.name) for s in t.names)
        spellings.update((fold(s).lower(), t.name) for s in t.names)
    return PlanReference(
        issued_on=issued_on,
        projects=tuple(projects),
        townships=tuple(t.name for t in townships),
        township_spellings=tuple(spellings.items()),
        township_short_names=tuple((t.name, t.short_name) for t in townships),
        replacements=replacements,
    )


def load_reference(notice: Path, seeds_dir: Path = SEEDS_DIR) -> PlanReference:
    """Parse the plan notice and pair it with the curated townships and name aliases."""
    plan = parse_notice(notice)
    return build_reference(plan.document.issued_on, plan.projects, seeds_dir)
