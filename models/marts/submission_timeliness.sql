-- Whether each township's monthly report came, and when. One row per township and month, from the
-- first month a report is due under the plan (var('first_due_month'), fed from regreen.toml's
-- [submissions] first_due_month; by default the month after the notice's date) to the latest month
-- anyone reported.
--
-- A township owes a report for a month when it has an active project: one whose plan year has begun
-- and that had not been reported 已验收 in an earlier month (the month of its acceptance is still owed).
-- Months it owes nothing for are not_due, never missing or late. The report is on time when an
-- accepted file with rows for that township and month arrived by day var('submission_due_day') of the
-- next month. Rejected files load no rows, so what they were for is read from their file name: a
-- rejected file counts for a township whose name (or short name) its name contains, and for the month
-- its name gives (2024-03, 2024年3月, 202403); failing that, for the month before it arrived.
with

documents as (
    select * from {{ ref('stg_plan__documents') }}
),

townships as (
    select * from {{ ref('townships') }}
),

projects as (
    select * from {{ ref('int_projects_resolved') }}
),

project_months as (
    select * from {{ ref('fct_project_month') }}
),

stages as (
    select * from {{ ref('stages') }}
),

-- Every loaded row, whatever its version: a file counts for each township and month it has rows for.
submission_rows as (
    select * from {{ ref('stg_submissions__rows') }}
),

submission_files as (
    select * from {{ ref('stg_submissions__files') }}
),

submission_issues as (
    select * from {{ ref('stg_submissions__issues') }}
),

bounds as (
    select
        coalesce(
            cast(nullif('{{ var("first_due_month", "") }}', '') as date),
            cast(date_trunc('month', min(documents.issued_on)) + interval 1 month as date)
        ) as first_month,
        (select max(submission_rows.report_month) from submission_rows) as last_month
    from documents
),

months as (
    {{ month_series('bounds', 'first_month', 'last_month') }}
),

project_acceptances as (
    select
        project_months.project_code,
        min(project_months.report_month) as accepted_month
    from project_months
    inner join stages
        on project_months.stage = stages.stage
    where stages.is_accepted
    group by project_months.project_code
),

project_active_periods as (
    select
        projects.project_code,
        projects.township_name,
        project_acceptances.accepted_month,
        greatest(make_date(projects.plan_year, 1, 1), bounds.first_month) as active_from
    from projects
    cross join bounds
    left join project_acceptances
        on projects.project_code = project_acceptances.project_code
),

township_months as (
    select
        townships.township_code,
        townships.township_name,
        months.month_start as report_month
    from townships
    cross join months
),

township_obligations as (
    select
        township_months.township_code,
        township_months.township_name,
        township_months.report_month,
        count(project_active_periods.project_code) as active_projects
    from township_months
    left join project_active_periods
        on
            township_months.township_name = project_active_periods.township_name
            and township_months.report_month >= project_active_periods.active_from
            and (
                project_active_periods.accepted_month is null
                or township_months.report_month <= project_active_periods.accepted_month
            )
    group by township_months.township_code, township_months.township_name, township_months.report_month
),

-- The rows taken down to their files first (a few per township and month), then the accepted ones
-- counted: the join and the distinct count then read files, not rows.
report_files as (
    select distinct
        township_name,
        report_month,
        file_id
    from submission_rows
),

accepted_reports as (
    select
        report_files.township_name,
        report_files.report_month,
        min(submission_files.submitted_at) as first_accepted_at,
        count(*) as accepted_files
    from report_files
    inner join submission_files
        on report_files.file_id = submission_files.file_id
    where submission_files.file_status = 'accepted'
    group by report_files.township_name, report_files.report_month
),

rejected_files as (
    select
        file_id,
        original_name,
        submitted_at,
        regexp_extract(
            original_name, '(20\d\d)[-_.年]?(0?[1-9]|1[0-2])(\D|$)', ['year', 'month', 'after']
        ) as name_month
    from submission_files
    where file_status = 'rejected'
),

rejected_file_townships as (
    select
        townships.township_name,
        rejected_files.file_id,
        rejected_files.submitted_at,
        coalesce(
            make_date(
                cast(nullif(rejected_files.name_month.year, '') as integer),
                cast(nullif(rejected_files.name_month.month, '') as integer),
                1
            ),
            cast(date_trunc('month', rejected_files.submitted_at) - interval 1 month as date)
        ) as report_month
    from rejected_files
    inner join townships
        on
            contains(rejected_files.original_name, townships.township_name)
            or contains(rejected_files.original_name, townships.short_name)
),

rejection_messages as (
    select
        file_id,
        string_agg(message_zh || ' / ' || message_en, '；' order by row_number nulls first, column_name)
            as messages
    from submission_issues
    where severity = 'error'
    group by file_id
),

rejected_reports as (
    select
        rejected_file_townships.township_name,
        rejected_file_townships.report_month,
        min(rejected_file_townships.submitted_at) as first_rejected_at,
        count(*) as rejected_files,
        string_agg(rejection_messages.messages, '；' order by rejected_file_townships.submitted_at)
            as rejection_reasons
    from rejected_file_townships
    left join rejection_messages
        on rejected_file_townships.file_id = rejection_messages.file_id
    group by rejected_file_townships.township_name, rejected_file_townships.report_month
),

township_months_reported as (
    select
        township_obligations.township_code,
        township_obligations.township_name,
        township_obligations.report_month,
        township_obligations.active_projects,
        accepted_reports.first_accepted_at,
        rejected_reports.rejection_reasons,
        township_obligations.active_projects > 0 as expected,
        cast(
            township_obligations.report_month
            + interval 1 month
            + to_days({{ var('submission_due_day') }} - 1) as date
        ) as due_date,
        least(accepted_reports.first_accepted_at, rejected_reports.first_rejected_at) as first_submitted_at,
        coalesce(accepted_reports.accepted_files, 0) as accepted_files,
        coalesce(rejected_reports.rejected_files, 0) as rejected_files
    from township_obligations
    left join accepted_reports
        on
            township_obligations.township_name = accepted_reports.township_name
            and township_obligations.report_month = accepted_reports.report_month
    left join rejected_reports
        on
            township_obligations.township_name = rejected_reports.township_name
            and township_obligations.report_month = rejected_reports.report_month
),

final as (
    select
        township_code,
        township_name,
        report_month,
        expected,
        active_projects,
        due_date,
        first_submitted_at,
        first_accepted_at,
        accepted_files,
        rejected_files,
        rejection_reasons,
        case
            when not expected then 'not_due'
            when first_accepted_at < due_date + interval 1 day then 'on_time'
            when first_accepted_at is not null then 'late'
            when rejected_files > 0 then 'rejected'
            else 'missing'
        end as status
    from township_months_reported
)

select * from final
