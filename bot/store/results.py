"""Queries on posted results: a job's lineage (remix, retry) and the retention sweep's marks."""

from __future__ import annotations

import time
from dataclasses import dataclass

import aiosqlite

from bot.store.base import StoreBase

# States after which a job's files are only kept for remixes and links (nothing runs on them);
# every job in them has `finished_at` (set when it succeeded, failed, expired or was cancelled).
_FINISHED = ("delivered", "failed", "cancelled", "expired")


@dataclass(frozen=True)
class JobLink:
    """Where a job came from: the job it reuses and the message its result answers."""

    job_id: str
    parent_job_id: str | None
    relation: str  # "remix" (new photo or new motion on a result), "retry", "challenge", ...
    reply_channel_id: int | None
    reply_to_message_id: int | None
    created_at: float


class ResultQueries(StoreBase):
    async def insert_link(
        self,
        *,
        job_id: str,
        parent_job_id: str | None,
        relation: str,
        reply_channel_id: int | None = None,
        reply_to_message_id: int | None = None,
        db: aiosqlite.Connection | None = None,
    ) -> None:
        """Write a job's lineage (pass the transaction that inserts the job)."""
        async with self.atomic(db) as conn:
            await conn.execute(
                """INSERT INTO job_links(job_id, parent_job_id, relation, reply_channel_id, reply_to_message_id, created_at)
                   VALUES(?, ?, ?, ?, ?, ?) ON CONFLICT(job_id) DO NOTHING""",
                (job_id, parent_job_id, relation, reply_channel_id, reply_to_message_id, time.time()),
            )

    async def job_link(self, job_id: str, db: aiosqlite.Connection | None = None) -> JobLink | None:
        row = await self._row(
            """SELECT job_id, parent_job_id, relation, reply_channel_id, reply_to_message_id, created_at
               FROM job_links WHERE job_id = ?""",
            (job_id,),
            db,
        )
        return JobLink(*row) if row else None

    async def child_jobs(self, parent_job_id: str, db: aiosqlite.Connection | None = None) -> list[str]:
        """Jobs made from this one, oldest first."""
        rows = await self._rows(
            "SELECT job_id FROM job_links WHERE parent_job_id = ? ORDER BY created_at, job_id", (parent_job_id,), db
        )
        return [row[0] for row in rows]

    async def jobs_to_sweep(self, finished_before: float, limit: int = 500, db: aiosqlite.Connection | None = None) -> list[str]:
        """Finished jobs older than the cut whose files were not swept yet, oldest first."""
        marks = ",".join("?" * len(_FINISHED))
        rows = await self._rows(
            f"""SELECT id FROM jobs
                WHERE finished_at < ? AND state IN ({marks})
                AND NOT EXISTS (SELECT 1 FROM job_files WHERE job_files.job_id = jobs.id)
                ORDER BY finished_at, id LIMIT ?""",
            (finished_before, *_FINISHED, limit),
            db,
        )
        return [row[0] for row in rows]

    async def mark_swept(self, job_ids: list[str], at: float, db: aiosqlite.Connection | None = None) -> None:
        async with self.atomic(db) as conn:
            await conn.executemany(
                "INSERT INTO job_files(job_id, swept_at) VALUES(?, ?) ON CONFLICT(job_id) DO NOTHING",
                [(job_id, at) for job_id in job_ids],
            )

    async def swept_at(self, job_id: str, db: aiosqlite.Connection | None = None) -> float | None:
        """When the retention sweep deleted this job's files (None: still kept)."""
        row = await self._row("SELECT swept_at FROM job_files WHERE job_id = ?", (job_id,), db)
        return float(row[0]) if row else None
