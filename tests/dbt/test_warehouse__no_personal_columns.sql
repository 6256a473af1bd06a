-- Asserts that no relation dbt builds, nor the raw tables it reads, has a column for personal data:
-- the reporter (填报人) and phone (联系电话) stay in the landing zone.
with

warehouse_columns as (
    select * from information_schema.columns
),

final as (
    select
        table_schema,
        table_name,
        column_name
    from warehouse_columns
    where
        table_catalog = current_database()
        and lower(column_name) in ('reporter', 'phone', '填报人', '联系电话')
)

select * from final
