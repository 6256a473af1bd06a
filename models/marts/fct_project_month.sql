-- Incremental: a night replaces, for each project that rows of new files touch, the months from the
-- earliest one they touch onward, as int_project_months_completed computed them again tonight (found
-- the same way: among the rows of new files alone, against this table's files).
-- depends_on: {{ ref('int_submission_rows_versioned') }}
{{ config(
    materialized='incremental', unique_key=['project_code', 'report_month'], incremental_strategy='delete+insert'
) }}

with

project_months as (
    select * from {{ ref('int_project_months_completed') }}
),

{% if is_incremental() %}
    submission_rows as (
        select * from {{ ref('int_submission_rows_versioned') }}
    ),

    touched_projects as (
        {{ project_months_touched('submission_rows', this) }}
    ),

    months_to_write as (
        select project_months.*
        from project_months
        inner join touched_projects
            on
                project_months.project_code = touched_projects.project_code
                and project_months.report_month >= touched_projects.first_touched_month
    ),
{% else %}
    months_to_write as (
        select * from project_months
    ),
{% endif %}

final as (
    select
        project_code,
        report_month,
        township_code,
        planned_township_name as township_name,
        plan_year,
        patches_done,
        area_done_mu,
        forest_mu,
        farmland_mu,
        grassland_mu,
        stage,
        stage_rank,
        invested_10k_yuan,
        fund_higher_level,
        fund_district,
        fund_waste_rock,
        fund_social,
        waste_rock_10k_m3,
        supervisor,
        accepted_on,
        area_increment_mu,
        patches_increment,
        pct_area_planned,
        version_count,
        file_id,
        sheet,
        row_number,
        is_sample,
        flag_area_decreased,
        flag_patches_decreased,
        flag_stage_backwards,
        flag_area_above_plan
    from months_to_write
)

select * from final
