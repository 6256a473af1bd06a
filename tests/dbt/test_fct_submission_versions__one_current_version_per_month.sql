-- Asserts that each project and month reported has exactly one current version, that it is the one
-- fct_project_month publishes, and that fct_project_month counts every version of the month.
-- Each project-month is checked against its own rows only: on an incremental night both tables are read
-- for the project-months either of them wrote (macros/night_tests.sql), the others are as they passed.
{% set written = ['marts.fct_submission_versions', 'marts.fct_project_month'] %}

with

submission_versions as (
    select * from {{ night_rows(ref('fct_submission_versions'), written) }}
),

project_months as (
    select * from {{ night_rows(ref('fct_project_month'), written) }}
),

current_versions as (
    select
        project_code,
        report_month,
        count(*) as versions,
        count(*) filter (where is_current) as current_versions,
        any_value(file_id) filter (where is_current) as current_file_id,
        any_value(row_number) filter (where is_current) as current_row_number
    from submission_versions
    group by project_code, report_month
),

final as (
    select
        current_versions.project_code,
        current_versions.report_month,
        current_versions.versions,
        current_versions.current_versions,
        current_versions.current_file_id,
        project_months.file_id as published_file_id,
        project_months.version_count as published_version_count
    from current_versions
    left join project_months
        on
            current_versions.project_code = project_months.project_code
            and current_versions.report_month = project_months.report_month
    where
        current_versions.current_versions is distinct from 1
        or project_months.version_count is distinct from current_versions.versions
        or project_months.file_id is distinct from current_versions.current_file_id
        or project_months.row_number is distinct from current_versions.current_row_number
)

select * from final
