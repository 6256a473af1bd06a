with

declared_totals as (
    select * from {{ ref('int_declared_totals_counted') }}
),

final as (
    select
        plan_year,
        declared_in as source,
        township,
        measure,
        declared_value,
        counted_value,
        is_consistent,
        source_ref
    from declared_totals
)

select * from final
