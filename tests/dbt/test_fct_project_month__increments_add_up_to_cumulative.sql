-- Asserts that a project's monthly increments add up to the cumulative figures of its latest month,
-- i.e. that fct_project_month neither loses nor double-counts a month.
with

project_months as (
    select * from {{ ref('fct_project_month') }}
),

project_totals as (
    select
        project_code,
        sum(area_increment_mu) as area_increments,
        sum(patches_increment) as patches_increments,
        arg_max(area_done_mu, report_month) as latest_area_done_mu,
        arg_max(patches_done, report_month) as latest_patches_done
    from project_months
    group by project_code
),

final as (
    select *
    from project_totals
    where
        area_increments is distinct from latest_area_done_mu
        or patches_increments is distinct from latest_patches_done
)

select * from final
