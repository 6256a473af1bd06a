"""Land a parsed plan notice in the warehouse's `raw` schema, exactly as printed."""

from __future__ import annotations

import duckdb
import pandas as pd

from regreen.plan import Plan

PLAN_DDL = """
create schema if not exists raw;
create or replace table raw.plan_documents (
    document_sha256 varchar primary key,
    document_number varchar not null,
    title varchar not null,
    issued_on date not null,
    source_path varchar not null,
    source_format varchar not null,
    page_count integer,
    extractor varchar,
    run_id varchar not null,
    loaded_at timestamp not null
);
create or replace table raw.plan_projects (
    document_sha256 varchar not null,
    plan_year integer not null,
    seq integer not null,
    name varchar not null,
    patches integer not null,
    area_mu decimal(12, 2) not null,
    source_ref varchar not null,
    primary key (document_sha256, plan_year, seq)
);
create or replace table raw.plan_declared_totals (
    document_sha256 varchar not null,
    plan_year integer,
    source varchar not null,
    township varchar,
    measure varchar not null,
    declared_value decimal(12, 2) not null,
    source_ref varchar not null
);
"""


def load_plan(con: duckdb.DuckDBPyConnection, plan: Plan, run_id: str) -> int:
    """Replace the raw plan tables with `plan`; returns the number of project rows loaded."""
    con.execute(PLAN_DDL)
    doc = plan.document
    con.execute(
        "insert into raw.plan_documents values (?, ?, ?, ?, ?, ?, ?, ?, ?, current_timestamp)",
        [
            doc.sha256,
            doc.document_number,
            doc.title,
            doc.issued_on,
            doc.source_path,
            doc.source_format,
            doc.page_count,
            doc.extractor,
            run_id,
        ],
    )
    # One bulk insert per table: executemany binds row by row, two thirds of a nightly at 130,000 projects.
    # Figures go over as text so the decimal column gets exactly what the notice prints.
    projects = pd.DataFrame(
        {
            "plan_year": [p.plan_year for p in plan.projects],
            "seq": [p.seq for p in plan.projects],
            "name": [p.name for p in plan.projects],
            "patches": [p.patches for p in plan.projects],
            "area_mu": [str(p.area_mu) for p in plan.projects],
            "source_ref": [p.source_ref for p in plan.projects],
        },
        dtype=object,
    )
    totals = pd.DataFrame(
        {
            "plan_year": [t.plan_year for t in plan.declared_totals],
            "source": [t.source for t in plan.declared_totals],
            "township": [t.township for t in plan.declared_totals],
            "measure": [t.measure for t in plan.declared_totals],
            "declared_value": [str(t.value) for t in plan.declared_totals],
            "source_ref": [t.source_ref for t in plan.declared_totals],
        },
        dtype=object,
    )
    con.register("plan_projects_rows", projects)
    con.register("plan_totals_rows", totals)
    try:
        con.execute(
            "insert into raw.plan_projects select ?, cast(plan_year as integer), cast(seq as integer), name, "
            "cast(patches as integer), cast(area_mu as decimal(12, 2)), source_ref from plan_projects_rows",
            [doc.sha256],
        )
        con.execute(
            "insert into raw.plan_declared_totals select ?, cast(plan_year as integer), source, township, "
            "measure, cast(declared_value as decimal(12, 2)), source_ref from plan_totals_rows",
            [doc.sha256],
        )
    finally:
        con.unregister("plan_projects_rows")
        con.unregister("plan_totals_rows")
    return len(plan.projects)
