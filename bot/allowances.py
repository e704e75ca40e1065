"""How much a member may spend: role tiers, the server's default, granted credits (pure logic).

Allowance (credits per day, reset at 00:00 UTC), in this order:

1. A role set to 0 blocks. If ANY of the member's roles is set to 0, the member may not make
   videos in this server at all, whatever their other roles give, and granted credits cannot be
   spent either. "0 = this role may not make videos" is meant as a restriction an admin can rely
   on (a "no videos" role handed to someone must work even if they also hold "Supporter").
2. Otherwise the highest tier among the member's roles that have one. A tier may be lower than
   the server's default: a "Newcomer" tier of 20 under a default of 100 gives newcomers 20.
3. Otherwise the server's default (`/admin credits default N`), when the server set one.
4. Otherwise the bot-wide default from `.env` (USER_DAILY_CREDITS).

A server default of 0 is not a block: it means no free daily credits, and granted credits can
still be spent. Discord lists @everyone among a member's roles (its id is the server's id), so a
tier on @everyone applies to everyone; the admin command should point admins to `default` instead.

Granted credits (`/admin credits grant|take`) are ledger rows that do not expire at the daily
reset. A job is paid from today's allowance first (it expires anyway), the rest from granted
credits; the reservation records how much came from granted credits so that a refund gives each
part back where it came from. A take removes granted credits only, never more than the member
has: to lower what a member gets each day, use a role tier; to stop them, a 0 role or a ban.

`balance_from_ledger` states the ledger's meaning; the store may compute the same sums in SQL
(a ledger row needs a `from_granted` column for that: the part of a reserve or refund that was
paid from granted credits, 0 for every other kind).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from bot.errors import Refusal
from bot.i18n import Text

BLOCKED = 0
MAX_DAILY_CREDITS = 1_000_000  # far above any real tier; stops a typo from meaning "unlimited"
MAX_GRANT = 1_000_000

AllowanceSource = Literal["blocked", "role", "server", "default"]
LedgerKind = Literal["reserve", "commit", "refund", "grant", "take"]


class AllowanceRefused(Refusal):
    """A member or admin asked for something these rules forbid; `text` renders in any language."""

    def __init__(self, text: Text) -> None:
        super().__init__(str(text))
        self.text = text


@dataclass(frozen=True)
class Allowance:
    daily: int  # credits per day; 0 when blocked
    source: AllowanceSource
    role_id: int | None = None  # the role that decided, when source is "role" or "blocked"

    @property
    def blocked(self) -> bool:
        return self.source == "blocked"


def check_tier(credits: int) -> int:
    """A daily allowance an admin typed (a role tier or the server default)."""
    if not 0 <= credits <= MAX_DAILY_CREDITS:
        raise ValueError(f"a daily allowance must be between 0 and {MAX_DAILY_CREDITS:,}; got {credits:,}")
    return credits


def check_grant(credits: int) -> int:
    """An amount to grant or take."""
    if not 1 <= credits <= MAX_GRANT:
        raise ValueError(f"the amount must be between 1 and {MAX_GRANT:,}; got {credits:,}")
    return credits


def resolve_allowance(
    member_role_ids: Iterable[int],
    role_tiers: Mapping[int, int],
    *,
    server_default: int | None,
    bot_default: int,
) -> Allowance:
    """The member's daily allowance from their roles (see the module's docstring for the rules)."""
    tiers = sorted((role_id, role_tiers[role_id]) for role_id in set(member_role_ids) if role_id in role_tiers)
    blocking = [role_id for role_id, credits in tiers if credits == BLOCKED]
    if blocking:
        return Allowance(daily=0, source="blocked", role_id=blocking[0])
    if tiers:
        role_id, credits = max(tiers, key=lambda tier: (tier[1], -tier[0]))
        return Allowance(daily=credits, source="role", role_id=role_id)
    if server_default is not None:
        return Allowance(daily=server_default, source="server")
    return Allowance(daily=bot_default, source="default")


@dataclass(frozen=True)
class LedgerEntry:
    """One ledger row, as far as a member's balance is concerned."""

    kind: LedgerKind
    amount: int  # always positive; the kind says which way it goes
    period: str  # the day it counts for ("2025-01-31", UTC)
    from_granted: int = 0  # reserve/refund: the part paid from (given back to) granted credits


@dataclass(frozen=True)
class Balance:
    allowance: Allowance
    used_today: int  # spent from today's allowance (reserved minus refunded)
    granted: int  # granted credits not yet spent or taken; they do not expire

    @property
    def daily_left(self) -> int:
        return 0 if self.allowance.blocked else max(0, self.allowance.daily - self.used_today)

    @property
    def left(self) -> int:
        return 0 if self.allowance.blocked else self.daily_left + max(0, self.granted)


def balance_from_ledger(entries: Iterable[LedgerEntry], *, today: str, allowance: Allowance) -> Balance:
    """Today's use and the granted credits left, from a member's ledger rows in one server."""
    used_today = 0
    granted = 0
    for entry in entries:
        if entry.kind == "grant":
            granted += entry.amount
        elif entry.kind == "take":
            granted -= entry.amount
        elif entry.kind in ("reserve", "refund"):
            sign = 1 if entry.kind == "reserve" else -1
            granted -= sign * entry.from_granted
            if entry.period == today:
                used_today += sign * (entry.amount - entry.from_granted)
        # "commit" confirms a reserve; the credits were already counted when reserved.
    return Balance(allowance=allowance, used_today=used_today, granted=granted)


@dataclass(frozen=True)
class Charge:
    from_daily: int
    from_granted: int

    @property
    def amount(self) -> int:
        return self.from_daily + self.from_granted


def split_charge(amount: int, balance: Balance) -> Charge | None:
    """How a job of `amount` credits is paid: today's allowance first, then granted credits.
    None when the member cannot pay it (the caller says why: blocked, or not enough left)."""
    if amount < 0:
        raise ValueError(f"a price cannot be negative; got {amount}")
    if balance.allowance.blocked or amount > balance.left:
        return None
    from_daily = min(amount, balance.daily_left)
    return Charge(from_daily=from_daily, from_granted=amount - from_daily)


def check_take(amount: int, *, granted: int, member: str) -> None:
    """A take may remove granted credits the member still has, and no more."""
    check_grant(amount)
    if amount > max(0, granted):
        have = max(0, granted)
        raise AllowanceRefused(
            Text("{member} has only {wallet} granted credits; you can take at most {wallet}.", member=member, wallet=have)
        )


def blocked_refusal(role: str) -> AllowanceRefused:
    """What a member with a 0 role is told (`role`: the role's name or mention)."""
    return AllowanceRefused(Text("Your role {role} may not make videos in this server.", role=role))
