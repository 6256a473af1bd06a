with

project_progress as (
    select * from {{ ref('int_projects_progress_joined') }}
),

final as (
    select
        plan_year,
        {{ plan_vs_actual_measures() }}
    from project_progress
    group by plan_year
)

select * from final
