-- Asserts that a project's four fund sources add up to the investment it reports (to 0.01 万元), and that
-- neither is given without the other. A warning: the township should correct one or the other.
{{ config(severity='warn') }}

with

funding as (
    select * from {{ ref('funding_by_source') }}
),

final as (
    select
        project_code,
        report_month,
        fund_total_10k_yuan,
        invested_10k_yuan
    from funding
    where
        abs(fund_total_10k_yuan - invested_10k_yuan) > 0.01
        or (fund_total_10k_yuan is null) is distinct from (invested_10k_yuan is null)
)

select * from final
