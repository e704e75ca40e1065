"""Many changes, one write: `Coalescer.changed(key)` runs `action(key)` soon, at most once per
`interval` seconds per key, and the action reads what is current when it runs. A burst of
changes (ten entries posted at once) becomes one edit; a change during an edit gets one more.

Used for the challenge cards' entry counts (Discord rate-limits message edits). Core: no discord.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
K = TypeVar("K", bound=Hashable)


class Coalescer(Generic[K]):
    def __init__(self, action: Callable[[K], Awaitable[None]], interval: float) -> None:
        self.action = action
        self.interval = interval
        self._dirty: set[K] = set()
        self._tasks: dict[K, asyncio.Task[None]] = {}
        self._last: dict[K, float] = {}

    def changed(self, key: K, *, now: bool = False) -> None:
        """`key` needs the action; `now`: do not wait for the interval (an important change)."""
        self._dirty.add(key)
        if now:
            self._last.pop(key, None)
        if key not in self._tasks:
            self._tasks[key] = asyncio.create_task(self._run(key), name=f"coalesce-{key}")

    async def _run(self, key: K) -> None:
        try:
            while key in self._dirty:
                wait = self._last.get(key, -math.inf) + self.interval - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                self._dirty.discard(key)
                try:
                    await self.action(key)
                except Exception as error:  # best effort: the next change runs it again
                    log.warning("%s for %s failed: %s", getattr(self.action, "__name__", "action"), key, error)
                self._last[key] = time.monotonic()
        finally:
            self._tasks.pop(key, None)

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
