-- Asserts that every submitted row comes from the township the plan gives its project. A warning: the
-- row is counted for the plan's township all the same.
{{ config(severity='warn') }}

with

submission_versions as (
    select * from {{ ref('fct_submission_versions') }}
),

projects as (
    select * from {{ ref('dim_project') }}
),

final as (
    select
        submission_versions.project_code,
        submission_versions.report_month,
        submission_versions.township_name as reported_township_name,
        projects.township_name as planned_township_name,
        submission_versions.file_id,
        submission_versions.row_number
    from submission_versions
    inner join projects
        on submission_versions.project_code = projects.project_code
    where submission_versions.township_name is distinct from projects.township_name
)

select * from final
