-- The projects behind schedule for their plan year as of the warehouse's latest report month (the list
-- the progress report shows under 风险项目), each with why and by how much:
-- not_accepted: its plan year has ended without an accepted completion;
-- not_started: its plan year has begun and no area has been restored;
-- pace: at its average pace since its first progress it would not reach its planned area by December of
-- its plan year.
with

project_progress as (
    select * from {{ ref('int_projects_progress_joined') }}
),

project_months as (
    select * from {{ ref('fct_project_month') }}
),

as_of as (
    select max(report_month) as as_of_month
    from project_months
),

first_progress as (
    select
        project_code,
        min(report_month) as first_progress_month
    from project_months
    where area_done_mu > 0
    group by project_code
),

projects as (
    select
        project_progress.project_code,
        project_progress.project_name,
        project_progress.township_name,
        project_progress.plan_year,
        project_progress.stage,
        project_progress.area_planned_mu,
        project_progress.latest_report_month,
        first_progress.first_progress_month,
        as_of.as_of_month,
        coalesce(project_progress.stage_rank, 0) as stage_rank,
        coalesce(project_progress.area_done_mu, 0) as area_done_mu,
        make_date(project_progress.plan_year, 12, 1) as year_end_month
    from project_progress
    cross join as_of
    left join first_progress
        on project_progress.project_code = first_progress.project_code
),

paced as (
    select
        *,
        area_done_mu / (datediff('month', first_progress_month, as_of_month) + 1) as pace_mu_per_month,
        datediff('month', as_of_month, year_end_month) as months_left
    from projects
),

classified as (
    select
        *,
        case
            when stage_rank = 6 then null
            when as_of_month > year_end_month then 'not_accepted'
            when stage_rank >= 5 or year(as_of_month) < plan_year then null
            when first_progress_month is null then 'not_started'
            when area_done_mu + pace_mu_per_month * months_left < area_planned_mu then 'pace'
        end as reason
    from paced
),

final as (
    select
        project_code,
        project_name,
        township_name,
        plan_year,
        as_of_month,
        latest_report_month,
        stage,
        reason,
        area_planned_mu,
        {{ hundredths('area_done_mu') }} as area_done_mu,
        {{ hundredths('greatest(area_planned_mu - area_done_mu, 0)') }} as area_remaining_mu,
        case when reason = 'pace' then {{ hundredths('pace_mu_per_month') }} end as pace_mu_per_month,
        case when reason = 'pace' then {{ hundredths('area_done_mu + pace_mu_per_month * months_left') }} end
            as projected_mu,
        -- How far behind: the area the project will still lack at the end of its plan year at its pace, or
        -- all that remains when it has not started or its year is over (none when it restored more than planned
        -- but was not accepted).
        case
            when reason = 'pace'
                then {{ hundredths('area_planned_mu - area_done_mu - pace_mu_per_month * months_left') }}
            else {{ hundredths('greatest(area_planned_mu - area_done_mu, 0)') }}
        end as shortfall_mu,
        greatest(datediff('month', year_end_month, as_of_month), 0) as months_past_plan_year
    from classified
    where reason is not null
)

select * from final
