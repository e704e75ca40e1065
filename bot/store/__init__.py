"""The store: the only place with SQL. A package of query mixins over one connection base.

- `base.py`: connections, transactions (`transaction`, `grouped`, `atomic`), busy retries, migrations runner
- `schema.py`: the migrations, in order (written for SQLite; `dialect.py` adapts them to PostgreSQL)
- `dialect.py`, `postgres.py`: PostgreSQL behind the same surface (asyncpg), when DATABASE_URL says so
- `rows.py`: row dataclasses
- one module per area of queries (`jobs.py`, `ledger.py`, ...), each a mixin over `StoreBase`
  that only uses the base's helpers (`_rows`, `_row`, `atomic`, `transaction`), never another mixin.
"""

from __future__ import annotations

from bot.store.admin import AdminQueries, AuditRow, Ban, GuildSettings
from bot.store.base import StoreBase, is_busy
from bot.store.challenges import ChallengeQueries, ChallengeRow, EntryRow
from bot.store.intake import IntakeQueries
from bot.store.jobs import JobQueries
from bot.store.leases import LeaseQueries, job_lease
from bot.store.ledger import LedgerQueries
from bot.store.member_jobs import MemberJobQueries
from bot.store.results import JobLink, ResultQueries
from bot.store.rows import JOB_COLUMNS, JobRow, Usage
from bot.store.schema import HISTORY_TRIGGER, MIGRATIONS


class Store(
    JobQueries, LedgerQueries, IntakeQueries, AdminQueries, ResultQueries, ChallengeQueries, MemberJobQueries,
    LeaseQueries, StoreBase,
):
    """Every query the bot makes; see the modules for each area."""


__all__ = [
    "AuditRow", "Ban", "ChallengeRow", "EntryRow", "GuildSettings", "HISTORY_TRIGGER", "JOB_COLUMNS", "MIGRATIONS",
    "JobLink", "JobRow", "Store", "StoreBase", "Usage", "is_busy", "job_lease",
]
