with

project_progress as (
    select * from {{ ref('int_projects_progress_joined') }}
),

reported_projects as (
    select * from project_progress
    where latest_report_month is not null
),

final as (
    select
        project_code,
        township_name,
        plan_year,
        latest_report_month as report_month,
        {{ hundredths('fund_higher_level') }} as fund_higher_level,
        {{ hundredths('fund_district') }} as fund_district,
        {{ hundredths('fund_waste_rock') }} as fund_waste_rock,
        {{ hundredths('fund_social') }} as fund_social,
        {{ hundredths('invested_10k_yuan') }} as invested_10k_yuan,
        {{ hundredths('area_done_mu') }} as area_done_mu,
        waste_rock_10k_m3,
        is_sample,
        -- Null for a source the township left blank: unknown is not zero.
        {{ hundredths('fund_higher_level + fund_district + fund_waste_rock + fund_social') }} as fund_total_10k_yuan,
        {{ hundredths('invested_10k_yuan / nullif(area_done_mu, 0)') }} as invested_10k_yuan_per_mu,
        round(waste_rock_10k_m3 / nullif(area_done_mu, 0), 4) as waste_rock_10k_m3_per_mu
    from reported_projects
)

select * from final
