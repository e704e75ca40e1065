"""Queries on acknowledged requests (intake_requests): recorded at the deferral, settled when
they became a job or got their answer, so a restart can finish what a crash interrupted."""

from __future__ import annotations

import json
import time
from typing import Any

import aiosqlite

from bot.store.base import StoreBase

PENDING = "pending"


class IntakeQueries(StoreBase):
    async def record_intake(
        self,
        *,
        interaction_id: str,
        kind: str,
        user_id: int,
        guild_id: int | None,
        channel_id: int | None,
        application_id: int | None,
        token_sealed: str,
        payload: dict[str, Any],
        created_at: float,
        db: aiosqlite.Connection | None = None,
    ) -> None:
        """Write one acknowledged request (pending). Many arriving together share one commit."""
        args = (interaction_id, kind, user_id, guild_id, channel_id, application_id, token_sealed,
                json.dumps(payload), created_at)
        sql = """INSERT INTO intake_requests(interaction_id, kind, user_id, guild_id, channel_id, application_id,
                                             token_sealed, payload_json, created_at)
                 VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT(interaction_id) DO NOTHING"""
        if db is not None:
            await db.execute(sql, args)
        else:
            await self.grouped(lambda conn: conn.execute(sql, args))

    async def settle_intake(
        self,
        interaction_id: str,
        outcome: str,
        *,
        state: str = "done",
        job_id: str | None = None,
        db: aiosqlite.Connection | None = None,
    ) -> bool:
        """Mark a pending request done (or expired) with what became of it; False when it was not pending."""
        async with self.atomic(db) as conn:
            cursor = await conn.execute(
                """UPDATE intake_requests SET state = ?, outcome = ?, job_id = COALESCE(?, job_id), finished_at = ?
                   WHERE interaction_id = ? AND state = ?""",
                (state, outcome, job_id, time.time(), interaction_id, PENDING),
            )
            return cursor.rowcount > 0

    async def pending_intakes(self, db: aiosqlite.Connection | None = None) -> list[dict[str, Any]]:
        """Every request still pending, oldest first."""
        rows = await self._rows(
            """SELECT interaction_id, kind, user_id, guild_id, channel_id, application_id, token_sealed,
                      payload_json, created_at
               FROM intake_requests WHERE state = ? ORDER BY created_at""",
            (PENDING,),
            db,
        )
        return [dict(row) for row in rows]

    async def intake(self, interaction_id: str, db: aiosqlite.Connection | None = None) -> dict[str, Any] | None:
        row = await self._row(
            "SELECT interaction_id, kind, state, outcome, job_id, created_at, finished_at FROM intake_requests "
            "WHERE interaction_id = ?",
            (interaction_id,),
            db,
        )
        return dict(row) if row else None
