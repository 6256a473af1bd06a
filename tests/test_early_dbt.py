"""The dbt child the CLI starts before the run has parsed its notice (regreen.dbt.start_early) guesses the
run's dbt vars; whatever it guessed, dbt builds with the run's own: a changed notice date or regreen.toml
reaches the warehouse, read back from the mart that uses first_due_month."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb

from regreen.project import BUNDLED_NOTICE

EARLY_TAKEN = "dbt started early, with this run's vars"
STARTED_AGAIN = "dbt started again"


def regreen(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "regreen.cli", *args], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result


def first_month(data_dir: Path) -> date:
    with duckdb.connect(str(data_dir / "regreen.duckdb"), read_only=True) as con:
        return con.execute("select min(report_month) from marts.submission_timeliness").fetchone()[0]


def test_a_changed_notice_date_or_config_reaches_dbt_started_early(tmp_path: Path) -> None:
    data_dir, notice = tmp_path / "data", tmp_path / "notice.txt"
    notice.write_bytes(BUNDLED_NOTICE.read_bytes())
    where = ["--data-dir", str(data_dir), "--notice", str(notice)]
    regreen("sample", "--seed", "11", *where)
    regreen("ingest", *where)

    built = regreen("-v", "build", *where)
    # Nothing remembered yet: dbt is started once the notice is parsed, as before.
    assert EARLY_TAKEN not in built.stderr and STARTED_AGAIN not in built.stderr
    assert first_month(data_dir) == date(2023, 6, 1)  # the month after the notice's 2023年5月5日

    # The same file, dated three months later, with the same size and modification time: the CLI's dbt
    # parses with the month remembered (2023-06), the run finds 2023-09 and starts dbt again.
    status = notice.stat()
    text = notice.read_text(encoding="utf-8")
    assert text.count("2023年5月5日") == 1
    notice.write_text(text.replace("2023年5月5日", "2023年8月5日"), encoding="utf-8")
    os.utime(notice, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert notice.stat().st_size == status.st_size
    redated = regreen("-v", "build", *where)
    assert STARTED_AGAIN in redated.stderr and '"first_due_month": "2023-06-01"' in redated.stderr
    assert first_month(data_dir) == date(2023, 9, 1)

    # regreen.toml's first_due_month: the month remembered was for another setting, so none is guessed.
    (data_dir / "regreen.toml").write_text('[submissions]\nfirst_due_month = "2024-02"\n', encoding="utf-8")
    configured = regreen("-v", "build", *where)
    assert EARLY_TAKEN not in configured.stderr and STARTED_AGAIN not in configured.stderr
    assert first_month(data_dir) == date(2024, 2, 1)

    # Nothing changed since: the dbt started early is the one the build takes (it has nothing to rebuild).
    again = regreen("-v", "build", *where)
    assert EARLY_TAKEN in again.stderr and STARTED_AGAIN not in again.stderr
    assert first_month(data_dir) == date(2024, 2, 1)
