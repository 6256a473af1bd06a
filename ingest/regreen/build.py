"""Building one warehouse: load the raw tables, run dbt and every suite, in a fresh working database.

Everything is built under `<data-dir>/work/`; the published `<data-dir>/regreen.duckdb` is not touched
here. The nightly (regreen.nightly, behind both `regreen build` and `regreen nightly`) publishes a
staged build only when no error-level check failed, so the last good warehouse stays whatever goes wrong.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from regreen.dbt import DbtNodeResult, dbt_build
from regreen.log import logger
from regreen.plan import Plan
from regreen.project import DataDir
from regreen.quality import CheckResult, run_suites, store_check_results
from regreen.rawload import load_plan
from regreen.submissions.landing import PERSONAL_COLUMNS, ensure_landing

SUBMISSION_TABLES = ("submission_files", "submission_receipts", "submission_rows", "submission_issues")


@dataclass
class BuildSummary:
    run_id: str
    relations_built: int
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def failed_checks(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == "failed"]


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


@dataclass
class StagedBuild:
    """A complete, checked, closed working database that has not been published yet."""

    working: Path
    summary: BuildSummary


def stage_build(
    plan: Plan, data_dir: DataDir, run_id: str, on_stage: Callable[[str], None] | None = None
) -> StagedBuild:
    """Load `plan` and the landing zone, run dbt and every suite into a fresh working database; store the
    check results there.

    `on_stage("dbt")` and `on_stage("expectations")` are called as those steps begin (the nightly times
    its stages with them).
    """
    data_dir.ensure()
    working = data_dir.work / f"build-{run_id}.duckdb"

    with duckdb.connect(str(working)) as con:
        load_plan(con, plan, run_id)
        copy_submissions(con, data_dir.landing)

    if on_stage:
        on_stage("dbt")
    dbt_run = dbt_build(working, data_dir.work)
    checks = [_dbt_check(node, run_id) for node in dbt_run.nodes if node.resource_type == "test"]

    if on_stage:
        on_stage("expectations")
    with duckdb.connect(str(working)) as con:
        checks += run_suites(con, run_id)
        store_check_results(con, checks)
        con.execute("checkpoint")
    return StagedBuild(working, BuildSummary(run_id, dbt_run.relations_built, checks))


def discard(staged: StagedBuild) -> Path:
    """Set a failed build aside for inspection; the published warehouse is not touched."""
    kept = staged.working.with_name(f"failed-{staged.summary.run_id}.duckdb")
    staged.working.rename(kept)
    logger.warning("checks failed; the failed build is kept for inspection at %s", kept)
    return kept


def copy_submissions(con: duckdb.DuckDBPyConnection, landing: Path) -> None:
    """Copy the landing zone's submission tables into raw, leaving the personal data behind."""
    if landing.exists():
        con.execute("attach ? as landing (read_only)", [str(landing)])
    else:
        # No file received yet: the same tables, empty, so the models build all the same.
        home = con.execute("select current_database()").fetchone()[0]
        con.execute("attach ':memory:' as landing")
        con.execute("use landing")
        ensure_landing(con)
        con.execute(f'use "{home}"')
    personal = ", ".join(PERSONAL_COLUMNS)
    for table in SUBMISSION_TABLES:
        columns = {row[0] for row in con.execute(f"describe landing.raw.{table}").fetchall()}
        exclude = f" exclude ({personal})" if columns.issuperset(PERSONAL_COLUMNS) else ""
        con.execute(f"create or replace table raw.{table} as select *{exclude} from landing.raw.{table}")
    con.execute("detach landing")


def _dbt_check(node: DbtNodeResult, run_id: str) -> CheckResult:
    status = {"pass": "passed", "warn": "warned"}.get(node.status, "failed")
    return CheckResult(
        suite="dbt",
        check=node.name,
        severity="warning" if node.severity == "warn" else "error",
        status=status,
        observed=None if node.failures is None else str(node.failures),
        expected="0",
        details=node.message if status != "passed" else None,
        run_id=run_id,
    )
