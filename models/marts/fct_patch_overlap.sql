with

patch_pairs as (
    select * from {{ ref('stg_patches__overlaps') }}
),

patches as (
    select * from {{ ref('stg_patches__patches') }}
),

final as (
    select
        patch_pairs.patch_code_a,
        patches_a.project_code as project_code_a,
        patch_pairs.patch_code_b,
        patches_b.project_code as project_code_b,
        patch_pairs.overlap_m2,
        patch_pairs.fid_a,
        patch_pairs.fid_b,
        round(patch_pairs.overlap_m2 * 15 / 10000, 4) as overlap_mu
    from patch_pairs
    left join patches as patches_a
        on patch_pairs.patch_code_a = patches_a.patch_code and patch_pairs.fid_a = patches_a.fid
    left join patches as patches_b
        on patch_pairs.patch_code_b = patches_b.patch_code and patch_pairs.fid_b = patches_b.fid
)

select * from final
