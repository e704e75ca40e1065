"""Credits: a user's daily allowance, a guild's daily budget and the global budget.

Credits are a ledger (bot/store.py): reserve when a job is queued, commit on
success, refund on failure or cancel. A refund belongs to the period of its
reservation, so a job that fails after midnight gives back yesterday's credits.
All three limits are checked in the same transaction that writes the job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiosqlite

from bot.errors import Refusal
from bot.store import Store

TERMINAL_USER_ID = 0  # jobs run from the terminal: operators, exempt from the per-user allowance


# One sentence per budget that can say no; every field is filled for each.
REFUSALS = {
    "user": "This video costs {amount} credits ({price}) but you have {left} of {total} left today. "
    "Your credits reset {resets}.",
    "guild": "This server's daily video budget has {left} credits left and this video costs {amount}. "
    "The budget resets {resets}.",
    "global": "The bot has reached its daily spending limit. It resets {resets}.",
}


@dataclass(frozen=True)
class _Budget:
    scope: str  # "user" | "guild" | "global"
    allowance: int
    where: dict[str, int] = field(default_factory=dict)  # whose ledger rows count against it
    grants_count: bool = True  # granted credits raise it (a member's or a server's; not the bot's)


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

    def _budgets(self, user_id: int, guild_id: int | None) -> list[_Budget]:
        """The limits that apply to one job, each with its allowance and whose ledger rows count."""
        budgets = []
        if user_id != TERMINAL_USER_ID:  # operators at the terminal have no personal allowance
            budgets.append(_Budget("user", self.user_daily, {"user_id": user_id}, grants_count=True))
        if self.guild_daily and guild_id is not None:
            budgets.append(_Budget("guild", self.guild_daily, {"guild_id": guild_id}, grants_count=True))
        if self.global_daily:
            budgets.append(_Budget("global", self.global_daily, {}, grants_count=False))
        return budgets

    async def _left(self, store: Store, budget: _Budget, period: str, db: aiosqlite.Connection | None) -> tuple[int, int]:
        """(credits left, the budget's total today) for one budget."""
        usage = await store.usage(period, db=db, **budget.where)
        total = budget.allowance + (usage.granted if budget.grants_count else 0)
        return total - usage.used, total

    async def reserve(
        self,
        store: Store,
        *,
        user_id: int,
        guild_id: int | None,
        job_id: str,
        amount: int,
        price_text: str,
        db: aiosqlite.Connection | None = None,
    ) -> None:
        """Check every limit and write the reservation; pass the job's transaction as `db`."""
        period = self.period()
        budgets = self._budgets(user_id, guild_id)
        async with store.atomic(db) as conn:
            # Several processes on one database: the checks below and the reservation must see
            # every other reservation of the same user / guild / bot, so those wait for each other
            # here until this transaction ends (a no-op on SQLite, whose writes are serial).
            await store.lock(conn, f"quota:user:{user_id}", *(f"quota:{b.scope}:{_scope_id(b)}" for b in budgets))
            if user_id != TERMINAL_USER_ID:
                active = await store.count_active(user_id=user_id, db=conn)
                if active >= self.max_active_per_user:
                    raise QuotaRefused(
                        "active",
                        f"You already have {active} video{'s' if active != 1 else ''} in progress "
                        f"(the limit is {self.max_active_per_user}). Wait for one to finish, then try again.",
                    )
            for budget in budgets:
                left, total = await self._left(store, budget, period, conn)
                if amount > left:
                    raise QuotaRefused(
                        budget.scope,
                        REFUSALS[budget.scope].format(
                            amount=amount, price=price_text, left=max(left, 0), total=total, resets=self._reset_text()
                        ),
                    )
            await store.add_ledger(
                kind="reserve", user_id=user_id, guild_id=guild_id, job_id=job_id, amount=amount, period=period, db=conn
            )

    @staticmethod
    async def settle(store: Store, job_id: str, kind: str, reason: str = "", db: aiosqlite.Connection | None = None) -> bool:
        """Commit or refund a job's reservation, exactly once (and never both).

        `kind="refund_committed"` is the one exception, and only after a commit: the video was made
        and paid for but could not be delivered (its file was refused), so the member gets the
        credits back by a refund row beside the commit. Still at most one refund per job."""
        async with store.atomic(db) as conn:
            reserve = await store.ledger_row(job_id, "reserve", db=conn)
            if reserve is None:
                return False
            if kind == "refund_committed":
                kind, needed = "refund", "commit"
                if await store.ledger_row(job_id, needed, db=conn) is None:
                    return False
            else:
                other = "refund" if kind == "commit" else "commit"
                if await store.ledger_row(job_id, other, db=conn) is not None:
                    return False
            return await store.add_ledger(
                kind=kind,
                user_id=reserve["user_id"],
                guild_id=reserve["guild_id"],
                job_id=job_id,
                amount=reserve["amount"],
                period=reserve["period"],
                reason=reason,
                db=conn,
            )

    async def status(self, store: Store, user_id: int, guild_id: int | None) -> QuotaStatus:
        period = self.period()
        usage = await store.usage(period, user_id=user_id)
        guild_left = None
        for budget in self._budgets(user_id, guild_id):
            if budget.scope == "guild":
                guild_left = max(0, (await self._left(store, budget, period, None))[0])
        return QuotaStatus(
            allowance=self.user_daily,
            used=usage.used,
            granted=usage.granted,
            resets_at=self.resets_at(),
            active_jobs=await store.count_active(user_id=user_id),
            guild_left=guild_left,
        )


def _scope_id(budget: _Budget) -> str:
    return ",".join(str(value) for value in budget.where.values()) or "all"
