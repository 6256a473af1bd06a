with

project_patches as (
    select * from {{ ref('int_project_patches_summed') }}
),

final as (
    select
        township_name,
        {{ plan_vs_patches_measures() }}
    from project_patches
    group by township_name
)

select * from final
