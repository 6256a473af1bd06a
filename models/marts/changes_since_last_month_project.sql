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

figures_at as (
    select
        compared.month_start,
        project_months.project_code,
        max(project_months.report_month) as report_month,
        arg_max(project_months.area_done_mu, project_months.report_month) as area_done_mu,
        arg_max(project_months.patches_done, project_months.report_month) as patches_done,
        arg_max(project_months.stage, project_months.report_month) as stage,
        arg_max(project_months.invested_10k_yuan, project_months.report_month) as invested_10k_yuan
    from (
        select as_of_month as month_start from months
        union all
        select previous_month from months
    ) as compared
    inner join project_months
        on compared.month_start >= project_months.report_month
    group by compared.month_start, project_months.project_code
),

final as (
    select
        projects.project_code,
        projects.project_name,
        projects.township_name,
        projects.plan_year,
        months.as_of_month,
        months.previous_month,
        coalesce(now_figures.report_month = months.as_of_month, false) as reported_in_month,
        {{ hundredths('coalesce(now_figures.area_done_mu, 0)') }} as area_done_mu,
        {{ hundredths('coalesce(now_figures.area_done_mu, 0) - coalesce(before_figures.area_done_mu, 0)') }}
            as area_change_mu,
        coalesce(now_figures.patches_done, 0) as patches_done,
        coalesce(now_figures.patches_done, 0) - coalesce(before_figures.patches_done, 0) as patches_change,
        before_figures.stage as previous_stage,
        now_figures.stage,
        coalesce(now_figures.stage is distinct from before_figures.stage, false) as stage_changed,
        {{ hundredths('now_figures.invested_10k_yuan') }} as invested_10k_yuan,
        -- Unknown when the latest report left the investment blank; from 0 for a first report.
        {{ hundredths('now_figures.invested_10k_yuan - coalesce(before_figures.invested_10k_yuan, 0)') }}
            as invested_change_10k_yuan
    from projects
    cross join months
    left join figures_at as now_figures
        on
            projects.project_code = now_figures.project_code
            and months.as_of_month = now_figures.month_start
    left join figures_at as before_figures
        on
            projects.project_code = before_figures.project_code
            and months.previous_month = before_figures.month_start
)

select * from final
