"""Nothing acknowledged is forgotten (bot/pending.py, bot/discord_intake.py).

The bot process is killed (SIGKILL) after it deferred /motion and while it fetches the
attachments, before any job row exists. The next start finds the request, and answers the
member through the still-valid interaction token: queued and delivered when the inputs are
fine (charged once), refused when they are not. The token is never stored in clear.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.pending import TOKEN_LIFE_SECONDS, PendingRequest, PendingRequests, TokenSealer
from bot.store import Store
from tests.discord_standin import StandIn
from tests.e2e_helpers import (
    BotProcess,
    Media,
    bot_env,
    bot_processes,
    jobs,
    ledger,
    make_media,
    query,
    results_for,
    status_edits,
    wait_for_new_session,
)
from tests.media_factory import make_video
from tests.test_e2e_discord import (
    DEFERRED,
    RESULT_TIMEOUT,
    Lab,
    is_done,
    is_queued,
    lab,
)

assert lab  # the fixture, used by name


def intakes(data_dir: Path) -> list[dict[str, object]]:
    return [dict(row) for row in query(data_dir / "bot.sqlite3", "SELECT * FROM intake_requests")]


async def start(standin: StandIn, process: BotProcess) -> None:
    known = {s.id for s in standin.gateway.sessions.values()}
    await process.start()
    await wait_for_new_session(standin, known)


@pytest.mark.parametrize("inputs_fine", [True, False], ids=["fine-inputs", "video-too-short"])
async def test_a_request_acknowledged_before_a_crash_is_finished_by_the_restart(
    standin: StandIn, lab: Lab, tmp_path: Path, inputs_fine: bool
) -> None:
    media: Media = make_media(tmp_path / "media")
    options = media.options(prompt="a dance")
    if not inputs_fine:
        options = media.options(video=make_video(tmp_path / "short.mp4", 360, 640, seconds=1.0, fps=10))
    env = bot_env(standin, lab.data_dir)
    first, second = BotProcess(env, tmp_path / "run", name="first"), BotProcess(env, tmp_path / "run", name="second")
    async with bot_processes(first, second):
        try:
            await start(standin, first)
            standin.cdn.hold_downloads()
            handle = await standin.invoke("motion", user=lab.alice, channel=lab.general, options=options)
            assert (await handle.first_answer()).callback_type == DEFERRED
            await standin.wait_until(lambda: standin.cdn.held > 0, 15, "the bot fetching the attachments")
            assert await first.kill() == -9

            # Acknowledged, recorded, no job: without the record the member would wait on "thinking…" for good.
            [pending] = intakes(lab.data_dir)
            assert pending["state"] == "pending" and pending["kind"] == "motion" and jobs(lab.data_dir) == []
            payload = str(handle.payload["token"])
            database = b"".join(path.read_bytes() for path in lab.data_dir.glob("bot.sqlite3*"))
            assert payload.encode() not in database  # the token is sealed, never in clear
            assert status_edits(handle) == []

            standin.cdn.release_downloads()
            await start(standin, second)
            if inputs_fine:
                await handle.wait_for("edit_original", lambda s: s.accepted and is_queued(s.body), timeout=RESULT_TIMEOUT)
                await handle.wait_for("edit_original", lambda s: s.accepted and is_done(s.body), timeout=RESULT_TIMEOUT)
                await standin.wait_until(lambda: jobs(lab.data_dir)[0]["state"] == "delivered", 10, "the delivery recorded")
                [job] = jobs(lab.data_dir)
                assert [(r["kind"], r["amount"]) for r in ledger(lab.data_dir)] == [("reserve", 3), ("commit", 3)]
                [result] = results_for(standin, lab.general, lab.alice)
                assert "> a dance" in result.content and len(result.attachments) == 1
                [done] = intakes(lab.data_dir)
                assert (done["state"], done["outcome"], done["job_id"]) == ("done", "queued", job["id"])
            else:
                await handle.wait_for(
                    "edit_original", lambda s: s.accepted and str((s.body or {}).get("content", "")).startswith("❌"),
                    timeout=RESULT_TIMEOUT,
                )
                assert "the minimum is 3 s" in status_edits(handle)[-1]
                assert jobs(lab.data_dir) == [] and ledger(lab.data_dir) == []
                await standin.wait_until(lambda: intakes(lab.data_dir)[0]["state"] == "done", 10, "the request settled")
                assert str(intakes(lab.data_dir)[0]["outcome"]).startswith("refused")
            await second.stop()
        finally:
            standin.cdn.release_downloads()


async def test_requests_past_their_token_life_are_marked_expired_not_answered(tmp_path: Path) -> None:
    store = Store(tmp_path / "bot.sqlite3")
    await store.open()
    now = [1_000_000.0]
    pending = PendingRequests(store, TokenSealer(b"secret"), clock=lambda: now[0])
    try:
        for number, age in ((1, 60.0), (2, TOKEN_LIFE_SECONDS + 1)):
            await pending.record(
                PendingRequest(
                    interaction_id=str(number), kind="motion", user_id=7, guild_id=1, channel_id=2, application_id=3,
                    token=f"token-{number}", created_at=now[0] - age, payload={"provider": "simulator"},
                )
            )
        [live] = await pending.due()
        assert (live.interaction_id, live.token, live.payload) == ("1", "token-1", {"provider": "simulator"})
        expired = await store.intake("2")
        assert expired is not None and expired["state"] == "expired" and expired["outcome"] == "token expired"
        # Sealed under another secret (it was changed): cannot be opened, so cannot be answered.
        assert await PendingRequests(store, TokenSealer(b"other"), clock=lambda: now[0]).due() == []
        assert (await store.intake("1") or {})["state"] == "expired"
    finally:
        await store.close()


def test_a_sealed_token_opens_only_with_its_secret_and_unaltered() -> None:
    sealer = TokenSealer(b"secret")
    sealed = sealer.seal("aW50ZXJhY3Rpb24")
    assert "aW50ZXJhY3Rpb24" not in sealed and sealer.open(sealed) == "aW50ZXJhY3Rpb24"
    assert TokenSealer(b"other").open(sealed) is None
    assert sealer.open(sealed[:-4] + "AAAA") is None
