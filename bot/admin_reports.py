"""What admins read: the allowance table, channel rules, the price table, usage (chart + CSV), the audit log.

Each function returns catalogue `Text` lines (or bytes for files) that the cog renders in the
reader's language. Core: never imports discord; members, roles and channels are shown as
Discord mentions (<@id>, <@&id>, <#id>), which Discord turns into names.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from bot.i18n import Text
from bot.pricing import known_price_keys, price_overrides, rate_of
from bot.quotas import QuotaPolicy
from bot.store import AuditRow, Store
from bot.usage_chart import Dimension, UsageRow, tabulate, usage_csv, usage_png

MAX_USAGE_DAYS = 90
MAX_AUDIT_ROWS = 25

# How each audited action is named to admins.
ACTIONS: dict[str, Text] = {
    "credits.default": Text("daily credits (server default)"),
    "credits.role": Text("daily credits of a role"),
    "credits.grant": Text("credits granted"),
    "credits.take": Text("credits taken"),
    "refund": Text("job refunded"),
    "budget.daily": Text("server's daily budget"),
    "budget.jobs": Text("videos in progress at once"),
    "ban": Text("banned"),
    "unban": Text("ban lifted"),
    "channels": Text("channel rule"),
    "channels.nsfw_only": Text("age-restricted channels only"),
    "words.add": Text("word listed"),
    "words.remove": Text("word removed"),
    "prices.set": Text("price changed (whole bot)"),
    "provider": Text("video service of the server"),
}


def _mention(target: str) -> str:
    kind, _, ident = target.partition(":")
    return {"user": f"<@{ident}>", "role": f"<@&{ident}>", "channel": f"<#{ident}>"}.get(kind, target)


async def credits_table(store: Store, quotas: QuotaPolicy, guild_id: int) -> list[Text]:
    settings = await store.guild_settings(guild_id)
    tiers = await store.role_allowances(guild_id)
    budget = await quotas.guild_budget(store, guild_id)
    default = settings.daily_default if settings.daily_default is not None else quotas.user_daily
    lines = [Text("Every member: **{credits}** credits a day.", credits=default)]
    for role_id, credits in sorted(tiers.items(), key=lambda tier: -tier[1]):
        if credits == 0:
            lines.append(Text("<@&{role}>: may not make videos.", role=role_id))
        else:
            lines.append(Text("<@&{role}>: **{credits}** credits a day.", role=role_id, credits=credits))
    lines.append(
        Text("A member gets the highest allowance among their roles; a role set to 0 blocks. Granted credits come on top and do not expire at the daily reset.")
    )
    lines.append(
        Text("Server budget: {budget} credits a day.", budget=budget) if budget else Text("Server budget: none.")
    )
    if settings.max_jobs:
        lines.append(Text("Videos in progress at once in this server: at most {jobs}.", jobs=settings.max_jobs))
    return lines


async def channel_table(store: Store, guild_id: int) -> list[Text]:
    rules = await store.channel_rules(guild_id)
    allowed = [f"<#{c}>" for c, rule in rules.items() if rule == "allow"]
    denied = [f"<#{c}>" for c, rule in rules.items() if rule == "deny"]
    lines = [Text("Videos can be made only in: {channels}.", channels=", ".join(allowed)) if allowed
             else Text("Videos can be made in every channel the bot can post in.")]
    if denied:
        lines.append(Text("Except: {channels}.", channels=", ".join(denied)))
    if (await store.guild_settings(guild_id)).nsfw_only:
        lines.append(Text("Only in age-restricted channels."))
    return lines


def price_table() -> list[Text]:
    overrides = price_overrides()
    lines = [Text("Credits per second of video (provider, kind, model, mode):")]
    for key in known_price_keys():
        provider, kind, model, mode = key
        changed = " ✎" if key in overrides else ""
        lines.append(Text("`{row}`: {rate} credits per second", row=" ".join(p for p in (provider, kind, model, mode) if p), rate=f"{rate_of(key)}{changed}"))
    return lines


@dataclass(frozen=True)
class UsageReport:
    png: bytes
    csv: bytes
    total: int
    days: int


async def usage_report(
    store: Store,
    quotas: QuotaPolicy,
    guild_id: int | None,
    *,
    days: int,
    by: Dimension,
    locale: object | None,
    name_of: Callable[[str], str] = str,
) -> UsageReport:
    """Credits spent per day over the last `days` days (today included) in one server, or every
    server when guild_id is None: a PNG chart and the same numbers as CSV."""
    days = max(1, min(days, MAX_USAGE_DAYS))
    today = date.fromisoformat(quotas.period())
    first = today - timedelta(days=days - 1)
    spent = await store.spend_by_day(first.isoformat(), by, guild_id)
    rows = [
        UsageRow(day=date.fromisoformat(day), key=name_of(key) if by == "member" else key, credits=credits)
        for day, key, credits in spent
    ]
    table = tabulate(rows, first_day=first, last_day=today)
    budget = await quotas.guild_budget(store, guild_id) if guild_id is not None else quotas.global_daily
    png = await asyncio.to_thread(usage_png, table, dimension=by, budget=budget or None, locale=locale)
    return UsageReport(png=png, csv=usage_csv(table, by), total=sum(table.totals()), days=days)


def audit_lines(rows: list[AuditRow]) -> list[Text]:
    if not rows:
        return [Text("No changes recorded yet.")]
    lines = []
    for row in rows:
        what: Text | str = ACTIONS.get(row.action, row.action)
        target = f" {_mention(row.target)}" if row.target else ""
        params = {"at": int(row.at), "actor": row.actor_id, "what": what, "target": target, "old": row.old, "new": row.new}
        if row.reason:
            lines.append(Text("<t:{at}:f> <@{actor}>: {what}{target}: {old} → {new} (reason: {reason})", reason=row.reason, **params))
        else:
            lines.append(Text("<t:{at}:f> <@{actor}>: {what}{target}: {old} → {new}", **params))
    return lines
