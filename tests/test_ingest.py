"""`ingest_inbox` / `regreen ingest`: archive, validate, load or quarantine; never lose a file, never load
one twice, not even when killed half-way."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from regreen.errors import EXIT_LOCKED
from regreen.project import BUNDLED_NOTICE, DataDir
from regreen.submissions import ingest as ingest_module
from regreen.submissions.ingest import IngestSummary, _Arrival, ingest_inbox
from regreen.submissions.reference import PlanReference, load_reference
from regreen.submissions.sample import CHINA_TZ, write_sample
from regreen.submissions.validate import validate_file

TODAY = date(2026, 11, 28)
SEED = 2023
PHONES = {f"000-0000-000{n}" for n in range(1, 6)}
NOT_SUBMISSIONS = {
    "README.txt": b"drop the townships' files here\n",
    ".DS_Store": b"\0\0\0\1Bud1",
    "~$lock.xlsx": b"x",
    # AppleDouble, as macOS writes it beside a file copied to a shared drive or zipped: magic, version,
    # "Mac OS X" filler, one entry (Finder info)
    "._东园镇-2025-06.xlsx": bytes.fromhex("00051607 00020000").ljust(8, b"\0")
    + b"Mac OS X        "
    + bytes.fromhex("0001 00000009 00000032 00000020")
    + bytes(32),
}


@dataclass(frozen=True)
class Received:
    name: str
    sha256: str
    suffix: str
    mtime_ns: int


@dataclass(frozen=True)
class Ingested:
    data_dir: DataDir
    received: list[Received]  # the sample as it was in the inbox before the ingest
    summary: IngestSummary
    log: str


@pytest.fixture(scope="module")
def reference() -> PlanReference:
    return load_reference(BUNDLED_NOTICE)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def snapshot_inbox(inbox: Path) -> list[Received]:
    return [
        Received(p.name, sha256(p.read_bytes()), p.suffix, p.stat().st_mtime_ns)
        for p in sorted(inbox.iterdir())
        if p.name not in NOT_SUBMISSIONS
    ]


def sample_dir(root: Path, reference: PlanReference, today: date = TODAY) -> DataDir:
    data_dir = DataDir(root).ensure()
    write_sample(data_dir, reference, SEED, today)
    for name, content in NOT_SUBMISSIONS.items():
        (data_dir.inbox / name).write_bytes(content)
    return data_dir


def query(data_dir: DataDir, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(data_dir.landing), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory, reference: PlanReference) -> Ingested:
    data_dir = sample_dir(tmp_path_factory.mktemp("ingested"), reference)
    received = snapshot_inbox(data_dir.inbox)
    handler_records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            handler_records.append(record.getMessage())

    logger = logging.getLogger("regreen")
    handler, level = Collect(level=logging.DEBUG), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        summary = ingest_inbox(data_dir, reference, TODAY)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return Ingested(data_dir, received, summary, "\n".join(handler_records))


def folder_hashes(path: Path) -> dict[str, str]:
    return {p.name: sha256(p.read_bytes()) for p in sorted(path.iterdir())}


def landed_state(data_dir: DataDir) -> dict[str, Any]:
    """Everything an ingest leaves behind, without run ids, ids and clock times."""
    files = query(
        data_dir,
        "select sha256, original_name, archived_path, size_bytes, submitted_at, status, sheet, rows_read, "
        "rows_loaded, rows_rejected, error_count, warning_count, report_path, is_sample "
        "from raw.submission_files order by sha256",
    )
    receipts = query(
        data_dir,
        "select f.sha256, r.original_name, r.submitted_at, r.outcome from raw.submission_receipts r "
        "join raw.submission_files f using (file_id) order by all",
    )
    rows = query(
        data_dir,
        "select f.sha256, r.* exclude (file_id) from raw.submission_rows r "
        "join raw.submission_files f using (file_id) order by all",
    )
    issues = query(
        data_dir,
        "select f.sha256, i.* exclude (file_id) from raw.submission_issues i "
        "join raw.submission_files f using (file_id) order by all",
    )

    return {
        "files": files,
        "receipts": receipts,
        "rows": rows,
        "issues": issues,
        "archive": folder_hashes(data_dir.archive),
        "quarantine": folder_hashes(data_dir.quarantine),
        "inbox": folder_hashes(data_dir.inbox),
    }


# --- one ingest of the sample ------------------------------------------------------------------------


def test_the_counts_reconcile(ingested: Ingested) -> None:
    s = ingested.summary
    assert s.received == len(ingested.received) + len(NOT_SUBMISSIONS)
    assert s.received == s.accepted + s.rejected + s.duplicate + s.skipped
    assert (s.rejected, s.duplicate, s.skipped) == (2, 1, 4)
    assert s.rows_read == s.rows_loaded + s.rows_rejected
    data_dir = ingested.data_dir
    per_file = query(
        data_dir, "select rows_read, rows_loaded, rows_rejected, status from raw.submission_files"
    )
    assert len(per_file) == s.accepted + s.rejected
    assert all(read == loaded + rejected for read, loaded, rejected, _ in per_file)
    assert all(loaded == 0 for _, loaded, _, status in per_file if status == "rejected")
    [(rows,)] = query(data_dir, "select count(*) from raw.submission_rows")
    assert rows == sum(loaded for _, loaded, _, _ in per_file) == s.rows_loaded > 200
    [(read, rejected)] = query(
        data_dir, "select sum(rows_read), sum(rows_rejected) from raw.submission_files"
    )
    assert (read, rejected) == (s.rows_read, s.rows_rejected)
    assert s.rows_rejected > 0
    outcomes = dict(query(data_dir, "select outcome, count(*) from raw.submission_receipts group by outcome"))
    assert outcomes == {"new": s.accepted + s.rejected, "duplicate": 1}
    assert s.to_dict()["files"] == {
        "received": s.received,
        "accepted": s.accepted,
        "rejected": 2,
        "duplicate": 1,
        "skipped": 4,
    }
    rendered = s.render()
    assert f"{s.received} files: {s.accepted} accepted, 2 rejected, 1 duplicate, 4 skipped" in rendered
    # totals, then each rejected and skipped file, then each project-month restated
    restated = [line for f in s.files for line in f.restated]
    assert len(rendered.splitlines()) == 2 + 2 + 4 + len(restated)
    # The sample restates 张坂镇's 2024-08: each project-month names the version it replaces.
    assert restated and all("示例-张坂镇-2024-08-月度进展.xlsx" in line for line in restated)
    assert all("重报 / restated" in line for line in rendered.splitlines()[-len(restated) :])


def test_the_archive_holds_every_received_file_byte_for_byte(ingested: Ingested) -> None:
    archive = ingested.data_dir.archive
    for file in ingested.received:
        copy = archive / f"{file.sha256}{file.suffix}"
        assert sha256(copy.read_bytes()) == file.sha256, file.name
    assert len(list(archive.iterdir())) == len({f.sha256 for f in ingested.received})
    for sha, archived_path, size in query(
        ingested.data_dir, "select sha256, archived_path, size_bytes from raw.submission_files"
    ):
        path = ingested.data_dir.root / archived_path
        assert sha256(path.read_bytes()) == sha and path.stat().st_size == size


def test_the_inbox_keeps_only_what_is_not_a_submission(ingested: Ingested) -> None:
    assert sorted(p.name for p in ingested.data_dir.inbox.iterdir()) == sorted(NOT_SUBMISSIONS)
    skipped = {f.name: f.detail for f in ingested.summary.files if f.outcome == "skipped"}
    assert (
        skipped
        == {
            "README.txt": "不是填报文件 / not a submission (.xlsx or .csv)",
            ".DS_Store": "不是填报文件 / not a submission (.xlsx or .csv)",  # hidden-looking names are taken as any
            "~$lock.xlsx": "Office 锁定文件 / an Office lock file",
            "._东园镇-2025-06.xlsx": "macOS 元数据文件（._）/ a macOS metadata file (AppleDouble)",
        }
    )
    assert "README.txt" in ingested.summary.render()


def test_files_land_in_order_of_arrival_with_their_arrival_time(ingested: Ingested) -> None:
    landed = query(
        ingested.data_dir,
        "select original_name, submitted_at from raw.submission_receipts order by receipt_id",
    )
    by_arrival = sorted(ingested.received, key=lambda f: (f.mtime_ns, f.name))
    assert [name for name, _ in landed] == [f.name for f in by_arrival]
    for (name, submitted_at), file in zip(landed, by_arrival, strict=True):
        expected = datetime.fromtimestamp(file.mtime_ns / 1e9, CHINA_TZ).replace(tzinfo=None)
        assert submitted_at == expected, name


def test_a_file_sent_twice_is_a_receipt_only(ingested: Ingested) -> None:
    data_dir = ingested.data_dir
    receipts = query(
        data_dir,
        "select original_name, outcome, file_id from raw.submission_receipts "
        "where original_name like '示例-百崎乡-2024-06-月度进展%' order by receipt_id",
    )
    assert [(name, outcome) for name, outcome, _ in receipts] == [
        ("示例-百崎乡-2024-06-月度进展.csv", "new"),
        ("示例-百崎乡-2024-06-月度进展(1).csv", "duplicate"),
    ]
    assert receipts[0][2] == receipts[1][2]
    assert query(
        data_dir, "select count(*) from raw.submission_files where original_name like '%(1).csv'"
    ) == [(0,)]
    [(file_rows, loaded)] = query(
        data_dir,
        "select (select count(*) from raw.submission_rows r where r.file_id = f.file_id), rows_loaded "
        "from raw.submission_files f where file_id = ?",
        [receipts[0][2]],
    )
    assert file_rows == loaded > 0


def test_a_rejected_file_is_quarantined_with_its_report(ingested: Ingested) -> None:
    data_dir = ingested.data_dir
    rejected = query(
        data_dir,
        "select original_name, sha256, report_path, rows_read, rows_rejected, error_count "
        "from raw.submission_files where status = 'rejected' order by original_name",
    )
    assert [r[0] for r in rejected] == [
        "示例-张坂镇-2024-11-月度进展.xlsx",
        "示例-洛阳镇-2024-05-月度进展.csv",
    ]
    for name, sha, report_path, rows_read, rows_rejected, errors in rejected:
        assert sha256((data_dir.quarantine / name).read_bytes()) == sha
        assert report_path == f"quarantine/{name}.errors.txt"
        report = (data_dir.root / report_path).read_text(encoding="utf-8")
        assert "拒收" in report and "REJECTED" in report
        assert rows_read == rows_rejected > 0 and errors >= 1
        landed = query(
            data_dir,
            "select severity, code from raw.submission_issues i join raw.submission_files f using (file_id) "
            "where f.original_name = ? and severity = 'error'",
            [name],
        )
        assert len(landed) == errors
    reports = {p.name for p in data_dir.quarantine.iterdir()}
    assert reports == {n for r in rejected for n in (r[0], f"{r[0]}.errors.txt")}
    assert "约" in (data_dir.quarantine / "示例-洛阳镇-2024-05-月度进展.csv.errors.txt").read_text()
    assert "浮山村" in (data_dir.quarantine / "示例-张坂镇-2024-11-月度进展.xlsx.errors.txt").read_text()


def test_accepted_rows_land_normalised_with_their_warnings(ingested: Ingested) -> None:
    data_dir = ingested.data_dir
    # Every version stays: the restated month has two accepted files, the corrected one arriving later.
    versions = query(
        data_dir,
        "select f.original_name, count(*) from raw.submission_rows r join raw.submission_files f using (file_id) "
        "where r.township = '张坂镇' and r.report_month = date '2024-08-01' group by all order by min(f.submitted_at)",
    )
    assert [name for name, _ in versions] == [
        "示例-张坂镇-2024-08-月度进展.xlsx",
        "示例-张坂镇-2024-08-月度进展（更正）.xlsx",
    ]
    assert versions[0][1] == versions[1][1]
    # 东园镇 writes hectares: landed in mu, between the planned area's bounds.
    [(largest,)] = query(
        data_dir, "select max(area_done_mu) from raw.submission_rows where project_code = '2023-02'"
    )
    assert 78 <= largest <= 81
    assert query(data_dir, "select count(distinct project_code) from raw.submission_rows") == [(14,)]
    assert query(data_dir, "select bool_and(is_sample) from raw.submission_files") == [(True,)]
    [(warnings, counted)] = query(
        data_dir,
        "select (select count(*) from raw.submission_issues i join raw.submission_files f using (file_id) "
        "where f.status = 'accepted'), (select sum(warning_count) from raw.submission_files where status = 'accepted')",
    )
    assert warnings == counted > 0
    assert query(
        data_dir,
        "select count(*) from raw.submission_issues i join raw.submission_files f using (file_id) "
        "where f.status = 'accepted' and i.severity = 'error'",
    ) == [(0,)]


def test_personal_data_stays_in_the_landing_rows(ingested: Ingested) -> None:
    data_dir = ingested.data_dir
    phones = {phone for (phone,) in query(data_dir, "select distinct phone from raw.submission_rows")}
    assert phones == PHONES
    reporters = {r for (r,) in query(data_dir, "select distinct reporter from raw.submission_rows")}
    reports = "".join(p.read_text(encoding="utf-8") for p in data_dir.quarantine.glob("*.errors.txt"))
    issues = str(query(data_dir, "select * from raw.submission_issues"))
    for secret in PHONES | reporters:
        assert secret not in reports
        assert secret not in ingested.log
        assert secret not in ingested.summary.render()
        assert secret not in issues
    for file in ingested.received:
        assert file.name in ingested.log


def test_ingesting_again_changes_nothing(
    ingested: Ingested, reference: PlanReference, tmp_path: Path
) -> None:
    copy = DataDir(tmp_path / "again")
    shutil.copytree(ingested.data_dir.root, copy.root)
    before = landed_state(copy)
    summary = ingest_inbox(copy, reference, TODAY)
    assert (summary.received, summary.skipped, summary.rows_loaded) == (
        len(NOT_SUBMISSIONS),
        len(NOT_SUBMISSIONS),
        0,
    )
    assert landed_state(copy) == before


# --- hand-written edge cases -------------------------------------------------------------------------

HEADER = (
    "填报月份,乡镇,项目名称,累计完成图斑(个),累计治理面积(亩),其中林地(亩),其中耕地(亩),其中草地(亩),项目阶段,"
    "累计完成投资(万元),上级资金(万元),区财政资金(万元),废石处置收入(万元),社会资本(万元),废石处置量(万立方米),"
    "监理单位,验收日期,备注,填报人,联系电话"
)


def line(month: str, area: str) -> str:
    return f"{month},东园镇,东园镇阳光、琅山村废弃矿山生态治理项目,3,{area},10,0,5,施工中,50,0,50,0,0,1.2,某监理,,,测试人,000-1111-2222"


def drop(inbox: Path, name: str, text: str, arrived: datetime) -> Path:
    path = inbox / name
    path.write_text(text, encoding="utf-8")
    stamp = int(arrived.timestamp() * 1e9)
    os.utime(path, ns=(stamp, stamp))
    return path


def test_a_zip_of_submissions_is_kept_and_rejected_saying_to_unpack_it(
    tmp_path: Path, reference: PlanReference
) -> None:
    # A township's months zipped into one mail attachment: left in the inbox, nobody heard of it.
    data_dir = DataDir(tmp_path).ensure()
    day = datetime(2024, 2, 3, 9, 0, tzinfo=CHINA_TZ)
    inner = drop(tmp_path, "东园镇-2024-01.csv", f"{HEADER}\n{line('2024-01', '20')}\n", day)
    archive = data_dir.inbox / "东园镇-2024年1月.zip"
    with zipfile.ZipFile(archive, "w") as packed:
        packed.write(inner, inner.name)
    stamp = int(day.timestamp() * 1e9)
    os.utime(archive, ns=(stamp, stamp))
    sent = archive.read_bytes()

    summary = ingest_inbox(data_dir, reference, TODAY)

    assert [(f.name, f.outcome, f.errors) for f in summary.files] == [("东园镇-2024年1月.zip", "rejected", 1)]
    assert list(data_dir.inbox.iterdir()) == []
    assert (data_dir.quarantine / "东园镇-2024年1月.zip").read_bytes() == sent  # kept byte for byte
    said = (data_dir.quarantine / "东园镇-2024年1月.zip.errors.txt").read_text(encoding="utf-8")
    assert "压缩包" in said and "unpack it and submit the .xlsx or .csv files inside" in said


def test_edge_cases_wrong_format_folders_and_name_clashes(tmp_path: Path, reference: PlanReference) -> None:
    data_dir = DataDir(tmp_path).ensure()
    day = datetime(2024, 2, 3, 9, 0, tzinfo=CHINA_TZ)
    drop(data_dir.inbox, "东园镇-2024-01.xls", "not really excel", day)
    drop(data_dir.inbox, "东园镇-2024-01.csv", f"{HEADER}\n{line('2024-01', '约20')}\n", day)
    (data_dir.inbox / "old").mkdir()
    first = ingest_inbox(data_dir, reference, TODAY)
    # Same arrival time: by name; the folder, made now, arrived last.
    assert [(f.name, f.outcome) for f in first.files] == [
        ("东园镇-2024-01.csv", "rejected"),
        ("东园镇-2024-01.xls", "rejected"),
        ("old", "skipped"),
    ]
    assert first.files[-1].detail == "文件夹 / a folder"
    assert "xlsx" in (data_dir.quarantine / "东园镇-2024-01.xls.errors.txt").read_text()
    # The clerk sends another bad file under the same name: both stay in quarantine.
    drop(data_dir.inbox, "东园镇-2024-01.csv", f"{HEADER}\n{line('2024-01', '-20')}\n", day.replace(day=4))
    second = ingest_inbox(data_dir, reference, TODAY)
    assert [(f.outcome, f.errors) for f in second.files if f.name.endswith(".csv")] == [("rejected", 1)]
    quarantined = sorted(p.name for p in data_dir.quarantine.iterdir() if p.name.endswith(".csv"))
    assert len(quarantined) == 2 and "东园镇-2024-01.csv" in quarantined
    assert {sha256((data_dir.quarantine / n).read_bytes()) for n in quarantined} == {
        sha
        for (sha,) in query(
            data_dir, "select sha256 from raw.submission_files where original_name like '%.csv'"
        )
    }
    # Then the right one, typed with a full-width digit, is accepted.
    fixed = line("2024-01", "２0.5")
    drop(data_dir.inbox, "东园镇-2024-01.csv", f"{HEADER}\n{fixed}\n", day.replace(day=5))
    third = ingest_inbox(data_dir, reference, TODAY)
    assert [(f.outcome, f.rows_loaded) for f in third.files if f.name.endswith(".csv")] == [("accepted", 1)]
    assert query(
        data_dir,
        "select r.area_done_mu::double, f.is_sample, r.phone from raw.submission_rows r "
        "join raw.submission_files f using (file_id)",
    ) == [(20.5, False, "000-1111-2222")]


def test_a_project_accepted_in_an_earlier_file_is_not_missed_later(
    tmp_path: Path, reference: PlanReference
) -> None:
    data_dir = DataDir(tmp_path).ensure()
    accepted = line("2024-01", "80").replace("施工中", "已验收").replace("某监理,,", "某监理,2024-01-20,")
    drop(
        data_dir.inbox, "东园镇-2024-01.csv", f"{HEADER}\n{accepted}\n", datetime(2024, 2, 3, tzinfo=CHINA_TZ)
    )
    later = "2025-02,东园镇,东园镇群青、锦丰村废弃矿山生态治理项目,0,0,0,0,0,方案编制,0,0,0,0,0,0,,,,测试人,000-1111-2222"
    later_file = f"{HEADER}\n{later}\n"
    drop(data_dir.inbox, "东园镇-2025-02.csv", later_file, datetime(2025, 3, 3, tzinfo=CHINA_TZ))
    summary = ingest_inbox(data_dir, reference, TODAY)
    assert [(f.outcome, f.warnings) for f in summary.files] == [("accepted", 0), ("accepted", 0)]
    # Without the earlier file, the 2025 report is warned that it leaves out 2023-02.
    alone = validate_file(data_dir.archive / f"{sha256(later_file.encode())}.csv", reference, TODAY)
    assert [i.value for i in alone.warnings] == ["东园镇阳光、琅山村废弃矿山生态治理项目"]


def test_a_crash_after_the_commit_neither_loses_nor_doubles_the_file(
    tmp_path: Path, reference: PlanReference
) -> None:
    """Simulate each crash point by putting the disk in the state the crash leaves, then rerun."""
    data_dir = DataDir(tmp_path).ensure()
    day = datetime(2024, 2, 3, 9, 0, tzinfo=CHINA_TZ)
    good = drop(data_dir.inbox, "东园镇-2024-01.csv", f"{HEADER}\n{line('2024-01', '20')}\n", day)
    content, stamp = good.read_bytes(), good.stat().st_mtime_ns
    # Crashed before the commit: the archive copy and a half-written temp file exist, the landing is empty.
    (data_dir.archive / f"{sha256(content)}.csv").write_bytes(content)
    (data_dir.archive / f".{sha256(content)}.csv.partial").write_bytes(content[:10])
    first = ingest_inbox(data_dir, reference, TODAY)
    assert [f.outcome for f in first.files] == ["accepted"]
    assert sorted(p.name for p in data_dir.archive.iterdir()) == [f"{sha256(content)}.csv"]
    state = landed_state(data_dir)
    # Crashed after the commit, before the inbox was cleared: the same arrival is back in the inbox.
    good.write_bytes(content)
    os.utime(good, ns=(stamp, stamp))
    second = ingest_inbox(data_dir, reference, TODAY)
    assert [(f.outcome, f.rows_loaded) for f in second.files] == [("accepted", 1)]
    assert second.files[0].detail is not None and "interrupted" in second.files[0].detail
    # Nothing is new this run: the summary counts it as received before, its rows as loaded before.
    assert (second.accepted, second.duplicate, second.rows_read, second.rows_loaded) == (0, 1, 0, 0)
    assert landed_state(data_dir) == state  # no duplicate receipt, nothing loaded twice
    # The same bytes arriving again later, under another name, are a duplicate.
    again = drop(data_dir.inbox, "东园镇-2024-01(1).csv", content.decode(), day.replace(day=9))
    third = ingest_inbox(data_dir, reference, TODAY)
    assert [f.outcome for f in third.files] == ["duplicate"] and not again.exists()


def test_a_copy_taken_while_its_original_is_landing_is_a_duplicate(
    tmp_path: Path, reference: PlanReference, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch lands on its own thread while the next files are taken: the same bytes arriving then are
    not in the landing yet, and must still be a receipt only, loaded once."""
    monkeypatch.setattr(ingest_module, "BATCH_FILES", 1)  # every file its own batch
    commit = ingest_module._Batch.commit
    landing = threading.Event()

    def slow_commit(self: Any, *args: Any) -> None:
        landing.set()
        time.sleep(0.5)  # still landing when the copy is taken
        commit(self, *args)

    monkeypatch.setattr(ingest_module._Batch, "commit", slow_commit)
    data_dir = DataDir(tmp_path).ensure()
    day = datetime(2024, 2, 3, 9, 0, tzinfo=CHINA_TZ)
    text = f"{HEADER}\n{line('2024-01', '20')}\n"
    drop(data_dir.inbox, "东园镇-2024-01.csv", text, day)
    drop(data_dir.inbox, "东园镇-2024-01(1).csv", text, day.replace(day=4))
    summary = ingest_inbox(data_dir, reference, TODAY)
    assert landing.is_set()
    assert [f.outcome for f in summary.files] == ["accepted", "duplicate"]
    assert (summary.rows_read, summary.rows_loaded) == (1, 1)
    assert query(data_dir, "select count(*) from raw.submission_files") == [(1,)]
    assert query(data_dir, "select count(*) from raw.submission_rows") == [(1,)]
    receipts = query(data_dir, "select outcome, file_id from raw.submission_receipts order by receipt_id")
    assert [outcome for outcome, _ in receipts] == ["new", "duplicate"]
    assert receipts[0][1] == receipts[1][1]
    assert list(data_dir.inbox.iterdir()) == []


def test_the_last_two_batches_share_the_files_left_evenly(
    tmp_path: Path, reference: PlanReference, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the last batch may land after the last file is judged: one of a few files would leave the
    batch before it still landing then, and the run would wait for both (see batch_limit)."""
    monkeypatch.setattr(ingest_module, "BATCH_FILES", 4)
    commit = ingest_module._Batch.commit
    landed: list[int] = []

    def counted_commit(self: Any, *args: Any) -> None:
        landed.append(len(self.receipts))
        commit(self, *args)

    monkeypatch.setattr(ingest_module._Batch, "commit", counted_commit)
    data_dir = DataDir(tmp_path).ensure()
    for month in range(1, 10):
        text = f"{HEADER}\n{line(f'2024-{month:02d}', str(20 + month))}\n"
        drop(
            data_dir.inbox,
            f"东园镇-2024-{month:02d}.csv",
            text,
            datetime(2024, month + 1, 3, tzinfo=CHINA_TZ),
        )
    summary = ingest_inbox(data_dir, reference, TODAY)
    assert [f.outcome for f in summary.files] == ["accepted"] * 9
    assert landed == [4, 3, 2]  # not 4, 4 and 1
    assert query(data_dir, "select count(*) from raw.submission_rows") == [(9,)]
    assert list(data_dir.inbox.iterdir()) == []
    # As the batches of the bench's 164 files at 100,000 rows open, with 50 files to a batch.
    monkeypatch.setattr(ingest_module, "BATCH_FILES", 50)
    assert [ingest_module.batch_limit(left) for left in (164, 114, 64, 32)] == [50, 50, 32, 50]
    assert [ingest_module.batch_limit(left) for left in (101, 100, 51, 50, 1)] == [50, 50, 26, 50, 50]


def test_a_landed_batch_is_in_the_database_file_not_only_its_log(
    tmp_path: Path, reference: PlanReference, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each batch is checkpointed as it commits, on the landing thread while the next files are judged:
    the write-ahead log is empty once a batch has landed, so closing the landing after the last file has
    nothing left to write."""
    monkeypatch.setattr(ingest_module, "BATCH_FILES", 1)  # every file its own batch
    data_dir = DataDir(tmp_path).ensure()
    day = datetime(2024, 2, 3, 9, 0, tzinfo=CHINA_TZ)
    drop(data_dir.inbox, "东园镇-2024-01.csv", f"{HEADER}\n{line('2024-01', '20')}\n", day)
    drop(data_dir.inbox, "东园镇-2024-02.csv", f"{HEADER}\n{line('2024-02', '30')}\n", day.replace(month=3))
    wal = data_dir.landing.with_name(f"{data_dir.landing.name}.wal")
    logged: list[int] = []

    def after_first_batch() -> None:
        logged.append(wal.stat().st_size if wal.exists() else 0)

    summary = ingest_inbox(data_dir, reference, TODAY, after_first_batch=after_first_batch)
    assert [f.outcome for f in summary.files] == ["accepted", "accepted"]
    assert logged == [0]
    assert query(data_dir, "select count(*) from raw.submission_rows") == [(2,)]


def test_a_file_rewritten_after_it_was_read_stays_in_the_inbox(tmp_path: Path) -> None:
    path = tmp_path / "东园镇-2024-01.csv"
    path.write_text("first", encoding="utf-8")
    read = path.stat()
    arrival = _Arrival(
        path, b"first", sha256(b"first"), datetime(2024, 2, 3), (read.st_ino, read.st_size, read.st_mtime_ns)
    )
    path.write_text("second, longer", encoding="utf-8")  # the clerk saved again while we validated
    arrival.remove_from_inbox()
    assert path.read_text(encoding="utf-8") == "second, longer"
    os.utime(path, ns=(read.st_mtime_ns, read.st_mtime_ns))
    path.write_bytes(b"first")
    os.utime(path, ns=(read.st_mtime_ns, read.st_mtime_ns))
    arrival.remove_from_inbox()
    assert not path.exists()


def run_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "regreen.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_locked_landing_is_reported_and_the_inbox_left_alone(
    tmp_path: Path, reference: PlanReference
) -> None:
    data_dir = DataDir(tmp_path).ensure()
    drop(
        data_dir.inbox,
        "东园镇-2024-01.csv",
        f"{HEADER}\n{line('2024-01', '20')}\n",
        datetime(2024, 2, 3, tzinfo=CHINA_TZ),
    )
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(data_dir.landing)!r}); print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = run_cli("ingest", "--data-dir", str(data_dir.root))
        out, err = result.communicate(timeout=120)
        assert result.returncode == EXIT_LOCKED, err
        assert "落地库" in err and "Traceback" not in err
    finally:
        holder.kill()
        holder.wait()
    assert [p.name for p in data_dir.inbox.iterdir()] == ["东园镇-2024-01.csv"]


def test_killing_the_ingest_mid_way_then_rerunning_equals_one_clean_run(
    tmp_path: Path, reference: PlanReference
) -> None:
    # The CLI takes the real date as today, so the sample is written for it too.
    today = date.today()
    clean = sample_dir(tmp_path / "clean", reference, today)
    killed = sample_dir(tmp_path / "killed", reference, today)
    total = len(list(killed.inbox.iterdir()))
    kills = 0
    for _ in range(3):  # SIGKILL as soon as a file has left the inbox, i.e. right after a commit
        waiting = len(list(killed.inbox.iterdir()))
        process = run_cli("ingest", "--data-dir", str(killed.root))
        deadline = time.monotonic() + 300
        while len(list(killed.inbox.iterdir())) == waiting and process.poll() is None:
            assert time.monotonic() < deadline, "the ingest made no progress"
            time.sleep(0.002)
        process.send_signal(signal.SIGKILL)
        process.communicate()
        if process.returncode != -signal.SIGKILL:
            break
        kills += 1
    assert kills >= 2, "the ingest finished before it could be killed twice"
    rerun = run_cli("ingest", "--data-dir", str(killed.root))
    out, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err
    once = run_cli("-v", "ingest", "--data-dir", str(clean.root))
    clean_out, clean_err = once.communicate(timeout=600)
    assert once.returncode == 0, clean_err
    state = landed_state(clean)
    assert landed_state(killed) == state
    receipts = Counter(outcome for *_, outcome in state["receipts"])
    assert receipts == {"new": total - len(NOT_SUBMISSIONS) - 1, "duplicate": 1}
    for secret in PHONES:
        assert secret not in clean_out + clean_err
    assert "accepted" in clean_err  # -v logs each file's outcome


def test_a_quarantine_name_already_linked_to_the_archived_file_leaves_no_temp_behind(tmp_path: Path) -> None:
    """A run killed before its batch landed has already linked the rejected file into quarantine; the
    rerun links the same archived file again. Renaming a second link of one file onto the other does
    nothing (POSIX), so the temp name must not be made: it was the flake of the kill test above."""
    archived = tmp_path / "archive" / "f.xlsx"
    archived.parent.mkdir()
    archived.write_bytes(b"rejected bytes")
    quarantine = tmp_path / "quarantine"
    quarantine.mkdir()
    for _ in range(2):  # the killed run, then the rerun
        ingest_module._link_durably(archived, quarantine / "f.xlsx")
    assert sorted(p.name for p in quarantine.iterdir()) == ["f.xlsx"]
    assert (quarantine / "f.xlsx").stat().st_ino == archived.stat().st_ino


def test_killing_the_ingest_before_its_first_batch_lands_loses_nothing_and_loads_nothing_twice(
    tmp_path: Path, reference: PlanReference
) -> None:
    """Archive copies are written unsynced and synced together when their batch lands: a process killed
    while it archives and judges the first batch (no commit yet) leaves every file in the inbox and the
    landing empty, and the rerun lands what one clean run lands."""
    today = date.today()
    clean = sample_dir(tmp_path / "clean", reference, today)
    killed = sample_dir(tmp_path / "killed", reference, today)
    before = folder_hashes(killed.inbox)
    process = run_cli("ingest", "--data-dir", str(killed.root))
    deadline = time.monotonic() + 300
    while len(archived_copies(killed)) < 5 and process.poll() is None:
        assert time.monotonic() < deadline, "the ingest archived nothing"
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL, "the ingest finished before it could be killed"
    assert folder_hashes(killed.inbox) == before  # nothing left the inbox
    archived = archived_copies(killed)
    assert len(archived) >= 5
    assert query(killed, "select count(*) from raw.submission_receipts") == [(0,)]
    assert query(killed, "select count(*) from raw.submission_rows") == [(0,)]
    rerun = run_cli("ingest", "--data-dir", str(killed.root))
    _, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err
    once = run_cli("ingest", "--data-dir", str(clean.root))
    _, clean_err = once.communicate(timeout=600)
    assert once.returncode == 0, clean_err
    state = landed_state(clean)
    assert landed_state(killed) == state
    # Every received file is kept byte for byte: each archive copy hashes to its name.
    assert all(name.startswith(digest) for name, digest in state["archive"].items())
    assert set(state["archive"]) >= archived
    assert {digest for name, digest in before.items() if name not in NOT_SUBMISSIONS} <= set(
        state["archive"].values()
    )


def archived_copies(data_dir: DataDir) -> set[str]:
    return {p.name for p in data_dir.archive.iterdir() if not p.name.endswith(".partial")}
