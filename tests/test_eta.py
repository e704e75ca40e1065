"""bot/eta.py: a queued job's estimated start and finish, and the member's sentence."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.eta import FALLBACK_SECONDS, MIN_SAMPLES, Estimate, estimate, wait_text

NOW = 1_700_000_000.0
STEADY = [120.0] * 10  # ten recent jobs of 2 minutes each


def starts_in(result: Estimate) -> float:
    return result.start_at - NOW


def test_the_next_job_waits_for_the_busy_slot_to_free() -> None:
    result = estimate(STEADY, place=1, slots=1, now=NOW)
    # Unknown progress of the running job: half a job's time is left on average.
    assert (starts_in(result), result.finish_at - NOW) == (60.0, 180.0)
    assert not result.rough and result.samples == 10 and result.typical_seconds == 120.0


def test_jobs_ahead_take_the_slots_in_turn() -> None:
    # Two slots: one job started 30 s ago, one 90 s ago (30 s and 90 s... of 120 left: 90 and 30).
    starts = [starts_in(estimate(STEADY, place=p, slots=2, now=NOW, running_for=[30.0, 90.0])) for p in range(1, 6)]
    assert starts == [30.0, 90.0, 150.0, 210.0, 270.0]


def test_a_free_slot_means_starting_now() -> None:
    result = estimate(STEADY, place=1, slots=2, now=NOW, running_for=[60.0])
    assert starts_in(result) == 0.0 and result.finish_at - NOW == 120.0
    assert starts_in(estimate(STEADY, place=2, slots=2, now=NOW, running_for=[60.0])) == 60.0


def test_an_overdue_job_is_late_not_done() -> None:
    result = estimate(STEADY, place=1, slots=1, now=NOW, running_for=[500.0])
    assert 0 < starts_in(result) < 60


def test_the_median_resists_one_slow_job() -> None:
    result = estimate([100, 110, 120, 130, 5000], place=1, slots=1, now=NOW, running_for=[])
    assert result.typical_seconds == 120 and result.finish_at - NOW == 120


def test_few_samples_make_a_rough_estimate() -> None:
    assert estimate([120.0] * (MIN_SAMPLES - 1), 1, 1, NOW).rough
    assert not estimate([120.0] * MIN_SAMPLES, 1, 1, NOW).rough
    nothing = estimate([], 1, 1, NOW, running_for=[])
    assert nothing.rough and nothing.typical_seconds == FALLBACK_SECONDS and nothing.samples == 0
    junk = estimate([math.nan, -3.0, 0.0, math.inf, 120.0], 1, 1, NOW)
    assert junk.samples == 1 and junk.typical_seconds == 120.0


def test_nonsense_places_and_slots_are_refused() -> None:
    with pytest.raises(ValueError):
        estimate(STEADY, place=0, slots=1, now=NOW)
    with pytest.raises(ValueError):
        estimate(STEADY, place=1, slots=0, now=NOW)


def test_the_members_sentence_in_both_languages() -> None:
    # Two slots, both just started 4-minute jobs: #2 in line takes the second one in 4 min.
    steady = estimate([240.0] * 8, place=2, slots=2, now=NOW, running_for=[0.0, 0.0])
    assert str(steady.text(2, NOW)) == "#2 in line: should start in about 4 min and be ready in about 8 min."
    assert steady.text(2, NOW).render("zh-CN") == "排在第 2 位：预计约 4 分钟后开始，约 8 分钟后完成。"
    rough = estimate([240.0], place=2, slots=2, now=NOW, running_for=[0.0, 0.0])
    assert str(rough.text(2, NOW)).endswith("be ready in about 8 min (rough estimate).")
    assert "粗略估计" in rough.text(2, NOW).render("zh-CN")


def test_waits_read_as_people_say_them() -> None:
    assert str(wait_text(20)) == "less than a minute"
    assert str(wait_text(-5)) == "less than a minute"  # a start already due
    assert str(wait_text(100)) == "about 2 min"
    assert str(wait_text(3900)) == "about 1 h 5 min"
    assert wait_text(3900).render("zh-CN") == "约 1 小时 5 分钟"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(1, 3600), max_size=12),
    st.integers(1, 30),
    st.integers(1, 6),
    st.lists(st.floats(0, 7200), max_size=6) | st.none(),
)
def test_later_in_line_never_starts_earlier_and_more_slots_never_slower(
    recent: list[float], place: int, slots: int, running: list[float] | None
) -> None:
    here = estimate(recent, place, slots, NOW, running_for=running)
    behind = estimate(recent, place + 1, slots, NOW, running_for=running)
    assert NOW <= here.start_at <= behind.start_at
    assert here.finish_at - here.start_at == pytest.approx(here.typical_seconds)
    if running is None:
        assert estimate(recent, place, slots + 1, NOW).start_at <= here.start_at
