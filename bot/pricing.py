"""What a job costs, in the bot's credits, from one table admins can read.

Motion Control is billed per second of output (the output is as long as the
reference motion, capped by the orientation rule), so a price is a rate per
second for each provider and mode, times the whole seconds, rounded up.
"""

from __future__ import annotations

import math

from pydantic import BaseModel

from bot.i18n import Text
from bot.models import Mode


class PriceRow(BaseModel, frozen=True):
    provider: str
    mode: Mode
    credits_per_second: int


# One credit is roughly one second of standard-mode video. Pro renders at
# 1080p and costs providers about twice as much, so it costs users twice too.
PRICE_TABLE: tuple[PriceRow, ...] = tuple(
    PriceRow(provider=provider, mode=mode, credits_per_second=rate)
    for provider in ("simulator", "kling", "goapi", "useapi", "modelslab")
    for mode, rate in (("std", 1), ("pro", 2))
)


# Rates set by the bot's owners (/admin prices set), kept in the database and loaded at start-up:
# (provider, kind, model, mode) -> credits per second; model is "" for motion. An override wins
# over the table. A job keeps the price it was queued at (the price is stored with the job).
PriceKey = tuple[str, str, str, str]
_OVERRIDES: dict[PriceKey, int] = {}


def set_price_overrides(overrides: dict[PriceKey, int]) -> None:
    _OVERRIDES.clear()
    _OVERRIDES.update(overrides)


def price_overrides() -> dict[PriceKey, int]:
    return dict(_OVERRIDES)


def known_price_keys() -> list[PriceKey]:
    """Every row an owner may set: one per provider and mode (motion), per model too (animate)."""
    keys = [(row.provider, "motion", "", row.mode) for row in PRICE_TABLE]
    keys += sorted({(row.provider, "animate", row.model, row.mode) for row in ANIMATE_PRICE_TABLE})
    return keys


def rate_of(key: PriceKey) -> int:
    """Credits per second for one row of the price table, the owners' override first."""
    if key in _OVERRIDES:
        return _OVERRIDES[key]
    provider, kind, model, mode = key
    if kind == "motion":
        for row in PRICE_TABLE:
            if (row.provider, row.mode) == (provider, mode):
                return row.credits_per_second
    else:
        for animate_row in ANIMATE_PRICE_TABLE:
            if (animate_row.provider, animate_row.model, animate_row.mode) == (provider, model, mode):
                return animate_row.credits // animate_row.seconds
    raise KeyError(f"no price for {key}")


class Price(BaseModel, frozen=True):
    credits: int
    seconds: int
    rate: int
    mode: Mode

    def explain(self) -> Text:
        return Text(
            "{seconds} s × {rate} credit/s ({mode})",
            plural="{seconds} s × {rate} credits/s ({mode})",
            count=self.rate,
            seconds=self.seconds,
            rate=self.rate,
            mode=self.mode,
        )


def price_for(provider: str, mode: Mode, output_seconds: float) -> Price:
    try:
        rate = rate_of((provider, "motion", "", mode))
    except KeyError:
        raise KeyError(f"no price for provider {provider!r}, mode {mode!r}") from None
    seconds = max(1, math.ceil(output_seconds - 1e-6))
    return Price(credits=seconds * rate, seconds=seconds, rate=rate, mode=mode)


# --- image-to-video (/animate) ------------------------------------------------------------------
# One row per provider, model, mode and duration the capability data offers, so an admin reads
# exactly what each choice costs. Same scale as Motion Control (1 credit ≈ 1 s of std video);
# the "master" models cost providers about twice as much as the others, so they do here too.


class AnimatePriceRow(BaseModel, frozen=True):
    provider: str
    model: str
    mode: Mode
    seconds: int
    credits: int


def _animate_rows() -> tuple[AnimatePriceRow, ...]:
    from bot.animate.capabilities import (
        BY_PROVIDER,  # the data lives with the other animate facts
    )

    rows = []
    for caps in BY_PROVIDER.values():
        for offer in caps.models if caps.offered else ():
            factor = 2 if "master" in offer.name else 1
            for mode in offer.modes:
                rate = (1 if mode == "std" else 2) * factor
                rows.extend(
                    AnimatePriceRow(provider=caps.provider, model=offer.name, mode=mode, seconds=s, credits=s * rate)
                    for s in offer.durations
                )
    return tuple(rows)


ANIMATE_PRICE_TABLE: tuple[AnimatePriceRow, ...] = _animate_rows()


def animate_price_for(provider: str, model: str, mode: Mode, seconds: int) -> Price:
    for row in ANIMATE_PRICE_TABLE:
        if (row.provider, row.model, row.mode, row.seconds) == (provider, model, mode, seconds):
            rate = rate_of((provider, "animate", model, mode))
            return Price(credits=seconds * rate, seconds=seconds, rate=rate, mode=mode)
    raise KeyError(f"no /animate price for {provider} {model} {mode} {seconds} s")


def animate_price_lines(provider: str) -> list[Text]:
    """For /admin provider: one line per /animate model of `provider`, with its rates per second of
    video and its lengths; "(?)" marks a model whose offer the provider's documentation does not
    confirm (bot/animate/capabilities.py). A provider without /animate gets one line saying why."""
    from bot.animate.capabilities import BY_PROVIDER, not_offered, seconds_text

    caps = BY_PROVIDER.get(provider)
    if caps is None:
        return []
    if not caps.offered:
        return [Text("/animate: not offered. {reason}", reason=not_offered(caps))]
    lines = []
    for offer in caps.models:
        rates = {row.mode: row.credits // row.seconds for row in ANIMATE_PRICE_TABLE if (row.provider, row.model) == (provider, offer.name)}
        lines.append(
            Text(
                "{model}{unconfirmed}: {rates} credits per second of video; {durations}",
                model=offer.name,
                unconfirmed="" if offer.source.confirmed else " (?)",
                rates=", ".join(f"{mode} {rate}" for mode, rate in rates.items()),
                durations=seconds_text(offer.durations),
            )
        )
    return lines
