"""The line of waiting jobs (bot/line.py) and the member-jobs queries behind it: the start order
goes round-robin and continues from who started lately; places count per provider; a waiting
job is told its place when it changes, not on every pass."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.i18n import Text
from bot.line import LineWatch, place_of, places, places_of_user, start_order_now
from bot.models import JobState
from bot.store import JobRow, Store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(tmp_path / "bot.sqlite3")
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def add(store: Store, job_id: str, user: int, *, guild: int = 1, provider: str = "simulator", at: float) -> None:
    await store.insert_job(
        job_id=job_id, kind="motion", origin="discord", user_id=user, guild_id=guild, channel_id=5, provider=provider,
        request={}, price=3, upload_limit=10,
    )
    await store.db.execute("UPDATE jobs SET created_at = ? WHERE id = ?", (at, job_id))


async def test_a_burst_does_not_push_a_later_member_back(store: Store) -> None:
    for n in range(5):
        await add(store, f"a{n}", user=1, at=100 + n)
    for n in range(5):
        await add(store, f"b{n}", user=2, at=200 + n)
    order = [job.id for job in await start_order_now(store, "discord", now=1000)]
    assert order == ["a0", "b0", "a1", "b1", "a2", "b2", "a3", "b3", "a4", "b4"]


async def test_the_order_continues_from_who_started_last(store: Store) -> None:
    for n in range(3):
        await add(store, f"a{n}", user=1, at=100 + n)
        await add(store, f"b{n}", user=2, at=200 + n)
    # a0 was just sent: bob's turn comes first now, though alice's jobs are older.
    await store.transition("a0", JobState.SUBMITTED, submitted_at=900.0)
    order = [job.id for job in await start_order_now(store, "discord", now=1000)]
    assert order == ["b0", "a1", "b1", "a2", "b2"]


async def test_places_count_per_provider(store: Store) -> None:
    await add(store, "k1", user=1, provider="kling", at=1)
    await add(store, "s1", user=2, provider="simulator", at=2)
    await add(store, "k2", user=3, provider="kling", at=3)
    ordered = await start_order_now(store, "discord", now=10)
    assert places(ordered) == {"k1": 1, "s1": 1, "k2": 2}


async def test_a_place_comes_with_an_estimate_from_recent_durations(store: Store) -> None:
    for n in range(6):  # six finished jobs of 100 s each: not rough
        await add(store, f"done{n}", user=9, at=n)
        await store.transition(f"done{n}", JobState.SUCCEEDED, submitted_at=1000.0 + n, finished_at=1100.0 + n)
    await add(store, "mine", user=1, at=2000)
    place = await place_of(store, "mine", "discord", slots=1, now=3000)
    assert place is not None and place.place == 1
    assert not place.estimate.rough and place.estimate.typical_seconds == 100
    assert place.text(3000).render("en") == "#1 in line: should start in less than a minute and be ready in about 2 min."
    assert await place_of(store, "done0", "discord", slots=1, now=3000) is None  # not waiting
    assert [p.job.id for p in await places_of_user(store, 1, "discord", slots=1, now=3000)] == ["mine"]


async def test_a_waiting_job_is_told_its_place_only_when_it_changes(store: Store) -> None:
    for n in range(3):
        await add(store, f"j{n}", user=n + 1, at=n)
    told: list[tuple[str, str]] = []

    def tell(job: JobRow, text: Text) -> None:
        told.append((job.id, text.render("en").split(":")[0]))

    watch = LineWatch(min_interval=0)
    ordered = await start_order_now(store, "discord", now=100)
    assert await watch.refresh(store, ordered, 1, 100, tell) == 3
    assert await watch.refresh(store, ordered, 1, 101, tell) == 0  # nothing moved: nothing sent
    await store.transition("j0", JobState.SUBMITTING)
    ordered = await start_order_now(store, "discord", now=102)
    assert await watch.refresh(store, ordered, 1, 102, tell) == 2
    assert told == [("j0", "#1 in line"), ("j1", "#2 in line"), ("j2", "#3 in line"), ("j1", "#1 in line"), ("j2", "#2 in line")]


async def test_place_changes_are_spaced_but_never_lost(store: Store) -> None:
    for n in range(3):
        await add(store, f"j{n}", user=n + 1, at=n)
    told: list[str] = []
    watch = LineWatch(min_interval=10)
    ordered = await start_order_now(store, "discord", now=100)
    await watch.refresh(store, ordered, 1, 100, lambda job, text: told.append(job.id))
    await store.transition("j0", JobState.SUBMITTING)
    ordered = await start_order_now(store, "discord", now=101)
    assert await watch.refresh(store, ordered, 1, 101, lambda job, text: told.append(job.id)) == 0  # too soon
    assert await watch.refresh(store, ordered, 1, 111, lambda job, text: told.append(job.id)) == 2  # a later pass
    assert told == ["j0", "j1", "j2", "j1", "j2"]
