"""Alerts after a nightly: a short bilingual message to mail (SMTP) and a webhook (JSON, 企业微信, 钉钉).

A message is sent when there is something to say: the run failed (with its first failed check or its
error), checks warned (how many, and the first few), or townships' reports are overdue (by day
`[submissions] due_day` of the month after the report month). A clean night sends nothing.

Targets come from `[notify]` in regreen.toml. The SMTP password is read from the environment variable
`smtp_password_env` names or from the file `smtp_password_file` names, never from the toml itself; so is
the secret of a DingTalk robot whose security setting is 加签 (signing: `webhook_secret_env`,
`webhook_secret_file`), with which each message's URL is signed as DingTalk documents. A
target that cannot be reached, refuses the message or takes longer than `timeout_seconds` is logged as a
warning: an alert never fails the run it reports on.

Alerts carry run ids, check names, counts and township names only: no reporter, no phone number.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import smtplib
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import duckdb

from regreen.clock import local_time
from regreen.config import Config
from regreen.log import logger
from regreen.quality import CheckResult

if TYPE_CHECKING:  # nightly imports this module
    from regreen.nightly import RunRecord

# How many warned checks a message names; the rest are counted.
WARNED_SHOWN = 3
WEBHOOK_FORMATS = ("json", "wecom", "dingtalk")
SMTPS_PORT = 465
# The longest markdown each group robot takes (UTF-8 bytes): 企业微信 refuses more (errcode 40058), and so
# does 钉钉 beyond its message size.
WECOM_MARKDOWN_BYTES = 4096
DINGTALK_MARKDOWN_BYTES = 20000


@dataclass(frozen=True)
class Overdue:
    report_month: date  # the month whose report is overdue
    due: date  # the day it was due by
    townships: tuple[str, ...]


@dataclass(frozen=True)
class Alert:
    run_id: str
    status: str  # failed | warned | ok: the run's outcome, for a webhook to act on
    title: str  # one line: the mail's subject, the robot message's title
    lines: tuple[str, ...]  # each "中文 / English"
    facts: dict[str, Any]  # what the json webhook format posts besides title and text

    def text(self) -> str:
        return "\n".join([self.title, *self.lines])

    def markdown(self, limit_bytes: int | None = None) -> str:
        """The message as a robot's markdown, within `limit_bytes` of UTF-8 if given: its longest lines
        cut short (…) until it fits, so that a long reason (dbt's messages) costs the end of that line,
        not the message."""
        lines = [f"### {self.title}", *(f"- {line}" for line in self.lines)]
        while limit_bytes is not None and len("\n".join(lines).encode("utf-8")) > limit_bytes:
            longest = max(range(len(lines)), key=lambda n: len(lines[n]))
            lines[longest] = lines[longest][: len(lines[longest]) // 2] + "…"
        return "\n".join(lines)

    def webhook_payload(self, fmt: str) -> dict[str, Any]:
        """The body for `fmt`: our own JSON, or the group robots' markdown messages, within their limits."""
        if fmt == "wecom":
            return {"msgtype": "markdown", "markdown": {"content": self.markdown(WECOM_MARKDOWN_BYTES)}}
        if fmt == "dingtalk":
            text = self.markdown(DINGTALK_MARKDOWN_BYTES)
            return {"msgtype": "markdown", "markdown": {"title": self.title, "text": text}}
        return {"title": self.title, "text": self.text(), **self.facts}


def overdue_townships(warehouse: Path, today: date, due_day: int) -> Overdue | None:
    """Townships whose report for the latest month already due is missing, from the published warehouse.

    The month due is the one before last when today is on or before `due_day`, else last month. A
    township owes it when it owed the latest month marts.submission_timeliness covers (it has an active
    project); it is overdue when no accepted report for that month arrived.
    """
    first_of_month = today.replace(day=1)
    back = 2 if today.day <= due_day else 1
    index = first_of_month.year * 12 + first_of_month.month - 1 - back
    month = date(index // 12, index % 12 + 1, 1)
    due = _due_date(month, due_day)
    if not warehouse.exists():
        return None
    try:
        with duckdb.connect() as con:
            con.execute("attach ? as warehouse (read_only)", [str(warehouse)])
            rows = con.execute(
                """
                with owing as (
                    select township_name from warehouse.marts.submission_timeliness
                    where expected and report_month = (
                        select max(report_month) from warehouse.marts.submission_timeliness
                        where report_month <= ?
                    )
                ),
                sent as (
                    select township_name from warehouse.marts.submission_timeliness
                    where report_month = ? and status in ('on_time', 'late')
                )
                select township_name from owing
                where township_name not in (select township_name from sent)
                order by township_name
                """,
                [month, month],
            ).fetchall()
    except duckdb.Error as exc:
        logger.warning("alert: cannot read overdue reports from %s: %s", warehouse, exc)
        return None
    if not rows:
        return None
    return Overdue(month, due, tuple(row[0] for row in rows))


def _due_date(month: date, due_day: int) -> date:
    index = month.year * 12 + month.month  # the month after `month`
    return date(index // 12, index % 12 + 1, due_day)


def compose_alert(
    record: RunRecord, checks: Sequence[CheckResult], overdue: Overdue | None, zone: ZoneInfo
) -> Alert | None:
    """The message for this run, or None when there is nothing to tell."""
    failed = [c for c in checks if c.status == "failed"]
    warned = [c for c in checks if c.status == "warned"]
    when = local_time(record.ended_at or record.started_at, zone)
    lines = []
    if record.failed:
        status = "failed"
        title = f"regreen 夜间任务失败，未发布 / nightly FAILED, nothing published — {record.run_id}"
        if failed:
            first = failed[0]
            lines.append(
                f"{len(failed)} 项检查失败，首项 / {len(failed)} checks failed, first: {first.suite}: "
                f"{first.check} (observed {first.observed}, expected {first.expected})"
            )
        else:
            lines.append(f"原因 / reason: {record.error_message or record.status}")
        lines.append("已发布的仓库保持上次成功的版本 / the published warehouse stays the last good one")
    elif warned:
        status = "warned"
        title = f"regreen 夜间任务有 {len(warned)} 项警告 / nightly: {len(warned)} checks warned — {record.run_id}"
    elif overdue is not None:
        status = "ok"
        title = f"regreen 乡镇报送逾期 / township reports overdue — {record.run_id}"
    else:
        return None
    if warned:
        named = "; ".join(f"{c.suite}: {c.check}" for c in warned[:WARNED_SHOWN])
        more = f" (+{len(warned) - WARNED_SHOWN})" if len(warned) > WARNED_SHOWN else ""
        lines.append(f"{len(warned)} 项警告 / {len(warned)} checks warned: {named}{more}")
    if overdue is not None:
        lines.append(
            f"{overdue.report_month:%Y-%m} 月报逾期（应于 {overdue.due:%Y-%m-%d} 前报送）/ {overdue.report_month:%Y-%m} "
            f"reports overdue (due by {overdue.due:%Y-%m-%d}): {'、'.join(overdue.townships)}"
        )
    lines.append(f"运行 / run {record.run_id}, {when}, 状态 / status {record.status}")
    facts = {
        "run_id": record.run_id,
        "status": status,
        "run_status": record.status,
        "ended_at": (record.ended_at or record.started_at).isoformat(),
        "checks_failed": len(failed),
        "checks_warned": len(warned),
        "first_failed_check": f"{failed[0].suite}: {failed[0].check}" if failed else None,
        "error": record.error_message if record.failed and not failed else None,
        "overdue_month": f"{overdue.report_month:%Y-%m}" if overdue else None,
        "overdue_townships": list(overdue.townships) if overdue else [],
    }
    return Alert(record.run_id, status, title, tuple(lines), facts)


def send_alert(alert: Alert, config: Config) -> list[str]:
    """Send `alert` to every configured target; returns those that took it. Never raises."""
    delivered = []
    if config.get("notify", "smtp_host") and config.get("notify", "mail_to") and _send_mail(alert, config):
        delivered.append("mail")
    if config.get("notify", "webhook_url") and _post_webhook(alert, config):
        delivered.append("webhook")
    return delivered


def _secret(config: Config, setting: str, what: str) -> str | None:
    """The secret `<setting>_env` names the variable of, or `<setting>_file` holds; None when neither is
    set or it cannot be read (logged)."""
    variable = config.get("notify", f"{setting}_env")
    if variable:
        return os.environ.get(variable)
    path = config.get("notify", f"{setting}_file")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            logger.warning("%s: cannot read the file %s: %s", what, path, exc)
    return None


def _signed(url: str, secret: str, now: datetime) -> str:
    """`url` with DingTalk's signature: the time in milliseconds, and base64 of HMAC-SHA256 keyed with the
    secret over "<time>\\n<secret>"; the robot refuses a message signed more than an hour away from its
    clock (errcode 310000)."""
    timestamp = str(round(now.timestamp() * 1000))
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    query = urllib.parse.urlencode({"timestamp": timestamp, "sign": base64.b64encode(digest).decode()})
    return f"{url}{'&' if urllib.parse.urlsplit(url).query else '?'}{query}"


def _send_mail(alert: Alert, config: Config) -> bool:
    get = config.values["notify"].get
    message = EmailMessage()
    message["Subject"] = alert.title
    # Tencent Exmail, QQ, 163 and Aliyun mail refuse a sender other than the account that logged in
    # ("501 mail from address must be same as authorization user"): with no mail_from, a login that is
    # an address sends as itself.
    login = get("smtp_user")
    message["From"] = get("mail_from") or (login if "@" in login else "regreen@localhost")
    message["To"] = ", ".join(get("mail_to"))
    message.set_content(alert.text())
    host, port, timeout = get("smtp_host"), get("smtp_port"), get("timeout_seconds")
    # Port 465 is SMTP over TLS from the first byte (RFC 8314): a plain connection there waits for a
    # greeting that never comes, until the timeout.
    implicit_tls = get("smtp_ssl") or port == SMTPS_PORT
    try:
        context = ssl.create_default_context(cafile=get("smtp_ca_file") or None)
        if implicit_tls:
            connection = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            connection = smtplib.SMTP(host, port, timeout=timeout)
        with connection as smtp:
            if not implicit_tls and get("smtp_starttls"):
                smtp.starttls(context=context)
            if get("smtp_user"):
                password = _secret(config, "smtp_password", "alert mail: the SMTP password")
                if password is None:
                    logger.warning(
                        "alert mail not sent: smtp_user is set but no password (smtp_password_env or "
                        "smtp_password_file)"
                    )
                    return False
                smtp.login(get("smtp_user"), password)
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException, UnicodeError) as exc:  # ssl.SSLError is an OSError
        logger.warning("alert mail to %s:%s not sent: %s", host, port, exc)
        return False
    logger.info("alert mailed to %s", message["To"])
    return True


def _post_webhook(alert: Alert, config: Config) -> bool:
    url, fmt = config.get("notify", "webhook_url"), config.get("notify", "webhook_format")
    if fmt not in WEBHOOK_FORMATS:
        logger.warning("alert webhook not sent: webhook_format %r is not one of %s", fmt, WEBHOOK_FORMATS)
        return False
    signing = config.get("notify", "webhook_secret_env") or config.get("notify", "webhook_secret_file")
    if signing and fmt == "dingtalk":
        secret = _secret(config, "webhook_secret", "alert webhook: the DingTalk secret")
        if not secret:
            logger.warning(
                "alert webhook not sent: webhook_secret_env or webhook_secret_file is set but gives no secret"
            )
            return False
        url = _signed(url, secret, datetime.now(UTC))
    body = json.dumps(alert.webhook_payload(fmt), ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
    )
    try:
        opener = _webhook_opener(config)
        with opener.open(request, timeout=config.get("notify", "timeout_seconds")) as response:
            answer = response.read(65536)
    except (OSError, urllib.error.URLError, ValueError) as exc:  # ValueError: a proxy URL it cannot use
        via = f" through the proxy {_host(proxy)}" if (proxy := config.get("notify", "proxy")) else ""
        logger.warning("alert webhook %s not reached%s: %s", _host(url), via, exc)
        return False
    # The group robots answer 200 with {"errcode": n}; anything but 0 means the message was refused.
    try:
        errcode = json.loads(answer or b"{}").get("errcode", 0)
    except (ValueError, AttributeError):
        errcode = 0
    if errcode:
        logger.warning("alert webhook %s refused the message: %s", _host(url), answer[:300])
        return False
    logger.info("alert posted to %s", _host(url))
    return True


def _webhook_opener(config: Config) -> urllib.request.OpenerDirector:
    """How the webhook is reached: through `proxy` when it is set (a government network's way out, which
    cron's empty environment does not name), else as the environment's https_proxy and no_proxy say; its
    server's certificate verified against the system's CAs and `webhook_ca_file`."""
    handlers: list[urllib.request.BaseHandler] = []
    if proxy := config.get("notify", "proxy"):
        handlers.append(urllib.request.ProxyHandler({"http": proxy, "https": proxy}))
    if ca_file := config.get("notify", "webhook_ca_file"):
        context = ssl.create_default_context()
        context.load_verify_locations(cafile=ca_file)
        handlers.append(urllib.request.HTTPSHandler(context=context))
    return urllib.request.build_opener(*handlers)


def _host(url: str) -> str:
    """A webhook's host only: the robots' URLs carry their access token, which logs must not."""
    return urllib.parse.urlsplit(url).netloc
