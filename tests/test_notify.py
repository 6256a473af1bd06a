"""Alerts: what a message says, and that mail (STARTTLS, login) and webhooks (json, 企业微信, 钉钉) get it,
checked on the messages a local SMTP server (aiosmtpd) and a local HTTP server received."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alert_servers import (
    SMTP_PASSWORD,
    SMTP_USER,
    MailBox,
    SmtpServer,
    WebhookServer,
    free_port,
    notify_toml,
    self_signed_certificate,
)
from report_warehouse import COURSES

from regreen.config import Config, load_config
from regreen.nightly import RunRecord
from regreen.notify import Overdue, compose_alert, overdue_townships, send_alert
from regreen.quality import CheckResult

ZONE = ZoneInfo("Asia/Shanghai")
PASSWORD_ENV = "REGREEN_TEST_SMTP_PASSWORD"
RUN = "20261128T161757Z-b67397"


def record(status: str, error: str | None = None) -> RunRecord:
    started = datetime(2026, 11, 28, 16, 17, 57, tzinfo=UTC)
    return RunRecord(
        RUN, started, datetime(2026, 11, 28, 16, 20, 5, tzinfo=UTC), status, status == "published",
        error_message=error, command="nightly",
    )  # fmt: skip


def check(name: str, status: str, severity: str = "error") -> CheckResult:
    return CheckResult("plan_figures", name, severity, status, "994", "993", None, RUN)


def config_for(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "regreen.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(tmp_path, path)


# --- what a message says -------------------------------------------------------------------------------


def test_a_failed_run_names_its_first_failed_check_and_the_local_time() -> None:
    checks = [check("2023 面积 / 2023 area", "failed"), check("2024 面积 / 2024 area", "failed")]
    alert = compose_alert(record("checks_failed"), checks, None, ZONE)
    assert alert is not None and alert.status == "failed"
    assert "nightly FAILED" in alert.title and "夜间任务失败" in alert.title and RUN in alert.title
    assert alert.lines[0] == (
        "2 项检查失败，首项 / 2 checks failed, first: plan_figures: 2023 面积 / 2023 area "
        "(observed 994, expected 993)"
    )
    # 16:20 UTC is 00:20 the next day in 泉州, and the message says which zone it means.
    assert f"运行 / run {RUN}, 2026-11-29 00:20 Asia/Shanghai, 状态 / status checks_failed" in alert.lines
    assert alert.facts["first_failed_check"] == "plan_figures: 2023 面积 / 2023 area"


def test_a_run_that_failed_before_its_checks_gives_its_reason() -> None:
    reason = "方案文件 x.txt 2023 年度计划表合计行与各行之和不符 / the 2023 table's 合计 row disagrees"
    alert = compose_alert(record("error", reason), [], None, ZONE)
    assert alert is not None and alert.status == "failed"
    assert alert.lines[0] == f"原因 / reason: {reason}"
    assert alert.facts["error"] == reason and alert.facts["checks_failed"] == 0


def test_warnings_are_counted_and_the_first_few_named() -> None:
    checks = [check(f"检查 {n} / check {n}", "warned", "warning") for n in range(5)] + [check("ok", "passed")]
    alert = compose_alert(record("published"), checks, None, ZONE)
    assert alert is not None and alert.status == "warned" and "5 checks warned" in alert.title
    (line,) = [line for line in alert.lines if line.startswith("5 项警告")]
    assert line.endswith(
        "plan_figures: 检查 0 / check 0; plan_figures: 检查 1 / check 1; plan_figures: 检查 2 / check 2 (+2)"
    )


def test_overdue_townships_are_listed_and_a_clean_night_says_nothing() -> None:
    overdue = Overdue(date(2026, 10, 1), date(2026, 11, 5), ("东园镇", "洛阳镇"))
    alert = compose_alert(record("nothing_to_do"), [], overdue, ZONE)
    assert alert is not None and alert.status == "ok"
    assert (
        "2026-10 月报逾期（应于 2026-11-05 前报送）/ 2026-10 reports overdue (due by 2026-11-05): 东园镇、洛阳镇"
        in alert.lines
    )
    assert alert.facts["overdue_townships"] == ["东园镇", "洛阳镇"]
    assert compose_alert(record("published"), [check("ok", "passed")], None, ZONE) is None


def test_a_long_reason_is_cut_to_what_the_robots_take() -> None:
    # dbt's messages can run to pages; 企业微信 refuses markdown over 4096 bytes (errcode 40058).
    reason = "dbt 构建失败 / dbt build failed: " + "; ".join(
        f"model m{n}: " + "很长的错误" * 300 for n in range(5)
    )
    alert = compose_alert(record("error", reason), [], None, ZONE)
    assert alert is not None and len(alert.markdown().encode()) > 20000
    for fmt, key, limit in (("wecom", "content", 4096), ("dingtalk", "text", 20000)):
        text = alert.webhook_payload(fmt)["markdown"][key]
        assert len(text.encode("utf-8")) <= limit
        assert text.startswith(f"### {alert.title}\n- 原因 / reason: dbt 构建失败") and "…" in text
        assert text.splitlines()[-1] == f"- {alert.lines[-1]}"  # the run line, whole
    assert alert.webhook_payload("json")["text"] == alert.text()  # our own receiver gets it all


def test_robot_formats_are_the_ones_wecom_and_dingtalk_take() -> None:
    alert = compose_alert(record("checks_failed"), [check("2023 面积 / 2023 area", "failed")], None, ZONE)
    assert alert is not None
    wecom = alert.webhook_payload("wecom")
    assert wecom == {"msgtype": "markdown", "markdown": {"content": alert.markdown()}}
    dingtalk = alert.webhook_payload("dingtalk")
    assert dingtalk == {"msgtype": "markdown", "markdown": {"title": alert.title, "text": alert.markdown()}}
    assert alert.markdown().startswith(f"### {alert.title}\n- 1 项检查失败")
    plain = alert.webhook_payload("json")
    assert plain["status"] == "failed" and plain["run_id"] == RUN and plain["text"] == alert.text()


# --- overdue reports, from a real warehouse ------------------------------------------------------------


@pytest.fixture(scope="module")
def warehouse(known_warehouse: Path) -> Path:
    return known_warehouse


def _owes_report(township: str, month: date) -> bool:
    """From the scenario: a project of the township has begun its plan year and is not accepted before."""
    return any(
        c.township == township
        and int(c.code[:4]) <= month.year
        and (c.accepted is None or month <= c.accepted)
        for c in COURSES
    )


def test_overdue_is_the_latest_month_due_by_the_due_day(warehouse: Path) -> None:
    # 洛阳镇 never sent 2024-02; by 2024-03-05 only January was due, and everyone had sent it.
    assert overdue_townships(warehouse, date(2024, 3, 5), 5) is None
    assert overdue_townships(warehouse, date(2024, 3, 6), 5) == Overdue(
        date(2024, 2, 1), date(2024, 3, 5), ("洛阳镇",)
    )
    # With the 10th as the due day, February is not overdue on 2024-03-06 yet.
    assert overdue_townships(warehouse, date(2024, 3, 6), 10) is None
    # 东园镇's May 2025 file was rejected: its report is still owed.
    assert overdue_townships(warehouse, date(2025, 6, 20), 5).townships == ("东园镇",)
    # Past the last month anyone reported: every township that still owed a report then.
    owing = sorted(t for t in ("百崎乡", "东园镇", "洛阳镇", "张坂镇") if _owes_report(t, date(2025, 6, 1)))
    later = overdue_townships(warehouse, date(2025, 8, 20), 5)
    assert later.report_month == date(2025, 7, 1) and sorted(later.townships) == owing and owing


def test_no_warehouse_no_overdue(tmp_path: Path) -> None:
    assert overdue_townships(tmp_path / "regreen.duckdb", date(2025, 8, 20), 5) is None


# --- sending ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "wecom", "dingtalk"])
def test_mail_over_starttls_and_the_webhook_receive_the_alert(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, SMTP_PASSWORD)
    alert = compose_alert(record("checks_failed"), [check("2023 面积 / 2023 area", "failed")], None, ZONE)
    with SmtpServer(tmp_path) as smtp, WebhookServer() as hook:
        config = config_for(
            tmp_path, notify_toml(smtp, f"{hook.url}/robot/send?access_token=t0k", fmt, PASSWORD_ENV)
        )
        assert send_alert(alert, config) == ["mail", "webhook"]
    (mail,) = smtp.box.messages
    assert smtp.box.over_tls == [True] and smtp.box.logins == [(SMTP_USER, SMTP_PASSWORD)]
    assert mail["Subject"] == alert.title and mail["To"] == "office@example.org"
    assert mail.get_content().strip() == alert.text()
    (posted,) = hook.posted
    assert posted.path == "/robot/send?access_token=t0k" and posted.content_type.startswith(
        "application/json"
    )
    assert posted.body == alert.webhook_payload(fmt)


def test_the_password_can_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text(SMTP_PASSWORD + "\n", encoding="utf-8")
    alert = compose_alert(record("error", "bad notice"), [], None, ZONE)
    with SmtpServer(tmp_path) as smtp:
        text = notify_toml(smtp, "", "json", "").replace(
            'smtp_password_env = ""', f'smtp_password_file = "{secret}"'
        )
        assert send_alert(alert, config_for(tmp_path, text)) == ["mail"]
    assert smtp.box.logins == [(SMTP_USER, SMTP_PASSWORD)] and len(smtp.box.messages) == 1


def test_targets_that_cannot_be_reached_or_refuse_are_logged_and_never_raise(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, SMTP_PASSWORD)
    alert = compose_alert(record("error", "bad notice"), [], None, ZONE)
    closed = free_port()  # nobody listens there
    text = f"""[notify]
smtp_host = "127.0.0.1"
smtp_port = {closed}
mail_to = ["office@example.org"]
webhook_url = "http://127.0.0.1:{closed}/robot/send?access_token=SECRET-TOKEN"
timeout_seconds = 2
"""
    with caplog.at_level(logging.WARNING, logger="regreen"):
        assert send_alert(alert, config_for(tmp_path, text)) == []
    said = caplog.text
    assert f"alert mail to 127.0.0.1:{closed} not sent" in said
    assert f"alert webhook 127.0.0.1:{closed} not reached" in said
    assert "SECRET-TOKEN" not in said  # a robot's URL carries its token: never logged
    caplog.clear()
    with WebhookServer() as hook, caplog.at_level(logging.WARNING, logger="regreen"):
        refused = config_for(
            tmp_path, f'[notify]\nwebhook_url = "{hook.url}/refuse"\nwebhook_format = "wecom"\n'
        )
        assert send_alert(alert, refused) == []
    assert len(hook.posted) == 1 and "refused the message" in caplog.text and "93000" in caplog.text


# aiosmtpd warns of a login allowed without STARTTLS; its connection is TLS from the first byte.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_mail_over_tls_from_the_start_as_port_465_serves_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Tencent Exmail, 163 and Aliyun mail serve SMTPS on 465; port 465 itself cannot be bound here, so
    # smtp_ssl says it. Without it, the client waits for a plain greeting the server never sends.
    monkeypatch.setenv(PASSWORD_ENV, SMTP_PASSWORD)
    alert = compose_alert(record("error", "bad notice"), [], None, ZONE)
    with SmtpServer(tmp_path, implicit_tls=True) as smtp, caplog.at_level(logging.WARNING, logger="regreen"):
        plain = notify_toml(smtp, "", "json", PASSWORD_ENV).replace(
            "timeout_seconds = 10", "timeout_seconds = 2"
        )
        assert send_alert(alert, config_for(tmp_path, plain)) == []
        assert send_alert(alert, config_for(tmp_path, plain + "smtp_ssl = true\n")) == ["mail"]
    assert "not sent" in caplog.text
    (mail,) = smtp.box.messages
    assert smtp.box.over_tls == [True] and smtp.box.logins == [(SMTP_USER, SMTP_PASSWORD)]
    assert mail.get_content().strip() == alert.text()


DINGTALK_SECRET = "SEC0123456789abcdef-not-in-the-toml"
SECRET_ENV = "REGREEN_TEST_DINGTALK_SECRET"


def test_a_dingtalk_robot_with_signing_takes_the_signed_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    alert = compose_alert(record("error", "bad notice"), [], None, ZONE)
    robot = '[notify]\nwebhook_url = "{url}/robot/send?access_token=t0k"\nwebhook_format = "dingtalk"\n'
    with (
        WebhookServer(dingtalk_secret=DINGTALK_SECRET) as hook,
        caplog.at_level(logging.INFO, logger="regreen"),
    ):
        # Unsigned, as before 加签 was supported: the robot refuses it.
        assert send_alert(alert, config_for(tmp_path, robot.format(url=hook.url))) == []
        monkeypatch.setenv(SECRET_ENV, DINGTALK_SECRET)
        signed = robot.format(url=hook.url) + f'webhook_secret_env = "{SECRET_ENV}"\n'
        assert send_alert(alert, config_for(tmp_path, signed)) == ["webhook"]
        secret_file = tmp_path / "dingtalk-secret"
        secret_file.write_text(DINGTALK_SECRET + "\n", encoding="utf-8")
        from_file = robot.format(url=hook.url) + f'webhook_secret_file = "{secret_file}"\n'
        assert send_alert(alert, config_for(tmp_path, from_file)) == ["webhook"]
        monkeypatch.setenv(SECRET_ENV, "SEC-a-wrong-secret")
        assert send_alert(alert, config_for(tmp_path, signed)) == []
    assert [p.path.split("&")[0] for p in hook.posted] == ["/robot/send?access_token=t0k"] * 4
    assert [p.body for p in hook.posted] == [alert.webhook_payload("dingtalk")] * 4
    assert caplog.text.count("refused the message") == 2 and "310000" in caplog.text
    assert "SEC" not in caplog.text and "sign=" not in caplog.text and "t0k" not in caplog.text


def test_a_signing_secret_that_is_not_there_sends_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    alert = compose_alert(record("error", "bad notice"), [], None, ZONE)
    with WebhookServer() as hook, caplog.at_level(logging.WARNING, logger="regreen"):
        text = f"""[notify]
webhook_url = "{hook.url}/robot/send?access_token=t0k"
webhook_format = "dingtalk"
webhook_secret_env = "REGREEN_TEST_UNSET_VARIABLE"
"""
        assert send_alert(alert, config_for(tmp_path, text)) == []
    assert hook.posted == [] and "gives no secret" in caplog.text


def test_a_login_without_a_password_sends_no_mail(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    alert = compose_alert(record("error", "bad notice"), [], None, ZONE)
    with SmtpServer(tmp_path) as smtp, caplog.at_level(logging.WARNING, logger="regreen"):
        config = config_for(tmp_path, notify_toml(smtp, "", "json", "REGREEN_TEST_UNSET_VARIABLE"))
        assert send_alert(alert, config) == []
    assert smtp.box.messages == [] and "no password" in caplog.text


def test_the_webhook_goes_through_the_configured_proxy(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A government network reaches the robots through an HTTP proxy, which cron's empty environment does
    not name: `proxy` does. Here the robot's host does not resolve: only the proxy can take the message."""
    alert = compose_alert(record("error", "bad notice"), [], None, ZONE)
    robot = "http://robot.invalid/robot/send?access_token=t0k"
    toml = f'[notify]\nwebhook_url = "{robot}"\nwebhook_format = "wecom"\ntimeout_seconds = 10\n'
    with WebhookServer() as proxy:
        assert send_alert(alert, config_for(tmp_path, toml + f'proxy = "{proxy.url}"\n')) == ["webhook"]
        with caplog.at_level(logging.WARNING, logger="regreen"):
            assert send_alert(alert, config_for(tmp_path, toml)) == []
    (posted,) = proxy.posted
    assert posted.path == robot and posted.body == alert.webhook_payload("wecom")
    assert "alert webhook robot.invalid not reached" in caplog.text and "t0k" not in caplog.text


def test_a_webhook_signed_by_its_own_ca_is_trusted_with_webhook_ca_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A proxy that inspects TLS (or an office's own receiver) presents a certificate of a CA the system
    does not know: `webhook_ca_file` names it."""
    alert = compose_alert(record("error", "bad notice"), [], None, ZONE)
    certificate = self_signed_certificate(tmp_path)
    with WebhookServer(certificate=certificate) as hook:
        toml = f'[notify]\nwebhook_url = "{hook.url}/hook"\ntimeout_seconds = 10\n'
        with caplog.at_level(logging.WARNING, logger="regreen"):
            assert send_alert(alert, config_for(tmp_path, toml)) == []
        trusted = toml + f'webhook_ca_file = "{certificate[0]}"\n'
        assert send_alert(alert, config_for(tmp_path, trusted)) == ["webhook"]
    assert hook.url.startswith("https://") and len(hook.posted) == 1
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text


def test_without_mail_from_the_login_sends_as_exmail_163_and_aliyun_require(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """These services refuse a sender other than the account that logged in; regreen@localhost, the
    sender when mail_from was empty, was refused (501), and the alert lost."""
    monkeypatch.setenv(PASSWORD_ENV, SMTP_PASSWORD)
    alert = compose_alert(record("error", "bad notice"), [], None, ZONE)
    account = "regreen-alerts@example.gov.cn"
    box = MailBox(login=account, sender_is_login=True)
    with SmtpServer(tmp_path, box=box) as smtp:
        toml = notify_toml(smtp, "", "json", PASSWORD_ENV).replace(SMTP_USER, account)
        unsent = toml.replace('mail_from = "regreen@example.org"', 'mail_from = "office@example.org"')
        with caplog.at_level(logging.WARNING, logger="regreen"):
            assert send_alert(alert, config_for(tmp_path, unsent)) == []
        as_login = toml.replace('mail_from = "regreen@example.org"\n', "")
        assert send_alert(alert, config_for(tmp_path, as_login)) == ["mail"]
    assert "must be same as authorization user" in caplog.text
    (mail,) = smtp.box.messages
    assert mail["From"] == account
