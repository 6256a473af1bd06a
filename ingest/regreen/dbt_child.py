"""`python -m regreen.dbt_child <dbt project arguments>`: get dbt ready, then run the one command read
from stdin.

Started by regreen.dbt.DbtProcess before the command is known, so that importing dbt and parsing the
project (neither touches the database) overlap the run's other work. stdin then carries one line, a
JSON list of the command's arguments, run with the parsed project; an empty stdin means no command is
needed and the child exits. Exit codes are the `dbt` command's: 0 success, 1 a node failed, 2 dbt could
not run (a project it cannot parse included: the parse's messages are on stdout, as dbt prints them).
Before it exits, the child writes its resident high-water mark (MiB) to the file PEAK_FILE_ENV names.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from pathlib import Path
from typing import Any

# The slow part, done before waiting for the command: dbt itself and the DuckDB adapter it will load.
import dbt.adapters.duckdb  # noqa: F401
from dbt.cli.main import dbtRunner

from regreen.dbt import NO_WRITE_JSON, NODES_FILE, PEAK_FILE_ENV
from regreen.memory import peak_rss_mb


def main(project_arguments: list[str]) -> int:
    try:
        return run(project_arguments)
    finally:
        if (peak_file := os.environ.get(PEAK_FILE_ENV)) and (peak := peak_rss_mb()) is not None:
            Path(peak_file).write_text(str(peak), encoding="ascii")
        # The child ends here: its interpreter's final garbage collections would walk dbt's objects (its
        # manifest, its parsed project) for ~0.45 s of the night's wall time, to free memory the exit
        # gives back anyway. Nothing needs them: dbt-duckdb closes its database when dbt releases its
        # last connection at the end of the command (and its exit handler drops what is left), dbt's
        # log handlers flush every line, and the results were written above.
        gc.freeze()


def run(project_arguments: list[str]) -> int:
    parsed = dbtRunner().invoke(["parse", *project_arguments])
    line = sys.stdin.readline()
    if not line.strip():
        return 0
    if not parsed.success:
        print(f"dbt parse: {parsed.exception or 'failed'}", file=sys.stderr)
        return 2
    result = dbtRunner(manifest=parsed.result).invoke([*json.loads(line), *project_arguments])
    if result.exception is not None:
        print(f"dbt: {result.exception}", file=sys.stderr)
        return 2
    if NO_WRITE_JSON in project_arguments and hasattr(result.result, "write"):
        write_results(result.result, Path(os.environ["DBT_TARGET_PATH"]))
    return 0 if result.success else 1


def write_results(results: Any, target: Path) -> None:
    """What a run with `--no-write-json` leaves for regreen.dbt: dbt's own run_results.json, and of the
    manifest only what regreen reads of the nodes run (their name, type, schema and severity).

    dbt writes its whole manifest.json (1.7 MB) after the parse and again after the command, seconds of
    serialising when the parse is not hidden by the ingest (an incremental night at 1×); the child's
    parse keeps the saved parse (partial_parse.msgpack) all the same."""
    results.write(str(target / "run_results.json"))
    nodes = {
        r.node.unique_id: {
            "name": r.node.name,
            "resource_type": str(r.node.resource_type),
            "schema": r.node.schema,
            "config": {"severity": getattr(r.node.config, "severity", None)},
        }
        for r in results.results
    }
    (target / NODES_FILE).write_text(json.dumps({"nodes": nodes}, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
