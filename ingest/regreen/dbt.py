"""Run dbt on a working database, in a child process, and read back what it did.

dbt runs in its own process because dbt-duckdb keeps its database file open for the life of the process
that ran it; the build must be able to close, checkpoint and rename the file afterwards.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from regreen.errors import DbtBuildError
from regreen.log import logger
from regreen.project import PROJECT_ROOT, DataDir

if TYPE_CHECKING:
    from regreen.config import Config

# profiles.yml reads the DuckDB memory limit (config storage.memory_limit) from this variable; dbt run by
# hand without it gets DuckDB's own default, 80 % of the machine's memory.
MEMORY_LIMIT_ENV = "REGREEN_DUCKDB_MEMORY_LIMIT"
# The file the child writes its resident high-water mark to (MiB) as it exits (regreen.dbt_child).
PEAK_FILE_ENV = "REGREEN_DBT_PEAK_FILE"
# dbt's flag to write no JSON artifacts; with it the child writes run_results.json and NODES_FILE itself.
NO_WRITE_JSON = "--no-write-json"
NODES_FILE = "run_nodes.json"  # the nodes run, in manifest.json's shape: what _read_results reads of them
# dbt's output (read back only when it wrote no results, `_output_tail`) keeps its warnings and errors, a
# parse's included; `work/dbt-logs/dbt.log` keeps what dbt prints at info: each node's start, outcome
# and seconds. dbt's defaults (info on stdout, debug in the file: every query) cost ~0.5 CPU-s of a 1×
# night's 134 nodes; nothing at all, ~1 CPU-s, but no message to report a failure with.
LOG_LEVELS = ("--log-level", "warn", "--log-level-file", "info")
# One fixed name for the build in progress: dbt keys its saved parse on the database path, and a new
# name every night would make it parse the whole project again (seconds, every run).
WORKING_NAME = "build.duckdb"
# In `<data-dir>/work/`: the first month due that the last build derived from its notice's date, and
# which notice file (regreen.dbt.start_early reads it).
DUE_MONTH_FILE = "dbt-first-due-month.json"
# What dbt reads of the project; the project folder's own path is part of what its saved parse is of.
DBT_INPUT_FOLDERS = ("models", "macros", "seeds", "snapshots", "tests/dbt")
DBT_INPUT_FILES = ("dbt_project.yml", "profiles.yml")
PARSE_KEY_FILE = "partial_parse.key"


@dataclass(frozen=True)
class DbtNodeResult:
    unique_id: str
    resource_type: str  # model | seed | test
    name: str
    schema: str | None  # models and seeds: the schema of the relation built
    status: str  # success | pass | warn | fail | error | skipped
    severity: str | None  # tests only: error | warn
    failures: int | None  # tests only: rows that failed the test
    message: str | None


@dataclass(frozen=True)
class DbtRun:
    returncode: int
    nodes: tuple[DbtNodeResult, ...]
    peak_mb: float | None = None  # the dbt child's resident high-water mark, when it said

    @property
    def relations_built(self) -> int:
        return sum(1 for n in self.nodes if n.resource_type in {"model", "seed"} and n.status == "success")

    @property
    def rebuilt(self) -> set[str]:
        """`schema.name` of every model and seed this run built."""
        return {
            f"{n.schema}.{n.name}"
            for n in self.nodes
            if n.resource_type in {"model", "seed"} and n.status == "success"
        }

    @property
    def broken(self) -> list[str]:
        """Models and seeds that did not build (tests that failed are checks, reported elsewhere)."""
        return [
            f"{n.name}: {n.message or n.status}"
            for n in self.nodes
            if n.resource_type in {"model", "seed"} and n.status == "error"
        ]


def project_files(*more_folders: str) -> list[Path]:
    """The files of the dbt project (its two .yml, models, macros, seeds, tests), then those of
    `more_folders`, in a fixed order."""
    paths = [PROJECT_ROOT / name for name in DBT_INPUT_FILES]
    for folder in (*DBT_INPUT_FOLDERS, *more_folders):
        paths += sorted(
            p for p in (PROJECT_ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts
        )
    return paths


def hash_files(digest: hashlib._Hash, paths: Sequence[Path]) -> None:
    """Add each file's path (from the project folder) and bytes to `digest`."""
    for path in paths:
        digest.update(f"{path.relative_to(PROJECT_ROOT)}\0".encode())
        digest.update(path.read_bytes())


def _keep_parse_of_this_project(target: Path) -> None:
    """Remove dbt's saved parse (partial_parse.msgpack) in `target` unless it is of this project folder
    with these files.

    dbt's partial parse, saved by one project folder and used by another (a data directory run by a
    release installed elsewhere, or by the release before it again), kept the models of the second but
    not the yml tests of two of them: 250 tests run where the project has 252, and nothing said so. dbt
    re-parses whole when there is no saved parse, once after each change of code (seconds)."""
    digest = hashlib.sha256(f"{PROJECT_ROOT}\0".encode())
    hash_files(digest, project_files())
    key, key_file = digest.hexdigest(), target / PARSE_KEY_FILE
    try:
        if key_file.read_text(encoding="ascii") == key:
            return
    except OSError:
        pass
    (target / "partial_parse.msgpack").unlink(missing_ok=True)
    target.mkdir(parents=True, exist_ok=True)
    key_file.write_text(key, encoding="ascii")


class DbtProcess:
    """One dbt command in a child process that is started before the command is known.

    Importing dbt and parsing the project take a few seconds; a child started early
    (`python -m regreen.dbt_child`) spends them while the run ingests and loads, then runs the one
    command `run` hands it. A child that is never given a command (`close`, or leaving the `with`
    block) is ended without having opened the database.
    """

    def __init__(
        self,
        database: Path,
        work_dir: Path,
        variables: Mapping[str, object] | None = None,
        memory_limit: str | None = None,
        manifest: bool = True,
    ) -> None:
        """`memory_limit` (config storage.memory_limit) bounds the DuckDB database dbt opens (profiles.yml's
        `settings:`); None leaves DuckDB's default. Without `manifest`, dbt writes no manifest.json (the
        child writes run_results.json and what `build` reads of the nodes, regreen.dbt_child)."""
        # Absolute: dbt resolves a relative target path against the project folder, not our cwd.
        self.database = database = database.resolve()
        self.work_dir = work_dir = work_dir.resolve()
        # dbt vars from regreen.toml (dbt_vars): given to the parse as well as to the command.
        self.variables = dict(variables or {})
        self.memory_limit = memory_limit
        self.peak_file = work_dir / "dbt-peak-mb"
        _keep_parse_of_this_project(work_dir / "dbt-target")
        env = {
            **os.environ,
            PEAK_FILE_ENV: str(self.peak_file),
            **({MEMORY_LIMIT_ENV: memory_limit} if memory_limit else {}),
            "REGREEN_DB_PATH": str(database),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DBT_TARGET_PATH": str(work_dir / "dbt-target"),
            "DBT_LOG_PATH": str(work_dir / "dbt-logs"),
        }
        project = [
            "--project-dir",
            str(PROJECT_ROOT),
            "--profiles-dir",
            str(PROJECT_ROOT),
            "--no-use-colors",
            *LOG_LEVELS,
        ]
        if self.variables:
            project += ["--vars", json.dumps(self.variables, sort_keys=True)]
        self.nodes_file = "manifest.json" if manifest else NODES_FILE
        if not manifest:
            project.append(NO_WRITE_JSON)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "regreen.dbt_child", *project],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            preexec_fn=_die_with_parent,
        )

    def run(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        """`dbt <arguments>` on this project with the database as its target; waits for it to end."""
        # Removed only now, not when the child starts: a child started before the lock is taken
        # (start_early) must not remove the file of the run that holds it.
        self.peak_file.unlink(missing_ok=True)
        out, err = self.process.communicate(json.dumps(arguments) + "\n")
        return subprocess.CompletedProcess(["dbt", *arguments], self.process.returncode, out, err)

    def build(self, select: Sequence[str] | None = None) -> DbtRun:
        """`dbt build`: seed, run and test every node, or only the `select`ed ones and their tests."""
        logger.info("dbt build on %s%s", self.database, f" --select {' '.join(select)}" if select else "")
        target = self.work_dir / "dbt-target"
        results_file = target / "run_results.json"
        # A dbt that dies before writing its results must not be read as the results of an earlier run.
        results_file.unlink(missing_ok=True)
        (target / self.nodes_file).unlink(missing_ok=True)
        completed = self.run("build", *(["--select", *select] if select else []))
        # Both are written when dbt ends; a child that died on the way (a full disk) leaves one or none.
        if not results_file.exists() or not (target / self.nodes_file).exists():
            raise DbtBuildError(_output_tail(completed) or [f"dbt exited {completed.returncode}"])
        run = DbtRun(
            completed.returncode, _read_results(results_file, target / self.nodes_file), self.peak_mb
        )
        if run.broken:
            raise DbtBuildError(run.broken)
        return run

    @property
    def peak_mb(self) -> float | None:
        """The child's resident high-water mark in MiB, once it has ended (None before, or if it did not say)."""
        try:
            return float(self.peak_file.read_text(encoding="ascii"))
        except (OSError, ValueError):
            return None

    def close(self) -> None:
        """End the child if it is still running (one never given a command has not opened the database)."""
        if self.process.returncode is None:
            self.process.kill()
            self.process.communicate()

    def __enter__(self) -> DbtProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def dbt_vars(config: Config, first_due_month: date) -> dict[str, object]:
    """The dbt vars (dbt_project.yml) that come from regreen.toml, so that they have one source."""
    return {
        "submission_due_day": config.get("submissions", "due_day"),
        "first_due_month": first_due_month.isoformat(),
    }


def start_dbt(
    data_dir: DataDir,
    variables: Mapping[str, object] | None = None,
    memory_limit: str | None = None,
    started: DbtProcess | None = None,
) -> DbtProcess:
    """The dbt child for the next build, started now so it imports dbt while the run does other work;
    its DuckDB bounded by `memory_limit` (config storage.memory_limit).

    Called under the nightly's lock, after `sweep_leftovers` removed a killed run's working database
    and its write-ahead log (which would otherwise be replayed into the new file). `started` is the
    child `start_early` started before the lock: it is the one returned when it parses with these
    `variables` and `memory_limit`, else it is ended and a new child started (dbt must build with this
    run's vars, whatever was guessed)."""
    if started is not None:
        if started.variables == dict(variables or {}) and started.memory_limit == memory_limit:
            logger.info("dbt started early, with this run's vars %s", json.dumps(variables, sort_keys=True))
            return started
        logger.info(
            "dbt started early with vars %s, this run's are %s: dbt started again",
            json.dumps(started.variables, sort_keys=True),
            json.dumps(variables, sort_keys=True),
        )
        started.close()
    data_dir.ensure()
    work = data_dir.work
    return DbtProcess(work / WORKING_NAME, work, variables, memory_limit, manifest=False)


def start_early(data_dir: DataDir, notice: Path, config: Config) -> DbtProcess | None:
    """The build's dbt child, started by the CLI before it imports the rest of regreen (~1 s) and before
    the notice is parsed (seconds at the scale bench's 100×), or None when its vars are not known yet.

    dbt's parse needs the dbt vars, and `first_due_month` comes from the notice's date unless
    regreen.toml sets it: it is taken as the month the last build derived from the same notice file (the
    same path, size and modification time) and the same setting (`remember_first_due_month`). The guess only decides when dbt
    starts, not what it builds: `start_dbt` compares it with the run's own vars and starts dbt again
    when they differ. No child is started while another run holds the nightly lock (its file names the
    holder; a dead holder's leftovers are swept before dbt may open the working database): that run's
    dbt writes the same parse folder."""
    work = data_dir.work
    lock = data_dir.root / "nightly.lock"
    if not work.is_dir() or (lock.exists() and lock.stat().st_size):
        return None
    first_due = remembered_first_due_month(work, notice, config.get("submissions", "first_due_month"))
    if first_due is None:
        return None
    return DbtProcess(
        work / WORKING_NAME, work, dbt_vars(config, first_due), config.get("storage", "memory_limit"), False
    )


def _due_month_key(notice: Path, setting: str) -> list[object]:
    status = notice.stat()
    return [str(notice.resolve()), status.st_size, status.st_mtime_ns, setting]


def remember_first_due_month(work_dir: Path, notice: Path, setting: str, first_due: date) -> None:
    """Keep the first month due that `notice` and the `[submissions] first_due_month` `setting` gave,
    for the next run's `start_early`."""
    text = json.dumps({"key": _due_month_key(notice, setting), "first_due_month": first_due.isoformat()})
    path = work_dir / DUE_MONTH_FILE
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def remembered_first_due_month(work_dir: Path, notice: Path, setting: str) -> date | None:
    """The first month due the last build derived from `notice` and `setting`, if neither changed since."""
    try:
        kept = json.loads((work_dir / DUE_MONTH_FILE).read_text(encoding="utf-8"))
        if kept["key"] != _due_month_key(notice, setting):
            return None
        return date.fromisoformat(kept["first_due_month"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def dbt_build(database: Path, work_dir: Path) -> DbtRun:
    """Seed, run and test every dbt node against `database`; artifacts and logs go under `work_dir`."""
    with DbtProcess(database, work_dir) as dbt:
        return dbt.build()


@dataclass(frozen=True)
class DbtDocs:
    static_page: Path | None  # None when dbt wrote no page
    output_tail: tuple[str, ...]  # dbt's last lines of output, to say why


def dbt_docs_generate(database: Path, work_dir: Path) -> DbtDocs:
    """dbt's data dictionary of `database` as one self-contained page (`dbt docs generate --static`).

    The project is parsed, not compiled: compiling runs the models' compile-time queries, which need
    the build's intermediate state; the catalog (every relation's columns and types) is read from
    `database` all the same. `docs generate --no-compile` writes no manifest; the child's parse does.
    """
    logger.info("dbt docs generate on %s", database)
    with DbtProcess(database, work_dir) as dbt:
        completed = dbt.run("docs", "generate", "--static", "--no-compile")
    page = work_dir / "dbt-target" / "static_index.html"
    ok = completed.returncode == 0 and page.exists()
    return DbtDocs(page if ok else None, tuple(_output_tail(completed)))


def _die_with_parent() -> None:
    """In the dbt child: ask Linux to end it when regreen dies (a killed nightly leaves no dbt behind)."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _output_tail(completed: subprocess.CompletedProcess[str]) -> list[str]:
    return (completed.stdout + completed.stderr).strip().splitlines()[-5:]


def _read_results(results_file: Path, manifest_file: Path) -> tuple[DbtNodeResult, ...]:
    nodes = json.loads(manifest_file.read_text(encoding="utf-8"))["nodes"]
    results = []
    for result in json.loads(results_file.read_text(encoding="utf-8"))["results"]:
        node = nodes.get(result["unique_id"], {})
        resource_type = node.get("resource_type", result["unique_id"].split(".")[0])
        results.append(
            DbtNodeResult(
                unique_id=result["unique_id"],
                resource_type=resource_type,
                name=node.get("name", result["unique_id"]),
                schema=node.get("schema") if resource_type in {"model", "seed"} else None,
                status=result["status"],
                severity=(node.get("config") or {}).get("severity", "error").lower()
                if resource_type == "test"
                else None,
                failures=result.get("failures"),
                message=result.get("message"),
            )
        )
    return tuple(results)
