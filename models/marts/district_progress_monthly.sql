-- Each month from the plan's issue month to the latest report month: every project counts with the
-- cumulative area of its latest report up to that month (a project that skipped a month keeps its last
-- figure), against the 3000 亩 task and the areas the plan schedules by the end of that month's year.
with

documents as (
    select * from {{ ref('stg_plan__documents') }}
),

declared_totals as (
    select * from {{ ref('stg_plan__declared_totals') }}
),

projects as (
    select * from {{ ref('int_projects_resolved') }}
),

-- Read three times for a few of its columns: not materialised as a whole copy.
project_months as not materialized (
    select * from {{ ref('fct_project_month') }}
),

bounds as (
    select
        cast(date_trunc('month', min(documents.issued_on)) as date) as first_month,
        (select max(project_months.report_month) from project_months) as last_month
    from documents
),

months as (
    {{ month_series('bounds', 'first_month', 'last_month') }}
),

-- What each reported month changes in the sum that month carries: a project counts from its first
-- report, with the last area it gave (a blank month keeps the figure before it, so changes nothing: its
-- increment is null). Summed over the months so far, these changes give each month's total without
-- joining every month to every earlier report. A report before the first month counts from the first
-- month.
area_changes as (
    select
        greatest(project_months.report_month, bounds.first_month) as month_start,
        sum(coalesce(project_months.area_increment_mu, 0)) as restored_change_mu
    from project_months
    cross join bounds
    group by greatest(project_months.report_month, bounds.first_month)
),

project_starts as (
    select
        project_code,
        min(report_month) as first_report_month
    from project_months
    group by project_code
),

starting_counts as (
    select
        greatest(project_starts.first_report_month, bounds.first_month) as month_start,
        count(*) as projects_starting
    from project_starts
    cross join bounds
    group by greatest(project_starts.first_report_month, bounds.first_month)
),

carried_changes as (
    select
        area_changes.month_start,
        area_changes.restored_change_mu,
        coalesce(starting_counts.projects_starting, 0) as projects_starting
    from area_changes
    left join starting_counts
        on area_changes.month_start = starting_counts.month_start
),

restored_areas as (
    select
        months.month_start,
        cast(sum(coalesce(carried_changes.projects_starting, 0)) over months_so_far as bigint)
            as projects_reported,
        sum(coalesce(carried_changes.restored_change_mu, 0)) over months_so_far as restored_mu
    from months
    left join carried_changes
        on months.month_start = carried_changes.month_start
    window months_so_far as (order by months.month_start)
),

planned_milestones as (
    select
        months.month_start,
        sum(projects.area_planned_mu) as planned_milestone_mu
    from months
    inner join projects
        on year(months.month_start) >= projects.plan_year
    group by months.month_start
),

plan_total as (
    select sum(area_planned_mu) as planned_mu
    from projects
),

task as (
    select max(declared_value) as task_mu
    from declared_totals
    where declared_in = 'task' and measure = 'task_area_mu'
),

final as (
    select
        months.month_start as report_month,
        task.task_mu,
        cast(plan_total.planned_mu as decimal(12, 2)) as planned_mu,
        cast(coalesce(planned_milestones.planned_milestone_mu, 0) as decimal(12, 2)) as planned_milestone_mu,
        coalesce(restored_areas.projects_reported, 0) as projects_reported,
        {{ hundredths('coalesce(restored_areas.restored_mu, 0)') }} as restored_mu,
        {{ percent('coalesce(restored_areas.restored_mu, 0)', 'task.task_mu') }} as pct_of_task,
        {{ percent('coalesce(restored_areas.restored_mu, 0)', 'planned_milestones.planned_milestone_mu') }}
            as pct_of_planned_milestone
    from months
    cross join plan_total
    cross join task
    left join restored_areas
        on months.month_start = restored_areas.month_start
    left join planned_milestones
        on months.month_start = planned_milestones.month_start
)

select * from final
