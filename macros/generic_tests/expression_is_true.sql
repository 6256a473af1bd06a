{#-
    Fails with every row where the column followed by `expression` (e.g. "> 0") is not true; on a model
    without a column, `expression` is a whole condition. Null values fail too: say `is null or …` to allow them.
-#}
{% test expression_is_true(model, expression, column_name=none) -%}
    with

    tested as (
        select * from {{ model }}
    ),

    final as (
        select *
        from tested
        where not coalesce({{ column_name ~ ' ' if column_name }}{{ expression }}, false)
    )

    select * from final
{%- endtest %}
