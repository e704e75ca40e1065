"""The line of waiting jobs: in which order they start, each one's place, and when it should start
and be ready.

- `start_order_now`: the queued jobs in the order the dispatcher starts them: round-robin between
  servers and members (bot/fairness.py), continuing from who started lately.
- A job's place is its position among the jobs waiting for the same provider (1 = next there).
- `estimate_places`: when each should start and finish, from the durations of the provider's
  recent jobs (bot/eta.py); rough when there are few of them.
- `LineWatch`: tells a waiting member their place when it changes, and only then, so Discord
  writes stay bounded by how often the line moves (never a timer per job).

Core: no discord here.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.eta import Estimate, estimate
from bot.fairness import start_order
from bot.i18n import Text
from bot.models import JobState
from bot.store import JobRow, Store

# Starts older than this no longer decide whose turn it is (the last one per member is enough).
RECENT_STARTS_WINDOW = 6 * 3600.0
# How many of a provider's recent durations the estimate looks at.
DURATION_SAMPLES = 20
# A job's status is edited at most this often for a new place; a change held back is shown by a
# later pass of the dispatcher (it runs at least every few seconds), so nothing is lost.
MIN_TELL_INTERVAL = 10.0


@dataclass(frozen=True)
class Place:
    job: JobRow
    place: int  # 1 = the next job to start at its provider
    estimate: Estimate

    def text(self, now: float) -> Text:
        """"#3 in line: should start in about 4 min and be ready in about 9 min." (rough when it is)"""
        return self.estimate.text(self.place, now)


async def start_order_now(store: Store, origin: str | None, now: float) -> list[JobRow]:
    """Queued jobs in the order to start them (oldest first within each member)."""
    queued = await store.jobs_in([JobState.QUEUED], origin)
    if len(queued) < 2:
        return queued
    return start_order(queued, await store.recent_starts(since=now - RECENT_STARTS_WINDOW))


def places(ordered: Sequence[JobRow]) -> dict[str, int]:
    """Each job's place among those waiting for the same provider."""
    seen: dict[str, int] = defaultdict(int)
    result: dict[str, int] = {}
    for job in ordered:
        seen[job.provider] += 1
        result[job.id] = seen[job.provider]
    return result


async def estimate_places(
    store: Store, ordered: Sequence[JobRow], jobs: Sequence[JobRow], slots: int, now: float
) -> list[Place]:
    """Place and estimate of each of `jobs` (all in `ordered`): one read per provider."""
    where = places(ordered)
    slots = max(1, slots)  # an operator may hold a provider at 0 slots: estimate as if one frees up
    durations: dict[str, list[float]] = {}
    running: dict[str, list[float]] = {}
    result = []
    for job in jobs:
        if job.provider not in durations:
            durations[job.provider] = await store.recent_durations(job.provider, DURATION_SAMPLES)
            running[job.provider] = [now - since for since in await store.running_since(job.provider)]
        guess = estimate(durations[job.provider], where[job.id], slots, now, running_for=running[job.provider])
        result.append(Place(job=job, place=where[job.id], estimate=guess))
    return result


async def place_of(store: Store, job_id: str, origin: str | None, slots: int, now: float) -> Place | None:
    """Where one job stands, or None when it is not waiting (started, or ended)."""
    ordered = await start_order_now(store, origin, now)
    job = next((job for job in ordered if job.id == job_id), None)
    if job is None:
        return None
    [place] = await estimate_places(store, ordered, [job], slots, now)
    return place


async def places_of_user(store: Store, user_id: int, origin: str | None, slots: int, now: float) -> list[Place]:
    """The member's waiting jobs and where they stand."""
    ordered = await start_order_now(store, origin, now)
    mine = [job for job in ordered if job.user_id == user_id]
    return await estimate_places(store, ordered, mine, slots, now) if mine else []


class LineWatch:
    """Remembers the place last shown for each waiting job; `refresh` tells only the changes, and
    each job at most once per `min_interval` seconds."""

    def __init__(self, min_interval: float = MIN_TELL_INTERVAL) -> None:
        self.min_interval = min_interval
        self._shown: dict[str, int] = {}
        self._told_at: dict[str, float] = {}

    async def refresh(
        self, store: Store, ordered: Sequence[JobRow], slots: int, now: float, tell: Callable[[JobRow, Text], object]
    ) -> int:
        """After the line moved: tell each job whose place changed (`tell` must not wait for
        Discord); forget jobs that left the line. Returns how many were told."""
        current = places(ordered)
        changed = [
            job
            for job in ordered
            if self._shown.get(job.id) != current[job.id] and now - self._told_at.get(job.id, -math.inf) >= self.min_interval
        ]
        # Jobs that left the line are forgotten; a held-back change stays "unshown" for the next pass.
        self._shown = {job_id: self._shown[job_id] for job_id in current if job_id in self._shown}
        self._told_at = {job_id: self._told_at[job_id] for job_id in current if job_id in self._told_at}
        if not changed:
            return 0
        for place in await estimate_places(store, ordered, changed, slots, now):
            tell(place.job, place.text(now))
            self._shown[place.job.id] = place.place
            self._told_at[place.job.id] = now
        return len(changed)

    def shown(self, job_id: str) -> int | None:
        return self._shown.get(job_id)
