"""Job kinds: which request model a job's stored request is, by the job's `kind`.

The engine, the store and the adapters stay kind-agnostic: they read a job's request through
`request_for` and ask the request itself for its media files (`media_files()`).
"""

from __future__ import annotations

from typing import Any

from bot.animate.models import AnimateRequest
from bot.animate.plan import replan_for
from bot.models import MotionRequest
from bot.options import options_refusal
from bot.providers.base import Capabilities

JobRequest = MotionRequest | AnimateRequest

REQUEST_MODELS: dict[str, type[MotionRequest] | type[AnimateRequest]] = {
    "motion": MotionRequest,
    "animate": AnimateRequest,
}


def request_for(kind: str, data: Any) -> JobRequest:
    """The stored request of a job of `kind`, as its model."""
    try:
        model = REQUEST_MODELS[kind]
    except KeyError:
        raise ValueError(f"unknown job kind {kind!r}") from None
    return model.model_validate(data)


def kind_of(request: JobRequest) -> str:
    return next(kind for kind, model in REQUEST_MODELS.items() if isinstance(request, model))


def adapt_to(request: JobRequest, provider: str, caps: Capabilities, *, public_url: bool) -> JobRequest | None:
    """`request` as `provider` must receive it, or None when that provider cannot take every
    option chosen (failover goes only where nothing the member asked for is dropped)."""
    if isinstance(request, MotionRequest):
        refusal = options_refusal(request.options, caps, provider, has_video=request.video is not None)
        return request if refusal is None else None
    if not caps.animate:
        return None
    return replan_for(request, provider, public_url=public_url)


def takes(kind: str, data: Any, provider: str, caps: Capabilities, *, public_url: bool) -> bool:
    """Whether `provider` can take a stored job request of `kind` (for failover)."""
    return adapt_to(request_for(kind, data), provider, caps, public_url=public_url) is not None
