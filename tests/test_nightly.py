"""`regreen nightly` end to end: real processes, real ingest, dbt and suites, SIGKILL, concurrent readers.

Full nightly runs cost 20-40 s each here, so the module builds three scenarios once and the tests assert
on what they recorded:

- `base`: one published nightly on the sample inbox up to 2026-05;
- `concurrent`: a copy of it gets the 2026-06 files; four SQLAlchemy readers query the published file
  while two nightlies are started together;
- `chain`: another copy runs a nightly whose checks fail, then gets the months up to 2026-11 and a
  nightly killed with SIGKILL during ingest, during dbt, at expectations, just before the warehouse
  rename and just after it; then a nightly that finishes the work.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pytest

from regreen.build import working_database
from regreen.nightly import RunRecord, lock_path, read_runs
from regreen.project import BUNDLED_NOTICE, DataDir
from regreen.publish import (
    export_dir,
    export_run_id,
    history_dir,
    history_runs,
    open_read_only,
    published_run_id,
)
from regreen.quality import run_suites
from regreen.submissions.ingest import BATCH_FILES, batch_limit
from regreen.submissions.reference import load_reference
from regreen.submissions.sample import write_sample

pytestmark = pytest.mark.slow

REGREEN = Path(sys.executable).with_name("regreen")
BASE_TODAY = date(2026, 5, 15)
LATER_TODAY = date(2026, 11, 15)
NEXT_MONTH = "2026-06"
WAIT = 600  # seconds: generous bounds for a loaded 2-core machine; never a timed assertion


@dataclass(frozen=True)
class Samples:
    base: list[Path]  # the inbox up to BASE_TODAY
    later: list[Path]  # what arrives after it, up to LATER_TODAY
    next_month: list[Path]  # the part of `later` for NEXT_MONTH only


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Samples:
    root = tmp_path_factory.mktemp("samples")
    reference = load_reference(BUNDLED_NOTICE)
    base = write_sample(DataDir(root / "base").ensure(), reference, seed=2023, today=BASE_TODAY)
    everything = write_sample(DataDir(root / "later").ensure(), reference, seed=2023, today=LATER_TODAY)
    known = {path.name for path in base}
    later = [path for path in everything if path.name not in known]
    next_month = [path for path in later if NEXT_MONTH in path.name]
    assert later and next_month
    return Samples(base, later, next_month)


def deliver(files: list[Path], data_dir: DataDir) -> None:
    """Put files in the inbox with their arrival times (modification times) as the sample set them."""
    data_dir.ensure()
    for path in files:
        shutil.copy2(path, data_dir.inbox / path.name)


def run_nightly(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REGREEN), "nightly", "--data-dir", str(root), *args],
        capture_output=True,
        text=True,
        timeout=WAIT,
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def latest_published_run(database: Path) -> str:
    with open_read_only(database) as con:
        return con.execute("select max(run_id) from meta.runs where published").fetchone()[0]


def failed_checks(database: Path) -> list[str]:
    """Every suite run again on `database`, opened read-only; the checks that fail at error level."""
    with open_read_only(database) as con:
        return [f"{r.suite}: {r.check}" for r in run_suites(con, "verify") if r.status == "failed"]


def clone(base: Path, target: Path) -> DataDir:
    shutil.copytree(base, target)
    return DataDir(target)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, samples: Samples) -> Path:
    """A data directory after one published nightly (never modified: scenarios work on copies)."""
    data_dir = DataDir(tmp_path_factory.mktemp("base") / "data")
    deliver(samples.base, data_dir)
    first = run_nightly(data_dir.root)
    assert first.returncode == 0, first.stdout + first.stderr
    return data_dir.root


# --- a running nightly a test can stop ----------------------------------------------------------------


class Running:
    """A nightly process whose stderr is read line by line as it comes."""

    def __init__(self, root: Path, pause: str | None = None) -> None:
        env = {k: v for k, v in os.environ.items() if k != "REGREEN_FAULT_PAUSE"}
        if pause:
            env["REGREEN_FAULT_PAUSE"] = pause
        self.process = subprocess.Popen(
            [str(REGREEN), "nightly", "--data-dir", str(root)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line)

    def wait_for(self, text: str) -> None:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                assert self.process.poll() is None, (
                    f"nightly ended ({self.process.returncode}) before {text!r}"
                )
                continue
            self.stderr.append(line)
            if text in line:
                return
        raise AssertionError(f"no {text!r} on stderr")

    def kill(self) -> int:
        self.process.send_signal(signal.SIGKILL)
        return self.process.wait(timeout=WAIT)


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    """Running (a zombie nobody reaped has let go of everything, so it counts as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


# --- scenario: readers while two nightlies start together ---------------------------------------------

READER = r"""
import json, sys, time
from pathlib import Path
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

database, stop, out = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
# As docs/operations.md sets Superset up: read-only, a fresh connection for every query.
engine = create_engine(
    f"duckdb:///{database}", connect_args={"read_only": True}, poolclass=NullPool, pool_pre_ping=True
)
after_stop = 0
with open(out, "w", encoding="utf-8") as log:
    while after_stop < 5:
        after_stop += stop.exists()
        try:
            with engine.connect() as conn:
                run_id, rows = conn.execute(text(
                    "select (select max(run_id) from meta.runs where published), "
                    "(select count(*) from marts.fct_submission_versions)"
                )).one()
                checks = conn.execute(text("select count(*) from quality.check_results")).scalar_one()
            entry = {"run_id": run_id, "rows": rows, "checks": checks}
        except Exception as exc:
            entry = {"error": repr(exc)}
        log.write(json.dumps(entry) + "\n")
        log.flush()
        time.sleep(0.05)
"""


@dataclass(frozen=True)
class Concurrent:
    data_dir: DataDir
    before: str
    results: list[subprocess.CompletedProcess[str]]
    observations: list[list[dict[str, object]]]  # per reader, in order


@pytest.fixture(scope="module")
def concurrent(tmp_path_factory: pytest.TempPathFactory, base: Path, samples: Samples) -> Concurrent:
    scratch = tmp_path_factory.mktemp("concurrent")
    data_dir = clone(base, scratch / "data")
    before = published_run_id(data_dir)
    deliver(samples.next_month, data_dir)
    stop = scratch / "stop"
    outs = [scratch / f"reader-{n}.jsonl" for n in range(4)]
    readers = [
        subprocess.Popen([sys.executable, "-c", READER, str(data_dir.warehouse), str(stop), str(out)])
        for out in outs
    ]
    try:
        deadline = time.monotonic() + WAIT
        while not all(out.exists() and out.read_text() for out in outs):
            assert time.monotonic() < deadline and all(r.poll() is None for r in readers)
            time.sleep(0.1)
        command = [str(REGREEN), "nightly", "--data-dir", str(data_dir.root)]
        runs = [
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        outputs = [run.communicate(timeout=WAIT) for run in runs]
        results = [
            subprocess.CompletedProcess(run.args, run.returncode, out, err)
            for run, (out, err) in zip(runs, outputs, strict=True)
        ]
    finally:
        stop.touch()
        for reader in readers:
            reader.wait(timeout=WAIT)
    observations = [[json.loads(line) for line in out.read_text().splitlines()] for out in outs]
    return Concurrent(data_dir, before, results, observations)


def test_two_nightlies_started_together_one_builds_the_other_exits_75(concurrent: Concurrent) -> None:
    codes = sorted(result.returncode for result in concurrent.results)
    assert codes == [0, 75], [r.stderr[-2000:] for r in concurrent.results]
    locked = next(r for r in concurrent.results if r.returncode == 75)
    assert "another nightly run or rollback holds" in locked.stderr and locked.stdout == ""
    # The base run and the one that built; the one that found the lock held is logged all the same.
    logged = read_runs(concurrent.data_dir)
    assert sorted(r.status for r in logged) == ["locked", "published", "published"]
    runs = [r for r in logged if r.status != "locked"]
    assert published_run_id(concurrent.data_dir) == runs[-1].run_id != concurrent.before


def test_readers_never_fail_and_each_answer_is_one_whole_version(concurrent: Concurrent) -> None:
    data_dir = concurrent.data_dir
    truth = {}
    for database in (history_dir(data_dir) / f"{concurrent.before}.duckdb", data_dir.warehouse):
        with open_read_only(database) as con:
            run_id = con.execute("select max(run_id) from meta.runs where published").fetchone()[0]
            rows = con.execute("select count(*) from marts.fct_submission_versions").fetchone()[0]
            checks = con.execute("select count(*) from quality.check_results").fetchone()[0]
        truth[run_id] = {"run_id": run_id, "rows": rows, "checks": checks}
    assert len(truth) == 2 and truth[concurrent.before]["rows"] < truth[published_run_id(data_dir)]["rows"]

    for observed in concurrent.observations:
        assert [o for o in observed if "error" in o] == []
        assert all(o == truth[o["run_id"]] for o in observed)
        versions = [o["run_id"] for o in observed]
        # Each reader saw the old warehouse, then the new one, and never went back.
        assert versions == sorted(versions) and set(versions) == set(truth)


def test_incremental_nightly_gives_the_marts_of_a_full_rebuild(
    concurrent: Concurrent, samples: Samples, tmp_path_factory: pytest.TempPathFactory
) -> None:
    full = DataDir(tmp_path_factory.mktemp("full") / "data")
    deliver(samples.base + samples.next_month, full)
    rebuilt = run_nightly(full.root)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr

    with duckdb.connect() as con:
        con.execute("attach ? as incremental (read_only)", [str(concurrent.data_dir.warehouse)])
        con.execute("attach ? as rebuilt (read_only)", [str(full.warehouse)])
        tables = {
            (catalog, name)
            for catalog, name in con.execute(
                "select table_catalog, table_name from information_schema.tables where table_schema = 'marts'"
            ).fetchall()
        }
        names = sorted({name for _, name in tables})
        assert tables == {(c, n) for c in ("incremental", "rebuilt") for n in names} and len(names) > 10
        for name in names:
            counts = [
                con.execute(f'select count(*) from {c}.marts."{name}"').fetchone()[0]
                for c in ("incremental", "rebuilt")
            ]
            assert counts[0] == counts[1], name
            for a, b in (("incremental", "rebuilt"), ("rebuilt", "incremental")):
                extra = con.execute(
                    f'select count(*) from (select * from {a}.marts."{name}" except all select * from {b}.marts."{name}")'
                ).fetchone()[0]
                assert extra == 0, f"marts.{name}: {extra} rows in {a} not in {b}"

        # The same checks with the same outcomes; the incremental run carried those over plan marts.
        outcomes = "select suite, check_name, severity, status, observed, expected, details from {}"
        runs = {}
        for catalog in ("incremental", "rebuilt"):
            run_id, mode, base = con.execute(
                f"select run_id, build_mode, base_run_id from {catalog}.meta.build"
            ).fetchone()
            runs[catalog] = (mode, base)
            this_run = f"{catalog}.quality.check_results where run_id = '{run_id}'"
            results = sorted(con.execute(outcomes.format(this_run)).fetchall(), key=repr)
            carried = dict(
                con.execute(
                    f"select carried_from_run is not null, count(*) from {this_run} group by all"
                ).fetchall()
            )
            runs[catalog] += (results, carried)
    assert runs["rebuilt"][:2] == ("full", None) and runs["incremental"][:2] == (
        "incremental",
        concurrent.before,
    )
    assert runs["incremental"][2] == runs["rebuilt"][2] and len(runs["rebuilt"][2]) > 200
    assert runs["rebuilt"][3] == {False: len(runs["rebuilt"][2])}
    assert runs["incremental"][3][True] > 50 and runs["incremental"][3][False] > 50

    # Only the models downstream of the submissions were rebuilt: the plan's stayed as they were.
    results = json.loads((concurrent.data_dir.work / "dbt-target" / "run_results.json").read_text())
    rebuilt = {
        r["unique_id"].split(".")[-1] for r in results["results"] if r["unique_id"].startswith("model.")
    }
    assert {
        "stg_submissions__rows",
        "fct_project_month",
        "plan_vs_actual_project",
        "submission_timeliness",
    } <= rebuilt
    assert not rebuilt & {
        "stg_plan__projects",
        "dim_project",
        "dim_township",
        "fct_plan",
        "bridge_project_village",
    }
    built = [r.build_mode for r in read_runs(concurrent.data_dir) if r.status != "locked"]
    assert built == ["full", "incremental"]


# --- scenario: failed checks, then a nightly killed at every stage, then one that finishes ------------


@dataclass(frozen=True)
class Kill:
    point: str
    run_id: str
    returncode: int
    published_sha256: str
    published_run: str
    export_run: str | None
    inbox_left: int
    stderr: str


@dataclass(frozen=True)
class Chain:
    data_dir: DataDir
    base_run: str
    base_sha256: str
    failed: subprocess.CompletedProcess[str]
    failed_record: RunRecord
    arrivals: list[Path]  # the files delivered before the kills
    kills: list[Kill]
    orphan: int
    orphan_alive_after_takeover: bool
    final: subprocess.CompletedProcess[str]
    duplicate: Path


def bad_notice(folder: Path) -> Path:
    """The notice with 2023's first row and its 合计 both one mu more: it parses, the 2023 area check fails."""
    text = BUNDLED_NOTICE.read_text(encoding="utf-8")
    for old, new in (("治理项目\t13\t139", "治理项目\t13\t140"), ("合计\t\t72\t993", "合计\t\t72\t994")):
        assert text.count(old) == 1
        text = text.replace(old, new)
    path = folder / "notice-994.txt"
    path.write_text(text, encoding="utf-8")
    return path


def resent(files: list[Path], folder: Path, times: int) -> list[Path]:
    """Each file mailed again `times` times, a minute apart: trailing blank lines make other bytes, same rows."""
    assert all(path.suffix == ".csv" for path in files)
    folder.mkdir()
    copies = []
    for path in files:
        for count in range(1, times + 1):
            copy = folder / f"{path.stem}-重发{count}{path.suffix}"
            copy.write_bytes(path.read_bytes() + b"\r\n" * count)
            arrived = path.stat().st_mtime_ns + count * 60_000_000_000
            os.utime(copy, ns=(arrived, arrived))
            copies.append(copy)
    return copies


def lock_stage(data_dir: DataDir) -> str | None:
    """The stage the lock file says the running nightly is in (None while it is being rewritten)."""
    try:
        return json.loads(lock_path(data_dir).read_text()).get("stage")
    except ValueError:
        return None


def observe_kill(data_dir: DataDir, running: Running, point: str) -> Kill:
    run_id = json.loads(lock_path(data_dir).read_text())["run_id"]
    returncode = running.kill()
    return Kill(
        point=point,
        run_id=run_id,
        returncode=returncode,
        published_sha256=sha256(data_dir.warehouse),
        published_run=latest_published_run(data_dir.warehouse),
        export_run=export_run_id(export_dir(data_dir)),
        inbox_left=sum(path.is_file() for path in data_dir.inbox.iterdir()),
        stderr="".join(running.stderr),
    )


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory, base: Path, samples: Samples) -> Chain:
    scratch = tmp_path_factory.mktemp("chain")
    data_dir = clone(base, scratch / "data")
    base_run = published_run_id(data_dir)
    base_sha256 = sha256(data_dir.warehouse)

    # A clerk mails an old file again under another name: same bytes, a new arrival.
    duplicate = scratch / "转发-张坂镇-月度进展.xlsx"
    shutil.copyfile(next(p for p in samples.base if p.suffix == ".xlsx"), duplicate)
    sent = time.time() - 120  # saved two minutes ago: past the inbox's settle time
    os.utime(duplicate, (sent, sent))
    deliver([duplicate], data_dir)
    failed = run_nightly(data_dir.root, "--notice", str(bad_notice(scratch)))
    failed_record = read_runs(data_dir)[-1]

    # The new months, and enough resent copies of them for more than one ingest batch.
    copies = -(-(BATCH_FILES + 10) // len(samples.later))
    arrivals = [*samples.later, *resent(samples.later, scratch / "resent", copies)]
    deliver(arrivals, data_dir)
    kills = []

    # During ingest: the first batch landed, the next file archived but not landed, the rest waiting.
    # (A named pipe used to hold the ingest here; pipes are refused unread now.)
    running = Running(data_dir.root, pause="ingest-batch")
    running.wait_for("paused at ingest-batch")
    kills.append(observe_kill(data_dir, running, "ingest"))

    # During dbt: the nightly dies, its dbt child does not; the next run must wait for it.
    running = Running(data_dir.root)
    deadline = time.monotonic() + WAIT
    while not (
        lock_stage(data_dir) == "dbt"
        and (
            dbt := [
                c for c in children(running.process.pid) if b"dbt" in Path(f"/proc/{c}/cmdline").read_bytes()
            ]
        )
    ):
        assert time.monotonic() < deadline and running.process.poll() is None
        time.sleep(0.05)
    time.sleep(3)  # dbt has opened the working database by now
    kills.append(observe_kill(data_dir, running, "dbt"))
    orphan = dbt[0]

    orphan_alive_after_takeover = True
    for point in ("expectations", "publish-rename", "publish-swap"):
        running = Running(data_dir.root, pause=point)
        running.wait_for(f"paused at {point}")
        if point == "expectations":
            orphan_alive_after_takeover = alive(orphan)
        kills.append(observe_kill(data_dir, running, point))

    final = run_nightly(data_dir.root)
    return Chain(
        data_dir,
        base_run,
        base_sha256,
        failed,
        failed_record,
        arrivals,
        kills,
        orphan,
        orphan_alive_after_takeover,
        final,
        duplicate,
    )


def test_failed_checks_publish_nothing_and_are_recorded_with_the_reason(chain: Chain) -> None:
    assert chain.failed.returncode == 1, chain.failed.stderr[-2000:]
    assert "NOT published" in chain.failed.stdout and "2023 年度计划面积 = 993 亩" in chain.failed.stdout
    record = chain.failed_record
    assert record.status == "checks_failed" and not record.published and record.checks_failed >= 1
    assert "2023 planned area = 993 mu" in record.error_message and "994" in record.error_message
    assert (chain.data_dir.work / f"failed-{record.run_id}.duckdb").exists()
    assert record.build_mode == "full"  # another notice: nothing of the published warehouse is reused
    # The kills below all happened after it: the warehouse they found was still the base one.
    assert chain.kills[0].published_sha256 == chain.base_sha256


def test_a_file_received_before_is_not_parsed_again(chain: Chain) -> None:
    record = chain.failed_record
    assert (record.files_received, record.files_duplicate, record.rows_read, record.rows_loaded) == (
        1,
        1,
        0,
        0,
    )


def test_every_kill_before_the_rename_leaves_the_previous_warehouse_whole(chain: Chain) -> None:
    before_rename = [kill for kill in chain.kills if kill.point != "publish-swap"]
    assert [kill.point for kill in before_rename] == ["ingest", "dbt", "expectations", "publish-rename"]
    for kill in before_rename:
        assert kill.returncode == -signal.SIGKILL
        assert kill.published_sha256 == chain.base_sha256, kill.point
        assert kill.published_run == chain.base_run and kill.export_run == chain.base_run, kill.point
    # Killed mid-ingest: one batch of new files landed and left the inbox, the others were still there.
    assert chain.kills[0].inbox_left == len(chain.arrivals) - batch_limit(len(chain.arrivals))
    # The base warehouse, byte for byte what the readers had all along, still passes every check.
    kept = history_dir(chain.data_dir) / f"{chain.base_run}.duckdb"
    assert sha256(kept) == chain.base_sha256
    assert failed_checks(kept) == []


def test_a_kill_after_the_rename_leaves_the_new_warehouse_whole(chain: Chain) -> None:
    kill = chain.kills[-1]
    assert kill.point == "publish-swap" and kill.returncode == -signal.SIGKILL
    assert kill.published_run == kill.run_id != chain.base_run
    assert kill.export_run == chain.base_run  # its exports were not swapped in yet
    # Still the published warehouse, byte for byte: the run after it found nothing new to publish.
    kept = chain.data_dir.warehouse
    assert published_run_id(chain.data_dir) == kill.run_id
    assert sha256(kept) == kill.published_sha256
    assert failed_checks(kept) == []


def test_the_dbt_left_by_a_killed_nightly_is_waited_for(chain: Chain) -> None:
    assert not chain.orphan_alive_after_takeover
    taking_over = chain.kills[2]
    assert f"run {chain.kills[1].run_id}" in taking_over.stderr and "stopped during dbt" in taking_over.stderr


def test_the_next_nightly_finishes_the_work_nothing_lost_nothing_twice(
    chain: Chain, samples: Samples, tmp_path_factory: pytest.TempPathFactory
) -> None:
    data_dir = chain.data_dir
    assert chain.final.returncode == 0, chain.final.stdout + chain.final.stderr[-3000:]
    assert list(data_dir.inbox.iterdir()) == []

    runs = {record.run_id: record for record in read_runs(data_dir)}
    final_run = list(runs)[-1]
    assert len(runs) == len(read_runs(data_dir))  # every run logged once
    expected = {
        chain.base_run: "published",
        chain.failed_record.run_id: "checks_failed",
        **{kill.run_id: "interrupted" for kill in chain.kills[:-1]},
        chain.kills[-1].run_id: "published",
    }
    assert {run_id: record.status for run_id, record in runs.items()} == {
        **expected,
        final_run: "nothing_to_do",
    }
    # The run killed after its rename had published everything received: the last run repaired the
    # exports it had not swapped in, and found nothing new to build.
    published_run = chain.kills[-1].run_id
    assert (runs[final_run].build_mode, runs[final_run].build_base_run_id) == (None, published_run)
    assert "nothing new" in chain.final.stdout
    for kill in chain.kills[:-1]:  # the stage it died in ("publish" for the point just before the rename)
        assert f"during {kill.point.removesuffix('-rename')}" in runs[kill.run_id].error_message

    with open_read_only(data_dir.warehouse) as con:
        meta = dict(con.execute("select run_id, status from meta.runs").fetchall())
        failed_run_checks = con.execute(
            "select count(*) filter (status = 'failed'), count(*) from quality.check_results where run_id = ?",
            [chain.failed_record.run_id],
        ).fetchone()
        stage_seconds = json.loads(
            con.execute("select stage_seconds from meta.runs where run_id = ?", [published_run]).fetchone()[0]
        )
    assert meta == expected
    assert failed_run_checks[0] >= 1 and failed_run_checks[1] > failed_run_checks[0]
    # The five stages, and `compact` when an incremental build was rewritten compact (regreen.build).
    assert set(stage_seconds) - {"compact"} == {"ingest", "load", "dbt", "expectations", "publish"}

    assert export_run_id(export_dir(data_dir)) == published_run == published_run_id(data_dir)
    exported = [path.read_text(encoding="utf-8-sig") for path in (export_dir(data_dir) / "csv").glob("*.csv")]
    assert len(exported) > 10 and any("洛阳镇" in text for text in exported)
    # The reporters' names and phones stay in the landing zone.
    assert not any("示例填报人" in text or "000-0000-" in text for text in exported)
    assert [p.name for p in data_dir.root.glob("export.tmp-*")] == []
    assert not working_database(data_dir).exists()
    assert history_runs(data_dir) == [chain.base_run]  # the one published before

    # The landing holds what one uninterrupted ingest of the same files holds: nothing lost, nothing twice.
    fresh = DataDir(tmp_path_factory.mktemp("fresh") / "data")
    deliver([*samples.base, chain.duplicate, *chain.arrivals], fresh)
    ingested = subprocess.run(
        [str(REGREEN), "ingest", "--data-dir", str(fresh.root)], capture_output=True, text=True, timeout=WAIT
    )
    assert ingested.returncode == 0, ingested.stderr[-2000:]
    with duckdb.connect() as con:
        con.execute("attach ? as chain (read_only)", [str(data_dir.landing)])
        con.execute("attach ? as fresh (read_only)", [str(fresh.landing)])
        for query in (
            "select sha256, status, rows_read, rows_loaded, rows_rejected, error_count, warning_count "
            "from {db}.raw.submission_files",
            "select f.sha256, r.original_name, r.outcome "
            "from {db}.raw.submission_receipts r join {db}.raw.submission_files f using (file_id)",
            "select f.sha256, r.* exclude (file_id) "
            "from {db}.raw.submission_rows r join {db}.raw.submission_files f using (file_id)",
        ):
            landed = [
                sorted(con.execute(query.format(db=db)).fetchall(), key=repr) for db in ("chain", "fresh")
            ]
            assert landed[0] == landed[1] and len(landed[0]) > 100, query
        files = con.execute(
            "select count(*), count(distinct sha256) from chain.raw.submission_files"
        ).fetchone()
    assert (
        files[0] == files[1] == len(samples.base) + len(chain.arrivals) - 1
    )  # the base mails one file twice
