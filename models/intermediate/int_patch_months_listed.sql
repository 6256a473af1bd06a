-- Each patch code a project's current monthly report lists as completed (the optional column
-- 已完成图斑编号, codes separated by 、), with the project the patch register gives that code.
with

submission_rows as (
    select * from {{ ref('int_submission_rows_versioned') }}
),

patches as (
    select * from {{ ref('stg_patches__patches') }}
),

listed as (
    select distinct
        project_code,
        report_month,
        township_name,
        original_name,
        row_number,
        trim(unnest(regexp_split_to_array(patches_completed_as_written, '[、，,;；\s]+'))) as patch_code
    from submission_rows
    where is_current and patches_completed_as_written is not null
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
