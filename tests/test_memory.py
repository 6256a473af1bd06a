"""`[storage] memory_limit` reaches DuckDB for real, in the build's own connections and in dbt's (its
child, through profiles.yml), and the nightly records each stage's resident high-water mark."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from regreen.config import load_config
from regreen.dbt import MEMORY_LIMIT_ENV, DbtProcess
from regreen.errors import ConfigError
from regreen.memory import limit_connection, memory_limit_of, peak_rss_mb, reset_peak_rss
from regreen.nightly import RunRecord
from regreen.project import BUNDLED_NOTICE, DataDir
from regreen.publish import published_run_id
from regreen.submissions.reference import load_reference
from regreen.submissions.sample import write_sample

REGREEN = Path(sys.executable).with_name("regreen")
LIMIT = "345MB"  # an unusual size, so that no default can pass for it
LIMIT_SHOWN = "329.0 MiB"  # how DuckDB shows 345 MB
SUITE_LIMIT = "456MB"  # [quality] suite_memory_limit's own, another unusual size
SUITE_LIMIT_SHOWN = "434.8 MiB"


def dbt_memory_limit(tmp_path: Path, memory_limit: str | None) -> str:
    """What `current_setting('memory_limit')` says inside dbt's own DuckDB connection (`dbt show`)."""
    with DbtProcess(tmp_path / "show.duckdb", tmp_path, memory_limit=memory_limit) as dbt:
        completed = dbt.run(
            "show",
            "--inline",
            "select current_setting('memory_limit') as memory_limit",
            "--output",
            "json",
            "--log-format",
            "json",
        )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    shown = [
        json.loads(event["data"]["preview"])
        for event in (json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{"))
        if event["info"]["name"] == "ShowNode"
    ]
    assert len(shown) == 1
    return shown[0][0]["memory_limit"]


def test_dbt_runs_under_the_configured_memory_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MEMORY_LIMIT_ENV, raising=False)
    assert dbt_memory_limit(tmp_path / "limited", LIMIT) == LIMIT_SHOWN
    # Without a limit (dbt run by hand), DuckDB's own default: 80 % of the machine's memory.
    with duckdb.connect() as con:
        default = memory_limit_of(con)
    assert dbt_memory_limit(tmp_path / "default", None) == default != LIMIT_SHOWN


def test_a_limited_connection_spills_where_it_is_told(tmp_path: Path) -> None:
    with duckdb.connect() as con:
        limit_connection(con, "64MB", spill_to=tmp_path / "spill", ordered=False)
        assert memory_limit_of(con) == "61.0 MiB"
        settings = dict(
            con.execute(
                "select name, value from duckdb_settings() "
                "where name in ('temp_directory', 'preserve_insertion_order')"
            ).fetchall()
        )
        assert settings == {"temp_directory": str(tmp_path / "spill"), "preserve_insertion_order": "false"}
        # A sort of ~200 MB of rows under 64 MB: done, by spilling to the folder named.
        (count,) = con.execute(
            "select count(*) from (select * from range(3000000) t(i), lateral (select md5(i::varchar) as h) "
            "order by h)"
        ).fetchone()
    assert count == 3_000_000


def test_a_memory_limit_duckdb_cannot_read_is_refused_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "regreen.toml").write_text('[storage]\nmemory_limit = "lots"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert "storage.memory_limit" in str(caught.value) and "1GB" in str(caught.value)
    (tmp_path / "regreen.toml").write_text('[storage]\nmemory_limit = "768MiB"\n', encoding="utf-8")
    assert load_config(tmp_path).get("storage", "memory_limit") == "768MiB"


def test_the_peak_is_the_high_water_mark_since_the_last_reset() -> None:
    reset_peak_rss()
    before = peak_rss_mb()
    held = bytearray(200 * 2**20)
    held[:: 2**12] = b"x" * len(held[:: 2**12])  # touch every page: resident
    during = peak_rss_mb()
    del held
    reset_peak_rss()
    after = peak_rss_mb()
    assert before is not None and during is not None and after is not None
    assert during - before >= 190
    assert after < during - 150


@pytest.mark.slow
def test_a_nightly_builds_under_the_limit_and_records_each_stage_peak(tmp_path: Path) -> None:
    data_dir = DataDir(tmp_path / "data").ensure()
    write_sample(data_dir, load_reference(BUNDLED_NOTICE), seed=2023, today=date(2026, 5, 15))
    # Given by --config, from outside the data directory: every stage reads the run's own configuration.
    config = tmp_path / "elsewhere.toml"
    config.write_text(
        f'[storage]\nmemory_limit = "{LIMIT}"\n[quality]\nsuite_memory_limit = "{SUITE_LIMIT}"\n',
        encoding="utf-8",
    )
    env = {key: value for key, value in os.environ.items() if key != MEMORY_LIMIT_ENV}
    run = subprocess.run(
        [
            str(REGREEN),
            "--verbose",
            "nightly",
            "--data-dir",
            str(data_dir.root),
            "--config",
            str(config),
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=600,
    )
    assert run.returncode in (0, 1), run.stderr[-3000:]
    # The build's own connection says which limit it runs under, as DuckDB read it.
    assert f"full build, DuckDB memory limit {LIMIT_SHOWN}" in run.stderr
    assert f"suites, DuckDB memory limit {SUITE_LIMIT_SHOWN}" in run.stderr
    record = RunRecord.from_mapping(json.loads(run.stdout.strip().splitlines()[-1]))
    assert set(record.stage_peak_mb) >= {"ingest", "load", "dbt", "dbt_child", "expectations"}
    # Each a resident size a Python process with DuckDB loaded has: tens to hundreds of MiB.
    assert all(50 < peak < 2048 for peak in record.stage_peak_mb.values()), record.stage_peak_mb
    # dbt's child, with dbt and its adapter imported, holds more than a bare interpreter.
    assert record.stage_peak_mb["dbt_child"] > 100
    logged = json.loads((data_dir.logs / "runs.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    assert logged["stage_peak_mb"] == record.stage_peak_mb

    # A limit too small for what DuckDB must hold at once: one line naming the setting, nothing published.
    published = published_run_id(data_dir)
    (data_dir.root / "regreen.toml").write_text('[storage]\nmemory_limit = "2MB"\n', encoding="utf-8")
    starved = subprocess.run(
        [str(REGREEN), "build", "--full", "--data-dir", str(data_dir.root)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=600,
    )
    assert starved.returncode == 2
    assert "Traceback" not in starved.stderr
    assert "[storage] memory_limit" in starved.stderr.splitlines()[-1], starved.stderr
    assert "Out of Memory" in starved.stderr.splitlines()[-1]
    assert published_run_id(data_dir) == published
