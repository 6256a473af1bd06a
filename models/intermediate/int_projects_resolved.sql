-- Each planned project with the township its name starts with, its zone, the villages part of its name
-- and its normalised name.
with

projects as (
    select * from {{ ref('stg_plan__projects') }}
),

townships as (
    select * from {{ ref('townships') }}
),

township_spellings as (
    select * from {{ ref('int_township_spellings_unioned') }}
),

-- The township each name starts with; the longest spelling wins (百崎乡莲埭村 is 百崎乡, not 百崎).
project_townships as (
    select
        projects.project_code,
        township_spellings.spelling as township_as_written,
        township_spellings.township_name
    from projects
    inner join township_spellings
        on starts_with(projects.project_name, township_spellings.spelling)
    qualify row_number() over (
        partition by projects.project_code
        order by length(township_spellings.spelling) desc
    ) = 1
),

projects_with_townships as (
    select
        projects.project_code,
        projects.document_sha256,
        projects.plan_year,
        projects.seq,
        projects.project_name,
        projects.patches_planned,
        projects.area_planned_mu,
        projects.source_ref,
        townships.township_code,
        townships.township_name,
        townships.short_name as township_short_name,
        project_townships.township_as_written,
        -- What follows the township: the villages, an optional zone, then 废弃矿山生态治理项目.
        substr(projects.project_name, length(project_townships.township_as_written) + 1) as name_after_township
    from projects
    left join project_townships
        on projects.project_code = project_townships.project_code
    left join townships
        on project_townships.township_name = townships.township_name
),

final as (
    select
        project_code,
        document_sha256,
        plan_year,
        seq,
        project_name,
        patches_planned,
        area_planned_mu,
        source_ref,
        township_code,
        township_name,
        township_short_name,
        township_as_written,
        nullif(regexp_extract(name_after_township, '[一二三四五六七八九十]+分区'), '') as zone,
        -- The villages run up to the last 村 before the zone or 废弃, e.g. 玉田、玉园、玉塘村.
        nullif(
            regexp_extract(
                regexp_replace(name_after_township, '([一二三四五六七八九十]+分区|废弃).*$', ''),
                '^(.*村)',
                1
            ),
            ''
        ) as villages_as_written,
        {{ normalize_project_name('project_name', 'township_as_written', 'township_short_name') }}
            as normalized_name
    from projects_with_townships
)

select * from final
