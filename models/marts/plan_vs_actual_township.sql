with

project_progress as (
    select * from {{ ref('int_projects_progress_joined') }}
),

final as (
    select
        township_code,
        township_name,
        {{ plan_vs_actual_measures() }}
    from project_progress
    group by township_code, township_name
)

select * from final
