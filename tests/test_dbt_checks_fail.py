"""Every error-level dbt test can fail: `dbt test` on a copy of the dbt-built fixture warehouse
(tests/report_warehouse.py) into which data that reaches each test was fed, shows each failing with dbt's
message. The few that cannot fail here are listed with the reason (a constraint of the raw table they
read enforces them first), so that a new test that cannot fail does not slip in unnoticed.

The copy gets the sample's patch register first (the fixture has none). Then fed into every base table
of the raw, reference, intermediate and marts schemas (the staging views read the raw ones): a copy of a
row (unique tests), a row of NULLs (not_null) and a row of values no other table holds (relationships,
accepted_values, expressions); and the cases the singular tests look for.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import duckdb
import pytest

from regreen.dbt import DbtNodeResult, DbtProcess, _read_results
from regreen.patches.register import load_patches, read_register
from regreen.patches.sample import write_sample_layer
from regreen.project import BUNDLED_NOTICE
from regreen.submissions.reference import load_reference

NUMERIC = ("DECIMAL", "INTEGER", "BIGINT", "DOUBLE", "HUGEINT", "SMALLINT", "FLOAT")

# Error-level tests that the data cannot reach, and why.
RAW_CONSTRAINT = "raw.plan_* declare the column NOT NULL / PRIMARY KEY: the database refuses the row first"
PATCH_CONSTRAINT = (
    "raw.patch_layers / raw.patches declare it NOT NULL / PRIMARY KEY: the row is refused first"
)
CANNOT_FAIL = {
    "source_not_null_plan_documents_document_sha256": RAW_CONSTRAINT,
    "source_unique_plan_documents_document_sha256": RAW_CONSTRAINT,
    "unique_stg_plan__documents_document_sha256": RAW_CONSTRAINT,
    "not_null_stg_plan__documents_document_sha256": RAW_CONSTRAINT,
    "not_null_stg_plan__documents_document_number": RAW_CONSTRAINT,
    "not_null_stg_plan__documents_issued_on": RAW_CONSTRAINT,
    "not_null_stg_plan__projects_project_code": RAW_CONSTRAINT,
    "not_null_stg_plan__projects_project_name": RAW_CONSTRAINT,
    "not_null_stg_plan__projects_plan_year": RAW_CONSTRAINT,
    "not_null_stg_plan__projects_seq": RAW_CONSTRAINT,
    "not_null_stg_plan__projects_patches_planned": RAW_CONSTRAINT,
    "not_null_stg_plan__projects_area_planned_mu": RAW_CONSTRAINT,
    "not_null_stg_plan__declared_totals_declared_in": RAW_CONSTRAINT,
    "not_null_stg_plan__declared_totals_declared_value": RAW_CONSTRAINT,
    "not_null_stg_plan__declared_totals_measure": RAW_CONSTRAINT,
    "source_not_null_patches_layers_layer_file": PATCH_CONSTRAINT,
    "source_unique_patches_layers_layer_file": PATCH_CONSTRAINT,
    "not_null_stg_patches__layers_layer_file": PATCH_CONSTRAINT,
    "unique_stg_patches__layers_layer_file": PATCH_CONSTRAINT,
    "not_null_stg_patches__patches_fid": PATCH_CONSTRAINT,
    "not_null_stg_patches__patches_layer_file": PATCH_CONSTRAINT,
    "not_null_stg_patches__patches_patch_code": PATCH_CONSTRAINT,
    "not_null_stg_patches__patches_project_code": PATCH_CONSTRAINT,
    "unique_combination_of_columns_fct_patch_month_patch_code__report_month__project_code": (
        "the fixture's files list no completed patches (已完成图斑编号 is optional): no row to copy"
    ),
}


def _junk(data_type: str, offset: int) -> str:
    """A value of `data_type` that no other table holds (`offset` differs per table and column)."""
    if data_type == "VARCHAR":
        return f"'不存在-{offset}'"
    if data_type.startswith(NUMERIC):
        return str(-offset)
    if data_type == "BOOLEAN":
        return "false"
    if data_type == "BLOB":
        return "'\\x00'::blob"
    if data_type == "DATE":
        return "date '1900-01-01'"
    if data_type.startswith("TIMESTAMP"):
        return "timestamp '1900-01-01'"
    return "null"


def feed_failing_data(con: duckdb.DuckDBPyConnection) -> None:
    tables = con.execute(
        "select schema_name, table_name from duckdb_tables() "
        "where schema_name in ('raw', 'reference', 'intermediate', 'marts') order by all"
    ).fetchall()
    for number, (schema, table) in enumerate(tables, start=1):
        relation = f'"{schema}"."{table}"'
        types = [t for (t,) in con.execute(
            "select data_type from duckdb_columns() where schema_name = ? and table_name = ? order by column_index",
            [schema, table],
        ).fetchall()]  # fmt: skip
        junk = ", ".join(_junk(t, 1000 * number + i) for i, t in enumerate(types))
        for sql in (
            f"insert into {relation} select * from {relation} limit 1",
            f"insert into {relation} default values",
            f"insert into {relation} values ({junk})",
        ):
            with contextlib.suppress(duckdb.ConstraintException):  # the raw plan tables: see CANNOT_FAIL
                con.execute(sql)
    # A stage the seeds do not know, in a loaded file; a plan project in a village the seeds do not know,
    # under each of the two documents now loaded (the notice and the junk one): one project code twice.
    con.execute(
        "update raw.submission_rows set stage = '施工准备' where project_code = '2023-01' and report_month = '2023-11-01'"
    )
    con.execute(
        "insert into raw.plan_projects select document_sha256, 2025, 99, '百崎乡虚构村废弃矿山生态治理项目', 1, 1, "
        "'test' from raw.plan_documents"
    )
    # The singular tests' own cases.
    con.execute("alter table marts.dim_township add column reporter varchar")  # personal data in a mart
    con.execute(
        "update marts.fct_submission_versions set township_name = '洛阳镇' where project_code = '2023-01'"
    )
    con.execute(
        "update marts.funding_by_source set fund_social = fund_social + 1 where project_code = '2023-01'"
    )


@pytest.fixture(scope="module")
def tested(known_warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, DbtNodeResult]:
    work = tmp_path_factory.mktemp("dbt-fail")
    database = work / "regreen.duckdb"
    shutil.copyfile(known_warehouse, database)
    reference = load_reference(BUNDLED_NOTICE)
    layer = write_sample_layer(work / "patches", reference, seed=2023)
    with duckdb.connect(str(database)) as con:
        load_patches(con, read_register(layer.parent, reference))
        feed_failing_data(con)
    with DbtProcess(database, work) as dbt:
        completed = dbt.run("test")
    assert completed.returncode == 1  # tests failed, dbt itself did not
    target = work / "dbt-target"
    return {n.name: n for n in _read_results(target / "run_results.json", target / "manifest.json")}


def test_every_error_level_dbt_test_fails_with_its_message(tested: dict[str, DbtNodeResult]) -> None:
    errors = {name: node for name, node in tested.items() if node.severity == "error"}
    assert len(errors) > 150
    passed = {name for name, node in errors.items() if node.status != "fail"}
    assert passed == set(CANNOT_FAIL)
    for name, node in errors.items():
        if name not in CANNOT_FAIL:
            assert node.failures and node.failures > 0, name
            assert node.message == (
                f"Got {node.failures} result{'s' if node.failures > 1 else ''}, configured to fail if != 0"
            ), name


def test_each_singular_test_fails_on_its_case(tested: dict[str, DbtNodeResult]) -> None:
    singular = {
        name: (node.severity, node.status) for name, node in tested.items() if name.startswith("test_")
    }
    assert singular == {
        "test_dim_project__every_project_has_a_village": ("error", "fail"),
        "test_fct_project_month__increments_add_up_to_cumulative": ("error", "fail"),
        "test_fct_submission_versions__one_current_version_per_month": ("error", "fail"),
        "test_fct_submission_versions__township_matches_the_plan": ("warn", "warn"),
        "test_funding_by_source__funds_add_up_to_investment": ("warn", "warn"),
        "test_plan_vs_actual_district__totals_match_the_plan": ("error", "fail"),
        "test_warehouse__no_personal_columns": ("error", "fail"),
    }
    assert tested["test_warehouse__no_personal_columns"].failures == 1


def test_the_tests_that_cannot_fail_here_read_constrained_columns(known_warehouse: Path) -> None:
    with duckdb.connect(str(known_warehouse), read_only=True) as con:
        constrained = con.execute(
            "select table_name, constraint_type from duckdb_constraints() where schema_name = 'raw' "
            "and table_name like 'plan_%' and constraint_type in ('NOT NULL', 'PRIMARY KEY')"
        ).fetchall()
    assert {table for table, _ in constrained} == {"plan_documents", "plan_projects", "plan_declared_totals"}
