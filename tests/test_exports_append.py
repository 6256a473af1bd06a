"""Exports of the marts that grow by months: a night that only adds later months appends their rows to
the previous CSV (the previous bytes kept, the new lines after them) and their row groups to the
previous Parquet file (its row groups' bytes kept, the new ones after them, one footer for all), and any
other change writes both whole; either way the files hold the rows a whole export of the same warehouse
holds, and after a chain of nights those of a full build. Real DuckDB files, Parquet read back by DuckDB
and by fastparquet, and for the chain, real nightly builds with dbt and the suites."""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
from fastparquet import ParquetFile

from regreen.build import in_background
from regreen.parquet_append import MAGIC, append_row_groups
from regreen.project import PROJECT_ROOT, DataDir
from regreen.publish import (
    EXPORT_MANIFEST,
    MONTHLY_EXPORTS,
    UTF8_BOM,
    StagedExports,
    export_dir,
    export_marts,
    open_read_only,
    swap_exports,
)
from regreen.submissions.reference import load_reference

sys.path.insert(0, str(PROJECT_ROOT / "bench"))
import bench_nightly  # noqa: E402  (the bench's generator of province-sized plans and months)

sys.path.insert(0, str(PROJECT_ROOT / "tests"))
from test_incremental_chain import night, query  # noqa: E402


def csv_bytes(export: Path, name: str = "fct_project_month") -> bytes:
    return (export / "csv" / f"{name}.csv").read_bytes()


def row_groups_bytes(path: Path) -> bytes:
    """A Parquet file's bytes before its footer: the magic and its row groups' pages."""
    data = path.read_bytes()
    assert data.endswith(MAGIC)
    return data[: len(data) - 8 - int.from_bytes(data[-8:-4], "little")]


def export(database: Path, target: Path, previous: Path | None = None) -> dict:
    with open_read_only(database) as con:
        export_marts(con, target, target.name, previous=previous)
    return json.loads((target / EXPORT_MANIFEST).read_text(encoding="utf-8"))


def assert_same_monthly_files(exported: Path, fresh: Path) -> None:
    """`exported`'s monthly marts hold the rows of `fresh`'s, in the table's order either build gave
    them: the same header and lines (CSV), the same columns, types and values (Parquet)."""
    names = [name for name in MONTHLY_EXPORTS if (fresh / f"{name}.parquet").exists()]
    assert names
    for name in names:
        lines = [(folder / "csv" / f"{name}.csv").read_bytes().splitlines() for folder in (exported, fresh)]
        assert lines[0][0] == lines[1][0] and sorted(lines[0]) == sorted(lines[1]), name
        files = [folder / f"{name}.parquet" for folder in (exported, fresh)]
        with duckdb.connect() as con:
            described = [con.execute(f"describe select * from '{path}'").fetchall() for path in files]
            assert described[0] == described[1], name
            for a, b in (files, files[::-1]):
                extra = con.execute(
                    f"select count(*) from (select * from '{a}' except all select * from '{b}')"
                ).fetchone()[0]
                assert extra == 0, f"{name}: {extra} rows in {a} not in {b}"


def warehouse(path: Path, months: list[date], projects: int = 5) -> Path:
    """A closed warehouse holding marts.fct_project_month for `months` (rows inserted latest month first)
    and a mart that is not monthly."""
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists raw")
        con.execute("create or replace table raw.plan_documents as select 'r' as run_id")
        con.execute("create schema if not exists marts")
        con.execute(
            "create or replace table marts.fct_project_month "
            "(project_code varchar, report_month date, area_done_mu decimal(12, 2), note varchar)"
        )
        for month in sorted(months, reverse=True):
            con.executemany(
                "insert into marts.fct_project_month values (?, ?, ?, ?)",
                [
                    [f"P{p:03d}", month, p + month.month / 100, f"=SUM({p})" if p == 2 else "ok"]
                    for p in range(projects)
                ],
            )
        con.execute("create or replace table marts.dim_project as select 'P000' as project_code")
        con.execute("checkpoint")
    return path


def test_a_month_added_is_appended_and_equals_a_whole_export(tmp_path: Path) -> None:
    months = [date(2023, m, 1) for m in (1, 2, 3)]
    database = warehouse(tmp_path / "w.duckdb", months)
    first = export(database, tmp_path / "first")
    assert first["through"] == {"fct_project_month": "2023-03-01"}

    warehouse(database, [*months, date(2023, 4, 1)])
    second = export(database, tmp_path / "second", previous=tmp_path / "first")
    fresh = export(database, tmp_path / "fresh")
    assert second["fingerprints"] == fresh["fingerprints"] and second["rows"] == fresh["rows"] == {
        "dim_project": 1,
        "fct_project_month": 20,
    }
    assert_same_monthly_files(tmp_path / "second", tmp_path / "fresh")
    # The CSV appended, not rewritten: the previous bytes come first, then the new month's.
    old_csv = (tmp_path / "first" / "csv" / "fct_project_month.csv").read_bytes()
    new_csv = (tmp_path / "second" / "csv" / "fct_project_month.csv").read_bytes()
    assert new_csv.startswith(old_csv) and new_csv.startswith(UTF8_BOM)
    with (tmp_path / "second" / "csv" / "fct_project_month.csv").open(
        encoding="utf-8-sig", newline=""
    ) as handle:
        rows = list(csv.DictReader(handle))
    assert [row["report_month"] for row in rows][-5:] == ["2023-04-01"] * 5  # the new month at the end
    assert {row["note"] for row in rows} == {"ok", "'=SUM(2)"}  # the new month's formula defused too
    # The Parquet file appended too: the previous row groups' bytes first, then the new month's row group,
    # which every reader reads as one file (pandas here through fastparquet, the library it has).
    old_parquet, new_parquet = (
        tmp_path / folder / "fct_project_month.parquet" for folder in ("first", "second")
    )
    assert row_groups_bytes(new_parquet).startswith(row_groups_bytes(old_parquet))
    with duckdb.connect() as con:
        groups = [
            con.execute(f"select count(distinct row_group_id) from parquet_metadata('{p}')").fetchone()[0]
            for p in (old_parquet, new_parquet)
        ]
        assert groups == [1, 2]
    read = [
        ParquetFile(str(path)).to_pandas().sort_values(["report_month", "project_code"], ignore_index=True)
        for path in (new_parquet, tmp_path / "fresh" / "fct_project_month.parquet")
    ]
    pd.testing.assert_frame_equal(read[0], read[1])
    assert len(read[0]) == 20 and read[0]["report_month"].max() == pd.Timestamp("2023-04-01")
    # An unchanged mart is linked, not written.
    assert (tmp_path / "second" / "dim_project.parquet").stat().st_ino == (
        tmp_path / "first" / "dim_project.parquet"
    ).stat().st_ino


def test_a_previous_parquet_file_that_cannot_take_row_groups_is_written_whole(tmp_path: Path) -> None:
    """A previous file with bloom filters (as exports were written before appending): their offsets are
    past what fastparquet's codec writes, so its footer is not merged; the file is written whole."""
    months = [date(2023, m, 1) for m in (1, 2, 3)]
    database = warehouse(tmp_path / "w.duckdb", months)
    export(database, tmp_path / "first")
    old_parquet = tmp_path / "first" / "fct_project_month.parquet"
    with duckdb.connect() as con:
        con.execute(f"attach '{database}' as w (read_only)")
        con.execute(f"copy (select * from w.marts.fct_project_month) to '{old_parquet}' (format parquet)")
        blooms = con.execute(
            f"select count(bloom_filter_offset) from parquet_metadata('{old_parquet}')"
        ).fetchone()[0]
    assert blooms > 0
    warehouse(database, [*months, date(2023, 4, 1)])
    export(database, tmp_path / "second", previous=tmp_path / "first")
    export(database, tmp_path / "fresh")
    assert_same_monthly_files(tmp_path / "second", tmp_path / "fresh")
    new_parquet = tmp_path / "second" / "fct_project_month.parquet"
    assert not row_groups_bytes(new_parquet).startswith(row_groups_bytes(old_parquet))
    assert csv_bytes(tmp_path / "second").startswith(csv_bytes(tmp_path / "first"))  # the CSV appended
    assert sorted(p.name for p in (tmp_path / "second").rglob("*.part")) == []


def test_row_groups_are_appended_only_to_a_file_of_the_same_columns(tmp_path: Path) -> None:
    def write(path: Path, query: str, options: str = ", write_bloom_filter false") -> Path:
        with duckdb.connect() as con:
            con.execute(f"copy ({query}) to '{path}' (format parquet{options})")
        return path

    head = write(tmp_path / "head.parquet", "select range as id, 'a' || range as name from range(3)")
    tail = write(tmp_path / "tail.parquet", "select range + 3 as id, 'b' || range as name from range(2)")
    before, pages = head.read_bytes(), row_groups_bytes(head)
    other = write(tmp_path / "other.parquet", "select range as id, range as name from range(2)")
    assert not append_row_groups(head, other) and head.read_bytes() == before  # name is not text there
    blooms = write(
        tmp_path / "blooms.parquet", "select range as id, 'c' || (range % 10) as name from range(100)", ""
    )
    with duckdb.connect() as con:  # a dictionary-encoded column: DuckDB adds a bloom filter by default
        assert con.execute(f"select count(bloom_filter_offset) from parquet_metadata('{blooms}')").fetchone()[
            0
        ]
    assert not append_row_groups(head, blooms) and head.read_bytes() == before
    assert append_row_groups(head, tail)
    with duckdb.connect() as con:
        assert con.execute(f"select * from '{head}'").fetchall() == [
            (0, "a0"),
            (1, "a1"),
            (2, "a2"),
            (3, "b0"),
            (4, "b1"),
        ]
        assert (
            con.execute(f"describe select * from '{head}'").fetchall()
            == con.execute(f"describe select * from '{tail}'").fetchall()
        )
    assert head.read_bytes().startswith(pages)  # the first file's row groups as they were


def test_a_changed_earlier_month_writes_the_file_whole(tmp_path: Path) -> None:
    months = [date(2023, m, 1) for m in (1, 2, 3)]
    database = warehouse(tmp_path / "w.duckdb", months)
    export(database, tmp_path / "first")
    warehouse(database, [*months, date(2023, 4, 1)])
    with duckdb.connect(str(database)) as con:  # a restatement: an earlier month's figure changed
        con.execute(
            "update marts.fct_project_month set area_done_mu = 99 where report_month = '2023-02-01' and project_code = 'P001'"
        )
    second = export(database, tmp_path / "second", previous=tmp_path / "first")
    export(database, tmp_path / "fresh")
    assert_same_monthly_files(tmp_path / "second", tmp_path / "fresh")
    assert csv_bytes(tmp_path / "second") == csv_bytes(tmp_path / "fresh")  # written whole
    assert second["through"] == {"fct_project_month": "2023-04-01"}

    # A late month (earlier than the latest exported) is a change to the rows below the boundary too.
    warehouse(database, [date(2022, 12, 1), *months, date(2023, 4, 1)])
    export(database, tmp_path / "third", previous=tmp_path / "second")
    export(database, tmp_path / "fresh3")
    assert_same_monthly_files(tmp_path / "third", tmp_path / "fresh3")
    assert csv_bytes(tmp_path / "third") == csv_bytes(tmp_path / "fresh3")


def stage(data_dir: DataDir, database: Path, run_id: str) -> StagedExports:
    """What a nightly does: the previous CSVs copied first (while dbt would run), then the marts
    exported beside the suites, on a connection of the build's own (`in_background`)."""
    staged = StagedExports(data_dir, run_id)
    staged.prefetch()
    in_background(database, staged.write, "256MB")()
    return staged


def test_staged_exports_append_to_a_copy_and_leave_the_published_files_alone(tmp_path: Path) -> None:
    data_dir = DataDir(tmp_path / "data").ensure()
    months = [date(2023, m, 1) for m in (1, 2, 3)]
    database = warehouse(tmp_path / "w.duckdb", months)
    export(database, tmp_path / "data" / "export")
    published = export_dir(data_dir) / "csv" / "fct_project_month.csv"
    before, inode = published.read_bytes(), published.stat().st_ino

    warehouse(database, [*months, date(2023, 4, 1)])
    staged = stage(data_dir, database, "r2")
    assert staged.written
    new_csv = staged.target / "csv" / "fct_project_month.csv"
    # The staged CSV is a file of its own holding the previous bytes, then the new month's lines; the
    # published file (readers may have it open) is as it was.
    assert new_csv.stat().st_ino != inode and published.read_bytes() == before
    assert new_csv.read_bytes().startswith(before) and len(new_csv.read_bytes()) > len(before)
    # The folder holds the exports and nothing else (no copy left over), and equals a whole export.
    assert sorted(p.name for p in (staged.target / "csv").iterdir()) == [
        "dim_project.csv",
        "fct_project_month.csv",
    ]
    export(database, tmp_path / "fresh")
    assert_same_monthly_files(staged.target, tmp_path / "fresh")
    swap_exports(staged.target, export_dir(data_dir))
    staged.close()
    assert (export_dir(data_dir) / "csv" / "fct_project_month.csv").read_bytes().startswith(before)

    # A restated month: the file is written whole, the speculative copy removed, and a run that does
    # not publish leaves no staged folder behind.
    with duckdb.connect(str(database)) as con:
        con.execute("update marts.fct_project_month set note = 'x' where report_month = '2023-01-01'")
    staged = stage(data_dir, database, "r3")
    export(database, tmp_path / "fresh3")
    assert csv_bytes(staged.target) == csv_bytes(tmp_path / "fresh3")
    assert not list(staged.target.rglob("*.previous"))
    staged.close()
    assert not staged.target.exists()


def test_an_export_that_fails_beside_the_suites_fails_the_build(tmp_path: Path) -> None:
    database = warehouse(tmp_path / "w.duckdb", [date(2023, 1, 1)])

    def broken(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("copy (select * from marts.no_such_mart) to '/dev/null'")

    join = in_background(database, broken, "256MB")
    try:
        join()
    except duckdb.CatalogException as exc:
        assert "no_such_mart" in str(exc)
    else:
        raise AssertionError("the export's error was not raised")


def restate(data_dir: DataDir, reference, month: date) -> None:
    """The townships' files for `month` again, each with a note added: new versions of those months."""
    bench_nightly.write_province_month(data_dir, reference, month)
    for path in data_dir.inbox.glob(f"*-{month:%Y-%m}-月度进展.csv"):
        arrived = path.stat().st_mtime  # the month's arrival; a file changed just now would wait to settle
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.reader(handle))
        note = rows[0].index("备注")
        for row in rows[1:]:
            row[note] = "更正 / corrected"
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            csv.writer(handle).writerows(rows)
        os.utime(path, (arrived, arrived))


def full_build_exports(chained: DataDir, root: Path, notice: Path) -> Path:
    """The exports of a full build of `chained`'s landing zone, written whole (no previous export)."""
    full = DataDir(root)
    shutil.copytree(chained.root, full.root, ignore=shutil.ignore_patterns("export", "history"))
    assert night(full, notice, "--full") == "full"
    return full.root / "export"


def test_a_chain_of_nights_exports_what_a_full_build_exports(tmp_path: Path) -> None:
    data_dir = DataDir(tmp_path / "chained").ensure()
    notice = bench_nightly.synthetic_notice(tmp_path / "notice.txt", 30, seed=5, contracts=data_dir.contracts)
    reference = load_reference(notice)
    export = data_dir.root / "export"
    for month in (date(2023, 6, 1), date(2023, 7, 1), date(2023, 8, 1)):
        bench_nightly.write_province_month(data_dir, reference, month)
    assert night(data_dir, notice) == "full"

    for number, month in enumerate((date(2023, 9, 1), date(2023, 10, 1)), start=1):
        previous_csv = {name: (export / "csv" / f"{name}.csv").read_bytes() for name in MONTHLY_EXPORTS}
        previous_groups = {name: row_groups_bytes(export / f"{name}.parquet") for name in MONTHLY_EXPORTS}
        bench_nightly.write_province_month(data_dir, reference, month)
        assert night(data_dir, notice) == "incremental"
        for name in MONTHLY_EXPORTS:
            assert csv_bytes(export, name).startswith(previous_csv[name]), name
            assert len(csv_bytes(export, name)) > len(previous_csv[name]), name
            groups = row_groups_bytes(export / f"{name}.parquet")
            assert groups.startswith(previous_groups[name]) and len(groups) > len(previous_groups[name]), name
        fresh = tmp_path / f"fresh-{number}"
        with open_read_only(data_dir.warehouse) as con:
            export_marts(con, fresh, "fresh")
        assert_same_monthly_files(export, fresh)

    # A month sent again: its new versions change the earlier rows of fct_submission_versions (their
    # version count), so that file is written whole, as a full build writes it.
    before_restatement = csv_bytes(export, "fct_submission_versions")
    restate(data_dir, reference, date(2023, 7, 1))
    assert night(data_dir, notice) == "incremental"
    assert (
        query(data_dir, "select count(*) from marts.fct_submission_versions where version_number > 1")[0][0]
        > 0
    )
    assert not csv_bytes(export, "fct_submission_versions").startswith(before_restatement)  # written whole
    assert_same_monthly_files(export, full_build_exports(data_dir, tmp_path / "full", notice))

    # After it, a month added is appended again; and the chain's files still equal a full build's.
    before_month = csv_bytes(export, "fct_submission_versions")
    bench_nightly.write_province_month(data_dir, reference, date(2023, 11, 1))
    assert night(data_dir, notice) == "incremental"
    assert csv_bytes(export, "fct_submission_versions").startswith(before_month)
    assert_same_monthly_files(export, full_build_exports(data_dir, tmp_path / "full-2", notice))
