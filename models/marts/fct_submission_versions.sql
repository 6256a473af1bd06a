-- Every loaded submission row with its version among the rows for the same project and month: a
-- township that restates a month sends the month again, and the latest arrival (submitted_at, then
-- file_id, then row number) is the current figure; each version names the one it replaces.
-- The versioning is done here, where its rows are written, and nowhere else: an intermediate table of the
-- same rows that this mart then copied cost a second wide table of every loaded row (4.2 M rows and 33
-- columns at the scale bench's 100×, 7–8 CPU-s of a full build); fct_project_month and the models that
-- need the current versions read this table (docs/benchmarks.md, "The dbt stage against bare SQL").
-- Incremental: a night versions again only the project-months that rows of new files (file_id above
-- any this table holds; file ids only grow) touch, with all their rows, and replaces those months.
{{ config(
    materialized='incremental', unique_key=['project_code', 'report_month'], incremental_strategy='delete+insert'
) }}

with

-- Not materialised: read twice (the rows' keys, then the rows) through rows_to_version, and as a CTE of
-- its own it was a copy of every raw row's every column, each night (13.8 s of a 100× night), where
-- inlined the scans read the new files' rows and the months they touch. Free-text notes and the listed
-- patch codes stay in staging (notes may name people; int_patch_months_listed reads the codes there).
submission_rows as not materialized (
    select * exclude (notes, patches_completed_as_written) from {{ ref('stg_submissions__rows') }}
),

submission_files as (
    select * from {{ ref('stg_submissions__files') }}
),

{% if is_incremental() %}
    -- Materialised on a night: the rows of the touched months are few (one month of every project at
    -- 100×: 130,000 of 4.5 M), and read by both the window and the join back. Inlined twice, DuckDB
    -- built the join back's hash table on every raw row, all columns (5–13 s of a 100× night, 0.3 s so).
    rows_to_version as materialized (
        {{ rows_of_touched_months('submission_rows', this) }}
    ),
{% else %}
    rows_to_version as not materialized (
        select * from submission_rows
    ),
{% endif %}

-- The one window pass over the row keys alone (file_id, sheet, row_number identify a row): sorting the
-- keys and arrival times costs a fraction of sorting whole rows, which are joined back after.
row_versions as (
    select
        rows_to_version.file_id,
        rows_to_version.sheet,
        rows_to_version.row_number,
        row_number() over arrival_order as version_number,
        count(*) over (partition by rows_to_version.project_code, rows_to_version.report_month) as version_count,
        lag(rows_to_version.file_id) over arrival_order as replaces_file_id
    from rows_to_version
    inner join submission_files
        on rows_to_version.file_id = submission_files.file_id
    window arrival_order as (
        partition by rows_to_version.project_code, rows_to_version.report_month
        order by submission_files.submitted_at, rows_to_version.file_id, rows_to_version.row_number
    )
),

final as (
    -- The published column order (the export's and the clients'), a calculation among the columns.
    select  -- noqa: ST06
        rows_to_version.project_code,
        rows_to_version.report_month,
        row_versions.version_number,
        row_versions.version_count,
        row_versions.version_number = row_versions.version_count as is_current,
        rows_to_version.township_name,
        rows_to_version.project_name_as_written,
        rows_to_version.file_id,
        rows_to_version.sheet,
        rows_to_version.row_number,
        submission_files.original_name,
        submission_files.submitted_at,
        submission_files.is_sample,
        rows_to_version.patches_done,
        rows_to_version.area_done_mu,
        rows_to_version.forest_mu,
        rows_to_version.farmland_mu,
        rows_to_version.grassland_mu,
        rows_to_version.stage,
        rows_to_version.invested_10k_yuan,
        rows_to_version.fund_higher_level,
        rows_to_version.fund_district,
        rows_to_version.fund_waste_rock,
        rows_to_version.fund_social,
        rows_to_version.waste_rock_10k_m3,
        rows_to_version.supervisor,
        rows_to_version.accepted_on,
        row_versions.replaces_file_id,
        -- The version replaced is the previous arrival: its file's name and time.
        replaced_files.original_name as replaces_original_name,
        replaced_files.submitted_at as replaces_submitted_at
    from rows_to_version
    inner join row_versions
        on
            rows_to_version.file_id = row_versions.file_id
            -- A CSV file's rows have no sheet, and no sheet is named '': compared as '' so that the
            -- join stays a hash join (is not distinct from took several times longer here).
            and coalesce(rows_to_version.sheet, '') = coalesce(row_versions.sheet, '')
            and rows_to_version.row_number = row_versions.row_number
    inner join submission_files
        on rows_to_version.file_id = submission_files.file_id
    left join submission_files as replaced_files
        on row_versions.replaces_file_id = replaced_files.file_id
)

select * from final
