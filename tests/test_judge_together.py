"""Several files judged in one pass (`Judge.judge_files`, as `regreen ingest` judges them) get exactly the
verdict, issues, messages and rows each gets judged alone, one after the other (`Judge.judge`, as `regreen
check` judges them): on the sample inbox with errors, warnings, restatements, missing projects, a 合计 row,
a blank township and a duplicate row written into some of its files."""

from __future__ import annotations

import dataclasses
import math
import os
import random
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from conftest import SubmissionFiles

from regreen.project import DataDir
from regreen.submissions import validate
from regreen.submissions.columns import COLUMNS, STAGES
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


def _judged_both_ways(
    reference: PlanReference, files: list[Submitted], monkeypatch: pytest.MonkeyPatch
) -> tuple[list[FileReport], list[tuple[int, bool]]]:
    """Judge `files` alone, one after the other, and together (`Judge.judge_files`), and assert that each
    gets the same verdict, issues, messages and rows both ways, and that the history ends the same. The
    reports, and the files in each pass of the checks over several with whether it held."""
    alone_judge = Judge(reference, TODAY)
    alone = [alone_judge.judge(f.path, f.submitted_at, f.name, f.data) for f in files]
    passes: list[tuple[int, bool]] = []
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
    # Each accepted file joined the history, in order: the same versions, months and acceptances.
    assert together_judge.history.accepted_months == alone_judge.history.accepted_months
    assert together_judge.history.files == alone_judge.history.files
    for report in alone:
        for code, month in zip(report.columns["project_code"], report.columns["report_month"], strict=True):
            if code is not None and month is not None:
                assert together_judge.history.version(code, month) == alone_judge.history.version(code, month)
    return alone, passes


def test_files_judged_together_get_the_verdicts_they_get_alone(
    varied: DataDir, reference: PlanReference, monkeypatch: pytest.MonkeyPatch
) -> None:
    alone, passes = _judged_both_ways(reference, _arrivals(varied), monkeypatch)

    # The cases are there: several files at a time, and groups judged again one by one.
    grouped = [size for size, held in passes if size > 1 and held]
    assert len(grouped) >= 5 and sum(grouped) >= 15, passes
    assert any(size > 1 and not held for size, held in passes), passes
    codes = {i.code for r in alone for i in (*r.errors, *r.warnings)}
    assert {"number_negative", "project_unknown", "cumulative_decrease", "restatement"} <= codes
    assert {"project_missing_from_month", "township_missing", "duplicate_project_month"} <= codes
    assert "total_mismatch" in codes
    assert {r.status for r in alone} == {"accepted", "rejected"}


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


def _chain_files(reference: PlanReference, seed: int) -> list[Submitted]:
    """Files as two townships send them over the months, in order of arrival: mostly each township's next
    month, some sent again corrected (they restate it), a few late corrections of an older month, and rows
    that go backwards, leave a project out, accept it before completion, repeat or break a rule (rejected)."""
    rng = random.Random(seed)
    headers = [column.header for column in COLUMNS]
    townships = rng.sample(sorted({p.township_name for p in reference.projects}), 2)
    state: dict[str, dict[str, object]] = {}  # by project code: area, patches, stage
    last_month = {township: date(2024, 1, 1) for township in townships}
    arrived = datetime(2024, 2, 3, 9, 0)
    files = []
    for number in range(24):
        township = rng.choice(townships)
        roll = rng.random()
        if roll < 0.65 or number < 2:
            month = last_month[township] = _next_month(last_month[township])
        elif roll < 0.93:
            month = last_month[township]  # sent again, corrected
        else:
            month = date(2024, rng.randint(1, last_month[township].month), 1)  # a late correction
        # Some files report two months: the one before as well (acceptance is checked within a file).
        months = [date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1), month]
        rows = []
        for shown in months[rng.random() < 0.9 :]:
            for project in [
                p for p in reference.projects if p.township_name == township and p.plan_year <= 2024
            ]:
                if rng.random() < 0.08:
                    continue  # left out
                start = {"area": 0.0, "patches": 0, "stage": rng.choice([3, 4])}
                held = state.setdefault(project.project_code, start)
                if rng.random() < 0.85:
                    area = min(float(held["area"]) + rng.uniform(0, 5), float(project.area_planned_mu))
                    held["area"] = round(area, 2)
                    held["patches"] = min(int(held["patches"]) + rng.randint(0, 1), project.patches_planned)
                area = float(held["area"]) - (rng.uniform(1, 3) if rng.random() < 0.1 else 0)  # a decrease
                stage = int(held["stage"])
                if rng.random() < 0.2 and stage < 5:
                    stage = held["stage"] = stage + 1
                if rng.random() < 0.05 or (shown < month and rng.random() < 0.5):
                    stage = 3  # backwards; or still open the month before, in a file of two months
                accepted = months[0] if rng.random() < 0.3 else shown  # in the month before, at times
                row = {
                    "report_month": f"{shown:%Y-%m}",
                    "township": township,
                    "project_name": project.name,
                    "patches_done": str(held["patches"]),
                    "area_done_mu": f"{max(area, 0):.2f}",
                    "stage": STAGES[stage],
                    "supervisor": "泉州某工程监理有限公司",
                    "accepted_on": f"{accepted:%Y-%m}-0{rng.randint(1, 9)}" if stage == 5 else "",
                    "reporter": "林小梅",
                    "phone": "13905951234",
                }
                if rng.random() < 0.01:
                    row["area_done_mu"] = "-3"  # an error: the file is rejected
                rows.append(row)
                if rng.random() < 0.01:
                    rows.append(dict(row))  # a duplicate row: rejected
        lines = [",".join(headers)] + [",".join(str(row.get(c.key, "")) for c in COLUMNS) for row in rows]
        name = f"{township}-{month:%Y-%m}-{number}.csv"
        arrived += timedelta(days=rng.randint(1, 20), minutes=rng.randint(0, 600))
        files.append(Submitted(Path(name), arrived, name, ("\n".join(lines) + "\n").encode()))
    return files


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


@pytest.mark.parametrize("seed", range(12))
def test_a_townships_months_judged_in_one_pass_get_the_verdicts_they_get_alone(
    reference: PlanReference, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    monkeypatch.setattr(validate, "TOGETHER", 6)

    _, passes = _judged_both_ways(reference, _chain_files(reference, seed), monkeypatch)

    # A township's months met in one pass: several files of one township judged together.
    assert any(size > 2 and held for size, held in passes), passes


def test_the_chains_hold_every_case(reference: PlanReference) -> None:
    """The files of the test above hold what the one pass must get right, across files of one township."""
    codes: Counter[str] = Counter()
    for seed in range(12):
        judge = Judge(reference, TODAY)
        for f in _chain_files(reference, seed):
            report = judge.judge(f.path, f.submitted_at, f.name, f.data)
            codes.update(i.code for i in (*report.errors, *report.warnings))
            codes[report.status] += 1
    for code in ("restatement", "cumulative_decrease", "stage_backwards", "project_missing_from_month"):
        assert codes[code] >= 5, codes
    for code in ("accepted_before_completion", "duplicate_project_month", "number_negative", "rejected"):
        assert codes[code] >= 1, codes


def test_a_later_files_acceptance_does_not_excuse_an_earlier_files_missing_project(
    reference: PlanReference, files: SubmissionFiles
) -> None:
    """百崎乡 leaves a project out of 2024-05, then corrects 2024-03 late, reporting it 已验收 then: judged
    alone, the first file was judged before the correction came, and is warned of the project left out."""
    left_out = files.rows_for_month("2024-05")[:1]
    corrected = files.rows_for_month("2024-03")
    corrected[1] |= {"stage": "已验收", "accepted_on": "2024-03-10"}
    sent = [
        Submitted(Path(name), datetime(2024, 6, day, 9), name, files.write(name, rows).read_bytes())
        for name, rows, day in (("百崎乡-2024-05.csv", left_out, 5), ("百崎乡-2024-03更正.csv", corrected, 6))
    ]
    alone_judge = Judge(reference, TODAY)
    alone = [alone_judge.judge(f.path, f.submitted_at, f.name, f.data) for f in sent]

    together = Judge(reference, TODAY).judge_files(sent)

    assert [_seen(r) for r in together] == [_seen(r) for r in alone]
    assert [i.code for i in alone[0].warnings] == ["project_missing_from_month"]
    assert alone[0].warnings[0].value == "百崎莲埭、下埭村废弃矿山生态治理项目"
