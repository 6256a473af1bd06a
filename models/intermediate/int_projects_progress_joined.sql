-- Every planned project with the current figures of the latest month it reported (none if it has not
-- reported yet): what plan_vs_actual_* and funding_by_source compare with the plan.
with

projects as (
    select * from {{ ref('int_projects_resolved') }}
),

-- The mart, read by an intermediate model: the project-months are computed and written once, in
-- fct_project_month.
project_months as (
    select * from {{ ref('fct_project_month') }}
),

stages as (
    select * from {{ ref('stages') }}
),

-- Each project's latest month, as int_project_figures_carried holds it: a join on it reads the months
-- once, where a window sorted every project's months.
last_months as (
    select * from {{ ref('int_project_figures_carried') }}
),

latest_months as (
    select
        project_months.*,
        stages.is_completed,
        stages.is_accepted
    from project_months
    inner join last_months
        on
            project_months.project_code = last_months.project_code
            and project_months.report_month = last_months.last_report_month
    left join stages
        on project_months.stage = stages.stage
),

final as (
    select
        projects.project_code,
        projects.project_name,
        projects.plan_year,
        projects.township_code,
        projects.township_name,
        projects.patches_planned,
        projects.area_planned_mu,
        latest_months.report_month as latest_report_month,
        latest_months.patches_done,
        latest_months.area_done_mu,
        latest_months.stage,
        latest_months.stage_rank,
        latest_months.invested_10k_yuan,
        latest_months.fund_higher_level,
        latest_months.fund_district,
        latest_months.fund_waste_rock,
        latest_months.fund_social,
        latest_months.waste_rock_10k_m3,
        latest_months.accepted_on,
        latest_months.is_sample,
        coalesce(latest_months.is_completed, false) as is_completed,
        coalesce(latest_months.is_accepted, false) as is_accepted
    from projects
    left join latest_months
        on projects.project_code = latest_months.project_code
)

select * from final
