with

plan_projects as (
    select * from {{ source('plan', 'projects') }}
),

final as (
    select
        cast(document_sha256 as varchar) as document_sha256,
        cast(plan_year as integer) as plan_year,
        cast(seq as integer) as seq,
        cast(name as varchar) as project_name,
        cast(patches as integer) as patches_planned,
        cast(area_mu as decimal(12, 2)) as area_planned_mu,
        cast(source_ref as varchar) as source_ref,
        -- The project's key everywhere in regreen: plan year and two-digit table row, e.g. 2024-04.
        -- At least two digits (2024-04); lpad alone would cut a 100th project's 100 to 10.
        cast(plan_year as varchar) || '-' || format('{:02d}', seq) as project_code
    from plan_projects
)

select * from final
