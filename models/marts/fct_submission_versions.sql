-- Every version of every project-month, as int_submission_rows_versioned numbers them (with the version
-- each replaces): the mart takes its columns, with no window of its own.
-- Incremental: a night replaces the project-months that rows of new files touch (file ids only grow).
{{ config(
    materialized='incremental', unique_key=['project_code', 'report_month'], incremental_strategy='delete+insert'
) }}

with

-- Not materialised: read twice on an incremental night (new rows, then the months they touch), and a
-- copy of the whole table would cost more than the months replaced.
versioned_rows as not materialized (
    select * from {{ ref('int_submission_rows_versioned') }}
),

{% if is_incremental() %}
    submission_rows as (
        {{ rows_of_touched_months('versioned_rows', this) }}
    ),
{% else %}
    submission_rows as (
        select * from versioned_rows
    ),
{% endif %}

final as (
    select
        project_code,
        report_month,
        version_number,
        version_count,
        is_current,
        township_name,
        project_name_as_written,
        file_id,
        sheet,
        row_number,
        original_name,
        submitted_at,
        is_sample,
        patches_done,
        area_done_mu,
        forest_mu,
        farmland_mu,
        grassland_mu,
        stage,
        invested_10k_yuan,
        fund_higher_level,
        fund_district,
        fund_waste_rock,
        fund_social,
        waste_rock_10k_m3,
        supervisor,
        accepted_on,
        replaces_file_id,
        replaces_original_name,
        replaces_submitted_at
    from submission_rows
)

select * from final
