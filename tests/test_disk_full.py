"""A nightly on a disk that fills up: one line that says so (exit 74), the published warehouse unchanged,
the run log still one JSON line a run, and the next nightly, with space again, publishes.

The data directory is copied onto a real tmpfs whose size leaves too little room for the build: mounting
one needs root (as CI and these machines run), so without it the test is skipped, unless CI is set: then
it fails. Before this, the run ended in a traceback (dbt's child died, its node list was missing, then the
report could not be written either), and its log line was cut in half."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

REGREEN = Path(sys.executable).parent / "regreen"
ROOM_MB = 3  # beyond what the data directory holds: too little for a full build (its file is ~16 MB)


def regreen(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REGREEN), *map(str, args)], capture_output=True, text=True, timeout=600, check=False
    )


def _mount(point: Path, size_mb: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(point)],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    point = tmp_path / "small"
    point.mkdir()
    mounted = _mount(point, 8) if os.geteuid() == 0 and shutil.which("mount") else None
    if mounted is None or mounted.returncode != 0:
        reason = "cannot mount a tmpfs here (needs root and mount)"
        if "CI" in os.environ:
            pytest.fail(f"CI is set but {reason}: {mounted.stderr if mounted else ''}")
        pytest.skip(reason)
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _used_mb(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) // 2**20 + 1


def test_a_disk_that_fills_up_is_one_line_and_publishes_nothing(tmp_path: Path, small_disk: Path) -> None:
    built = tmp_path / "built"
    assert regreen("sample", "--data-dir", built).returncode == 0
    first = regreen("nightly", "--data-dir", built)
    assert first.returncode == 0, first.stderr
    # The same data directory on a disk with a few MB to spare.
    remounted = subprocess.run(
        ["mount", "-o", f"remount,size={_used_mb(built) + ROOM_MB}m", str(small_disk)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert remounted.returncode == 0, remounted.stderr
    data = small_disk / "w"
    shutil.copytree(built, data)
    published = data / "regreen.duckdb"
    before = _sha256(published)

    full = regreen("nightly", "--full", "--data-dir", data)

    assert full.returncode == 74, full.stderr
    assert "Traceback" not in full.stderr
    said = full.stderr.strip().splitlines()
    assert said[-1].startswith(f"regreen: 磁盘空间不足（{data} 所在磁盘剩余 ")
    assert f"the disk of {data} is full" in said[-1] and "Free some space" in said[-1]
    assert _sha256(published) == before
    with duckdb.connect(str(published), read_only=True) as con:
        assert con.execute("select count(*) from marts.dim_project").fetchone() == (14,)
    runs = [json.loads(line) for line in (data / "logs" / "runs.jsonl").read_text().splitlines()]
    assert [run["status"] for run in runs][:1] == ["published"]
    if len(runs) == 2:  # the log line fitted on the full disk: it says what happened
        assert runs[1]["status"] == "error" and "磁盘空间不足" in runs[1]["error_message"]

    # Space again: the next nightly sweeps what this one left and publishes.
    subprocess.run(["mount", "-o", "remount,size=200m", str(small_disk)], check=True)
    again = regreen("nightly", "--full", "--data-dir", data)
    assert again.returncode == 0, again.stderr
    assert _sha256(published) != before
    assert json.loads((data / "logs" / "runs.jsonl").read_text().splitlines()[-1])["status"] == "published"
