"""What a run starts before it knows it needs it.

The dbt child the CLI starts before the run has parsed its notice (regreen.dbt.start_early) guesses the
run's dbt vars; whatever it guessed, dbt builds with the run's own: a changed notice date or regreen.toml
reaches the warehouse, read back from the mart that uses first_due_month. The copy of the published
warehouse made while the nightly ingests (regreen.build.prepare_copy) is removed when there is nothing
new, and a run killed with it in place leaves it to the next run's sweep."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb

from regreen.project import BUNDLED_NOTICE

EARLY_TAKEN = "dbt started early, with this run's vars"
STARTED_AGAIN = "dbt started again"


def regreen(*args: str) -> subprocess.CompletedProcess[str]:
    """`regreen <args>`, which must exit 0."""
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
    # The latest month's files wait for the last night below.
    inbox, later = data_dir / "inbox", tmp_path / "later"
    months = {path: re.search(r"\d{4}-\d\d", path.name) for path in inbox.iterdir()}
    latest = max(month[0] for month in months.values() if month)
    later.mkdir()
    for path, month in months.items():
        if month and month[0] == latest:
            shutil.move(path, later / path.name)
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

    # A file still being uploaded (written now, within settle_seconds) is left for later: nothing new, and
    # the copy made beside the ingest is removed.
    uploading = inbox / "uploading.csv"
    shutil.copy(next((data_dir / "archive").iterdir()), uploading)
    quiet = regreen("-v", "nightly", *where)
    assert "copying the published warehouse" in quiet.stderr and "nothing new" in quiet.stdout
    assert not (data_dir / "work" / "build.duckdb").exists()
    uploading.unlink()

    # New files, and the run killed as its load stage begins: its copy is left as the working database.
    for path in later.iterdir():
        shutil.move(path, inbox / path.name)
        os.utime(inbox / path.name, (0, 0))
    killed = subprocess.Popen(
        [sys.executable, "-m", "regreen.cli", "nightly", *where],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "REGREEN_FAULT_PAUSE": "load"},
    )
    for line in killed.stderr:
        if "paused at load" in line:
            break
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    working = data_dir / "work" / "build.duckdb"
    assert working.stat().st_size == (data_dir / "regreen.duckdb").stat().st_size
    # The next run sweeps it, builds on the published warehouse with what the killed run landed, publishes.
    after = regreen("-v", "nightly", *where)
    assert "copied the published warehouse (" in after.stderr and "incremental build on run" in after.stderr
    assert "published" in after.stdout and not working.exists()
    with duckdb.connect(str(data_dir / "regreen.duckdb"), read_only=True) as con:
        (months,) = con.execute("select max(report_month) from marts.fct_project_month").fetchone()
    assert f"{months:%Y-%m}" == latest
