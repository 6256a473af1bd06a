-- What changed in each project between the month before the warehouse's latest report month and that
-- month: each figure is the project's latest report up to the month (a project that skipped a month
-- keeps its last figures), so a project that did not report shows no change.
with

projects as (
    select * from {{ ref('int_projects_resolved') }}
),

figures as (
    select * from {{ ref('int_project_figures_carried') }}
),

months as (
    select
        cast(max(last_report_month) - interval 1 month as date) as previous_month,
        max(last_report_month) as as_of_month
    from figures
),

-- Each project's latest figures up to the two months: a project that reported in the latest month
-- carries its figures as of the month before; for any other, its last figures count for both.
figures_as_of as (
    select
        figures.project_code,
        figures.last_report_month as now_report_month,
        figures.area_done_mu as now_area_done_mu,
        figures.patches_done as now_patches_done,
        figures.stage as now_stage,
        figures.invested_10k_yuan as now_invested_10k_yuan,
        case
            when figures.last_report_month = months.as_of_month then figures.prior_area_done_mu
            else figures.area_done_mu
        end as before_area_done_mu,
        case
            when figures.last_report_month = months.as_of_month then figures.prior_patches_done
            else figures.patches_done
        end as before_patches_done,
        case
            when figures.last_report_month = months.as_of_month then figures.prior_stage
            else figures.stage
        end as before_stage,
        case
            when figures.last_report_month = months.as_of_month then figures.prior_invested_10k_yuan
            else figures.invested_10k_yuan
        end as before_invested_10k_yuan
    from figures
    cross join months
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
    left join figures_as_of as figures
        on projects.project_code = figures.project_code
)

select * from final
