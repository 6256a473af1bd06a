with

project_patches as (
    select * from {{ ref('int_project_patches_summed') }}
),

final as (
    select
        project_code,
        project_name,
        township_name,
        plan_year,
        patches_planned,
        patches_mapped,
        area_planned_mu,
        declared_area_mu,
        geometry_area_mu,
        {{ percent('(geometry_area_mu - area_planned_mu)', 'area_planned_mu') }} as geometry_vs_plan_pct
    from project_patches
)

select * from final
