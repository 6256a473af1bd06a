-- Asserts that every planned project lies in at least one village of bridge_project_village, i.e. that
-- the village part of every project name was read.
with

projects as (
    select * from {{ ref('dim_project') }}
),

project_villages as (
    select * from {{ ref('bridge_project_village') }}
),

final as (
    select
        projects.project_code,
        projects.project_name
    from projects
    where not exists (
        select 1
        from project_villages
        where project_villages.project_code = projects.project_code
    )
)

select * from final
