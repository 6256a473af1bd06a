-- Every way the notice may write a township, one row per spelling: the township's name, its short and
-- full names, and the township aliases. Spellings are unique, so each maps to one township.
with

townships as (
    select * from {{ ref('townships') }}
),

name_aliases as (
    select * from {{ ref('name_aliases') }}
),

final as (
    select
        township_name as spelling,
        township_name
    from townships
    union
    select
        short_name as spelling,
        township_name
    from townships
    union
    select
        full_name as spelling,
        township_name
    from townships
    union
    select
        alias as spelling,
        canonical as township_name
    from name_aliases
    where kind = 'township'
)

select * from final
