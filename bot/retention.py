"""Retention: a finished job's files (inputs, fixed copies, result) are kept in DATA_DIR for
RESULT_RETENTION_DAYS, then deleted by a sweep.

`sweep_files` is one pass: a plain function, so that a leader lock (several bot processes on one
database, issue 12) can wrap it later. `run_sweeps` repeats it while the core runs. Once a job is
swept, the store remembers it (`job_files`): its buttons then answer that the files are gone.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from bot.store import Store

log = logging.getLogger(__name__)

DAY = 86400.0
SWEEP_INTERVAL_SECONDS = 3600.0  # files are kept for days: an hourly look is precise enough
BATCH = 500


async def sweep_files(
    store: Store, data_dir: Path, retention_days: float, *, now: float | None = None
) -> list[str]:
    """Delete the folders of jobs that finished more than `retention_days` ago; return their ids."""
    now = time.time() if now is None else now
    cut = now - retention_days * DAY
    swept: list[str] = []
    while True:
        job_ids = await store.jobs_to_sweep(cut, limit=BATCH)
        if not job_ids:
            break
        folders = [data_dir / "jobs" / job_id for job_id in job_ids]
        await asyncio.to_thread(_remove, folders)
        await store.mark_swept(job_ids, now)
        swept += job_ids
        if len(job_ids) < BATCH:
            break
    if swept:
        log.info("retention: deleted the files of %d job(s) older than %g days", len(swept), retention_days)
    return swept


def _remove(folders: list[Path]) -> None:
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


async def run_sweeps(
    store: Store,
    data_dir: Path,
    retention_days: float,
    *,
    interval: float = SWEEP_INTERVAL_SECONDS,
    sleep: Callable[[float], object] = asyncio.sleep,
) -> None:
    """Sweep now and then every `interval` seconds until cancelled; a failed pass is logged and retried."""
    while True:
        try:
            # once per bot: with several processes on one database, the one leading "retention" sweeps
            if await store.leader("retention", seconds=2 * interval):
                await sweep_files(store, data_dir, retention_days)
        except Exception:
            log.exception("retention sweep failed; trying again at the next pass")
        await sleep(interval)  # type: ignore[misc]
