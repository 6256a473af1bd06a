with

projects as (
    select * from {{ ref('int_projects_resolved') }}
),

documents as (
    select * from {{ ref('stg_plan__documents') }}
),

final as (
    select
        projects.project_code,
        projects.plan_year,
        projects.township_code,
        projects.patches_planned,
        projects.area_planned_mu,
        projects.document_sha256,
        documents.document_number
    from projects
    left join documents
        on projects.document_sha256 = documents.document_sha256
)

select * from final
