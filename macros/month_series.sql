{#-
    One row per month, as the first day of the month, from `first_month` to `last_month` inclusive; both
    are SQL expressions over the columns of `bounds` (a relation or CTE with one row). No row at all when
    either bound is null, e.g. before the first submission arrives.
-#}
{% macro month_series(bounds, first_month, last_month) -%}
    select cast(unnest(generate_series({{ first_month }}, {{ last_month }}, interval 1 month)) as date) as month_start
    from {{ bounds }}
{%- endmacro %}
