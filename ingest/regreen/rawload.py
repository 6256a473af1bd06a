"""Land a parsed plan notice in the warehouse's `raw` schema, exactly as printed."""

from __future__ import annotations

import duckdb

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
    con.executemany(
        "insert into raw.plan_projects values (?, ?, ?, ?, ?, ?, ?)",
        [[doc.sha256, p.plan_year, p.seq, p.name, p.patches, p.area_mu, p.source_ref] for p in plan.projects],
    )
    con.executemany(
        "insert into raw.plan_declared_totals values (?, ?, ?, ?, ?, ?, ?)",
        [
            [doc.sha256, t.plan_year, t.source, t.township, t.measure, t.value, t.source_ref]
            for t in plan.declared_totals
        ],
    )
    return len(plan.projects)
