-- Each patch code a project's current monthly report lists as completed (the optional column
-- 已完成图斑编号, codes separated by 、), with the project the patch register gives that code.
with

-- The rows that list codes (few), then which of them are current versions: the mart, read by an
-- intermediate model, since the versioning is done and written once, in fct_submission_versions.
listing_rows as (
    select * from {{ ref('stg_submissions__rows') }}
    where patches_completed_as_written is not null
),

submission_versions as (
    select * from {{ ref('fct_submission_versions') }}
),

patches as (
    select * from {{ ref('stg_patches__patches') }}
),

listed as (
    select distinct
        submission_versions.project_code,
        submission_versions.report_month,
        submission_versions.township_name,
        submission_versions.original_name,
        submission_versions.row_number,
        trim(unnest(regexp_split_to_array(listing_rows.patches_completed_as_written, '[、，,;；\s]+')))
            as patch_code
    from listing_rows
    inner join submission_versions
        on
            listing_rows.file_id = submission_versions.file_id
            and coalesce(listing_rows.sheet, '') = coalesce(submission_versions.sheet, '')
            and listing_rows.row_number = submission_versions.row_number
    where submission_versions.is_current
),

-- A code the register repeats is reported by the patch_geometry suite; here it counts once.
register_codes as (
    select
        patch_code,
        min(project_code) as register_project_code
    from patches
    group by patch_code
),

final as (
    select
        listed.patch_code,
        listed.report_month,
        listed.project_code,
        register_codes.register_project_code,
        listed.township_name,
        listed.original_name as file_name,
        listed.row_number,
        coalesce(listed.project_code = register_codes.register_project_code, false) as is_patch_of_project
    from listed
    left join register_codes
        on listed.patch_code = register_codes.patch_code
    where listed.patch_code != ''
)

select * from final
