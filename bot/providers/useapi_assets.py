"""useapi.net's inputs: the byte stream an asset upload sends, and the motion-template list.

Split from useapi.py (the requests, error translation aside, stay there). Uploads go
to `POST /assets/` as raw bytes; templates come from `GET /videos/motions` (see
useapi.py's Assumptions for how a template is named and identified).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from bot.errors import Outage
from bot.providers.base import MotionTemplate


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Asset(_Wire):
    status: int | None = None
    url: str | None = None
    resourceUrl: str | None = None
    message: str | None = None


class Motion(_Wire):
    assetId: int | str | None = None
    assetType: str | None = None
    url: str | None = None
    duration: int | None = None  # ms
    name: str | None = None  # not documented (see useapi.py's Assumptions)
    title: str | None = None


class FileBody:
    """A file's bytes as an async iterable that starts over on every iteration.

    The shared HTTP client re-sends the same arguments on a retry; an open file
    object would be used up by the first attempt, this re-opens the file instead.
    The file is streamed in chunks, never read whole into memory.
    """

    CHUNK = 256 * 1024

    def __init__(self, path: Path) -> None:
        self.path = path

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        with self.path.open("rb") as f:
            while chunk := await asyncio.to_thread(f.read, self.CHUNK):
                yield chunk


def motion_templates(payload: Any) -> list[tuple[MotionTemplate, str]]:
    """`GET /videos/motions`'s answer -> (template, its motionUrl) pairs."""
    if not isinstance(payload, list):
        raise Outage("useapi motions: expected a JSON array")
    templates: list[tuple[MotionTemplate, str]] = []
    for item in payload:
        try:
            motion = Motion.model_validate(item)
        except ValidationError:
            continue  # one odd entry should not hide the others
        if not motion.url or (motion.assetType and motion.assetType.upper() != "MOTION"):
            continue
        template_id = str(motion.assetId) if motion.assetId is not None else motion.url
        seconds = motion.duration / 1000 if motion.duration else None
        name = motion.name or motion.title or _template_name(template_id, seconds)
        templates.append((MotionTemplate(id=template_id, name=name, seconds=seconds), motion.url))
    return templates


def _template_name(template_id: str, seconds: float | None) -> str:
    length = f" ({seconds:.0f} s)" if seconds else ""
    return f"Kling motion {template_id}{length}"
