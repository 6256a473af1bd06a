{#-
    `expression` rounded to 0.01 as people read an area (亩) or an amount (万元), for the reporting marts.
    The facts (fct_*) keep the exact converted values (15.5333 公顷 × 15 = 232.9995 亩); a reporting mart
    sums or compares those exact values first and rounds only what it shows.
-#}
{% macro hundredths(expression) -%}
    cast(round({{ expression }}, 2) as decimal(14, 2))
{%- endmacro %}
