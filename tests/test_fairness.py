"""bot/fairness.py: round-robin start order between servers and between members."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.fairness import QueuedJob, Started, start_order

GUILD, OTHER_GUILD, THIRD_GUILD = 100, 200, 300
ALICE, BOB, CAROL = 1, 2, 3


def burst(user: int, count: int, *, first_at: float, guild: int | None = GUILD, tag: str | None = None) -> list[QueuedJob]:
    name = tag or f"u{user}"
    return [QueuedJob(f"{name}-{i + 1}", user, guild, first_at + i) for i in range(count)]


def ids(jobs: list[QueuedJob]) -> list[str]:
    return [job.id for job in jobs]


def test_two_members_queueing_five_each_take_turns() -> None:
    queued = burst(ALICE, 5, first_at=0) + burst(BOB, 5, first_at=10)
    assert ids(start_order(queued)) == [
        "u1-1", "u2-1", "u1-2", "u2-2", "u1-3", "u2-3", "u1-4", "u2-4", "u1-5", "u2-5",
    ]  # fmt: skip
    # Oldest-first would have been all of Alice's, then all of Bob's: the order is really changed.
    assert ids(sorted(queued, key=lambda job: job.created_at))[:5] == ["u1-1", "u1-2", "u1-3", "u1-4", "u1-5"]


def test_the_input_order_does_not_matter() -> None:
    queued = burst(ALICE, 3, first_at=0) + burst(BOB, 3, first_at=10)
    assert start_order(queued) == start_order(list(reversed(queued)))


def test_servers_take_turns_before_their_members_do() -> None:
    # Server 100 has two busy members; servers 200 and 300 have one job each, queued later.
    queued = (
        burst(ALICE, 3, first_at=0)
        + burst(BOB, 3, first_at=1, tag="bob")
        + burst(CAROL, 1, first_at=50, guild=OTHER_GUILD)
        + burst(ALICE, 2, first_at=60, guild=THIRD_GUILD, tag="alice-elsewhere")
    )
    order = ids(start_order(queued))
    assert order[:3] == ["u1-1", "u3-1", "alice-elsewhere-1"]  # one start for each server
    assert order[3:5] == ["bob-1", "alice-elsewhere-2"]  # the 100 server's next turn goes to Bob
    assert order[5:] == ["u1-2", "bob-2", "u1-3", "bob-3"]


def test_a_member_who_joins_late_gets_the_next_turn() -> None:
    queued = burst(ALICE, 5, first_at=0) + burst(BOB, 5, first_at=10)
    late = QueuedJob("carol-1", CAROL, GUILD, 100)
    # Alice's and Bob's first jobs were started already; Carol has never had a turn.
    started = [Started(ALICE, GUILD, 200), Started(BOB, GUILD, 201)]
    remaining = [job for job in queued if job.id not in ("u1-1", "u2-1")] + [late]
    order = ids(start_order(remaining, started))
    assert order[0] == "carol-1"
    assert order[1:] == ["u1-2", "u2-2", "u1-3", "u2-3", "u1-4", "u2-4", "u1-5", "u2-5"]


def test_the_turns_carry_on_from_the_last_start_across_passes() -> None:
    """The dispatcher starts one job per pass and asks again; the rotation must not restart."""
    queued = burst(ALICE, 5, first_at=0) + burst(BOB, 5, first_at=10)
    started: list[Started] = []
    sequence: list[str] = []
    clock = 1000.0
    while queued:
        nxt = start_order(queued, started)[0]
        sequence.append(nxt.id)
        queued.remove(nxt)
        clock += 1
        started.append(Started(nxt.user_id, nxt.guild_id, clock))
    assert sequence == ["u1-1", "u2-1", "u1-2", "u2-2", "u1-3", "u2-3", "u1-4", "u2-4", "u1-5", "u2-5"]


def test_without_the_start_history_a_burst_would_win_every_pass() -> None:
    """Why `started` exists: the same loop without it serves Alice's burst first."""
    queued = burst(ALICE, 3, first_at=0) + burst(BOB, 3, first_at=10)
    sequence = []
    while queued:
        nxt = start_order(queued)[0]
        sequence.append(nxt.id)
        queued.remove(nxt)
    assert sequence[:3] == ["u1-1", "u1-2", "u1-3"]


def test_jobs_without_a_server_share_one_turn() -> None:
    queued = burst(ALICE, 2, first_at=0, guild=None) + burst(BOB, 2, first_at=1, guild=None) + burst(CAROL, 2, first_at=2)
    assert ids(start_order(queued)) == ["u1-1", "u3-1", "u2-1", "u3-2", "u1-2", "u2-2"]


def test_nothing_queued_nothing_to_start() -> None:
    assert start_order([]) == []


# --- properties ---------------------------------------------------------------------------------

jobs_strategy = st.lists(
    st.tuples(
        st.integers(0, 4),  # user
        st.sampled_from([None, GUILD, OTHER_GUILD, THIRD_GUILD]),
        st.integers(0, 30),  # created_at: repeats on purpose (equal times)
    ),
    max_size=40,
).map(lambda rows: [QueuedJob(f"j{i}", user, guild, float(at)) for i, (user, guild, at) in enumerate(rows)])
history_strategy = st.lists(
    st.builds(Started, st.integers(0, 4), st.sampled_from([None, GUILD, OTHER_GUILD]), st.floats(0, 100)), max_size=6
)


@settings(max_examples=200, deadline=None)
@given(jobs_strategy, history_strategy)
def test_the_order_is_a_permutation_of_the_queue(queued: list[QueuedJob], started: list[Started]) -> None:
    order = start_order(queued, started)
    assert Counter(ids(order)) == Counter(ids(queued)) and len(order) == len(queued)


@settings(max_examples=200, deadline=None)
@given(jobs_strategy, history_strategy)
def test_each_member_keeps_the_order_of_their_own_jobs(queued: list[QueuedJob], started: list[Started]) -> None:
    order = start_order(queued, started)
    position = {job.id: i for i, job in enumerate(queued)}
    for member in {(job.guild_id, job.user_id) for job in queued}:
        theirs = [job for job in order if (job.guild_id, job.user_id) == member]
        # by time, and in the order they were given when times are equal
        assert theirs == sorted(theirs, key=lambda job: (job.created_at, position[job.id]))


def _never_ahead_by_more_than_one(order: list[QueuedJob], key: Callable[[QueuedJob], Hashable]) -> None:
    """In every prefix, no owner has had two more turns than another owner who is still waiting."""
    remaining = Counter(key(job) for job in order)
    taken: Counter[Hashable] = Counter()
    for job in order:
        taken[key(job)] += 1
        remaining[key(job)] -= 1
        waiting = [owner for owner, left in remaining.items() if left > 0]
        for owner in taken:
            for other in waiting:
                assert taken[owner] <= taken[other] + 1, (owner, other, [j.id for j in order])


@settings(max_examples=200, deadline=None)
@given(jobs_strategy)
def test_no_server_gets_ahead_of_a_waiting_server(queued: list[QueuedJob]) -> None:
    _never_ahead_by_more_than_one(start_order(queued), lambda job: job.guild_id)


@settings(max_examples=200, deadline=None)
@given(jobs_strategy.map(lambda jobs: [QueuedJob(j.id, j.user_id, GUILD, j.created_at) for j in jobs]))
def test_within_a_server_no_member_gets_ahead_of_a_waiting_member(queued: list[QueuedJob]) -> None:
    _never_ahead_by_more_than_one(start_order(queued), lambda job: job.user_id)


@settings(max_examples=60, deadline=None)
@given(jobs_strategy.map(lambda jobs: [QueuedJob(j.id, j.user_id, GUILD, j.created_at) for j in jobs]))
def test_one_start_per_pass_stays_round_robin(queued: list[QueuedJob]) -> None:
    """The dispatcher's way: start the first, record it, ask again; the sequence is still fair."""
    started: list[Started] = []
    sequence: list[QueuedJob] = []
    waiting = list(queued)
    while waiting:
        nxt = start_order(waiting, started)[0]
        sequence.append(nxt)
        waiting.remove(nxt)
        started.append(Started(nxt.user_id, nxt.guild_id, 1000.0 + len(sequence)))
    _never_ahead_by_more_than_one(sequence, lambda job: job.user_id)
