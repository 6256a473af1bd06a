{#- `numerator` as a percentage of `denominator`, to two decimals; null when the denominator is 0 or null. -#}
{% macro percent(numerator, denominator) -%}
    round(100.0 * {{ numerator }} / nullif({{ denominator }}, 0), 2)
{%- endmacro %}
