with

patches as (
    select * from {{ source('patches', 'patches') }}
),

final as (
    select
        cast(layer_file as varchar) as layer_file,
        cast(fid as integer) as fid,
        cast(patch_code as varchar) as patch_code,
        cast(project_as_written as varchar) as project_as_written,
        cast(project_code as varchar) as project_code,
        cast(township_as_written as varchar) as township_as_written,
        cast(village as varchar) as village_name,
        cast(land_type as varchar) as land_type_before,
        cast(declared_area_mu as decimal(12, 2)) as declared_area_mu,
        cast(notes as varchar) as notes,
        cast(geometry_wkb as blob) as geometry_wkb,
        cast(geometry_type as varchar) as geometry_type,
        cast(is_empty as boolean) as is_empty,
        cast(is_valid as boolean) as is_valid,
        cast(invalid_reason as varchar) as invalid_reason,
        -- 1 亩 = 10000/15 m².
        cast(area_m2 * 15 / 10000 as decimal(12, 2)) as geometry_area_mu,
        cast(centroid_lon as double) as centroid_lon,
        cast(centroid_lat as double) as centroid_lat,
        coalesce(contains(notes, '示例数据'), false) as is_sample
    from patches
)

select * from final
