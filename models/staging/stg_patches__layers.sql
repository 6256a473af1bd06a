with

patch_layers as (
    select * from {{ source('patches', 'layers') }}
),

final as (
    select
        cast(layer_file as varchar) as layer_file,
        cast(layer_sha256 as varchar) as layer_sha256,
        cast(layer_name as varchar) as layer_name,
        cast(source_crs as varchar) as source_crs,
        cast(features as integer) as features
    from patch_layers
)

select * from final
