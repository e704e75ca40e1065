"""The /motion and /quota cogs with fake interaction objects (the Discord stand-in tests cover the wire).

The fakes record every call with a timestamp, attachments are served by a
local HTTP server that records when they were fetched, and the real core
runs on the simulator underneath.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import discord
import pytest
from aiohttp import web

from bot.app import CoreApp
from bot.discord_bot import DiscordNotifier
from bot.discord_intake import DiscordIntake
from bot.discord_tree import report_error
from bot.models import JobState
from bot.pending import PendingRequests, TokenSealer
from cogs.motion import MotionCog
from cogs.quota import QuotaCog
from tests.core_harness import core_settings
from tests.media_factory import make_image, make_video


@dataclass
class Call:
    what: str
    at: float
    kwargs: dict[str, Any]


@dataclass
class FakeMessage:
    id: int
    content: str
    file: discord.File | None
    nonce: str | None
    allowed_mentions: discord.AllowedMentions | None

    @property
    def jump_url(self) -> str:
        return f"https://discord.test/channels/1/2/{self.id}"


@dataclass
class FakeChannel:
    messages: list[FakeMessage] = field(default_factory=list)

    async def send(self, content: str, *, file: discord.File | None = None, nonce: str | None = None,
                   allowed_mentions: discord.AllowedMentions | None = None, view: discord.ui.View | None = None,
                   reference: discord.MessageReference | None = None) -> FakeMessage:
        for message in self.messages:
            if nonce is not None and message.nonce == nonce:
                return message  # Discord's enforce_nonce
        message = FakeMessage(len(self.messages) + 1, content, file, nonce, allowed_mentions)
        self.messages.append(message)
        return message


class FakeResponse:
    def __init__(self, calls: list[Call]) -> None:
        self.calls = calls
        self._done = False

    def is_done(self) -> bool:
        return self._done

    async def defer(self, *, ephemeral: bool = False, thinking: bool = False) -> None:
        assert not self._done, "an interaction can be answered once"
        self._done = True
        self.calls.append(Call("defer", time.monotonic(), {"ephemeral": ephemeral, "thinking": thinking}))

    async def send_message(self, content: str, *, ephemeral: bool = False, **_: Any) -> None:
        assert not self._done, "an interaction can be answered once"
        self._done = True
        self.calls.append(Call("send_message", time.monotonic(), {"content": content, "ephemeral": ephemeral}))


INTERACTION_IDS = itertools.count(1000)


class FakeInteraction:
    def __init__(self, user_id: int = 42, filesize_limit: int = 10 * 1024 * 1024) -> None:
        self.calls: list[Call] = []
        self.response = FakeResponse(self.calls)
        self.user = discord.Object(user_id)
        self.guild_id = 7
        self.channel_id = 99
        self.filesize_limit = filesize_limit
        self.created_at = discord.utils.utcnow()
        self.type = discord.InteractionType.application_command
        self.id = next(INTERACTION_IDS)
        self.application_id = 555
        self.token = f"token-{self.id}"
        self.locale = discord.Locale.american_english
        self.command = None

    async def edit_original_response(self, *, content: str, **extra: Any) -> None:
        assert self.response.is_done(), "edit before the first answer"
        self.calls.append(Call("edit", time.monotonic(), {"content": content, **extra}))

    def named(self, what: str) -> list[Call]:
        return [c for c in self.calls if c.what == what]


@dataclass
class FakeAttachment:
    filename: str
    size: int
    content_type: str | None
    width: int | None
    height: int | None
    url: str


class FakeBot:
    def __init__(self) -> None:
        self.channel = FakeChannel()
        self.notifier = DiscordNotifier(self)  # type: ignore[arg-type]
        self.core: CoreApp
        self.intake: DiscordIntake

    def get_partial_messageable(self, channel_id: int, guild_id: int | None = None) -> FakeChannel:
        return self.channel

    def get_guild(self, guild_id: int) -> None:
        return None  # the result buttons' labels then use English


class Cdn:
    """Serves files like Discord's CDN and records when each was fetched."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.fetches: list[tuple[str, float]] = []
        self.base_url = ""

    async def serve(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.fetches.append((name, time.monotonic()))
        return web.FileResponse(self.root / name)

    def attachment(self, name: str, content_type: str, width: int | None, height: int | None, size: int | None = None) -> FakeAttachment:
        path = self.root / name
        return FakeAttachment(name, size if size is not None else path.stat().st_size, content_type, width, height,
                              f"{self.base_url}/attachments/{name}")


@pytest.fixture
async def cdn(tmp_path: Path) -> AsyncIterator[Cdn]:
    root = tmp_path / "cdn"
    make_image(root / "hero.png", 512, 768)
    make_video(root / "dance.mp4", 360, 640, seconds=3.0)
    (root / "disguised.mp4").write_bytes((root / "hero.png").read_bytes())
    cdn = Cdn(root)
    app = web.Application()
    app.router.add_get("/attachments/{name}", cdn.serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    cdn.base_url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    yield cdn
    await runner.cleanup()


@pytest.fixture
async def bot(tmp_path: Path, cdn: Cdn) -> AsyncIterator[FakeBot]:
    fake = FakeBot()
    # The fake CDN is where this deployment's Discord serves attachments, as a stand-in's would be.
    settings = core_settings(tmp_path / "data", user_daily_credits=5, discord_api_base_url=cdn.base_url)
    async with CoreApp.open(settings, fake.notifier) as core:  # type: ignore[arg-type]
        fake.core = core
        fake.intake = DiscordIntake(fake, PendingRequests(core.store, TokenSealer(b"test secret")))  # type: ignore[arg-type]
        yield fake


async def answered(callback: Any, cog: Any, interaction: FakeInteraction, **kwargs: Any) -> None:
    """Run a command callback as the tree does: its errors go to the tree's one handler."""
    try:
        await callback(cog, interaction, **kwargs)
    except Exception as exc:
        await report_error(interaction, exc)  # type: ignore[arg-type]


async def run_motion(bot: FakeBot, interaction: FakeInteraction, **kwargs: Any) -> None:
    await answered(MotionCog.motion.callback, MotionCog(bot), interaction, **kwargs)


async def job_count(bot: FakeBot) -> int:
    async with bot.core.store.db.execute("SELECT COUNT(*) FROM jobs") as cur:
        row = await cur.fetchone()
    return int(row[0])


async def test_success_defers_first_then_posts_once(bot: FakeBot, cdn: Cdn) -> None:
    interaction = FakeInteraction()
    await run_motion(
        bot, interaction,
        image=cdn.attachment("hero.png", "image/png", 512, 768),
        video=cdn.attachment("dance.mp4", "video/mp4", 360, 640),
        prompt="moonwalk",
    )
    first = interaction.calls[0]
    assert first.what == "defer" and first.kwargs == {"ephemeral": True, "thinking": True}
    assert cdn.fetches and all(at > first.at for _, at in cdn.fetches), "downloads must wait for the deferral"
    queued = interaction.named("edit")[0].kwargs["content"]
    assert ("Queued (#1 in line)" in queued or "Starting now" in queued), queued
    assert "3 credits" in queued and "2 left today" in queued
    [job] = await bot.core.store.jobs_in(list(JobState))
    done = await bot.core.engine.wait_for_end(job.id, timeout=20)
    assert done.state.value == "delivered"
    [message] = bot.channel.messages
    assert message.content.startswith("<@42>")
    assert "moonwalk" in message.content
    assert message.file is not None and message.file.filename == f"motion-{job.id}.mp4"
    assert message.nonce == f"job-{job.id}"
    assert message.allowed_mentions is not None and message.allowed_mentions.everyone is False
    assert "Done!" in interaction.named("edit")[-1].kwargs["content"]
    # The acknowledged request was settled by the job's own transaction: a restart will not redo it.
    intake = await bot.core.store.intake(str(interaction.id))
    assert intake is not None and (intake["state"], intake["outcome"], intake["job_id"]) == ("done", "queued", job.id)


async def test_metadata_refusal_is_private_and_before_any_download(bot: FakeBot, cdn: Cdn) -> None:
    interaction = FakeInteraction()
    await run_motion(
        bot, interaction,
        image=cdn.attachment("hero.png", "image/png", 200, 900),  # Discord says: too small and too narrow
        video=cdn.attachment("dance.mp4", "video/mp4", 360, 640),
    )
    # The deferral comes first, whatever the inputs (the first answer never waits); the refusal edits it.
    defer, refusal = interaction.calls
    assert defer.what == "defer" and defer.kwargs["ephemeral"] is True
    assert refusal.what == "edit" and refusal.kwargs["content"].startswith("❌") and "300 px" in refusal.kwargs["content"]
    assert cdn.fetches == [] and await job_count(bot) == 0


async def test_byte_refusal_goes_to_the_private_deferral(bot: FakeBot, cdn: Cdn) -> None:
    interaction = FakeInteraction()
    await run_motion(
        bot, interaction,
        image=cdn.attachment("hero.png", "image/png", 512, 768),
        # Discord's metadata looks fine; the bytes are a PNG
        video=cdn.attachment("disguised.mp4", "video/mp4", 360, 640),
    )
    assert interaction.calls[0].what == "defer" and interaction.calls[0].kwargs["ephemeral"] is True
    [edit] = interaction.named("edit")
    assert edit.kwargs["content"].startswith("❌") and "MP4" in edit.kwargs["content"]
    assert await job_count(bot) == 0
    assert bot.channel.messages == []
    intake = await bot.core.store.intake(str(interaction.id))
    assert intake is not None and intake["state"] == "done" and intake["outcome"].startswith("refused: "), intake


async def test_prompt_too_long_refused_before_any_download(bot: FakeBot, cdn: Cdn) -> None:
    interaction = FakeInteraction()
    await run_motion(
        bot, interaction,
        image=cdn.attachment("hero.png", "image/png", 512, 768),
        video=cdn.attachment("dance.mp4", "video/mp4", 360, 640),
        prompt="x" * 2501,
    )
    defer, refusal = interaction.calls
    assert defer.what == "defer" and refusal.what == "edit" and "2,500" in refusal.kwargs["content"]
    assert cdn.fetches == []


async def test_exhausted_quota_is_refused_privately(bot: FakeBot, cdn: Cdn) -> None:
    first = FakeInteraction()
    image = cdn.attachment("hero.png", "image/png", 512, 768)
    video = cdn.attachment("dance.mp4", "video/mp4", 360, 640)
    await run_motion(bot, first, image=image, video=video)  # 3 of 5 credits
    second = FakeInteraction()
    await run_motion(bot, second, image=image, video=video)
    [edit] = second.named("edit")
    assert "you have 2 of 5 left today" in edit.kwargs["content"]
    assert await job_count(bot) == 1


async def test_quota_command_shows_what_is_left(bot: FakeBot) -> None:
    interaction = FakeInteraction()
    await QuotaCog.quota.callback(QuotaCog(bot), interaction)  # type: ignore[arg-type]
    [answer] = interaction.calls
    assert answer.kwargs["ephemeral"] and "**5** credits left today: 5 of 5 daily" in answer.kwargs["content"] and "reset" in answer.kwargs["content"]


async def test_result_over_the_upload_limit_is_linked(bot: FakeBot, cdn: Cdn) -> None:
    interaction = FakeInteraction(filesize_limit=1000)
    await run_motion(
        bot, interaction,
        image=cdn.attachment("hero.png", "image/png", 512, 768),
        video=cdn.attachment("dance.mp4", "video/mp4", 360, 640),
    )
    [job] = await bot.core.store.jobs_in(list(JobState))
    await bot.core.engine.wait_for_end(job.id, timeout=20)
    [message] = bot.channel.messages
    assert message.file is None and "link" in message.content and "http" in message.content


async def test_admin_chooses_the_guild_provider_and_motion_follows_it(bot: FakeBot, cdn: Cdn) -> None:
    from cogs.admin import AdminCog

    admin = AdminCog(bot)  # type: ignore[arg-type]
    refused = FakeInteraction()
    await answered(AdminCog.provider.callback, admin, refused, name="goapi")
    assert "not configured" in refused.calls[0].kwargs["content"]
    assert await bot.core.provider_for(7) == "simulator"

    bot.core.providers["kling"] = bot.core.providers["simulator"]  # stands in for a configured second provider
    chosen = FakeInteraction()
    await AdminCog.provider.callback(admin, chosen, name="kling")  # type: ignore[arg-type]
    assert "Now using **kling**" in chosen.calls[0].kwargs["content"]
    assert await bot.core.store.guild_provider(7) == "kling"
    assert await bot.core.provider_for(8) == "simulator"  # other guilds keep the default
    interaction = FakeInteraction()
    await run_motion(bot, interaction, image=cdn.attachment("hero.png", "image/png", 512, 768),
                     video=cdn.attachment("dance.mp4", "video/mp4", 360, 640))
    [job] = await bot.core.store.jobs_in(list(JobState))
    assert job.provider == "kling"


async def test_admin_job_details_show_the_providers_error_to_admins_of_that_server(bot: FakeBot, cdn: Cdn) -> None:
    from cogs.admin import AdminCog

    interaction = FakeInteraction()
    await run_motion(bot, interaction, image=cdn.attachment("hero.png", "image/png", 512, 768),
                     video=cdn.attachment("dance.mp4", "video/mp4", 360, 640), prompt="[simulate:content_policy]")
    [job] = await bot.core.store.jobs_in(list(JobState))
    await bot.core.engine.wait_for_end(job.id, timeout=20)

    admin = AdminCog(bot)  # type: ignore[arg-type]
    details = FakeInteraction()
    await AdminCog.job.callback(admin, details, job_id=f"`{job.id}`")  # type: ignore[arg-type]
    text = details.calls[0].kwargs["content"]
    assert details.calls[0].kwargs["ephemeral"]
    assert "failed" in text and "content_policy" in text and "reserve 3, refund 3" in text
    assert "queued → submitting → submitted" in text

    stranger = FakeInteraction()
    stranger.guild_id = 8  # another server's admin
    stranger.client = bot  # type: ignore[attr-defined]
    bot.is_owner = lambda user: _false()  # type: ignore[attr-defined]
    await answered(AdminCog.job.callback, admin, stranger, job_id=job.id)
    assert "No job" in stranger.calls[0].kwargs["content"]


async def _false() -> bool:
    return False


async def test_status_carries_a_cancel_button_that_cancels_for_its_owner(bot: FakeBot, cdn: Cdn) -> None:
    import re

    from cogs.motion import CancelJobButton

    # No provider slot ever frees up, so the job stays in line and can be cancelled.
    bot.core.engine.config = bot.core.engine.config.__class__(**{**bot.core.engine.config.__dict__, "provider_max_concurrency": 0})
    status = FakeInteraction()
    await run_motion(bot, status, image=cdn.attachment("hero.png", "image/png", 512, 768),
                     video=cdn.attachment("dance.mp4", "video/mp4", 360, 640))
    [button] = status.named("edit")[0].kwargs["view"].children
    match = re.fullmatch(CancelJobButton.__discord_ui_compiled_template__, button.custom_id)
    assert match is not None
    item = await CancelJobButton.from_custom_id(FakeInteraction(), button, match)  # type: ignore[arg-type]

    stranger = FakeInteraction(user_id=7)
    stranger.client = bot  # type: ignore[attr-defined]
    await item.callback(stranger)  # type: ignore[arg-type]
    assert stranger.calls[0].kwargs == {"content": "Only the person who started this video can cancel it.", "ephemeral": True}

    owner = FakeInteraction()
    owner.client = bot  # type: ignore[attr-defined]
    await item.callback(owner)  # type: ignore[arg-type]
    assert owner.calls[0].kwargs == {"content": "Cancelled. Your credits were returned.", "ephemeral": True}
    job = await bot.core.engine.wait_for_end(item.job_id, timeout=10)
    assert job.state is JobState.CANCELLED
    assert await bot.core.store.ledger_for_job(job.id) == [("reserve", 3), ("refund", 3)]


async def test_template_autocomplete_lists_the_providers_motions(bot: FakeBot) -> None:
    from bot.providers.base import MotionTemplate
    from tests.core_harness import with_templates

    cog = MotionCog(bot)  # type: ignore[arg-type]
    own = await MotionCog.template_autocomplete(cog, FakeInteraction(), "")  # type: ignore[arg-type]
    assert [(c.name, c.value) for c in own] == [("Wave", "sim-wave"), ("Spin", "sim-spin"), ("Jump", "sim-jump")]
    with_templates(bot.core, [MotionTemplate(id="t1", name="Heart Gesture Dance"), MotionTemplate(id="t2", name="Moonwalk")])
    choices = await MotionCog.template_autocomplete(cog, FakeInteraction(), "moon")  # type: ignore[arg-type]
    assert [(c.name, c.value) for c in choices] == [("Moonwalk", "t2")]
