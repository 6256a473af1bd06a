-- The villages a project's name lists, one row per project and village: 前见、后见村 is 前见村 and
-- 后见村 (the name writes 村 once, after the last village), each mapped to its canonical name.
with

projects as (
    select * from {{ ref('int_projects_resolved') }}
),

name_aliases as (
    select * from {{ ref('name_aliases') }}
),

village_aliases as (
    select
        alias,
        canonical
    from name_aliases
    where kind = 'village'
),

village_parts as (
    select
        project_code,
        unnest(string_split(villages_as_written, '、')) as village_part,
        generate_subscripts(string_split(villages_as_written, '、'), 1) as village_position
    from projects
),

villages_as_written as (
    select
        project_code,
        village_position,
        case
            when ends_with(village_part, '村') then village_part
            else village_part || '村'
        end as village_as_written
    from village_parts
),

final as (
    select
        villages_as_written.project_code,
        villages_as_written.village_position,
        villages_as_written.village_as_written,
        coalesce(village_aliases.canonical, villages_as_written.village_as_written) as village_name
    from villages_as_written
    left join village_aliases
        on villages_as_written.village_as_written = village_aliases.alias
)

select * from final
