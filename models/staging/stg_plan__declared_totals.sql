with

plan_declared_totals as (
    select * from {{ source('plan', 'declared_totals') }}
),

final as (
    select
        cast(document_sha256 as varchar) as document_sha256,
        cast(plan_year as integer) as plan_year,
        cast(source as varchar) as declared_in,
        cast(township as varchar) as township_as_written,
        cast(measure as varchar) as measure,
        cast(declared_value as decimal(12, 2)) as declared_value,
        cast(source_ref as varchar) as source_ref
    from plan_declared_totals
)

select * from final
