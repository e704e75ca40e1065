"""Credits: a user's daily allowance, a guild's daily budget and the global budget.

Credits are a ledger (bot/store.py): reserve when a job is queued, commit on
success, refund on failure or cancel. A refund belongs to the period of its
reservation, so a job that fails after midnight gives back yesterday's credits.
All three limits are checked in the same transaction that writes the job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiosqlite

from bot.errors import Refusal
from bot.store import Store

TERMINAL_USER_ID = 0  # jobs run from the terminal: operators, exempt from the per-user allowance


class QuotaRefused(Refusal):
    """The job does not fit a credit or concurrency limit."""

    def __init__(self, scope: str, message: str) -> None:
        super().__init__(message)
        self.scope = scope  # "user" | "guild" | "global" | "active"


@dataclass(frozen=True)
class QuotaStatus:
    allowance: int
    used: int
    granted: int
    resets_at: datetime
    active_jobs: int
    guild_left: int | None  # None: no guild budget

    @property
    def left(self) -> int:
        return max(0, self.allowance + self.granted - self.used)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def describe_wait(until: datetime, now: datetime) -> str:
    minutes = max(1, int((until - now).total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


class QuotaPolicy:
    def __init__(
        self,
        *,
        user_daily: int,
        guild_daily: int = 0,
        global_daily: int = 0,
        max_active_per_user: int = 2,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.user_daily = user_daily
        self.guild_daily = guild_daily
        self.global_daily = global_daily
        self.max_active_per_user = max_active_per_user
        self.clock = clock

    def period(self) -> str:
        return self.clock().strftime("%Y-%m-%d")

    def resets_at(self) -> datetime:
        now = self.clock()
        return datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)

    def _reset_text(self) -> str:
        at = self.resets_at()
        return f"at 00:00 UTC (in {describe_wait(at, self.clock())})"

    async def reserve(
        self,
        db: aiosqlite.Connection,
        store: Store,
        *,
        user_id: int,
        guild_id: int | None,
        job_id: str,
        amount: int,
        price_text: str,
    ) -> None:
        """Check every limit and write the reservation; call inside the job's transaction."""
        period = self.period()
        operator = user_id == TERMINAL_USER_ID
        if not operator:
            active = await store.count_active(user_id=user_id)
            if active >= self.max_active_per_user:
                raise QuotaRefused(
                    "active",
                    f"You already have {active} video{'s' if active != 1 else ''} in progress "
                    f"(the limit is {self.max_active_per_user}). Wait for one to finish, then try again.",
                )
            usage = await Store.usage(db, period, user_id=user_id)
            left = self.user_daily + usage.granted - usage.used
            if amount > left:
                raise QuotaRefused(
                    "user",
                    f"This video costs {amount} credits ({price_text}) but you have {max(left, 0)} of "
                    f"{self.user_daily + usage.granted} left today. Your credits reset {self._reset_text()}.",
                )
        if self.guild_daily and guild_id is not None:
            usage = await Store.usage(db, period, guild_id=guild_id)
            left = self.guild_daily + usage.granted - usage.used
            if amount > left:
                raise QuotaRefused(
                    "guild",
                    f"This server's daily video budget has {max(left, 0)} credits left and this video costs "
                    f"{amount}. The budget resets {self._reset_text()}.",
                )
        if self.global_daily:
            usage = await Store.usage(db, period)
            if amount > self.global_daily - usage.used:
                raise QuotaRefused(
                    "global",
                    f"The bot has reached its daily spending limit. It resets {self._reset_text()}.",
                )
        await Store.add_ledger(
            db, kind="reserve", user_id=user_id, guild_id=guild_id, job_id=job_id, amount=amount, period=period
        )

    @staticmethod
    async def settle(db: aiosqlite.Connection, job_id: str, kind: str, reason: str = "") -> bool:
        """Commit or refund a job's reservation, exactly once (and never both)."""
        reserve = await Store.ledger_row(db, job_id, "reserve")
        if reserve is None:
            return False
        other = "refund" if kind == "commit" else "commit"
        if await Store.ledger_row(db, job_id, other) is not None:
            return False
        return await Store.add_ledger(
            db,
            kind=kind,
            user_id=reserve["user_id"],
            guild_id=reserve["guild_id"],
            job_id=job_id,
            amount=reserve["amount"],
            period=reserve["period"],
            reason=reason,
        )

    async def status(self, store: Store, user_id: int, guild_id: int | None) -> QuotaStatus:
        period = self.period()
        usage = await Store.usage(store.db, period, user_id=user_id)
        guild_left = None
        if self.guild_daily and guild_id is not None:
            g = await Store.usage(store.db, period, guild_id=guild_id)
            guild_left = max(0, self.guild_daily + g.granted - g.used)
        return QuotaStatus(
            allowance=self.user_daily,
            used=usage.used,
            granted=usage.granted,
            resets_at=self.resets_at(),
            active_jobs=await store.count_active(user_id=user_id),
            guild_left=guild_left,
        )
