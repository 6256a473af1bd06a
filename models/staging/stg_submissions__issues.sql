with

submission_issues as (
    select * from {{ source('submissions', 'issues') }}
),

final as (
    select
        cast(file_id as integer) as file_id,
        cast(sheet as varchar) as sheet,
        cast(row_number as integer) as row_number,
        cast(column_name as varchar) as column_name,
        cast(value as varchar) as issue_value,
        cast(severity as varchar) as severity,
        cast(code as varchar) as issue_code,
        cast(message_zh as varchar) as message_zh,
        cast(message_en as varchar) as message_en
    from submission_issues
)

select * from final
