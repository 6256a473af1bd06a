with

plan_documents as (
    select * from {{ source('plan', 'documents') }}
),

final as (
    select
        cast(document_sha256 as varchar) as document_sha256,
        cast(document_number as varchar) as document_number,
        cast(title as varchar) as document_title,
        cast(issued_on as date) as issued_on,
        cast(source_path as varchar) as source_path,
        cast(source_format as varchar) as source_format,
        cast(run_id as varchar) as load_run_id,
        cast(loaded_at as timestamp) as loaded_at
    from plan_documents
)

select * from final
