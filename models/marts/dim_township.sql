with

townships as (
    select * from {{ ref('townships') }}
),

projects as (
    select * from {{ ref('int_projects_resolved') }}
),

township_plans as (
    select
        township_code,
        cast(sum(patches_planned) as integer) as patches_planned,
        cast(sum(area_planned_mu) as decimal(12, 2)) as area_planned_mu,
        count(*) as projects_planned
    from projects
    group by township_code
),

final as (
    select
        townships.township_code,
        townships.township_name,
        townships.short_name,
        townships.full_name,
        townships.name_en,
        coalesce(township_plans.projects_planned, 0) as projects_planned,
        coalesce(township_plans.patches_planned, 0) as patches_planned,
        coalesce(township_plans.area_planned_mu, 0) as area_planned_mu
    from townships
    left join township_plans
        on townships.township_code = township_plans.township_code
)

select * from final
