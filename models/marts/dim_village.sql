with

villages as (
    select * from {{ ref('villages') }}
),

project_villages as (
    select * from {{ ref('int_project_villages_split') }}
),

village_plans as (
    select
        village_name,
        count(distinct project_code) as projects_planned
    from project_villages
    group by village_name
),

final as (
    select
        villages.village_name,
        villages.township_name,
        villages.name_en,
        coalesce(village_plans.projects_planned, 0) as projects_planned
    from villages
    left join village_plans
        on villages.village_name = village_plans.village_name
)

select * from final
