-- The current figures of each project for each month it reported, beside the change since the month it
-- reported before and the plausibility flags (months without a report are not filled in:
-- submission_timeliness accounts for them). Computed here, where its rows are written, from the current
-- versions fct_submission_versions holds: an intermediate table of the same project-months (42 columns)
-- that this mart then copied cost a second wide table of 4.2 M rows at the scale bench's 100× (5–6 CPU-s
-- of a full build); the models that read project-months read this table (docs/benchmarks.md, "The dbt
-- stage against bare SQL").
-- Incremental: a night recomputes, for each project that rows of new files touch, the months from the
-- earliest one they touch onward (a month restated or added changes the previous figures, increments
-- and flags of the months after it) and replaces those months; the figures of the months before come
-- from this table, whose earlier months stand.
{{ config(
    materialized='incremental', unique_key=['project_code', 'report_month'], incremental_strategy='delete+insert'
) }}

with

-- Read by the CTEs below, each taking a few of its columns: not materialised as a whole copy.
submission_rows as not materialized (
    select * from {{ ref('fct_submission_versions') }}
),

projects as (
    select * from {{ ref('int_projects_resolved') }}
),

stages as (
    select * from {{ ref('stages') }}
),

{% if is_incremental() %}
    touched_projects as (
        {{ project_months_touched('submission_rows', this) }}
    ),

    -- Each touched project's last figures given before the first month touched, as this table holds its
    -- months (a blank figure is skipped, as `ignore nulls` does): what the first month computed again
    -- compares with. None for a project new tonight, or restated from its first month.
    months_before as (
        select
            loaded.project_code,
            arg_max(loaded.patches_done, loaded.report_month) filter (where loaded.patches_done is not null)
                as last_patches_done,
            arg_max(loaded.area_done_mu, loaded.report_month) filter (where loaded.area_done_mu is not null)
                as last_area_done_mu,
            arg_max(loaded.stage_rank, loaded.report_month) filter (where loaded.stage_rank is not null)
                as last_stage_rank
        from {{ this }} as loaded
        inner join touched_projects
            on
                loaded.project_code = touched_projects.project_code
                and loaded.report_month < touched_projects.first_touched_month
        group by loaded.project_code
    ),
{% endif %}

-- The current version's figures, where it came from, and the plan's figures for the project.
current_rows as not materialized (
    select
        submission_rows.project_code,
        submission_rows.report_month,
        submission_rows.file_id,
        submission_rows.sheet,
        submission_rows.row_number,
        submission_rows.version_count,
        submission_rows.is_sample,
        submission_rows.patches_done,
        submission_rows.area_done_mu,
        submission_rows.forest_mu,
        submission_rows.farmland_mu,
        submission_rows.grassland_mu,
        submission_rows.stage,
        submission_rows.invested_10k_yuan,
        submission_rows.fund_higher_level,
        submission_rows.fund_district,
        submission_rows.fund_waste_rock,
        submission_rows.fund_social,
        submission_rows.waste_rock_10k_m3,
        submission_rows.supervisor,
        submission_rows.accepted_on,
        stages.stage_rank,
        projects.township_code,
        projects.township_name as planned_township_name,
        projects.plan_year,
        projects.area_planned_mu
    from submission_rows
    {% if is_incremental() %}
        inner join touched_projects
            on
                submission_rows.project_code = touched_projects.project_code
                and submission_rows.report_month >= touched_projects.first_touched_month
    {% endif %}
    left join stages
        on submission_rows.stage = stages.stage
    left join projects
        on submission_rows.project_code = projects.project_code
    where submission_rows.is_current
),

-- The window over the few columns it compares (a project-month is one current row), joined back after:
-- sorting whole rows costs several times more. On an incremental night the window starts at the first
-- month touched, and the month before it comes from months_before.
previous_figures as (
    select
        project_code,
        report_month,
        -- Compared with the last figure the project gave, skipping a month that left it blank.
        lag(patches_done ignore nulls) over project_history as previous_patches_done,
        lag(area_done_mu ignore nulls) over project_history as previous_area_done_mu,
        lag(stage_rank ignore nulls) over project_history as previous_stage_rank
    from current_rows
    window project_history as (partition by project_code order by report_month)
),

rows_with_previous as (
    select
        current_rows.*,
        {% if is_incremental() %}
            coalesce(previous_figures.previous_patches_done, months_before.last_patches_done)
                as previous_patches_done,
            coalesce(previous_figures.previous_area_done_mu, months_before.last_area_done_mu)
                as previous_area_done_mu,
            coalesce(previous_figures.previous_stage_rank, months_before.last_stage_rank) as previous_stage_rank
        {% else %}
            previous_figures.previous_patches_done,
            previous_figures.previous_area_done_mu,
            previous_figures.previous_stage_rank
        {% endif %}
    from current_rows
    inner join previous_figures
        on
            current_rows.project_code = previous_figures.project_code
            and current_rows.report_month = previous_figures.report_month
    {% if is_incremental() %}
        -- Read by the select list's incremental branch (sqlfluff lints the other branch with this join).
        left join months_before  -- noqa: ST11
            on current_rows.project_code = months_before.project_code
    {% endif %}
),

final as (
    select
        project_code,
        report_month,
        township_code,
        planned_township_name as township_name,
        plan_year,
        patches_done,
        area_done_mu,
        forest_mu,
        farmland_mu,
        grassland_mu,
        stage,
        stage_rank,
        invested_10k_yuan,
        fund_higher_level,
        fund_district,
        fund_waste_rock,
        fund_social,
        waste_rock_10k_m3,
        supervisor,
        accepted_on,
        -- The first report's increment is its whole cumulative figure.
        area_done_mu - coalesce(previous_area_done_mu, 0) as area_increment_mu,
        patches_done - coalesce(previous_patches_done, 0) as patches_increment,
        {{ percent('area_done_mu', 'area_planned_mu') }} as pct_area_planned,
        version_count,
        file_id,
        sheet,
        row_number,
        is_sample,
        coalesce(area_done_mu < previous_area_done_mu, false) as flag_area_decreased,
        coalesce(patches_done < previous_patches_done, false) as flag_patches_decreased,
        coalesce(stage_rank < previous_stage_rank, false) as flag_stage_backwards,
        coalesce(area_done_mu > area_planned_mu, false) as flag_area_above_plan
    from rows_with_previous
)

select * from final
