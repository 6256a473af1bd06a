with

submission_receipts as (
    select * from {{ source('submissions', 'receipts') }}
),

final as (
    select
        cast(receipt_id as integer) as receipt_id,
        cast(file_id as integer) as file_id,
        cast(original_name as varchar) as original_name,
        cast(submitted_at as timestamp) as submitted_at,
        cast(ingested_at as timestamp) as ingested_at,
        cast(outcome as varchar) as receipt_outcome,
        cast(ingest_run_id as varchar) as ingest_run_id
    from submission_receipts
)

select * from final
