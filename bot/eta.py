"""When a queued job should start and be ready, from how long recent jobs at its provider took.

A pure function: the caller passes the measured durations of recent jobs (submitted -> result,
in seconds), the job's place in line among those waiting for that provider, the provider's
concurrency slots and the time now. The model is list scheduling: every slot serves one job at
a time, each taking the typical (median) duration; the jobs ahead of this one take the next free
slots in turn. Slots already busy free up after the rest of their job's typical duration when
the caller knows how long they have been running, else after half of it (the expected rest of
a job caught at a random moment).

With fewer than MIN_SAMPLES durations the estimate is marked rough, and the member is told so.
The member's sentence is a catalogue `Text`, so it renders in their language.
"""

from __future__ import annotations

import heapq
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bot.i18n import Text

MIN_SAMPLES = 5
# With no measurement at all: a Kling motion-control job usually takes a few minutes.
FALLBACK_SECONDS = 180.0
# A running job already past the typical duration is assumed to need at least this share more,
# rather than none (it is late, not done).
OVERDUE_SHARE = 0.1


@dataclass(frozen=True)
class Estimate:
    start_at: float  # epoch seconds
    finish_at: float
    rough: bool  # too few recent durations to go by
    typical_seconds: float  # the per-job duration used
    samples: int

    def text(self, place: int, now: float) -> Text:
        """"#3 in line: should start in about 4 min and be ready in about 9 min." """
        start, finish = wait_text(self.start_at - now), wait_text(self.finish_at - now)
        if self.rough:
            return Text(
                "#{place} in line: should start in {start} and be ready in {finish} (rough estimate).",
                place=place,
                start=start,
                finish=finish,
            )
        return Text("#{place} in line: should start in {start} and be ready in {finish}.", place=place, start=start, finish=finish)


def estimate(
    recent_seconds: Sequence[float],
    place: int,
    slots: int,
    now: float,
    *,
    running_for: Sequence[float] | None = None,
    fallback_seconds: float = FALLBACK_SECONDS,
) -> Estimate:
    """Estimate the start and finish of the job at `place` (1 = next to start) at one provider.

    `recent_seconds`: durations of recent finished jobs there (bad values are ignored).
    `slots`: how many jobs the provider runs at once for us.
    `running_for`: how long each job running there now has been running, when known; None
    means unknown, and every slot is taken to be busy.
    """
    if place < 1:
        raise ValueError(f"place in line starts at 1; got {place}")
    if slots < 1:
        raise ValueError(f"a provider needs at least one slot; got {slots}")
    samples = [s for s in recent_seconds if math.isfinite(s) and s > 0]
    typical = statistics.median(samples) if samples else fallback_seconds

    if running_for is None:
        busy_until = [typical / 2] * slots
    else:
        rests = [max(typical - elapsed, typical * OVERDUE_SHARE) for elapsed in running_for[:slots]]
        busy_until = rests + [0.0] * (slots - len(rests))
    heapq.heapify(busy_until)
    start = 0.0
    for _ in range(place):  # the jobs ahead take the earliest free slots, then this one does
        start = heapq.heappop(busy_until)
        heapq.heappush(busy_until, start + typical)
    return Estimate(
        start_at=now + start,
        finish_at=now + start + typical,
        rough=len(samples) < MIN_SAMPLES,
        typical_seconds=typical,
        samples=len(samples),
    )


def wait_text(seconds: float) -> Text:
    """"less than a minute", "about 4 min", "about 1 h 5 min" (rounded to whole minutes)."""
    minutes = round(seconds / 60)
    if minutes < 1:
        return Text("less than a minute")
    hours, minutes = divmod(minutes, 60)
    if hours:
        return Text("about {duration}", duration=Text("{hours} h {minutes} min", hours=hours, minutes=minutes))
    return Text("about {duration}", duration=Text("{minutes} min", minutes=minutes))
