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

import json
import os
import sys
from pathlib import Path

# The slow part, done before waiting for the command: dbt itself and the DuckDB adapter it will load.
import dbt.adapters.duckdb  # noqa: F401
from dbt.cli.main import dbtRunner

from regreen.dbt import PEAK_FILE_ENV
from regreen.memory import peak_rss_mb


def main(project_arguments: list[str]) -> int:
    try:
        return run(project_arguments)
    finally:
        if (peak_file := os.environ.get(PEAK_FILE_ENV)) and (peak := peak_rss_mb()) is not None:
            Path(peak_file).write_text(str(peak), encoding="ascii")


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
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
