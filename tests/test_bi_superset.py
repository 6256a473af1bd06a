"""Apache Superset opens the published warehouse and runs a chart's query (`make test-bi`).

Superset lives in its own venv (`.venv-superset`, made by `make test-bi`) so that its pins never touch
the project's; it carries DuckDB 1.5 through duckdb-engine, like a BI server a site already runs. The test
builds a warehouse with the CLI, migrates a throwaway Superset metadata database, and runs
tests/bi/superset_chart.py in that venv: the file is registered read-only as a Superset database, the
mart `plan_vs_actual_township` becomes a dataset, and a chart's query (each township's progress against
its plan) goes through Superset's chart-data command. Its rows must be the mart's.

Not part of `make test` (installing Superset takes minutes): without REGREEN_SUPERSET_PYTHON it is skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from report_warehouse import sample_data_dir

SUPERSET_PYTHON = os.environ.get("REGREEN_SUPERSET_PYTHON")
CHART_SCRIPT = Path(__file__).with_name("bi") / "superset_chart.py"

pytestmark = pytest.mark.skipif(
    not SUPERSET_PYTHON, reason="`make test-bi` runs it with Superset's venv (REGREEN_SUPERSET_PYTHON)"
)


def test_superset_runs_a_chart_query_on_the_published_warehouse(tmp_path: Path) -> None:
    warehouse = sample_data_dir(tmp_path) / "regreen.duckdb"
    config = tmp_path / "superset_config.py"
    config.write_text(
        'SECRET_KEY = "regreen-test-bi-throwaway"\n'
        f'SQLALCHEMY_DATABASE_URI = "sqlite:///{tmp_path / "superset.db"}"\n',
        encoding="utf-8",
    )
    environment = os.environ | {"SUPERSET_CONFIG_PATH": str(config)}
    superset = Path(SUPERSET_PYTHON).with_name("superset")
    upgrade = subprocess.run(
        [str(superset), "db", "upgrade"], env=environment, capture_output=True, text=True, timeout=900
    )
    assert upgrade.returncode == 0, upgrade.stderr[-3000:]
    chart = subprocess.run(
        [SUPERSET_PYTHON, str(CHART_SCRIPT), str(warehouse)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert chart.returncode == 0, chart.stderr[-3000:]
    # Superset prints "Loaded your LOCAL configuration …" on stdout first; the answer is the last line.
    answer = json.loads(chart.stdout.splitlines()[-1])
    assert answer["superset"].startswith("6.") and answer["duckdb"].startswith("1.")
    assert "FROM marts.plan_vs_actual_township" in answer["sql"]

    with duckdb.connect(str(warehouse), read_only=True) as con:
        expected = con.execute(
            "select township_name, area_planned_mu, area_done_mu, projects_accepted "
            "from marts.plan_vs_actual_township order by township_name"
        ).fetchall()
    assert [
        (
            r["township_name"],
            Decimal(r["area_planned_mu"]),
            Decimal(r["area_done_mu"]),
            r["projects_accepted"],
        )
        for r in answer["rows"]
    ] == expected
    assert len(expected) == 4
