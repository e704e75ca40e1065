"""What the bench scripts share: a provider stand-in that costs nothing, a store filled with jobs
through the store's own queries, and the process's memory from /proc (Linux only)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path

from bot.models import JobState, MediaFile, MotionRequest
from bot.providers.base import (
    Capabilities,
    Provider,
    ProviderTask,
    SubmitRequest,
    TaskStatus,
)
from bot.store import Store

BATCH = 500  # jobs per transaction while filling a store


class QuietProvider(Provider):
    """Takes every job, reports "processing" when read, and reads callbacks in its own small JSON
    (a ProviderTask). Every call is counted; nothing leaves the process."""

    name = "bench"
    capabilities = Capabilities(needs_input_urls=False)

    def __init__(self) -> None:
        super().__init__(None)  # type: ignore[arg-type]  # no HTTP
        self.reads = 0
        self.submits = 0

    async def submit(self, submit: SubmitRequest) -> ProviderTask:
        self.submits += 1
        return ProviderTask(task_id=task_id_for(submit.job_id), status=TaskStatus.SUBMITTED)

    async def get_task(self, task_id: str) -> ProviderTask:
        self.reads += 1
        return ProviderTask(task_id=task_id, status=TaskStatus.PROCESSING)

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> ProviderTask:
        return ProviderTask.model_validate_json(body)


def task_id_for(job_id: str) -> str:
    return f"task-{job_id}"


def request_json(root: Path) -> dict[str, object]:
    image = MediaFile(path=root / "image.png", filename="image.png", content_type="image/png", size=1_000_000)
    video = MediaFile(path=root / "video.mp4", filename="video.mp4", content_type="video/mp4", size=20_000_000)
    return MotionRequest(image=image, video=video, video_seconds=5).model_dump(mode="json")


async def fill(store: Store, root: Path, count: int, state: JobState, *, prefix: str, provider: str = "bench") -> list[str]:
    """`count` jobs in `state` (queued -> submitted -> processing -> succeeded -> delivered, as
    far as `state`), each with its reservation and, once succeeded, its commit, like the engine
    writes them; many to a transaction, so a large store is quick to make."""
    path = [JobState.SUBMITTED, JobState.PROCESSING, JobState.SUCCEEDED, JobState.DELIVERED]
    steps = path[: path.index(state) + 1] if state in path else []
    request = request_json(root)
    ids = [f"{prefix}{n:08d}" for n in range(count)]
    for start in range(0, count, BATCH):
        async with store.transaction() as db:
            for n, job_id in enumerate(ids[start : start + BATCH], start):
                user = 1000 + n % 500  # 500 members
                await store.insert_job(
                    job_id=job_id, kind="motion", origin="discord", user_id=user, guild_id=7,
                    channel_id=99, provider=provider, request=request, price=5, upload_limit=10 * 1024 * 1024, db=db,
                )
                await store.add_ledger(
                    kind="reserve", user_id=user, guild_id=7, job_id=job_id, amount=5, period="2026-01-01", db=db
                )
                now = time.time()
                for step in steps:
                    fields: dict[str, object] = {}
                    if step is JobState.SUBMITTED:
                        fields = {"provider_task_id": task_id_for(job_id), "submitted_at": now}
                    elif step is JobState.SUCCEEDED:
                        fields = {"result_url": f"https://cdn.example/{job_id}.mp4", "finished_at": now}
                        await store.add_ledger(
                            kind="commit", user_id=user, guild_id=7, job_id=job_id, amount=5, period="2026-01-01", db=db
                        )
                    elif step is JobState.DELIVERED:
                        fields = {"delivered_at": now, "message_id": 1}
                    await store.transition(job_id, step, db=db, **fields)
    return ids


def rss_mib() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MiB: resident now, and the peak since start or reset."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def reset_peak() -> None:
    """Start VmHWM again from the current RSS (Linux 4.0+), so a peak is this phase's own."""
    Path("/proc/self/clear_refs").write_text("5")


def emit(result: dict[str, object]) -> None:
    """A child process's answer: one JSON line, last on stdout."""
    print(json.dumps(result), flush=True)
