with

projects as (
    select * from {{ ref('int_projects_resolved') }}
),

project_villages as (
    select * from {{ ref('int_project_villages_split') }}
),

village_lists as (
    select
        project_code,
        string_agg(village_name, '、' order by village_position) as village_names
    from project_villages
    group by project_code
),

final as (
    select
        projects.project_code,
        projects.plan_year,
        projects.seq,
        projects.project_name,
        projects.normalized_name,
        projects.township_code,
        projects.township_name,
        projects.zone,
        projects.patches_planned,
        projects.area_planned_mu,
        village_lists.village_names,
        projects.source_ref
    from projects
    left join village_lists
        on projects.project_code = village_lists.project_code
)

select * from final
