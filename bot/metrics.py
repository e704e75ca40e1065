"""What /metrics exposes, through prometheus-client (one registry per process).

Counters and histograms are incremented where things happen (engine, intake, web);
gauges that are cheaper to read than to keep (active jobs, budget left) are filled
from the store when /metrics is scraped.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

JOBS_ENDED = Counter(
    "motionbot_jobs_ended", "Jobs that reached an ending", ["provider", "kind", "ending"], registry=REGISTRY
)
REFUSALS = Counter("motionbot_refusals", "Requests refused before anything was spent", ["reason"], registry=REGISTRY)
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
