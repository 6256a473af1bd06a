"""What another user of the server may read after a nightly: the published warehouse, its exports, the
report and the data dictionary (BI tools and officials run as other users), and nothing of the landing
zone, the archive or the quarantine, which hold reporters' names and phones.

Before, regreen wrote with the umask it was given: under cron's 022 the landing zone was readable by
every user of the server; under the systemd unit's 0077 nothing was readable but by regreen's user, so
Superset or Metabase running as their own users could not open the warehouse. Real processes, as
`nobody` (the test needs root to switch user, as CI runs; skipped otherwise)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REGREEN = Path(sys.executable).with_name("regreen")
RUNUSER = shutil.which("runuser")

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or RUNUSER is None, reason="switching to another user needs root and runuser"
)


@pytest.fixture(scope="module")
def data_dir() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="regreen-permissions-"))
    base.chmod(0o755)  # where an operator would keep it: a folder others may pass through
    root = base / "data"
    try:
        for command in (["sample"], ["nightly"], ["docs"]):
            done = subprocess.run(
                [str(REGREEN), *command, "--data-dir", str(root)],
                capture_output=True,
                text=True,
                check=False,
                # cron's umask: what regreen writes must not depend on it
                preexec_fn=lambda: os.umask(0o022),
            )
            assert done.returncode == 0, done.stderr
        yield root
    finally:
        shutil.rmtree(base)


def _as_nobody(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(RUNUSER), "-u", "nobody", "--", *command], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    "published",
    [
        "regreen.duckdb",
        "export/csv/dim_project.csv",
        "export/fct_project_month.parquet",
        "report/index.html",
        "docs/index.html",
    ],
)
def test_another_user_reads_what_is_published(data_dir: Path, published: str) -> None:
    read = _as_nobody("wc", "-c", str(data_dir / published))
    assert read.returncode == 0 and int(read.stdout.split()[0]) > 0, read.stderr


@pytest.mark.parametrize("private", ["landing.duckdb", "archive", "quarantine"])
def test_another_user_reads_nothing_of_what_holds_personal_data(data_dir: Path, private: str) -> None:
    path = data_dir / private
    assert path.exists()
    read = _as_nobody("ls", str(path)) if path.is_dir() else _as_nobody("wc", "-c", str(path))
    assert read.returncode != 0 and "Permission denied" in read.stderr
