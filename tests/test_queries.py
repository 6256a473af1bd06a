"""Every query in docs/queries.md runs against a published warehouse and returns the columns it promises.

Each ```sql block is run as an analyst would run it: on the published file opened read-only. Two
warehouses: one with known figures (tests/report_warehouse.py: submission files ingested and built by
dbt), where every query's answer is pinned and worked out from the scenario in the comments, and
one built by the CLI from the sample submissions, where the queries must run and give their columns (some
questions, like projects finished but not accepted, may rightly have no answer there).
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from report_warehouse import sample_data_dir

from regreen.project import PROJECT_ROOT
from regreen.report import load_report_data

QUERIES_FILE = PROJECT_ROOT / "docs" / "queries.md"


@dataclass(frozen=True)
class Query:
    title: str
    sql: str
    columns: tuple[str, ...]


def read_queries(path: Path) -> list[Query]:
    """Every ```sql block with the `## ` heading above it and the columns its **Returns:** line names."""
    text = path.read_text(encoding="utf-8")
    queries = []
    previous_end = 0
    for block in re.finditer(r"```sql\n(.*?)```", text, flags=re.S):
        before = text[: block.start()]
        title = re.findall(r"^## (.+)$", before, flags=re.M)[-1]
        returns = re.findall(r"\*\*Returns:\*\*(.*?)\n\n", text[previous_end : block.start()], flags=re.S)
        assert returns, f"{title}: no **Returns:** line before its sql block"
        queries.append(Query(title, block.group(1), tuple(re.findall(r"`(\w+)`", returns[-1]))))
        previous_end = block.end()
    return queries


QUERIES = read_queries(QUERIES_FILE)
MONTHLY_QUESTION_MARTS = {
    "projects_behind_schedule",
    "projects_completed_not_accepted",
    "changes_since_last_month_project",
    "changes_since_last_month_township",
}


def test_the_questions_analysts_ask_are_all_there() -> None:
    titles = " ".join(q.title for q in QUERIES)
    for question in (
        "Progress of one township this year",
        "Projects behind schedule",
        "Restorations completed but not accepted",
        "Month-over-month change",
        "What changed since last month",
        "README example 1",
        "README example 2",
        "README example 3",
    ):
        assert question in titles
    assert all(query.columns for query in QUERIES)


def test_the_readme_examples_are_the_ones_tested_here() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    # The README's query on marts.dim_patch runs in test_patches_build, on the sample's patch register.
    examples = [e for e in re.findall(r"```sql\n(.*?)```", readme, flags=re.S) if "marts.dim_patch" not in e]
    assert len(examples) == 3
    for number, example in enumerate(examples, start=1):
        [query] = [q for q in QUERIES if f"README example {number}" in q.title]
        assert query.sql == example


def test_the_readme_examples_run_in_the_duckdb_cli_of_the_venv_as_written(sample: Path) -> None:
    """`make setup` leaves `.venv/bin/duckdb` (duckdb-cli, DuckDB 1.5): each README block, fed to it as an
    analyst pastes it into `duckdb -readonly warehouse/regreen.duckdb`, answers what DuckDB 2.x answers."""
    cli = Path(sys.executable).with_name("duckdb")
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    for example in re.findall(r"```sql\n(.*?)```", readme, flags=re.S):
        done = subprocess.run(
            [str(cli), "-readonly", "-csv", str(sample)], input=example, capture_output=True, text=True
        )
        assert done.returncode == 0 and not done.stderr, done.stderr
        header, *rows = list(csv.reader(io.StringIO(done.stdout)))
        columns, expected = run(sample, example)
        assert tuple(header) == columns
        assert len(rows) == len(expected) > 0
        assert [row[0] for row in rows] == [str(row[0]) for row in expected]


@pytest.fixture(scope="module")
def known(known_warehouse: Path) -> Path:
    return known_warehouse


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sample_data_dir(tmp_path_factory.getbasetemp()) / "regreen.duckdb"


def run(warehouse: Path, sql: str) -> tuple[tuple[str, ...], list[tuple]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        cursor = con.execute(sql)
        rows = cursor.fetchall()
        return tuple(column[0] for column in cursor.description), rows


def marts_used(sql: str) -> set[str]:
    return set(re.findall(r"marts\.(\w+)", sql))


def known_marts(warehouse: Path) -> set[str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute("select table_name from duckdb_tables() where schema_name = 'marts'").fetchall()
    return {name for (name,) in rows}


@pytest.mark.parametrize("query", QUERIES, ids=[q.title.split(" / ")[-1] for q in QUERIES])
def test_each_query_answers_on_a_warehouse_with_known_figures(query: Query, known: Path) -> None:
    if not marts_used(query.sql) <= known_marts(known):
        assert marts_used(query.sql) - known_marts(known) <= MONTHLY_QUESTION_MARTS
        pytest.skip("a monthly-question mart: answered in tests/test_marts_questions.py")
    columns, rows = run(known, query.sql)
    assert columns == query.columns
    assert rows, f"{query.title} returned no rows"


@pytest.mark.parametrize("query", QUERIES, ids=[q.title.split(" / ")[-1] for q in QUERIES])
def test_each_query_runs_on_a_warehouse_built_from_the_sample(query: Query, sample: Path) -> None:
    columns, _ = run(sample, query.sql)
    assert columns == query.columns


def _query(title_part: str) -> Query:
    [query] = [q for q in QUERIES if title_part in q.title]
    return query


def test_behind_schedule_lists_what_the_report_lists(sample: Path) -> None:
    path = sample
    columns, rows = run(path, _query("Projects behind schedule").sql)
    listed = {(row[columns.index("project_code")], row[columns.index("reason")]) for row in rows}
    with duckdb.connect(str(path), read_only=True) as con:
        report = {(risk.project.code, risk.reason) for risk in load_report_data(con).risks}
    assert listed == report
    assert listed  # the sample has a project at risk


def _answers(known: Path, number: int) -> list[list[tuple]]:
    """The rows of each SQL block of section `number` of docs/queries.md, in order."""
    return [run(known, q.sql)[1] for q in QUERIES if q.title.startswith(f"{number}. ")]


def _answer(known: Path, number: int) -> list[tuple]:
    [rows] = _answers(known, number)
    return rows


D = Decimal
TIMELINESS_UNKNOWN = "方案中没有这个项目；最接近的方案项目：东园镇群青、锦丰村废弃矿山生态治理项目"
TIMELINESS_NOT_A_NUMBER = (
    "不是数字（只填数字，不加“约”等文字） / not a number (figures only, no words such as 约)"
)


def test_every_query_gives_its_pinned_answer_on_known_figures(known: Path) -> None:
    assert len(QUERIES) == 11  # section 7 has two blocks, by township and by project
    # 1. 洛阳镇: 144 × 0.99 = 142.6 + 161 + 139; 东园镇: only 2023-02's 80 of 80 + 32 mu.
    assert _answer(known, 1) == [
        ("东园镇", 2, 1, D("112.00"), D("80.0000"), 71.43),
        ("张坂镇", 7, 2, D("2278.00"), D("1713.4000"), 75.22),
        ("洛阳镇", 3, 3, D("444.00"), D("442.6000"), 99.68),
        ("百崎乡", 2, 2, D("292.00"), D("292.0000"), 100.0),
    ]
    task, planned = D("3000.00"), D("3126.00")
    assert _answer(known, 2) == [
        (date(2025, 6, 1), D("2528.0000"), task, 84.27, planned),
        (date(2025, 5, 1), D("2495.8000"), task, 83.19, planned),
        (date(2025, 4, 1), D("2463.6000"), task, 82.12, planned),
        (date(2025, 3, 1), D("2431.3000"), task, 81.04, planned),
        (date(2025, 2, 1), D("2399.1000"), task, 79.97, planned),
        (date(2025, 1, 1), D("2328.7000"), task, 77.62, planned),
    ]
    # 2024-06: 1.6 万m³ per mu over 40 % of 584 mu for 16 months at the pace of 8: 3.2 per mu restored.
    assert _answer(known, 3) == [
        ("2024-06", "张坂镇塘园村废弃矿山生态治理项目", D("233.6000"), 3.2, 53.3),
        ("2024-04", "张坂镇前见、后见村废弃矿山生态治理项目", D("526.0000"), 0.09, 1.5),
        ("2023-04", "张坂镇崧山村一分区废弃矿山生态治理项目", D("280.0000"), 0.08, 1.3),
    ]
    # 2024-04 this year: 526 mu less December's 10/12 of it (438.3).
    assert _answer(known, 4) == [
        ("2023-04", "张坂镇崧山村一分区废弃矿山生态治理项目", D(280), D(0), D(280), 100.0, "已验收", date(2024, 4, 1)),
        ("2023-05", "张坂镇苏坑村废弃矿山生态治理项目", D(350), D(0), D(350), 100.0, "已完工", date(2025, 6, 1)),
        ("2024-04", "张坂镇前见、后见村废弃矿山生态治理项目", D(526), D("87.7"), D(526), 100.0, "已完工",
         date(2025, 6, 1)),
        ("2024-05", "张坂镇后见、前头村废弃矿山生态治理项目", D(165), D(0), D("168.3"), 102.0, "已验收",
         date(2025, 2, 1)),
        ("2024-06", "张坂镇塘园村废弃矿山生态治理项目", D(584), D(0), D("233.6"), 40.0, "施工中", date(2025, 6, 1)),
        ("2025-01", "张坂镇菘山村二分区废弃矿山生态治理项目", D(266), D(133), D(133), 50.0, "施工中", date(2025, 6, 1)),
        ("2025-02", "张坂玉田、玉园、玉塘村废弃矿山生态治理项目", D(107), D("22.5"), D("22.5"), 21.0, "施工中",
         date(2025, 6, 1)),
    ]  # fmt: skip
    # 2024-06 is 233.6 of 584 mu: 350.4 short; 2025-02 did 22.5 mu in four months, 5.63 a month, so 56.25
    # by December and 50.75 short of its 107.
    assert [(r[0], r[4], r[7], r[8], r[9], r[10]) for r in _answer(known, 5)] == [
        ("2023-05", "已完工", None, None, D(0), "not_accepted"),
        ("2024-04", "已完工", None, None, D(0), "not_accepted"),
        ("2024-06", "施工中", None, None, D("350.4"), "not_accepted"),
        ("2025-02", "施工中", D("5.63"), D("56.25"), D("50.75"), "pace"),
        ("2025-03", "方案编制", None, None, D(32), "not_started"),
    ]
    assert _answer(known, 6) == [
        ("2023-05", "张坂镇苏坑村废弃矿山生态治理项目", "张坂镇", 2023, D(350), date(2024, 2, 1), date(2025, 6, 1), 16),
        ("2024-04", "张坂镇前见、后见村废弃矿山生态治理项目", "张坂镇", 2024, D(526), date(2025, 2, 1),
         date(2025, 6, 1), 4),
    ]  # fmt: skip
    # June 2025 against May: 张坂镇's 2025-01 (+26.6 mu, +3 patches) and 2025-02 (+5.6) are the district's
    # 32.2 mu of June (section 8); 东园镇's 2025-03 reports for the first time, at 方案编制.
    by_township, by_project = _answers(known, 7)
    june = date(2025, 6, 1)
    assert by_township == [
        ("张坂镇", june, 5, 0, D("32.2"), 3, D("90.02")),
        ("东园镇", june, 1, 1, D(0), 0, D(0)),
        ("洛阳镇", june, 0, 0, D(0), 0, D(0)),
        ("百崎乡", june, 0, 0, D(0), 0, D(0)),
    ]
    assert len(by_project) == 11  # every project reporting by June; 2024-06, 2023-05, 2024-04 changed nothing
    changed = {r[0]: r[3:] for r in by_project if r[6] or r[4] != r[5]}
    assert changed == {
        "2025-01": (True, "施工中", "施工中", D("26.6"), 3, D("77.14")),
        "2025-02": (True, "施工中", "施工中", D("5.6"), 0, D("12.88")),
        "2025-03": (True, None, "方案编制", D(0), 0, D(0)),
    }
    monthly = _answer(known, 8)
    assert [r[0] for r in monthly] == [date(2023 + (4 + m) // 12, (4 + m) % 12 + 1, 1) for m in range(26)]
    assert monthly[0] == (date(2023, 5, 1), D(0), D(0), None, None)
    assert monthly[2] == (date(2023, 7, 1), D("85.9"), D("85.9"), D(0), D("85.9"))
    assert monthly[-1][1] == D("2528") and sum(r[2] for r in monthly) == D("2528")
    assert monthly[-1][2] == sum(r[4] for r in by_township)
    # Reports are owed from 2023-06, the month after the notice. 东园镇 owed 2023-06 to its acceptance in
    # 2024-01 (8 months) and 2025's six; 2025-05 was rejected. 洛阳镇 owed 2023-06 to 2025-03 (22).
    timeliness = _answer(known, 9)
    assert [r[:7] for r in timeliness] == [
        ("东园镇", 14, 9, 0, 4, 1, 64.3),
        ("洛阳镇", 22, 20, 1, 1, 0, 90.9),
        ("百崎乡", 20, 19, 1, 0, 0, 95.0),
        ("张坂镇", 25, 24, 1, 0, 0, 96.0),
    ]
    assert timeliness[0][7].startswith(TIMELINESS_UNKNOWN)
    assert [r[7] for r in timeliness[1:]] == [TIMELINESS_NOT_A_NUMBER, None, None]
    assert _answer(known, 10) == [
        ("东园镇", 2023, 1, 1, D(80), D(80), 100.0),
        ("东园镇", 2025, 1, 0, D(32), D(0), 0.0),
        ("张坂镇", 2023, 2, 1, D(630), D(630), 100.0),
        ("张坂镇", 2024, 3, 1, D(1275), D("927.9"), 72.8),
        ("张坂镇", 2025, 2, 0, D(373), D("155.5"), 41.7),
        ("洛阳镇", 2023, 1, 1, D(144), D("142.6"), 99.0),
        ("洛阳镇", 2024, 2, 2, D(300), D(300), 100.0),
        ("百崎乡", 2023, 1, 1, D(139), D(139), 100.0),
        ("百崎乡", 2024, 1, 1, D(153), D(153), 100.0),
    ]


def test_the_answers_on_known_figures(known: Path) -> None:
    _, township = run(known, _query("one township this year").sql)
    restored_2025 = {r[0]: r[3] for r in township}
    assert set(restored_2025) == {"2023-04", "2023-05", "2024-04", "2024-05", "2024-06", "2025-01", "2025-02"}
    assert restored_2025["2025-01"] == 133 and restored_2025["2023-04"] == 0
    _, monthly = run(known, _query("Month-over-month").sql)
    assert sum(r[2] for r in monthly) == monthly[-1][1]  # the months add up to the cumulative figure
    _, rock = run(known, _query("Waste rock").sql)
    assert rock[0][0] == "2024-06" and rock[0][-1] > 3
