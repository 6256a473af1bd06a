-- Projects whose latest report says 已完工 (works finished) with no acceptance, and how long they have
-- waited since the first month they reported the works finished (the notice asks 完成一个验收一个).
with

project_progress as (
    select * from {{ ref('int_projects_progress_joined') }}
),

project_months as (
    select * from {{ ref('fct_project_month') }}
),

completions as (
    select
        project_code,
        min(report_month) as completed_month
    from project_months
    where stage_rank >= 5
    group by project_code
),

final as (
    select
        project_progress.project_code,
        project_progress.project_name,
        project_progress.township_name,
        project_progress.plan_year,
        completions.completed_month,
        project_progress.latest_report_month,
        project_progress.area_planned_mu,
        {{ hundredths('project_progress.area_done_mu') }} as area_done_mu,
        datediff('month', completions.completed_month, project_progress.latest_report_month) as months_waiting
    from project_progress
    inner join completions
        on project_progress.project_code = completions.project_code
    where project_progress.stage_rank = 5 and project_progress.accepted_on is null
)

select * from final
