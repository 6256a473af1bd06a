"""`regreen build`: parse the notice, load raw tables, run dbt and the suites, publish if nothing failed.

Everything is built into a fresh working database under `<data-dir>/work/`. Only when no error-level
check failed is that file checkpointed, closed and renamed over `<data-dir>/regreen.duckdb`, so the
warehouse from the last good build stays as it was whatever goes wrong.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from regreen.dbt import DbtNodeResult, dbt_build
from regreen.errors import EXIT_CHECKS_FAILED, EXIT_OK
from regreen.log import logger
from regreen.plan import parse_notice
from regreen.project import DataDir
from regreen.quality import CheckResult, run_suites, store_check_results
from regreen.rawload import load_plan
from regreen.submissions.landing import PERSONAL_COLUMNS, ensure_landing

SUBMISSION_TABLES = ("submission_files", "submission_receipts", "submission_rows", "submission_issues")


@dataclass
class BuildSummary:
    run_id: str
    warehouse: Path
    relations_built: int
    checks: list[CheckResult] = field(default_factory=list)
    published: bool = False

    def count(self, status: str) -> int:
        return sum(1 for c in self.checks if c.status == status)

    @property
    def failed_checks(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == "failed"]

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.published else EXIT_CHECKS_FAILED

    def render(self) -> str:
        outcome = (
            f"已发布 / published {self.warehouse}"
            if self.published
            else f"未发布，保留上次成功的仓库 / NOT published, {self.warehouse} left as it was"
        )
        lines = [
            f"regreen build {self.run_id}: {outcome}",
            f"  构建表 / tables built: {self.relations_built}",
            f"  检查 / checks: {self.count('passed')} passed, {self.count('warned')} warned, "
            f"{self.count('failed')} failed",
        ]
        for check in self.checks:
            if check.status != "passed":
                lines.append(
                    f"  [{check.status}] {check.suite}: {check.check} "
                    f"(observed {check.observed}, expected {check.expected})"
                )
        return "\n".join(lines)


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def build(notice: Path, data_dir: DataDir, run_id: str | None = None) -> BuildSummary:
    """Build the warehouse from `notice` and the landing zone; publish it if no error-level check failed."""
    staged = stage_build(notice, data_dir, run_id or new_run_id())
    if staged.summary.failed_checks:
        discard(staged)
    else:
        publish(staged.working, data_dir.warehouse)
        staged.summary.published = True
    return staged.summary


@dataclass
class StagedBuild:
    """A complete, checked, closed working database that has not been published yet."""

    working: Path
    summary: BuildSummary


def stage_build(notice: Path, data_dir: DataDir, run_id: str) -> StagedBuild:
    """Parse, load, run dbt and every suite into a fresh working database; store the check results there."""
    plan = parse_notice(notice)  # bad input stops here, before anything is written
    data_dir.ensure()
    working = data_dir.work / f"build-{run_id}.duckdb"

    with duckdb.connect(str(working)) as con:
        load_plan(con, plan, run_id)
        copy_submissions(con, data_dir.landing)

    dbt_run = dbt_build(working, data_dir.work)
    checks = [_dbt_check(node, run_id) for node in dbt_run.nodes if node.resource_type == "test"]

    with duckdb.connect(str(working)) as con:
        checks += run_suites(con, run_id)
        store_check_results(con, checks)
        con.execute("checkpoint")
    return StagedBuild(working, BuildSummary(run_id, data_dir.warehouse, dbt_run.relations_built, checks))


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


def publish(working: Path, published: Path) -> None:
    """Move a closed, checkpointed build into place in one rename: readers see all of it or none."""
    if working.with_name(working.name + ".wal").exists():
        raise RuntimeError(f"{working} still has a write-ahead log; it was not closed cleanly")
    os.replace(working, published)
    logger.info("published %s", published)


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
