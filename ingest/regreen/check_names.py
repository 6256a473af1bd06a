"""A dbt test's generated id (`not_null_fct_plan_township_code`) as a sentence people read.

dbt names a generic test `<test>_<model>_<column>[_<arguments>]`; models and columns contain
underscores too, so the id is split against the relations and columns the warehouse actually has. A
singular test is `test_<entity>__<assertion>` (tests/dbt/). An id that fits neither is returned as is.
"""

from __future__ import annotations

from collections.abc import Mapping, Set

# test -> (Chinese, English) with {table}, {column}, {rest} filled in
GENERIC_TESTS: dict[str, tuple[str, str]] = {
    "unique_combination_of_columns": ("{table} 中 {rest} 的组合不重复", "{table} has one row per {rest}"),
    "accepted_values": ("{table}.{column} 只取 {rest}", "{table}.{column} is one of {rest}"),
    "relationships": ("{table}.{column} 都能在 {rest} 中找到", "every {table}.{column} is found in {rest}"),
    "expression_is_true": (
        "{table}.{column} 符合模型中定义的取值规则",
        "{table}.{column} keeps to the rule its model defines",
    ),
    "not_null": ("{table}.{column} 不为空", "{table}.{column} is never empty"),
    "unique": ("{table}.{column} 无重复值", "{table}.{column} has no duplicate values"),
}


def check_sentence(check_id: str, columns: Mapping[str, Set[str]]) -> str:
    """`check_id` as "中文 / English"; `columns` maps each relation name to its column names."""
    if check_id.startswith("test_") and "__" in check_id:
        entity, assertion = check_id.removeprefix("test_").split("__", 1)
        return f"{entity}：{assertion.replace('_', ' ')} / {entity}: {assertion.replace('_', ' ')}"
    for test, (zh, en) in GENERIC_TESTS.items():  # longest names first, so `unique_…` is tried last
        if not check_id.startswith(test + "_"):
            continue
        rest_of_id = check_id.removeprefix(test + "_")
        for table in sorted(columns, key=len, reverse=True):
            if not rest_of_id.startswith(table + "_"):
                continue
            after_table = rest_of_id.removeprefix(table + "_")
            if test == "unique_combination_of_columns":
                listed = ", ".join(after_table.split("__"))
                return f"{zh} / {en}".format(table=table, column="", rest=listed)
            for column in sorted(columns[table], key=len, reverse=True):
                if after_table == column or after_table.startswith(column + "_"):
                    rest = _arguments(test, after_table.removeprefix(column).strip("_"))
                    return f"{zh} / {en}".format(table=table, column=column, rest=rest)
    return check_id


def _arguments(test: str, encoded: str) -> str:
    """The test's arguments as dbt encoded them into the id, made readable."""
    parts = [part for part in encoded.split("__") if part]
    if test == "relationships" and len(parts) >= 2:
        # `<field>__ref_<model>_`: the column it points at, in the model it points at
        return f"{parts[1].removeprefix('ref_').strip('_')}.{parts[0]}"
    return ", ".join(parts)
