{#-
    The rows an error-severity test reads on an incremental night: only the project-months the night
    wrote, where that finds every failure a test of the whole relation would (docs/operations.md §9).

    What the night wrote is in meta.night_keys (written_to, project_code, report_month), which the build
    creates before dbt runs on an incremental night only (the keys of the raw rows it appended, under
    'raw.submission_rows') and drops after; every incremental model's delete+insert adds the keys of the
    rows it wrote (duckdb__get_incremental_delete_insert_sql, macros/incremental.sql). A full build has no
    such table, so every test reads its whole relation.

    Why the narrowed count equals the whole count: the warehouse the night copied passed every
    error-severity test, and a row the night did not write is that warehouse's row unchanged (the raw
    rows are only appended to; delete+insert leaves the rows whose keys it did not write as they were).
    So every failing row or group of rows holds a row the night wrote, and is read here when
    - the test checks each row alone (not_null, accepted_values), or a row against a parent relation the
      night did not rebuild (relationships: an unchanged child row keeps its parent);
    - the test's groups hold only rows sharing a key that includes one of the column sets the model
      declares (`night_tests.keys`): (project_code, report_month), every row of a written project-month
      is read, the unwritten ones beside the written; file_id on the raw rows, whose files are appended
      whole, so a group holding a new row holds only new rows;
    - a singular test compares rows of the same project-month only, and passes every relation it reads
      with the keys any of them wrote (night_rows's `written`).
    Anything else, a warning-severity test (its count is reported), or a relation a night built whole
    (no keys noted for it, though the table exists), reads the whole relation. tests/test_night_tests.py
    shows narrowed runs failing where whole runs fail.
-#}

{#- dbt calls get_where_subquery for the model of every generic test: this project's replaces its own. -#}
{% macro get_where_subquery(relation) -%}
    {%- set tested = relation -%}
    {%- set written = night_written_for_generic_test() -%}
    {%- if written -%}
        {%- set tested = night_rows(relation, written) -%}
    {%- endif -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- do return('(select * from ' ~ tested ~ ' where ' ~ where ~ ') as dbt_subquery') -%}
    {%- endif -%}
    {%- do return(tested) -%}
{%- endmacro %}

{#- The relations whose written keys narrow the generic test being compiled, or none (read it whole). -#}
{% macro night_written_for_generic_test() -%}
    {%- set node = graph.nodes.get(model.attached_node) if execute and model.attached_node else none -%}
    {%- set declared = node.config.meta.get('night_tests') if node else none -%}
    {%- if not declared or not model.test_metadata -%}
        {%- do return(none) -%}
    {%- endif -%}
    {%- set test = model.test_metadata.name -%}
    {%- set arguments = model.test_metadata.kwargs -%}
    {%- set found = namespace(narrowed=false) -%}
    {%- if test in ('not_null', 'accepted_values') -%}
        {%- set found.narrowed = true -%}
    {%- elif test == 'relationships' -%}
        {#- The parent must hold at least the rows it held when the unwritten child rows passed. -#}
        {%- set parents = model.depends_on.nodes | reject('equalto', model.attached_node) | list -%}
        {%- set found.narrowed = parents | length == 1 and parents[0] not in selected_resources -%}
    {%- elif test in ('unique', 'unique_combination_of_columns') -%}
        {%- set key = arguments.get('combination_of_columns') or [arguments.get('column_name')] -%}
        {%- for columns in declared['keys'] if columns | reject('in', key) | list | length == 0 -%}
            {%- set found.narrowed = true -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if not found.narrowed -%}
        {%- do return(none) -%}
    {%- endif -%}
    {%- do return([declared.get('written') or node.schema ~ '.' ~ node.alias]) -%}
{%- endmacro %}

{#-
    `relation` as a test reads it: on an incremental night, for an error-severity test, its rows of the
    project-months that any of `written` (schema.name of the relations written, as meta.night_keys names
    them) wrote, and its rows with no project or month (no key joins them: kept, so that such a row still
    fails); else `relation` itself.
-#}
{% macro night_rows(relation, written) -%}
    {%- if not execute or (config.get('severity') or 'error') | lower != 'error' -%}
        {%- do return(relation) -%}
    {%- endif -%}
    {%- if not night_keys_exist() -%}
        {%- do return(relation) -%}
    {%- endif -%}
    {%- set listed = "'" ~ written | join("', '") ~ "'" -%}
    {%- if written | reject('in', night_noted_relations(written)) | list -%}
        {#- One of them was built whole tonight (or wrote nothing): test it whole. -#}
        {%- do return(relation) -%}
    {%- endif -%}
    {%- set narrowed -%}
        (
            select tested.*
            from {{ relation }} as tested
            inner join (
                select distinct
                    project_code,
                    report_month
                from meta.night_keys
                where written_to in ({{ listed }})
            ) as night
                on
                    tested.project_code = night.project_code
                    and tested.report_month = night.report_month
            union all
            select *
            from {{ relation }}
            where project_code is null or report_month is null
        ) as night_rows
    {%- endset -%}
    {%- do return(narrowed) -%}
{%- endmacro %}

{#-
    What meta.night_keys says this run, asked of DuckDB once a run rather than by every test: kept in
    dbt's `graph`, the one dict that every node's context shares in a run, under this invocation's id.
    Whether the table exists holds for the whole run (the build makes it before dbt starts and drops it
    after dbt ends). Which relations have keys noted only grows while the run goes on (rows are only
    inserted into it), so a relation found there stays there; one not found is asked for again. A test
    of a relation compiles after the relation's model ran, so it sees its keys once they are noted.
-#}
{% macro night_keys_state() -%}
    {%- set key = 'regreen_night_keys:' ~ invocation_id -%}
    {%- if key not in graph -%}
        {%- set found = run_query(
            "select count(*) from duckdb_tables() where database_name = current_database() "
            ~ "and schema_name = 'meta' and table_name = 'night_keys'"
        ) -%}
        {%- do graph.update({key: {'exists': found.columns[0].values()[0] > 0, 'noted': []}}) -%}
    {%- endif -%}
    {%- do return(graph[key]) -%}
{%- endmacro %}

{#- Whether this is an incremental night: the build made meta.night_keys before dbt runs. -#}
{% macro night_keys_exist() -%}
    {%- do return(night_keys_state()['exists']) -%}
{%- endmacro %}

{#- The relations (schema.name) that meta.night_keys holds keys for by now; asked of DuckDB again only
    when one is missing from what was asked before. -#}
{% macro night_noted_relations(wanted) -%}
    {%- set state = night_keys_state() -%}
    {%- if wanted | reject('in', state['noted']) | list -%}
        {%- set noted = run_query("select distinct written_to from meta.night_keys") -%}
        {%- do state.update({'noted': noted.columns[0].values() | list}) -%}
    {%- endif -%}
    {%- do return(state['noted']) -%}
{%- endmacro %}
