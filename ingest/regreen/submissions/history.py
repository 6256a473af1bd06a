"""What was received before a file: the history a submission is judged against.

`regreen check` reads it from the published warehouse, `regreen ingest` from the landing zone; both
read the same `raw` tables with the same query (`load_history`), and both judge a file with
`regreen.submissions.validate.Judge`, so that one file gets one verdict whichever command reads it.
The history holds, for every project and month, the current version (the latest accepted arrival):
its figures and stage, the file it came in and when it arrived; and when each project was first
reported 已验收. A file judged without a history (no published warehouse yet) is judged alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import NamedTuple

import duckdb
import numpy as np
import pandas as pd

from regreen.errors import RegreenError
from regreen.submissions.columns import ACCEPTED

# The current version of each project-month: the latest accepted arrival, as the warehouse's
# int_submission_rows_versioned orders versions (submitted_at, then file_id, then row number).
_CURRENT_VERSIONS = """
select
    project_code, year(report_month) * 12 + month(report_month) - 1 as month_ordinal, area_done_mu,
    patches_done, stage, file_id
from (
    select
        r.project_code, r.report_month, cast(r.area_done_mu as double) as area_done_mu, r.patches_done,
        r.stage, r.file_id,
        row_number() over (
            partition by r.project_code, r.report_month
            order by f.submitted_at desc, r.file_id desc, r.row_number desc
        ) as newest
    from raw.submission_rows as r
    inner join raw.submission_files as f on r.file_id = f.file_id
    where f.status = 'accepted'
)
where newest = 1
order by project_code, report_month
"""
_ACCEPTED_FILES = "select file_id, original_name, submitted_at from raw.submission_files where status = 'accepted' order by file_id"
# Rows of the current versions taken into the grids at once (DuckDB vectors of 2,048 rows): a whole
# table of them as one pandas frame held 2.5 GB at 100× the province load (4.4 M project-months).
_CHUNK_VECTORS = 64


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


@dataclass
class History:
    """Every project-month received so far; see the module docstring. `source` is where it was read
    (None: an empty history, the file judged alone).

    Held as grids, one row per project code and one column per month, so that a file is judged and
    added over whole columns (an ingest adds millions of rows): the figures, the stage (an index into
    `stages`) and the file each current version came in (an index into `files`), -1 where no version
    was received."""

    source: Path | None = None
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
        self._accepted, self._first = accepted, first

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

    def add_rows(self, rows: pd.DataFrame, file_name: str, submitted_at: datetime) -> None:
        """Take an accepted file's rows (FileReport.rows) as the current versions of their months."""
        file_index = self.add_file(file_name, submitted_at)
        months, distinct = pd.factorize(rows["report_month"])  # a file reports a few months
        ordinals = np.array([month_ordinal(m) for m in distinct], dtype=np.int64)[months]
        self.add_columns(
            rows["project_code"].tolist(),
            ordinals,
            rows["area_done_mu"].to_numpy(dtype=float, na_value=math.nan),
            rows["patches_done"].to_numpy(dtype=float, na_value=math.nan),
            rows["stage"].tolist(),
            np.full(len(rows), file_index, dtype=np.int32),
        )

    # --- looking up, over whole columns

    def cells(self, ids: np.ndarray, ordinals: np.ndarray) -> np.ndarray:
        """For each (grid row, month ordinal), its place in the flattened grids, or -1 when no version of
        it was received."""
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


def read_history(con: duckdb.DuckDBPyConnection, source: Path) -> History:
    """The history held in `con`'s raw tables (the landing zone, or a published warehouse)."""
    history = History(source)
    accepted = con.execute(_ACCEPTED_FILES).fetchall()
    history.files = [(name, submitted_at) for _, name, submitted_at in accepted]
    file_ids = np.array([file_id for file_id, _, _ in accepted], dtype=np.int64)
    # Streamed a chunk at a time: each project-month's current version is one row, in one chunk.
    cursor = con.execute(_CURRENT_VERSIONS)
    while len(frame := cursor.fetch_df_chunk(_CHUNK_VECTORS)):
        history.add_columns(
            frame["project_code"].tolist(),
            frame["month_ordinal"].to_numpy(dtype=np.int64),
            frame["area_done_mu"].to_numpy(dtype=float, na_value=math.nan),
            frame["patches_done"].to_numpy(dtype=float, na_value=math.nan),
            frame["stage"].tolist(),
            np.searchsorted(file_ids, frame["file_id"].to_numpy(dtype=np.int64)).astype(np.int32),
        )
    return history


def load_history(warehouse: Path) -> History:
    """The history of the published warehouse at `warehouse`, opened read-only; an empty one (the file
    judged alone) when there is none yet."""
    if not warehouse.exists():
        return History()
    try:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return read_history(con, warehouse)
    except duckdb.Error as exc:
        raise HistoryUnreadableError(warehouse, str(exc).splitlines()[0]) from exc


class HistoryUnreadableError(RegreenError):
    def __init__(self, warehouse: Path, reason: str) -> None:
        self.warehouse = warehouse
        super().__init__(
            f"无法从已发布的仓库 {warehouse} 读取已收填报：{reason}",
            f"cannot read the submissions received from the published warehouse {warehouse}: {reason}",
        )
