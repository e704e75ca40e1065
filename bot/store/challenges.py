"""Queries on motion challenges, their entries and votes, and who may start one."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

import aiosqlite

from bot.store.base import StoreBase

# An entry counts while its job may still become (or is) a posted video.
LIVE_ENTRY = "j.state NOT IN ('failed', 'cancelled', 'expired')"


@dataclass(frozen=True)
class ChallengeRow:
    id: int
    guild_id: int
    channel_id: int
    card_message_id: int | None
    thread_id: int | None
    title: str
    started_by: int
    clip_path: str
    clip_filename: str
    clip_seconds: float
    mode: str
    orientation: str
    charge: str  # "member" | "server": who pays for an entry
    state: str  # "open" | "closing" (results being posted) | "closed"
    locale: str | None  # the server's language when it started: public posts use it
    created_at: float
    ends_at: float
    closed_at: float | None
    results_message_id: int | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ChallengeRow:
        return cls(**{name: row[name] for name in row.keys()})  # noqa: SIM118 - sqlite3.Row has no items()

    @property
    def is_open(self) -> bool:
        return self.state == "open"


@dataclass(frozen=True)
class EntryRow:
    job_id: str
    challenge_id: int
    user_id: int
    created_at: float
    message_id: int | None
    votes: int
    state: str  # the entry job's state


class ChallengeQueries(StoreBase):
    # --- challenges ---------------------------------------------------------------------
    async def insert_challenge(
        self,
        *,
        guild_id: int,
        channel_id: int,
        title: str,
        started_by: int,
        clip_path: str,
        clip_filename: str,
        clip_seconds: float,
        mode: str,
        orientation: str,
        charge: str,
        locale: str | None,
        ends_at: float,
        db: aiosqlite.Connection | None = None,
    ) -> int:
        async with self.atomic(db) as conn:
            rows = await conn.execute_fetchall(
                """INSERT INTO challenges(guild_id, channel_id, title, started_by, clip_path, clip_filename,
                       clip_seconds, mode, orientation, charge, locale, created_at, ends_at)
                   VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
                (guild_id, channel_id, title, started_by, clip_path, clip_filename, clip_seconds, mode, orientation,
                 charge, locale, time.time(), ends_at),
            )
            return int(list(rows)[0][0])

    async def get_challenge(self, challenge_id: int, db: aiosqlite.Connection | None = None) -> ChallengeRow | None:
        row = await self._row("SELECT * FROM challenges WHERE id = ?", (challenge_id,), db)
        return ChallengeRow.from_row(row) if row else None

    async def set_challenge_posts(
        self, challenge_id: int, *, card_message_id: int | None = None, thread_id: int | None = None,
        clip_path: str | None = None, db: aiosqlite.Connection | None = None,
    ) -> None:
        """Where the card and its thread are (written once they exist); the clip's final place."""
        async with self.atomic(db) as conn:
            await conn.execute(
                """UPDATE challenges SET card_message_id = COALESCE(?, card_message_id),
                       thread_id = COALESCE(?, thread_id), clip_path = COALESCE(?, clip_path) WHERE id = ?""",
                (card_message_id, thread_id, clip_path, challenge_id),
            )

    async def delete_challenge(self, challenge_id: int, db: aiosqlite.Connection | None = None) -> None:
        """A challenge whose card could not be posted (it never existed for anyone)."""
        async with self.atomic(db) as conn:
            await conn.execute("DELETE FROM challenges WHERE id = ? AND card_message_id IS NULL", (challenge_id,))

    async def challenge_by_thread(self, thread_id: int, db: aiosqlite.Connection | None = None) -> ChallengeRow | None:
        row = await self._row("SELECT * FROM challenges WHERE thread_id = ?", (thread_id,), db)
        return ChallengeRow.from_row(row) if row else None

    async def open_challenges(self, guild_id: int, db: aiosqlite.Connection | None = None) -> list[ChallengeRow]:
        rows = await self._rows(
            "SELECT * FROM challenges WHERE guild_id = ? AND state = 'open' AND card_message_id IS NOT NULL ORDER BY ends_at, id",
            (guild_id,),
            db,
        )
        return [ChallengeRow.from_row(r) for r in rows]

    async def challenges_due(self, now: float, db: aiosqlite.Connection | None = None) -> list[ChallengeRow]:
        """Open challenges whose end time has passed, and closings a restart interrupted."""
        rows = await self._rows(
            """SELECT * FROM challenges WHERE card_message_id IS NOT NULL
               AND ((state = 'open' AND ends_at <= ?) OR state = 'closing') ORDER BY ends_at, id""",
            (now,),
            db,
        )
        return [ChallengeRow.from_row(r) for r in rows]

    async def next_challenge_end(self, db: aiosqlite.Connection | None = None) -> float | None:
        row = await self._row("SELECT MIN(ends_at) FROM challenges WHERE state = 'open' AND card_message_id IS NOT NULL", (), db)
        return float(row[0]) if row and row[0] is not None else None

    async def close_challenge(self, challenge_id: int, now: float, db: aiosqlite.Connection | None = None) -> bool:
        """open -> closing: no entry or vote is taken from here on. False if it was not open."""
        async with self.atomic(db) as conn:
            rows = await conn.execute_fetchall(
                "UPDATE challenges SET state = 'closing', closed_at = ? WHERE id = ? AND state = 'open' RETURNING id",
                (now, challenge_id),
            )
            return bool(list(rows))

    async def finish_challenge(
        self, challenge_id: int, results_message_id: int | None, db: aiosqlite.Connection | None = None
    ) -> None:
        """closing -> closed, once the results are posted."""
        async with self.atomic(db) as conn:
            await conn.execute(
                "UPDATE challenges SET state = 'closed', results_message_id = ? WHERE id = ? AND state = 'closing'",
                (results_message_id, challenge_id),
            )

    # --- entries ------------------------------------------------------------------------
    async def insert_entry(
        self, *, job_id: str, challenge_id: int, user_id: int, db: aiosqlite.Connection | None = None
    ) -> None:
        """The entry's time is its job's (a tie in votes goes to the earlier entry)."""
        async with self.atomic(db) as conn:
            await conn.execute(
                """INSERT INTO challenge_entries(job_id, challenge_id, user_id, created_at)
                   SELECT id, ?, ?, created_at FROM jobs WHERE id = ? ON CONFLICT(job_id) DO NOTHING""",
                (challenge_id, user_id, job_id),
            )

    async def live_entry_of(self, challenge_id: int, user_id: int, db: aiosqlite.Connection | None = None) -> str | None:
        """The member's entry that is posted or on its way (failed ones do not count), if any: by
        its entry row, or by the lineage of a job queued for the challenge's thread."""
        row = await self._row(
            f"""SELECT e.job_id FROM challenge_entries e JOIN jobs j ON j.id = e.job_id
                WHERE e.challenge_id = ? AND e.user_id = ? AND {LIVE_ENTRY}
                UNION ALL
                SELECT j.id FROM job_links l JOIN jobs j ON j.id = l.job_id
                JOIN challenges c ON c.thread_id = l.reply_channel_id
                WHERE c.id = ? AND l.relation = 'challenge' AND j.user_id = ? AND {LIVE_ENTRY}
                LIMIT 1""",
            (challenge_id, user_id, challenge_id, user_id),
            db,
        )
        return row[0] if row else None

    async def entry(self, job_id: str, db: aiosqlite.Connection | None = None) -> EntryRow | None:
        row = await self._row(
            """SELECT e.job_id, e.challenge_id, e.user_id, e.created_at, e.message_id,
                      (SELECT COUNT(*) FROM challenge_votes v WHERE v.job_id = e.job_id) AS votes, j.state
               FROM challenge_entries e JOIN jobs j ON j.id = e.job_id WHERE e.job_id = ?""",
            (job_id,),
            db,
        )
        return EntryRow(*row) if row else None

    async def set_entry_message(self, job_id: str, message_id: int, db: aiosqlite.Connection | None = None) -> None:
        async with self.atomic(db) as conn:
            await conn.execute("UPDATE challenge_entries SET message_id = ? WHERE job_id = ?", (message_id, job_id))

    async def posted_entry_count(self, challenge_id: int, db: aiosqlite.Connection | None = None) -> int:
        row = await self._row(
            "SELECT COUNT(*) FROM challenge_entries WHERE challenge_id = ? AND message_id IS NOT NULL", (challenge_id,), db
        )
        return int(row[0]) if row else 0

    async def standings(self, challenge_id: int, limit: int, db: aiosqlite.Connection | None = None) -> list[EntryRow]:
        """Posted entries, most votes first; a tie goes to the earlier entry."""
        rows = await self._rows(
            """SELECT e.job_id, e.challenge_id, e.user_id, e.created_at, e.message_id,
                      (SELECT COUNT(*) FROM challenge_votes v WHERE v.job_id = e.job_id) AS votes, j.state
               FROM challenge_entries e JOIN jobs j ON j.id = e.job_id
               WHERE e.challenge_id = ? AND e.message_id IS NOT NULL
               ORDER BY votes DESC, e.created_at, e.job_id LIMIT ?""",
            (challenge_id, limit),
            db,
        )
        return [EntryRow(*row) for row in rows]

    # --- votes --------------------------------------------------------------------------
    async def add_vote(self, job_id: str, voter_id: int, db: aiosqlite.Connection | None = None) -> bool:
        """False when this member already voted for this entry."""
        async with self.atomic(db) as conn:
            rows = await conn.execute_fetchall(
                """INSERT INTO challenge_votes(job_id, voter_id, at) VALUES(?, ?, ?)
                   ON CONFLICT(job_id, voter_id) DO NOTHING RETURNING job_id""",
                (job_id, voter_id, time.time()),
            )
            return bool(list(rows))

    async def remove_vote(self, job_id: str, voter_id: int, db: aiosqlite.Connection | None = None) -> bool:
        async with self.atomic(db) as conn:
            rows = await conn.execute_fetchall(
                "DELETE FROM challenge_votes WHERE job_id = ? AND voter_id = ? RETURNING job_id", (job_id, voter_id)
            )
            return bool(list(rows))

    async def vote_count(self, job_id: str, db: aiosqlite.Connection | None = None) -> int:
        row = await self._row("SELECT COUNT(*) FROM challenge_votes WHERE job_id = ?", (job_id,), db)
        return int(row[0]) if row else 0

    # --- who may start one ----------------------------------------------------------------
    async def challenge_role(self, guild_id: int, db: aiosqlite.Connection | None = None) -> int | None:
        row = await self._row("SELECT starter_role_id FROM challenge_settings WHERE guild_id = ?", (guild_id,), db)
        return int(row[0]) if row and row[0] is not None else None

    async def set_challenge_role(
        self, guild_id: int, role_id: int | None, by_user: int, db: aiosqlite.Connection | None = None
    ) -> None:
        async with self.atomic(db) as conn:
            await conn.execute(
                """INSERT INTO challenge_settings(guild_id, starter_role_id, updated_by, updated_at) VALUES(?, ?, ?, ?)
                   ON CONFLICT(guild_id) DO UPDATE SET starter_role_id = excluded.starter_role_id,
                       updated_by = excluded.updated_by, updated_at = excluded.updated_at""",
                (guild_id, role_id, by_user, time.time()),
            )
