"""What /metrics exposes, through prometheus-client (one registry per process).

Counters and histograms are incremented where things happen (engine, intake, web);
gauges that are cheaper to read than to keep (active jobs, budget left) are filled
from the store when /metrics is scraped.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from bot.errors import Refusal
from bot.models import IN_FLIGHT, JobState

if TYPE_CHECKING:
    from bot.quotas import QuotaPolicy
    from bot.store import Store

REGISTRY = CollectorRegistry(auto_describe=True)

JOBS_ENDED = Counter(
    "motionbot_jobs_ended", "Jobs that reached an ending", ["provider", "kind", "ending"], registry=REGISTRY
)
REFUSALS = Counter("motionbot_refusals", "Requests refused before anything was spent", ["reason"], registry=REGISTRY)


@contextmanager
def counted_refusals(default_reason: str = "other") -> Iterator[None]:
    """Count a Refusal raised inside the block under its `reason` (a label an owner can read), then let it through."""
    try:
        yield
    except Refusal as refusal:
        REFUSALS.labels(getattr(refusal, "reason", default_reason)).inc()
        raise


PROVIDER_ERRORS = Counter(
    "motionbot_provider_errors", "Provider calls that failed, by error kind", ["provider", "kind"], registry=REGISTRY
)

_SECONDS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
FIRST_ANSWER = Histogram(
    "motionbot_first_answer_seconds", "From the interaction's creation to our first answer", registry=REGISTRY,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5),
)
QUEUE_WAIT = Histogram("motionbot_queue_wait_seconds", "From queued to submitted", registry=REGISTRY, buckets=_SECONDS)
PROVIDER_TIME = Histogram(
    "motionbot_provider_seconds", "From submitted to the provider's ending", ["provider"], registry=REGISTRY, buckets=_SECONDS
)
DELIVERY_TIME = Histogram(
    "motionbot_delivery_seconds", "From the provider's success to the posted result", registry=REGISTRY, buckets=_SECONDS
)

ACTIVE_JOBS = Gauge("motionbot_active_jobs", "Jobs queued or being made", ["provider", "state"], registry=REGISTRY)
BUDGET_LEFT = Gauge("motionbot_global_budget_left", "Credits left today in the global budget (-1: no budget)", registry=REGISTRY)

# Read from the store at scrape time, like the two above; the names are the ones /metrics had
# before prometheus-client, so dashboards keep working.
JOBS = Gauge("motionbot_jobs", "Jobs in the store by provider and state (all states)", ["provider", "state"], registry=REGISTRY)
CREDITS_USED_TODAY = Gauge("motionbot_credits_used_today", "Credits used today (UTC) across the bot", registry=REGISTRY)

ACTIVE_STATES = frozenset((JobState.QUEUED, JobState.SUBMITTING, *IN_FLIGHT))


async def scrape(store: Store, quotas: QuotaPolicy, accept: str | None = None) -> tuple[bytes, str]:
    """Fill the store-backed gauges, then render the whole registry in the format the scraper
    accepts (Prometheus text by default, OpenMetrics when asked); returns (body, content type)."""
    counts = await store.job_counts()
    used = (await store.usage(quotas.period())).used
    # Nothing awaits from here on, so two scrapes at once never interleave a clear with a fill;
    # clearing drops a (provider, state) pair that has no jobs any more instead of keeping its old value.
    JOBS.clear()
    ACTIVE_JOBS.clear()
    for (provider, state), count in counts.items():
        JOBS.labels(provider, state).set(count)
        if state in ACTIVE_STATES:
            ACTIVE_JOBS.labels(provider, state).set(count)
    CREDITS_USED_TODAY.set(used)
    BUDGET_LEFT.set(max(0, quotas.global_daily - used) if quotas.global_daily else -1)
    encoder, content_type = choose_encoder(accept)
    return encoder(REGISTRY), content_type
