with

patch_overlaps as (
    select * from {{ source('patches', 'overlaps') }}
),

final as (
    select
        cast(patch_code_a as varchar) as patch_code_a,
        cast(fid_a as integer) as fid_a,
        cast(patch_code_b as varchar) as patch_code_b,
        cast(fid_b as integer) as fid_b,
        cast(overlap_m2 as decimal(14, 2)) as overlap_m2
    from patch_overlaps
)

select * from final
