-- Incremental: a night replaces the months of the projects whose history new files touched (see
-- int_project_months_completed); a project touched holds a newer file than any row here.
{{ config(materialized='incremental', unique_key='project_code', incremental_strategy='delete+insert') }}

with

project_months as (
    select * from {{ ref('int_project_months_completed') }}
    {% if is_incremental() %}
        where project_last_file_id > (select coalesce(max(loaded.file_id), 0) from {{ this }} as loaded)
    {% endif %}
),

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
    from project_months
)

select * from final
