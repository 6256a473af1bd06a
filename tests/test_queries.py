"""Every query in docs/queries.md runs against a published warehouse and returns the columns it promises.

Each ```sql block is run as an analyst would run it: on the published file opened read-only. Two
warehouses: one with known figures (tests/report_warehouse.py), where every query on the marts it holds
must return rows, and one built by the CLI from the sample submissions, where the queries must run and
give their columns (some questions, like projects finished but not accepted, may rightly have no answer
there). The marts of the monthly questions (projects_*, changes_*) are not in the known-figures
warehouse: tests/test_marts_questions.py checks their answers against the raw tables.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from report_warehouse import sample_data_dir, write_warehouse

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
    examples = re.findall(r"```sql\n(.*?)```", readme, flags=re.S)
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
def known(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_warehouse(tmp_path_factory.mktemp("known") / "regreen.duckdb")


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


def test_the_answers_on_known_figures(known: Path) -> None:
    _, township = run(known, _query("one township this year").sql)
    restored_2025 = {r[0]: r[3] for r in township}
    assert set(restored_2025) == {"2023-04", "2023-05", "2024-04", "2024-05", "2024-06", "2025-01", "2025-02"}
    assert restored_2025["2025-01"] == 133 and restored_2025["2023-04"] == 0
    _, monthly = run(known, _query("Month-over-month").sql)
    assert sum(r[2] for r in monthly) == monthly[-1][1]  # the months add up to the cumulative figure
    _, rock = run(known, _query("Waste rock").sql)
    assert rock[0][0] == "2024-06" and rock[0][-1] > 3
