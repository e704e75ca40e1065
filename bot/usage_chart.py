"""Credits spent per day as a chart (PNG) and as a table (CSV), for `/admin usage`.

Input: rows of (day, a value of the chosen dimension, credits), e.g. summed from the ledger by
day and member (the caller turns member ids into display names), provider or job kind. Output:

- `usage_png(...)`: a stacked bar per day (one colour per member/provider/kind, the biggest
  spenders named and the rest folded into "other"), the server's daily budget as a dashed line,
  each day's total above its bar, titles in the reader's language. Drawn with matplotlib's
  object API and the Agg canvas (no pyplot, no global state), so it can run in a worker thread:
  `await asyncio.to_thread(usage_png, ...)`; it takes a few hundred milliseconds.
- `usage_csv(...)`: the same numbers, one line per day and value, UTF-8 with a byte-order mark
  (spreadsheets then read Chinese names correctly). A value that a spreadsheet would run as a
  formula (=, +, -, @ first) is written with a leading apostrophe; `read_usage_csv` undoes it.

Chinese labels need a CJK font on the machine (Debian: fonts-noto-cjk or fonts-wqy-microhei);
without one the chart's own words fall back to English so nothing shows as empty boxes.
"""

from __future__ import annotations

import csv
import io
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Literal

from matplotlib import colormaps, font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.ticker import MaxNLocator

from bot.i18n import CTX_DIMENSION, SOURCE_LANGUAGE, Text, resolve_language

log = logging.getLogger(__name__)

Dimension = Literal["member", "provider", "kind"]
WIDTH_PX, HEIGHT_PX, DPI = 1200, 600, 100
MAX_SERIES = 8  # named in the legend; the rest are summed as "other"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Fonts with Chinese glyphs, tried after DejaVu Sans (matplotlib falls back glyph by glyph).
_CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Droid Sans Fallback",
    "Microsoft YaHei",
    "PingFang SC",
    "SimHei",
)


@dataclass(frozen=True)
class UsageRow:
    day: date
    key: str  # the dimension's value: a member's name, a provider, a job kind
    credits: int


@dataclass(frozen=True)
class UsageTable:
    """Credits per day for each key, every day of the window present (0 when nothing was spent)."""

    days: tuple[date, ...]
    series: dict[str, tuple[int, ...]]  # biggest total first

    def totals(self) -> tuple[int, ...]:
        return tuple(sum(values) for values in zip(*self.series.values(), strict=True)) if self.series else (0,) * len(self.days)


def tabulate(rows: Iterable[UsageRow], *, first_day: date | None = None, last_day: date | None = None) -> UsageTable:
    """Sum rows by day and key over a window (default: the first to the last day in the rows)."""
    sums: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        if (first_day and row.day < first_day) or (last_day and row.day > last_day):
            continue
        sums[row.key][row.day] += row.credits
    seen = [day for by_day in sums.values() for day in by_day]
    start = first_day or (min(seen) if seen else None)
    end = last_day or (max(seen) if seen else None)
    if start is None or end is None:
        return UsageTable(days=(), series={})
    days = tuple(start + timedelta(days=n) for n in range((end - start).days + 1))
    series = {key: tuple(by_day.get(day, 0) for day in days) for key, by_day in sums.items()}
    ordered = sorted(series, key=lambda key: (-sum(series[key]), key))
    return UsageTable(days=days, series={key: series[key] for key in ordered if any(series[key])})


def fold_small_series(table: UsageTable, keep: int, other: str) -> UsageTable:
    """The `keep` - 1 biggest keys, and everything else summed under `other` (a readable legend)."""
    if len(table.series) <= keep:
        return table
    keys = list(table.series)
    kept = {key: table.series[key] for key in keys[: keep - 1]}
    rest = [table.series[key] for key in keys[keep - 1 :]]
    kept[other] = tuple(sum(day) for day in zip(*rest, strict=True))
    return UsageTable(days=table.days, series=kept)


# --- CSV ---------------------------------------------------------------------------------------


def _csv_safe(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def usage_csv(table: UsageTable, dimension: Dimension) -> bytes:
    """One line per day and key with credits spent, oldest day first."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(["day", dimension, "credits"])
    for index, day in enumerate(table.days):
        for key in sorted(table.series):
            credits = table.series[key][index]
            if credits:
                writer.writerow([day.isoformat(), _csv_safe(key), credits])
    return out.getvalue().encode("utf-8-sig")


def read_usage_csv(data: bytes) -> list[UsageRow]:
    """The rows of a `usage_csv` file (for checks against the database)."""
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    next(reader)  # header
    rows = []
    for day, key, credits in reader:
        if key.startswith("'") and key[1:].startswith(_FORMULA_STARTS):
            key = key[1:]
        rows.append(UsageRow(day=date.fromisoformat(day), key=key, credits=int(credits)))
    return rows


# --- the chart -----------------------------------------------------------------------------------


@cache
def _cjk_fonts() -> tuple[str, ...]:
    installed = {font.name for font in font_manager.fontManager.ttflist}
    return tuple(name for name in _CJK_FONTS if name in installed)


def _font(size: float, bold: bool = False) -> FontProperties:
    return FontProperties(family=["DejaVu Sans", *_cjk_fonts()], size=size, weight="bold" if bold else "normal")


def _chart_language(locale: object | None) -> object | None:
    if resolve_language(locale) != SOURCE_LANGUAGE and not _cjk_fonts():
        log.warning("no CJK font installed (fonts-noto-cjk or fonts-wqy-microhei): chart labels in English")
        return None
    return locale


def _legend_label(key: str) -> str:
    """A member's name as text: short, and never read as mathtext ($...$)."""
    key = key if len(key) <= 28 else key[:27] + "…"
    return key.replace("$", r"\$")


def _tick_step(days: int) -> int:
    """Label every day up to two weeks, then every few days (about 15 labels at most)."""
    return max(1, -(-days // 15))


def usage_png(
    table: UsageTable,
    *,
    dimension: Dimension,
    budget: int | None = None,
    locale: object | None = None,
    width_px: int = WIDTH_PX,
    height_px: int = HEIGHT_PX,
) -> bytes:
    """The chart as PNG bytes, `width_px` × `height_px`."""
    figure = usage_figure(table, dimension=dimension, budget=budget, locale=locale, width_px=width_px, height_px=height_px)
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI)
    return out.getvalue()


def usage_figure(
    table: UsageTable,
    *,
    dimension: Dimension,
    budget: int | None = None,
    locale: object | None = None,
    width_px: int = WIDTH_PX,
    height_px: int = HEIGHT_PX,
) -> Figure:
    """The chart as a matplotlib Figure (its bars and texts can be read back in tests)."""
    locale = _chart_language(locale)

    def say(msgid: str, **params: object) -> str:
        return Text(msgid, **params).render(locale)

    figure = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    shown = fold_small_series(table, MAX_SERIES, Text("other").render(locale))
    positions = list(range(len(shown.days)))
    # tab10 without its red (the budget line) and grey (kept for "other").
    palette = [colormaps["tab10"](i) for i in (0, 1, 2, 4, 5, 6, 8, 9)]
    folded = len(table.series) > MAX_SERIES

    handles: list[object] = []
    labels: list[str] = []
    bottoms = [0] * len(positions)
    for index, (key, values) in enumerate(shown.series.items()):
        handles.append(
            axes.bar(
                positions,
                values,
                bottom=bottoms,
                width=0.8,
                color="#8c8c8c" if folded and index == len(shown.series) - 1 else palette[index % len(palette)],
                edgecolor="white",
                linewidth=0.5,
            )
        )
        labels.append(_legend_label(key))
        bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    totals = shown.totals()
    if len(positions) <= 31:
        for x, total in zip(positions, totals, strict=True):
            if total:
                axes.annotate(f"{total:,}", (x, total), xytext=(0, 3), textcoords="offset points", ha="center", va="bottom", fontproperties=_font(8))
    if budget is not None:
        handles.append(axes.axhline(budget, color="#d62728", linestyle="--", linewidth=1.5))
        labels.append(say("Daily budget ({budget})", budget=f"{budget:,}"))

    top = max([*totals, budget or 0, 1])
    axes.set_ylim(0, top * 1.12)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(axis="y", color="#dddddd", linewidth=0.6)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    step = _tick_step(len(positions))
    axes.set_xticks(positions[::step], [day.strftime("%m-%d") for day in shown.days[::step]], fontproperties=_font(9))
    if positions:
        axes.set_xlim(-0.6, len(positions) - 0.4)
    dimension_name = Text(dimension, msgctxt=CTX_DIMENSION).render(locale)
    axes.set_title(say("Credits spent per day, by {dimension}", dimension=dimension_name), fontproperties=_font(14, bold=True))
    axes.set_ylabel(say("Credits"), fontproperties=_font(11))
    axes.set_xlabel(say("Day (UTC)"), fontproperties=_font(11))
    if not shown.series:
        axes.text(0.5, 0.5, say("No credits were spent in this period."), transform=axes.transAxes, ha="center", va="center", fontproperties=_font(12), color="#666666")
    if handles:
        axes.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, prop=_font(10))

    return figure
