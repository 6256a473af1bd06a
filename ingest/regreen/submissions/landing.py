"""The raw landing zone (`<data-dir>/landing.duckdb`): every received file and every row, as received.

It is the only place personal data (the reporter's name and phone) is kept. The warehouse build copies
these tables into the warehouse's `raw` schema without the PERSONAL_COLUMNS.
"""

from __future__ import annotations

import duckdb

PERSONAL_COLUMNS = ("reporter", "phone")

LANDING_DDL = """
create schema if not exists raw;
create sequence if not exists raw.file_id_seq start 1;
create sequence if not exists raw.receipt_id_seq start 1;
create table if not exists raw.submission_files (
    file_id integer primary key,      -- one per distinct content (sha256)
    sha256 varchar not null unique,
    original_name varchar not null,   -- the name it had in the inbox, as displayed (names.py: masked)
    archived_path varchar not null,   -- relative to the data directory
    size_bytes bigint not null,
    submitted_at timestamp not null,  -- arrival: the file's modification time in the inbox
    ingested_at timestamp not null,
    status varchar not null,          -- accepted | rejected
    sheet varchar,                    -- the sheet read (.xlsx) or null (.csv)
    rows_read integer not null,       -- data rows, the 合计 row and title excluded
    rows_loaded integer not null,
    rows_rejected integer not null,   -- rows_read = rows_loaded + rows_rejected
    error_count integer not null,
    warning_count integer not null,
    report_path varchar,              -- the error report beside a quarantined file
    is_sample boolean not null,
    ingest_run_id varchar not null
);
create table if not exists raw.submission_receipts (
    receipt_id integer primary key,   -- one per file taken from the inbox, duplicates included
    file_id integer not null,         -- the content it carried
    original_name varchar not null,
    submitted_at timestamp not null,
    ingested_at timestamp not null,
    outcome varchar not null,         -- new | duplicate
    ingest_run_id varchar not null
);
create table if not exists raw.submission_rows (
    file_id integer not null,
    sheet varchar,
    row_number integer not null,      -- the row number the clerk sees (Excel row, or CSV line)
    report_month date not null,       -- first day of the month
    township varchar not null,        -- canonical township name
    project_name varchar not null,    -- as written in the file
    project_code varchar not null,    -- resolved plan project, e.g. 2024-04
    patches_done integer,
    area_done_mu decimal(14, 4),
    forest_mu decimal(14, 4),
    farmland_mu decimal(14, 4),
    grassland_mu decimal(14, 4),
    stage varchar not null,           -- canonical Chinese stage
    invested_10k_yuan decimal(14, 4),
    fund_higher_level decimal(14, 4),
    fund_district decimal(14, 4),
    fund_waste_rock decimal(14, 4),
    fund_social decimal(14, 4),
    waste_rock_10k_m3 decimal(14, 4),
    supervisor varchar,
    accepted_on date,
    notes varchar,
    patches_completed varchar,        -- 已完成图斑编号 as written (optional column)
    reporter varchar,                 -- personal data: landing zone only
    phone varchar                     -- personal data: landing zone only
);
-- A landing zone created before the column existed gets it (rows are inserted by name).
alter table raw.submission_rows add column if not exists patches_completed varchar;
create table if not exists raw.submission_issues (
    file_id integer not null,
    sheet varchar,
    row_number integer,               -- null for file-level issues
    column_name varchar,
    value varchar,
    severity varchar not null,        -- error | warning
    code varchar not null,
    message_zh varchar not null,
    message_en varchar not null
);
"""


def ensure_landing(con: duckdb.DuckDBPyConnection) -> None:
    """Create the landing tables if they are not there yet."""
    con.execute(LANDING_DDL)
