with

patches as (
    select * from {{ ref('stg_patches__patches') }}
),

layers as (
    select * from {{ ref('stg_patches__layers') }}
),

projects as (
    select * from {{ ref('int_projects_resolved') }}
),

patch_months as (
    select * from {{ ref('int_patch_months_listed') }}
),

completions as (
    select
        patch_code,
        min(report_month) as completed_month
    from patch_months
    where is_patch_of_project
    group by patch_code
),

final as (
    select
        patches.patch_code,
        patches.project_code,
        projects.project_name,
        projects.township_name,
        projects.plan_year,
        patches.village_name,
        patches.land_type_before,
        patches.declared_area_mu,
        patches.geometry_area_mu,
        {{ percent('(patches.geometry_area_mu - patches.declared_area_mu)', 'patches.declared_area_mu') }}
            as geometry_vs_declared_pct,
        patches.centroid_lon,
        patches.centroid_lat,
        patches.geometry_type,
        patches.is_valid,
        patches.invalid_reason,
        patches.is_empty,
        patches.geometry_wkb,
        patches.layer_file,
        patches.fid,
        layers.source_crs,
        patches.is_sample,
        completions.completed_month
    from patches
    left join projects
        on patches.project_code = projects.project_code
    left join layers
        on patches.layer_file = layers.layer_file
    left join completions
        on patches.patch_code = completions.patch_code
)

select * from final
