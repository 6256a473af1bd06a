with

project_villages as (
    select * from {{ ref('int_project_villages_split') }}
),

final as (
    select distinct
        project_code,
        village_name
    from project_villages
)

select * from final
