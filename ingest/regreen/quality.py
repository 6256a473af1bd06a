"""Run the Great Expectations suites in expectations/ against the built warehouse.

Each suite is one JSON file in GX's own ExpectationSuite form. Its `meta.regreen` holds the DuckDB query
whose result the suite checks (`query`), a `description`, and `keys`: the columns that identify a row,
reported for every row a row-level expectation rejects. Each expectation's `meta` holds its bilingual
`check` name, its `severity` ("error" blocks publishing, "warning" is reported only) and, for a
column-pair expectation, optionally `observed_column` (default column_B): the column whose values are
reported as observed, the other column being what they are held against.

The suite runs through GX's pandas datasource, because GX's SQL datasource over duckdb-engine returns
empty results (GX issue 11579), but never on the whole query result: each expectation is pushed down to
SQL (see `pushdown`), all of a suite's in one DuckDB query over the suite's query (`suite_sql`), and GX
runs it on what that SQL returns — the counts and the first MAX_LISTED_ROWS offending rows, or one
aggregate — so what reaches pandas does not grow with the data, and the query result is never stored.

A string "{{name}}" anywhere in a suite is the figure `name` of the plan's contract
(expectations/contracts/, or <data-dir>/contracts/ for a notice regreen does not bundle; see
`find_contract`); an expectation whose meta says "for_each": "year" is repeated for every year of the
contract's `years`, `{{year}}` being the year and `{{year.patches}}` its figure.

A check never passes by not running: a suite whose query fails gives one failed error-level result, and
an expectation GX cannot evaluate (e.g. on a column the query does not return) is a failed error-level
result whatever its declared severity. On an empty result (e.g. no progress submitted yet) GX's
row-level expectations pass with element_count 0, and their details say "0 rows checked"; aggregate
expectations still compute (a sum over no rows is 0) and fail against their expected figures.
"""

from __future__ import annotations

import importlib
import json
import math
import re
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd

from regreen.errors import RegreenError
from regreen.log import logger
from regreen.memory import memory_limit_of
from regreen.project import BUNDLED_CONTRACT, CONTRACTS_DIR, EXPECTATIONS_DIR

if TYPE_CHECKING:
    import great_expectations as gx
    from great_expectations.core.expectation_validation_result import ExpectationValidationResult
    from great_expectations.expectations.expectation import Expectation

SEVERITIES = ("error", "warning")
# Offending rows listed in a result's details, and values in its observed/expected; the count of all
# offending rows is always given in the details.
MAX_LISTED_ROWS = 20
MAX_LISTED_VALUES = 5
QUERY_CHECK = "套件查询可执行 / suite query runs"


class SuiteFileError(RegreenError):
    """An expectation suite file cannot be used as written."""

    def __init__(self, path: Path, problem_zh: str, problem_en: str) -> None:
        self.path = path
        super().__init__(
            f"检查套件文件 {path} 无法使用：{problem_zh}",
            f"expectation suite file {path} cannot be used: {problem_en}",
        )


@dataclass(frozen=True)
class Suite:
    name: str
    query: str
    description: str
    keys: tuple[str, ...]
    expectations: gx.ExpectationSuite
    path: Path
    checks: tuple[PushedCheck, ...]  # the expectations, in suite order, as they run in DuckDB
    incremental: Incremental | None = None  # how an incremental build may narrow it (`Incremental`)


@dataclass(frozen=True)
class Incremental:
    """How a suite runs on an incremental build: its error-level row checks on a window of its rows, the
    other checks on the whole, when that gives what the whole query would (`narrow_suite`).

    From the suite's `meta.regreen.incremental`: `by`, the columns whose values decide whether a row is in
    the window; `touched` (SQL, may read the base warehouse as `base`) gives the window's scope, kept as
    the temp table `regreen_touched`; `window` gives the CTEs that the
    suite's own `final` CTE reads, for the window's rows alone (the query's `final` CTE and what follows
    it are appended, so the checked columns are worked out by one text); `outside` gives the rows outside
    the window, with the keys and every column that a check run on the whole reads; `unchanged` must give
    the same row on the base warehouse and on the build (what `outside` reads has not changed)."""

    by: tuple[str, ...]
    touched: str
    window: str
    outside: str
    unchanged: str


@dataclass(frozen=True)
class CheckResult:
    suite: str
    check: str
    severity: str  # 'error' | 'warning'
    status: str  # 'passed' | 'warned' | 'failed'
    observed: str | None
    expected: str | None
    details: str | None
    run_id: str
    carried_from_run: str | None = None  # the run that checked it, when this build did not run it again


def preload_great_expectations() -> threading.Thread:
    """Start importing Great Expectations in the background, and return the thread doing it.

    The import takes about three seconds. The build starts it as dbt begins, while this process only
    waits for the dbt child, so the suites do not pay for it afterwards; the commands that never run
    a suite (check, ingest, template) never import it at all.
    """
    thread = threading.Thread(
        target=importlib.import_module, args=("great_expectations",), name="import-gx", daemon=True
    )
    thread.start()
    return thread


def suite_relations(suite: Suite) -> set[str] | None:
    """The `schema.table` relations the suite's query reads, or None if DuckDB cannot parse it."""
    try:
        return duckdb.get_table_names(suite.query, qualified=True)
    except duckdb.Error:
        return None


# --- the plan's figures ------------------------------------------------------------------------------


class PlanContractError(RegreenError):
    """No usable contract holds the figures of the plan being checked."""

    def __init__(
        self, document_number: str, folders: Sequence[Path], problem_zh: str, problem_en: str
    ) -> None:
        self.document_number = document_number
        where = "、".join(str(folder) for folder in folders)
        super().__init__(
            f"方案 {document_number} 的数字契约（{where}）{problem_zh}",
            f"the figure contract of plan {document_number} (in {where}) {problem_en}",
        )


@dataclass(frozen=True)
class PlanContract:
    """The figures one notice commits to, which the plan suites enforce (`{{name}}` in a suite)."""

    document_number: str
    figures: Mapping[str, Any]
    path: Path

    def figure(self, name: str) -> Any:
        """`2023.patches` → figures["2023"]["patches"]."""
        value: Any = self.figures
        for part in name.split("."):
            if not isinstance(value, Mapping) or part not in value:
                raise KeyError(name)
            value = value[part]
        return value


def read_contract(path: Path) -> PlanContract:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SuiteFileError(path, f"不是可读的 JSON（{exc}）", f"it is not readable JSON ({exc})") from exc
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("document_number"), str)
        or not isinstance(data.get("figures"), dict)
    ):
        raise SuiteFileError(
            path, "须含 document_number 与 figures", "it needs a `document_number` and `figures`"
        )
    return PlanContract(data["document_number"], data["figures"], path)


def find_contract(document_number: str, folders: Sequence[Path] = (CONTRACTS_DIR,)) -> PlanContract:
    """The contract in `folders` whose document_number is `document_number`: exactly one must be."""
    found = [
        contract
        for folder in folders
        if folder.is_dir()
        for contract in map(read_contract, sorted(folder.glob("*.json")))
        if contract.document_number == document_number
    ]
    if not found:
        raise PlanContractError(
            document_number,
            folders,
            "不存在：请写一份（格式见 expectations/contracts/）",
            "does not exist: write one (see expectations/contracts/ for the form)",
        )
    if len(found) > 1:
        paths = ", ".join(str(c.path) for c in found)
        raise PlanContractError(
            document_number, folders, f"有多份：{paths}", f"exists more than once: {paths}"
        )
    return found[0]


_PLACEHOLDER = re.compile(r"\{\{([^{}]+)\}\}")


def _with_figures(path: Path, value: Any, contract: PlanContract) -> Any:
    """`value` with each `{{name}}` replaced by the contract's figure: a whole-string placeholder by the
    figure itself (a number, a list), one inside text by the figure as written."""

    def figure(name: str) -> Any:
        try:
            return contract.figure(name)
        except KeyError:
            raise SuiteFileError(
                path,
                f"数字契约 {contract.path} 中没有 {name}",
                f"the figure contract {contract.path} has no {name!r}",
            ) from None

    if isinstance(value, str):
        whole = _PLACEHOLDER.fullmatch(value)
        if whole:
            return figure(whole[1])
        return _PLACEHOLDER.sub(lambda m: _fmt(figure(m[1])), value)
    if isinstance(value, list):
        return [_with_figures(path, item, contract) for item in value]
    if isinstance(value, dict):
        return {key: _with_figures(path, item, contract) for key, item in value.items()}
    return value


def _for_each_year(path: Path, items: list[Any], contract: PlanContract) -> list[Any]:
    """The expectations with each run of consecutive `"for_each": "year"` ones (in their meta) repeated
    for every year of the contract's `years`, year by year: `{{year}}` is the year, `{{year.patches}}`
    that year's figure."""
    years = contract.figures.get("years")
    expanded: list[Any] = []
    block: list[Any] = []

    def flush() -> None:
        if block and not isinstance(years, Mapping):
            raise SuiteFileError(
                path,
                f"数字契约 {contract.path} 中没有 years",
                f"the figure contract {contract.path} has no 'years'",
            )
        for year in years or ():
            for item in block:
                text = json.dumps(item, ensure_ascii=False).replace('"{{year}}"', str(int(year)))
                text = text.replace("{{year}}", str(year)).replace("{{year.", f"{{{{years.{year}.")
                repeated = json.loads(text)
                repeated["meta"].pop("for_each")
                expanded.append(repeated)
        block.clear()

    for item in items:
        if (
            isinstance(item, dict)
            and isinstance(item.get("meta"), dict)
            and item["meta"].get("for_each") == "year"
        ):
            block.append(item)
        else:
            flush()
            expanded.append(item)
    flush()
    return expanded


# --- loading --------------------------------------------------------------------------------------


def load_suites(folder: Path = EXPECTATIONS_DIR, contract: PlanContract | None = None) -> list[Suite]:
    """Every `*.json` suite in `folder`, by file name, with the figures of `contract` (default: the
    bundled notice's)."""
    contract = contract or read_contract(BUNDLED_CONTRACT)
    return [_load_suite(path, contract) for path in sorted(folder.glob("*.json"))]


def _load_suite(path: Path, contract: PlanContract) -> Suite:
    import great_expectations as gx

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SuiteFileError(path, f"不是可读的 JSON（{exc}）", f"it is not readable JSON ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("expectations"), list):
        raise SuiteFileError(path, "缺少 expectations 列表", "it has no `expectations` list")
    data = _with_figures(
        path, {**data, "expectations": _for_each_year(path, data["expectations"], contract)}, contract
    )
    regreen = data.get("meta", {}).get("regreen", {})
    query, description, keys = regreen.get("query"), regreen.get("description"), regreen.get("keys")
    if (
        not isinstance(query, str)
        or not query.strip()
        or not isinstance(description, str)
        or not isinstance(keys, list)
        or not keys
        or not all(isinstance(key, str) for key in keys)
    ):
        raise SuiteFileError(
            path,
            "meta.regreen 须含 query、description 与 keys（标识一行的列名列表）",
            "meta.regreen needs a `query`, a `description` and `keys` (the columns that identify a row)",
        )
    # ExpectationSuite's constructor logs and drops an expectation it cannot build; a dropped
    # expectation is a check that can never fail, so each one is built here first and refused loudly.
    expectations = [_build_expectation(path, index, item) for index, item in enumerate(data["expectations"])]
    checks = [exp.meta["check"] for exp in expectations]
    duplicated = sorted({check for check in checks if checks.count(check) > 1})
    if duplicated:
        raise SuiteFileError(path, f"检查名称重复：{duplicated}", f"check names are repeated: {duplicated}")
    try:
        suite = gx.ExpectationSuite(**{**data, "expectations": expectations})
    except (TypeError, ValueError) as exc:
        raise SuiteFileError(path, f"GX 无法读取：{exc}", f"GX cannot read it: {exc}") from exc
    pushed = tuple(pushdown(path, index, item, keys) for index, item in enumerate(data["expectations"]))
    return Suite(
        name=suite.name,
        query=query,
        description=description,
        keys=tuple(keys),
        expectations=suite,
        path=path,
        checks=pushed,
        incremental=_incremental(path, query, regreen.get("incremental")),
    )


FINAL_CTE = "\nfinal as ("


def _incremental(path: Path, query: str, spec: Any) -> Incremental | None:
    if spec is None:
        return None
    parts = ("touched", "window", "outside", "unchanged")
    if (
        not isinstance(spec, dict)
        or not all(isinstance(spec.get(part), str) and spec[part].strip() for part in parts)
        or not isinstance(spec.get("by"), list)
        or not spec["by"]
        or not all(isinstance(column, str) for column in spec["by"])
        or FINAL_CTE not in query
    ):
        raise SuiteFileError(
            path,
            "meta.regreen.incremental 须含 by（列名列表）与 touched、window、outside、unchanged 查询，且 query 须有 final CTE",
            "meta.regreen.incremental needs `by` (a list of columns) and `touched`, `window`, `outside` and "
            "`unchanged` queries, and the query a `final` CTE",
        )
    final = query[query.index(FINAL_CTE) + 1 :]
    window = spec["window"].rstrip() + "\n\n" + final
    return Incremental(tuple(spec["by"]), spec["touched"], window, spec["outside"], spec["unchanged"])


def _build_expectation(path: Path, index: int, item: Any) -> Expectation:
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    where = f"expectations[{index}]"
    try:
        expectation = ExpectationConfiguration(**item).to_domain_obj()
    except Exception as exc:  # GX raises pydantic, GX and type errors alike for a bad configuration
        reason = " ".join(str(exc).split())  # pydantic spreads one error over lines; the CLI prints one
        raise SuiteFileError(path, f"{where} 无效：{reason}", f"{where} is not valid: {reason}") from exc
    meta = expectation.meta or {}
    if not isinstance(meta.get("check"), str) or meta.get("severity") not in SEVERITIES:
        raise SuiteFileError(
            path,
            f"{where} 的 meta 须含 check 名称与 severity（error 或 warning）",
            f"{where} needs a `check` name and a `severity` (error or warning) in its meta",
        )
    pair = (item["kwargs"].get("column_A"), item["kwargs"].get("column_B"))
    if "observed_column" in meta and meta["observed_column"] not in pair:
        raise SuiteFileError(
            path,
            f"{where} 的 observed_column 须为 column_A 或 column_B",
            f"{where}: observed_column must be its column_A or its column_B",
        )
    return expectation


# --- pushing an expectation down to DuckDB -----------------------------------------------------------
#
# The suite's query result is never fetched, nor stored. A suite runs as ONE DuckDB query (`suite_sql`)
# that streams the query's rows into aggregates: for a row-level expectation, the count of the rows it
# checks and the count of those that break it; for an aggregate expectation, the one aggregate it tests.
# Only when a row-level expectation fails is the query run again, for the first MAX_LISTED_ROWS rows that
# break each failing one, in key order (a bounded top-N). That one-row result is kept in a temp table,
# each expectation's bounded frame is read out of it, and GX runs the expectation on that frame
# (row-level: on the listed offending rows; aggregate: the same or an equivalent expectation on the
# aggregate). So what passes and what is reported is still GX's verdict, on a frame whose size does not
# grow with the data, and the data are read once per suite (twice when a row-level check fails) however
# many expectations it holds.

SUITE_CHECKS = "regreen_suite_checks"  # the temp table holding the running suite's one-row result
CANNOT_EVALUATE = "GX 无法执行此检查 / GX could not evaluate this check: "
SCALARS = -1  # the frame of a suite's scalar aggregates, which share it, among the frames by check position


@dataclass(frozen=True)
class PushedCheck:
    """One expectation as SQL over the suite's rows, and the expectation GX runs on its bounded result."""

    kind: str  # 'rows': checked and offending rows; 'aggregate': one bounded aggregate
    selects: str  # SQL true for the rows it checks (rows) or aggregates (aggregate): its row condition
    selects_params: tuple[Any, ...]
    violating: str  # rows: the SQL a checked row breaks it by; aggregate: ''
    violating_params: tuple[Any, ...]
    # uniqueness: a checked row breaks it only if these columns' value repeats among the checked rows
    repeated_in: tuple[str, ...]
    listed: tuple[str, ...]  # rows: the columns shown for an offending row (the keys, then its columns)
    aggregate: str  # aggregate: the SQL aggregate, `{rows}` standing for its FILTER clause; rows: ''
    unnest: bool  # aggregate: the aggregate is a list, one row of GX's frame per value
    columns: tuple[str, ...]  # the columns the expectation reads
    runs_as: dict[str, Any]  # the expectation GX runs on the bounded result (no row_condition)
    meta: Mapping[str, Any]
    type: str
    kwargs: Mapping[str, Any]

    @property
    def needs(self) -> tuple[str, ...]:
        """The columns the suite's query must return for this check to run."""
        return self.listed if self.kind == "rows" else self.columns


_OPERATORS = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _condition_sql(path: Path, where: str, condition: Any) -> tuple[str, list[Any]]:
    """A GX row_condition (its JSON form) as DuckDB SQL with its parameters."""
    if condition is None:
        return "true", []
    kind = condition.get("type") if isinstance(condition, dict) else None
    if kind in ("and", "or"):
        parts = [_condition_sql(path, where, part) for part in condition.get("conditions", [])]
        joined = f" {kind} ".join(f"({sql})" for sql, _ in parts) or "true"
        return joined, [param for _, params in parts for param in params]
    if kind == "nullity":
        column = _ident(condition["column"]["name"])
        return f"{column} is {'' if condition['is_null'] else 'not '}null", []
    if kind == "comparison":
        column, operator, parameter = (
            _ident(condition["column"]["name"]),
            condition["operator"],
            condition["parameter"],
        )
        if operator in _OPERATORS:
            return f"{column} {_OPERATORS[operator]} ?", [parameter]
        if operator in ("IN", "NOT_IN"):
            negated = "not " if operator == "NOT_IN" else ""
            return f"{negated}list_contains(?, {column})", [list(parameter)]
    raise SuiteFileError(
        path,
        f"{where} 的 row_condition 无法在 DuckDB 中执行：{condition}",
        f"{where}: its row_condition cannot run in DuckDB: {condition}",
    )


def _row_violation(
    kwargs: Mapping[str, Any], expectation_type: str
) -> tuple[str, list[Any], tuple[str, ...], tuple[str, ...]]:
    """For a row-level expectation: (the SQL a row breaks it by, its parameters, the columns it reads,
    the columns whose repeated value also breaks it), following GX's pandas semantics (a column map
    skips nulls; a pair skips by ignore_row_if)."""
    if expectation_type in ("expect_column_values_to_not_be_null",):
        column = _ident(kwargs["column"])
        return f"{column} is null", [], (kwargs["column"],), ()
    if expectation_type == "expect_column_values_to_be_in_set":
        column = _ident(kwargs["column"])
        return (
            f"{column} is not null and not list_contains(?, {column})",
            [list(kwargs["value_set"])],
            (kwargs["column"],),
            (),
        )
    if expectation_type == "expect_column_values_to_be_between":
        column = _ident(kwargs["column"])
        tests, params = [], []
        if kwargs.get("min_value") is not None:
            tests.append(f"{column} {'<=' if kwargs.get('strict_min') else '<'} ?")
            params.append(kwargs["min_value"])
        if kwargs.get("max_value") is not None:
            tests.append(f"{column} {'>=' if kwargs.get('strict_max') else '>'} ?")
            params.append(kwargs["max_value"])
        return f"{column} is not null and ({' or '.join(tests) or 'false'})", params, (kwargs["column"],), ()
    if expectation_type in ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"):
        names = (kwargs["column"],) if "column" in kwargs else tuple(kwargs["column_list"])
        # GX skips a row whose (compound) value is wholly missing; the others break it when repeated.
        present = " or ".join(f"{_ident(n)} is not null" for n in names)
        return present, [], names, names
    a, b = kwargs["column_A"], kwargs["column_B"]
    col_a, col_b = _ident(a), _ident(b)
    ignore = kwargs.get("ignore_row_if", "both_values_are_missing")
    skipped = {
        "both_values_are_missing": f"({col_a} is null and {col_b} is null)",
        "either_value_is_missing": f"({col_a} is null or {col_b} is null)",
        "neither": "false",
    }[ignore]
    if expectation_type == "expect_column_pair_values_to_be_equal":
        broken = f"{col_a} is distinct from {col_b}"
    else:
        broken = f"not coalesce({col_a} {'>=' if kwargs.get('or_equal') else '>'} {col_b}, false)"
    return f"not {skipped} and {broken}", [], (a, b), ()


ROW_TYPES = (
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_be_between",
    "expect_column_values_to_be_unique",
    "expect_compound_columns_to_be_unique",
    "expect_column_pair_values_to_be_equal",
    "expect_column_pair_values_a_to_be_greater_than_b",
)
AGGREGATE_TYPES = (
    "expect_column_sum_to_be_between",
    "expect_column_unique_value_count_to_be_between",
    "expect_table_row_count_to_equal",
    "expect_column_distinct_values_to_contain_set",
)


def pushdown(path: Path, index: int, item: Mapping[str, Any], keys: Sequence[str]) -> PushedCheck:
    """The SQL the suite's `index`th expectation runs as, and what GX runs on its result."""
    where = f"expectations[{index}]"
    expectation_type, kwargs = item["type"], dict(item["kwargs"])
    condition, params = _condition_sql(path, where, kwargs.pop("row_condition", None))
    kwargs.pop("condition_parser", None)
    meta = item.get("meta", {})
    runs_as: dict[str, Any] = {"type": expectation_type, "kwargs": kwargs, "meta": meta}
    if expectation_type in ROW_TYPES:
        violating, violating_params, columns, repeated_in = _row_violation(kwargs, expectation_type)
        listed = tuple(dict.fromkeys([*keys, *columns]))
        return PushedCheck(
            "rows", condition, tuple(params), violating, tuple(violating_params), repeated_in, listed,
            "", False, columns, runs_as, meta, expectation_type, item["kwargs"],
        )  # fmt: skip
    if expectation_type not in AGGREGATE_TYPES:
        supported = ", ".join(ROW_TYPES + AGGREGATE_TYPES)
        raise SuiteFileError(
            path,
            f"{where} 的类型 {expectation_type} 不能下推到 DuckDB；可用：{supported}",
            f"{where}: {expectation_type} cannot be pushed down to DuckDB; use one of: {supported}",
        )
    # GX reads the aggregate as column regreen_value_<index> (as suite_sql names it): the suite's scalar
    # aggregates share one frame, two of them on one column under different row conditions included.
    value, unnest, columns = f"regreen_value_{index}", False, ()
    if expectation_type == "expect_table_row_count_to_equal":
        aggregate = "count(*) {rows}"
        runs_as = {
            "type": "expect_column_sum_to_be_between",
            "kwargs": {"column": value, "min_value": kwargs["value"], "max_value": kwargs["value"]},
            "meta": meta,
        }
    else:
        columns, column = (kwargs["column"],), _ident(kwargs["column"])
        runs_as["kwargs"] = {**kwargs, "column": value}
        if expectation_type == "expect_column_sum_to_be_between":
            aggregate = f"coalesce(sum({column}) {{rows}}, 0)"
        elif expectation_type == "expect_column_unique_value_count_to_be_between":
            # The distinct values grow with the data; their count does not: GX checks the count.
            aggregate = f"count(distinct {column}) {{rows}}"
            runs_as["type"] = "expect_column_sum_to_be_between"
        else:  # distinct values to contain a set: only the set's own values can be found, so it is bounded
            condition = f"({condition}) and list_contains(?, {column})"
            params = [*params, list(kwargs["value_set"])]
            aggregate, unnest = f"list_sort(list(distinct {column}) {{rows}})", True
    return PushedCheck(
        "aggregate", condition, tuple(params), "", (), (), (), aggregate, unnest, columns, runs_as, meta,
        expectation_type, item["kwargs"],
    )  # fmt: skip


def suite_sql(
    query: str, keys: Sequence[str], checks: Mapping[int, PushedCheck], listed: Collection[int] = ()
) -> tuple[str, list[Any]]:
    """The one query that runs `checks` (by their position in the suite) over the suite's `query`, and its
    parameters: one row, whose `regreen_*_<position>` columns hold each check's bounded result — and for
    the row-level checks in `listed`, their first offending rows as `regreen_row` structs."""
    marks: list[str] = []  # per row: whether each check reads it, and whether it breaks it
    params: list[Any] = []
    repeats: list[str] = []  # per row, for a uniqueness check: how many checked rows share its value
    results = ["count(*) as regreen_rows"]
    columns: dict[str, None] = {}
    for i, check in checks.items():
        marks.append(f"({check.selects}) as regreen_in_{i}")
        params.extend(check.selects_params)
        if check.kind == "aggregate":
            filtered = check.aggregate.replace("{rows}", f"filter (where regreen_in_{i})")
            results.append(f"{filtered} as regreen_value_{i}")
            continue
        marks.append(f"({check.violating}) as regreen_bad_{i}")
        params.extend(check.violating_params)
        breaks = f"regreen_in_{i} and regreen_bad_{i}"
        if check.repeated_in:
            partition = ", ".join(_ident(column) for column in check.repeated_in)
            repeats.append(
                f"count(*) filter (where regreen_in_{i}) over (partition by {partition}) as regreen_n_{i}"
            )
            breaks += f" and regreen_n_{i} > 1"
        results += [
            f"count(*) filter (where regreen_in_{i}) as regreen_checked_{i}",
            f"count(*) filter (where {breaks}) as regreen_failing_{i}",
        ]
        if i in listed:
            # the first offending rows in key order: a top-N, whatever the number of offending rows
            results.append(
                f"arg_min(regreen_row, regreen_order, {MAX_LISTED_ROWS}) filter (where {breaks}) "
                f"as regreen_listed_{i}"
            )
            columns.update(dict.fromkeys(check.listed))
    if columns:
        # One struct per row that the listing checks take their rows from.
        row = ", ".join(f"{_ident(column)} := {_ident(column)}" for column in columns)
        order = ", ".join(
            f"regreen_null_{n} := {_ident(key)} is null, regreen_key_{n} := {_ident(key)}"  # nulls last
            for n, key in enumerate(keys)
        )
        marks += [f"struct_pack({row}) as regreen_row", f"struct_pack({order}) as regreen_order"]
    rows = _subquery(query)
    if marks:
        rows = f"(select *, {', '.join(marks)} from {rows})"
    if repeats:
        rows = f"(select *, {', '.join(repeats)} from {rows})"
    return f"select {', '.join(results)} from {rows}", params


def _subquery(query: str) -> str:
    """A suite's query in parentheses, on lines of its own: it may end in a comment or a semicolon."""
    return f"(\n{query.strip().rstrip(';')}\n)"


@dataclass(frozen=True)
class Evaluated:
    """What DuckDB gives GX for one check: its bounded frame and, for a row-level check, the counts of the
    rows it checked and of those that break it; or why it could not be evaluated."""

    frame: pd.DataFrame | None = None
    counts: tuple[int, int] | None = None
    error: str | None = None


def evaluate_suite(
    con: duckdb.DuckDBPyConnection, suite: Suite, narrowed: bool = False
) -> tuple[int, list[Evaluated]]:
    """The suite's rows counted and every check's bounded result, in suite order: all of DuckDB's part of
    running the suite (GX's part is `run_suites`). Raises duckdb.Error when the query cannot run.

    `narrowed` (only once `narrow_suite` said so, which leaves `regreen_touched` in place): the error-level
    row checks with no row condition run on the window's rows alone, their counts of rows checked adding
    the rows outside it; every other check runs on the window's rows and the rows outside it together.
    """
    if not narrowed:
        rows, evaluated = _evaluate(con, suite.query, suite.keys, dict(enumerate(suite.checks)))
        return rows, [evaluated[i] for i in range(len(suite.checks))]
    assert suite.incremental is not None
    local = {i: check for i, check in enumerate(suite.checks) if _runs_on_window(check, suite.incremental)}
    others = {i: check for i, check in enumerate(suite.checks) if i not in local}
    con.execute(f"create or replace temp table {WINDOW_ROWS} as {_subquery(suite.incremental.window)}")
    try:
        window = f"select * from {WINDOW_ROWS}"
        in_window, evaluated = _evaluate(con, window, suite.keys, local)
        whole = f"{window} union all by name {_subquery(suite.incremental.outside)}"
        rows, on_whole = _evaluate(con, whole, suite.keys, others)
    finally:
        con.execute(f"drop table if exists {WINDOW_ROWS}")
    outside = rows - in_window
    for i, outcome in evaluated.items():
        if outcome.counts is not None:
            # every row outside the window is checked (no row condition) and passes (`narrow_suite`)
            checked, failing = outcome.counts
            evaluated[i] = Evaluated(outcome.frame, (checked + outside, failing), outcome.error)
    evaluated |= on_whole
    return rows, [evaluated[i] for i in range(len(suite.checks))]


WINDOW_ROWS = "regreen_window_rows"  # a narrowed suite's rows in the window (`evaluate_suite`)
TOUCHED = "regreen_touched"  # a narrowed suite's scope (`Incremental.touched`)


def _runs_on_window(check: PushedCheck, incremental: Incremental) -> bool:
    """Whether a narrowed suite runs `check` on the window alone: an error-level check over every row (no
    row condition) of each row on its own values, or of a uniqueness that rows can only break with rows on
    the same side of the window (its columns include those that decide it) — so the rows outside the
    window, which passed it in the base warehouse and are unchanged, pass it still."""
    return (
        check.kind == "rows"
        and check.meta["severity"] == "error"
        and check.selects == "true"
        and set(incremental.by) <= set(check.repeated_in or incremental.by)
    )


def narrow_suite(con: duckdb.DuckDBPyConnection, suite: Suite, base_run: str) -> bool:
    """Whether `suite` may run narrowed (`evaluate_suite`) on an incremental build of the warehouse of
    `base_run`, attached read-only as `base`; when it may, `regreen_touched` holds the window's scope.

    The narrowed results are those of the whole query, count for count and row for row, when:
    1. the base warehouse passed every error-level check of the suite (its results, run or carried, are
       stored under `base_run`): the base's rows break none;
    2. the rows outside the window are the base's rows: `unchanged` gives the same on the base and on this
       build (the plan, and fct_project_month's rows outside the window in every column the suite reads),
       and the raw rows a row outside the window is worked out from are the base's (raw tables are only
       appended to, in a copy of the base, and the window holds every project-month with a new row and
       every later month of its project, whose drops and last open month that row changes);
    3. the checks run on the window alone are those the rows outside it pass then (`_runs_on_window`),
       and `outside` returns every column that a check run on the whole reads (none of which has a row
       condition, whose columns are not listed).
    Warnings are never narrowed: their counts are reported, so they count every row. Otherwise the suite
    runs on its whole query (logged, with the reason)."""
    spec = suite.incremental
    if spec is None:
        return False
    try:
        return _narrowed(con, suite, spec, base_run)
    except duckdb.Error as exc:
        logger.info("suite %s: run whole (narrowing it failed: %s)", suite.name, exc)
        return False


def _narrowed(con: duckdb.DuckDBPyConnection, suite: Suite, spec: Incremental, base_run: str) -> bool:
    """`narrow_suite`'s conditions, leaving `regreen_touched` in place when they hold."""
    errors = {check.meta["check"] for check in suite.checks if check.meta["severity"] == "error"}
    passed = con.execute(
        "select check_name from quality.check_results where run_id = ? and suite = ? and status = 'passed'",
        [base_run, suite.name],
    ).fetchall()
    if not errors <= {name for (name,) in passed}:
        logger.info("suite %s: run whole (the base warehouse did not pass its error checks)", suite.name)
        return False
    con.execute(f"create or replace temp table {TOUCHED} as {_subquery(spec.touched)}")
    given = set(con.sql(f"select * from {_subquery(spec.outside)}").columns)
    on_whole = [check for check in suite.checks if not _runs_on_window(check, spec)]
    needed = {column for check in on_whole for column in check.needs}
    if not needed <= given or any(check.selects != "true" for check in on_whole):
        # a column outside lacks would be null there (union by name): a row condition's columns too
        logger.info("suite %s: run whole (outside gives not every column its checks read)", suite.name)
        return False
    (home,) = con.execute("select current_database()").fetchone()
    con.execute("use base")
    try:
        before = con.execute(spec.unchanged).fetchall()
    finally:
        con.execute(f"use {_ident(home)}")
    if con.execute(spec.unchanged).fetchall() != before:
        logger.info("suite %s: run whole (rows outside the new data's reach changed)", suite.name)
        return False
    (projects,) = con.execute(f"select count(*) from {TOUCHED}").fetchone()
    logger.info("suite %s: error checks narrowed to the rows of %d touched scopes", suite.name, projects)
    return True


def _evaluate(
    con: duckdb.DuckDBPyConnection, query: str, keys: Sequence[str], checks: Mapping[int, PushedCheck]
) -> tuple[int, dict[int, Evaluated]]:
    """`query`'s rows counted, and each of `checks`' bounded result by its position. The query's rows are
    read once for every check's counts and aggregates, and once more only if some row-level check fails,
    to list its first offending rows: building those lists for every check on every row would cost more
    than the query. A check on a column the query does not return is not evaluated (the others are)."""
    subquery = _subquery(query)
    returned = set(con.sql(f"select * from {subquery}").columns)  # binds the query without running it
    evaluated: dict[int, Evaluated] = {}
    runnable: dict[int, PushedCheck] = {}
    for i, check in checks.items():
        missing = [column for column in check.needs if column not in returned]
        if missing:
            names = ", ".join(missing)
            evaluated[i] = Evaluated(error=f"查询结果中没有列 {names} / the query returns no column {names}")
        else:
            runnable[i] = check
    # The checks that can share a frame share it, and GX runs them in one validation (see run_suites): the
    # scalar aggregates, one column each in one row; the row-level checks no row breaks, on no rows typed
    # as the query's columns (LIMIT 0 runs nothing). A list aggregate, or a check that rows break, has its own.
    scalars = [
        f"regreen_value_{i}"
        for i, check in runnable.items()
        if check.kind == "aggregate" and not check.unnest
    ]
    selects = {
        i: f"select unnest(regreen_value_{i}) as regreen_value_{i} from {SUITE_CHECKS}"
        for i, check in runnable.items()
        if check.unnest
    }
    if scalars:
        selects[SCALARS] = f"select {', '.join(scalars)} from {SUITE_CHECKS}"
    figures, frames = _suite_result(con, *suite_sql(query, keys, runnable), selects)
    failing = {
        i: check for i, check in runnable.items() if check.kind == "rows" and figures[f"regreen_failing_{i}"]
    }
    if failing:
        listings = {
            i: f"select {', '.join(f'regreen_row.{_ident(column)}' for column in check.listed)} "
            f"from (select unnest(regreen_listed_{i}) as regreen_row from {SUITE_CHECKS})"
            for i, check in failing.items()
        }
        frames |= _suite_result(con, *suite_sql(query, keys, failing, failing), listings)[1]
    unbroken = con.execute(f"select * from {subquery} limit 0").df()
    for i, check in runnable.items():
        if check.kind == "aggregate":
            evaluated[i] = Evaluated(frames[i if check.unnest else SCALARS])
        else:
            counts = (figures[f"regreen_checked_{i}"], figures[f"regreen_failing_{i}"])
            evaluated[i] = Evaluated(frames.get(i, unbroken), counts)
    return figures["regreen_rows"], evaluated


def _suite_result(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any], frames: Mapping[int, str]
) -> tuple[dict[str, int], dict[int, pd.DataFrame]]:
    """Run a `suite_sql` query into SUITE_CHECKS; return its counts by column name, and the frames the
    `frames` queries read out of its one row."""
    con.execute(f"create or replace temp table {SUITE_CHECKS} as {sql}", params)
    try:
        cursor = con.execute(f"select columns('^regreen_(rows|checked_|failing_)') from {SUITE_CHECKS}")
        counts = dict(zip([column[0] for column in cursor.description], cursor.fetchone(), strict=True))
        return counts, {i: con.execute(select).df() for i, select in frames.items()}
    finally:
        con.execute(f"drop table if exists {SUITE_CHECKS}")


# --- running --------------------------------------------------------------------------------------


def run_suites(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    folder: Path = EXPECTATIONS_DIR,
    suites: Sequence[Suite] | None = None,
    memory_limit: str | None = None,
    base: tuple[Path, str] | None = None,
) -> list[CheckResult]:
    """Run every suite in `folder` (or just `suites`) on `con`; one CheckResult per expectation, in
    suite file order. `memory_limit` (e.g. "512MB") bounds DuckDB while they run: the joins, windows and
    aggregates of a suite's query spill to disk beyond it instead of growing with the data. `base` (an
    incremental build: the warehouse it copied and its run) lets a suite that says how run narrowed
    (`narrow_suite`).

    A suite whose query fails gives one failed error-level result carrying DuckDB's message.
    """
    if memory_limit:
        con.execute("set memory_limit = ?", [memory_limit])
        logger.info("suites, DuckDB memory limit %s", memory_limit_of(con))
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    # GX draws tqdm bars on stderr while it computes metrics; results are returned, not drawn.
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    batch_definition = (
        context.data_sources.add_pandas("regreen")
        .add_dataframe_asset("query_result")
        .add_batch_definition_whole_dataframe("whole_result")
    )
    results: list[CheckResult] = []
    suites = load_suites(folder) if suites is None else suites
    base_run = base[1] if base is not None and any(suite.incremental for suite in suites) else None
    if base is not None and base_run is not None:
        try:
            con.execute("attach ? as base (read_only)", [str(base[0])])
        except duckdb.Error as exc:
            logger.info("suites run whole: the base warehouse cannot be read: %s", exc)
            base_run = None
    try:
        for suite in suites:
            results += _run_suite(con, suite, run_id, batch_definition, gx, base_run)
    finally:
        if base_run is not None:
            con.execute("detach base")
    return results


def _run_suite(
    con: duckdb.DuckDBPyConnection,
    suite: Suite,
    run_id: str,
    batch_definition: Any,
    gx: Any,
    base_run: str | None,
) -> list[CheckResult]:
    """One suite's results, narrowed when the base warehouse of `base_run` is attached as `base` and
    `narrow_suite` allows it."""
    try:
        narrowed = base_run is not None and narrow_suite(con, suite, base_run)
        rows, evaluated = evaluate_suite(con, suite, narrowed)
    except duckdb.Error as exc:
        logger.info("suite %s: query failed: %s", suite.name, exc)
        return [CheckResult(suite.name, QUERY_CHECK, "error", "failed", None, None, str(exc), run_id)]
    done: dict[int, CheckResult] = {}
    sharing: dict[int, list[int]] = {}  # the checks of each frame, by the frame's identity
    for i, (check, outcome) in enumerate(zip(suite.checks, evaluated, strict=True)):
        if outcome.frame is None:
            # A check that cannot be evaluated (e.g. on a column the query does not return) has not passed.
            details = CANNOT_EVALUATE + " ".join(str(outcome.error).split())
            done[i] = CheckResult(
                suite.name, check.meta["check"], "error", "failed", None, None, details, run_id
            )
        else:
            sharing.setdefault(id(outcome.frame), []).append(i)
    for positions in sharing.values():
        done |= _validate(suite, positions, evaluated, batch_definition, gx, run_id)
    suite_results = [done[i] for i in range(len(suite.checks))]
    logger.info(
        "suite %s: %d rows, %s",
        suite.name,
        rows,
        ", ".join(f"{s} {sum(r.status == s for r in suite_results)}" for s in ("passed", "warned", "failed")),
    )
    return suite_results


def _validate(
    suite: Suite,
    positions: Sequence[int],
    evaluated: Sequence[Evaluated],
    batch_definition: Any,
    gx: Any,
    run_id: str,
) -> dict[int, CheckResult]:
    """GX on the suite's checks at `positions`, which share one bounded frame: one validation of them all
    (GX's cost is per validation more than per expectation)."""
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    frame = _numpy_frame(evaluated[positions[0]].frame)
    checks = {i: suite.checks[i] for i in positions}
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    result_format: dict[str, Any] = {"result_format": "COMPLETE"}
    present = [key for key in suite.keys if key in frame.columns]
    if present and any(check.kind == "rows" for check in checks.values()):
        result_format["unexpected_index_column_names"] = present
    expectations = [ExpectationConfiguration(**check.runs_as).to_domain_obj() for check in checks.values()]
    if len(expectations) == 1:
        validated = [batch.validate(expectations[0], result_format=result_format)]
    else:
        together = gx.ExpectationSuite(name=suite.name, expectations=expectations)
        validated = batch.validate(together, result_format=result_format).results
    by_check = {result.expectation_config.meta["check"]: result for result in validated}
    done = {}
    for i, check in checks.items():
        result = by_check[check.meta["check"]]
        counts = evaluated[i].counts
        if counts is not None:
            # GX saw only the offending rows (at most MAX_LISTED_ROWS): the counts are DuckDB's.
            checked, failing = counts
            result.result = {**result.result, "element_count": checked, "unexpected_count": failing}
            if failing and result.success:  # DuckDB and GX must agree that the rows break it
                result.success = False
        done[i] = _check_result(suite, check, result, run_id)
    return done


def _numpy_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Turn pandas' nullable columns into numpy ones.

    DuckDB returns nullable Int/boolean columns when a column holds NULLs, and GX's pandas metrics
    then fail with "boolean value of NA is ambiguous".
    """
    for name, dtype in frame.dtypes.items():
        if isinstance(dtype, pd.BooleanDtype):
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
        elif isinstance(dtype, pd.api.extensions.ExtensionDtype) and pd.api.types.is_numeric_dtype(dtype):
            frame[name] = frame[name].astype("float64")
    return frame


def _check_result(
    suite: Suite, pushed: PushedCheck, result: ExpectationValidationResult, run_id: str
) -> CheckResult:
    check, severity = pushed.meta["check"], pushed.meta["severity"]
    errors = _exception_messages(result.exception_info)
    if errors:
        # A check GX could not evaluate has not passed; it blocks whatever its severity.
        details = CANNOT_EVALUATE + "; ".join(errors)
        return CheckResult(suite.name, check, "error", "failed", None, None, details, run_id)
    status = "passed" if result.success else ("failed" if severity == "error" else "warned")
    observed, expected, details = _describe(
        pushed.type, pushed.kwargs, pushed.meta, result.result, suite.keys
    )
    return CheckResult(suite.name, check, severity, status, observed, expected, details, run_id)


def _exception_messages(exception_info: Mapping[str, Any] | None) -> list[str]:
    """GX reports an exception either flat or keyed by the metric that raised it."""
    if not exception_info:
        return []
    if "raised_exception" in exception_info:
        infos: list[Mapping[str, Any]] = [exception_info]
    else:
        infos = [info for info in exception_info.values() if isinstance(info, Mapping)]
    return sorted({str(info.get("exception_message")) for info in infos if info.get("raised_exception")})


# --- describing a result ---------------------------------------------------------------------------


def _describe(
    expectation_type: str,
    kwargs: Mapping[str, Any],
    meta: Mapping[str, Any],
    result: Mapping[str, Any],
    keys: Sequence[str],
) -> tuple[str | None, str | None, str | None]:
    """(observed, expected, details) as a person would read them."""
    if "unexpected_count" in result:
        return _describe_rows(expectation_type, kwargs, meta, result, keys)
    expected = _expected(expectation_type, kwargs)
    missing = result.get("partial_missing_list")
    if missing:
        return "缺少 / missing: " + ", ".join(sorted(_fmt(v) for v in missing)), expected, None
    return _fmt(result.get("observed_value")), expected, None


def _describe_rows(
    expectation_type: str,
    kwargs: Mapping[str, Any],
    meta: Mapping[str, Any],
    result: Mapping[str, Any],
    keys: Sequence[str],
) -> tuple[str | None, str | None, str | None]:
    checked, failing = result.get("element_count", 0), result["unexpected_count"]
    summary = f"检查 {checked} 行，{failing} 行不符 / {checked} rows checked, {failing} failed"
    rows: list[Mapping[str, Any]] = result.get("unexpected_index_list") or []
    if not failing:
        return None, _expected(expectation_type, kwargs), summary
    listed = [_fmt_row(row, keys) for row in rows[:MAX_LISTED_ROWS]]
    if failing > len(listed):
        listed.append(f"… 另 {failing - len(listed)} 行 / {failing - len(listed)} more")
    details = summary + ": " + "; ".join(listed)
    if "column_A" in kwargs:
        observed_column = meta.get("observed_column", kwargs["column_B"])
        other_column = kwargs["column_A"] if observed_column == kwargs["column_B"] else kwargs["column_B"]
        relation = _pair_relation(
            expectation_type, kwargs, observed_is_a=observed_column == kwargs["column_A"]
        )
        observed = _listing([_fmt(row.get(observed_column)) for row in rows], failing)
        expected = _listing([relation + _fmt(row.get(other_column)) for row in rows], failing)
        return observed, expected, details
    values = [_fmt(value) for value in result.get("unexpected_list") or []]
    return _listing(values, failing), _expected(expectation_type, kwargs), details


def _listing(values: Sequence[str], total: int) -> str:
    """The first few of the offending rows' values, `; …` marking that more rows failed."""
    shown = "; ".join(values[:MAX_LISTED_VALUES])
    return shown + "; …" if total > MAX_LISTED_VALUES else shown


def _pair_relation(expectation_type: str, kwargs: Mapping[str, Any], observed_is_a: bool) -> str:
    """What the observed column's value must be, relative to the other column's ('' for equal)."""
    if expectation_type != "expect_column_pair_values_a_to_be_greater_than_b":
        return ""
    strict = not kwargs.get("or_equal")
    if observed_is_a:
        return "> " if strict else "≥ "
    return "< " if strict else "≤ "


def _expected(expectation_type: str, kwargs: Mapping[str, Any]) -> str | None:
    if expectation_type in ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"):
        return "唯一 / unique"
    if expectation_type == "expect_column_values_to_not_be_null":
        return "非空 / not null"
    if "value" in kwargs:
        return _fmt(kwargs["value"])
    if "value_set" in kwargs:
        values = list(kwargs["value_set"])
        return _fmt(values[0]) if len(values) == 1 else "{" + ", ".join(_fmt(v) for v in values) + "}"
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is not None and low == high:
        return _fmt(low)
    if low is not None and high is not None:
        return f"[{_fmt(low)}, {_fmt(high)}]"
    if low is not None:
        return (">" if kwargs.get("strict_min") else "≥") + f" {_fmt(low)}"
    if high is not None:
        return ("<" if kwargs.get("strict_max") else "≤") + f" {_fmt(high)}"
    return None


def _fmt_row(row: Mapping[str, Any], keys: Sequence[str]) -> str:
    """`project_code=2024-04 report_month=2024-05-01: patches_done=13` — keys first, then the values."""
    key_part = " ".join(f"{k}={_fmt(row[k])}" for k in keys if k in row)
    value_part = ", ".join(f"{k}={_fmt(v)}" for k, v in row.items() if k not in keys)
    return f"{key_part}: {value_part}" if key_part and value_part else key_part or value_part


def _fmt(value: Any) -> str:
    """A value as a person writes it: 994 not 994.0, 2024-05-01 not a Timestamp, null for missing."""
    if hasattr(value, "item") and not isinstance(value, pd.Timestamp):
        value = value.item()  # numpy scalars
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(round(value, 6))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        value = tuple(value.values())  # a compound key, e.g. (project_code, report_month)
    if isinstance(value, tuple | list):
        return "(" + ", ".join(_fmt(v) for v in value) + ")"
    return str(value)


# --- storing ----------------------------------------------------------------------------------------

CHECK_RESULTS_DDL = """
create schema if not exists quality;
create table if not exists quality.check_results (
    run_id varchar not null,
    suite varchar not null,
    check_name varchar not null,
    severity varchar not null,
    status varchar not null,
    observed varchar,
    expected varchar,
    details varchar,
    checked_at timestamptz not null,
    carried_from_run varchar
);
comment on table quality.check_results is
    '每次构建的数据质量检查结果（Great Expectations 套件） / data quality check results of every build (Great Expectations suites)';
comment on column quality.check_results.run_id is '构建运行编号 / the build run';
comment on column quality.check_results.suite is '检查套件（expectations/ 中的文件） / the suite (a file in expectations/)';
comment on column quality.check_results.check_name is '检查名称 / the check';
comment on column quality.check_results.severity is
    '级别：error 阻止发布，warning 仅报告 / error blocks publishing, warning is reported only';
comment on column quality.check_results.status is
    '结果：passed 通过，warned 警告，failed 失败 / passed, warned (a warning-level check failed) or failed';
comment on column quality.check_results.observed is '实际值 / what the data shows';
comment on column quality.check_results.expected is '应有值 / what the check expects';
comment on column quality.check_results.details is '说明与不符的行 / details and the offending rows';
comment on column quality.check_results.checked_at is '检查时间（UTC，带时区） / when the results were stored (UTC, with its zone)';
comment on column quality.check_results.carried_from_run is
    '沿用自该次运行的结果：增量构建未重建此检查读取的表，故未重查；为空则本次已检查 / '
    'the run whose result this is: an incremental build rebuilt nothing this check reads, so it was not '
    'run again; null when this build ran it';
"""


def store_check_results(con: duckdb.DuckDBPyConnection, results: Sequence[CheckResult]) -> None:
    """Append `results` to quality.check_results, creating and documenting the table if needed."""
    con.execute(CHECK_RESULTS_DDL)
    if not results:
        return
    # One insert from a frame: executemany commits row by row, a write-ahead log sync each (1.4–2.2 s
    # for a night's ~340 results, against 0.01 s).
    columns = ("run_id", "suite", "check", "severity", "status", "observed", "expected", "details")
    frame = pd.DataFrame(
        [[getattr(r, c) for c in columns] + [r.carried_from_run] for r in results],
        columns=[*columns, "carried_from_run"],
        dtype="string",
    )
    con.register("regreen_check_results", frame)
    try:
        con.execute(
            "insert into quality.check_results (run_id, suite, check_name, severity, status, observed, "
            'expected, details, carried_from_run, checked_at) select run_id, suite, "check", severity, '
            "status, observed, expected, details, carried_from_run, current_timestamp "
            "from regreen_check_results"
        )
    finally:
        con.unregister("regreen_check_results")


def carried_checks(
    con: duckdb.DuckDBPyConnection, base_run: str, run_id: str, keep: Callable[[CheckResult], bool]
) -> list[CheckResult]:
    """The check results of `base_run` stored in `con` that `keep` selects, as results of `run_id`, each
    naming the run that actually checked it."""
    rows = con.execute(
        "select suite, check_name, severity, status, observed, expected, details, "
        "coalesce(carried_from_run, run_id) from quality.check_results where run_id = ? order by rowid",
        [base_run],
    ).fetchall()
    carried = [
        CheckResult(suite, check, severity, status, observed, expected, details, run_id, checked_by)
        for suite, check, severity, status, observed, expected, details, checked_by in rows
    ]
    return [result for result in carried if keep(result)]
