-- Incremental: a night replaces the project-months that rows of new files touch (file ids only grow).
{{ config(
    materialized='incremental', unique_key=['project_code', 'report_month'], incremental_strategy='delete+insert'
) }}

with

versioned_rows as (
    select * from {{ ref('int_submission_rows_versioned') }}
),

{% if is_incremental() %}
    touched_months as (
        select distinct
            versioned_rows.project_code,
            versioned_rows.report_month
        from versioned_rows
        where versioned_rows.file_id > (select coalesce(max(loaded.file_id), 0) from {{ this }} as loaded)
    ),

    submission_rows as (
        select versioned_rows.*
        from versioned_rows
        inner join touched_months
            on
                versioned_rows.project_code = touched_months.project_code
                and versioned_rows.report_month = touched_months.report_month
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
        accepted_on
    from submission_rows
)

select * from final
