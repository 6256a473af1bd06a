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
