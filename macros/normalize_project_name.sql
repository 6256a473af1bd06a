{#-
    The one normalisation of a plan project's name, so that names written differently match:
    the township written the way the name writes it (张坂镇, 张坂, 百崎乡 …) becomes its short name,
    every village alias in reference.name_aliases becomes its canonical name (菘山村 → 崧山村), and
    、, 废弃矿山生态治理项目 and 项目 are dropped.
        张坂镇菘山村二分区废弃矿山生态治理项目 → 张坂崧山村二分区
        百崎莲埭、下埭村废弃矿山生态治理项目   → 百崎莲埭下埭村
    The arguments are SQL expressions: the name as printed, the township prefix as it is written in the
    name, and the township's short name. The aliases are read from the seed when dbt runs the model
    (the seed is built first: the ref below makes it a parent of every model that calls this macro);
    a plain `dbt compile` on a database without the seed renders the name without them.
-#}
{% macro normalize_project_name(project_name, township_as_written, township_short_name) -%}
    {%- set name_aliases = ref('name_aliases') -%}
    {%- set aliased = namespace(
        sql=township_short_name ~ " || substr(" ~ project_name ~ ", length(" ~ township_as_written ~ ") + 1)"
    ) -%}
    {%- if execute and load_relation(name_aliases) is not none -%}
        {%- set village_aliases = run_query(
            "select alias, canonical from " ~ name_aliases ~ " where kind = 'village' order by length(alias) desc, alias"
        ) -%}
        {%- for alias, canonical in village_aliases.rows -%}
            {%- set aliased.sql = "replace(" ~ aliased.sql ~ ", " ~ sql_string(alias) ~ ", "
                ~ sql_string(canonical) ~ ")" -%}
        {%- endfor -%}
    {%- endif -%}
    replace(replace(replace({{ aliased.sql }}, '废弃矿山生态治理项目', ''), '项目', ''), '、', '')
{%- endmacro %}

{#- A Python string as a SQL string literal. -#}
{% macro sql_string(text) -%}
    '{{ text | replace("'", "''") }}'
{%- endmacro %}
