"""Shared fixtures: the plan reference and a writer of real submission files (.xlsx via openpyxl, .csv in
any encoding) for the submission tests."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

import openpyxl
import pytest

from regreen.project import BUNDLED_NOTICE
from regreen.submissions.columns import COLUMNS
from regreen.submissions.reference import PlanReference, load_reference


@pytest.fixture(scope="session")
def reference() -> PlanReference:
    return load_reference(BUNDLED_NOTICE)


class SubmissionFiles:
    """Writes submission files into a test's tmp_path. Rows are dicts keyed by column key; a value may be
    any cell value openpyxl takes (for .xlsx) or text (for .csv)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @staticmethod
    def row(**values: object) -> dict[str, object]:
        """A valid row: 百崎乡's 2023 project in 2024-03, under construction; `values` override."""
        base: dict[str, object] = {
            "report_month": "2024-03",
            "township": "百崎乡",
            "project_name": "百崎乡莲埭村废弃矿山生态治理项目",
            "patches_done": 10,
            "area_done_mu": 100,
            "forest_mu": 60,
            "farmland_mu": 30,
            "grassland_mu": 10,
            "stage": "施工中",
            "invested_10k_yuan": 250,
            "fund_higher_level": 100,
            "fund_district": 100,
            "fund_waste_rock": 30,
            "fund_social": 20,
            "waste_rock_10k_m3": 1.5,
            "supervisor": "泉州某工程监理有限公司",
            "accepted_on": None,
            "notes": None,
            "reporter": "林小梅",
            "phone": "13905951234",
        }
        return base | values

    def rows_for_month(self, month: str = "2024-03", **values: object) -> list[dict[str, object]]:
        """Valid rows for both of 百崎乡's plan projects in `month` (so no project is missing)."""
        second = {
            "project_name": "百崎莲埭、下埭村废弃矿山生态治理项目",
            "patches_done": 5,
            "area_done_mu": 80,
            "forest_mu": 80,
            "farmland_mu": 0,
            "grassland_mu": 0,
        }
        return [self.row(report_month=month) | values, self.row(report_month=month, **second) | values]

    def write(
        self,
        name: str,
        rows: Sequence[Mapping[str, object]],
        *,
        headers: Mapping[str, str] | None = None,
        title: str | None = None,
        trailer: Sequence[object] | None = None,
        encoding: str = "utf-8",
        sheet: str = "月度进展",
        sheet_before: str | None = None,
    ) -> Path:
        """Write `rows` under the canonical header (`headers` replaces some headers by key); `title` goes on
        a line above the header and `trailer` (a raw row, e.g. a 合计 row) below the rows. For .xlsx,
        `sheet_before` adds a decoy first sheet of that name."""
        header = [(headers or {}).get(c.key, c.header) for c in COLUMNS]
        lines: list[list[object]] = [[title]] if title else []
        lines.append(header)
        lines.extend([row.get(c.key) for c in COLUMNS] for row in rows)
        if trailer is not None:
            lines.append(list(trailer))
        path = self.folder / name
        if path.suffix == ".csv":
            with path.open("w", encoding=encoding, newline="") as handle:
                csv.writer(handle).writerows([["" if v is None else v for v in line] for line in lines])
        else:
            workbook = openpyxl.Workbook()
            if sheet_before:
                workbook.active.title = sheet_before
                workbook.active.append(["这不是填报表"])
                data = workbook.create_sheet(sheet)
            else:
                data = workbook.active
                data.title = sheet
            for line in lines:
                data.append(line)
            workbook.save(path)
        return path


@pytest.fixture
def files(tmp_path: Path) -> SubmissionFiles:
    return SubmissionFiles(tmp_path)


@pytest.fixture(scope="session")
def known_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The warehouse of tests/report_warehouse.py, built by ingest and dbt once per session: read it, or
    copy it (report_warehouse.write_warehouse) to change it."""
    from report_warehouse import build_warehouse

    return build_warehouse(tmp_path_factory.mktemp("known-built"))
