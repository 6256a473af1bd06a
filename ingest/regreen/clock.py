"""One clock and one id for a run.

Times are stored in UTC with their zone (DuckDB `timestamptz`, ISO 8601 with `+00:00` in the run log) and
shown in the configured zone (`[general] timezone`, default Asia/Shanghai) with the zone's name, so that
"refreshed 00:20 Asia/Shanghai" means the same to an official in 泉州 as to the server in UTC.

A run id is the UTC time the run started and a random suffix, `20261128T161757Z-b67397`: the same id
names the run in logs/runs.jsonl, meta.runs, raw.submission_files.ingest_run_id, quality.check_results,
history/<run>.duckdb, work/failed-<run>.duckdb, the export manifest and the report.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def new_run_id(started: datetime | None = None) -> str:
    return f"{(started or utc_now()).astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def as_utc(moment: datetime) -> datetime:
    """`moment` as an aware UTC time; a naive one is taken to be UTC (how regreen stored times before)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def local_time(moment: datetime, zone: ZoneInfo) -> str:
    """`2026-11-29 00:17 Asia/Shanghai`: minutes, in `zone`, with the zone's name."""
    return f"{as_utc(moment).astimezone(zone):%Y-%m-%d %H:%M} {zone.key}"
