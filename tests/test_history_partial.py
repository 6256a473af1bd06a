"""The ingest's history read in part (each project's latest month, earlier months as files reach back)
gives every lookup the whole history gives: restated and late months, the first month reported 已验收
when a later version of that month took it back. Real DuckDB files."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np

from regreen.submissions.columns import ACCEPTED
from regreen.submissions.history import load_history, month_ordinal, read_history

MONTHS = [date(2024, m, 1) for m in range(1, 9)]


def landing(path: Path, projects: int = 5) -> Path:
    """raw.submission_files / submission_rows as the history reads them: five projects over eight months,
    with months sent again (restated), a rejected file, a month missing, and acceptances taken back."""
    with duckdb.connect(str(path)) as con:
        con.execute("create schema raw")
        con.execute(
            "create table raw.submission_files (file_id integer, original_name varchar, "
            "submitted_at timestamp, status varchar)"
        )
        con.execute(
            "create table raw.submission_rows (file_id integer, row_number integer, project_code varchar, "
            "report_month date, area_done_mu decimal(14, 4), patches_done integer, stage varchar)"
        )
        files = itertools.count(1)
        arrived = datetime(2024, 2, 5)

        def send(rows: list[tuple], status: str = "accepted") -> None:
            nonlocal arrived
            file_id = next(files)
            arrived += timedelta(days=3)
            con.execute(
                "insert into raw.submission_files values (?, ?, ?, ?)",
                [file_id, f"f{file_id}.csv", arrived, status],
            )
            con.executemany(
                "insert into raw.submission_rows values (?, ?, ?, ?, ?, ?, ?)",
                [[file_id, number, *row] for number, row in enumerate(rows, start=1)],
            )

        for index, month in enumerate(MONTHS):
            rows = []
            for project in range(projects):
                if project == 3 and month == MONTHS[4]:
                    continue  # a month it did not report
                stage = (
                    ACCEPTED if (project == 1 and index >= 3) or (project == 2 and index >= 6) else "施工中"
                )
                rows.append((f"P{project}", month, 10 * index + project, index, stage))
            send(rows)
            if index == 2:
                send([("P0", MONTHS[1], 999, 9, "施工中")], status="rejected")  # never current
        # Sent again: P0's third month with new figures, P1's first 已验收 month taken back to 施工中
        # (so its first 已验收 is its fifth month), P4's sixth month with no stage.
        send(
            [
                ("P0", MONTHS[2], 21.5, 2, "施工中"),
                ("P1", MONTHS[3], 31, 3, "施工中"),
                ("P4", MONTHS[5], None, None, None),
            ]
        )
    return path


def test_the_history_read_in_part_answers_as_the_whole_history(tmp_path: Path) -> None:
    path = landing(tmp_path / "landing.duckdb")
    whole = load_history(path)
    codes = [f"P{p}" for p in range(6)]  # P5 was never received
    with duckdb.connect(str(path), read_only=True) as con:
        # Each project's first month reported 已验收, by its current versions.
        partial = read_history(con, path)
        assert partial.accepted_month("P1") == whole.accepted_month("P1") == MONTHS[4]
        assert partial.accepted_month("P2") == MONTHS[6] and partial.accepted_month("P0") is None
        # A night's lookups: the next month, whose previous month is each project's latest.
        after = np.full(len(codes), month_ordinal(MONTHS[-1]) + 1)
        ids = partial.ids(codes)
        assert (partial.previous_cells(ids, after) >= 0).sum() == 5
        assert partial._floor[ids[:5]].tolist() == [month_ordinal(MONTHS[-1])] * 5  # nothing earlier read
        # Restated and late months reach back: every version and previous month as the whole history has it.
        for code, month in itertools.product(codes, [*MONTHS, date(2023, 12, 1), date(2024, 9, 1)]):
            assert partial.version(code, month) == whole.version(code, month), (code, month)
            assert partial.previous(code, month) == whole.previous(code, month), (code, month)
        assert partial.version("P0", MONTHS[2]).area_done_mu == 21.5
        assert partial.version("P4", MONTHS[5]).stage is None


def test_a_version_added_under_the_floor_reads_the_earlier_months_first(tmp_path: Path) -> None:
    path = landing(tmp_path / "landing.duckdb", projects=64)  # the grids' first size: full
    with duckdb.connect(str(path), read_only=True) as con:
        partial = read_history(con, path)
        whole = load_history(path)
        late = [("P3", MONTHS[4]), ("P99", MONTHS[4])]  # a month P3 did not report, late; a new project
        for history in (partial, whole):
            index = history.add_file("late.csv", datetime(2024, 12, 1))
            history.add_columns(
                [code for code, _ in late],
                np.array([month_ordinal(m) for _, m in late]),
                np.array([44.0, 1.0]),
                np.array([4.0, 1.0]),
                ["施工中", "施工中"],
                np.array([index, index], dtype=np.int32),
            )
        for code, month in itertools.product(("P3", "P99"), MONTHS):
            assert partial.version(code, month) == whole.version(code, month), month
            assert partial.previous(code, month) == whole.previous(code, month), month


def test_months_reserved_ahead_change_no_lookup(tmp_path: Path) -> None:
    """The judge reserves the months from the notice's to this one before the first file: columns with no
    version, before and after what was received, must answer as the history without them does."""
    path = landing(tmp_path / "landing.duckdb")
    codes = [f"P{p}" for p in range(6)]
    months = [date(2023, 12, 1), *MONTHS, date(2024, 9, 1), date(2025, 3, 1)]
    with duckdb.connect(str(path), read_only=True) as con:
        plain, reserved = read_history(con, path), read_history(con, path)
        reserved.reserve_months(date(2023, 6, 1), date(2025, 6, 1))
        assert reserved._file.shape[1] == 25 > plain._file.shape[1]
        for history in (plain, reserved):  # a version added after the reservation, in a reserved month
            index = history.add_file("late.csv", datetime(2024, 12, 1))
            history.add_columns(
                ["P2"], np.array([month_ordinal(date(2024, 11, 1))]), np.array([70.0]), np.array([7.0]),
                [ACCEPTED], np.array([index], dtype=np.int32),
            )  # fmt: skip
        for code, month in itertools.product(codes, [*months, date(2024, 11, 1), date(2024, 12, 1)]):
            assert reserved.version(code, month) == plain.version(code, month), (code, month)
            assert reserved.previous(code, month) == plain.previous(code, month), (code, month)
        assert reserved.previous("P2", date(2024, 12, 1)).area_done_mu == 70.0
        assert reserved.accepted_months == plain.accepted_months
