with

submission_rows as (
    select * from {{ ref('int_submission_rows_versioned') }}
),

-- A restatement: the version each row replaces (the previous arrival for the same project and month).
versions_with_replaced as (
    select
        *,
        lag(file_id) over project_month as replaces_file_id,
        lag(original_name) over project_month as replaces_original_name,
        lag(submitted_at) over project_month as replaces_submitted_at
    from submission_rows
    window project_month as (partition by project_code, report_month order by version_number)
),

final as (
    select
        project_code,
        report_month,
        version_number,
        version_count,
        is_current,
        township_name,
        project_name_as_written,
        file_id,
        sheet,
        row_number,
        original_name,
        submitted_at,
        is_sample,
        patches_done,
        area_done_mu,
        forest_mu,
        farmland_mu,
        grassland_mu,
        stage,
        invested_10k_yuan,
        fund_higher_level,
        fund_district,
        fund_waste_rock,
        fund_social,
        waste_rock_10k_m3,
        supervisor,
        accepted_on,
        replaces_file_id,
        replaces_original_name,
        replaces_submitted_at
    from versions_with_replaced
)

select * from final
