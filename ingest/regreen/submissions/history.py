"""What was received before a file: the history a submission is judged against.

`regreen check` reads it from the published warehouse, `regreen ingest` from the landing zone; both
read the same `raw` tables with the same query (`load_history`), and both judge a file with
`regreen.submissions.validate.Judge`, so that one file gets one verdict whichever command reads it.
The history holds, for every project and month, the current version (the latest accepted arrival):
its figures and stage, the file it came in and when it arrived; and when each project was first
reported 已验收. A file judged without a history (no published warehouse yet) is judged alone.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import NamedTuple

import duckdb
import pandas as pd

from regreen.errors import RegreenError
from regreen.submissions.columns import ACCEPTED

# The current version of each project-month: the latest accepted arrival, as the warehouse's
# int_submission_rows_versioned orders versions (submitted_at, then file_id, then row number).
_CURRENT_VERSIONS = """
select project_code, report_month, area_done_mu, patches_done, stage, original_name, submitted_at
from (
    select
        r.project_code, r.report_month, cast(r.area_done_mu as double) as area_done_mu, r.patches_done,
        r.stage, f.original_name, f.submitted_at,
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


class Version(NamedTuple):
    """The current version of one project-month (a NamedTuple: an ingest makes one per row it lands)."""

    project_code: str
    report_month: date
    area_done_mu: float | None
    patches_done: int | None
    stage: str
    file_name: str  # the name the file had in the inbox
    submitted_at: datetime  # when it arrived


@dataclass
class History:
    """Every project-month received so far; see the module docstring. `source` is where it was read
    (None: an empty history, the file judged alone)."""

    source: Path | None = None
    _versions: dict[tuple[str, date], Version] = field(default_factory=dict)
    _months: dict[str, list[date]] = field(default_factory=dict)  # each project's months, ascending
    _accepted: dict[str, date] = field(default_factory=dict)  # first month reported 已验收

    def add(self, version: Version) -> None:
        """Take `version` as the current one for its project-month (it arrived after what is held)."""
        key = (version.project_code, version.report_month)
        if key not in self._versions:
            bisect.insort(self._months.setdefault(version.project_code, []), version.report_month)
        self._versions[key] = version
        if version.stage == ACCEPTED:
            known = self._accepted.get(version.project_code)
            if known is None or version.report_month < known:
                self._accepted[version.project_code] = version.report_month

    def add_rows(self, rows: pd.DataFrame, file_name: str, submitted_at: datetime) -> None:
        """Take an accepted file's rows (FileReport.rows) as the current versions of their months."""
        areas = rows["area_done_mu"].to_numpy(dtype=float, na_value=math.nan).tolist()
        patches = rows["patches_done"].to_numpy(dtype=float, na_value=math.nan).tolist()
        for code, month, area, done, stage in zip(
            rows["project_code"].tolist(),
            rows["report_month"].tolist(),
            areas,
            patches,
            rows["stage"].tolist(),
            strict=True,
        ):
            self.add(
                Version(
                    code,
                    month,
                    None if math.isnan(area) else area,
                    None if math.isnan(done) else int(done),
                    stage,
                    file_name,
                    submitted_at,
                )
            )

    def version(self, project_code: str, month: date) -> Version | None:
        """The version of `project_code` for `month` already received, if any."""
        return self._versions.get((project_code, month))

    def previous(self, project_code: str, month: date) -> Version | None:
        """The latest month of `project_code` received before `month`, if any."""
        months = self._months.get(project_code, [])
        position = bisect.bisect_left(months, month)
        return self._versions[(project_code, months[position - 1])] if position else None

    def accepted_month(self, project_code: str) -> date | None:
        """The first month `project_code` was reported 已验收, if it was."""
        return self._accepted.get(project_code)

    @property
    def accepted_months(self) -> dict[str, date]:
        return dict(self._accepted)


def read_history(con: duckdb.DuckDBPyConnection, source: Path) -> History:
    """The history held in `con`'s raw tables (the landing zone, or a published warehouse)."""
    history = History(source)
    for code, month, area, patches, stage, name, submitted_at in con.execute(_CURRENT_VERSIONS).fetchall():
        history.add(Version(code, month, area, patches, stage, name, submitted_at))
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
