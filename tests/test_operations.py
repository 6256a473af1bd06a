"""Operations as the office sees them, end to end with real nightlies (real processes, dbt, GX):

a good night; a night whose checks fail (exit 1); a night with a notice whose 合计 is wrong (exit 2);
three nights with nothing new; a night with new files. For each: its line in logs/runs.jsonl, the report
(red banner or not), the mail a local SMTP server (STARTTLS, login) and the message a local 企业微信-style
webhook received; then one run id across meta.runs, raw.submission_files, the log and export/, the kept
history, and `rollback --list`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest
from alert_servers import SMTP_PASSWORD, SmtpServer, WebhookServer, notify_toml

from regreen.nightly import RunRecord, read_runs
from regreen.project import BUNDLED_NOTICE, DataDir
from regreen.publish import export_dir, export_run_id, history_dir, open_read_only, published_run_id
from regreen.submissions.reference import load_reference
from regreen.submissions.sample import write_sample

pytestmark = pytest.mark.slow

REGREEN = Path(sys.executable).with_name("regreen")
PASSWORD_ENV = "REGREEN_TEST_SMTP_PASSWORD"
WAIT = 600


@dataclass(frozen=True)
class Night:
    name: str
    result: subprocess.CompletedProcess[str]
    record: RunRecord  # the last line of logs/runs.jsonl after it
    report: str  # report/index.html after it
    mails: int  # messages the SMTP server had received by then
    posts: int  # and the webhook


@dataclass(frozen=True)
class Story:
    data_dir: DataDir
    nights: dict[str, Night]
    history_after_first_quiet: dict[str, int]  # name -> inode, after the first night with nothing new
    history_after_quiet: dict[str, int]
    warehouse_after_first_quiet: str  # sha256
    warehouse_after_quiet: str
    smtp: SmtpServer
    hook: WebhookServer
    rollback_list: str


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def notice_with(folder: Path, name: str, *edits: tuple[str, str]) -> Path:
    text = BUNDLED_NOTICE.read_text(encoding="utf-8")
    for old, new in edits:
        assert text.count(old) == 1
        text = text.replace(old, new)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def history(data_dir: DataDir) -> dict[str, int]:
    return {path.name: path.stat().st_ino for path in sorted(history_dir(data_dir).glob("*.duckdb"))}


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Story:
    scratch = tmp_path_factory.mktemp("operations")
    data_dir = DataDir(scratch / "data").ensure()
    reference = load_reference(BUNDLED_NOTICE)
    first = write_sample(data_dir, reference, seed=2023, today=date(2026, 5, 15))
    later_dir = DataDir(scratch / "later").ensure()
    known = {path.name for path in first}
    later = [
        p
        for p in write_sample(later_dir, reference, seed=2023, today=date(2026, 6, 15))
        if p.name not in known
    ]
    assert later
    # The notice with 2023's first row and its 合计 one mu more: it parses, the 2023 area check fails.
    failing = notice_with(
        scratch,
        "notice-994.txt",
        ("治理项目\t13\t139", "治理项目\t13\t140"),
        ("合计\t\t72\t993", "合计\t\t72\t994"),
    )
    # Only the 合计 changed: the notice is refused before anything is built (exit 2).
    bad_total = notice_with(scratch, "notice-bad-total.txt", ("合计\t\t72\t993", "合计\t\t72\t994"))

    env = {**os.environ, PASSWORD_ENV: SMTP_PASSWORD}
    with SmtpServer(scratch) as smtp, WebhookServer() as hook:
        config = notify_toml(smtp, f"{hook.url}/cgi-bin/webhook/send?key=k", "wecom", PASSWORD_ENV)
        # A due day other than dbt's default: it must reach the models (and the overdue alert).
        config += "\n[submissions]\ndue_day = 7\n"
        (data_dir.root / "regreen.toml").write_text(config, encoding="utf-8")
        nights: dict[str, Night] = {}

        def night(name: str, *args: str) -> Night:
            result = subprocess.run(
                [str(REGREEN), "nightly", "--data-dir", str(data_dir.root), *args],
                capture_output=True,
                text=True,
                timeout=WAIT,
                env=env,
            )
            report = (data_dir.root / "report" / "index.html").read_text(encoding="utf-8")
            done = Night(
                name, result, read_runs(data_dir)[-1], report, len(smtp.box.messages), len(hook.posted)
            )
            nights[name] = done
            return done

        night("good")
        night("checks_failed", "--notice", str(failing))
        night("bad_notice", "--notice", str(bad_total))
        night("quiet1")
        history_after_first_quiet, warehouse_after_first_quiet = history(data_dir), sha256(data_dir.warehouse)
        night("quiet2")
        night("quiet3")
        history_after_quiet, warehouse_after_quiet = history(data_dir), sha256(data_dir.warehouse)
        for path in later:
            shutil.copy2(path, data_dir.inbox / path.name)
        night("new_files")
    listed = subprocess.run(
        [str(REGREEN), "rollback", "--list", "--data-dir", str(data_dir.root)],
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert listed.returncode == 0, listed.stderr
    return Story(
        data_dir,
        nights,
        history_after_first_quiet,
        history_after_quiet,
        warehouse_after_first_quiet,
        warehouse_after_quiet,
        smtp,
        hook,
        listed.stdout,
    )


class _Banner(HTMLParser):
    """The text of the report's red banner, if it has one."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.text: list[str] = []
        self.found = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if dict(attrs).get("id") == "failed-run":
            self.found = True
            self.depth = 1
        elif self.depth and tag not in ("br", "img", "meta"):
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        if self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.text.append(data)


def banner(report: str) -> str | None:
    parser = _Banner()
    parser.feed(report)
    return " ".join("".join(parser.text).split()) if parser.found else None


def mail_of(story: Story, run_id: str) -> list[str]:
    return [f"{m['Subject']}\n{m.get_content()}" for m in story.smtp.box.messages if run_id in m["Subject"]]


def post_of(story: Story, run_id: str) -> list[str]:
    return [
        p.body["markdown"]["content"] for p in story.hook.posted if run_id in p.body["markdown"]["content"]
    ]


def test_every_night_is_one_line_of_the_run_log_whatever_its_exit(story: Story) -> None:
    nights = story.nights
    codes = {name: night.result.returncode for name, night in nights.items()}
    assert codes == {
        "good": 0,
        "checks_failed": 1,
        "bad_notice": 2,
        "quiet1": 0,
        "quiet2": 0,
        "quiet3": 0,
        "new_files": 0,
    }, {name: night.result.stderr[-1500:] for name, night in nights.items()}
    statuses = [(r.run_id, r.status, r.command) for r in read_runs(story.data_dir)]
    assert statuses == [
        (night.record.run_id, status, "nightly")
        for night, status in zip(
            nights.values(),
            (
                "published",
                "checks_failed",
                "error",
                "nothing_to_do",
                "nothing_to_do",
                "nothing_to_do",
                "published",
            ),
            strict=True,
        )
    ]
    bad = nights["bad_notice"].record
    assert "合计" in bad.error_message and not bad.published
    assert "Traceback" not in nights["bad_notice"].result.stderr
    # Stored in UTC, with the zone.
    line = (story.data_dir.logs / "runs.jsonl").read_text(encoding="utf-8").splitlines()[-1]
    assert json.loads(line)["started_at"].endswith("+00:00")


def test_a_run_that_did_not_publish_is_a_red_banner_over_the_last_good_data(story: Story) -> None:
    good = story.nights["good"]
    assert banner(good.report) is None
    for name, reason in (("checks_failed", "2023 planned area = 993 mu"), ("bad_notice", "合计")):
        night = story.nights[name]
        said = banner(night.report)
        assert said is not None, name
        assert night.record.run_id in said and "Asia/Shanghai" in said and reason in said
        as_of = re.search(r"数据截至 data as of <strong>(\d{4}-\d\d)</strong>", good.report).group(1)
        assert f"数据截至 {as_of}" in said and f"data as of {as_of}" in said
        # Below it, the last good figures: the same page body as after the good night.
        assert (
            night.report.split("</header>")[1].split("<footer>")[0]
            == good.report.split("</header>")[1].split("<footer>")[0]
        )
    # A quiet night after the notice was put right: the published data are current again.
    assert banner(story.nights["quiet1"].report) is None


def test_failures_reach_the_office_by_mail_and_webhook(story: Story) -> None:
    failed = story.nights["checks_failed"].record
    # The first failed check the run recorded ("suite: check (observed ≠ expected); …").
    first = failed.error_message.split("stays): ")[1].split(" (")[0]
    assert "2023 planned area = 993 mu" in failed.error_message
    (mail,) = mail_of(story, failed.run_id)
    assert "nightly FAILED" in mail and f"first: {first} (observed" in mail and "Asia/Shanghai" in mail
    (post,) = post_of(story, failed.run_id)
    assert post.startswith("### regreen 夜间任务失败") and f"first: {first} (observed" in post
    bad = story.nights["bad_notice"].record
    (mail,) = mail_of(story, bad.run_id)
    assert "原因 / reason:" in mail and "合计" in mail
    assert len(post_of(story, bad.run_id)) == 1
    assert story.smtp.box.over_tls and all(story.smtp.box.over_tls)
    # Nobody's name or phone number: the sample's reporters (示例填报人…) never leave the landing zone.
    for text in [f"{m['Subject']}{m.get_content()}" for m in story.smtp.box.messages] + [
        json.dumps(p.body, ensure_ascii=False) for p in story.hook.posted
    ]:
        assert "填报人" not in text and not re.search(r"1[3-9]\d{9}", text)


def test_nights_with_nothing_new_publish_nothing_and_say_so(story: Story) -> None:
    assert story.history_after_quiet == story.history_after_first_quiet
    assert story.warehouse_after_quiet == story.warehouse_after_first_quiet
    good = story.nights["good"].record.run_id
    for name in ("quiet1", "quiet2", "quiet3"):
        night = story.nights[name]
        assert night.record.build_base_run_id == good and not night.record.published
        assert "nothing new" in night.result.stdout and "new files: 0" in night.result.stdout
    # Only the night with files published again: history keeps the good night's warehouse, once.
    assert list(history(story.data_dir)) == [f"{good}.duckdb"]


def test_one_run_id_joins_the_run_log_meta_runs_the_landed_files_and_the_exports(story: Story) -> None:
    last = story.nights["new_files"].record
    assert published_run_id(story.data_dir) == last.run_id == export_run_id(export_dir(story.data_dir))
    with open_read_only(story.data_dir.warehouse) as con:
        runs = dict(con.execute("select run_id, status from meta.runs").fetchall())
        joined = con.execute(
            "select count(*), count(r.run_id) from raw.submission_files f "
            "left join meta.runs r on f.ingest_run_id = r.run_id"
        ).fetchone()
        landed = con.execute(
            "select count(*) from raw.submission_files where ingest_run_id = ?", [last.run_id]
        ).fetchone()[0]
        due_days = con.execute("select distinct day(due_date) from marts.submission_timeliness").fetchall()
        zone = con.execute(
            "select data_type from information_schema.columns where table_schema = 'meta' "
            "and table_name = 'runs' and column_name = 'started_at'"
        ).fetchone()[0]
    # Every run since the last publish is in the warehouse the next publish wrote.
    assert runs == {night.record.run_id: night.record.status for night in story.nights.values()}
    assert joined[0] == joined[1] > 0 and landed > 0
    assert zone == "TIMESTAMP WITH TIME ZONE"
    assert due_days == [(7,)]  # [submissions] due_day reached dbt
    assert last.run_id in story.nights["new_files"].result.stdout


def test_rollback_list_shows_local_times_statuses_and_what_is_published(story: Story) -> None:
    lines = story.rollback_list.splitlines()
    good, last = story.nights["good"].record, story.nights["new_files"].record
    assert [line.split()[0] for line in lines] == [good.run_id, last.run_id]
    for line, record in zip(lines, (good, last), strict=True):
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d Asia/Shanghai  published", line), line
        assert f"files {record.files_accepted}  rows {record.rows_loaded}" in line
        assert f"checks {record.checks_passed}/{record.checks_warned}/{record.checks_failed}" in line
    assert lines[-1].endswith("← 已发布 / published") and "已发布" not in lines[0]
