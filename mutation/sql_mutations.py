"""`make mutate`, part two: a listed set of SQL mutations of the key models (the ordering of versions, the
increments and flags, timeliness), each applied alone, with the dbt models' tests run against it.

Each mutation replaces one exact piece of a model's SQL. The tests that must notice it are the dbt
models' own (tests/test_dbt_models.py: one real `dbt build` whose every dbt test must pass, then the
marts' pinned values). dbt reads the project from the working tree, so the mutation is written into the
model file and the file is restored afterwards, whatever happens; a model with uncommitted changes is
refused rather than risked. Prints one line per mutation and the score.

    .venv/bin/python mutation/sql_mutations.py [NAME ...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KILLERS = ["tests/test_dbt_models.py"]


@dataclass(frozen=True)
class Mutation:
    name: str
    kind: str  # ordering | increment | boundary | skip
    model: str
    original: str
    mutated: str


VERSIONS = "models/marts/fct_submission_versions.sql"
MONTHS = "models/marts/fct_project_month.sql"
TIMELINESS = "models/marts/submission_timeliness.sql"
ARRIVAL_ORDER = "order by submission_files.submitted_at, rows_to_version.file_id, rows_to_version.row_number"
MUTATIONS = (
    Mutation("versions-by-file-id", "ordering", VERSIONS, ARRIVAL_ORDER,
             "order by rows_to_version.file_id, rows_to_version.row_number"),
    Mutation("versions-latest-first", "ordering", VERSIONS, ARRIVAL_ORDER,
             ARRIVAL_ORDER.replace("submitted_at,", "submitted_at desc,")),
    Mutation("first-version-current", "ordering", VERSIONS,
             "row_versions.version_number = row_versions.version_count as is_current",
             "row_versions.version_number = 1 as is_current"),
    Mutation("months-backwards", "ordering", MONTHS,
             "window project_history as (partition by project_code order by report_month)",
             "window project_history as (partition by project_code order by report_month desc)"),
    Mutation("first-increment-null", "increment", MONTHS,
             "patches_done - coalesce(previous_patches_done, 0) as patches_increment",
             "patches_done - previous_patches_done as patches_increment"),
    Mutation("increment-is-cumulative", "increment", MONTHS,
             "area_done_mu - coalesce(previous_area_done_mu, 0) as area_increment_mu",
             "area_done_mu as area_increment_mu"),
    Mutation("blank-month-not-skipped", "skip", MONTHS, "lag(area_done_mu ignore nulls) over project_history",
             "lag(area_done_mu) over project_history"),
    Mutation("every-version-current", "skip", MONTHS, "where submission_rows.is_current", "where true"),
    Mutation("equal-area-is-a-drop", "boundary", MONTHS, "coalesce(area_done_mu < previous_area_done_mu, false)",
             "coalesce(area_done_mu <= previous_area_done_mu, false)"),
    Mutation("planned-area-is-above-plan", "boundary", MONTHS, "coalesce(area_done_mu > area_planned_mu, false)",
             "coalesce(area_done_mu >= area_planned_mu, false)"),
    Mutation("due-day-is-late", "boundary", TIMELINESS, "when first_accepted_at < due_date + interval 1 day",
             "when first_accepted_at < due_date"),
    Mutation("acceptance-month-not-owed", "boundary", TIMELINESS,
             "township_months.report_month <= project_active_periods.accepted_month",
             "township_months.report_month < project_active_periods.accepted_month"),
    Mutation("late-is-on-time", "boundary", TIMELINESS, "when first_accepted_at is not null then 'late'",
             "when first_accepted_at is not null then 'on_time'"),
)  # fmt: skip


def run(mutation: Mutation) -> tuple[bool, str]:
    """Apply `mutation`, run the killers, restore the model; (killed, the first failing test)."""
    path = ROOT / mutation.model
    original = path.read_text(encoding="utf-8")
    if original.count(mutation.original) != 1:
        raise SystemExit(f"{mutation.name}: the text to mutate is not found exactly once in {mutation.model}")
    try:
        path.write_text(original.replace(mutation.original, mutation.mutated), encoding="utf-8")
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *KILLERS],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    finally:
        path.write_text(original, encoding="utf-8")
    failed = [line.split(" ")[1] for line in result.stdout.splitlines() if line.startswith("FAILED ")]
    return result.returncode != 0, failed[0] if failed else ""


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", help="mutations to run (default: all)")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if not args.names or m.name in args.names]
    dirty = subprocess.run(
        ["git", "status", "--porcelain", *sorted({m.model for m in chosen})],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout
    if dirty.strip():
        raise SystemExit(f"uncommitted changes in the models to mutate:\n{dirty}")
    killed = 0
    for mutation in chosen:
        dead, test = run(mutation)
        killed += dead
        print(f"{'killed  ' if dead else 'SURVIVED'} {mutation.kind:9} {mutation.name:28} {test}", flush=True)
    print(f"SQL mutation score: {killed}/{len(chosen)} killed")
    return 0 if killed == len(chosen) else 1


if __name__ == "__main__":
    raise SystemExit(main())
