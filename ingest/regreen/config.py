"""One configuration file, `regreen.toml`: every key optional, every default written here once.

The file is looked up in the data directory (`<data-dir>/regreen.toml`) unless `--config PATH` names
another. Each setting records where its value came from (the default, or the file), so
`regreen config show` can say why a value is what it is. Secrets (the SMTP password) are never read
from this file: only the name of an environment variable or of a file that holds them.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from regreen.errors import ConfigError

CONFIG_FILE_NAME = "regreen.toml"


@dataclass(frozen=True)
class Setting:
    """One key's default, type and meaning, shown by `regreen config show` and docs/operations.md."""

    default: Any
    doc: str


# section -> key -> Setting. Adding a setting means adding one line here and reading it with `Config.get`.
SETTINGS: dict[str, dict[str, Setting]] = {
    "general": {
        "timezone": Setting(
            "Asia/Shanghai", "IANA time zone that times are shown in and the schedule runs in"
        ),
    },
    "submissions": {
        "due_day": Setting(5, "a month's report is on time when it arrives by this day of the next month"),
        "first_due_month": Setting(
            "", "first month a report is owed, YYYY-MM (empty: the month after the notice's date)"
        ),
        "area_over_plan_tolerance": Setting(
            0.20, "a cumulative area above its project's plan by more than this share is rejected"
        ),
        "settle_seconds": Setting(60, "an inbox file is taken only once it has not changed for this long"),
        "max_issues_per_file": Setting(200, "issues stored row by row per file; the rest are counted"),
    },
    "limits": {
        # A township's monthly file is a few dozen KB; 10 MB is hundreds of times that, and keeps the
        # worst case of parsing one CSV (Python objects per field) well under a gigabyte.
        "max_file_bytes": Setting(10 * 1024 * 1024, "a received file larger than this is refused unread"),
        "max_rows": Setting(100_000, "a sheet or CSV with more data rows than this is refused"),
        "max_columns": Setting(200, "a sheet declaring more columns than this is refused"),
        "max_cells": Setting(2_000_000, "a sheet declaring more cells (rows × columns) than this is refused"),
        "max_unpacked_bytes": Setting(
            200 * 1024 * 1024, "an .xlsx whose parts unpack to more bytes than this is refused unread"
        ),
    },
    "history": {
        "keep": Setting(3, "distinct published warehouses kept in <data-dir>/history/ for rollback"),
        "archive_retention_days": Setting(
            365, "received files older than this have personal data purged by `regreen purge`"
        ),
    },
    "quality": {
        "suite_memory_limit": Setting(
            "512MB",
            "DuckDB memory limit while the suites run (beyond it their queries' joins and windows spill)",
        ),
    },
    "report": {
        "project_rows": Setting(
            500,
            "the report's per-project tables (by project, at risk, funding) list at most this many projects; "
            "every project is in export/csv/plan_vs_actual_project.csv, projects_behind_schedule.csv and "
            "funding_by_source.csv",
        ),
    },
    "storage": {
        "duckdb_storage_version": Setting(
            "v1.1.0",
            "DuckDB storage format of the published file: v1.1.0 opens in DuckDB 1.1 to 2.x clients, "
            "latest only in clients as new as the pinned duckdb (docs/operations.md)",
        ),
        "memory_limit": Setting(
            "512MB",
            "DuckDB memory limit of each database a build, its dbt, its exports and the report open "
            "(beyond it DuckDB spills beside the file); on a smaller machine, a quarter of its RAM",
        ),
        "compact_slack": Setting(
            0.1,
            "an incremental build whose file has more blocks than the last compact file of its chain "
            "(full build or compaction) by more than this share is rewritten compact before it is published",
        ),
    },
    "notify": {
        "smtp_host": Setting("", "SMTP server for alert mail (empty: no mail)"),
        "smtp_port": Setting(587, "SMTP port"),
        "smtp_starttls": Setting(True, "upgrade the SMTP connection with STARTTLS"),
        "smtp_ssl": Setting(
            False,
            "connect over TLS from the start (SMTPS, as Tencent Exmail, 163 and Aliyun mail serve on port "
            "465); port 465 always does",
        ),
        "smtp_user": Setting("", "SMTP login (empty: no login)"),
        "smtp_password_env": Setting("", "name of the environment variable holding the SMTP password"),
        "smtp_password_file": Setting("", "file holding the SMTP password (owner-only)"),
        "smtp_ca_file": Setting(
            "", "CA certificate (PEM) to verify the SMTP server with (empty: the system's)"
        ),
        "mail_from": Setting(
            "",
            "sender address of alert mail (empty: smtp_user if it is an address, as most mail services require)",
        ),
        "mail_to": Setting([], "recipient addresses of alert mail"),
        "webhook_url": Setting("", "URL that alerts are posted to (empty: no webhook)"),
        "webhook_format": Setting("json", "json, wecom (企业微信群机器人) or dingtalk (钉钉群机器人)"),
        "webhook_secret_env": Setting(
            "",
            "name of the environment variable holding the DingTalk robot's 加签 secret (SEC…), if it signs",
        ),
        "webhook_secret_file": Setting("", "file holding the DingTalk robot's 加签 secret (owner-only)"),
        "webhook_ca_file": Setting(
            "",
            "CA certificate (PEM) to verify the webhook's server with, besides the system's (a proxy that "
            "inspects TLS signs with its own)",
        ),
        "proxy": Setting(
            "",
            "HTTP proxy the webhook is posted through, e.g. http://10.1.2.3:8080 (empty: the environment's "
            "https_proxy and no_proxy, which cron does not set)",
        ),
        "timeout_seconds": Setting(10, "how long one alert target may take before it is given up"),
    },
}


@dataclass(frozen=True)
class Config:
    """The effective settings: `values[section][key]`, and `sources[section][key]` ("default" or a path)."""

    values: dict[str, dict[str, Any]]
    sources: dict[str, dict[str, str]] = field(default_factory=dict)

    def get(self, section: str, key: str) -> Any:
        return self.values[section][key]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.get("general", "timezone"))

    def rows(self) -> list[tuple[str, Any, str, str]]:
        """(section.key, value, source, meaning) for every setting, in SETTINGS order."""
        return [
            (f"{section}.{key}", self.values[section][key], self.sources[section][key], setting.doc)
            for section, keys in SETTINGS.items()
            for key, setting in keys.items()
        ]

    def render_toml(self) -> str:
        """The effective configuration as a commented TOML file (what `regreen config show` prints)."""
        lines: list[str] = []
        for section, keys in SETTINGS.items():
            lines.append(f"[{section}]")
            for key, setting in keys.items():
                lines.append(f"# {setting.doc} (来源 / from: {self.sources[section][key]})")
                lines.append(f"{key} = {toml_value(self.values[section][key])}")
            lines.append("")
        return "\n".join(lines)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return str(value)


def default_config() -> Config:
    return Config(
        values={s: {k: v.default for k, v in keys.items()} for s, keys in SETTINGS.items()},
        sources={s: dict.fromkeys(keys, "default") for s, keys in SETTINGS.items()},
    )


def _typed(path: Path, section: str, key: str, value: Any, default: Any) -> Any:
    """The value if it has the default's type (an int is accepted where a float is expected)."""
    expected = type(default)
    ok = (
        isinstance(value, expected) and not (expected is int and isinstance(value, bool))
        if expected is not float
        else isinstance(value, int | float) and not isinstance(value, bool)
    )
    if expected is list:
        ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
    if not ok:
        raise ConfigError(
            path, f"{section}.{key}", repr(value), f"应为 {expected.__name__} / must be {expected.__name__}"
        )
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        raise ConfigError(path, f"{section}.{key}", repr(value), "不能为负数 / must not be negative")
    return float(value) if expected is float else value


def _check_storage_version(path: Path, version: str) -> None:
    """A storage version DuckDB knows, found out by attaching an in-memory database in that format."""
    import duckdb

    with duckdb.connect() as con:
        try:
            con.execute("attach ':memory:' as probe (storage_version ?)", [version])
        except duckdb.Error:
            raise ConfigError(
                path,
                "storage.duckdb_storage_version",
                repr(version),
                "不是 DuckDB 已知的存储版本（如 v1.1.0、latest） / "
                "is not a DuckDB storage version (such as v1.1.0 or latest)",
            ) from None


def _check_memory_limits(path: Path, config: Config) -> None:
    """Every memory limit one DuckDB reads as such ("1GB", "768MiB", "25%")."""
    from regreen.memory import check_memory_limit

    for section, key in (("storage", "memory_limit"), ("quality", "suite_memory_limit")):
        if not check_memory_limit(config.get(section, key)):
            raise ConfigError(
                path,
                f"{section}.{key}",
                repr(config.get(section, key)),
                "不是 DuckDB 可识别的内存大小（如 1GB、768MiB、25%） / "
                "is not a DuckDB memory size (such as 1GB, 768MiB or 25%)",
            )


def load_config(data_dir: Path, explicit: Path | None = None) -> Config:
    """The settings from `explicit` (which must exist) or `<data_dir>/regreen.toml` (which may not)."""
    path = explicit if explicit is not None else data_dir / CONFIG_FILE_NAME
    config = default_config()
    if explicit is None and not path.exists():
        return config
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(path, "-", "-", "文件不存在 / the file does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, "-", "-", f"无法读取 / cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "-", "-", f"不是有效的 TOML / is not valid TOML: {exc}") from None
    for section, table in document.items():
        if section not in SETTINGS or not isinstance(table, dict):
            raise ConfigError(
                path, section, "-", f"未知的节 / unknown section (known: {', '.join(SETTINGS)})"
            )
        for key, value in table.items():
            if key not in SETTINGS[section]:
                known = ", ".join(SETTINGS[section])
                raise ConfigError(
                    path, f"{section}.{key}", repr(value), f"未知的键 / unknown key (known: {known})"
                )
            config.values[section][key] = _typed(path, section, key, value, SETTINGS[section][key].default)
            config.sources[section][key] = str(path)
    first_due = config.get("submissions", "first_due_month")
    if first_due and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", first_due):
        raise ConfigError(
            path,
            "submissions.first_due_month",
            repr(first_due),
            "应为 YYYY-MM / must be YYYY-MM, e.g. 2023-06",
        )
    _check_storage_version(path, config.get("storage", "duckdb_storage_version"))
    _check_memory_limits(path, config)
    try:
        ZoneInfo(config.get("general", "timezone"))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            path,
            "general.timezone",
            repr(config.get("general", "timezone")),
            "不是已知的时区 / is not a known time zone",
        ) from None
    return config
