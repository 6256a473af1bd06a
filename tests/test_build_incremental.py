"""What an incremental build starts from: the landing rows it appends, and when it refuses to build on
the published warehouse. Real DuckDB files; the end-to-end comparison with a full rebuild is in
test_nightly.py and test_build.py."""

from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from regreen.build import append_submissions, copy_submissions, inputs_fingerprint
from regreen.plan import parse_notice
from regreen.project import BUNDLED_NOTICE
from regreen.submissions.landing import ensure_landing

RECEIVED = datetime(2024, 2, 3, 9)


def land(landing: Path, file_id: int, with_issue: bool = False) -> None:
    """One accepted file of two rows (reporter and phone included, as ingest lands them)."""
    with duckdb.connect(str(landing)) as con:
        ensure_landing(con)
        con.execute(
            "insert into raw.submission_files values "
            "(?, ?, ?, ?, 1000, ?, ?, 'accepted', null, 2, 2, 0, 0, 0, null, false, 'test')",
            [
                file_id,
                f"sha-{file_id}",
                f"张坂镇-{file_id}.csv",
                f"archive/sha-{file_id}.csv",
                RECEIVED,
                RECEIVED,
            ],
        )
        con.execute(
            "insert into raw.submission_receipts "
            "values (nextval('raw.receipt_id_seq'), ?, ?, ?, ?, 'new', 'test')",
            [file_id, f"张坂镇-{file_id}.csv", RECEIVED, RECEIVED],
        )
        con.executemany(
            "insert into raw.submission_rows (file_id, row_number, report_month, township, project_name, "
            "project_code, stage, area_done_mu, reporter, phone) "
            "values (?, ?, ?, '张坂镇', '项目', '2023-04', '施工中', ?, '林小梅', '13905951234')",
            [[file_id, row, date(2024, file_id, 1), 10 * file_id + row] for row in (2, 3)],
        )
        if with_issue:
            con.execute(
                "insert into raw.submission_issues values "
                "(?, null, 3, '备注', '=1', 'warning', 'formula', '公式', 'formula')",
                [file_id],
            )


def resend(landing: Path, file_id: int) -> None:
    """The same bytes mailed again: only a receipt lands."""
    with duckdb.connect(str(landing)) as con:
        con.execute(
            "insert into raw.submission_receipts "
            "values (nextval('raw.receipt_id_seq'), ?, '转发.csv', ?, ?, 'duplicate', 'test')",
            [file_id, RECEIVED, RECEIVED],
        )


def counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    tables = ("submission_files", "submission_receipts", "submission_rows", "submission_issues")
    return {t: con.execute(f"select count(*) from raw.{t}").fetchone()[0] for t in tables}


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, duckdb.DuckDBPyConnection]:
    """A landing zone with files 1 and 2, and a warehouse holding a copy of it."""
    landing = tmp_path / "landing.duckdb"
    land(landing, 1)
    land(landing, 2, with_issue=True)
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute("create schema raw")
    copy_submissions(con, landing)
    yield landing, con
    con.close()


def test_only_the_rows_received_since_are_appended_without_personal_data(built) -> None:
    landing, con = built
    land(landing, 3)
    resend(landing, 1)

    assert append_submissions(con, landing) == ["submission_files", "submission_receipts", "submission_rows"]
    assert counts(con) == {
        "submission_files": 3,
        "submission_receipts": 4,
        "submission_rows": 6,
        "submission_issues": 1,
    }
    assert con.execute(
        "select file_id, area_done_mu from raw.submission_rows where file_id = 3"
    ).fetchall() == [
        (3, 32),
        (3, 33),
    ]
    columns = {row[0] for row in con.execute("describe raw.submission_rows").fetchall()}
    assert not {"reporter", "phone"} & columns
    # What a full copy of the landing zone gives, row for row.
    con.execute("attach ':memory:' as rebuilt")
    con.execute("create schema rebuilt.raw")
    con.execute("use rebuilt")
    copy_submissions(con, landing)
    con.execute("use warehouse")
    for table in ("submission_files", "submission_receipts", "submission_rows", "submission_issues"):
        for a, b in (("warehouse", "rebuilt"), ("rebuilt", "warehouse")):
            extra = con.execute(
                f"select * from {a}.raw.{table} except all select * from {b}.raw.{table}"
            ).fetchall()
            assert extra == [], (table, a)

    assert append_submissions(con, landing) == []  # nothing new the second time


# What a landing zone that does not continue the warehouse looks like, each seen without hashing the rows:
# rows removed from a file the warehouse holds, a file's record changed, an issue's text rewritten (as
# `regreen purge` masks one), a receipt gone.
NOT_CONTINUED = {
    "rows removed": "delete from raw.submission_rows where file_id = 1 and row_number = 2",
    "a file's record changed": "update raw.submission_files set sha256 = 'other' where file_id = 1",
    "an issue's text rewritten": "update raw.submission_issues set value = '***' where file_id = 2",
    "a receipt removed": "delete from raw.submission_receipts where receipt_id = 1",
}


@pytest.mark.parametrize("edit", NOT_CONTINUED.values(), ids=NOT_CONTINUED.keys())
def test_a_landing_zone_that_does_not_continue_the_warehouse_is_refused(
    built, tmp_path: Path, edit: str
) -> None:
    landing, con = built
    before = counts(con)
    edited = tmp_path / "edited.duckdb"
    shutil.copyfile(landing, edited)
    land(edited, 3)
    with duckdb.connect(str(edited)) as other:
        other.execute(edit)
    assert append_submissions(con, edited) is None
    assert counts(con) == before  # nothing appended from it

    assert append_submissions(con, tmp_path / "no-landing-yet.duckdb") is None


def test_the_personal_data_purge_leaves_a_landing_zone_the_warehouse_continues(built) -> None:
    """`regreen purge` clears the reporter and phone in place: never copied, so nothing to rebuild."""
    landing, con = built
    with duckdb.connect(str(landing)) as other:
        other.execute("update raw.submission_rows set reporter = null, phone = null")
    land(landing, 3)
    assert append_submissions(con, landing) == ["submission_files", "submission_receipts", "submission_rows"]


def test_the_inputs_fingerprint_follows_the_notice_and_the_storage_format(tmp_path: Path) -> None:
    plan = parse_notice(BUNDLED_NOTICE)
    assert inputs_fingerprint(plan, None, "v1.1.0") == inputs_fingerprint(
        parse_notice(BUNDLED_NOTICE), None, "v1.1.0"
    )
    moved = tmp_path / "notice.txt"
    shutil.copyfile(BUNDLED_NOTICE, moved)
    assert inputs_fingerprint(parse_notice(moved), None, "v1.1.0") != inputs_fingerprint(plan, None, "v1.1.0")
    # Another storage format cannot be had by copying the published file: a full build makes it.
    assert inputs_fingerprint(plan, None, "latest") != inputs_fingerprint(plan, None, "v1.1.0")
