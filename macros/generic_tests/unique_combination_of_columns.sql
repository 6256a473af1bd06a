{#- Fails with every combination of the columns that occurs more than once (nulls count as equal). -#}
{% test unique_combination_of_columns(model, combination_of_columns) -%}
    {%- set columns = combination_of_columns | join(', ') -%}
    with

    tested as (
        select * from {{ model }}
    ),

    final as (
        select
            {{ columns }},
            count(*) as occurrences
        from tested
        group by {{ columns }}
        having count(*) > 1
    )

    select * from final
{%- endtest %}
