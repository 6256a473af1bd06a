-- Each planned project with the patches the register holds for it: counts, declared and geometry areas.
with

projects as (
    select * from {{ ref('int_projects_resolved') }}
),

patches as (
    select * from {{ ref('stg_patches__patches') }}
),

patch_totals as (
    select
        project_code,
        count(*) as patches_mapped,
        sum(declared_area_mu) as declared_area_mu,
        sum(geometry_area_mu) as geometry_area_mu
    from patches
    group by project_code
),

final as (
    select
        projects.project_code,
        projects.project_name,
        projects.township_name,
        projects.plan_year,
        projects.patches_planned,
        projects.area_planned_mu,
        patch_totals.declared_area_mu,
        patch_totals.geometry_area_mu,
        coalesce(patch_totals.patches_mapped, 0) as patches_mapped
    from projects
    left join patch_totals
        on projects.project_code = patch_totals.project_code
)

select * from final
