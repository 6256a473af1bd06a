{#-
    For an incremental model keyed on (project_code, report_month): the rows of `rows` (a CTE) for the
    project-months that rows of new files touch, all their versions included. File ids only grow, so a
    new file's id is above any that `loaded` (the model's own table) holds.
-#}
{% macro rows_of_touched_months(rows, loaded) -%}
    select {{ rows }}.*
    from {{ rows }}
    inner join (
        select distinct
            project_code,
            report_month
        from {{ rows }}
        where file_id > (select coalesce(max(loaded.file_id), 0) from {{ loaded }} as loaded)
    ) as touched_months
        on
            {{ rows }}.project_code = touched_months.project_code
            and {{ rows }}.report_month = touched_months.report_month
{%- endmacro %}

{#-
    For an incremental model keyed on (project_code, report_month) whose months depend on the months
    before them (increments, flags): each project that rows of new files touch, with the earliest month
    they touch (`first_touched_month`); that month and every later one of the project must be computed
    again, the months before it stand. Only the new files' rows are read. `loaded` (the model's own
    table) holds the current version's file_id of each month it holds: a file above all of them is new
    (file ids only grow). A new file none of whose rows became current stays above them and is counted
    new again on a later night, which recomputes what it touched once more: more work, never a month
    missed.
-#}
{% macro project_months_touched(rows, loaded) -%}
    select
        project_code,
        min(report_month) as first_touched_month
    from {{ rows }}
    where file_id > (select coalesce(max(loaded.file_id), 0) from {{ loaded }} as loaded)
    group by project_code
{%- endmacro %}

{#-
    The incremental models' delete+insert (dbt's own), and on an incremental night (the build made
    meta.night_keys) the keys of every row it wrote, noted for the tests that read only what a night
    wrote (macros/night_tests.sql). The keys it deletes are the keys it inserts, so these are all the
    project-months whose rows differ from the warehouse the night copied. A model keyed otherwise notes
    nothing, and its tests read it whole.
-#}
{% macro duckdb__get_incremental_delete_insert_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {{ default__get_incremental_delete_insert_sql(arg_dict) }}
    {%- if arg_dict['unique_key'] | list == ['project_code', 'report_month'] and night_keys_exist() %};
        insert into meta.night_keys
        select distinct
            '{{ target.schema }}.{{ target.identifier }}' as written_to,
            project_code,
            report_month
        from {{ arg_dict['temp_relation'] }}
    {%- endif %}
{%- endmacro %}
