-- Asserts that plan_vs_actual_district is one row whose planned totals are the plan's (fct_plan) and
-- whose done totals are the projects' latest reported figures (their exact sum, rounded to 0.01 亩 as
-- the reporting marts show it: the sum of plan_vs_actual_project's rounded areas may differ by a few 0.01);
-- a NULL on either side is a difference.
with

district as (
    select * from {{ ref('plan_vs_actual_district') }}
),

plan as (
    select * from {{ ref('fct_plan') }}
),

project_progress as (
    select * from {{ ref('int_projects_progress_joined') }}
),

plan_totals as (
    select
        count(*) as projects_planned,
        sum(patches_planned) as patches_planned,
        sum(area_planned_mu) as area_planned_mu
    from plan
),

progress_totals as (
    select
        coalesce(sum(patches_done), 0) as patches_done,
        {{ hundredths('coalesce(sum(area_done_mu), 0)') }} as area_done_mu
    from project_progress
),

district_rows as (
    select count(*) as district_rows
    from district
),

final as (
    select
        district_rows.district_rows,
        district.projects_planned,
        plan_totals.projects_planned as expected_projects_planned,
        district.area_planned_mu,
        plan_totals.area_planned_mu as expected_area_planned_mu,
        district.area_done_mu,
        progress_totals.area_done_mu as expected_area_done_mu
    from district_rows
    cross join plan_totals
    cross join progress_totals
    left join district on true
    where
        district_rows.district_rows is distinct from 1
        or district.projects_planned is distinct from plan_totals.projects_planned
        or district.patches_planned is distinct from plan_totals.patches_planned
        or district.area_planned_mu is distinct from plan_totals.area_planned_mu
        or district.patches_done is distinct from progress_totals.patches_done
        or district.area_done_mu is distinct from progress_totals.area_done_mu
)

select * from final
