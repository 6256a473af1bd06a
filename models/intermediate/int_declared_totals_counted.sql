-- Every figure the notice declares in words or in a 合计 row, beside what the plan table's rows add up
-- to. One row per declared figure; a 'projects_per_township' figure (四个乡镇各完成 1 个) is checked
-- against every township that has projects that year, so it becomes one row per such township.
with

declared_totals as (
    select * from {{ ref('stg_plan__declared_totals') }}
),

projects as (
    select * from {{ ref('int_projects_resolved') }}
),

township_spellings as (
    select * from {{ ref('int_township_spellings_unioned') }}
),

year_counts as (
    select
        plan_year,
        count(*) as projects,
        sum(patches_planned) as patches,
        sum(area_planned_mu) as area_mu,
        count(distinct township_name) as townships
    from projects
    group by plan_year
),

plan_counts as (
    select
        count(*) as projects,
        sum(patches_planned) as patches,
        sum(area_planned_mu) as area_mu
    from projects
),

township_year_counts as (
    select
        plan_year,
        township_name,
        count(*) as projects
    from projects
    group by plan_year, township_name
),

declared_with_townships as (
    select
        declared_totals.*,
        township_spellings.township_name as township
    from declared_totals
    left join township_spellings
        on declared_totals.township_as_written = township_spellings.spelling
),

year_figures as (
    select
        declared.plan_year,
        declared.declared_in,
        declared.township,
        declared.measure,
        declared.declared_value,
        case declared.measure
            when 'projects' then year_counts.projects
            when 'patches' then year_counts.patches
            when 'area_mu' then year_counts.area_mu
            when 'township_count' then year_counts.townships
        end as counted_value,
        declared.source_ref
    from declared_with_townships as declared
    left join year_counts
        on declared.plan_year = year_counts.plan_year
    where
        declared.plan_year is not null
        and declared.measure in ('projects', 'patches', 'area_mu', 'township_count')
),

township_figures as (
    select
        declared.plan_year,
        declared.declared_in,
        declared.township,
        declared.measure,
        declared.declared_value,
        coalesce(township_year_counts.projects, 0) as counted_value,
        declared.source_ref
    from declared_with_townships as declared
    left join township_year_counts
        on
            declared.plan_year = township_year_counts.plan_year
            and declared.township = township_year_counts.township_name
    where declared.measure = 'township_projects'
),

per_township_figures as (
    select
        declared.plan_year,
        declared.declared_in,
        township_year_counts.township_name as township,
        declared.measure,
        declared.declared_value,
        township_year_counts.projects as counted_value,
        declared.source_ref
    from declared_with_townships as declared
    inner join township_year_counts
        on declared.plan_year = township_year_counts.plan_year
    where declared.measure = 'projects_per_township'
),

-- Figures for the whole plan (the 3000 亩 task; the 14 projects): counted over every plan year.
plan_figures as (
    select
        declared.plan_year,
        declared.declared_in,
        declared.township,
        declared.measure,
        declared.declared_value,
        case declared.measure
            when 'task_area_mu' then plan_counts.area_mu
            when 'projects' then plan_counts.projects
            when 'patches' then plan_counts.patches
            when 'area_mu' then plan_counts.area_mu
        end as counted_value,
        declared.source_ref
    from declared_with_townships as declared
    cross join plan_counts
    where declared.plan_year is null
),

figures as (
    select * from year_figures
    union all
    select * from township_figures
    union all
    select * from per_township_figures
    union all
    select * from plan_figures
),

final as (
    select
        plan_year,
        declared_in,
        township,
        measure,
        source_ref,
        declared_value,
        cast(counted_value as decimal(12, 2)) as counted_value,
        -- The task is a floor the plan must reach; every other figure must equal the table.
        coalesce(
            case
                when declared_in = 'task' then counted_value >= declared_value
                else counted_value = declared_value
            end,
            false
        ) as is_consistent
    from figures
)

select * from final
