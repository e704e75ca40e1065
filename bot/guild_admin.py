"""What a server's admins (and the bot's owners) change: each change and its audit row in one transaction.

`GuildAdmin` (on the core as `core.admin`) holds the changes behind `/admin ...`: allowances by
role, grants and takes, refunds, budgets, bans, channel rules, the word list and prices. Every
method writes the change and one `audit_log` row (who, what, old -> new, why) in the same
transaction, so the log never misses a change nor shows one that did not happen. Refusals are
`AdminRefused` with a catalogue `Text`. Reports (usage, audit, tables) are in bot/admin_reports.py.

Core: never imports discord. Members, roles and channels are plain ids here.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Literal

import aiosqlite

from bot.allowances import AllowanceRefused, check_grant, check_take, check_tier
from bot.errors import Refusal
from bot.i18n import Text
from bot.jobs import JobEngine
from bot.pricing import PriceKey, known_price_keys, rate_of, set_price_overrides
from bot.quotas import QuotaPolicy
from bot.store import Store
from bot.words import MAX_ENTRY_CHARS, WordList, entry_key

MAX_BAN_DAYS = 3650
MAX_RATE = 1000  # credits per second; far above any real price, stops a typo
MAX_SERVER_JOBS = 100


class AdminRefused(Refusal):
    """An admin asked for something that cannot be done; `text` renders in their language."""

    def __init__(self, text: Text, reason: str = "admin") -> None:
        super().__init__(text)  # type: ignore[arg-type]  # Refusal.message: a Text renders per member
        self.text = text
        self.reason = reason


def _shown(value: object) -> str:
    return "—" if value is None else str(value)


class GuildAdmin:
    def __init__(self, store: Store, quotas: QuotaPolicy, engine: JobEngine, owner_ids: Iterable[int]) -> None:
        self.store = store
        self.quotas = quotas
        self.engine = engine
        self.owner_ids = frozenset(owner_ids)
        self._word_lists: dict[int, WordList] = {}

    async def load(self) -> None:
        """At start-up: the owners' prices and the servers' slot limits, from the database."""
        set_price_overrides(await self.store.price_overrides())
        self.engine.guild_job_limits = await self.store.guild_job_limits()

    def is_owner(self, user_id: int) -> bool:
        """The bot's owners (OWNER_IDS); asked on every call of an owner-only command."""
        return user_id in self.owner_ids

    def require_owner(self, user_id: int) -> None:
        if not self.is_owner(user_id):
            raise AdminRefused(Text("Only the bot's owners can do that."), "not_owner")

    async def _audited(
        self,
        guild_id: int,
        actor_id: int,
        action: str,
        change: Callable[[aiosqlite.Connection], Awaitable[tuple[object, object]]],
        *,
        target: str = "",
        reason: str = "",
    ) -> tuple[object, object]:
        """Run `change` (returns old and new values, as shown) and write its audit row, in one transaction."""
        async with self.store.transaction() as db:
            old, new = await change(db)
            await self.store.add_audit(
                guild_id=guild_id, actor_id=actor_id, action=action, target=target,
                old=_shown(old), new=_shown(new), reason=reason, db=db,
            )
        return old, new

    # --- allowances -----------------------------------------------------------------------------
    async def set_default(self, guild_id: int, actor_id: int, credits: int) -> tuple[object, object]:
        credits = self._tier(credits)

        async def change(db: aiosqlite.Connection) -> tuple[object, object]:
            old = (await self.store.guild_settings(guild_id, db)).daily_default
            await self.store.set_guild_setting(guild_id, "daily_default", credits, actor_id, db)
            return old, credits

        return await self._audited(guild_id, actor_id, "credits.default", change)

    async def set_role(self, guild_id: int, actor_id: int, role_id: int, credits: int | None) -> tuple[object, object]:
        """A role's daily credits (0: may not make videos); None removes the role's tier."""
        if role_id == guild_id:
            raise AdminRefused(Text("@everyone is every member: use /admin credits default instead."))
        checked = None if credits is None else self._tier(credits)

        async def change(db: aiosqlite.Connection) -> tuple[object, object]:
            old = (await self.store.role_allowances(guild_id, db)).get(role_id)
            await self.store.set_role_allowance(guild_id, role_id, checked, db)
            return old, checked

        return await self._audited(guild_id, actor_id, "credits.role", change, target=f"role:{role_id}")

    @staticmethod
    def _tier(credits: int) -> int:
        try:
            return check_tier(credits)
        except ValueError:
            raise AdminRefused(Text("A daily allowance must be between 0 and 1,000,000 credits.")) from None

    async def grant(self, guild_id: int, actor_id: int, user_id: int, amount: int, reason: str) -> int:
        """Credits that do not expire at the daily reset; returns the member's granted credits after it."""
        return await self._wallet_change("grant", guild_id, actor_id, user_id, amount, reason)

    async def take(self, guild_id: int, actor_id: int, user_id: int, amount: int, reason: str) -> int:
        return await self._wallet_change("take", guild_id, actor_id, user_id, amount, reason)

    async def _wallet_change(
        self, kind: Literal["grant", "take"], guild_id: int, actor_id: int, user_id: int, amount: int, reason: str
    ) -> int:
        try:
            check_grant(amount)
        except ValueError:
            raise AdminRefused(Text("The amount must be between 1 and 1,000,000 credits.")) from None

        async def change(db: aiosqlite.Connection) -> tuple[object, object]:
            _, granted = await self.store.member_balance(user_id, guild_id, self.quotas.period(), db)
            if kind == "take":
                try:
                    check_take(amount, granted=granted, member=f"<@{user_id}>")
                except AllowanceRefused as refused:
                    raise AdminRefused(refused.text) from None
            await self.store.add_ledger(
                kind=kind, user_id=user_id, guild_id=guild_id, job_id=None, amount=amount,
                period=self.quotas.period(), reason=reason, by_user=actor_id, db=db,
            )
            return granted, granted + (amount if kind == "grant" else -amount)

        _, after = await self._audited(guild_id, actor_id, f"credits.{kind}", change, target=f"user:{user_id}", reason=reason)
        return int(after)  # type: ignore[call-overload]

    # --- refunds and budgets ----------------------------------------------------------------------
    async def refund(self, guild_id: int, actor_id: int, job_id: str, reason: str) -> tuple[int, int]:
        """Give back a finished job's credits, once; returns (member, credits)."""
        job_id = job_id.strip().strip("`")
        job = await self.store.get_job(job_id)
        if job is None or (job.guild_id != guild_id and not self.is_owner(actor_id)):
            raise AdminRefused(Text("No job {job} in this server.", job=job_id))

        async def change(db: aiosqlite.Connection) -> tuple[object, object]:
            reserve = await self.store.ledger_row(job_id, "reserve", db=db)
            if await self.store.ledger_row(job_id, "admin_refund", db=db) is not None:
                raise AdminRefused(Text("Job {job} was already refunded by an admin.", job=job_id), "refund_twice")
            if reserve is None or await self.store.ledger_row(job_id, "refund", db=db) is not None:
                raise AdminRefused(Text("Job {job} cost nothing in the end (it failed or was cancelled).", job=job_id))
            if await self.store.ledger_row(job_id, "commit", db=db) is None:
                raise AdminRefused(Text("Job {job} is still in progress; refund it when it has finished.", job=job_id))
            await self.store.add_ledger(
                kind="admin_refund", user_id=reserve["user_id"], guild_id=reserve["guild_id"], job_id=job_id,
                amount=reserve["amount"], from_granted=reserve["from_granted"], period=reserve["period"],
                reason=reason, by_user=actor_id, db=db,
            )
            return None, reserve["amount"]

        _, credits = await self._audited(guild_id, actor_id, "refund", change, target=f"user:{job.user_id}", reason=f"{job_id} {reason}".strip())
        return job.user_id, int(credits)  # type: ignore[call-overload]

    async def set_budget(self, guild_id: int, actor_id: int, what: Literal["daily", "jobs"], value: int) -> tuple[object, object]:
        """The server's daily budget in credits, or how many videos it may have in progress (0: no limit)."""
        top = 100_000_000 if what == "daily" else MAX_SERVER_JOBS
        if not 0 <= value <= top:
            raise AdminRefused(Text("Choose a number between 0 and {top}.", top=top))
        column = "daily_budget" if what == "daily" else "max_jobs"

        async def change(db: aiosqlite.Connection) -> tuple[object, object]:
            settings = await self.store.guild_settings(guild_id, db)
            old = settings.daily_budget if what == "daily" else settings.max_jobs
            await self.store.set_guild_setting(guild_id, column, value, actor_id, db)
            return old, value

        result = await self._audited(guild_id, actor_id, f"budget.{what}", change)
        if what == "jobs":
            self.engine.guild_job_limits[guild_id] = value
            self.engine.wake()  # a raised limit lets waiting jobs go now
        return result

    # --- bans -----------------------------------------------------------------------------------
    async def ban(self, guild_id: int, actor_id: int, user_id: int, reason: str, days: int | None) -> float | None:
        if days is not None and not 1 <= days <= MAX_BAN_DAYS:
            raise AdminRefused(Text("A ban lasts between 1 and {top} days (leave it empty for no end).", top=MAX_BAN_DAYS))
        until = time.time() + days * 86400 if days else None

        async def change(db: aiosqlite.Connection) -> tuple[object, object]:
            old = await self.store.ban_of(guild_id, user_id, db)
            await self.store.set_ban(guild_id, user_id, reason, until, actor_id, db)
            return ("banned" if old else None), (f"{days} d" if days else "banned")

        await self._audited(guild_id, actor_id, "ban", change, target=f"user:{user_id}", reason=reason)
        return until

    async def unban(self, guild_id: int, actor_id: int, user_id: int) -> None:
        async def change(db: aiosqlite.Connection) -> tuple[object, object]:
            if not await self.store.delete_ban(guild_id, user_id, db):
                raise AdminRefused(Text("<@{member}> is not banned here.", member=user_id))
            return "banned", None

        await self._audited(guild_id, actor_id, "unban", change, target=f"user:{user_id}")

    # --- channels ---------------------------------------------------------------------------------
    async def set_channel(self, guild_id: int, actor_id: int, channel_id: int, rule: Literal["allow", "deny"] | None) -> None:
        """'allow' (then generation works only in allowed channels), 'deny', or None: forget the channel."""

        async def change(db: aiosqlite.Connection) -> tuple[object, object]:
            old = (await self.store.channel_rules(guild_id, db)).get(channel_id)
            await self.store.set_channel_rule(guild_id, channel_id, rule, db)
            return old, rule

        await self._audited(guild_id, actor_id, "channels", change, target=f"channel:{channel_id}")

    async def set_nsfw_only(self, guild_id: int, actor_id: int, on: bool) -> None:
        async def change(db: aiosqlite.Connection) -> tuple[object, object]:
            old = (await self.store.guild_settings(guild_id, db)).nsfw_only
            await self.store.set_guild_setting(guild_id, "nsfw_only", int(on), actor_id, db)
            return ("on" if old else "off"), ("on" if on else "off")

        await self._audited(guild_id, actor_id, "channels.nsfw_only", change)

    # --- words ----------------------------------------------------------------------------------
    async def word_list(self, guild_id: int) -> WordList:
        """The server's compiled word list (compiled once, again after each change)."""
        if guild_id not in self._word_lists:
            self._word_lists[guild_id] = WordList(await self.store.words(guild_id))
        return self._word_lists[guild_id]

    async def add_word(self, guild_id: int, actor_id: int, word: str) -> None:
        word = word.strip()
        key = self._word_key(word)

        async def change(db: aiosqlite.Connection) -> tuple[object, object]:
            if not await self.store.add_word(guild_id, key, word, db):
                raise AdminRefused(Text("“{word}” is already on the list.", word=word))
            return None, word

        await self._audited(guild_id, actor_id, "words.add", change)
        self._word_lists.pop(guild_id, None)

    async def remove_word(self, guild_id: int, actor_id: int, word: str) -> None:
        key = self._word_key(word.strip())

        async def change(db: aiosqlite.Connection) -> tuple[object, object]:
            listed = await self.store.remove_word(guild_id, key, db)
            if listed is None:
                raise AdminRefused(Text("“{word}” is not on the list.", word=word.strip()))
            return listed, None

        await self._audited(guild_id, actor_id, "words.remove", change)
        self._word_lists.pop(guild_id, None)

    @staticmethod
    def _word_key(word: str) -> str:
        key = entry_key(word) if len(word) <= MAX_ENTRY_CHARS else ""
        if not any(char.isalnum() for char in key):
            raise AdminRefused(Text("A listed word needs letters or digits and at most {limit} characters.", limit=MAX_ENTRY_CHARS))
        return key

    # --- prices (bot owners) --------------------------------------------------------------------
    async def set_price(self, guild_id: int, actor_id: int, key: PriceKey, credits_per_second: int) -> tuple[object, object]:
        """Change one row of the bot-wide price table. Jobs already queued keep their price."""
        self.require_owner(actor_id)
        if key not in known_price_keys():
            raise AdminRefused(Text("There is no such row in the price table; see /admin prices show."))
        if not 1 <= credits_per_second <= MAX_RATE:
            raise AdminRefused(Text("Choose a number between 1 and {top}.", top=MAX_RATE))

        async def change(db: aiosqlite.Connection) -> tuple[object, object]:
            old = rate_of(key)
            await self.store.set_price_override(key, credits_per_second, db)
            return old, credits_per_second

        result = await self._audited(guild_id, actor_id, "prices.set", change, target="/".join(part for part in key if part))
        set_price_overrides(await self.store.price_overrides())
        return result
