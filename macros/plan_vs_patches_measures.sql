{#- Plan against patch register, summed over a group of int_project_patches_summed rows. -#}
{% macro plan_vs_patches_measures() -%}
    count(*) as projects_planned,
        sum(patches_planned) as patches_planned,
        sum(patches_mapped) as patches_mapped,
        sum(area_planned_mu) as area_planned_mu,
        sum(declared_area_mu) as declared_area_mu,
        sum(geometry_area_mu) as geometry_area_mu,
        {{ percent('(sum(geometry_area_mu) - sum(area_planned_mu))', 'sum(area_planned_mu)') }} as geometry_vs_plan_pct
{%- endmacro %}
