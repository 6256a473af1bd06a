"""The expectation suites, run by real GX on a real DuckDB whose marts are written here by SQL.

The plan marts hold the figures of 泉台管办〔2023〕36号 as printed; each test then changes one figure and
checks that exactly the checks about that figure fail, naming its year and the observed/expected values.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest

from regreen.project import BUNDLED_CONTRACT, EXPECTATIONS_DIR
from regreen.quality import (
    CheckResult,
    PlanContractError,
    SuiteFileError,
    find_contract,
    load_suites,
    run_suites,
    store_check_results,
    suite_relations,
)

RUN_ID = "test-run"
PLAN_SUITES = ("plan_figures", "plan_projects", "plan_declared_totals")
PATCH_SUITES = ("patch_counts", "patch_geometry", "patch_overlaps", "patch_areas", "patch_status")

# (project_code, plan_year, seq, township_code, township_name, patches, area_mu), copied from the notice.
PROJECTS = [
    ("2023-01", 2023, 1, "baiqi", "百崎乡", 13, 139),
    ("2023-02", 2023, 2, "dongyuan", "东园镇", 12, 80),
    ("2023-03", 2023, 3, "luoyang", "洛阳镇", 14, 144),
    ("2023-04", 2023, 4, "zhangban", "张坂镇", 12, 280),
    ("2023-05", 2023, 5, "zhangban", "张坂镇", 21, 350),
    ("2024-01", 2024, 1, "baiqi", "百崎乡", 9, 153),
    ("2024-02", 2024, 2, "luoyang", "洛阳镇", 20, 161),
    ("2024-03", 2024, 3, "luoyang", "洛阳镇", 9, 139),
    ("2024-04", 2024, 4, "zhangban", "张坂镇", 1, 526),
    ("2024-05", 2024, 5, "zhangban", "张坂镇", 2, 165),
    ("2024-06", 2024, 6, "zhangban", "张坂镇", 12, 584),
    ("2025-01", 2025, 1, "zhangban", "张坂镇", 28, 266),
    ("2025-02", 2025, 2, "zhangban", "张坂镇", 19, 107),
    ("2025-03", 2025, 3, "dongyuan", "东园镇", 10, 32),
]

# (plan_year, source, township, measure, declared_value, counted_value, source_ref): what the notice
# declares (lines of the bundled .txt) beside what its table rows add up to.
DECLARED = [
    (None, "task", None, "task_area_mu", 3000, 3126, "line 27"),
    (None, "sentence", None, "projects", 14, 14, "line 33"),
    (2023, "sentence", None, "township_count", 4, 4, "line 37"),
    (2023, "sentence", "百崎乡", "projects_per_township", 1, 1, "line 37"),
    (2023, "sentence", "东园镇", "projects_per_township", 1, 1, "line 37"),
    (2023, "sentence", "洛阳镇", "projects_per_township", 1, 1, "line 37"),
    (2023, "sentence", "张坂镇", "projects_per_township", 1, 2, "line 37"),
    (2023, "sentence", None, "projects", 5, 5, "line 37"),
    (2023, "sentence", None, "patches", 72, 72, "line 37"),
    (2023, "sentence", None, "area_mu", 993, 993, "line 37"),
    (2023, "total_row", None, "patches", 72, 72, "line 45"),
    (2023, "total_row", None, "area_mu", 993, 993, "line 45"),
    (2024, "sentence", "百崎乡", "township_projects", 1, 1, "line 49"),
    (2024, "sentence", "洛阳镇", "township_projects", 2, 2, "line 49"),
    (2024, "sentence", "张坂镇", "township_projects", 3, 3, "line 49"),
    (2024, "sentence", None, "projects", 6, 6, "line 49"),
    (2024, "sentence", None, "patches", 53, 53, "line 49"),
    (2024, "sentence", None, "area_mu", 1728, 1728, "line 49"),
    (2024, "total_row", None, "patches", 53, 53, "line 59"),
    (2024, "total_row", None, "area_mu", 1728, 1728, "line 59"),
    (2025, "sentence", "张坂镇", "township_projects", 2, 2, "line 63"),
    (2025, "sentence", "东园镇", "township_projects", 1, 1, "line 63"),
    (2025, "sentence", None, "projects", 3, 3, "line 63"),
    (2025, "sentence", None, "patches", 57, 57, "line 63"),
    (2025, "sentence", None, "area_mu", 405, 405, "line 63"),
    (2025, "total_row", None, "patches", 57, 57, "line 69"),
    (2025, "total_row", None, "area_mu", 405, 405, "line 69"),
]

MARTS_DDL = """
create schema marts;
create table marts.fct_plan (
    project_code varchar, plan_year integer, township_code varchar, patches_planned integer,
    area_planned_mu decimal(12, 2), document_sha256 varchar, document_number varchar
);
create table marts.dim_project (
    project_code varchar, plan_year integer, seq integer, project_name varchar, normalized_name varchar,
    township_code varchar, township_name varchar, zone varchar, patches_planned integer,
    area_planned_mu decimal(12, 2), village_names varchar[], source_ref varchar
);
create table marts.plan_declared_vs_counted (
    plan_year integer, source varchar, township varchar, measure varchar, declared_value decimal(12, 2),
    counted_value decimal(12, 2), is_consistent boolean, source_ref varchar
);
"""

WARNING_CHECK = "2023 年度四个乡镇各完成 1 个项目 / 2023: one project in each of the four townships"


def plan_check(year: int, figure: str, value: int) -> str:
    unit = {"项目": ("个", "projects"), "图斑": ("个", "patches"), "面积": ("亩", "area")}[figure]
    tail = f"{value} mu" if figure == "面积" else str(value)
    return f"{year} 年度计划{figure} = {value} {unit[0]} / {year} planned {unit[1]} = {tail}"


TOTAL_PROJECTS = "全区计划项目 = 14 个 / planned projects in all = 14"
TOTAL_PATCHES = "全区计划图斑 = 182 个 / planned patches in all = 182"
TOTAL_AREA = "全区计划面积 = 3126 亩 / planned area in all = 3126 mu"
TASK_FIGURE = "全区计划面积 ≥ 3000 亩治理任务 / planned area in all ≥ the 3000 mu task"
TASK_DECLARED = "全区计划面积 ≥ 方案所述治理任务 / planned area in all ≥ the task the notice states"
PLAN_YEARS = (
    "计划年度为方案所列年度 (2023, 2024, 2025) / plan year is one of the plan's years (2023, 2024, 2025)"
)
TOTAL_ROW = "{year} 年度计划表合计行 = 各行之和 / {year} plan table: 合计 row = sum of its rows"
SENTENCE = "{year} 年度正文所述总数 = 计划表 / {year} totals in the text = the plan table"
NAMED = (
    "{year} 年度正文各乡镇项目数 = 计划表 / {year} projects per named township in the text = the plan table"
)
PLAN_SENTENCE = (
    "方案正文所述项目总数 = 计划表项目数 / the plan's stated number of projects = the projects in its tables"
)
LOADED = "方案所列各项合计均已载入 / every total the notice states is loaded"
# The (year, source, measure) families of declared totals that suite expects: each year's 合计 row and
# sentence, the 2023 township sentence, the named townships of 2024 and 2025, and the task.
FAMILIES = [
    *(f"{year} total_row {measure}" for year in (2023, 2024, 2025) for measure in ("patches", "area_mu")),
    *(
        f"{year} sentence {measure}"
        for year in (2023, 2024, 2025)
        for measure in ("projects", "patches", "area_mu")
    ),
    "2023 sentence township_count",
    "2023 sentence projects_per_township",
    "2024 sentence township_projects",
    "2025 sentence township_projects",
    "all task task_area_mu",
    "all sentence projects",
]


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    """A warehouse whose plan marts hold the notice's figures."""
    connection = duckdb.connect(str(tmp_path / "regreen.duckdb"))
    connection.execute(MARTS_DDL)
    for code, year, seq, township_code, township, patches, area in PROJECTS:
        connection.execute(
            "insert into marts.fct_plan values (?, ?, ?, ?, ?, 'sha', '泉台管办〔2023〕36号')",
            [code, year, township_code, patches, area],
        )
        connection.execute(
            "insert into marts.dim_project values (?, ?, ?, ?, ?, ?, ?, '泉州台商投资区', ?, ?, [], 'line 1')",
            [
                code,
                year,
                seq,
                f"{township}项目{seq}",
                f"{township}项目{seq}",
                township_code,
                township,
                patches,
                area,
            ],
        )
    connection.executemany(
        "insert into marts.plan_declared_vs_counted values (?, ?, ?, ?, ?, ?, null, ?)",
        [list(row) for row in DECLARED],
    )
    connection.execute(
        "update marts.plan_declared_vs_counted set is_consistent = case when source = 'task' "
        "then counted_value >= declared_value else counted_value = declared_value end"
    )
    yield connection
    connection.close()


def suites(tmp_path: Path, *names: str) -> Path:
    """A folder holding copies of the named suite files from expectations/."""
    folder = tmp_path / "suites"
    folder.mkdir(exist_ok=True)
    for name in names:
        shutil.copy(EXPECTATIONS_DIR / f"{name}.json", folder)
    return folder


def not_passed(results: list[CheckResult], *, ignore: str | None = WARNING_CHECK) -> dict[str, tuple]:
    return {
        r.check: (r.severity, r.status, r.observed, r.expected)
        for r in results
        if r.status != "passed" and r.check != ignore
    }


# --- the suite files --------------------------------------------------------------------------------


def test_every_suite_file_loads_with_a_query_a_description_and_named_checks() -> None:
    loaded = {suite.name: suite for suite in load_suites()}

    assert set(loaded) == {*PLAN_SUITES, "progress_monthly", *PATCH_SUITES}
    for suite in loaded.values():
        assert "marts." in suite.query and suite.description and suite.keys
        raw = json.loads(suite.path.read_text(encoding="utf-8"))
        # Nothing GX dropped on the way in: every expectation in the file is in the suite, one per year
        # of the contract for a "for_each": "year" one.
        per_year = sum(item["meta"].get("for_each") == "year" for item in raw["expectations"])
        expected = len(raw["expectations"]) + 2 * per_year  # the bundled contract has three years
        assert len(suite.expectations.expectations) == len(suite.checks) == expected
        assert "{{" not in " ".join(e.meta["check"] for e in suite.expectations.expectations)
        for expectation in suite.expectations.expectations:
            assert " / " in expectation.meta["check"]
            assert expectation.meta["severity"] in ("error", "warning")


def edit_suite(folder: Path, name: str, change: Callable[[dict], object]) -> None:
    """Apply `change` to the JSON of suite `name` in `folder`."""
    path = folder / f"{name}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            lambda d: d["expectations"][0].update(type="expect_table_row_count_to_be_fourteen"),
            r"expectations\[0\] is not valid: expect_table_row_count_to_be_fourteen not found",
            id="unknown-type",
        ),
        pytest.param(
            lambda d: d["expectations"][2]["kwargs"].pop("value_set"),
            r"expectations\[2\] is not valid: .*value_set",
            id="missing-kwarg",
        ),
        pytest.param(
            lambda d: d["expectations"][2]["meta"].pop("severity"),
            r"expectations\[2\] needs a `check` name and a `severity`",
            id="no-severity",
        ),
        pytest.param(
            lambda d: d["expectations"][1]["meta"].update(severity="fatal"),
            r"expectations\[1\] needs a `check` name and a `severity`",
            id="unknown-severity",
        ),
        pytest.param(
            lambda d: d["expectations"][1]["meta"].update(check=d["expectations"][0]["meta"]["check"]),
            "check names are repeated",
            id="repeated-check",
        ),
        pytest.param(
            lambda d: d["meta"]["regreen"].pop("keys"),
            "meta.regreen needs a `query`, a `description` and `keys`",
            id="no-keys",
        ),
        pytest.param(
            lambda d: d.update(name=""),
            "GX cannot read it",
            id="no-name",
        ),
    ],
)
def test_a_suite_file_that_cannot_be_used_as_written_is_refused_naming_the_file(
    tmp_path: Path, change: Callable[[dict], object], message: str
) -> None:
    folder = suites(tmp_path, "plan_projects")
    edit_suite(folder, "plan_projects", change)

    with pytest.raises(SuiteFileError, match="plan_projects.json") as raised:
        load_suites(folder)
    assert raised.value.message_zh.startswith("检查套件文件")
    assert raised.match(message)


def test_an_observed_column_outside_the_pair_is_refused(tmp_path: Path) -> None:
    folder = suites(tmp_path, "plan_declared_totals")
    edit_suite(
        folder, "plan_declared_totals", lambda d: d["expectations"][-1]["meta"].update(observed_column="x")
    )

    with pytest.raises(SuiteFileError, match=r"observed_column must be its column_A or its column_B"):
        load_suites(folder)


# --- the plan suites ----------------------------------------------------------------------------------


def test_the_notice_passes_every_plan_check_but_the_2023_township_warning(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    results = run_suites(con, RUN_ID, suites(tmp_path, *PLAN_SUITES))

    assert {r.suite for r in results} == set(PLAN_SUITES)
    assert all(r.run_id == RUN_ID for r in results)
    assert not_passed(results, ignore=None) == {WARNING_CHECK: ("warning", "warned", "2", "1")}
    (warning,) = [r for r in results if r.check == WARNING_CHECK]
    assert "township=张坂镇" in warning.details
    assert "百崎乡" not in warning.details
    figure = next(r for r in results if r.check == plan_check(2023, "面积", 993))
    assert (figure.status, figure.observed, figure.expected) == ("passed", "993", "993")


def test_the_2023_warning_passes_when_each_township_has_one_project(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    con.execute(
        "update marts.plan_declared_vs_counted set counted_value = 1 where township = '张坂镇' and plan_year = 2023"
    )

    results = run_suites(con, RUN_ID, suites(tmp_path, "plan_declared_totals"))

    assert not_passed(results, ignore=None) == {}


def year_changes(year: int, figures: tuple[int, int, int], code: str, row: tuple[int, int]) -> list:
    """One more project, one more patch, one more mu in `year`: each fails that year's check and the total."""
    projects, patches, area = figures
    row_patches, row_area = row
    return [
        pytest.param(
            f"insert into marts.fct_plan values ('{year}-99', {year}, 'baiqi', 0, 0, 'sha', 'x')",
            {
                plan_check(year, "项目", projects): (str(projects + 1), str(projects)),
                TOTAL_PROJECTS: ("15", "14"),
            },
            id=f"{year}-projects",
        ),
        pytest.param(
            f"update marts.fct_plan set patches_planned = {row_patches + 1} where project_code = '{code}'",
            {
                plan_check(year, "图斑", patches): (str(patches + 1), str(patches)),
                TOTAL_PATCHES: ("183", "182"),
            },
            id=f"{year}-patches",
        ),
        pytest.param(
            f"update marts.fct_plan set area_planned_mu = {row_area + 1} where project_code = '{code}'",
            {plan_check(year, "面积", area): (str(area + 1), str(area)), TOTAL_AREA: ("3127", "3126")},
            id=f"{year}-area",
        ),
    ]


PLAN_CHANGES = [
    # e.g. 2023-01's area 139 → 140 fails '2023 年度计划面积 = 993 亩' with observed 994.
    *year_changes(2023, (5, 72, 993), "2023-01", (13, 139)),
    *year_changes(2024, (6, 53, 1728), "2024-01", (9, 153)),
    *year_changes(2025, (3, 57, 405), "2025-01", (28, 266)),
    pytest.param(
        "insert into marts.fct_plan values ('2026-01', 2026, 'baiqi', 1, 10.5, 'sha', 'x')",
        {
            PLAN_YEARS: ("2026", "{2023, 2024, 2025}"),
            TOTAL_PROJECTS: ("15", "14"),
            TOTAL_PATCHES: ("183", "182"),
            TOTAL_AREA: ("3136.5", "3126"),
        },
        id="totals",
    ),
    pytest.param(
        "update marts.fct_plan set area_planned_mu = 400 where project_code = '2024-06'",
        {
            plan_check(2024, "面积", 1728): ("1544", "1728"),
            TOTAL_AREA: ("2942", "3126"),
            TASK_FIGURE: ("2942", "≥ 3000"),
        },
        id="task-figure",
    ),
    pytest.param(
        "update marts.plan_declared_vs_counted set declared_value = 3200 where source = 'task'",
        {TASK_DECLARED: ("3126", "≥ 3200")},
        id="task-declared",
    ),
    pytest.param(
        "update marts.plan_declared_vs_counted set declared_value = 15 where plan_year is null and source = 'sentence'",
        {PLAN_SENTENCE: ("14", "15")},
        id="plan-sentence",
    ),
    pytest.param(
        "update marts.plan_declared_vs_counted set declared_value = 994 "
        "where plan_year = 2023 and source = 'total_row' and measure = 'area_mu'",
        {TOTAL_ROW.format(year=2023): ("993", "994")},
        id="2023-total-row",
    ),
    pytest.param(
        "update marts.plan_declared_vs_counted set declared_value = 54 "
        "where plan_year = 2024 and source = 'sentence' and measure = 'patches'",
        {SENTENCE.format(year=2024): ("53", "54")},
        id="2024-sentence",
    ),
    pytest.param(
        "update marts.plan_declared_vs_counted set declared_value = 5 "
        "where plan_year = 2023 and measure = 'township_count'",
        {SENTENCE.format(year=2023): ("4", "5")},
        id="2023-township-count",
    ),
    pytest.param(
        "update marts.plan_declared_vs_counted set declared_value = 3 where plan_year = 2024 and township = '洛阳镇'",
        {NAMED.format(year=2024): ("2", "3")},
        id="2024-named-township",
    ),
    pytest.param(
        "update marts.plan_declared_vs_counted set counted_value = 0 where plan_year = 2025 and township = '东园镇'",
        {NAMED.format(year=2025): ("0", "1")},
        id="2025-named-township",
    ),
    pytest.param(
        "delete from marts.plan_declared_vs_counted where plan_year = 2025 and source = 'total_row'",
        {
            LOADED: (
                "缺少 / missing: 2025 total_row area_mu, 2025 total_row patches",
                "{" + ", ".join(FAMILIES) + "}",
            )
        },
        id="2025-total-row-lost",
    ),
    pytest.param(
        "update marts.dim_project set township_name = '百崎' where project_code = '2024-01'",
        {
            "乡镇名称为方案所列规范名称之一 / township is one of the plan's canonical names": (
                "百崎",
                "{百崎乡, 东园镇, 洛阳镇, 张坂镇}",
            )
        },
        id="township-alias-left",
    ),
    pytest.param(
        "insert into marts.dim_project select * from marts.dim_project where project_code = '2025-03'",
        {
            "项目维表 14 行 / dim_project has 14 rows": ("15", "14"),
            "项目维表编号唯一 / dim_project project_code is unique": ("2025-03; 2025-03", "唯一 / unique"),
        },
        id="dim-project-duplicated",
    ),
]


@pytest.mark.parametrize(("change", "failing"), PLAN_CHANGES)
def test_changing_one_plan_figure_fails_exactly_its_checks(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, change: str, failing: dict[str, tuple[str, str | None]]
) -> None:
    con.execute(change)

    results = run_suites(con, RUN_ID, suites(tmp_path, *PLAN_SUITES))

    assert {
        check: (observed, expected) for check, (_, _, observed, expected) in not_passed(results).items()
    } == failing
    assert {(severity, status) for severity, status, _, _ in not_passed(results).values()} == {
        ("error", "failed")
    }


def test_a_row_level_failure_names_the_offending_rows(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    con.execute(
        "update marts.plan_declared_vs_counted set declared_value = 3 where plan_year = 2024 and township = '洛阳镇'"
    )

    results = run_suites(con, RUN_ID, suites(tmp_path, "plan_declared_totals"))

    (named,) = [r for r in results if r.check == NAMED.format(year=2024)]
    assert named.details == (
        "检查 3 行，1 行不符 / 3 rows checked, 1 failed: plan_year=2024 source=sentence township=洛阳镇 "
        "measure=township_projects: declared_value=3, counted_value=2"
    )


# --- the progress suite ----------------------------------------------------------------------------------
# On a copy of the warehouse dbt built from the scenario's submission files (tests/report_warehouse.py).
# A change to raw.submission_rows is data a validator bug let through; a change to a mart is a model bug;
# a change to both is a month whose figures reached the mart as submitted.

PROGRESS_CHECKS = {
    "unique": "每个项目每月一行 / one row per project and month",
    "as_submitted": "事实表为每月最新报送 / fct_project_month holds each month's latest submitted figures",
    "in_plan": "月报项目均在计划中 / every reported project is in the plan",
    "area_flag": "累计完成面积下降标记与报送一致 / flag_area_decreased marks exactly the submitted drops in area",
    "area_flagged": "无累计完成面积下降（已标记） / no flagged month where the cumulative area done decreased",
    "patches_flag": "累计完成图斑下降标记与报送一致 / flag_patches_decreased marks exactly the submitted drops in "
    "patches",
    "patches_flagged": "无累计完成图斑下降（已标记） / no flagged month where the cumulative patches done decreased",
    "stage_flag": "进度阶段倒退标记与报送一致 / flag_stage_backwards marks exactly the submitted stages that went back",
    "stage_flagged": "无进度阶段倒退（已标记） / no flagged month where the stage went backwards",
    "patches_plan": "累计完成图斑 ≤ 计划图斑 / patches done ≤ patches planned",
    "area_plan": "累计完成面积 ≤ 计划面积 / area done ≤ area planned",
    "area_plan_flag": "完成面积超计划标记与方案一致 / flag_area_above_plan marks exactly the months above the plan's area",
    "accepted": "有验收日期 ⇔ 阶段为已验收 / an acceptance date exactly when the stage is 已验收",
    "accepted_in_month": "验收日期不晚于填报月份 / accepted on or before the end of the month reported",
    "accepted_after_completion": "验收在完工当月或之后 / accepted in or after the month of completion",
    "land_use": "林地+耕地+草地 ≤ 完成面积 + 0.5 亩 / forest + farmland + grassland ≤ area done + 0.5 mu",
}
ERROR_CHECKS = {
    k for k in PROGRESS_CHECKS if k not in {"area_flagged", "patches_flagged", "stage_flagged", "area_plan"}
}
# 2024-05 restores 168.3 of its 165 mu from 2024-12 on: the one warning of the scenario.
BASELINE = {"area_plan": ("warned", "168.3; 168.3; 168.3", "≤ 165; ≤ 165; ≤ 165")}

# 2023-01 (百崎乡, 13 patches, 139 mu): 施工中 to 2023-11, 已完工 in 2023-12 and 2024-01, accepted on 2024-02-18.
NOVEMBER = "where project_code = '2023-01' and report_month = '2023-11-01'"
JANUARY = "where project_code = '2023-01' and report_month = '2024-01-01'"
FEBRUARY = "where project_code = '2023-01' and report_month = '2024-02-01'"


def both(assignments: str, where: str) -> list[str]:
    """The same change to the submitted row and to the mart: the month reached the mart as submitted."""
    return [
        f"update raw.submission_rows set {assignments} {where}",
        f"update marts.fct_project_month set {assignments} {where}",
    ]


@pytest.fixture
def progress(known_warehouse: Path, tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    copy = tmp_path / "regreen.duckdb"
    shutil.copyfile(known_warehouse, copy)
    with duckdb.connect(str(copy)) as connection:
        yield connection


def progress_outcomes(results: list[CheckResult]) -> dict[str, tuple[str, str | None, str | None]]:
    names = {check: key for key, check in PROGRESS_CHECKS.items()}
    return {names[r.check]: (r.status, r.observed, r.expected) for r in results if r.status != "passed"}


def test_the_suite_holds_every_progress_check_and_its_severity() -> None:
    [suite] = [s for s in load_suites() if s.name == "progress_monthly"]
    assert [c.meta["check"] for c in suite.checks] == list(PROGRESS_CHECKS.values())
    errors = {
        key for key, c in zip(PROGRESS_CHECKS, suite.checks, strict=True) if c.meta["severity"] == "error"
    }
    assert errors == ERROR_CHECKS
    # Independent of the models' formulas: the suite reads the submitted rows and the plan itself.
    assert {"raw.submission_rows", "raw.submission_files", "raw.plan_projects"} <= suite_relations(suite)


def test_empty_progress_passes_every_check_on_zero_rows(
    progress: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    progress.execute("delete from marts.fct_project_month")
    progress.execute("delete from raw.submission_rows")
    results = run_suites(progress, RUN_ID, suites(tmp_path, "progress_monthly"))

    assert [r.check for r in results] == list(PROGRESS_CHECKS.values())
    assert {r.status for r in results} == {"passed"}
    # Every one is a row-level check that says it looked at no rows, not a silent pass.
    assert all(r.details.startswith("检查 0 行，0 行不符 / 0 rows checked, 0 failed") for r in results)


def test_the_built_warehouse_passes_every_progress_check_but_the_area_above_plan(
    progress: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    results = run_suites(progress, RUN_ID, suites(tmp_path, "progress_monthly"))

    assert progress_outcomes(results) == BASELINE
    (area,) = [r for r in results if r.check == PROGRESS_CHECKS["area_plan"]]
    assert area.details.startswith("检查 177 行，3 行不符 / 177 rows checked, 3 failed: project_code=2024-05")


PROGRESS_CHANGES = [
    pytest.param(
        both("area_done_mu = 100, forest_mu = 70, farmland_mu = 20, grassland_mu = 10", JANUARY),
        {"area_flag": ("failed", "false", "true")},
        id="area-drop-unflagged",
    ),
    pytest.param(
        [
            *both("area_done_mu = 100, forest_mu = 70, farmland_mu = 20, grassland_mu = 10", JANUARY),
            f"update marts.fct_project_month set flag_area_decreased = true {JANUARY}",
        ],
        {"area_flagged": ("warned", "true", "false")},
        id="area-drop-flagged",
    ),
    pytest.param(
        [f"update marts.fct_project_month set flag_area_decreased = true {JANUARY}"],
        {"area_flag": ("failed", "true", "false"), "area_flagged": ("warned", "true", "false")},
        id="area-flag-without-a-drop",
    ),
    pytest.param(
        both("area_done_mu = null, forest_mu = null, farmland_mu = null, grassland_mu = null", JANUARY)
        + both("area_done_mu = 130, forest_mu = 90, farmland_mu = 30, grassland_mu = 10", FEBRUARY),
        {"area_flag": ("failed", "false", "true")},
        id="area-drop-across-a-blank-month",
    ),
    pytest.param(
        both("patches_done = 5", JANUARY),
        {"patches_flag": ("failed", "false", "true")},
        id="patches-drop-unflagged",
    ),
    pytest.param(
        [
            *both("patches_done = 5", JANUARY),
            f"update marts.fct_project_month set flag_patches_decreased = true {JANUARY}",
        ],
        {"patches_flagged": ("warned", "true", "false")},
        id="patches-drop-flagged",
    ),
    pytest.param(
        both("stage = '施工中'", JANUARY),
        {"stage_flag": ("failed", "false", "true")},
        id="stage-back-unflagged",
    ),
    pytest.param(
        [
            *both("stage = '施工中'", JANUARY),
            f"update marts.fct_project_month set flag_stage_backwards = true {JANUARY}",
        ],
        {"stage_flagged": ("warned", "true", "false")},
        id="stage-back-flagged",
    ),
    pytest.param(
        both("patches_done = 14", FEBRUARY),
        {"patches_plan": ("failed", "14", "≤ 13")},
        id="patches-above-plan",
    ),
    pytest.param(
        [
            *both("area_done_mu = 140", FEBRUARY),
            f"update marts.fct_project_month set flag_area_above_plan = true {FEBRUARY}",
        ],
        {"area_plan": ("warned", "140; 168.3; 168.3; 168.3", "≤ 139; ≤ 165; ≤ 165; ≤ 165")},
        id="area-above-plan-flagged",
    ),
    pytest.param(
        both("area_done_mu = 140", FEBRUARY),
        {
            "area_plan": ("warned", "140; 168.3; 168.3; 168.3", "≤ 139; ≤ 165; ≤ 165; ≤ 165"),
            "area_plan_flag": ("failed", "false", "true"),
        },
        id="area-above-plan-unflagged",
    ),
    pytest.param(
        both("accepted_on = date '2024-01-20'", JANUARY),
        {"accepted": ("failed", "true", "false")},
        id="accepted-on-before-the-stage",
    ),
    pytest.param(
        both("accepted_on = null", FEBRUARY),
        {"accepted": ("failed", "false", "true")},
        id="stage-accepted-without-date",
    ),
    pytest.param(
        both("accepted_on = date '2024-03-05'", FEBRUARY),
        {"accepted_in_month": ("failed", "2024-03-05", "≤ 2024-02-29")},
        id="accepted-after-the-month-reported",
    ),
    pytest.param(
        both("accepted_on = date '2023-11-20'", FEBRUARY),
        {"accepted_after_completion": ("failed", "2023-11-01", "> 2023-11-01")},
        id="accepted-before-completion",
    ),
    pytest.param(
        both("grassland_mu = 14.6", FEBRUARY),
        {"land_use": ("failed", "139.7", "≤ 139.5")},
        id="land-use-above-area",
    ),
    pytest.param(
        [f"update raw.submission_rows set project_code = '2099-01' {FEBRUARY}"],
        {"in_plan": ("failed", "false", "true"), "as_submitted": ("failed", "false; false", "true")},
        id="project-not-in-plan",
    ),
    pytest.param(
        [
            "update marts.fct_project_month set area_done_mu = 262 "
            "where project_code = '2024-04' and report_month = '2024-08-01'"
        ],
        {"as_submitted": ("failed", "false", "true")},
        id="the-mart-keeps-a-version-that-arrived-first",
    ),
    pytest.param(
        [f"delete from marts.fct_project_month {NOVEMBER}"],
        {"as_submitted": ("failed", "false", "true")},
        id="a-submitted-month-missing-from-the-mart",
    ),
    pytest.param(
        [f"insert into marts.fct_project_month select * from marts.fct_project_month {FEBRUARY}"],
        {"unique": ("failed", "(2023-01, 2024-02-01); (2023-01, 2024-02-01)", "唯一 / unique")},
        id="month-reported-twice",
    ),
]


@pytest.mark.parametrize(("changes", "failing"), PROGRESS_CHANGES)
def test_each_progress_rule_fails_on_the_month_that_breaks_it(
    progress: duckdb.DuckDBPyConnection, tmp_path: Path, changes: list[str], failing: dict[str, tuple]
) -> None:
    for change in changes:
        progress.execute(change)

    results = run_suites(progress, RUN_ID, suites(tmp_path, "progress_monthly"))

    assert progress_outcomes(results) == BASELINE | failing
    for result in results:
        if PROGRESS_CHECKS.get(next(iter(failing))) == result.check:
            assert "project_code=" in result.details and "report_month=" in result.details
    assert {key for key, (status, _, _) in failing.items() if status == "failed"} <= ERROR_CHECKS


def test_every_error_level_progress_check_is_shown_failing() -> None:
    shown = {
        key
        for param in PROGRESS_CHANGES
        for key, (status, _, _) in param.values[1].items()
        if status == "failed"
    }
    assert shown == ERROR_CHECKS


def test_a_project_numbered_100_or_more_in_its_year_is_matched_to_the_plan(
    progress: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    # A plan of over 99 projects a year (the scale bench's): the suite must spell 2023-100 as the
    # models do, not cut it to 2023-10.
    progress.execute("update raw.plan_projects set seq = 100 where plan_year = 2023 and seq = 1")
    for table in ("raw.submission_rows", "marts.fct_project_month"):
        progress.execute(f"update {table} set project_code = '2023-100' where project_code = '2023-01'")

    results = run_suites(progress, RUN_ID, suites(tmp_path, "progress_monthly"))

    assert progress_outcomes(results) == BASELINE


def test_offending_rows_are_listed_in_key_order_whatever_order_the_table_holds(
    progress: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    # An incremental build appends where a full one rewrites: the same rows, stored in another order.
    progress.execute(
        "create temp table backwards as select * from marts.fct_project_month "
        "where project_code = '2023-01' and report_month >= '2023-10-01' order by report_month desc"
    )
    progress.execute("delete from marts.fct_project_month")
    progress.execute("insert into marts.fct_project_month select * from backwards")
    suite = {
        "name": "months",
        "expectations": [
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "area_done_mu", "max_value": 100},
                "meta": {"check": "面积 ≤ 100 / area ≤ 100", "severity": "warning"},
            }
        ],
        "meta": {
            "regreen": {
                "query": "select project_code, report_month, area_done_mu from marts.fct_project_month",
                "description": "every month as stored",
                "keys": ["project_code", "report_month"],
            }
        },
    }
    folder = tmp_path / "suites"
    folder.mkdir()
    (folder / "months.json").write_text(json.dumps(suite), encoding="utf-8")

    (result,) = run_suites(progress, RUN_ID, folder)

    assert re.findall(r"project_code=(\S+) report_month=([0-9-]+)", result.details) == [
        ("2023-01", "2023-11-01"),
        ("2023-01", "2023-12-01"),
        ("2023-01", "2024-01-01"),
        ("2023-01", "2024-02-01"),
    ]


# --- failures of the suites themselves ----------------------------------------------------------------


def test_a_suite_whose_query_fails_gives_a_failed_result_not_an_exception(tmp_path: Path) -> None:
    folder = suites(tmp_path, "plan_projects", "plan_figures")
    edit_suite(
        folder,
        "plan_projects",
        lambda d: d["meta"]["regreen"].update(query="select * from marts.no_such_table"),
    )
    empty = duckdb.connect(str(tmp_path / "empty.duckdb"))

    results = run_suites(empty, RUN_ID, folder)

    assert [(r.suite, r.check, r.severity, r.status) for r in results] == [
        ("plan_figures", "套件查询可执行 / suite query runs", "error", "failed"),
        ("plan_projects", "套件查询可执行 / suite query runs", "error", "failed"),
    ]
    assert "fct_plan" in results[0].details
    assert "no_such_table" in results[1].details


def test_a_check_on_a_column_the_query_does_not_return_fails_even_at_warning_level(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    folder = suites(tmp_path, "plan_declared_totals")
    regreen_meta = json.loads((folder / "plan_declared_totals.json").read_text(encoding="utf-8"))["meta"][
        "regreen"
    ]
    without_counted = regreen_meta["query"].replace("counted_value,", "")
    assert without_counted != regreen_meta["query"]
    edit_suite(folder, "plan_declared_totals", lambda d: d["meta"]["regreen"].update(query=without_counted))

    results = run_suites(con, RUN_ID, folder)

    warning = next(r for r in results if r.check == WARNING_CHECK)
    assert (warning.severity, warning.status) == ("error", "failed")
    assert "counted_value" in warning.details
    loaded = next(r for r in results if r.check == LOADED)
    assert loaded.status == "passed"


def test_gx_draws_no_progress_bars(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    results = run_suites(con, RUN_ID, suites(tmp_path, *PLAN_SUITES))

    captured = capfd.readouterr()
    assert len(results) == 31
    assert "Calculating Metrics" not in captured.err + captured.out


# --- storing the results ------------------------------------------------------------------------------------


def test_check_results_round_trip_and_append(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    results = run_suites(con, RUN_ID, suites(tmp_path, "plan_declared_totals"))
    (before,) = con.execute("select current_timestamp").fetchone()

    store_check_results(con, results)
    store_check_results(con, [CheckResult("s", "c", "error", "failed", None, None, None, "run-2")])

    rows = con.execute(
        "select run_id, suite, check_name, severity, status, observed, expected, details "
        "from quality.check_results order by run_id, check_name"
    ).fetchall()
    assert len(rows) == len(results) + 1
    assert rows[0] == ("run-2", "s", "c", "error", "failed", None, None, None)
    warned = [row for row in rows if row[4] == "warned"]
    assert warned == [
        (
            RUN_ID,
            "plan_declared_totals",
            WARNING_CHECK,
            "warning",
            "warned",
            "2",
            "1",
            next(r.details for r in results if r.check == WARNING_CHECK),
        )
    ]
    (earliest,) = con.execute("select min(checked_at) from quality.check_results").fetchone()
    assert earliest >= before
    (table_comment,) = con.execute(
        "select comment from duckdb_tables() where schema_name = 'quality' and table_name = 'check_results'"
    ).fetchone()
    assert "数据质量检查结果" in table_comment and "data quality check results" in table_comment
    uncommented = con.execute(
        "select column_name from duckdb_columns() where schema_name = 'quality' and table_name = 'check_results' "
        "and (comment is null or comment not like '% / %')"
    ).fetchall()
    assert uncommented == []


def test_storing_no_results_still_creates_the_documented_table(con: duckdb.DuckDBPyConnection) -> None:
    store_check_results(con, [])

    assert con.execute("select count(*) from quality.check_results").fetchone() == (0,)


def test_great_expectations_is_imported_only_when_a_suite_runs() -> None:
    # Importing it takes seconds; `regreen check`, `ingest` and `template` never need it.
    probe = "import sys, regreen.cli, regreen.nightly; print('great_expectations' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# --- pushed down: what reaches pandas does not grow with the data --------------------------------------


def test_a_row_level_check_counts_every_row_in_duckdb_and_lists_the_first_in_key_order(
    progress: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    # 300 months of one project, each above its plan: GX sees at most MAX_LISTED_ROWS of them.
    progress.execute("delete from marts.fct_project_month")
    progress.execute("delete from raw.submission_rows")
    progress.execute(
        "insert into raw.submission_rows (file_id, sheet, row_number, report_month, township, project_name, "
        "project_code, patches_done, area_done_mu, stage) select 1, '月度进展', 2, date '2000-01-01' + to_months(i), "
        "'百崎乡', '百崎乡莲埭村废弃矿山生态治理项目', '2023-01', 1, 200, '施工中' from range(300) as t(i)"
    )

    results = run_suites(progress, RUN_ID, suites(tmp_path, "progress_monthly"))

    area = next(r for r in results if r.check == PROGRESS_CHECKS["area_plan"])
    assert area.status == "warned"
    assert area.details.startswith("检查 300 行，300 行不符 / 300 rows checked, 300 failed: ")
    listed = re.findall(r"report_month=([0-9-]+)", area.details)
    assert listed == [f"{2000 + m // 12}-{m % 12 + 1:02d}-01" for m in range(20)]
    assert area.details.endswith("… 另 280 行 / 280 more")
    assert (area.observed, area.expected) == (
        "200; 200; 200; 200; 200; …",
        "≤ 139; ≤ 139; ≤ 139; ≤ 139; ≤ 139; …",
    )


def test_a_suite_reads_its_rows_once_for_all_its_checks_and_again_only_to_list_offending_rows(
    tmp_path: Path,
) -> None:
    # A DuckDB function with a side effect counts the rows the suite's query produces, pass by pass.
    con = duckdb.connect(str(tmp_path / "rows.duckdb"))
    produced: list[int] = []
    con.create_function("produced", lambda n: produced.append(n) or n, [int], int, side_effects=True)
    con.execute("create table months as select i as n, i % 7 as weekday from range(1000) as t(i)")
    expectations = [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "n"}},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "n"}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "weekday", "max_value": 6}},
        {"type": "expect_column_sum_to_be_between", "kwargs": {"column": "n", "min_value": 499500}},
        {"type": "expect_table_row_count_to_equal", "kwargs": {"value": 1000}},
    ]
    suite = {
        "name": "months",
        "expectations": [
            {**e, "meta": {"check": f"check {i} / check {i}", "severity": "error"}}
            for i, e in enumerate(expectations)
        ],
        "meta": {
            "regreen": {
                "query": "select produced(n) as n, weekday from months",
                "description": "every row",
                "keys": ["n"],
            }
        },
    }
    folder = tmp_path / "suites"
    folder.mkdir()
    (folder / "months.json").write_text(json.dumps(suite), encoding="utf-8")

    results = run_suites(con, RUN_ID, folder)

    assert [r.status for r in results] == ["passed"] * 5
    assert len(produced) == 1000  # the query ran once for the five checks, not once per check

    produced.clear()
    con.execute("update months set weekday = 9 where n in (3, 500)")
    results = run_suites(con, RUN_ID, folder)

    assert [r.status for r in results] == ["passed", "passed", "failed", "passed", "passed"]
    assert results[2].details == (
        "检查 1000 行，2 行不符 / 1000 rows checked, 2 failed: n=3: weekday=9; n=500: weekday=9"
    )
    assert len(produced) == 2000  # and once more, to list the rows that break the failing one


def test_an_expectation_that_cannot_run_in_duckdb_is_refused(tmp_path: Path) -> None:
    folder = suites(tmp_path, "plan_projects")
    edit_suite(
        folder,
        "plan_projects",
        lambda d: d["expectations"].append(
            {
                "type": "expect_column_values_to_match_regex",
                "kwargs": {"column": "project_code", "regex": "^20"},
                "meta": {"check": "编号格式 / code format", "severity": "error"},
            }
        ),
    )

    with pytest.raises(SuiteFileError, match="cannot be pushed down to DuckDB"):
        load_suites(folder)


# --- each plan's figures in its own contract ------------------------------------------------------------


def write_contract(
    folder: Path, number: str, change: Callable[[dict], object] = lambda figures: None
) -> Path:
    data = json.loads(BUNDLED_CONTRACT.read_text(encoding="utf-8"))
    data["document_number"] = number
    change(data["figures"])
    folder.mkdir(exist_ok=True)
    path = folder / f"{len(list(folder.iterdir()))}.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_the_plan_suites_hold_the_figures_of_the_contract_they_are_given(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    # 2023-01's area 139 → 140: the bundled contract fails it; a contract that says 994 and 3127 passes it.
    con.execute("update marts.fct_plan set area_planned_mu = 140 where project_code = '2023-01'")

    def own(figures: dict) -> None:
        figures["years"]["2023"]["area_mu"], figures["area_mu"] = 994, 3127

    write_contract(tmp_path / "contracts", "试〔2099〕1号", own)
    contract = find_contract("试〔2099〕1号", [tmp_path / "contracts"])
    folder = suites(tmp_path, "plan_figures")

    bundled = run_suites(con, RUN_ID, folder)
    theirs = run_suites(con, RUN_ID, suites=load_suites(folder, contract))

    assert not_passed(bundled) == {
        plan_check(2023, "面积", 993): ("error", "failed", "994", "993"),
        TOTAL_AREA: ("error", "failed", "3127", "3126"),
    }
    assert not_passed(theirs) == {}
    assert plan_check(2023, "面积", 994) in [r.check for r in theirs]


def test_a_plan_without_a_contract_or_with_two_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "contracts"
    write_contract(folder, "试〔2099〕1号")

    with pytest.raises(PlanContractError, match="试〔2099〕2号") as missing:
        find_contract("试〔2099〕2号", [folder])
    write_contract(folder, "试〔2099〕1号")
    with pytest.raises(PlanContractError, match="more than once"):
        find_contract("试〔2099〕1号", [folder])

    assert missing.value.exit_code == 2
    assert find_contract("泉台管办〔2023〕36号").path == BUNDLED_CONTRACT


def test_a_suite_naming_a_figure_the_contract_lacks_is_refused(tmp_path: Path) -> None:
    contract = find_contract(
        "试〔2099〕1号",
        [write_contract(tmp_path / "c", "试〔2099〕1号", lambda f: f.pop("task_area_mu")).parent],
    )

    with pytest.raises(SuiteFileError, match="task_area_mu"):
        load_suites(suites(tmp_path, "plan_figures"), contract)
