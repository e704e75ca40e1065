"""What a job costs, in the bot's credits, from one table admins can read.

Motion Control is billed per second of output (the output is as long as the
reference motion, capped by the orientation rule), so a price is a rate per
second for each provider and mode, times the whole seconds, rounded up.
"""

from __future__ import annotations

import math

from pydantic import BaseModel

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


class Price(BaseModel, frozen=True):
    credits: int
    seconds: int
    rate: int
    mode: Mode

    def explain(self) -> str:
        return f"{self.seconds} s × {self.rate} credit{'s' if self.rate != 1 else ''}/s ({self.mode})"


def price_for(provider: str, mode: Mode, output_seconds: float) -> Price:
    for row in PRICE_TABLE:
        if row.provider == provider and row.mode == mode:
            seconds = max(1, math.ceil(output_seconds - 1e-6))
            return Price(credits=seconds * row.credits_per_second, seconds=seconds, rate=row.credits_per_second, mode=mode)
    raise KeyError(f"no price for provider {provider!r}, mode {mode!r}")
