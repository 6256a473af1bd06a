with

project_progress as (
    select * from {{ ref('int_projects_progress_joined') }}
),

final as (
    select {{ plan_vs_actual_measures() }}
    from project_progress
)

select * from final
