"""Credits: a user's daily allowance, a guild's daily budget and the global budget.

Credits are a ledger (bot/store/ledger.py): reserve when a job is queued, commit on
success, refund on failure or cancel. A refund belongs to the period of its
reservation, so a job that fails after midnight gives back yesterday's credits.
A job is paid from today's allowance first, then from granted credits (which do not
expire); the reservation records the granted part so a refund returns each part.
All three limits are checked in the same transaction that writes the job; a server's
budget counts everything its members spend, granted credits included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiosqlite

from bot.allowances import Allowance, Balance, resolve_allowance, split_charge
from bot.errors import Refusal
from bot.i18n import Text
from bot.store import Store

TERMINAL_USER_ID = 0  # jobs run from the terminal: operators, exempt from the per-user allowance


class QuotaRefused(Refusal):
    """The job does not fit a credit or concurrency limit; `text` renders in the member's language."""

    def __init__(self, scope: str, message: Text) -> None:
        super().__init__(message)  # type: ignore[arg-type]  # a Text renders in the member's language
        self.scope = scope  # "user" | "guild" | "global" | "active" | "blocked"
        self.reason = f"quota_{scope}"  # for the refusals counter on /metrics
        self.text = message


@dataclass(frozen=True)
class QuotaStatus:
    allowance: int  # today's allowance from the member's roles or the server's default
    used: int  # spent from today's allowance
    granted: int  # granted credits left; they do not expire at the daily reset
    resets_at: datetime
    active_jobs: int
    guild_left: int | None  # None: no server budget
    blocked_by: int | None = None  # the role that stops this member, if one does

    @property
    def left(self) -> int:
        if self.blocked_by is not None:
            return 0
        return max(0, self.allowance - self.used) + max(0, self.granted)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def describe_wait(until: datetime, now: datetime) -> Text:
    minutes = max(1, int((until - now).total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    return Text("{hours} h {minutes} min", hours=hours, minutes=minutes) if hours else Text("{minutes} min", minutes=minutes)


class QuotaPolicy:
    """Checks a job against the member's allowance, the server's budget and the bot's budget.

    The member's allowance comes from their roles or the server's default (bot/allowances.py);
    the server's settings override the bot-wide defaults given here (from .env)."""

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

    def _reset_text(self) -> Text:
        at = self.resets_at()
        return Text("at 00:00 UTC (in {wait})", wait=describe_wait(at, self.clock()))

    async def guild_budget(self, store: Store, guild_id: int | None, db: aiosqlite.Connection | None = None) -> int:
        """The server's daily budget: its own setting, else GUILD_DAILY_CREDITS; 0 = none."""
        if guild_id is None:
            return 0
        own = (await store.guild_settings(guild_id, db)).daily_budget
        return self.guild_daily if own is None else own

    async def member_balance(
        self, store: Store, user_id: int, guild_id: int | None, role_ids: Iterable[int], db: aiosqlite.Connection | None = None
    ) -> Balance:
        """The member's allowance in this server and what is left of it (see bot/allowances.py)."""
        if guild_id is None:
            allowance = Allowance(daily=self.user_daily, source="default")
        else:
            settings = await store.guild_settings(guild_id, db)
            tiers = await store.role_allowances(guild_id, db)
            allowance = resolve_allowance(
                role_ids, tiers, server_default=settings.daily_default, bot_default=self.user_daily
            )
        used, granted = await store.member_balance(user_id, guild_id, self.period(), db)
        return Balance(allowance=allowance, used_today=used, granted=granted)

    def _lock_names(self, user_id: int, guild_id: int | None) -> list[str]:
        """The budgets one reservation reads, as lock names (see `Store.lock`)."""
        names = [f"quota:user:{user_id}"]
        if guild_id is not None:
            names.append(f"quota:guild:{guild_id}")
        if self.global_daily:
            names.append("quota:global")
        return names

    async def reserve(
        self,
        store: Store,
        *,
        user_id: int,
        guild_id: int | None,
        job_id: str,
        amount: int,
        price_text: str | Text,
        role_ids: Iterable[int] = (),
        db: aiosqlite.Connection | None = None,
    ) -> None:
        """Check every limit and write the reservation; pass the job's transaction as `db`."""
        period = self.period()
        async with store.atomic(db) as conn:
            # Several processes on one database: the checks below and the reservation must see
            # every other reservation of the same member, server and bot, so those wait for each
            # other here until this transaction ends (a no-op on SQLite, whose writes are serial).
            await store.lock(conn, *self._lock_names(user_id, guild_id))
            from_granted = 0
            if user_id != TERMINAL_USER_ID:  # operators at the terminal have no personal allowance
                active = await store.count_active(user_id=user_id, db=conn)
                if active >= self.max_active_per_user:
                    raise QuotaRefused(
                        "active",
                        Text(
                            "You already have {count} video in progress (the limit is {limit}). "
                            "Wait for one to finish, then try again.",
                            plural="You already have {count} videos in progress (the limit is {limit}). "
                            "Wait for one to finish, then try again.",
                            count=active,
                            limit=self.max_active_per_user,
                        ),
                    )
                balance = await self.member_balance(store, user_id, guild_id, role_ids, conn)
                if balance.allowance.blocked:
                    raise QuotaRefused(
                        "blocked", Text("Your role {role} may not make videos in this server.", role=f"<@&{balance.allowance.role_id}>")
                    )
                charge = split_charge(amount, balance)
                if charge is None:
                    raise QuotaRefused(
                        "user",
                        Text(
                            "This video costs {amount} credits ({price}) but you have {left} of {total} left today. "
                            "Your credits reset {reset}.",
                            amount=amount, price=price_text, left=balance.left,
                            total=balance.allowance.daily + max(0, balance.granted), reset=self._reset_text(),
                        ),
                    )
                from_granted = charge.from_granted
            budget = await self.guild_budget(store, guild_id, conn)
            if budget:
                left = budget - (await store.usage(period, guild_id=guild_id, db=conn)).used
                if amount > left:
                    raise QuotaRefused(
                        "guild",
                        Text(
                            "This server's daily video budget has {left} credits left and this video costs {amount}. "
                            "The budget resets {reset}.",
                            amount=amount, left=max(left, 0), reset=self._reset_text(),
                        ),
                    )
            if self.global_daily:
                left = self.global_daily - (await store.usage(period, db=conn)).used
                if amount > left:
                    raise QuotaRefused(
                        "global", Text("The bot has reached its daily spending limit. It resets {reset}.", reset=self._reset_text())
                    )
            await store.add_ledger(
                kind="reserve", user_id=user_id, guild_id=guild_id, job_id=job_id, amount=amount, period=period,
                from_granted=from_granted, db=conn,
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
                from_granted=reserve["from_granted"] if kind == "refund" else 0,
                db=conn,
            )

    async def status(
        self, store: Store, user_id: int, guild_id: int | None, role_ids: Iterable[int] = ()
    ) -> QuotaStatus:
        balance = await self.member_balance(store, user_id, guild_id, role_ids)
        budget = await self.guild_budget(store, guild_id)
        guild_left = None
        if budget:
            guild_left = max(0, budget - (await store.usage(self.period(), guild_id=guild_id)).used)
        return QuotaStatus(
            allowance=balance.allowance.daily,
            used=balance.used_today,
            granted=balance.granted,
            resets_at=self.resets_at(),
            active_jobs=await store.count_active(user_id=user_id),
            guild_left=guild_left,
            blocked_by=balance.allowance.role_id if balance.allowance.blocked else None,
        )
