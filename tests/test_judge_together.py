"""Several files judged in one pass (`Judge.judge_files`, as `regreen ingest` judges them) get exactly the
verdict, issues, messages and rows each gets judged alone, one after the other (`Judge.judge`, as `regreen
check` judges them): on the sample inbox with errors, warnings, restatements, missing projects, a 合计 row,
a blank township and a duplicate row written into some of its files."""

from __future__ import annotations

import dataclasses
import math
import os
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from regreen.project import DataDir
from regreen.submissions import validate
from regreen.submissions.ingest import _local_time, ingest_inbox
from regreen.submissions.reference import PlanReference
from regreen.submissions.sample import write_sample
from regreen.submissions.validate import FileReport, Judge, Submitted

TODAY = date(2026, 11, 28)
AREA = 4  # the column of 累计治理面积 in the sample's CSV files
PROJECT, TOWNSHIP = 2, 1


def _edit(path: Path, change: str) -> None:
    """Write `change` into the sample CSV file at `path`, keeping its arrival time."""
    stamp = path.stat().st_mtime_ns
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    first, second = lines[1].split(","), lines[-1].split(",")
    if change == "negative":  # an error: the file is rejected
        first[AREA] = "-3"
    elif change == "unknown project":
        first[PROJECT] = "不存在的废弃矿山治理项目"
    elif change == "decrease":  # a warning against the month before
        first[AREA] = "0.5"
    elif change == "missing project" and len(lines) > 2:  # a warning: the last project left out
        lines.pop()
    elif change == "blank township":
        first[TOWNSHIP] = ""
    elif change == "duplicate row":
        lines.append(lines[-1])
    elif change == "total":
        lines.append(",".join(["合计", "", "", "", "99999", *[""] * (len(second) - 5)]))
    lines[1] = ",".join(first)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")
    os.utime(path, ns=(stamp, stamp))


@pytest.fixture(scope="module")
def varied(tmp_path_factory: pytest.TempPathFactory, reference: PlanReference) -> DataDir:
    """The sample inbox, its CSV files in UTF-8 with the header on the first line and no 合计 row (so that
    files of two townships may be judged together), every fourth of them changed as _edit knows."""
    data_dir = DataDir(tmp_path_factory.mktemp("together")).ensure()
    write_sample(data_dir, reference, 2023, TODAY)
    changes = ["negative", "unknown project", "decrease", "missing project", "blank township"]
    changes += ["duplicate row", "total"]
    csv_files = sorted(data_dir.inbox.glob("*.csv"), key=lambda p: (p.stat().st_mtime_ns, p.name))
    for path in csv_files:
        _header_first(path)
    for number, path in enumerate(csv_files[3::4]):
        _edit(path, changes[number % len(changes)])
    # Rows of the next file's township, so that two files meet: they restate its rows (judged alone, one
    # after the other), never pair with them (judged together, they would).
    for before, after in zip(csv_files[1::8], csv_files[2::8], strict=False):
        stamp = before.stat().st_mtime_ns
        borrowed = after.read_text(encoding="utf-8-sig").splitlines()[1:]
        with before.open("a", encoding="utf-8") as handle:
            handle.write("\n".join(borrowed) + "\n")
        os.utime(before, ns=(stamp, stamp))
    return data_dir


def _header_first(path: Path) -> None:
    """Rewrite the sample CSV file at `path` as UTF-8, from its header on, without its 合计 row."""
    stamp, data = path.stat().st_mtime_ns, path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("gb18030")
    lines = text.splitlines()
    header = next(n for n, line in enumerate(lines) if line.startswith("填报月份"))
    kept = [line for line in lines[header:] if not line.startswith("合计")]
    path.write_text("\n".join(kept) + "\n", encoding="utf-8-sig")
    os.utime(path, ns=(stamp, stamp))


def _arrivals(data_dir: DataDir) -> list[Submitted]:
    paths = sorted(data_dir.inbox.iterdir(), key=lambda p: (p.stat().st_mtime_ns, p.name))
    return [Submitted(Path(p.name), _local_time(p.stat().st_mtime_ns), p.name, p.read_bytes()) for p in paths]


def _seen(report: FileReport) -> tuple:
    """Everything a report says, but its rows."""
    issues = [dataclasses.astuple(issue) for issue in (*report.errors, *report.warnings)]
    return (
        report.file,
        report.status,
        report.sheet,
        report.rows_read,
        report.error_count,
        report.render(),
        issues,
    )


def test_files_judged_together_get_the_verdicts_they_get_alone(
    varied: DataDir, reference: PlanReference, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _arrivals(varied)
    alone_judge = Judge(reference, TODAY)
    alone = [alone_judge.judge(f.path, f.submitted_at, f.name, f.data) for f in files]
    passes: list[tuple[int, bool]] = []  # files in each pass of the checks over several, and if it held
    reports = validate._FileValidation.reports

    def counted(self: validate._FileValidation) -> list[FileReport]:
        try:
            judged = reports(self)
        except validate._Apart:
            passes.append((len(self.parts), False))
            raise
        passes.append((len(self.parts), True))
        return judged

    monkeypatch.setattr(validate._FileValidation, "reports", counted)
    together_judge = Judge(reference, TODAY)
    together = together_judge.judge_files(files)

    assert [_seen(r) for r in together] == [_seen(r) for r in alone]
    for mine, theirs in zip(together, alone, strict=True):
        pd.testing.assert_frame_equal(mine.rows, theirs.rows)
    # The cases are there: several files at a time, and groups judged again one by one.
    grouped = [size for size, held in passes if size > 1 and held]
    assert len(grouped) >= 5 and sum(grouped) >= 15, passes
    assert any(size > 1 and not held for size, held in passes), passes
    codes = {i.code for r in alone for i in (*r.errors, *r.warnings)}
    assert {"number_negative", "project_unknown", "cumulative_decrease", "restatement"} <= codes
    assert {"project_missing_from_month", "township_missing", "duplicate_project_month"} <= codes
    assert "total_mismatch" in codes
    assert {r.status for r in together} == {"accepted", "rejected"}
    # Each accepted file joined the history, in order: the same versions, months and acceptances.
    assert together_judge.history.accepted_months == alone_judge.history.accepted_months
    assert together_judge.history.files == alone_judge.history.files
    for report in alone:
        for code, month in zip(report.columns["project_code"], report.columns["report_month"], strict=True):
            if code is not None and month is not None:
                assert together_judge.history.version(code, month) == alone_judge.history.version(code, month)


def test_the_ingest_lands_what_each_file_judged_alone_gives(
    tmp_path: Path, varied: DataDir, reference: PlanReference
) -> None:
    data_dir = DataDir(tmp_path / "data").ensure()
    for path in varied.inbox.iterdir():
        os.link(path, data_dir.inbox / path.name)
    files = _arrivals(data_dir)
    judge = Judge(reference, TODAY)
    alone: dict[str, FileReport] = {}
    outcomes, seen = [], set()
    for f in files:  # a second copy of a content is a duplicate, not judged
        if f.data in seen:
            outcomes.append((f.name, "duplicate"))
            continue
        seen.add(f.data)
        alone[f.name] = judge.judge(f.path, f.submitted_at, f.name, f.data)
        outcomes.append((f.name, alone[f.name].status))

    summary = ingest_inbox(data_dir, reference, TODAY)

    assert [(o.name, o.outcome) for o in summary.files] == outcomes
    with duckdb.connect(str(data_dir.landing), read_only=True) as con:
        issues = con.execute(
            "select f.original_name, i.row_number, i.column_name, i.value, i.severity, i.code, i.message_zh, "
            "i.message_en from raw.submission_issues i join raw.submission_files f using (file_id)"
        ).fetchall()
        rows = con.execute(
            "select f.original_name, r.row_number, r.report_month, r.project_code, r.area_done_mu::double, "
            "r.patches_done, r.stage, r.notes from raw.submission_rows r join raw.submission_files f using "
            "(file_id)"
        ).fetchall()
    expected = [
        (name, i.row, i.column, i.value, i.severity, i.code, i.message_zh, i.message_en)
        for name, report in alone.items()
        for i in (*report.errors, *report.warnings)
    ]
    assert sorted(issues, key=repr) == sorted(expected, key=repr)
    keys = ["row_number", "report_month", "project_code", "area_done_mu", "patches_done", "stage", "notes"]
    landed = [
        (name, *map(_plain, values))
        for name, report in alone.items()
        if report.status == "accepted"
        for values in zip(*(report.columns[key] for key in keys), strict=True)
    ]
    assert sorted(rows, key=lambda r: r[:2]) == sorted(landed, key=lambda r: r[:2])


def _plain(value: object) -> object:
    """A value of FileReport.columns as DuckDB gives it back (4.0 patches compare equal to 4)."""
    if isinstance(value, np.generic):
        value = value.item()
    return None if isinstance(value, float) and math.isnan(value) else value
