-- Every plan year × every township, zeros included, so that a township with nothing planned in a year
-- shows as 0 rather than as a missing row.
with

projects as (
    select * from {{ ref('int_projects_resolved') }}
),

townships as (
    select * from {{ ref('townships') }}
),

plan_years as (
    select distinct plan_year from projects
),

year_township_plans as (
    select
        plan_year,
        township_name,
        cast(sum(patches_planned) as integer) as patches_planned,
        cast(sum(area_planned_mu) as decimal(12, 2)) as area_planned_mu,
        count(*) as projects
    from projects
    group by plan_year, township_name
),

final as (
    select
        plan_years.plan_year,
        townships.township_name,
        coalesce(year_township_plans.projects, 0) as projects,
        coalesce(year_township_plans.patches_planned, 0) as patches_planned,
        coalesce(year_township_plans.area_planned_mu, 0) as area_planned_mu
    from plan_years
    cross join townships
    left join year_township_plans
        on
            plan_years.plan_year = year_township_plans.plan_year
            and townships.township_name = year_township_plans.township_name
)

select * from final
