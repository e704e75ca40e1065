"""The usage chart and its CSV (bot/usage_chart.py)."""

from __future__ import annotations

import io
from datetime import date, timedelta

import numpy
import pytest
from PIL import Image

from bot import usage_chart
from bot.usage_chart import (
    HEIGHT_PX,
    MAX_SERIES,
    WIDTH_PX,
    UsageRow,
    UsageTable,
    fold_small_series,
    read_usage_csv,
    tabulate,
    usage_csv,
    usage_figure,
    usage_png,
)

D1 = date(2025, 3, 1)
BUDGET_RED = (214, 39, 40)  # the budget line's colour; no series uses it


def day(n: int) -> date:
    return D1 + timedelta(days=n)


ROWS = [
    UsageRow(day(0), "alice", 30),
    UsageRow(day(0), "bob", 12),
    UsageRow(day(0), "alice", 5),  # a second row for the same day and member adds up
    UsageRow(day(2), "李小龙", 40),
    UsageRow(day(2), "=HYPERLINK(\"x\")", 7),  # a name a spreadsheet would run as a formula
    UsageRow(day(3), 'Zoë, "the" $boss$', 9),  # comma, quotes and mathtext dollars
    UsageRow(day(3), "_underscore", 3),  # matplotlib hides legend labels starting with _ unless told
]


def test_tabulate_sums_and_fills_every_day() -> None:
    table = tabulate(ROWS)
    assert table.days == (day(0), day(1), day(2), day(3))
    assert table.series["alice"] == (35, 0, 0, 0)
    assert table.series["李小龙"] == (0, 0, 40, 0)
    assert list(table.series)[:2] == ["李小龙", "alice"]  # biggest total first
    assert table.totals() == (47, 0, 47, 12)


def test_tabulate_keeps_to_the_window() -> None:
    table = tabulate(ROWS, first_day=day(1), last_day=day(4))
    assert table.days == tuple(day(n) for n in range(1, 5))
    assert "alice" not in table.series
    assert table.totals() == (0, 47, 12, 0)
    assert tabulate([], first_day=day(0), last_day=day(6)).days == tuple(day(n) for n in range(7))
    assert tabulate([]) == UsageTable(days=(), series={})


def test_small_spenders_are_folded_into_other_without_losing_credits() -> None:
    rows = [UsageRow(day(0), f"member{n:02}", 100 - n) for n in range(12)]
    table = tabulate(rows)
    folded = fold_small_series(table, MAX_SERIES, "other")
    assert len(folded.series) == MAX_SERIES
    assert list(folded.series)[-1] == "other"
    assert folded.series["other"] == (sum(100 - n for n in range(MAX_SERIES - 1, 12)),)
    assert folded.totals() == table.totals()
    assert fold_small_series(tabulate(ROWS), MAX_SERIES, "other") == tabulate(ROWS)


def test_the_csv_round_trips_to_the_same_numbers() -> None:
    table = tabulate(ROWS)
    data = usage_csv(table, "member")
    assert data.startswith(b"\xef\xbb\xbfday,member,credits\r\n")  # a BOM, so spreadsheets read UTF-8
    back = read_usage_csv(data)
    assert tabulate(back) == table
    assert {(row.day, row.key): row.credits for row in back} == {
        (day(0), "alice"): 35,
        (day(0), "bob"): 12,
        (day(2), "李小龙"): 40,
        (day(2), '=HYPERLINK("x")'): 7,
        (day(3), 'Zoë, "the" $boss$'): 9,
        (day(3), "_underscore"): 3,
    }


def test_the_csv_cannot_run_a_formula_in_a_spreadsheet() -> None:
    text = usage_csv(tabulate(ROWS), "member").decode("utf-8-sig")
    assert "'=HYPERLINK" in text
    assert not any(line.split(",", 2)[1].startswith(("=", "+", "-", "@")) for line in text.splitlines()[1:])


def png_image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()  # decodes every pixel: a broken PNG raises here
    return image


def red_pixels(image: Image.Image) -> int:
    return int((numpy.asarray(image.convert("RGB")) == BUDGET_RED).all(axis=2).sum())


def test_the_chart_is_a_png_of_the_expected_size_with_the_budget_line() -> None:
    table = tabulate(ROWS)
    with_budget = png_image(usage_png(table, dimension="member", budget=60))
    assert with_budget.format == "PNG" and with_budget.size == (WIDTH_PX, HEIGHT_PX)
    without = png_image(usage_png(table, dimension="member"))
    assert red_pixels(with_budget) > WIDTH_PX // 3  # a dashed line across the plot
    assert red_pixels(without) == 0
    small = png_image(usage_png(table, dimension="member", width_px=800, height_px=400))
    assert small.size == (800, 400)


def test_the_bars_show_the_tabulated_credits() -> None:
    table = tabulate(ROWS)
    figure = usage_figure(table, dimension="member", budget=60)
    axes = figure.axes[0]
    stacked = [0.0] * len(table.days)
    for container in axes.containers:
        for index, bar in enumerate(container):
            assert bar.get_y() == pytest.approx(stacked[index])  # each segment sits on the ones below
            stacked[index] += bar.get_height()
    assert stacked == list(table.totals())
    assert [text.get_text() for text in axes.texts] == ["47", "47", "12"]  # totals above non-empty days
    assert axes.get_ylim()[1] > 60  # the budget line is inside the plot


def test_labels_read_well() -> None:
    figure = usage_figure(tabulate(ROWS), dimension="member", budget=1500)
    axes = figure.axes[0]
    assert axes.get_title() == "Credits spent per day, by member"
    assert axes.get_ylabel() == "Credits" and axes.get_xlabel() == "Day (UTC)"
    legend = [text.get_text() for text in axes.get_legend().get_texts()]
    assert "_underscore" in legend  # not hidden
    assert 'Zoë, "the" \\$boss\\$' in legend  # dollars shown as dollars, not as mathtext
    assert legend[-1] == "Daily budget (1,500)"
    assert [label.get_text() for label in axes.get_xticklabels()] == ["03-01", "03-02", "03-03", "03-04"]


def test_long_periods_label_every_few_days() -> None:
    rows = [UsageRow(day(n), "kling", n) for n in range(90)]
    figure = usage_figure(tabulate(rows), dimension="provider")
    ticks = [label.get_text() for label in figure.axes[0].get_xticklabels()]
    assert 10 <= len(ticks) <= 16 and ticks[0] == "03-01"


def test_an_empty_period_says_so() -> None:
    empty = tabulate([], first_day=day(0), last_day=day(6))
    figure = usage_figure(empty, dimension="provider", budget=100)
    assert [text.get_text() for text in figure.axes[0].texts] == ["No credits were spent in this period."]
    assert png_image(usage_png(empty, dimension="provider")).size == (WIDTH_PX, HEIGHT_PX)


def test_chinese_labels_when_a_chinese_font_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(usage_chart, "_cjk_fonts", lambda: ("WenQuanYi Micro Hei",))
    axes = usage_figure(tabulate(ROWS), dimension="kind", budget=10, locale="zh-CN").axes[0]
    assert axes.get_title() == "每日消耗的积分（按类型）"
    assert axes.get_legend().get_texts()[-1].get_text() == "每日预算（10）"


def test_english_labels_when_no_chinese_font_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rather than empty boxes: the chart's own words fall back to English."""
    monkeypatch.setattr(usage_chart, "_cjk_fonts", lambda: ())
    axes = usage_figure(tabulate(ROWS), dimension="kind", locale="zh-CN").axes[0]
    assert axes.get_title() == "Credits spent per day, by kind"
