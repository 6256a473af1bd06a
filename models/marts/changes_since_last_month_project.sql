-- What changed in each project between the month before the warehouse's latest report month and that
-- month: each figure is the project's latest report up to the month (a project that skipped a month
-- keeps its last figures), so a project that did not report shows no change.
with

projects as (
    select * from {{ ref('int_projects_resolved') }}
),

project_months as (
    select * from {{ ref('int_project_months_completed') }}
),

months as (
    select
        cast(max(report_month) - interval 1 month as date) as previous_month,
        max(report_month) as as_of_month
    from project_months
),

-- Each project's latest figures up to each of the two months, in one pass over its months: a month up
-- to the previous month counts for both, the latest month for the latest only. (Joining every month to
-- the two months and grouping the pairs read the history twice.)
figures as (
    select
        project_months.project_code,
        max(project_months.report_month) as now_report_month,
        arg_max(project_months.area_done_mu, project_months.report_month) as now_area_done_mu,
        arg_max(project_months.patches_done, project_months.report_month) as now_patches_done,
        arg_max(project_months.stage, project_months.report_month) as now_stage,
        arg_max(project_months.invested_10k_yuan, project_months.report_month) as now_invested_10k_yuan,
        arg_max(project_months.area_done_mu, project_months.report_month)
        filter (where project_months.report_month <= months.previous_month) as before_area_done_mu,
        arg_max(project_months.patches_done, project_months.report_month)
        filter (where project_months.report_month <= months.previous_month) as before_patches_done,
        arg_max(project_months.stage, project_months.report_month)
        filter (where project_months.report_month <= months.previous_month) as before_stage,
        arg_max(project_months.invested_10k_yuan, project_months.report_month)
        filter (where project_months.report_month <= months.previous_month) as before_invested_10k_yuan
    from project_months
    cross join months
    group by project_months.project_code
),

final as (
    select
        projects.project_code,
        projects.project_name,
        projects.township_name,
        projects.plan_year,
        months.as_of_month,
        months.previous_month,
        coalesce(figures.now_report_month = months.as_of_month, false) as reported_in_month,
        {{ hundredths('coalesce(figures.now_area_done_mu, 0)') }} as area_done_mu,
        {{ hundredths('coalesce(figures.now_area_done_mu, 0) - coalesce(figures.before_area_done_mu, 0)') }}
            as area_change_mu,
        coalesce(figures.now_patches_done, 0) as patches_done,
        coalesce(figures.now_patches_done, 0) - coalesce(figures.before_patches_done, 0) as patches_change,
        figures.before_stage as previous_stage,
        figures.now_stage as stage,
        coalesce(figures.now_stage is distinct from figures.before_stage, false) as stage_changed,
        {{ hundredths('figures.now_invested_10k_yuan') }} as invested_10k_yuan,
        -- Unknown when the latest report left the investment blank; from 0 for a first report.
        {{ hundredths('figures.now_invested_10k_yuan - coalesce(figures.before_invested_10k_yuan, 0)') }}
            as invested_change_10k_yuan
    from projects
    cross join months
    left join figures
        on projects.project_code = figures.project_code
)

select * from final
