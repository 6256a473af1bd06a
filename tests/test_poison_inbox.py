"""No file can stop the night: poison files beside good ones through a real nightly and `check`, uploads
in progress, files vanishing mid-listing, a warehouse held read-write, and personal data in no output.

One module fixture runs `regreen sample` and one real nightly over an inbox that also holds: an .xlsx
bomb (a cell at XFD1048576), a rejected file with a 238-byte name, a GBK-named file (as `unzip` leaves a
Windows zip), a hidden-looking name with a terminal escape, a dangling symlink, a symlink to a secret
file, a named pipe, and two copies of a good file: one with a footer line of personal data, one ending in a
report form's sign-off (unit, who filled it in, phone).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import openpyxl
import pytest

from regreen.errors import EXIT_WAREHOUSE_IN_USE
from regreen.project import BUNDLED_NOTICE, DataDir
from regreen.publish import open_read_only, published_run_id
from regreen.submissions.ingest import IngestSettings, ingest_inbox
from regreen.submissions.reference import load_reference
from regreen.submissions.sample import write_sample
from regreen.submissions.validate import validate_file

REGREEN = Path(sys.executable).parent / "regreen"
WAIT = 900
LONG_AGO = 1_000_000_000  # 2001: long settled
SECRET = "root:x:0:0:SECRET-MARKER-not-to-be-copied"
# A line of personal data under the rows that is not a sign-off (it opens with 说明, not 填报人): read as a
# row, rejected, and quoted masked. A sign-off line is not read at all (test_submission_reader).
FOOTER = "说明：填报人：张三 联系电话：13812345678 手机 139 0000 2222 zhangsan@163.com"
# The sign-off a report form ends with: not read as a row, and named nowhere but the received file.
SIGN_OFF = (
    "填报单位（盖章）：张坂镇人民政府    填报人：李四    联系电话：13900001111    填报日期：2024年4月3日"
)
# The sample's clerks (sample.py) and the footer's: none of them may leave the landing zone.
PERSONAL = [
    *(f"示例填报人{c}" for c in "甲乙丙丁戊"),
    *(f"000-0000-000{n}" for n in range(1, 6)),
    "张三",
    "13812345678",
    "李四",
    "13900001111",
    "0000 2222",
    "zhangsan",
    "13700002222",  # in a file's name (NAMED)
]
GBK_NAME = "张坂镇".encode("gbk") + b"-2024-03.csv"
# A clerk who signs the file's name: shown and stored as 张坂镇-2024-03-月度进展-＊＊＊＊＊＊＊＊＊＊＊.csv.
NAMED = "张坂镇-2024-03-月度进展-13700002222.csv"
LONG_NAME = ("张坂镇" * 26).encode() + b".csv"  # 238 bytes: `.<name>.errors.txt.partial` would not fit


def regreen(*args: object, timeout: float = WAIT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REGREEN), *map(str, args)], capture_output=True, text=True, timeout=timeout, check=False
    )


def write_bomb(path: Path) -> None:
    """A 5 KB workbook whose one far cell makes calamine ask for rows × columns × 32 bytes (512 GiB)."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "月度进展"
    sheet["A1"] = "月份"
    sheet["XFD1048576"] = "x"
    workbook.save(path)


def settle_config(root: Path, seconds: float) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "regreen.toml").write_text(f"[submissions]\nsettle_seconds = {seconds}\n", encoding="utf-8")


def plant_poison(inbox: Path, secret: Path) -> None:
    """The poison files, the readable ones dated long ago (i.e. settled)."""
    raw = os.fsencode(inbox)
    already = set(os.listdir(raw))
    bomb = inbox / "张坂镇-2024-03-bomb.xlsx"
    write_bomb(bomb)
    good = sorted(inbox.glob("sample-*.csv"))[0]
    (inbox / "张坂镇-页脚.csv").write_bytes(good.read_bytes().rstrip(b"\n") + f"\n{FOOTER}\n".encode())
    (inbox / "张坂镇-落款.csv").write_bytes(good.read_bytes().rstrip(b"\n") + f"\n{SIGN_OFF}\n".encode())
    with open(raw + b"/" + GBK_NAME, "wb") as handle:
        handle.write("月份,乡镇\n2024-03,张坂镇\n".encode())
    with open(raw + b"/" + LONG_NAME, "wb") as handle:
        handle.write(b"not a submission at all\n")
    (inbox / NAMED).write_bytes(b"not a submission either\n")
    (inbox / ".张坂镇-\x1b[31m-hidden.csv").write_bytes(b"a,b\n")
    for entry in set(os.listdir(raw)) - already:
        os.utime(raw + b"/" + entry, (LONG_AGO, LONG_AGO))
    (inbox / "张坂镇-passwd.csv").symlink_to(secret)
    (inbox / "张坂镇-dangling.csv").symlink_to(inbox / "nothing-here")
    os.mkfifo(inbox / "张坂镇-pipe.csv")


@dataclass(frozen=True)
class Poisoned:
    data_dir: DataDir
    secret: Path
    nightly: subprocess.CompletedProcess[str]
    docs: subprocess.CompletedProcess[str]
    sample_files: int


@pytest.fixture(scope="module")
def poisoned(tmp_path_factory: pytest.TempPathFactory) -> Poisoned:
    root = tmp_path_factory.mktemp("poisoned")
    data_dir = DataDir(root / "data")
    settle_config(data_dir.root, 2)
    secret = root / "secret.csv"
    secret.write_text(SECRET + "\n", encoding="utf-8")
    secret.chmod(0o600)
    assert regreen("sample", "--data-dir", data_dir.root).returncode == 0
    sample_files = len(os.listdir(data_dir.inbox))
    plant_poison(data_dir.inbox, secret)
    nightly = regreen("nightly", "--data-dir", data_dir.root)
    docs = regreen("docs", "--data-dir", data_dir.root)
    return Poisoned(data_dir, secret, nightly, docs, sample_files)


def landing_rows(data_dir: DataDir, sql: str) -> list[tuple]:
    with duckdb.connect(str(data_dir.landing), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_the_nightly_publishes_beside_every_poison_file(poisoned: Poisoned) -> None:
    result = poisoned.nightly
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert published_run_id(poisoned.data_dir) is not None
    # Every sample file and every readable poison file was taken; only what is refused stays.
    left = sorted(os.listdir(poisoned.data_dir.inbox))
    assert left == ["张坂镇-dangling.csv", "张坂镇-passwd.csv", "张坂镇-pipe.csv"]
    for name in left:
        assert f"{name}: left in the inbox, refused" in result.stderr
    [(received,)] = landing_rows(poisoned.data_dir, "select count(*) from raw.submission_receipts")
    assert received == poisoned.sample_files + 7  # the readable poison files


def test_each_poison_file_has_a_receipt_and_a_reason(poisoned: Poisoned) -> None:
    data_dir = poisoned.data_dir
    rows = landing_rows(
        data_dir,
        "select f.original_name, f.status, f.report_path, i.code from raw.submission_files f "
        "join raw.submission_issues i using (file_id) where f.original_name not like 'sample-%' "
        "and f.original_name not like '示例-%' and i.severity = 'error'",
    )
    by_name: dict[str, set[str]] = {}
    for name, status, report, code in rows:
        assert status == "rejected"
        assert (data_dir.root / report).is_file()
        assert len(os.fsencode(Path(report).name)) < 200
        by_name.setdefault(name, set()).add(code)
    assert by_name["张坂镇-2024-03-bomb.xlsx"] == {"sheet_too_large"}
    assert "\\xd5\\xc5\\xdb\\xe0\\xd5\\xf2-2024-03.csv" in by_name  # the GBK bytes, escaped
    assert LONG_NAME.decode() in by_name
    # NAMED, its phone masked from the start: in the landing zone too
    assert "张坂镇-2024-03-月度进展-＊＊＊＊＊＊＊＊＊＊＊.csv" in by_name
    assert ".张坂镇-\\x1b[31m-hidden.csv" in by_name  # hidden-looking, taken like any other
    assert "张坂镇-页脚.csv" in by_name
    assert "张坂镇-落款.csv" not in by_name  # its sign-off is no row: accepted, with a warning
    [(status, warned)] = landing_rows(
        data_dir,
        "select f.status, list(i.row_number) filter (where i.code = 'sign_off_row') from raw.submission_files f "
        "join raw.submission_issues i using (file_id) where f.original_name = '张坂镇-落款.csv' group by all",
    )
    assert status == "accepted" and len(warned) == 1
    bomb_report = (data_dir.quarantine / "张坂镇-2024-03-bomb.xlsx.errors.txt").read_text(encoding="utf-8")
    assert "1048576 行 × 16384 列" in bomb_report and "未读取" in bomb_report


def test_nothing_is_followed_and_received_files_are_owner_only(poisoned: Poisoned) -> None:
    data_dir = poisoned.data_dir
    for folder in (data_dir.archive, data_dir.quarantine):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        for path in folder.iterdir():
            assert not path.is_symlink()
            assert SECRET.encode() not in path.read_bytes()
    assert poisoned.secret.read_text(encoding="utf-8") == SECRET + "\n"


def test_check_gives_one_clear_line_per_poison_file(poisoned: Poisoned, tmp_path: Path) -> None:
    inbox = poisoned.data_dir.inbox
    write_bomb(tmp_path / "bomb.xlsx")
    gbk = Path(os.fsdecode(os.fsencode(tmp_path) + b"/" + GBK_NAME))
    gbk.write_bytes("月份,乡镇\n2024-03,张坂镇\n".encode())
    result = regreen(
        "check",
        tmp_path / "bomb.xlsx",
        inbox / "张坂镇-pipe.csv",
        inbox / "张坂镇-passwd.csv",
        inbox / "张坂镇-dangling.csv",
        gbk,
        timeout=120,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    out = result.stdout
    expected = [
        "工作表（xl/worksheets/sheet1.xml）占用 1048576 行 × 16384 列",
        "这是命名管道，不是普通文件，未读取",
        "这是符号链接，不是普通文件，未读取",
        "\\xd5\\xc5\\xdb\\xe0\\xd5\\xf2-2024-03.csv：拒收",
    ]
    for text in expected:
        assert text in out, out
    assert out.count("这是符号链接") == 2
    assert SECRET not in out


def collected_text(data_dir: DataDir) -> dict[str, str]:
    """Every output outside the landing zone, as text: (file or table column) → its content."""
    texts: dict[str, str] = {}
    for folder in ("export", "report", "docs", "logs"):
        for path in (data_dir.root / folder).rglob("*"):
            if path.is_file() and path.suffix != ".parquet":
                texts[str(path)] = path.read_bytes().decode("utf-8", "replace")
    for path in data_dir.quarantine.glob("*.errors.txt"):
        texts[str(path)] = path.read_text(encoding="utf-8")
    con = duckdb.connect()
    for path in (data_dir.root / "export").glob("*.parquet"):
        texts[str(path)] = str(con.execute(f"select * from read_parquet('{path}')").fetchall())
    with open_read_only(data_dir.warehouse) as warehouse:
        columns = warehouse.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where table_catalog = 'warehouse' and data_type = 'VARCHAR'"
        ).fetchall()
        for schema, table, column in columns:
            values = warehouse.execute(f'select distinct "{column}" from "{schema}"."{table}"').fetchall()
            texts[f"{schema}.{table}.{column}"] = "\n".join(str(v) for (v,) in values)
    return texts


def test_no_personal_data_outside_the_landing_zone(poisoned: Poisoned) -> None:
    data_dir = poisoned.data_dir
    assert poisoned.docs.returncode == 0, poisoned.docs.stderr
    check = regreen("check", data_dir.archive / next(iter(footer_archive(data_dir))), "--json", timeout=120)
    assert (
        "填报人：＊＊ 联系电话：＊＊＊＊＊＊＊＊＊＊＊" in check.stdout
    )  # the footer, masked, is still shown
    texts = collected_text(data_dir)
    texts["nightly stdout"] = poisoned.nightly.stdout
    texts["nightly stderr"] = poisoned.nightly.stderr
    texts["check --json"] = check.stdout
    assert "raw.submission_issues.value" in texts and any("report" in key for key in texts)
    found = [(where, needle) for where, text in texts.items() for needle in PERSONAL if needle in text]
    assert found == []
    # ... while the landing zone and the received files keep them, as the README says.
    [(reporters,)] = landing_rows(data_dir, "select count(distinct reporter) from raw.submission_rows")
    assert reporters >= 4


def footer_archive(data_dir: DataDir) -> list[str]:
    return [
        Path(path).name
        for (path,) in landing_rows(
            data_dir, "select archived_path from raw.submission_files where original_name = '张坂镇-页脚.csv'"
        )
    ]


def test_purge_removes_personal_data_but_keeps_checksums(poisoned: Poisoned, tmp_path: Path) -> None:
    # On a copy: the other tests read the received files as they are.
    copy = DataDir(tmp_path / "copy")
    subprocess.run(["cp", "-a", str(poisoned.data_dir.root), str(copy.root)], check=True)
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in copy.archive.iterdir()}
    with duckdb.connect(str(copy.landing)) as con:  # as a regreen from before masking stored it
        con.execute("update raw.submission_issues set value = ? where code = 'month_invalid'", [FOOTER])
        # and as one from before 2026-11-30 masked 手机 138 1234 5678: the label's word only
        con.execute(
            "update raw.submission_issues set message_en = ? where code = 'month_invalid'",
            ["手机 ＊＊＊ 1234 5678"],
        )
        # and as one from before 2026-12-01 left a QQ number whole, and a phone in a file's name
        con.execute(
            "update raw.submission_issues set message_zh = ? where code = 'month_invalid'", ["QQ：55667788"]
        )
        for table in ("raw.submission_files", "raw.submission_receipts"):
            con.execute(
                f"update {table} set original_name = ? where original_name like '%＊＊＊.csv'", [NAMED]
            )
    result = regreen("purge", "--data-dir", copy.root, "--older-than", "0", timeout=300)
    assert result.returncode == 0, result.stderr
    for folder in (copy.archive, copy.quarantine):
        for path in folder.iterdir():
            if path.suffix in (".csv", ".xlsx"):
                content = path.read_bytes()
                if path.suffix == ".xlsx" and content.startswith(b"PK"):
                    cells = str([list(r) for s in openpyxl.load_workbook(path).worksheets for r in s.values])
                    content = cells.encode()
                assert not [n for n in PERSONAL if n.encode() in content], path
    logged = [json.loads(line) for line in (copy.logs / "purged.jsonl").read_text().splitlines()]
    assert {
        e["path"].removeprefix("archive/"): e["original_sha256"] for e in logged if "archive/" in e["path"]
    } == {name: sha for name, sha in before.items() if Path(name).stem == sha}
    [(reporters,)] = landing_rows(copy, "select count(reporter) from raw.submission_rows")
    assert reporters == 0
    [(unmasked,)] = landing_rows(copy, "select count(*) from raw.submission_issues where value like '%张三%'")
    [(masked,)] = landing_rows(
        copy, "select count(*) from raw.submission_issues where value like '说明：填报人：＊＊%'"
    )
    assert unmasked == 0 and masked > 0
    [(half_masked,)] = landing_rows(
        copy, "select count(*) from raw.submission_issues where message_en like '%1234 5678%'"
    )
    assert half_masked == 0
    [(qq,)] = landing_rows(
        copy, "select count(*) from raw.submission_issues where message_zh like '%55667788%'"
    )
    assert qq == 0
    for table in ("raw.submission_files", "raw.submission_receipts"):
        [(names,)] = landing_rows(
            copy,
            f"select list(original_name) from {table} where original_name like '张坂镇-2024-03-月度进展-%'",
        )
        assert names == ["张坂镇-2024-03-月度进展-＊＊＊＊＊＊＊＊＊＊＊.csv"]
    again = regreen("purge", "--data-dir", copy.root, "--older-than", "0", timeout=300)
    assert "已清除 0 个" in again.stdout


def test_a_warehouse_held_read_write_is_an_operator_problem(poisoned: Poisoned) -> None:
    data_dir = poisoned.data_dir
    published = published_run_id(data_dir)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
            "time.sleep(600)",
            str(data_dir.warehouse),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = regreen("nightly", "--data-dir", data_dir.root)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert result.returncode == EXIT_WAREHOUSE_IN_USE, result.stderr
    assert "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("regreen: 另一个程序")]
    assert f"PID {holder.pid}" in line and "read_only=True" in line
    kept = list(data_dir.work.glob("unpublished-*.duckdb"))
    assert len(kept) == 1 and str(kept[0]) in line
    assert published_run_id(data_dir) == published
    last = json.loads((data_dir.logs / "runs.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    assert last["status"] == "warehouse_in_use" and not last["published"]


SLOW_WRITER = """
import sys, time
data = open(sys.argv[1], "rb").read()
with open(sys.argv[2], "wb", buffering=0) as out:
    for start in range(0, len(data), int(sys.argv[3])):
        out.write(data[start:start + int(sys.argv[3])])
        time.sleep(0.3)
"""


def test_a_file_still_being_written_is_loaded_once_and_whole(tmp_path: Path) -> None:
    data_dir = DataDir(tmp_path / "data").ensure()
    settle_config(data_dir.root, 1)
    reference = load_reference(BUNDLED_NOTICE)
    today = date.today()
    candidates = [
        p for p in write_sample(DataDir(tmp_path / "sample"), reference, 2023, today) if p.suffix == ".csv"
    ]
    source = max(
        (p for p in candidates if validate_file(p, reference, today).status == "accepted"),
        key=lambda p: p.stat().st_size,
    )
    expected_rows = len(validate_file(source, reference, today).rows)
    content = source.read_bytes()
    target = data_dir.inbox / source.name
    chunk = max(20, len(content) // 25)  # about 25 writes, 0.3 s apart
    writer = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(source), str(target), str(chunk)])
    runs = []
    while writer.poll() is None:
        runs.append(regreen("ingest", "--data-dir", data_dir.root, timeout=120))
    assert writer.wait() == 0
    time.sleep(1.5)
    runs.append(regreen("ingest", "--data-dir", data_dir.root, timeout=120))
    assert len(runs) >= 3 and all(r.returncode == 0 and "Traceback" not in r.stderr for r in runs)
    assert any("maybe still uploading" in r.stdout for r in runs[:-1])
    rows = landing_rows(
        data_dir,
        "select f.sha256, f.status, f.rows_loaded, count(*) over () from raw.submission_receipts r "
        "join raw.submission_files f using (file_id)",
    )
    assert len(rows) == 1
    sha, status, loaded, _ = rows[0]
    assert sha == hashlib.sha256(content).hexdigest()
    assert status == "accepted" and loaded == expected_rows > 0
    assert list(data_dir.inbox.iterdir()) == []


def test_files_vanishing_and_appearing_during_ingests_never_break_one(tmp_path: Path) -> None:
    data_dir = DataDir(tmp_path / "data").ensure()
    reference = load_reference(BUNDLED_NOTICE)
    stop = threading.Event()

    def churn() -> None:
        number = 0
        while not stop.is_set():
            path = data_dir.inbox / f"张坂镇-消失-{number % 5}.csv"
            path.write_bytes(b"x\n")
            os.utime(path, (LONG_AGO, LONG_AGO))
            path.unlink(missing_ok=True)
            number += 1

    thread = threading.Thread(target=churn)
    thread.start()
    try:
        settings = IngestSettings.from_config()
        summaries = [ingest_inbox(data_dir, reference, date.today(), settings) for _ in range(20)]
    finally:
        stop.set()
        thread.join()
    outcomes = [f.outcome for s in summaries for f in s.files]
    assert outcomes and set(outcomes) <= {"skipped", "rejected", "duplicate"}
