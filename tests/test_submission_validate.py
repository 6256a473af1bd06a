"""validate_file on real files written by the tests: every rule, with the row, column and value it names."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from regreen.submissions.columns import ROW_FRAME_COLUMNS
from regreen.submissions.history import History, Version
from regreen.submissions.landing import ensure_landing
from regreen.submissions.validate import FileReport, Issue, Judge, validate_file

TODAY = date(2024, 4, 20)


def only(report: FileReport, code: str) -> Issue:
    found = [i for i in report.errors + report.warnings if i.code == code]
    assert len(found) == 1, (
        code,
        [(i.code, i.row, i.column, i.value) for i in report.errors + report.warnings],
    )
    return found[0]


def where(issue: Issue) -> tuple[int | None, str | None, str | None]:
    return issue.row, issue.column, issue.value


def check(files, reference, rows, name="s.xlsx", **kwargs) -> FileReport:
    return validate_file(files.write(name, rows, **kwargs), reference, TODAY)


# --- accepted files and their normalised values ------------------------------------------------------------


def test_clean_file_is_accepted_with_normalised_values(files, reference):
    rows = files.rows_for_month()
    rows[0] |= {
        "report_month": "2024年3月",
        "township": "百崎",
        "patches_done": "１２",  # full-width digits
        "area_done_mu": 6.5,  # 公顷 in this file: 97.5 亩
        "forest_mu": 40000,  # 平方米: 60 亩
        "farmland_mu": "２０",
        "grassland_mu": 10,
        "invested_10k_yuan": "1,234.5",
        "stage": "construction",
    }
    rows[1] |= {"area_done_mu": 5, "forest_mu": 50000}  # 75 亩, of it 75 亩 forest
    report = check(
        files,
        reference,
        rows,
        headers={"area_done_mu": "累计治理面积(公顷)", "forest_mu": "其中林地(平方米)"},
    )
    assert (report.status, report.errors, report.warnings) == ("accepted", [], [])
    assert report.sheet == "月度进展"
    assert report.rows_read == 2
    assert list(report.rows.columns) == list(ROW_FRAME_COLUMNS)
    first = report.rows.iloc[0]
    assert first["row_number"] == 2
    assert first["report_month"] == date(2024, 3, 1)
    assert first["township"] == "百崎乡"
    assert first["project_code"] == "2023-01"
    assert first["project_name"] == "百崎乡莲埭村废弃矿山生态治理项目"
    assert first["patches_done"] == 12
    assert first["area_done_mu"] == pytest.approx(97.5)
    assert first["forest_mu"] == pytest.approx(60.0)
    assert first["farmland_mu"] == 20
    assert first["invested_10k_yuan"] == 1234.5
    assert first["stage"] == "施工中"
    assert first["reporter"] == "林小梅"  # personal data is read (the ingest lands it)
    second = report.rows.iloc[1]
    assert (second["project_code"], second["area_done_mu"], second["forest_mu"]) == ("2024-01", 75.0, 75.0)


def test_square_metres_divide_by_666_67(files, reference):
    rows = files.rows_for_month()
    rows[0] |= {"area_done_mu": 1000, "forest_mu": 1000, "farmland_mu": 0, "grassland_mu": 0}
    report = check(
        files,
        reference,
        rows,
        headers={"area_done_mu": "累计治理面积（平方米）", "forest_mu": "其中林地（平方米）"},
    )
    assert report.status == "accepted", [i.describe() for i in report.errors]
    assert report.rows.iloc[0]["area_done_mu"] == pytest.approx(1000 / (10000 / 15))
    assert report.rows.iloc[0]["area_done_mu"] == 1.5


@pytest.mark.parametrize(
    "written",
    [
        "2024-03", "2024/3", "2024年3月", "202403", date(2024, 3, 1), 45352, "2024-03-01",
        # as clerks type them: a year of two digits, 月份, full-width digits, a dot; and 2024.03 typed in a
        # cell of General format, a number (it was read as a serial, a day of 1905: "before the plan")
        "24年3月", "2024年03月份", "２０２４年３月", "2024.03", 2024.03,
    ],
    ids=[
        "dash", "slash", "chinese", "compact", "date-cell", "serial", "full-date",
        "two-digit-year", "yuefen", "full-width", "dot", "dot-number",
    ],
)  # fmt: skip
def test_report_month_forms(files, reference, written):
    report = check(files, reference, files.rows_for_month(report_month=written))
    assert report.status == "accepted", [i.describe() for i in report.errors]
    assert set(report.rows["report_month"]) == {date(2024, 3, 1)}


def test_several_months_and_projects_in_one_file(files, reference):
    rows = files.rows_for_month("2024-02", patches_done=4)
    rows[0] |= {"area_done_mu": 50, "forest_mu": 10}
    rows += files.rows_for_month("2024-03")
    report = check(files, reference, rows, name="s.csv")
    assert report.status == "accepted", [i.describe() for i in report.errors]
    assert report.warnings == []
    assert sorted(zip(report.rows["project_code"], report.rows["report_month"], strict=True)) == [
        ("2023-01", date(2024, 2, 1)),
        ("2023-01", date(2024, 3, 1)),
        ("2024-01", date(2024, 2, 1)),
        ("2024-01", date(2024, 3, 1)),
    ]


def test_rows_frame_lands_in_the_landing_table(files, reference):
    report = check(files, reference, files.rows_for_month(), headers={"area_done_mu": "累计治理面积(公顷)"})
    con = duckdb.connect()
    ensure_landing(con)
    landing = [r[0] for r in con.execute("describe raw.submission_rows").fetchall()]
    assert landing == ["file_id", *ROW_FRAME_COLUMNS]
    con.register("submitted", report.rows)
    con.execute("insert into raw.submission_rows select 7 as file_id, * from submitted")
    got = con.execute(
        "select row_number, report_month, township, project_code, area_done_mu, stage, accepted_on "
        "from raw.submission_rows order by row_number"
    ).fetchall()
    assert [(r[0], r[1], r[2], r[3], float(r[4]), r[5], r[6]) for r in got] == [
        (2, date(2024, 3, 1), "百崎乡", "2023-01", 1500.0, "施工中", None),
        (3, date(2024, 3, 1), "百崎乡", "2024-01", 1200.0, "施工中", None),
    ]


# --- errors: each names the row, the column as written and the value --------------------------------------


@pytest.mark.parametrize(
    ("written", "code"),
    [
        (None, "month_missing"),
        ("2024-13", "month_invalid"),
        ("三月", "month_invalid"),
        ("3月", "month_invalid"),  # no year: not guessed
        ("2023-04", "month_before_plan"),
        ("2024-05", "month_in_future"),
    ],
)
def test_report_month_errors(files, reference, written, code):
    rows = files.rows_for_month()
    rows[1]["report_month"] = written
    report = check(files, reference, rows)
    assert report.status == "rejected"
    assert where(only(report, code)) == (3, "填报月份", written)


@pytest.mark.parametrize("written", ["2024.1", 2024.1, 2024.10, "２０２４.１"])
def test_a_month_that_may_be_january_or_october_is_refused(files, reference, written):
    # 2024.10 typed in a cell of General format shows, and is saved to a CSV, as 2024.1: read as January.
    rows = files.rows_for_month()
    rows[1]["report_month"] = written
    issue = only(check(files, reference, rows), "month_ambiguous")
    assert where(issue)[:2] == (3, "填报月份")
    assert "2024-01 或 2024-10" in issue.message_zh and "2024-01 or 2024-10" in issue.message_en


def test_month_of_plan_issue_and_current_month_are_accepted(files, reference):
    rows = files.rows_for_month("2023-05") + files.rows_for_month("2024-04")
    assert check(files, reference, rows).status == "accepted"


def test_township_required_and_known(files, reference):
    rows = files.rows_for_month()
    rows[0]["township"] = None
    rows[1]["township"] = "西园镇"
    report = check(files, reference, rows)
    assert where(only(report, "township_missing")) == (2, "乡镇", None)
    unknown = only(report, "township_unknown")
    assert where(unknown) == (3, "乡镇", "西园镇")
    assert "百崎乡、东园镇、洛阳镇、张坂镇" in unknown.message_zh


def test_project_names_resolve_by_alias_and_normalisation(files, reference):
    rows = [
        files.row(
            township="张坂镇",
            project_name="张坂镇崧山村二分区废弃矿山生态治理项目",
            patches_done=1,
            stage="已下达",
        ),
        files.row(township="张坂", project_name="菘山村一分区", patches_done=1, stage="已下达"),
        files.row(township="张坂镇", project_name="张坂镇 苏坑村 项目", patches_done=1, stage="已下达"),
        files.row(township="张坂镇", project_name="玉田、玉园、玉塘村", patches_done=1, stage="已下达"),
    ]
    report = check(files, reference, rows)
    assert report.errors == []
    assert list(report.rows["project_code"]) == ["2025-01", "2023-04", "2023-05", "2025-02"]
    assert list(report.rows["project_name"])[1] == "菘山村一分区"  # kept as written


def test_project_errors_name_the_closest_plan_projects(files, reference):
    rows = files.rows_for_month()
    rows[0]["project_name"] = None
    rows[1]["project_name"] = "崧山村"  # two 崧山 projects, neither in 百崎乡
    rows.append(files.row(project_name="张坂镇苏坑村废弃矿山生态治理项目"))
    report = check(files, reference, rows)
    assert where(only(report, "project_missing")) == (2, "项目名称", None)
    unknown = only(report, "project_unknown")
    assert where(unknown) == (3, "项目名称", "崧山村")
    assert "张坂镇崧山村一分区废弃矿山生态治理项目" in unknown.message_zh
    assert "张坂镇菘山村二分区废弃矿山生态治理项目" in unknown.message_en
    other = only(report, "project_other_township")
    assert where(other) == (4, "项目名称", "张坂镇苏坑村废弃矿山生态治理项目")
    assert "百崎乡" in other.message_zh and "张坂镇" in other.message_zh


@pytest.mark.parametrize(
    ("key", "header", "written", "code"),
    [
        ("area_done_mu", "累计治理面积(亩)", "约120", "number_invalid"),
        ("invested_10k_yuan", "累计完成投资(万元)", "250万", "number_invalid"),
        ("forest_mu", "其中林地(亩)", "-5", "number_negative"),
        ("patches_done", "累计完成图斑(个)", "3.5", "patches_not_integer"),
        ("patches_done", "累计完成图斑(个)", "14", "patches_above_plan"),
        ("patches_done", "累计完成图斑(个)", "1e30", "number_too_large"),
        ("waste_rock_10k_m3", "废石处置量(万立方米)", "99999999999999999999", "number_too_large"),
    ],
)
def test_number_errors(files, reference, key, header, written, code):
    rows = files.rows_for_month()
    rows[0][key] = written
    report = check(files, reference, rows, name="s.csv")
    assert report.status == "rejected"
    assert where(only(report, code)) == (2, header, written)


def test_a_figure_followed_by_its_columns_unit_is_read_as_the_figure(files, reference):
    rows = files.rows_for_month()
    rows[0] |= {"patches_done": "10个", "area_done_mu": "100 亩", "invested_10k_yuan": "250万元"}
    rows[1] |= {"area_done_mu": "８０亩", "waste_rock_10k_m3": "1.5万方"}  # full-width, as builders say it
    report = check(files, reference, rows, name="s.csv")
    assert report.errors == []
    assert list(report.rows["patches_done"]) == [10, 5]
    assert list(report.rows["area_done_mu"]) == [100, 80]
    assert report.rows["invested_10k_yuan"][0] == 250
    assert report.rows["waste_rock_10k_m3"][1] == 1.5


def test_a_figures_unit_follows_the_header_when_it_names_one(files, reference):
    rows = files.rows_for_month()
    rows[0] |= {"area_done_mu": "66666.67平方米", "forest_mu": "40000 m²"}  # 100 亩, 60 亩
    rows[1] |= {"area_done_mu": "53333.33㎡", "forest_mu": "53333.33平米"}  # 80 亩 each
    report = check(
        files,
        reference,
        rows,
        headers={"area_done_mu": "累计治理面积(平方米)", "forest_mu": "其中林地(平方米)"},
    )
    assert report.errors == []
    assert list(report.rows["area_done_mu"]) == [100, 80]
    assert list(report.rows["forest_mu"]) == [60, 80]


@pytest.mark.parametrize(
    ("key", "header", "written", "converted"),
    [
        ("area_done_mu", "累计治理面积(亩)", "100933.33平方米", "100933.33 平方米 = 151.4 亩"),
        ("forest_mu", "其中林地(亩)", "4公顷", "4 公顷 = 60 亩"),
        ("invested_10k_yuan", "累计完成投资(万元)", "2,500,000元", "2500000 元 = 250 万元"),
        ("waste_rock_10k_m3", "废石处置量(万立方米)", "12000 m3", "12000 立方米 = 1.2 万立方米"),
    ],
)
def test_a_figure_in_another_unit_is_an_error_that_converts_it(
    files, reference, key, header, written, converted
):
    rows = files.rows_for_month()
    rows[0][key] = written
    report = check(files, reference, rows, name="s.csv")
    assert report.status == "rejected"
    issue = only(report, "number_unit")
    assert where(issue) == (2, header, written)
    assert converted in issue.message_zh and converted in issue.message_en
    assert "number_invalid" not in {i.code for i in report.errors}


def test_a_unit_of_something_else_after_a_figure_is_named(files, reference):
    rows = files.rows_for_month()
    rows[1]["area_done_mu"] = "80万元"
    issue = only(check(files, reference, rows), "number_unit")
    assert where(issue) == (3, "累计治理面积(亩)", "80万元")
    assert "“万元”" in issue.message_zh and "只填按“亩”计的数字" in issue.message_zh
    assert "this column is in 亩" in issue.message_en


@pytest.mark.parametrize("written", ["120左右", "80亩多", "亩80", "80 亩 亩", "1.2.3亩"])
def test_words_after_a_figure_that_are_no_unit_are_not_a_number(files, reference, written):
    rows = files.rows_for_month()
    rows[1]["area_done_mu"] = written
    assert where(only(check(files, reference, rows), "number_invalid")) == (3, "累计治理面积(亩)", written)


@pytest.mark.parametrize("written", ["/", "－", "—", "——", "无", "暂无", "N/A", " - "])
def test_a_mark_for_none_in_a_figure_is_read_as_blank_with_a_warning(files, reference, written):
    rows = files.rows_for_month()
    rows[1] |= {"fund_waste_rock": written, "waste_rock_10k_m3": written}
    report = check(files, reference, rows, name="s.csv")
    assert report.status == "accepted", [i.describe() for i in report.errors]
    assert [(i.code, i.row, i.column, i.value) for i in report.warnings] == [
        ("number_placeholder", 3, "废石处置收入(万元)", written.strip()),
        ("number_placeholder", 3, "废石处置量(万立方米)", written.strip()),
    ]
    assert "如果是 0，请填 0" in report.warnings[0].message_zh
    assert report.rows["fund_waste_rock"].tolist()[0] == 30
    assert report.rows["fund_waste_rock"].isna().tolist() == [False, True]
    assert report.rows["waste_rock_10k_m3"].isna().tolist() == [False, True]


def test_patches_at_the_planned_count_are_accepted(files, reference):
    assert check(files, reference, files.rows_for_month(patches_done=9)).status == "accepted"


def test_land_parts_may_exceed_the_area_by_half_a_mu(files, reference):
    rows = files.rows_for_month()
    rows[0] |= {"area_done_mu": 100, "forest_mu": 60, "farmland_mu": 30, "grassland_mu": 10.5}
    rows[1] |= {"area_done_mu": 80, "forest_mu": 80, "farmland_mu": 0.6}
    report = check(files, reference, rows)
    issue = only(report, "land_parts_exceed_area")
    assert where(issue) == (3, "累计治理面积(亩)", "80")
    assert "80.6" in issue.message_zh


def test_unit_applies_to_each_area_column_by_its_header(files, reference):
    rows = files.rows_for_month()
    rows[0] |= {"area_done_mu": 100, "forest_mu": 7, "farmland_mu": 0, "grassland_mu": 0}  # 7 公顷 = 105 亩
    rows[1] |= {"forest_mu": 5}  # 75 亩 of 80
    report = check(files, reference, rows, headers={"forest_mu": "其中林地(公顷)"})
    assert where(only(report, "land_parts_exceed_area")) == (2, "累计治理面积(亩)", "100")


@pytest.mark.parametrize(("written", "code"), [(None, "stage_missing"), ("进行中", "stage_invalid")])
def test_stage_errors(files, reference, written, code):
    rows = files.rows_for_month()
    rows[1]["stage"] = written
    assert where(only(check(files, reference, rows), code)) == (3, "项目阶段", written)


def test_english_stages_are_stored_in_chinese(files, reference):
    rows = files.rows_for_month()
    rows[0]["stage"] = "Completed"
    rows[1] |= {"stage": "accepted", "accepted_on": "2024-03-28"}
    report = check(files, reference, rows)
    assert report.status == "accepted"
    assert list(report.rows["stage"]) == ["已完工", "已验收"]
    assert list(report.rows["accepted_on"]) == [None, date(2024, 3, 28)]


def test_supervisor_required_from_construction_on(files, reference):
    rows = files.rows_for_month(supervisor=None)
    rows[0]["stage"] = "已下达"  # before construction: no supervisor yet
    report = check(files, reference, rows)
    assert [where(i) for i in report.errors] == [(3, "监理单位", None)]
    assert report.errors[0].code == "supervisor_missing"


@pytest.mark.parametrize(
    ("stage", "written", "code"),
    [
        ("已验收", None, "accepted_on_missing"),
        ("已完工", "2024-03-10", "accepted_on_unexpected"),
        ("已验收", "2024-02-30", "accepted_on_invalid"),
        ("已验收", "2024-04-21", "accepted_on_future"),
    ],
)
def test_accepted_on_rules(files, reference, stage, written, code):
    rows = files.rows_for_month()
    rows[1] |= {"stage": stage, "accepted_on": written}
    report = check(files, reference, rows)
    assert report.status == "rejected"
    assert where(only(report, code)) == (3, "验收日期", written)


@pytest.mark.parametrize(
    "written", ["2024-04-20", "2024/4/20", "2024年4月20日", "20240420", date(2024, 4, 20), 45402]
)
def test_accepted_on_forms(files, reference, written):
    rows = files.rows_for_month("2024-04")
    rows[1] |= {"stage": "已验收", "accepted_on": written}
    report = check(files, reference, rows)
    assert report.status == "accepted", [i.describe() for i in report.errors]
    assert report.rows.iloc[1]["accepted_on"] == date(2024, 4, 20)


@pytest.mark.parametrize(
    ("written", "day"),
    [
        # a JS Date made in China for midnight, exported in UTC: the day before, at 16:00
        ("2024-04-19T16:00:00.000Z", date(2024, 4, 20)),
        ("2024-04-20T00:00:00+08:00", date(2024, 4, 20)),
        ("2024-04-20 09:30+0800", date(2024, 4, 20)),
        ("2024-04-20T02:00:00Z", date(2024, 4, 20)),
        ("2024-03-31T20:00:00Z", date(2024, 4, 1)),  # 04:00 on April 1 in Beijing
    ],
)
def test_a_date_and_time_with_its_zone_is_the_day_in_beijing(files, reference, written, day):
    rows = files.rows_for_month("2024-04")
    rows[1] |= {"stage": "已验收", "accepted_on": written}
    rows[0]["report_month"] = written
    report = check(files, reference, rows, name="s.csv")
    assert report.status == "accepted", [i.describe() for i in report.errors]
    assert report.rows.iloc[1]["accepted_on"] == day
    assert report.rows.iloc[0]["report_month"] == date(2024, 4, 1)


@pytest.mark.parametrize(
    "written", ["2024-04-31T00:00:00Z", "2024-04-20T24:30:00Z", "2024-04-20T00:00:00+2500"]
)
def test_a_date_and_time_with_its_zone_that_names_no_moment_is_an_error(files, reference, written):
    rows = files.rows_for_month("2024-04")
    rows[1] |= {"stage": "已验收", "accepted_on": written}
    assert where(only(check(files, reference, rows), "accepted_on_invalid")) == (3, "验收日期", written)


def test_acceptance_after_the_month_reported_is_rejected(files, reference):
    rows = files.rows_for_month()  # March
    rows[1] |= {"stage": "已验收", "accepted_on": "2024-04-01"}
    issue = only(check(files, reference, rows), "accepted_after_report_month")
    assert where(issue) == (3, "验收日期", "2024-04-01")
    assert "2024-03" in issue.message_zh and "after the month reported (2024-03)" in issue.message_en


def test_acceptance_on_the_last_day_of_the_month_reported_is_accepted(files, reference):
    rows = files.rows_for_month()
    rows[1] |= {"stage": "已验收", "accepted_on": "2024-03-31"}
    assert check(files, reference, rows).errors == []


@pytest.mark.parametrize(
    ("accepted_on", "february", "codes"),
    [
        ("2024-02-28", "施工中", ["accepted_before_completion"]),  # in February, row 4 still reports 施工中
        ("2024-01-31", "施工中", ["accepted_before_completion"]),
        ("2024-02-28", "方案编制", ["accepted_before_completion"]),
        ("2024-03-01", "施工中", []),  # completed and accepted in March
        ("2024-02-20", "已完工", []),  # completed in February, accepted the same month
    ],
)
def test_acceptance_comes_in_or_after_the_month_of_completion(files, reference, accepted_on, february, codes):
    # The accepted project is the plan's first (2023-01): index 0 of the reference's projects.
    second = {"project_name": "百崎莲埭、下埭村废弃矿山生态治理项目", "patches_done": 5, "forest_mu": 80}
    second |= {"area_done_mu": 80, "farmland_mu": 0, "grassland_mu": 0}
    supervisor = {"supervisor": None} if february == "方案编制" else {}
    rows = [
        files.row(report_month="2024-03", **second),
        files.row(report_month="2024-03", stage="已验收", accepted_on=accepted_on),
        files.row(report_month="2024-02", stage=february, **supervisor),
        files.row(report_month="2024-02", **second),
    ]
    report = check(files, reference, rows)
    assert [i.code for i in report.errors] == codes
    if codes:
        assert where(report.errors[0]) == (3, "验收日期", accepted_on)
        assert "第 4 行" in report.errors[0].message_zh and "2024-02" in report.errors[0].message_zh
        assert f"row 4 reports the project {february} in 2024-02" in report.errors[0].message_en


def test_a_stage_going_back_after_acceptance_is_a_warning_not_an_acceptance_error(files, reference):
    second = {"project_name": "百崎莲埭、下埭村废弃矿山生态治理项目", "patches_done": 5, "forest_mu": 80}
    second |= {"area_done_mu": 80, "farmland_mu": 0, "grassland_mu": 0}
    rows = [
        files.row(report_month="2024-02"),
        files.row(report_month="2024-02", **second, stage="已验收", accepted_on="2024-02-10"),
        files.row(report_month="2024-03"),
        files.row(report_month="2024-03", **second, stage="施工中"),
    ]
    report = check(files, reference, rows)
    assert (report.errors, [i.code for i in report.warnings]) == ([], ["stage_backwards"])


@pytest.mark.parametrize(
    ("key", "header", "written"),
    [("patches_done", "累计完成图斑(个)", "-1"), ("area_done_mu", "累计治理面积(亩)", "-0.5")],
)
def test_the_smallest_negative_figures_are_rejected(files, reference, key, header, written):
    rows = files.rows_for_month()
    rows[0][key] = written
    assert where(only(check(files, reference, rows, name="s.csv"), "number_negative")) == (2, header, written)


def test_the_negative_message_names_the_rule(files, reference):
    rows = files.rows_for_month()
    rows[0]["forest_mu"] = "-5"
    issue = only(check(files, reference, rows, name="s.csv"), "number_negative")
    assert (issue.message_zh, issue.message_en) == ("不能为负数", "must not be negative")


@pytest.mark.parametrize(("written", "codes"), [("999999999", []), ("1000000000", ["number_too_large"])])
def test_a_figure_of_one_billion_is_too_large(files, reference, written, codes):
    rows = files.rows_for_month()
    rows[0]["waste_rock_10k_m3"] = written
    report = check(files, reference, rows, name="s.csv")
    assert [i.code for i in report.errors] == codes
    if codes:
        assert report.errors[0].message_zh == "数值过大（应小于 10 亿），请检查是否多写了位数"


def test_zero_figures_are_accepted(files, reference):
    rows = files.rows_for_month(patches_done=0, area_done_mu=0, forest_mu=0, farmland_mu=0, grassland_mu=0)
    rows = [r | {"stage": "已下达"} for r in rows]
    assert check(files, reference, rows, name="s.csv").errors == []


def test_one_row_per_project_and_month(files, reference):
    rows = files.rows_for_month() + [files.row(patches_done=11)]
    issue = only(check(files, reference, rows), "duplicate_project_month")
    assert where(issue) == (4, "项目名称", "百崎乡莲埭村废弃矿山生态治理项目")
    assert "第 2 行" in issue.message_zh


def test_a_file_with_one_error_is_rejected_whole(files, reference):
    rows = files.rows_for_month() + files.rows_for_month("2024-02", patches_done=4)
    rows[3]["area_done_mu"] = "约80"
    report = check(files, reference, rows)
    assert report.status == "rejected"
    assert len(report.errors) == 1
    assert report.rows_read == 4


# --- warnings never block and never change values ----------------------------------------------------------


def test_cumulative_figures_below_the_previous_month_warn(files, reference):
    rows = files.rows_for_month("2024-02")
    rows[0] |= {"patches_done": 11, "area_done_mu": 120}
    rows += files.rows_for_month("2024-03")  # 2023-01 again: 10 patches, 100 mu
    report = check(files, reference, rows)
    assert report.status == "accepted"
    decreases = sorted(where(i) for i in report.warnings if i.code == "cumulative_decrease")
    assert decreases == [(4, "累计完成图斑(个)", "10"), (4, "累计治理面积(亩)", "100")]
    assert report.rows.iloc[2]["area_done_mu"] == 100  # unchanged


def test_stage_going_backwards_warns(files, reference):
    rows = files.rows_for_month("2024-02", stage="已完工") + files.rows_for_month("2024-03", stage="施工中")
    report = check(files, reference, rows, name="s.csv")
    backwards = sorted(where(i) for i in report.warnings if i.code == "stage_backwards")
    assert backwards == [(4, "项目阶段", "施工中"), (5, "项目阶段", "施工中")]
    assert "已完工" in report.warnings[0].message_zh


def test_area_above_the_plan_warns(files, reference):
    rows = files.rows_for_month()
    rows[0] |= {"area_done_mu": 140}  # planned 139
    report = check(files, reference, rows)
    assert report.status == "accepted"
    issue = only(report, "area_above_plan")
    assert where(issue) == (2, "累计治理面积(亩)", "140")
    assert "139" in issue.message_zh


def test_active_project_missing_from_a_month_warns(files, reference):
    rows = files.rows_for_month("2024-02")
    rows.append(files.row(report_month="2024-03"))  # 2024-01 left out in March
    report = check(files, reference, rows)
    issue = only(report, "project_missing_from_month")
    assert where(issue) == (None, "项目名称", "百崎莲埭、下埭村废弃矿山生态治理项目")
    assert "2024-03" in issue.message_zh


def test_a_project_accepted_earlier_in_the_file_may_be_left_out(files, reference):
    rows = files.rows_for_month("2024-02")
    rows[1] |= {"stage": "已验收", "accepted_on": "2024-02-26"}
    rows.append(files.row(report_month="2024-03"))
    report = check(files, reference, rows)
    assert (report.status, report.warnings) == ("accepted", [])


def _history(*versions: tuple[str, date, float, str]) -> History:
    """A history holding each (project code, month, area, stage), received in 一月.xlsx on 2024-02-03."""
    history = History(Path("warehouse/regreen.duckdb"))
    for code, month, area, stage in versions:
        history.add(Version(code, month, area, 5, stage, "一月.xlsx", datetime(2024, 2, 3, 9, 30)))
    return history


def test_a_project_accepted_in_an_earlier_file_may_be_left_out(files, reference):
    path = files.write("s.xlsx", [files.row(report_month="2024-03")])  # 2024-01 left out in March
    assert [i.code for i in validate_file(path, reference, TODAY).warnings] == ["project_missing_from_month"]
    earlier = _history(("2024-01", date(2024, 2, 1), 80.0, "已验收"))
    assert validate_file(path, reference, TODAY, earlier).warnings == []
    same_month = _history(("2024-01", date(2024, 3, 1), 80.0, "已验收"))
    codes = [i.code for i in validate_file(path, reference, TODAY, same_month).warnings]
    assert codes == ["project_missing_from_month"]


def test_a_project_whose_plan_year_has_not_begun_may_be_left_out(files, reference):
    # 百崎乡's 2024 project is not owed in a 2023 report.
    report = check(files, reference, [files.row(report_month="2023-11")])
    assert (report.status, report.warnings) == ("accepted", [])


# --- title and 合计 rows -----------------------------------------------------------------------------------


def test_title_and_total_rows(files, reference):
    total = ["合计", None, None, 15, 180, 140, 30, 10, None, 500, 200]
    report = check(files, reference, files.rows_for_month(), title="百崎乡 2024年3月 月度进展", trailer=total)
    assert report.status == "accepted"
    assert report.warnings == []
    assert report.rows_read == 2
    assert list(report.rows["row_number"]) == [3, 4]


def test_total_row_mismatch_warns(files, reference):
    total = ["合计", None, None, 16, 180]
    report = check(files, reference, files.rows_for_month(), name="s.csv", title="月度进展表", trailer=total)
    assert report.status == "accepted"
    issue = only(report, "total_mismatch")
    assert where(issue) == (5, "累计完成图斑(个)", "16")
    assert "15" in issue.message_zh
    assert report.rows_read == 2 and "合计" not in set(report.rows["report_month"].astype(str))


def test_a_total_followed_by_its_columns_unit_is_checked(files, reference):
    total = ["合计", None, None, "15个", "180亩", "140 亩", 30, 10]
    report = check(files, reference, files.rows_for_month(), name="s.csv", title="月度进展表", trailer=total)
    assert (report.status, report.warnings) == ("accepted", [])
    total[4] = "181亩"
    report = check(files, reference, files.rows_for_month(), name="s.csv", title="月度进展表", trailer=total)
    assert where(only(report, "total_mismatch")) == (5, "累计治理面积(亩)", "181亩")


# --- the report ---------------------------------------------------------------------------------------------


def test_personal_data_never_reaches_a_report(files, reference):
    phone = files.row()["phone"]
    rows = files.rows_for_month()
    rows[0] |= {"area_done_mu": "约120", "notes": "联系人林小梅"}
    rows[1] |= {"area_done_mu": 170}  # above its 153 mu plan, within the tolerance: a warning
    report = check(files, reference, rows)
    assert report.status == "rejected" and report.warnings
    assert phone in set(report.rows["phone"])  # read into the frame…
    for text in (json.dumps(report.to_json_dict(), ensure_ascii=False), report.render()):
        assert phone not in text  # …but in no report
        assert "林小梅" not in text


def test_json_and_render_shape(files, reference):
    rows = files.rows_for_month()
    rows[0]["area_done_mu"] = "约120"
    report = check(files, reference, rows)
    data = report.to_json_dict()
    assert set(data) == {"file", "status", "rows", "error_count", "warning_count", "errors", "warnings"}
    assert (data["status"], data["rows"]) == ("rejected", 2)
    assert data["errors"] == [
        {
            "row": 2,
            "column": "累计治理面积(亩)",
            "value": "约120",
            "message": "不是数字（只填数字，不加“约”等文字） / not a number (figures only, no words such as 约)",
        }
    ]
    text = report.render()
    assert text.splitlines()[0].startswith("s.xlsx（工作表 月度进展）：拒收")
    assert "第 2 行" in text and "约120" in text and "row 2" in text


def test_the_judge_reports_each_file_and_takes_the_accepted_into_its_history(files, reference):
    good = files.write("good.csv", files.rows_for_month())
    bad = files.write("bad.csv", files.rows_for_month(stage="进行中"))
    judge = Judge(reference, TODAY)
    reports = [judge.judge(path, datetime(2024, 4, 2, 8, 0)) for path in (good, bad)]
    assert [(r.file.name, r.status, len(r.errors)) for r in reports] == [
        ("good.csv", "accepted", 0),
        ("bad.csv", "rejected", 2),
    ]
    assert judge.judged_alone
    # The same month again: now a restatement of what good.csv brought.
    again = judge.judge(good, datetime(2024, 4, 3, 8, 0))
    assert [i.code for i in again.warnings] == ["restatement", "restatement"]
    assert again.warnings[0].message_zh == (
        "重报：2023-01 2024-03 已于 2024-04-02 08:00 在“good.csv”中收到（累计治理面积 100 亩），本行将取代该版本"
    )


def test_a_decrease_against_the_history_names_both_months_and_both_figures(files, reference):
    history = _history(
        ("2023-01", date(2024, 2, 1), 120.0, "施工中"), ("2024-01", date(2024, 2, 1), 80.0, "施工中")
    )
    report = validate_file(files.write("s.xlsx", files.rows_for_month("2024-03")), reference, TODAY, history)
    assert report.status == "accepted"
    [issue] = report.warnings
    assert (issue.code, issue.row, issue.column, issue.value) == (
        "cumulative_decrease",
        2,
        "累计治理面积(亩)",
        "100",
    )
    assert issue.message_zh == (
        "累计治理面积为累计数，2024-03 的 100 低于上月 2024-02（2024-02-03 09:30 收到的“一月.xlsx”）的 120"
    )
    assert issue.message_en == (
        "area done is cumulative, but 2024-03's 100 is below 2024-02's 120 (一月.xlsx, received 2024-02-03 09:30)"
    )


def test_a_decrease_within_the_file_names_both_months_and_rows(files, reference):
    rows = files.rows_for_month("2024-02") + files.rows_for_month("2024-03")
    rows[2]["area_done_mu"] = 90
    [issue] = check(files, reference, rows).warnings
    assert issue.message_zh == "累计治理面积为累计数，2024-03 的 90 低于上月 2024-02（第 2 行）的 100"


@pytest.mark.parametrize(
    ("unit", "written", "status", "code"),
    [("公顷", 120, "rejected", "area_unit_slip"), ("亩", 150, "accepted", "area_above_plan")],
)
def test_an_area_far_above_the_plan_is_a_unit_slip(files, reference, unit, written, status, code):
    # 百崎乡莲埭村 (2023-01) plans 139 mu. 120 mu typed under a 公顷 header is 1800 mu: 13 times the plan.
    # 150 under a 亩 header is 8 % above it, within the 20 % tolerance: a warning only.
    assert reference.project("2023-01").area_planned_mu == 139
    row = files.row(area_done_mu=written, forest_mu=0, farmland_mu=0, grassland_mu=0)
    report = check(files, reference, [row], headers={"area_done_mu": f"累计治理面积({unit})"})
    assert report.status == status
    [issue] = [i for i in (*report.errors, *report.warnings) if i.code == code]
    assert (issue.row, issue.column, issue.value) == (2, f"累计治理面积({unit})", str(written))
    if unit == "公顷":
        assert issue.message_zh == (
            "累计治理面积 1800 亩（120 公顷）比方案面积 139 亩（9.267 公顷）多 1195%，超出容许的 20%；"
            "可能把亩数填在了“公顷”表头下：若所填 120 是亩，则为 120 亩（8 公顷）"
        )
        assert "likely mu typed under a 公顷 (hectare) header: if 120 is mu, it is 8 ha" in issue.message_en
    else:
        assert issue.message_zh == "累计治理面积 150 亩，超过方案面积 139 亩"
