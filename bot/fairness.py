"""Which queued job starts next: round-robin between servers, and within a server between members.

When many members queue at once, starting jobs oldest-first lets one member's burst of ten push
everybody else back by ten. `start_order` interleaves instead:

- between servers: each server with queued jobs gets one start per round;
- within a server, that server's starts go round-robin between its members;
- each member's own jobs keep their order (oldest first).

Rounds continue across dispatcher passes: the dispatcher starts a job or two per pass and asks
again, so the order must not restart from scratch each time (oldest-first would then pick the
burst's next job again). `started` carries the recent starts (the last start per member is
enough); whoever started least recently goes first in each round, and a member or server that
has not started anything lately (e.g. one who just queued their first job) gets the very next
turn rather than the end of the line. Ties go to whoever has the oldest queued job.

Jobs without a server (direct messages, the terminal) share one group, as if one server.
Pure functions: no clock, no I/O.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar


class Queued(Protocol):
    """What ordering needs from a queued job (bot.store.JobRow has these)."""

    @property
    def id(self) -> str: ...
    @property
    def user_id(self) -> int: ...
    @property
    def guild_id(self) -> int | None: ...
    @property
    def created_at(self) -> float: ...


J = TypeVar("J", bound=Queued)
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class QueuedJob:
    id: str
    user_id: int
    guild_id: int | None
    created_at: float


@dataclass(frozen=True)
class Started:
    """A recent start (e.g. a job's submitted_at): who, where and when."""

    user_id: int
    guild_id: int | None
    started_at: float


def start_order(queued: Iterable[J], started: Iterable[Started] = ()) -> list[J]:
    """The queued jobs in the order to start them (a permutation of `queued`)."""
    member_last: dict[tuple[int | None, int], float] = defaultdict(lambda: -math.inf)
    server_last: dict[int | None, float] = defaultdict(lambda: -math.inf)
    for start in started:
        member = (start.guild_id, start.user_id)
        member_last[member] = max(member_last[member], start.started_at)
        server_last[start.guild_id] = max(server_last[start.guild_id], start.started_at)

    # Oldest first (a stable sort: equal times keep the input order), so every queue built
    # below holds its jobs in their own order.
    members: dict[int | None, dict[int, list[J]]] = defaultdict(lambda: defaultdict(list))
    for job in sorted(queued, key=lambda job: job.created_at):
        members[job.guild_id][job.user_id].append(job)
    servers = {
        server: _interleave(queues, {user: member_last[(server, user)] for user in queues})
        for server, queues in members.items()
    }
    # Each server's turn list is itself a queue, interleaved the same way one level up.
    return _interleave(servers, {server: server_last[server] for server in servers})


def _interleave(queues: Mapping[K, list[J]], last_start: Mapping[K, float]) -> list[J]:
    """Round r takes the r-th job of every queue. Within a round the owners go in one fixed order:
    least recently started first, then whoever's first job has waited longest."""
    owners = sorted(
        enumerate(queues), key=lambda item: (last_start[item[1]], min(job.created_at for job in queues[item[1]]), item[0])
    )
    rank = {owner: position for position, (_, owner) in enumerate(owners)}
    turns = [(round_, rank[owner], job) for owner, queue in queues.items() for round_, job in enumerate(queue)]
    turns.sort(key=lambda turn: turn[:2])
    return [job for _, _, job in turns]
