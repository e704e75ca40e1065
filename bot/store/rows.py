"""What the store hands out: rows as dataclasses."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any

from bot.models import JobState

JOB_COLUMNS = frozenset(
    {
        "provider",
        "provider_task_id",
        "provider_status",
        "provider_cost",
        "result_url",
        "error_kind",
        "error_message",
        "error_detail",
        "poll_attempts",
        "submitted_at",
        "finished_at",
        "delivered_at",
        "notified_at",
        "message_id",
        "not_before",
    }
)


@dataclass
class JobRow:
    id: str
    kind: str
    origin: str
    state: JobState
    user_id: int
    guild_id: int | None
    channel_id: int | None
    provider: str
    request_json: str
    price: int
    upload_limit: int
    provider_task_id: str | None
    provider_status: str | None
    provider_cost: str | None
    result_url: str | None
    error_kind: str | None
    error_message: str | None
    error_detail: str | None
    poll_attempts: int
    created_at: float
    updated_at: float
    submitted_at: float | None
    finished_at: float | None
    delivered_at: float | None
    notified_at: float | None
    message_id: int | None
    not_before: float | None = None

    @cached_property
    def request(self) -> dict[str, Any]:
        # Parsed when first asked for: most reads (a callback, the dispatcher's pass) never need it.
        return json.loads(self.request_json)  # type: ignore[no-any-return]

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> JobRow:
        # Positional when the columns are in field order (the usual case, ten times faster than
        # by name: this runs for every callback); by name otherwise.
        names = tuple(row.keys())
        values = list(row) if names == _JOB_FIELDS else [row[names.index(name)] for name in _JOB_FIELDS]
        job = cls(*values)
        job.state = JobState(job.state)
        return job


_JOB_FIELDS = tuple(f.name for f in fields(JobRow))


@dataclass
class Usage:
    """Credits used in one period (reserved minus refunded), and granted extra."""

    used: int
    granted: int




def _check_columns(fields: dict[str, Any]) -> None:
    bad = set(fields) - JOB_COLUMNS
    if bad:
        raise ValueError(f"unknown job columns: {bad}")
