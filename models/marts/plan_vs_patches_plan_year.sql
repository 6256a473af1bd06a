with

project_patches as (
    select * from {{ ref('int_project_patches_summed') }}
),

final as (
    select
        plan_year,
        {{ plan_vs_patches_measures() }}
    from project_patches
    group by plan_year
)

select * from final
