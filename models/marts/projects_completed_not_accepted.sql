-- Projects whose latest report says 已完工 (works finished) with no acceptance, and how long they have
-- waited since the first month they reported the works finished (the notice asks 完成一个验收一个).
with

project_progress as (
    select * from {{ ref('int_projects_progress_joined') }}
),

project_months as (
    select * from {{ ref('int_project_months_completed') }}
),

latest_months as (
    select *
    from project_months
    qualify row_number() over (partition by project_code order by report_month desc) = 1
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
    inner join latest_months
        on project_progress.project_code = latest_months.project_code
    inner join completions
        on project_progress.project_code = completions.project_code
    where latest_months.stage_rank = 5 and latest_months.accepted_on is null
)

select * from final
