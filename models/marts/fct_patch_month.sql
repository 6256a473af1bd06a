with

patch_months as (
    select * from {{ ref('int_patch_months_listed') }}
),

final as (
    select
        patch_code,
        report_month,
        project_code,
        register_project_code,
        township_name,
        file_name,
        row_number,
        is_patch_of_project,
        min(report_month) over (partition by patch_code, project_code) as first_completed_month
    from patch_months
)

select * from final
