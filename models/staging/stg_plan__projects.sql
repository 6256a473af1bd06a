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
        cast(plan_year as varchar) || '-' || lpad(cast(seq as varchar), 2, '0') as project_code
    from plan_projects
)

select * from final
