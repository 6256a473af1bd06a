-- Each project's last figures given (a blank figure carries the one before it) as of its latest reported
-- month, and, for a project that reported in the warehouse's latest month, as of the month before it:
-- what changes_since_last_month_project compares, without reading every project-month again.
-- Incremental: a night recomputes only the projects that rows of new files touch. A project whose new
-- months all come after its latest month here adds them to the figures it carries (every earlier month
-- is before them); one with a restated or late month (at or before its latest) is recomputed from all
-- its months. When the latest month moves on, a project that reported in the one before and not since
-- loses its figures as of the month before. File ids only grow: a month's current version from a new
-- file has a file id above any this table holds.
{{ config(
    materialized='incremental', unique_key='project_code', incremental_strategy='delete+insert'
) }}

with

-- Read twice (the latest month, the months themselves): not copied whole into a materialised CTE. The
-- mart, read by an intermediate model: the project-months are computed and written once, in
-- fct_project_month (an intermediate copy of them cost a wide table of 4.2 M rows at 100×).
project_months as not materialized (
    select * from {{ ref('fct_project_month') }}
),

{% if is_incremental() %}
    new_months as materialized (
        select
            project_code,
            report_month,
            file_id,
            area_done_mu,
            patches_done,
            stage,
            invested_10k_yuan
        from project_months
        where file_id > (select coalesce(max(loaded.last_file_id), 0) from {{ this }} as loaded)
    ),

    -- Months never go away: the latest is the latest of this table's and the new ones.
    months as (
        select
            cast(max(report_month) - interval 1 month as date) as previous_month,
            max(report_month) as as_of_month
        from (
            select last_report_month as report_month from {{ this }}
            union all
            select report_month from new_months
        )
    ),

    touched as (
        select
            new_months.project_code,
            min(new_months.report_month) as first_touched_month,
            any_value(loaded.last_report_month) as last_report_month
        from new_months
        left join {{ this }} as loaded
            on new_months.project_code = loaded.project_code
        group by new_months.project_code
    ),

    -- The figures carried from before the new months, for the projects whose new months all come later.
    carried as (
        select loaded.*
        from {{ this }} as loaded
        inner join touched
            on
                loaded.project_code = touched.project_code
                and touched.first_touched_month > touched.last_report_month
    ),

    months_in_reach as (
        select new_months.*
        from new_months
        inner join carried
            on new_months.project_code = carried.project_code
        union all
        select
            project_months.project_code,
            project_months.report_month,
            project_months.file_id,
            project_months.area_done_mu,
            project_months.patches_done,
            project_months.stage,
            project_months.invested_10k_yuan
        from project_months
        inner join touched
            on project_months.project_code = touched.project_code
        where touched.last_report_month is null or touched.first_touched_month <= touched.last_report_month
    ),

    -- Untouched projects that reported in the month before the latest and not in it: their figures as of
    -- the month before are now their last ones, kept once (null prior_*).
    passed_over as (
        select
            loaded.project_code,
            loaded.last_report_month,
            loaded.last_file_id,
            loaded.area_done_mu,
            loaded.patches_done,
            loaded.stage,
            loaded.invested_10k_yuan,
            null as prior_area_done_mu,
            null as prior_patches_done,
            null as prior_stage,
            null as prior_invested_10k_yuan
        from {{ this }} as loaded
        cross join months
        left join touched
            on loaded.project_code = touched.project_code
        where
            touched.project_code is null
            and loaded.last_report_month < months.as_of_month
            and (
                loaded.prior_area_done_mu is not null
                or loaded.prior_patches_done is not null
                or loaded.prior_stage is not null
                or loaded.prior_invested_10k_yuan is not null
            )
    ),
{% else %}
    months as (
        select
            cast(max(report_month) - interval 1 month as date) as previous_month,
            max(report_month) as as_of_month
        from project_months
    ),

    months_in_reach as (
        select * from project_months
    ),
{% endif %}

-- One pass over the months: the last figure given (arg_max skips a blank one) up to the latest month,
-- and up to the month before the warehouse's latest.
figures as (
    select
        months_in_reach.project_code,
        max(months_in_reach.report_month) as last_report_month,
        max(months_in_reach.file_id) as last_file_id,
        arg_max(months_in_reach.area_done_mu, months_in_reach.report_month) as area_done_mu,
        arg_max(months_in_reach.patches_done, months_in_reach.report_month) as patches_done,
        arg_max(months_in_reach.stage, months_in_reach.report_month) as stage,
        arg_max(months_in_reach.invested_10k_yuan, months_in_reach.report_month) as invested_10k_yuan,
        arg_max(months_in_reach.area_done_mu, months_in_reach.report_month)
        filter (where months_in_reach.report_month <= months.previous_month) as before_area_done_mu,
        arg_max(months_in_reach.patches_done, months_in_reach.report_month)
        filter (where months_in_reach.report_month <= months.previous_month) as before_patches_done,
        arg_max(months_in_reach.stage, months_in_reach.report_month)
        filter (where months_in_reach.report_month <= months.previous_month) as before_stage,
        arg_max(months_in_reach.invested_10k_yuan, months_in_reach.report_month)
        filter (where months_in_reach.report_month <= months.previous_month) as before_invested_10k_yuan
    from months_in_reach
    cross join months
    group by months_in_reach.project_code
),

{% if is_incremental() %}
    -- A project with earlier months carried: a figure its new months leave blank is the one carried,
    -- and every carried month is before the previous month.
    figures_with_carried as (
        select
            figures.project_code,
            figures.last_report_month,
            figures.last_file_id,
            coalesce(figures.area_done_mu, carried.area_done_mu) as area_done_mu,
            coalesce(figures.patches_done, carried.patches_done) as patches_done,
            coalesce(figures.stage, carried.stage) as stage,
            coalesce(figures.invested_10k_yuan, carried.invested_10k_yuan) as invested_10k_yuan,
            coalesce(figures.before_area_done_mu, carried.area_done_mu) as before_area_done_mu,
            coalesce(figures.before_patches_done, carried.patches_done) as before_patches_done,
            coalesce(figures.before_stage, carried.stage) as before_stage,
            coalesce(figures.before_invested_10k_yuan, carried.invested_10k_yuan) as before_invested_10k_yuan
        from figures
        left join carried
            on figures.project_code = carried.project_code
    ),
{% else %}
    figures_with_carried as (
        select * from figures
    ),
{% endif %}

final as (
    select
        figures_with_carried.project_code,
        figures_with_carried.last_report_month,
        figures_with_carried.last_file_id,
        figures_with_carried.area_done_mu,
        figures_with_carried.patches_done,
        figures_with_carried.stage,
        figures_with_carried.invested_10k_yuan,
        -- Kept only where the last month is the latest (else they are the last figures).
        case
            when figures_with_carried.last_report_month = months.as_of_month
                then figures_with_carried.before_area_done_mu
        end as prior_area_done_mu,
        case
            when figures_with_carried.last_report_month = months.as_of_month
                then figures_with_carried.before_patches_done
        end as prior_patches_done,
        case
            when figures_with_carried.last_report_month = months.as_of_month
                then figures_with_carried.before_stage
        end as prior_stage,
        case
            when figures_with_carried.last_report_month = months.as_of_month
                then figures_with_carried.before_invested_10k_yuan
        end as prior_invested_10k_yuan
    from figures_with_carried
    cross join months
    {% if is_incremental() %}
        union all
        select * from passed_over
    {% endif %}
)

select * from final
