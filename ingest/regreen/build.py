"""Building one warehouse: load the raw tables, run dbt and every suite, in a working database.

Everything is built under `<data-dir>/work/`; the published `<data-dir>/regreen.duckdb` is not touched
here. The nightly (regreen.nightly, behind both `regreen build` and `regreen nightly`) publishes a
staged build only when no error-level check failed, so the last good warehouse stays whatever goes wrong.

A build is full or incremental:

- **full**: a fresh database; the plan, the patch register (`<data-dir>/patches/`, regreen.patches) and
  the whole landing zone are loaded; every dbt node and every suite runs.
- **incremental**: a copy of the published warehouse, when it was built from the same inputs (the same
  notice, patch register, models, seeds, suites, code and library versions: `inputs_fingerprint`) and the
  landing zone still holds exactly what it was built from. Only the landing rows received since are
  appended to raw; dbt rebuilds only the models downstream of the raw tables that received rows, with
  their tests; only the suites that read a rebuilt relation run. Every other check keeps the result of
  the run that last ran it (quality.check_results.carried_from_run), since nothing it reads changed.

Anything else (no published warehouse, other inputs, a landing zone that does not continue the one the
warehouse holds, `full=True`) builds in full. Both give the same marts: a test compares them.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from regreen.config import SETTINGS
from regreen.dbt import WORKING_NAME, DbtNodeResult, DbtProcess, DbtRun, hash_files, project_files
from regreen.log import logger
from regreen.memory import limit_connection, memory_limit_of
from regreen.patches.register import load_patches, patches_dir, read_register, register_inputs
from regreen.plan import Plan
from regreen.project import CONTRACTS_DIR, DataDir
from regreen.publish import copy_database
from regreen.quality import (
    CheckResult,
    PlanContract,
    carried_checks,
    find_contract,
    load_suites,
    preload_great_expectations,
    run_suites,
    store_check_results,
    suite_relations,
)
from regreen.rawload import load_plan
from regreen.submissions.landing import PERSONAL_COLUMNS, ensure_landing
from regreen.submissions.reference import build_reference

# Each landing table, the dbt source it feeds, and the id that grows as files are received (landing
# rows are only ever appended, in id order).
SUBMISSION_TABLES = {
    "submission_files": ("files", "file_id"),
    "submission_receipts": ("receipts", "receipt_id"),
    "submission_rows": ("rows", "file_id"),
    "submission_issues": ("issues", "file_id"),
}
COMPACT_NAME = "compact.duckdb"  # an incremental build being compacted (`compact`)
# What a build's results depend on besides the notice and the landing zone.
# Besides the dbt project's files (regreen.dbt.project_files): the suites and regreen's own code.
INPUT_FOLDERS = ("expectations", "ingest/regreen")
INPUT_DISTRIBUTIONS = ("duckdb", "dbt-core", "dbt-duckdb", "great-expectations", "pandas")

BUILD_DDL = """
create schema if not exists meta;
create or replace table meta.build (
    run_id varchar not null,
    build_mode varchar not null,
    base_run_id varchar,
    inputs_fingerprint varchar not null,
    relations_rebuilt integer not null,
    built_at timestamp not null,
    compact_blocks bigint not null
);
comment on table meta.build is
    '本仓库如何构建（一行），下一次夜间任务据此判断能否增量构建 / how this warehouse was built (one row); '
    'the next nightly reads it to decide whether it can build incrementally';
comment on column meta.build.run_id is '构建本仓库的运行 / the run that built this warehouse';
comment on column meta.build.build_mode is
    'full 全量重建；incremental 在上一仓库基础上只重建新数据涉及的部分 / full: built from scratch; '
    'incremental: the previous warehouse with only what new data touches rebuilt';
comment on column meta.build.base_run_id is '增量构建所基于的仓库（运行编号）/ for an incremental build, the warehouse it started from';
comment on column meta.build.inputs_fingerprint is
    '计划文件、模型、检查套件、代码与库版本的 sha256 / sha256 of the notice, models, suites, code and library versions';
comment on column meta.build.relations_rebuilt is 'dbt 本次构建的表与视图数 / tables and views dbt built in this run';
comment on column meta.build.built_at is '构建时间（UTC）/ when it was built (UTC)';
comment on column meta.build.compact_blocks is
    '本构建链上一次紧凑文件（全量构建或压缩）的块数 / blocks of the last compact file of this chain (its full '
    'build or its last compaction), or those its tables used on the last night that outgrew it with data: '
    'an incremental build whose file outgrows it, and the blocks its tables use, by more than '
    '[storage] compact_slack is compacted';
"""

NIGHT_KEYS_DDL = """
create schema if not exists meta;
create or replace table meta.night_keys (written_to varchar not null, project_code varchar, report_month date);
"""


@dataclass
class BuildSummary:
    run_id: str
    relations_built: int
    mode: str = "full"  # full | incremental
    base_run_id: str | None = None  # the warehouse an incremental build started from
    checks: list[CheckResult] = field(default_factory=list)
    dbt_peak_mb: float | None = None  # the dbt child's resident high-water mark

    @property
    def failed_checks(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == "failed"]


@dataclass
class StagedBuild:
    """A complete, checked, closed working database that has not been published yet."""

    working: Path
    summary: BuildSummary


def working_database(data_dir: DataDir) -> Path:
    return data_dir.work / WORKING_NAME


def inputs_fingerprint(
    plan: Plan,
    variables: Mapping[str, object] | None,
    storage_version: str,
    patch_files: Sequence[Path] = (),
    contract: Path | None = None,
) -> str:
    """sha256 of everything a build's results depend on besides the landing zone: the notice, the dbt
    vars (a changed due day must rebuild the timeliness), the file's storage format (an incremental build
    inherits its base's format, so another format means a full build), the patch register's files, and
    the project's models, suites, code and library versions, and a figure contract outside the
    repository (`contract`)."""
    digest = hashlib.sha256()
    digest.update(json.dumps(variables or {}, sort_keys=True).encode())
    doc = plan.document
    digest.update(f"{doc.sha256}\0{doc.source_path}\0{doc.source_format}\0{storage_version}\0".encode())
    for path in patch_files:
        digest.update(f"patches/{path.name}\0".encode() + path.read_bytes())
    if contract is not None:
        digest.update(contract.read_bytes())
    hash_files(digest, project_files(*INPUT_FOLDERS))
    for distribution in INPUT_DISTRIBUTIONS:
        digest.update(f"{distribution}={importlib.metadata.version(distribution)}\0".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class BuildInputs:
    """What a build of a plan in a data directory is built from (`inputs_fingerprint`), and the published
    warehouse's run when that was built from the same inputs: the base of an incremental build."""

    fingerprint: str
    base_run: str | None


def build_inputs(
    plan: Plan,
    data_dir: DataDir,
    variables: Mapping[str, object] | None,
    storage_version: str,
    full: bool = False,
) -> BuildInputs:
    """The `BuildInputs` of a build of `plan` in `data_dir` now (its patch register and contract); a `full`
    build has no base, and the published warehouse is not read.

    Raises PlanContractError without the notice's figure contract, and duckdb.Error when the published
    warehouse cannot be read (another program holds it read-write)."""
    register = register_inputs(patches_dir(data_dir))
    contract = plan_contract(plan, data_dir).path
    fingerprint = inputs_fingerprint(plan, variables, storage_version, register, contract)
    return BuildInputs(fingerprint, None if full else _incremental_base(data_dir, fingerprint))


class PreparedCopy:
    """The copy of the published warehouse an incremental build starts from, made in a thread while the
    run ingests (`prepare_copy`), and taken by `stage_build` as its working database.

    The published warehouse does not change under the nightly's lock, and whether the build can be
    incremental on it (`build_inputs`) is known once the notice is parsed:
    only the landing zone's continuation is checked after the ingest. A copy that is not taken (the
    build turns out full, nothing new, the run fails) is removed by `discard`; one cut short by a kill
    is the working database, which the next run's sweep removes."""

    def __init__(self, source: Path, working: Path, base_run: str) -> None:
        self.working = working
        self.base_run = base_run
        self.taken = False
        self._how: list[str] = []
        self._failed: list[BaseException] = []
        self._started = time.perf_counter()

        def copy() -> None:
            try:
                self._how.append(copy_database(source, working))
            except BaseException as exc:  # raised again by take()
                self._failed.append(exc)
            self._how.append(f"{time.perf_counter() - self._started:.2f}")

        self._thread = threading.Thread(target=copy, name="copy-published", daemon=True)
        self._thread.start()

    def take(self) -> None:
        """Wait for the copy; raises what the copy raised."""
        waited = time.perf_counter()
        self._thread.join()
        if self._failed:
            raise self._failed[0]
        self.taken = True
        logger.info(
            "copied the published warehouse (%s) in %s s beside the ingest, waited %.2f s for it",
            *self._how,
            time.perf_counter() - waited,
        )

    def discard(self) -> None:
        """Remove the copy unless a build took it (waits for it to end first)."""
        if self.taken:
            return
        self._thread.join()
        self.working.unlink(missing_ok=True)


def prepare_copy(data_dir: DataDir, dbt: DbtProcess, inputs: BuildInputs) -> PreparedCopy | None:
    """Start copying the published warehouse into the working database (`dbt.database`) when a build
    from `inputs` (`build_inputs` with `dbt`'s vars) could be incremental on it; None when it could not.

    Called under the nightly's lock, after the sweep, before the ingest; the caller discards the copy
    when the build does not take it."""
    if inputs.base_run is None:
        return None
    logger.info("copying the published warehouse (run %s) beside the ingest", inputs.base_run)
    return PreparedCopy(data_dir.warehouse, dbt.database, inputs.base_run)


def plan_contract(plan: Plan, data_dir: DataDir) -> PlanContract:
    """The figures the plan suites hold `plan` to: its notice's contract, the bundled one or the data
    directory's for a notice regreen does not bundle."""
    return find_contract(plan.document.document_number, (data_dir.contracts, CONTRACTS_DIR))


def stage_build(
    plan: Plan,
    data_dir: DataDir,
    run_id: str,
    dbt: DbtProcess,
    storage_version: str,
    on_stage: Callable[[str], None] | None = None,
    full: bool = False,
    compact_slack: float = SETTINGS["storage"]["compact_slack"].default,
    memory_limit: str = SETTINGS["storage"]["memory_limit"].default,
    beside_suites: Callable[[duckdb.DuckDBPyConnection], object] | None = None,
    suite_memory_limit: str = SETTINGS["quality"]["suite_memory_limit"].default,
    prepared: PreparedCopy | None = None,
    inputs: BuildInputs | None = None,
) -> StagedBuild:
    """Build `plan` and the landing zone into the working database with `dbt` (from `start_dbt`; the
    caller ends it), incrementally when the published warehouse allows it and `full` is not asked for
    (see the module docstring); run the suites; store the check results there.

    A full build creates the working database in DuckDB's `storage_version` format (config
    storage.duckdb_storage_version) and dbt keeps writing that format into it, so the file published is
    the one built, with no conversion; an incremental build inherits the format of the warehouse it copies,
    and is rewritten into a fresh file in that format (`compact`) when its blocks (free ones included)
    exceed by more than `compact_slack` (config storage.compact_slack) those of the last compact file of
    its chain (its full build, its last compaction, or the blocks its tables used on the last night that
    outgrew it with data, recorded in meta.build), and by more than `compact_slack` the blocks its tables
    use now (`_used_blocks`, about what a compaction would write): a night that only appends rows grows
    the file with them and is not compacted. Submissions are only ever added, so a compact file of
    today's data is at least that large: the file published stays within about 1 + compact_slack times a
    compact one.

    `on_stage("dbt")`, `on_stage("expectations")` and, when the build is compacted, `on_stage("compact")`
    are called as those steps begin (the nightly times its stages with them).

    Every DuckDB database opened here is bounded by `memory_limit` (config storage.memory_limit), the
    suites' by their own `suite_memory_limit` (config quality.suite_memory_limit).

    `beside_suites` (the nightly's exports, regreen.publish.StagedExports) is called, on an incremental
    build, in a thread with its own connection to the working database, once dbt is done and while the
    suites run: the marts do not change after dbt (the suites and the rest write only quality.* and
    meta.*). It is joined, and
    its error raised, before the check results are stored and the file is checkpointed or compacted;
    sharing the database, it runs under the suites' memory limit while they run.

    `prepared` (from `prepare_copy`) is the copy of the published warehouse made while the run ingested:
    an incremental build on that warehouse starts from it, and a full build removes it first.

    `inputs` are the build's inputs as `build_inputs` found them for this run with `dbt`'s vars (the
    nightly finds them once, before its ingest); None finds them here.
    """
    working = dbt.database
    # Without the notice's figure contract nothing is built.
    contract = plan_contract(plan, data_dir)
    register = patches_dir(data_dir)
    inputs = inputs or build_inputs(plan, data_dir, dbt.variables, storage_version, full)
    base_run = None if full else inputs.base_run
    if prepared is not None and prepared.base_run != base_run:
        prepared.discard()
        prepared = None
    changed = (
        _load_incremental(working, data_dir, run_id, base_run, memory_limit, prepared) if base_run else None
    )
    if changed is None:
        base_run = None
        with duckdb.connect(str(working), config={"storage_compatibility_version": storage_version}) as con:
            logger.info(
                "full build, DuckDB memory limit %s", memory_limit_of(limit_connection(con, memory_limit))
            )
            load_plan(con, plan, run_id)
            copy_submissions(con, data_dir.landing)
            reference = build_reference(plan.document.issued_on, plan.projects)
            load_patches(con, read_register(register, reference))

    if on_stage:
        on_stage("dbt")
    gx_import = preload_great_expectations()
    if changed is None:
        dbt_run = dbt.build()
    elif changed:
        dbt_run = dbt.build([f"source:submissions.{SUBMISSION_TABLES[table][0]}+" for table in changed])
    else:
        logger.info("nothing new since run %s: no model to rebuild", base_run)
        dbt.close()
        dbt_run = DbtRun(0, ())
    checks = [_dbt_check(node, run_id) for node in dbt_run.nodes if node.resource_type == "test"]

    if on_stage:
        on_stage("expectations")
    # Only on an incremental build: on a full one every suite runs and every mart is written whole, and
    # the two side by side under one memory limit took 198 s at 100× against 63 s one after the other.
    beside = in_background(working, beside_suites if base_run is not None else None, memory_limit)
    gx_import.join()
    suites = load_suites(contract=contract)
    if base_run is not None:
        touched = dbt_run.rebuilt | {f"raw.{table}" for table in changed or ()}
        suites = [s for s in suites if (relations := suite_relations(s)) is None or relations & touched]
    with duckdb.connect(str(working)) as con:
        if base_run is not None:
            con.execute("drop table meta.night_keys")  # dbt's alone (note_night_keys)
        base = None if base_run is None else (data_dir.warehouse, base_run)
        try:
            checks += run_suites(con, run_id, suites=suites, memory_limit=suite_memory_limit, base=base)
            if base_run is not None:
                ran_tests = {c.check for c in checks if c.suite == "dbt"}
                ran_suites = {s.name for s in suites}
                checks += carried_checks(
                    con,
                    base_run,
                    run_id,
                    keep=lambda c: (
                        c.check not in ran_tests if c.suite == "dbt" else c.suite not in ran_suites
                    ),
                )
        finally:
            beside()
        store_check_results(con, checks)
        con.execute("checkpoint")
        blocks, used = _blocks(con), _used_blocks(con)
        reference = blocks if base_run is None else _compact_blocks(con)
    mode = "full" if base_run is None else "incremental"
    # Past the slack of the last compact file: measured against what a compaction would give now.
    if reference is not None and (1 + compact_slack) * reference < blocks <= (1 + compact_slack) * used:
        logger.info("file grew with its data (%d blocks, %d in use): not compacted", blocks, used)
        reference = used
    if reference is None or blocks > (1 + compact_slack) * reference:
        if on_stage:
            on_stage("compact")
        compact(working, storage_version, memory_limit)
        reference = None
    with duckdb.connect(str(working)) as con:
        limit_connection(con, memory_limit)
        reference = reference or _blocks(con)
        con.execute(BUILD_DDL)
        con.execute(
            "insert into meta.build values (?, ?, ?, ?, ?, current_timestamp at time zone 'UTC', ?)",
            [run_id, mode, base_run, inputs.fingerprint, dbt_run.relations_built, reference],
        )
        con.execute("checkpoint")
    summary = BuildSummary(run_id, dbt_run.relations_built, mode, base_run, checks, dbt_run.peak_mb)
    return StagedBuild(working, summary)


def in_background(
    working: Path, work: Callable[[duckdb.DuckDBPyConnection], object] | None, memory_limit: str
) -> Callable[[], None]:
    """Start `work` in a thread on its own connection to `working` (the same DuckDB instance as every
    other connection to it in this process, bounded by `memory_limit`); returns the function that waits
    for it and raises what it raised."""
    if work is None:
        return lambda: None
    con = limit_connection(duckdb.connect(str(working)), memory_limit)
    failed: list[BaseException] = []

    def run() -> None:
        try:
            work(con)
        except BaseException as exc:  # raised again in the build's thread, by join()
            failed.append(exc)
        finally:
            con.close()

    thread = threading.Thread(target=run, name="beside-suites", daemon=True)
    thread.start()

    def join() -> None:
        thread.join()
        if failed:
            raise failed[0]

    return join


def _blocks(con: duckdb.DuckDBPyConnection) -> int:
    """The blocks of `con`'s database file, free ones included (`pragma database_size`)."""
    (blocks,) = con.execute(
        "select total_blocks from pragma_database_size() where database_name = current_database()"
    ).fetchone()
    return blocks


def _used_blocks(con: duckdb.DuckDBPyConnection) -> int:
    """The blocks of `con`'s database in use, all but the free ones (`pragma database_size`, after a
    checkpoint): about what a compaction would write (its tables' data and the catalog).

    A night that only appends (the facts' new months) grows the file with its data, which no compaction
    takes back; the slack is measured against this, not against the last compact file, so that such
    nights are not compacted (30–40 s at the scale bench's 100×) and a file with blocks freed or
    rewritten (tables rebuilt whole, rows replaced) still is. Counting the blocks that each table's
    segments name (`pragma storage_info`) gave 0.8 % fewer at 100× (4,340 against 4,374: the catalog's)
    and took 1.2 s of every such night; this takes 0.01 s."""
    (used,) = con.execute(
        "select used_blocks from pragma_database_size() where database_name = current_database()"
    ).fetchone()
    return used


def _compact_blocks(con: duckdb.DuckDBPyConnection) -> int | None:
    """The blocks of the last compact file (full build or compaction) of the chain this build continues,
    from the meta.build it copied; None when that warehouse does not say."""
    columns = {row[0] for row in con.execute("describe meta.build").fetchall()}
    if "compact_blocks" not in columns:
        return None
    return con.execute("select compact_blocks from meta.build").fetchone()[0]


def compact(
    working: Path, storage_version: str, memory_limit: str = SETTINGS["storage"]["memory_limit"].default
) -> None:
    """Rewrite the closed database `working` into a fresh file with no free block, in `storage_version`,
    and put it in its place.

    An incremental build's delete+insert and its tables rebuilt whole leave the blocks they replaced free
    in the copied file; DuckDB reuses some and never gives them back, so the file would grow night after
    night. COPY FROM DATABASE writes every schema, table, view, sequence, macro and comment into a new
    file at the size a full build gives. The working path stays the same (dbt keys its saved parse on it);
    a run killed halfway leaves `compact.duckdb`, which the next run's sweep removes. DuckDB is bounded
    by `memory_limit` and spills beside the new file; the rows of a table are copied in any order (a
    table is a set: every reader orders what it reads), so that the copy need not hold them back."""
    fresh = working.with_name(COMPACT_NAME)
    fresh.unlink(missing_ok=True)
    with duckdb.connect() as con:
        limit_connection(con, memory_limit, spill_to=fresh.with_name(f"{COMPACT_NAME}.tmp"), ordered=False)
        con.execute("attach ? as built (read_only)", [str(working)])
        con.execute("attach ? as fresh (storage_version ?)", [str(fresh), storage_version])
        con.execute("copy from database built to fresh")
        con.execute("detach fresh")
    fresh.replace(working)


def _incremental_base(data_dir: DataDir, fingerprint: str) -> str | None:
    """The published warehouse's run, if it was built from the inputs `fingerprint` names."""
    if not data_dir.warehouse.exists():
        return None
    con = duckdb.connect()
    try:
        con.execute("attach ? as published (read_only)", [str(data_dir.warehouse)])
        tables = con.execute(
            "select 1 from information_schema.tables where table_catalog = 'published' "
            "and table_schema = 'meta' and table_name = 'build'"
        ).fetchall()
        if not tables:
            logger.info("full build: the published warehouse does not say how it was built")
            return None
        run_id, built_from = con.execute(
            "select run_id, inputs_fingerprint from published.meta.build"
        ).fetchone()
    finally:
        con.close()
    if built_from != fingerprint:
        logger.info("full build: the notice, models, suites or code changed since run %s", run_id)
        return None
    return run_id


def _load_incremental(
    working: Path,
    data_dir: DataDir,
    run_id: str,
    base_run: str,
    memory_limit: str,
    prepared: PreparedCopy | None = None,
) -> list[str] | None:
    """Copy the published warehouse to `working` (or take the copy `prepared` made of it) and append the
    landing rows it does not hold yet.

    Returns the landing tables that received rows, or None (and no `working`) when the landing zone
    does not continue what the warehouse holds: then only a full build is right.
    """
    if prepared is not None:
        prepared.take()
    else:
        started = time.perf_counter()
        how = copy_database(data_dir.warehouse, working)
        logger.info("copied the published warehouse (%s) in %.2f s", how, time.perf_counter() - started)
    with duckdb.connect(str(working)) as con:
        logger.info("DuckDB memory limit %s", memory_limit_of(limit_connection(con, memory_limit)))
        changed = append_submissions(con, data_dir.landing)
        if changed is not None:
            # Every build stamps the plan with its run: that is how a published warehouse names its run.
            con.execute("update raw.plan_documents set run_id = ?", [run_id])
    if changed is None:
        working.unlink()
        return None
    logger.info("incremental build on run %s: new rows in %s", base_run, ", ".join(changed) or "no table")
    return changed


# The landing tables compared value by value with what the warehouse holds. Each grows with the files
# received, not with the rows in them: one row per distinct file (its sha256, its counts of rows read,
# loaded and rejected), one per file taken from the inbox, at most `[submissions] max_issues_per_file`
# issues per file. submission_rows, the one that grows with the rows, is compared by its count.
COMPARED_IN_FULL = ("submission_files", "submission_receipts", "submission_issues")


def _landing_marks(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str, int]] | None:
    """Per raw.submission_* table: its columns, its growing id and the highest id it holds, when the
    attached landing zone continues what the warehouse holds; None if it does not (the landing zone was
    replaced, or rows were removed or changed), or the warehouse holds personal data (not one to build on).

    Why this is enough without hashing every row: ingest only ever appends to the landing zone, in id
    order, and each row of submission_rows is derived from an archived file whose sha256, rows_loaded and
    file_id are in submission_files, compared here in full. Equal files, receipts and issues up to the
    marks, and as many rows up to the file mark on both sides, mean the landing zone holds the rows the
    warehouse was built from, plus rows of files it has not seen. The one writer that changes landing
    rows in place, `regreen purge`, changes only the personal columns (never copied to the warehouse),
    issue texts and file names (compared in full). A figure edited by hand inside landing.duckdb is not seen:
    `regreen build --full` rebuilds from it (docs/operations.md §9)."""
    personal = set(PERSONAL_COLUMNS)
    marks = {}
    for table, (_, key) in SUBMISSION_TABLES.items():
        columns = [row[0] for row in con.execute(f"describe raw.{table}").fetchall()]
        if personal & set(columns):
            return None
        listed = ", ".join(f'"{c}"' for c in columns)
        (mark,) = con.execute(f"select coalesce(max({key}), 0) from raw.{table}").fetchone()
        digest = f", sum(hash({listed})::hugeint)" if table in COMPARED_IN_FULL else ""
        summary = f"select count(*){digest} from {{}} where {key} <= {mark}"
        held = con.execute(summary.format(f"raw.{table}")).fetchone()
        landed = con.execute(summary.format(f"landing.raw.{table}")).fetchone()
        if held != landed:
            logger.info("full build: landing.raw.%s does not continue what the warehouse holds", table)
            return None
        marks[table] = (listed, key, mark)
    return marks


def append_submissions(con: duckdb.DuckDBPyConnection, landing: Path) -> list[str] | None:
    """Append to raw.submission_* the landing rows past what each holds; the tables that grew.

    None if a table's rows differ from the landing's rows up to the same id (see `_landing_marks`):
    nothing is appended then.
    """
    attach_landing(con, landing)
    try:
        marks = _landing_marks(con)
        if marks is None:
            return None
        changed = []
        for table, (listed, key, mark) in marks.items():
            added = con.execute(
                f"insert into raw.{table} ({listed}) select {listed} from landing.raw.{table} where {key} > {mark}"
            ).fetchone()[0]
            if added:
                changed.append(table)
        note_night_keys(con, marks["submission_rows"][2])
        return changed
    finally:
        con.execute("detach landing")


def note_night_keys(con: duckdb.DuckDBPyConnection, rows_mark: int) -> None:
    """Make meta.night_keys for tonight's dbt run, holding the project-months of the raw rows appended
    (file_id above `rows_mark`, the highest the warehouse held); each incremental model adds the keys it
    writes. Its presence is what tells dbt's tests that this is an incremental night: on it, an error-level
    test reads only the rows of the project-months written where that finds every failure a whole-table
    run would (macros/night_tests.sql says when, docs/operations.md §9 why). `stage_build` drops it once
    dbt is done, so no published warehouse holds one and a full build never sees one."""
    con.execute(NIGHT_KEYS_DDL)
    con.execute(
        "insert into meta.night_keys select distinct 'raw.submission_rows', project_code, report_month "
        "from raw.submission_rows where file_id > ?",
        [rows_mark],
    )


def nothing_new(data_dir: DataDir, inputs: BuildInputs) -> str | None:
    """The published warehouse's run when a build now would give the same warehouse again: it was built
    from the same `inputs` (`build_inputs`: notice, storage format, patch register, models, suites, code,
    versions) and the landing zone holds no row it does not. None when there is something to build."""
    base_run = inputs.base_run
    if base_run is None:
        return None
    con = duckdb.connect()
    try:
        con.execute("attach ? as published (read_only)", [str(data_dir.warehouse)])
        con.execute("use published")
        attach_landing(con, data_dir.landing)
        marks = _landing_marks(con)
        if marks is None:
            return None
        for table, (_, key, mark) in marks.items():
            (newer,) = con.execute(
                f"select count(*) from landing.raw.{table} where {key} > {mark}"
            ).fetchone()
            if newer:
                return None
        return base_run
    finally:
        con.close()


def discard(staged: StagedBuild) -> Path:
    """Set a failed build aside for inspection; the published warehouse is not touched."""
    kept = staged.working.with_name(f"failed-{staged.summary.run_id}.duckdb")
    staged.working.rename(kept)
    logger.warning(
        "检查未通过，未发布的构建保留在 %s 以供查看 / checks failed; the failed build is kept for inspection at %s",
        kept,
        kept,
    )
    return kept


def attach_landing(con: duckdb.DuckDBPyConnection, landing: Path) -> None:
    """Attach the landing zone read-only as `landing`; with no file received yet, the same tables, empty."""
    if landing.exists():
        con.execute("attach ? as landing (read_only)", [str(landing)])
        return
    home = con.execute("select current_database()").fetchone()[0]
    con.execute("attach ':memory:' as landing")
    con.execute("use landing")
    ensure_landing(con)
    con.execute(f'use "{home}"')


def copy_submissions(con: duckdb.DuckDBPyConnection, landing: Path) -> None:
    """Copy the landing zone's submission tables into raw, leaving the personal data behind."""
    attach_landing(con, landing)
    personal = ", ".join(PERSONAL_COLUMNS)
    for table in SUBMISSION_TABLES:
        columns = {row[0] for row in con.execute(f"describe landing.raw.{table}").fetchall()}
        exclude = f" exclude ({personal})" if columns.issuperset(PERSONAL_COLUMNS) else ""
        con.execute(f"create or replace table raw.{table} as select *{exclude} from landing.raw.{table}")
    # A landing zone no ingest has opened since 已完成图斑编号 was added lacks the column.
    con.execute("alter table raw.submission_rows add column if not exists patches_completed varchar")
    con.execute("detach landing")


def _dbt_check(node: DbtNodeResult, run_id: str) -> CheckResult:
    status = {"pass": "passed", "warn": "warned"}.get(node.status, "failed")
    return CheckResult(
        suite="dbt",
        check=node.name,
        severity="warning" if node.severity == "warn" else "error",
        status=status,
        observed=None if node.failures is None else str(node.failures),
        expected="0",
        details=node.message if status != "passed" else None,
        run_id=run_id,
    )
