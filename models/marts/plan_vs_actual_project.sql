with

project_progress as (
    select * from {{ ref('int_projects_progress_joined') }}
),

final as (
    select
        project_code,
        project_name,
        plan_year,
        township_code,
        township_name,
        latest_report_month,
        stage,
        stage_rank,
        is_completed,
        is_accepted,
        patches_planned,
        area_planned_mu,
        coalesce(patches_done, 0) as patches_done,
        {{ hundredths('coalesce(area_done_mu, 0)') }} as area_done_mu,
        {{ percent('coalesce(patches_done, 0)', 'patches_planned') }} as pct_patches_planned,
        {{ percent('coalesce(area_done_mu, 0)', 'area_planned_mu') }} as pct_area_planned
    from project_progress
)

select * from final
