{#-
    The plan-against-progress measures over a group of projects, for the plan_vs_actual_* marts: select
    from int_projects_progress_joined (one row per planned project, latest reported month's figures)
    and group by whatever the mart reports on.
-#}
{% macro plan_vs_actual_measures() -%}
    max(latest_report_month) as latest_report_month,
    count(*) as projects_planned,
    count(latest_report_month) as projects_reported,
    count(*) filter (where is_completed) as projects_completed,
    count(*) filter (where is_accepted) as projects_accepted,
    cast(sum(patches_planned) as integer) as patches_planned,
    cast(coalesce(sum(patches_done), 0) as integer) as patches_done,
    cast(sum(area_planned_mu) as decimal(12, 2)) as area_planned_mu,
    {{ hundredths('coalesce(sum(area_done_mu), 0)') }} as area_done_mu,
    {{ percent('coalesce(sum(patches_done), 0)', 'sum(patches_planned)') }} as pct_patches_planned,
    {{ percent('coalesce(sum(area_done_mu), 0)', 'sum(area_planned_mu)') }} as pct_area_planned
{%- endmacro %}
