with

submission_files as (
    select * from {{ source('submissions', 'files') }}
),

final as (
    select
        cast(file_id as integer) as file_id,
        cast(sha256 as varchar) as file_sha256,
        cast(original_name as varchar) as original_name,
        cast(archived_path as varchar) as archived_path,
        cast(size_bytes as bigint) as size_bytes,
        cast(submitted_at as timestamp) as submitted_at,
        cast(ingested_at as timestamp) as ingested_at,
        cast(status as varchar) as file_status,
        cast(sheet as varchar) as sheet,
        cast(rows_read as integer) as rows_read,
        cast(rows_loaded as integer) as rows_loaded,
        cast(rows_rejected as integer) as rows_rejected,
        cast(error_count as integer) as error_count,
        cast(warning_count as integer) as warning_count,
        cast(report_path as varchar) as report_path,
        cast(is_sample as boolean) as is_sample,
        cast(ingest_run_id as varchar) as ingest_run_id
    from submission_files
)

select * from final
