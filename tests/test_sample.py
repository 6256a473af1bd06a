"""`write_sample`: reproducible, marked as sample data, plausible, and as messy as a real inbox."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter, defaultdict
from datetime import date, datetime, time
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from regreen.patches.sample import write_sample_layer
from regreen.project import BUNDLED_NOTICE, DataDir
from regreen.submissions.reference import PlanReference, load_reference
from regreen.submissions.sample import CHINA_TZ, write_sample
from regreen.submissions.validate import FileReport, validate_file

TODAY = date(2026, 11, 28)
SEED = 2023


@pytest.fixture(scope="module")
def reference() -> PlanReference:
    return load_reference(BUNDLED_NOTICE)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory, reference: PlanReference) -> list[Path]:
    return write_sample(DataDir(tmp_path_factory.mktemp("sample")), reference, SEED, TODAY)


@pytest.fixture(scope="module")
def reports(sample: list[Path], reference: PlanReference) -> dict[str, FileReport]:
    return {path.name: validate_file(path, reference, TODAY) for path in sample}


def fingerprint(paths: list[Path]) -> dict[str, tuple[str, int]]:
    return {p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in paths}


def raw_rows(path: Path) -> list[list[str]]:
    """Every non-empty line of the file's data sheet as text, title and 合计 lines included."""
    if path.suffix == ".xlsx":
        workbook = openpyxl.load_workbook(path)
        sheet = workbook["月度进展"] if "月度进展" in workbook.sheetnames else workbook.worksheets[0]
        rows = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    else:
        data = path.read_bytes()
        text = data.decode("utf-8-sig") if data.startswith(b"\xef\xbb\xbf") else decode_plain(data)
        rows = list(csv.reader(io.StringIO(text)))
    return [row for row in rows if any(row)]


def decode_plain(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gbk")


def is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def table(path: Path) -> list[dict[str, str]]:
    """The data lines (not the title, not 合计) keyed by header."""
    rows = raw_rows(path)
    header_at = next(i for i, row in enumerate(rows) if row[0] == "填报月份")
    return [
        dict(zip(rows[header_at], row, strict=False)) for row in rows[header_at + 1 :] if row[0] != "合计"
    ]


def test_the_same_seed_and_day_write_the_same_bytes_and_times(
    tmp_path: Path, reference: PlanReference
) -> None:
    first = write_sample(DataDir(tmp_path / "a"), reference, SEED, TODAY)
    second = write_sample(DataDir(tmp_path / "b"), reference, SEED, TODAY)
    other = write_sample(DataDir(tmp_path / "c"), reference, SEED + 1, TODAY)
    assert fingerprint(first) == fingerprint(second)
    assert [p.name for p in first] == [p.name for p in second]
    assert len(first) > 100
    changed = {name for name, print_ in fingerprint(other).items() if fingerprint(first).get(name) != print_}
    assert len(changed) > len(first) // 2


def test_written_today_every_file_is_dated_before_today_began_and_a_rerun_adds_nothing(
    tmp_path: Path, reference: PlanReference
) -> None:
    """This month's report "arrived" this morning, which may still be ahead where the server is: dated
    before the day began, every file is settled for the nightly that follows, and a second `regreen
    sample` writes the same arrivals (bytes, names and times), so the nightly after it finds nothing new."""
    today = datetime.now(CHINA_TZ).date()
    first = write_sample(DataDir(tmp_path / "a"), reference, SEED, today)
    began = datetime.combine(today, time(0), CHINA_TZ).timestamp()
    assert max(p.stat().st_mtime for p in first) <= began - 3600
    again = write_sample(DataDir(tmp_path / "b"), reference, SEED, today)
    assert [(p.name, p.stat().st_mtime_ns) for p in again] == [(p.name, p.stat().st_mtime_ns) for p in first]
    assert fingerprint(again) == fingerprint(first)
    layers = [write_sample_layer(tmp_path / folder / "patches", reference, SEED) for folder in "ab"]
    assert layers[0].read_bytes() == layers[1].read_bytes()


def test_files_are_returned_in_arrival_order_and_none_arrives_after_today(sample: list[Path]) -> None:
    times = [p.stat().st_mtime_ns for p in sample]
    assert times == sorted(times)
    last = datetime.fromtimestamp(times[-1] / 1e9, CHINA_TZ).date()
    assert last <= TODAY
    assert all(p.parent.name == "inbox" for p in sample)


def test_every_file_and_line_is_marked_as_sample_data(sample: list[Path]) -> None:
    for path in sample:
        assert path.name.startswith(("示例-", "sample-")), path.name
        lines = table(path)
        assert lines, path.name
        for line in lines:
            assert "示例数据" in line["备注"], (path.name, line)
            assert line["填报人"].startswith("示例填报人"), (path.name, line)
            assert re.fullmatch(r"000-0000-000\d", line["联系电话"]), (path.name, line)


def test_one_file_per_township_and_month_with_the_planted_exceptions(sample: list[Path]) -> None:
    months_per_file = {p.name: sorted({line["填报月份"] for line in table(p)}) for p in sample}
    two_month_files = [name for name, months in months_per_file.items() if len(months) == 2]
    assert sorted(two_month_files) == [
        "示例-东园镇-2024-01至02-月度进展.xlsx",
        "示例-张坂镇-2025-01至02-月度进展.xlsx",
    ]
    luoyang = {m for name, months in months_per_file.items() if "洛阳镇" in name for m in months}
    assert {"2024-01", "2024-03", "2024-08", "2024-10"} <= luoyang
    assert not {"2024-02", "2024-09"} & luoyang  # two months the clerk never sent
    arrival_days = Counter(datetime.fromtimestamp(p.stat().st_mtime, CHINA_TZ).day for p in sample)
    on_time = sum(n for day, n in arrival_days.items() if day <= 5)
    assert on_time > 0.8 * len(sample)
    assert sum(n for day, n in arrival_days.items() if 8 <= day <= 15) >= 3  # a few late ones


def test_the_sample_has_every_format_a_clerk_sends(sample: list[Path]) -> None:
    csvs = [p.read_bytes() for p in sample if p.suffix == ".csv"]
    bom = [d for d in csvs if d.startswith(b"\xef\xbb\xbf")]
    plain = [d for d in csvs if not d.startswith(b"\xef\xbb\xbf") and is_utf8(d)]
    gbk = [d.decode("gbk") for d in csvs if not is_utf8(d)]
    assert bom and plain and gbk
    assert all("百崎乡" in text for text in gbk)
    assert any(p.suffix == ".xlsx" for p in sample)
    sheets = {
        tuple(openpyxl.load_workbook(p, read_only=True).sheetnames) for p in sample if p.suffix == ".xlsx"
    }
    assert ("填报说明", "月度进展") in sheets  # the data sheet is not the first one
    assert ("Sheet1",) in sheets


def test_the_sample_has_the_layout_slips(sample: list[Path]) -> None:
    first_cells = Counter()
    headers = set()
    for path in sample:
        rows = raw_rows(path)
        if rows[0][0] != "填报月份":
            first_cells["title"] += 1
            assert rows[0][0].endswith("月度进展表（" + rows[0][0].split("（")[-1]), rows[0][0]
        if rows[-1][0] == "合计":
            first_cells["total"] += 1
        headers |= set(next(row for row in rows if "填报月份" in row[0]))
    assert first_cells["title"] > 10 and first_cells["total"] > 10
    assert "累计治理面积（公顷）" in headers  # hectares, with full-width brackets
    assert "累计治理面积(平方米)" in headers
    assert "累计治理面积(亩)" in headers


def test_the_sample_has_the_value_slips(sample: list[Path]) -> None:
    cells = [(p.name, key, value) for p in sample for line in table(p) for key, value in line.items()]
    names = {value for _, key, value in cells if key == "项目名称"}
    assert "百崎莲埭下埭村项目" in names
    assert "张坂镇崧山村二分区废弃矿山生态治理项目" in names  # the notice prints 菘山村 for this one
    assert "张坂镇菘山村二分区项目" in names
    assert any(name.startswith("洛阳陈坝") for name in names)  # 镇 dropped
    assert any(re.fullmatch(r"[０-９]+", value) for _, key, value in cells if key == "累计完成图斑(个)")
    assert any(re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", value) for _, _, value in cells)
    assert [name for name, _, value in cells if value.startswith("约")] == [
        "示例-洛阳镇-2024-05-月度进展.csv"
    ]
    assert {value for _, key, value in cells if key == "填报月份" and "年" in value}  # 2024年3月


def test_one_file_is_sent_twice_and_one_month_is_restated(sample: list[Path]) -> None:
    by_content = defaultdict(list)
    for path in sample:
        by_content[hashlib.sha256(path.read_bytes()).hexdigest()].append(path.name)
    assert [names for names in by_content.values() if len(names) > 1] == [
        ["示例-百崎乡-2024-06-月度进展.csv", "示例-百崎乡-2024-06-月度进展(1).csv"]
    ]
    names = [p.name for p in sample]
    assert "示例-张坂镇-2024-08-月度进展（更正）.xlsx" in names
    original, corrected = (
        next(p for p in sample if p.name == n)
        for n in ("示例-张坂镇-2024-08-月度进展.xlsx", "示例-张坂镇-2024-08-月度进展（更正）.xlsx")
    )
    assert original.stat().st_mtime < corrected.stat().st_mtime
    changed = [(a, b) for a, b in zip(table(original), table(corrected), strict=True) if a != b]
    assert len(changed) == 1  # one line still carried last month's figures
    assert float(changed[0][0]["累计治理面积(亩)"]) < float(changed[0][1]["累计治理面积(亩)"])


def test_exactly_two_files_are_rejected_and_both_are_resent(reports: dict[str, FileReport]) -> None:
    rejected = {name: report for name, report in reports.items() if report.status == "rejected"}
    assert sorted(rejected) == ["示例-张坂镇-2024-11-月度进展.xlsx", "示例-洛阳镇-2024-05-月度进展.csv"]
    assert {i.code for i in rejected["示例-洛阳镇-2024-05-月度进展.csv"].errors} >= {"number_invalid"}
    assert {i.code for i in rejected["示例-张坂镇-2024-11-月度进展.xlsx"].errors} == {"project_unknown"}
    for name in rejected:
        stem, suffix = name.rsplit(".", 1)
        assert reports[f"{stem}-重报.{suffix}"].status == "accepted"


def accepted_rows(reports: dict[str, FileReport]) -> pd.DataFrame:
    """Every accepted line, the latest received version per project and month (as the warehouse picks)."""
    frames = [
        r.rows.assign(file=name, order=i)
        for i, (name, r) in enumerate(reports.items())
        if r.status == "accepted"
    ]
    rows = pd.concat(frames, ignore_index=True)
    return rows.sort_values("order").drop_duplicates(["project_code", "report_month"], keep="last")


def test_every_project_reports_from_design_to_acceptance(
    reports: dict[str, FileReport], reference: PlanReference
) -> None:
    rows = accepted_rows(reports)
    assert set(rows["project_code"]) == {p.project_code for p in reference.projects}
    assert rows["report_month"].min() == date(2023, 6, 1)
    assert rows["report_month"].max() == TODAY.replace(day=1)
    stages = ["方案编制", "方案评审", "已下达", "施工中", "已完工", "已验收"]
    for code, history in rows.sort_values("report_month").groupby("project_code"):
        order = [stages.index(s) for s in history["stage"]]
        assert order == sorted(order), code
        assert order[0] == 0, code  # every project starts with its design
        for column in ("area_done_mu", "patches_done", "invested_10k_yuan", "waste_rock_10k_m3"):
            values = list(history[column])
            assert values == sorted(values), (code, column)
        supervised = history[history["stage"].isin(stages[3:])]
        assert supervised["supervisor"].notna().all(), code
        assert history[history["stage"].isin(stages[:3])]["supervisor"].isna().all(), code
        assert (history["accepted_on"].notna() == (history["stage"] == "已验收")).all(), code


def test_progress_is_plausible_and_one_project_removes_far_too_much_rock(
    reports: dict[str, FileReport], reference: PlanReference
) -> None:
    rows = accepted_rows(reports)
    last = rows.sort_values("report_month").groupby("project_code").last()
    planned = {p.project_code: p for p in reference.projects}
    finished = last[last["stage"].isin(["已完工", "已验收"])]
    assert len(finished) >= 12
    for code, line in finished.iterrows():
        project = planned[code]
        assert line["area_done_mu"] == pytest.approx(float(project.area_planned_mu), rel=0.02), code
        assert line["patches_done"] == project.patches_planned, code
        funds = line[["fund_higher_level", "fund_district", "fund_waste_rock", "fund_social"]].sum()
        assert funds == pytest.approx(line["invested_10k_yuan"], abs=0.005), code
        parts = line[["forest_mu", "farmland_mu", "grassland_mu"]].sum()
        assert line["area_done_mu"] * 0.9 <= parts <= line["area_done_mu"], code
    done = rows[rows["stage"].isin(["已完工", "已验收"])].groupby("project_code")["report_month"].min()
    late = {code: month for code, month in done.items() if month.year > planned[code].plan_year}
    assert len(done) - len(late) >= 6  # most finish within their plan year
    assert all(month <= date(planned[code].plan_year + 1, 3, 1) for code, month in late.items())
    per_mu = last["waste_rock_10k_m3"] / last["area_done_mu"]
    normal = per_mu.drop(per_mu.idxmax())
    assert normal.max() < 0.15
    assert per_mu.max() > 5 * normal.max()
    assert last.loc[per_mu.idxmax(), "stage"] == "施工中"  # still 'restoring' long after its plan year
