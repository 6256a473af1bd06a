"""What was received before a file: the history a submission is judged against.

`regreen check` reads it from the published warehouse, `regreen ingest` from the landing zone; both
read the same `raw` tables with the same query (`_VERSIONS`), and both judge a file with
`regreen.submissions.validate.Judge`, so that one file gets one verdict whichever command reads it.
The history holds, for every project and month, the current version (the latest accepted arrival):
its figures and stage, the file it came in and when it arrived; and when each project was first
reported 已验收. A file judged without a history (no published warehouse yet) is judged alone.

`regreen check` reads it whole (`load_history`). The ingest reads each project's latest month and when
it was first reported 已验收 (`read_history`), and a project's earlier months only when a file reaches
back to them (a restated or late month): a night's files add each project's next month, and reading
every version of every project (4.4 million at the scale bench's 100×) took longer than judging them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import NamedTuple

import duckdb
import numpy as np
import pandas as pd

from regreen.errors import RegreenError
from regreen.submissions.columns import ACCEPTED

# The rows of accepted files; `_VERSIONS`: the current version of each project-month among those
# `{months}` keeps, the latest accepted arrival, as the warehouse's fct_submission_versions orders
# versions (submitted_at, then file_id, then row number).
_HELD = """
select r.project_code, r.report_month, r.area_done_mu, r.patches_done, r.stage, r.file_id, r.row_number, f.submitted_at
from raw.submission_rows as r
inner join raw.submission_files as f on r.file_id = f.file_id
where f.status = 'accepted'
"""
_ORDINAL = "(year({month}) * 12 + month({month}) - 1)"
_VERSIONS = f"""
with
held as ({_HELD}),
current as (
    select * from held {{months}}
    qualify row_number() over (
        partition by project_code, report_month order by submitted_at desc, file_id desc, row_number desc
    ) = 1
),
versions as (
    select
        project_code, {_ORDINAL.format(month="report_month")} as ordinal,
        cast(area_done_mu as double) as area_done_mu, cast(patches_done as double) as patches_done, stage,
        file_id, null as accepted, false as latest
    from current
)
select * from versions
"""
# Each project's latest month's current version, and the first month some version of which says 已验收
# with whether that month's current version does (it does unless a later version of the month said
# otherwise; then no earlier month can be the first, and `_FIRST_ACCEPTED` looks further).
_LATEST = f"""
with
held as ({_HELD}),
bounds as (
    select project_code, max(report_month) as latest, min(report_month) filter (stage = '{ACCEPTED}') as first_any
    from held group by project_code
),
at_latest as (
    select held.project_code, arg_max(held, (submitted_at, file_id, row_number)) as newest
    from held inner join bounds on held.project_code = bounds.project_code and held.report_month = bounds.latest
    group by held.project_code
),
at_first as (
    select held.project_code, arg_max(held.stage, (submitted_at, file_id, row_number)) = '{ACCEPTED}' as holds
    from held inner join bounds on held.project_code = bounds.project_code and held.report_month = bounds.first_any
    group by held.project_code
)
select
    at_latest.project_code, {_ORDINAL.format(month="bounds.latest")} as ordinal,
    cast(newest.area_done_mu as double) as area_done_mu, cast(newest.patches_done as double) as patches_done,
    newest.stage, newest.file_id, true as latest,
    case when at_first.holds then {_ORDINAL.format(month="bounds.first_any")} end as accepted,
    coalesce(not at_first.holds, false) as look_further
from at_latest
inner join bounds on at_latest.project_code = bounds.project_code
left join at_first on at_latest.project_code = at_first.project_code
"""
# For the listed projects: the first month whose current version says 已验收.
_FIRST_ACCEPTED = f"""
with
held as ({_HELD} and r.project_code in (select unnest(?::varchar[]))),
current as (
    select * from held
    where stage = '{ACCEPTED}' or (project_code, report_month) in (select project_code, report_month from held where stage = '{ACCEPTED}')
    qualify row_number() over (
        partition by project_code, report_month order by submitted_at desc, file_id desc, row_number desc
    ) = 1
)
select project_code, min({_ORDINAL.format(month="report_month")}) from current where stage = '{ACCEPTED}'
group by project_code
"""
# The months before each listed project's floor.
_EARLIER = """
semi join (select unnest(?::varchar[]) as project_code, unnest(?::bigint[]) as floor) as below
    on held.project_code = below.project_code
    and year(held.report_month) * 12 + month(held.report_month) - 1 < below.floor
"""
_FILES = "select file_id, original_name, submitted_at from raw.submission_files where file_id in (select unnest(?))"


class Version(NamedTuple):
    """The current version of one project-month."""

    project_code: str
    report_month: date
    area_done_mu: float | None
    patches_done: int | None
    stage: str | None
    file_name: str  # the name the file had in the inbox
    submitted_at: datetime  # when it arrived


def month_ordinal(month: date) -> int:
    return month.year * 12 + month.month - 1


def month_from_ordinal(ordinal: int) -> date:
    return date(ordinal // 12, ordinal % 12 + 1, 1)


_NO_MONTH = np.iinfo(np.int64).max  # "never": the accepted month of a project never reported 已验收
_COMPLETE = np.iinfo(np.int64).min  # the floor of a project whose every month received is in the grids


@dataclass
class History:
    """Every project-month received so far; see the module docstring. `source` is where it was read
    (None: an empty history, the file judged alone).

    Held as grids, one row per project code and one column per month, so that a file is judged and
    added over whole columns (an ingest adds millions of rows): the figures, the stage (an index into
    `stages`) and the file each current version came in (an index into `files`), -1 where no version
    was received.

    Read in part (`read_history`, with `con`): a project's row holds every month received from its
    `_floor` on (its latest month when read); a lookup of a month before that, or a version added there,
    first reads the project's earlier months (`_read_earlier`)."""

    source: Path | None = None
    con: duckdb.DuckDBPyConnection | None = None  # where projects not read yet are read from
    stages: list[str] = field(default_factory=list)
    files: list[tuple[str, datetime]] = field(default_factory=list)  # name and arrival
    _codes: list[str] = field(default_factory=list)  # of each grid row
    _lookup: pd.Index | None = None  # _codes, hashed
    _first: int = 0  # the ordinal of the grids' first column
    _area: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    _patches: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    _stage: np.ndarray = field(default_factory=lambda: np.empty((0, 0), dtype=np.int16))
    _file: np.ndarray = field(default_factory=lambda: np.empty((0, 0), dtype=np.int32))
    _accepted: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))  # first 已验收 ordinal
    _floor: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))  # see the docstring
    _file_index: dict[int, int] = field(default_factory=dict)  # raw file_id -> index into `files`

    # --- growing the grids

    def _grow(self, projects: int, first: int, last: int) -> None:
        """Room for `projects` rows and the months first..last (ordinals)."""
        rows, width = self._file.shape
        if width:
            first, last = min(first, self._first), max(last, self._first + width - 1)
        new_width = last - first + 1
        new_rows = rows if projects <= rows else max(projects, 2 * rows, 64)
        if new_rows == rows and new_width == width and (not width or first == self._first):
            return
        offset = self._first - first if width else 0

        def grown(old: np.ndarray, fill: object) -> np.ndarray:
            array = np.full((new_rows, new_width), fill, dtype=old.dtype)
            array[:rows, offset : offset + width] = old
            return array

        self._area, self._patches = grown(self._area, np.nan), grown(self._patches, np.nan)
        self._stage, self._file = grown(self._stage, -1), grown(self._file, -1)
        accepted = np.full(new_rows, _NO_MONTH, dtype=np.int64)
        accepted[:rows] = self._accepted
        floor = np.full(new_rows, _COMPLETE, dtype=np.int64)
        floor[:rows] = self._floor
        self._accepted, self._floor, self._first = accepted, floor, first

    def reserve_months(self, first: date, last: date) -> None:
        """Room in the grids for the months first..last, made now: a grid widened a month at a time, as
        an ingest meets each new month, is copied whole each time (at 282,372 projects, ~0.5 GB 40 times).
        A column with no version received holds -1 (see `cells`), so room left empty changes no lookup."""
        if first <= last:
            self._grow(len(self._codes), month_ordinal(first), month_ordinal(last))

    def ids(self, codes: Sequence[str], add: bool = False) -> np.ndarray:
        """The grid row of each project code (-1 for one never received, unless `add`)."""
        if self._lookup is None:
            self._lookup = pd.Index(self._codes, dtype=object)  # a hash table, rebuilt only as codes come
        asked = pd.Index(codes, dtype=object)
        found = self._lookup.get_indexer(asked)
        if add and (found < 0).any():
            self._codes.extend(dict.fromkeys(asked[found < 0].tolist()))
            self._lookup = None
            return self.ids(codes)
        return found.astype(np.int64)

    def _stage_index(self, stage: str) -> int:
        if stage not in self.stages:
            self.stages.append(stage)
        return self.stages.index(stage)

    # --- reading from `con`

    def _read_latest(self) -> None:
        """Read every project's latest month and when it was first reported 已验收."""
        result = self.con.execute(_LATEST)
        versions = _columns(result)
        self._take(self.con, versions)
        ids = self.ids(versions["project_code"].tolist())
        self._floor[ids] = versions["ordinal"]
        self._accepted[ids] = np.minimum(self._accepted[ids], versions["accepted"])
        further = versions["project_code"][versions["look_further"]].tolist()
        if further:
            found = self.con.execute(_FIRST_ACCEPTED, [further]).fetchall()
            if found:
                codes, ordinals = zip(*found, strict=True)
                ids = self.ids(list(codes))
                self._accepted[ids] = np.minimum(self._accepted[ids], np.array(ordinals, dtype=np.int64))

    def _read_earlier(self, ids: np.ndarray, ordinals: np.ndarray, before: bool) -> None:
        """Read every month before their floor of the projects asked about at a month under their floor
        (`before`: a month's own version is asked; else the latest before it, which may be under the
        floor when the month is the floor)."""
        if self.con is None or not len(self._floor):
            return
        known = (ids >= 0) & (ids < len(self._floor))  # a code added just now has no row yet: nothing to read
        floors = self._floor[np.where(known, ids, 0)]
        under = known & ((ordinals < floors) if before else (ordinals <= floors))
        if not under.any():
            return
        rows = np.unique(ids[under])
        codes = [self._codes[i] for i in rows.tolist()]
        sql = _VERSIONS.format(months=_EARLIER)
        # A cursor of its own: the ingest lands a batch on another thread through `con` meanwhile. What
        # lies under a floor was landed before this history was read, so that batch does not matter.
        with self.con.cursor() as cursor:
            versions = _columns(cursor.execute(sql, [codes, self._floor[rows].tolist()]))
            self._floor[rows] = _COMPLETE
            self._take(cursor, versions)

    def _take(self, con: duckdb.DuckDBPyConnection, versions: dict[str, np.ndarray]) -> None:
        """Add `versions` (`_VERSIONS` rows, fetched as columns) read from `con`: they are older than
        anything added since, so they go in without reading further."""
        if not len(versions["ordinal"]):
            return
        file_ids, inverse = np.unique(versions["file_id"], return_inverse=True)
        new = [f for f in file_ids.tolist() if f not in self._file_index]
        if new:
            for file_id, name, submitted_at in con.execute(_FILES, [new]).fetchall():
                self._file_index[file_id] = self.add_file(name, submitted_at)
        index = np.array([self._file_index[f] for f in file_ids.tolist()], dtype=np.int32)[inverse]
        codes = versions["project_code"].tolist()
        saved, self.con = self.con, None  # what is added now is read: nothing to read before it
        try:
            self.add_columns(
                codes,
                versions["ordinal"],
                versions["area_done_mu"],
                versions["patches_done"],
                versions["stage"].tolist(),
                index,
            )
        finally:
            self.con = saved

    # --- adding

    def add_columns(
        self,
        codes: Sequence[str],
        ordinals: np.ndarray,
        area: np.ndarray,
        patches: np.ndarray,
        stages: Sequence[str],
        file_index: np.ndarray,
    ) -> None:
        """Take these versions (one per project-month, month ordinals, NaN for a missing figure, file
        indices into `files`) as the current ones: they arrived after what is held."""
        if not len(codes):
            return
        ids = self.ids(codes, add=True)
        self._read_earlier(ids, ordinals, before=True)
        self._grow(len(self._codes), int(ordinals.min()), int(ordinals.max()))
        columns = ordinals - self._first
        stage_codes, stage_names = pd.factorize(np.asarray(stages, dtype=object))
        # A missing stage (factorised as -1) stays -1.
        vocabulary = np.array([*(self._stage_index(s) for s in stage_names), -1], dtype=np.int16)
        self._area[ids, columns] = area
        self._patches[ids, columns] = patches
        self._stage[ids, columns] = vocabulary[stage_codes]
        self._file[ids, columns] = file_index
        if ACCEPTED in self.stages:
            accepted = self._stage[ids, columns] == self.stages.index(ACCEPTED)
            np.minimum.at(self._accepted, ids[accepted], ordinals[accepted])

    def add_file(self, name: str, submitted_at: datetime) -> int:
        """A received file, by which its versions are added; its index in `files`."""
        self.files.append((name, submitted_at))
        return len(self.files) - 1

    def add(self, version: Version) -> None:
        """Take `version` as the current one for its project-month (it arrived after what is held)."""
        patches = math.nan if version.patches_done is None else version.patches_done
        self.add_columns(
            [version.project_code],
            np.array([month_ordinal(version.report_month)]),
            np.array([math.nan if version.area_done_mu is None else version.area_done_mu]),
            np.array([patches], dtype=np.float64),
            [version.stage],
            np.array([self.add_file(version.file_name, version.submitted_at)]),
        )

    def add_rows(self, rows: Mapping[str, np.ndarray], file_name: str, submitted_at: datetime) -> None:
        """Take an accepted file's rows (FileReport.columns) as the current versions of their months."""
        self.add_files([(rows, file_name, submitted_at)])

    def add_files(self, accepted: Sequence[tuple[Mapping[str, np.ndarray], str, datetime]]) -> None:
        """Take accepted files' rows (each FileReport.columns, with the file's name and arrival), in order of
        arrival, as add_rows would one file after the other: a later file's version of a month replaces an
        earlier one's, and a month reported 已验收 counts even if a later version replaces it."""
        if not accepted:
            return
        indices = [self.add_file(name, submitted_at) for _, name, submitted_at in accepted]

        def joined(key: str) -> np.ndarray:
            return np.concatenate([rows[key] for rows, _, _ in accepted])

        codes, stages = joined("project_code"), joined("stage")
        months, distinct = pd.factorize(joined("report_month"))  # the files report a few months
        ordinals = np.array([month_ordinal(m) for m in distinct], dtype=np.int64)[months]
        file_index = np.repeat(
            np.array(indices, dtype=np.int32), [len(rows["stage"]) for rows, _, _ in accepted]
        )
        kept = np.arange(len(codes))
        if len(accepted) > 1:  # the last version of each project-month: a file holds a month once
            code_of = pd.factorize(codes)[0].astype(np.int64)
            keys = code_of * len(distinct) + months
            _, last = np.unique(keys[::-1], return_index=True)
            kept = np.sort(len(keys) - 1 - last)
        self.add_columns(
            codes[kept].tolist(),
            ordinals[kept],
            np.asarray(joined("area_done_mu"), dtype=float)[kept],
            np.asarray(joined("patches_done"), dtype=float)[kept],
            stages[kept].tolist(),
            file_index[kept],
        )
        replaced = np.setdiff1d(np.flatnonzero(stages == ACCEPTED), kept)
        if len(replaced):  # 已验收 in a version a later file replaced
            ids = self.ids(codes[replaced].tolist())
            np.minimum.at(self._accepted, ids, ordinals[replaced])

    # --- looking up, over whole columns

    def cells(self, ids: np.ndarray, ordinals: np.ndarray) -> np.ndarray:
        """For each (grid row, month ordinal), its place in the flattened grids, or -1 when no version of
        it was received."""
        self._read_earlier(ids, ordinals, before=True)
        rows, width = self._file.shape
        columns = ordinals - self._first
        inside = (ids >= 0) & (columns >= 0) & (columns < width)
        flat = np.where(inside, ids * width + np.where(inside, columns, 0), -1)
        held = np.zeros(len(flat), dtype=bool)
        held[inside] = self._file.ravel()[flat[inside]] >= 0
        return np.where(held, flat, -1)

    def previous_cells(self, ids: np.ndarray, ordinals: np.ndarray) -> np.ndarray:
        """For each (grid row, month ordinal), the cell of the project's latest month received before
        that month, or -1."""
        self._read_earlier(ids, ordinals, before=False)
        width = self._file.shape[1]
        known = np.flatnonzero(ids >= 0)
        found = np.full(len(ids), -1, dtype=np.int64)
        if not width or not len(known):
            return found
        limit = np.clip(ordinals[known] - self._first, 0, width)  # columns before this one
        held = (self._file[ids[known]] >= 0) & (np.arange(width) < limit[:, None])
        last = width - 1 - np.argmax(held[:, ::-1], axis=1)
        any_held = held.any(axis=1)
        found[known[any_held]] = ids[known][any_held] * width + last[any_held]
        return found

    def values(self, cells: np.ndarray) -> dict[str, np.ndarray]:
        """The versions at `cells` (from `cells` or `previous_cells`; -1 gives NaN / -1): month ordinal,
        area, patches, stage (index into `stages`) and file (index into `files`)."""
        width = max(self._file.shape[1], 1)
        held = cells >= 0
        at = np.where(held, cells, 0)

        def pick(grid: np.ndarray, missing: object) -> np.ndarray:
            return np.where(held, grid.ravel()[at] if grid.size else missing, missing)

        return {
            "ordinal": np.where(held, self._first + at % width, -1),
            "area_done_mu": pick(self._area, np.nan),
            "patches_done": pick(self._patches, np.nan),
            "stage": pick(self._stage, -1),
            "file": pick(self._file, -1),
        }

    def accepted_ordinals(self, codes: Sequence[str]) -> np.ndarray:
        """The month ordinal each project was first reported 已验收 in (a very large number if never)."""
        ids = self.ids(codes)
        return np.where(ids >= 0, self._accepted[np.maximum(ids, 0)] if len(self._accepted) else 0, _NO_MONTH)

    # --- one at a time

    def _version(self, code: str, cell: int) -> Version | None:
        if cell < 0:
            return None
        found = {key: values[0].item() for key, values in self.values(np.array([cell])).items()}
        name, submitted_at = self.files[found["file"]]
        area, patches = found["area_done_mu"], found["patches_done"]
        return Version(
            code,
            month_from_ordinal(found["ordinal"]),
            None if math.isnan(area) else area,
            None if math.isnan(patches) else int(patches),
            self.stages[found["stage"]] if found["stage"] >= 0 else None,
            name,
            submitted_at,
        )

    def version(self, project_code: str, month: date) -> Version | None:
        """The version of `project_code` for `month` already received, if any."""
        cell = self.cells(self.ids([project_code]), np.array([month_ordinal(month)]))[0]
        return self._version(project_code, int(cell))

    def previous(self, project_code: str, month: date) -> Version | None:
        """The latest month of `project_code` received before `month`, if any."""
        cell = self.previous_cells(self.ids([project_code]), np.array([month_ordinal(month)]))[0]
        return self._version(project_code, int(cell))

    def accepted_month(self, project_code: str) -> date | None:
        """The first month `project_code` was reported 已验收, if it was."""
        ordinal = int(self.accepted_ordinals([project_code])[0])
        return None if ordinal == _NO_MONTH else month_from_ordinal(ordinal)

    @property
    def accepted_months(self) -> dict[str, date]:
        held = np.flatnonzero(self._accepted[: len(self._codes)] != _NO_MONTH)
        return {self._codes[i]: month_from_ordinal(int(self._accepted[i])) for i in held.tolist()}


def _filled(column: np.ndarray, dtype: type, missing: object) -> np.ndarray:
    """A fetched column as a plain array, `missing` where it was NULL (fetchnumpy masks them)."""
    data, missing_at = np.ma.getdata(column), np.ma.getmaskarray(column)
    if data.dtype == object:
        missing_at = missing_at | np.equal(data, None)
    values = np.full(len(data), missing, dtype=dtype)
    values[~missing_at] = data[~missing_at]
    return values


def _columns(cursor: duckdb.DuckDBPyConnection) -> dict[str, np.ndarray]:
    """A `_VERSIONS` or `_LATEST` result as plain arrays: NaN for a missing figure, None for a missing
    stage, _NO_MONTH for no month reported 已验收."""
    result = cursor.fetchnumpy()
    return {
        "project_code": _filled(result["project_code"], object, None),
        "ordinal": _filled(result["ordinal"], np.int64, 0),
        "area_done_mu": _filled(result["area_done_mu"], float, math.nan),
        "patches_done": _filled(result["patches_done"], float, math.nan),
        "stage": _filled(result["stage"], object, None),
        "file_id": _filled(result["file_id"], np.int64, 0),
        "latest": _filled(result["latest"], bool, False),
        "accepted": _filled(result["accepted"], np.int64, _NO_MONTH),
        "look_further": _filled(result.get("look_further", np.zeros(len(result["ordinal"]))), bool, False),
    }


def read_history(con: duckdb.DuckDBPyConnection, source: Path) -> History:
    """The history held in `con`'s raw tables (the landing zone): each project's latest month, the rest
    as files ask (see the module docstring); `con` must stay open while it is used."""
    history = History(source, con=con)
    history._read_latest()
    return history


def load_history(warehouse: Path) -> History:
    """The whole history of the published warehouse at `warehouse`, opened read-only; an empty one (the
    file judged alone) when there is none yet."""
    if not warehouse.exists():
        return History()
    try:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            history = History(warehouse)
            versions = _columns(con.execute(_VERSIONS.format(months="")))
            history._take(con, versions)
            return history
    except duckdb.Error as exc:
        raise HistoryUnreadableError(warehouse, str(exc).splitlines()[0]) from exc


class HistoryUnreadableError(RegreenError):
    def __init__(self, warehouse: Path, reason: str) -> None:
        self.warehouse = warehouse
        super().__init__(
            f"无法从已发布的仓库 {warehouse} 读取已收填报：{reason}",
            f"cannot read the submissions received from the published warehouse {warehouse}: {reason}",
        )
