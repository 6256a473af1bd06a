"""The dbt models on a real DuckDB file: the bundled notice, a small set of submissions, one real `dbt build`.

The submissions are chosen so that every rule of the progress marts shows: 张坂镇 restates January
(file 3 after file 1), reports February late (and file 7, sent before file 2 but landed after it,
restates February: arrival, not file id, decides which is current), and in March reports a smaller area and an earlier stage
for 2023-04 and more than planned for 2023-05 (which leaves its area blank in February, and whose four funds fall 10 万元
short of its investment); 东园镇 reports 2023-02 accepted in January, exactly at the deadline; 洛阳镇's
only file is rejected; 百崎乡 sends nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import yaml

from regreen.build import copy_submissions
from regreen.dbt import PARSE_KEY_FILE, DbtProcess, DbtRun, dbt_build
from regreen.patches.register import load_patches
from regreen.plan import parse_notice
from regreen.project import BUNDLED_NOTICE, PROJECT_ROOT
from regreen.rawload import load_plan
from regreen.submissions.landing import ensure_landing

REPORTER, PHONE = "林小梅", "13905951234"  # fake personal data, landing zone only

# file_id, original_name, submitted_at, status
FILES = [
    (1, "张坂镇-2024-01-月度进展.xlsx", datetime(2024, 2, 3, 9), "accepted"),
    (2, "张坂镇-2024-02-月度进展.xlsx", datetime(2024, 3, 10, 9), "accepted"),
    (3, "张坂镇-2024-01-更正.xlsx", datetime(2024, 2, 20, 9), "accepted"),
    (4, "张坂镇-2024-03-月度进展.xlsx", datetime(2024, 4, 2, 9), "accepted"),
    (5, "洛阳镇2024年2月进展.xlsx", datetime(2024, 3, 4, 9), "rejected"),
    (6, "东园镇-2024-01.csv", datetime(2024, 2, 5, 12), "accepted"),
    # Landed after file 2 (a later ingest picked it up from a share) but sent before it: file 2 stays current.
    (7, "张坂镇-2024-02-补发.xlsx", datetime(2024, 3, 8, 9), "accepted"),
]
# file_id, row_number, report_month, township, project_code, patches, area, stage, invested, four funds
ROWS = [
    (1, 4, date(2024, 1, 1), "张坂镇", "2023-04", 4, 100, "施工中", 50, (10, 20, 15, 5)),
    (1, 5, date(2024, 1, 1), "张坂镇", "2023-05", 5, 50, "施工中", 30, (None, 10, 10, 10)),
    (2, 4, date(2024, 2, 1), "张坂镇", "2023-04", 6, 150, "施工中", 70, (10, 30, 20, 10)),
    (2, 5, date(2024, 2, 1), "张坂镇", "2023-05", 5, None, "施工中", 30, (None, 10, 10, 10)),
    (3, 4, date(2024, 1, 1), "张坂镇", "2023-04", 5, 120, "施工中", 60, (10, 25, 20, 5)),
    (4, 4, date(2024, 3, 1), "张坂镇", "2023-04", 6, 140, "方案评审", 80, (10, 30, 30, 10)),
    (4, 5, date(2024, 3, 1), "张坂镇", "2023-05", 21, 400, "已完工", 200, (50, 50, 50, 40)),
    (6, 2, date(2024, 1, 1), "东园镇", "2023-02", 12, 80, "已验收", 40, (20, 10, 5, 5)),
    (7, 4, date(2024, 2, 1), "张坂镇", "2023-04", 6, 145, "施工中", 70, (10, 30, 20, 10)),
]
ISSUES = [
    (5, None, None, "error", "missing_header", "缺少表头“项目名称”", "missing header 项目名称"),
    (5, 3, "面积", "error", "not_a_number", "面积不是数字", "area is not a number"),
]
# The progress rules and the declared totals are checked by the Great Expectations suites, not here.
WARNED = {"test_funding_by_source__funds_add_up_to_investment"}


def write_landing(path: Path) -> None:
    """A landing zone holding FILES, ROWS and ISSUES, personal data included, as ingestion leaves it."""
    with duckdb.connect(str(path)) as con:
        ensure_landing(con)
        con.executemany(
            "insert into raw.submission_files values "
            "(?, ?, ?, ?, 1000, ?, ?, ?, '月度进展', 2, 2, 0, 0, 0, null, false, 'ingest-test')",
            [
                [fid, f"sha-{fid}", name, f"archive/sha-{fid}", at, at, status]
                for fid, name, at, status in FILES
            ],
        )
        con.executemany(
            "insert into raw.submission_receipts values (?, ?, ?, ?, ?, 'new', 'ingest-test')",
            [[fid, fid, name, at, at] for fid, name, at, _ in FILES],
        )
        con.executemany(
            "insert into raw.submission_rows (file_id, sheet, row_number, report_month, township, project_name, "
            "project_code, patches_done, area_done_mu, stage, invested_10k_yuan, fund_higher_level, "
            "fund_district, fund_waste_rock, fund_social, accepted_on, reporter, phone) "
            "values (?, '月度进展', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [fid, row, month, township, f"{township}{code}", code, patches, area, stage, invested, *funds,
                 date(2024, 1, 20) if stage == "已验收" else None, REPORTER, PHONE]
                for fid, row, month, township, code, patches, area, stage, invested, funds in ROWS
            ],
        )  # fmt: skip
        con.executemany(
            "insert into raw.submission_issues values (?, '月度进展', ?, ?, null, ?, ?, ?, ?)", ISSUES
        )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DbtRun]:
    """A working database loaded as `regreen build` loads it, after one real `dbt build`."""
    folder = tmp_path_factory.mktemp("dbt")
    landing = folder / "landing.duckdb"
    write_landing(landing)
    database = folder / "warehouse.duckdb"
    with duckdb.connect(str(database)) as con:
        load_plan(con, parse_notice(BUNDLED_NOTICE), "test-run")
        copy_submissions(con, landing)
        load_patches(con, [])  # no patch register, as a build without one loads it
    return database, dbt_build(database, folder)


@pytest.fixture(scope="module")
def warehouse(built: tuple[Path, DbtRun]) -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect(str(built[0]), read_only=True) as con:
        yield con


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def test_every_model_builds_and_only_the_expected_checks_warn(built: tuple[Path, DbtRun]) -> None:
    run = built[1]
    assert run.returncode == 0
    assert {n.name for n in run.nodes if n.resource_type == "model"} >= {
        "dim_township", "dim_village", "dim_project", "bridge_project_village", "fct_plan",
        "plan_summary_by_year_township", "plan_declared_vs_counted", "fct_project_month",
        "fct_submission_versions", "plan_vs_actual_project", "plan_vs_actual_township",
        "plan_vs_actual_plan_year", "plan_vs_actual_district", "district_progress_monthly",
        "submission_timeliness", "funding_by_source",
    }  # fmt: skip
    assert [n.name for n in run.nodes if n.status not in {"success", "pass", "warn"}] == []
    assert {n.name for n in run.nodes if n.status == "warn"} == WARNED
    assert all(n.severity == "warn" for n in run.nodes if n.name in WARNED)


def test_schemas_are_plain(warehouse: duckdb.DuckDBPyConnection) -> None:
    schemas = {name for (name,) in rows(warehouse, "select schema_name from duckdb_schemas()")}
    assert {"raw", "reference", "staging", "intermediate", "marts"} <= schemas
    assert not [s for s in schemas if s.startswith("main_")]


def test_dim_project_reads_township_zone_and_villages_from_the_names(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    projects = {
        code: rest
        for code, *rest in rows(
            warehouse,
            "select project_code, project_name, normalized_name, township_code, township_name, zone, "
            "patches_planned, area_planned_mu, village_names from marts.dim_project",
        )
    }
    assert len(projects) == 14
    assert projects["2024-04"] == [
        "张坂镇前见、后见村废弃矿山生态治理项目", "张坂前见后见村", "zhangban", "张坂镇", None, 1, Decimal(526),
        "前见村、后见村",
    ]  # fmt: skip
    assert projects["2024-01"][1:5] == ["百崎莲埭下埭村", "baiqi", "百崎乡", None]
    assert projects["2025-01"][1] == "张坂崧山村二分区" and projects["2025-01"][4] == "二分区"
    assert projects["2025-01"][7] == "崧山村"  # written 菘山村
    assert projects["2023-04"][1] == "张坂崧山村一分区" and projects["2023-04"][4] == "一分区"
    assert projects["2025-02"][1:3] == ["张坂玉田玉园玉塘村", "zhangban"]
    assert projects["2025-02"][7] == "玉田村、玉园村、玉塘村"
    assert rows(warehouse, "select sum(patches_planned), sum(area_planned_mu) from marts.fct_plan") == [
        (182, Decimal(3126))
    ]
    assert rows(warehouse, "select distinct document_number from marts.fct_plan") == [
        ("泉台管办〔2023〕36号",)
    ]


def test_villages_and_the_bridge(warehouse: duckdb.DuckDBPyConnection) -> None:
    assert rows(warehouse, "select count(*) from marts.dim_village") == [(21,)]
    # 1+2+2+1+1 links in 2023, 2+2+2+2+2+1 in 2024, 1+3+2 in 2025.
    assert rows(
        warehouse,
        "select p.plan_year, count(*) from marts.bridge_project_village b "
        "join marts.dim_project p using (project_code) group by all order by 1",
    ) == [(2023, 7), (2024, 11), (2025, 6)]
    assert rows(
        warehouse,
        "select village_name, projects_planned from marts.dim_village where projects_planned > 1 order by 1",
    ) == [("后见村", 2), ("崧山村", 2), ("莲埭村", 2)]
    assert rows(
        warehouse,
        "select township_code, projects_planned, patches_planned, area_planned_mu from marts.dim_township order by 1",
    ) == [
        ("baiqi", 2, 22, Decimal(292)),
        ("dongyuan", 2, 22, Decimal(112)),
        ("luoyang", 3, 43, Decimal(444)),
        ("zhangban", 7, 95, Decimal(2278)),
    ]


def test_declared_figures_disagree_only_on_zhangban_in_2023(warehouse: duckdb.DuckDBPyConnection) -> None:
    assert rows(
        warehouse,
        "select plan_year, source, township, measure, declared_value, counted_value "
        "from marts.plan_declared_vs_counted where not is_consistent",
    ) == [(2023, "sentence", "张坂镇", "projects_per_township", Decimal(1), Decimal(2))]
    assert rows(
        warehouse,
        "select township, counted_value from marts.plan_declared_vs_counted "
        "where measure = 'projects_per_township' order by township",
    ) == [("东园镇", 1), ("张坂镇", 2), ("洛阳镇", 1), ("百崎乡", 1)]
    assert rows(
        warehouse,
        "select plan_year, township, declared_value, counted_value, is_consistent "
        "from marts.plan_declared_vs_counted where source = 'task'",
    ) == [(None, None, Decimal(3000), Decimal(3126), True)]
    summary = rows(
        warehouse,
        "select plan_year, township_name, projects, area_planned_mu from marts.plan_summary_by_year_township "
        "where township_name = '张坂镇' or plan_year = 2025 order by 1, 2",
    )
    assert summary == [
        (2023, "张坂镇", 2, Decimal(630)),
        (2024, "张坂镇", 3, Decimal(1275)),
        (2025, "东园镇", 1, Decimal(32)),
        (2025, "张坂镇", 2, Decimal(373)),
        (2025, "洛阳镇", 0, Decimal(0)),
        (2025, "百崎乡", 0, Decimal(0)),
    ]


def test_fct_project_month_counts_the_restatement_and_flags_the_decrease(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    months = rows(
        warehouse,
        "select project_code, report_month, area_done_mu, area_increment_mu, patches_increment, stage_rank, "
        "version_count, file_id, row_number, flag_area_decreased, flag_patches_decreased, flag_stage_backwards, "
        "flag_area_above_plan, pct_area_planned from marts.fct_project_month order by 1, 2",
    )
    assert months == [
        ("2023-02", date(2024, 1, 1), 80, 80, 12, 6, 1, 6, 2, False, False, False, False, 100.0),
        ("2023-04", date(2024, 1, 1), 120, 120, 5, 4, 2, 3, 4, False, False, False, False, 42.86),
        ("2023-04", date(2024, 2, 1), 150, 30, 1, 4, 2, 2, 4, False, False, False, False, 53.57),
        ("2023-04", date(2024, 3, 1), 140, -10, 0, 2, 1, 4, 4, True, False, True, False, 50.0),
        ("2023-05", date(2024, 1, 1), 50, 50, 5, 4, 1, 1, 5, False, False, False, False, 14.29),
        # A blank area: no increment, and March's is measured from January's 50.
        ("2023-05", date(2024, 2, 1), None, None, 0, 4, 1, 2, 5, False, False, False, False, None),
        ("2023-05", date(2024, 3, 1), 400, 350, 16, 5, 1, 4, 5, False, False, False, True, 114.29),
    ]
    assert rows(
        warehouse,
        "select version_number, is_current, area_done_mu, file_id from marts.fct_submission_versions "
        "where project_code = '2023-04' and report_month = date '2024-01-01' order by version_number",
    ) == [(1, False, 100, 1), (2, True, 120, 3)]
    # The restatement names the version it replaces and when that arrived.
    assert rows(
        warehouse,
        "select version_number, replaces_file_id, replaces_original_name, replaces_submitted_at "
        "from marts.fct_submission_versions where project_code = '2023-04' and report_month = date '2024-01-01' "
        "order by version_number",
    ) == [(1, None, None, None), (2, 1, "张坂镇-2024-01-月度进展.xlsx", datetime(2024, 2, 3, 9))]
    assert rows(
        warehouse,
        "select version_number, is_current, area_done_mu, file_id from marts.fct_submission_versions "
        "where project_code = '2023-04' and report_month = date '2024-02-01' order by version_number",
    ) == [(1, False, 145, 7), (2, True, 150, 2)]
    assert rows(warehouse, "select count(*) from marts.fct_submission_versions") == [(len(ROWS),)]


def test_district_progress_carries_a_silent_month_forward(warehouse: duckdb.DuckDBPyConnection) -> None:
    progress = rows(
        warehouse,
        "select report_month, restored_mu, projects_reported, task_mu, planned_mu, planned_milestone_mu, "
        "pct_of_task from marts.district_progress_monthly order by 1",
    )
    assert [p[0] for p in progress] == [date(2023, m, 1) for m in range(5, 13)] + [
        date(2024, m, 1) for m in range(1, 4)
    ]
    assert {p[5] for p in progress[:8]} == {993} and {p[5] for p in progress[8:]} == {2721}
    assert {(p[3], p[4]) for p in progress} == {(3000, 3126)}
    assert {p[1] for p in progress[:8]} == {0}
    # February: 2023-04's 150, 2023-05 still at January's 50, 2023-02's 80.
    assert [p[1:3] + (p[6],) for p in progress[8:]] == [(250, 3, 8.33), (280, 3, 9.33), (620, 3, 20.67)]


def test_submission_timeliness(warehouse: duckdb.DuckDBPyConnection) -> None:
    timeliness = {
        (township, month.month): rest
        for township, month, *rest in rows(
            warehouse,
            "select township_name, report_month, expected, status, due_date, first_submitted_at, rejection_reasons "
            "from marts.submission_timeliness where report_month >= date '2024-01-01'",
        )
    }
    assert len(timeliness) == 4 * 3
    assert {key: value[:2] for key, value in timeliness.items()} == {
        ("张坂镇", 1): [True, "on_time"], ("张坂镇", 2): [True, "late"], ("张坂镇", 3): [True, "on_time"],
        ("东园镇", 1): [True, "on_time"], ("东园镇", 2): [False, "not_due"], ("东园镇", 3): [False, "not_due"],
        ("洛阳镇", 1): [True, "missing"], ("洛阳镇", 2): [True, "rejected"], ("洛阳镇", 3): [True, "missing"],
        ("百崎乡", 1): [True, "missing"], ("百崎乡", 2): [True, "missing"], ("百崎乡", 3): [True, "missing"],
    }  # fmt: skip
    assert timeliness[("东园镇", 1)][2:4] == [date(2024, 2, 5), datetime(2024, 2, 5, 12)]
    assert (
        timeliness[("洛阳镇", 2)][4]
        == "缺少表头“项目名称” / missing header 项目名称；面积不是数字 / area is not a number"
    )
    # From 2023-06, the month after the notice's date (2023-05-05), not from the issue month itself.
    assert rows(
        warehouse,
        "select min(report_month), count(*) from marts.submission_timeliness where report_month < '2024-01-01'",
    ) == [(date(2023, 6, 1), 4 * 7)]


def test_no_township_is_missing_or_late_outside_its_due_span(
    warehouse: duckdb.DuckDBPyConnection, reference
) -> None:
    """The span each township owes reports over, worked out here from the plan and the acceptances: a
    month from 2023-06 on in which one of its projects has begun its plan year and was not accepted in
    an earlier month."""
    accepted: dict[str, date] = {}
    for _, _, month, _, code, _, _, stage, _, _ in ROWS:
        if stage == "已验收":
            accepted[code] = min(month, accepted.get(code, month))

    def owes(township: str, month: date) -> bool:
        return month >= date(2023, 6, 1) and any(
            p.township_name == township
            and p.plan_year <= month.year
            and (p.project_code not in accepted or month <= accepted[p.project_code])
            for p in reference.projects
        )

    table = rows(
        warehouse, "select township_name, report_month, expected, status from marts.submission_timeliness"
    )
    assert len(table) == 4 * 10  # 2023-06 … 2024-03
    for township, month, expected, status in table:
        assert expected == owes(township, month), (township, month)
        assert (status == "not_due") == (not expected), (township, month, status)
    # 东园镇: its 2023 project accepted in 2024-01, its other one a 2025 project: nothing owed after January.
    dongyuan = {month.month: status for t, month, _, status in table if t == "东园镇" and month.year == 2024}
    assert dongyuan == {1: "on_time", 2: "not_due", 3: "not_due"}


def test_plan_vs_actual_and_funding(warehouse: duckdb.DuckDBPyConnection) -> None:
    assert rows(
        warehouse,
        "select projects_planned, projects_reported, projects_completed, projects_accepted, patches_planned, "
        "patches_done, area_planned_mu, area_done_mu, latest_report_month from marts.plan_vs_actual_district",
    ) == [(14, 3, 2, 1, 182, 39, 3126, 620, date(2024, 3, 1))]
    assert rows(
        warehouse,
        "select plan_year, projects_reported, area_done_mu from marts.plan_vs_actual_plan_year order by 1",
    ) == [(2023, 3, 620), (2024, 0, 0), (2025, 0, 0)]
    assert rows(
        warehouse,
        "select township_name, projects_planned, projects_reported, area_done_mu, pct_area_planned "
        "from marts.plan_vs_actual_township order by township_code",
    ) == [
        ("百崎乡", 2, 0, 0, 0.0),
        ("东园镇", 2, 1, 80, 71.43),
        ("洛阳镇", 3, 0, 0, 0.0),
        ("张坂镇", 7, 2, 540, 23.71),
    ]
    assert rows(
        warehouse,
        "select project_code, report_month, fund_total_10k_yuan, invested_10k_yuan_per_mu, "
        "waste_rock_10k_m3_per_mu from marts.funding_by_source order by 1",
    ) == [
        ("2023-02", date(2024, 1, 1), 40, 0.5, None),
        ("2023-04", date(2024, 3, 1), 80, Decimal("0.57"), None),  # 万元 per mu, to 0.01 万元
        ("2023-05", date(2024, 3, 1), 190, 0.5, None),  # funds short of the 200 invested: a warning
    ]


def test_every_mart_column_is_described_in_chinese_and_english(warehouse: duckdb.DuckDBPyConnection) -> None:
    described = rows(
        warehouse,
        "select table_name, column_name, comment from duckdb_columns() where schema_name = 'marts'",
    )
    assert len(described) > 150
    undescribed = [
        (table, column)
        for table, column, comment in described
        if not comment or "/ " not in comment or not any("\u4e00" <= ch <= "\u9fff" for ch in comment)
    ]
    assert undescribed == []
    assert rows(
        warehouse,
        "select comment from duckdb_columns() where table_name = 'dim_project' and column_name = 'area_planned_mu'",
    ) == [("计划面积（亩）/ Planned area, mu (1 mu ≈ 666.7 m²).",)]
    assert rows(
        warehouse, "select count(*) from duckdb_tables() where schema_name = 'marts' and comment is null"
    ) == [(0,)]


def test_every_documented_mart_column_exists(warehouse: duckdb.DuckDBPyConnection) -> None:
    """_marts__models.yml describes only columns the marts have (a described column that is not there is
    a comment dbt never writes, and a reader looks for it in vain)."""
    documented = {
        (model["name"], column["name"])
        for model in yaml.safe_load((PROJECT_ROOT / "models" / "marts" / "_marts__models.yml").read_text())[
            "models"
        ]
        for column in model.get("columns", [])
    }
    present = set(
        rows(warehouse, "select table_name, column_name from duckdb_columns() where schema_name = 'marts'")
    )
    assert len(documented) > 150
    assert documented - present == set()


def test_personal_data_stays_in_the_landing_zone(warehouse: duckdb.DuckDBPyConnection) -> None:
    assert rows(
        warehouse, "select count(*) from duckdb_columns() where column_name in ('reporter', 'phone')"
    ) == [(0,)]
    text_columns = rows(
        warehouse,
        "select schema_name, table_name, column_name from duckdb_columns() "
        "where data_type = 'VARCHAR' and schema_name in ('raw', 'staging', 'intermediate', 'marts')",
    )
    for schema, table, column in text_columns:
        found = rows(
            warehouse,
            f'select count(*) from "{schema}"."{table}" where "{column}" in (\'{REPORTER}\', \'{PHONE}\')',
        )
        assert found == [(0,)], f"{schema}.{table}.{column}"


def test_a_dbt_child_never_given_a_command_ends_without_opening_the_database(tmp_path: Path) -> None:
    database = tmp_path / "never.duckdb"
    with DbtProcess(database, tmp_path) as dbt:
        assert dbt.process.poll() is None  # importing dbt and parsing the project meanwhile
    assert dbt.process.returncode is not None
    assert not database.exists()


def test_a_saved_parse_is_used_only_by_the_project_folder_that_saved_it(tmp_path: Path) -> None:
    # dbt's saved parse, left by a release installed in another folder, once gave this project 250 of its
    # 252 tests (regreen.dbt._keep_parse_of_this_project); each run keys it to the folder and its files.
    target = tmp_path / "dbt-target"
    saved, key = target / "partial_parse.msgpack", target / PARSE_KEY_FILE

    def list_tests() -> int:
        with DbtProcess(tmp_path / "w.duckdb", tmp_path) as dbt:
            listed = dbt.run("ls", "--resource-type", "test", "--output", "name")
        assert listed.returncode == 0, listed.stderr[-2000:]
        return len(listed.stdout.splitlines())

    tests = list_tests()  # parsed whole: nothing saved yet
    assert tests > 200
    ours, parsed = key.read_text(encoding="ascii"), saved.stat().st_mtime_ns
    assert list_tests() == tests
    assert saved.stat().st_mtime_ns == parsed  # this folder's own parse, kept

    key.write_text("0" * 64, encoding="ascii")  # as a release in another folder leaves it
    assert list_tests() == tests
    assert saved.stat().st_mtime_ns != parsed and key.read_text(encoding="ascii") == ours
