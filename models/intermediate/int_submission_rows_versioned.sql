-- Every loaded submission row with its version among the rows for the same project and month: a
-- township that restates a month sends the month again, and the latest arrival (submitted_at, then
-- file_id, then row number) is the current figure.
-- Incremental: a night versions again only the project-months that rows of new files (file_id above
-- any this table holds; file ids only grow) touch, with all their rows, and replaces those months.
{{ config(
    materialized='incremental', unique_key=['project_code', 'report_month'], incremental_strategy='delete+insert'
) }}

with

submission_rows as (
    -- Free-text notes may name people: they stay in staging.
    select * exclude (notes) from {{ ref('stg_submissions__rows') }}
),

submission_files as (
    select * from {{ ref('stg_submissions__files') }}
),

rows_with_arrival as (
    select
        submission_rows.*,
        submission_files.original_name,
        submission_files.submitted_at,
        submission_files.is_sample
    from submission_rows
    inner join submission_files
        on submission_rows.file_id = submission_files.file_id
),

{% if is_incremental() %}
    rows_to_version as (
        {{ rows_of_touched_months('rows_with_arrival', this) }}
    ),
{% else %}
    rows_to_version as (
        select * from rows_with_arrival
    ),
{% endif %}

rows_ranked as (
    select
        *,
        row_number() over (
            partition by project_code, report_month
            order by submitted_at, file_id, row_number
        ) as version_number,
        count(*) over (partition by project_code, report_month) as version_count
    from rows_to_version
),

final as (
    select
        *,
        version_number = version_count as is_current
    from rows_ranked
)

select * from final
