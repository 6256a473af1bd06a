-- changes_since_last_month_project added up per township.
with

project_changes as (
    select * from {{ ref('changes_since_last_month_project') }}
),

final as (
    select
        township_name,
        as_of_month,
        previous_month,
        count(*) as projects_planned,
        count(*) filter (where reported_in_month) as projects_reported_in_month,
        count(*) filter (where stage_changed) as projects_stage_changed,
        {{ hundredths('sum(area_done_mu)') }} as area_done_mu,
        {{ hundredths('sum(area_change_mu)') }} as area_change_mu,
        cast(sum(patches_done) as integer) as patches_done,
        cast(sum(patches_change) as integer) as patches_change,
        {{ hundredths('sum(invested_10k_yuan)') }} as invested_10k_yuan,
        {{ hundredths('sum(invested_change_10k_yuan)') }} as invested_change_10k_yuan
    from project_changes
    group by township_name, as_of_month, previous_month
)

select * from final
