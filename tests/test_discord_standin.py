"""The Discord stand-in against the real discord.py client.

A small `commands.Bot` defined here (not our bot) connects to the stand-in,
syncs its tree, answers slash commands, buttons and modals, posts files, and
survives rate limits, late answers, expired tokens and dropped sockets. If the
stand-in's wire format drifts from what discord.py expects, these fail.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest
import pytest_asyncio
from discord import app_commands
from discord.ext import commands

from tests.discord_standin import MIB, Guild, StandIn, Upload, User, run_client
from tests.discord_standin.rest import NONCE_WINDOW
from tests.media_factory import make_image

MESSAGES_ROUTE = "POST /channels/{channel_id}/messages"


class CancelButton(discord.ui.DynamicItem[discord.ui.Button], template=r"probe:cancel:(?P<job>[0-9]+)"):
    """A persistent button carrying a job id, as our bot's cancel/retry buttons do."""

    def __init__(self, job: int) -> None:
        super().__init__(discord.ui.Button(label="Cancel", custom_id=f"probe:cancel:{job}"))
        self.job = job

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: Any
    ) -> CancelButton:
        return cls(int(match["job"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: ProbeBot = interaction.client  # type: ignore[assignment]
        bot.clicks.append((self.job, interaction.user.id))
        await interaction.response.send_message(f"cancelled job {self.job}", ephemeral=True)


class PromptModal(discord.ui.Modal, title="Describe the motion"):
    prompt = discord.ui.TextInput(label="Prompt", custom_id="prompt")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        # A file in the first answer makes the callback a multipart request.
        receipt = discord.File(io.BytesIO(self.prompt.value.encode()), "prompt.txt")
        await interaction.response.send_message(f"prompt: {self.prompt.value}", file=receipt)


class ProbeBot(commands.Bot):
    """Records what it sees so tests can assert on the client's side too."""

    def __init__(self, **options: Any) -> None:
        super().__init__(
            command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.1, **options
        )
        self.clicks: list[tuple[int, int]] = []
        self.errors: list[discord.HTTPException] = []
        self.events: list[str] = []
        self.seen_messages: list[str] = []
        self.originals: list[str] = []
        self.resumed = asyncio.Event()
        self.release = asyncio.Event()  # holds /hold until the test lets it go
        add_probe_commands(self)

    async def setup_hook(self) -> None:
        self.add_dynamic_items(CancelButton)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        # discord.py sleeps 5 s before every IDENTIFY but the first (Discord's
        # identify rate limit); the stand-in has no such limit, so skip it here.
        return None

    async def on_socket_event_type(self, event: str) -> None:
        self.events.append(event)

    async def on_message(self, message: discord.Message) -> None:
        self.seen_messages.append(str(message.id))

    async def on_resumed(self) -> None:
        self.resumed.set()


def add_probe_commands(bot: ProbeBot) -> None:
    @bot.tree.command(description="Defer, read the file, edit the answer, follow up with a file")
    async def ping(interaction: discord.Interaction, file: discord.Attachment) -> None:
        await interaction.response.defer()
        data = await file.read()  # fetched from the stand-in's CDN URL
        view = discord.ui.View(timeout=None)
        view.add_item(CancelButton(42))
        await interaction.edit_original_response(content=f"pong {file.filename} {len(data)} bytes", view=view)
        result = await interaction.followup.send(
            "result", file=discord.File(io.BytesIO(b"r" * 1234), "result.txt"), wait=True
        )
        await result.edit(content="result (final)")  # PATCH .../messages/{id}
        original = await interaction.original_response()  # GET .../messages/@original
        bot.originals.append(original.content)

    @bot.tree.command(description="Wait for the test, then answer")
    @app_commands.choices(mode=[app_commands.Choice(name=m, value=m) for m in ("answer", "defer_then_edit")])
    async def hold(interaction: discord.Interaction, mode: str) -> None:
        try:
            if mode == "defer_then_edit":
                await interaction.response.defer()
            await bot.release.wait()
            if mode == "answer":
                await interaction.response.send_message("too late?")
            else:
                await interaction.edit_original_response(content="finally")
        except discord.HTTPException as error:
            bot.errors.append(error)

    @bot.tree.command(description="Answer, then take the answer back")
    async def tidy(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("temporary")
        await interaction.delete_original_response()

    @bot.tree.command(description="Pick a camera move")
    async def camera(interaction: discord.Interaction, move: str) -> None:
        await interaction.response.send_message(f"camera: {move}")

    @camera.autocomplete("move")
    async def camera_moves(interaction: discord.Interaction, typed: str) -> list[app_commands.Choice[str]]:
        moves = ["zoom_in", "zoom_out", "pan_left", "pan_right"]
        return [app_commands.Choice(name=m, value=m) for m in moves if m.startswith(typed)]

    @bot.tree.command(description="Open a modal")
    async def form(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(PromptModal())


@dataclass
class World:
    guild: Guild
    alice: User

    @property
    def general(self) -> Any:
        return self.guild.channel_named("general")


@pytest_asyncio.fixture
async def world(standin: StandIn) -> World:
    alice = standin.create_user("alice")
    guild = await standin.create_guild("Motion Lab", premium_tier=0, channels=["general", "results"], members=[alice])
    return World(guild, alice)


@pytest_asyncio.fixture
async def bot(standin: StandIn, world: World) -> AsyncIterator[ProbeBot]:
    client = ProbeBot()
    async with run_client(client, standin):
        target = discord.Object(world.guild.id)
        client.tree.copy_global_to(guild=target)
        await client.tree.sync(guild=target)
        yield client
    # Anything discord.py asked for that the stand-in lacks would make later scenarios lie.
    assert standin.unhandled == []


# --- connecting ------------------------------------------------------------------


async def test_client_connects_and_receives_ready_and_guild_create(standin: StandIn, world: World) -> None:
    client = ProbeBot()
    async with run_client(client, standin):
        assert client.user is not None and client.user.id == standin.bot_user.id
        assert client.application_id == standin.application_id
        guild = client.get_guild(world.guild.id)
        assert guild is not None and guild.name == "Motion Lab"
        assert guild.premium_tier == 0 and guild.filesize_limit == 10 * MIB
        assert {c.name for c in guild.text_channels} == {"general", "results"}
        assert guild.me is not None and guild.default_role.id == guild.id
        assert client.events[:2] == ["READY", "GUILD_CREATE"]

        session = await standin.wait_for_session()
        connection = session.connection
        assert connection is not None and connection.compress == "zlib-stream"
        assert connection.heartbeats >= 1  # discord.py beats right after HELLO
    # The startup calls discord.py makes, and nothing the stand-in lacks.
    routes = [r.route for r in standin.requests]
    assert "GET /users/@me" in routes and "GET /oauth2/applications/@me" in routes
    assert standin.unhandled == []


async def test_auto_sharded_client_asks_gateway_bot(standin: StandIn, world: World) -> None:
    client = commands.AutoShardedBot(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.1)
    async with run_client(client, standin):
        assert client.shard_count == 1 and client.get_guild(world.guild.id) is not None
    assert standin.requests_to("GET /gateway/bot")


async def test_gateway_speaks_plain_text_and_rejects_a_bad_token(standin: StandIn, world: World) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(standin.gateway_url + "?v=10&encoding=json") as ws:
            hello = await ws.receive_json(timeout=2)
            assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] > 0
            await ws.send_json({"op": 1, "d": None})
            assert (await ws.receive_json(timeout=2))["op"] == 11
            await ws.send_json({"op": 2, "d": {"token": standin.token, "intents": 513, "properties": {}}})
            ready = await ws.receive_json(timeout=2)
            assert ready["t"] == "READY" and ready["s"] == 1
            assert ready["d"]["resume_gateway_url"] == standin.resume_gateway_url
            assert ready["d"]["guilds"] == [{"id": str(world.guild.id), "unavailable": True}]
            guild_create = await ws.receive_json(timeout=2)
            assert guild_create["t"] == "GUILD_CREATE" and guild_create["d"]["premium_tier"] == 0
            # Without the members intent only the bot's own member is sent.
            assert [m["user"]["id"] for m in guild_create["d"]["members"]] == [str(standin.bot_user.id)]

        async with http.ws_connect(standin.gateway_url + "?v=10&encoding=json&compress=zlib-stream") as ws:
            frame = await ws.receive_bytes(timeout=2)
            assert frame.endswith(b"\x00\x00\xff\xff")
            assert json.loads(zlib.decompressobj().decompress(frame))["op"] == 10
            await ws.send_json({"op": 2, "d": {"token": "wrong", "intents": 513, "properties": {}}})
            closing = await ws.receive(timeout=2)
            assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 4004


async def test_rest_answers_are_exact_json_and_need_the_bot_token(standin: StandIn) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{standin.api_base}/users/@me") as response:
            assert response.status == 401
        headers = {"Authorization": f"Bot {standin.token}"}
        async with http.get(f"{standin.api_base}/users/@me", headers=headers) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "application/json"
            for name in ("Limit", "Remaining", "Reset", "Reset-After", "Bucket"):
                assert f"X-RateLimit-{name}" in response.headers


# --- application commands -----------------------------------------------------------


async def test_sync_is_stored_and_every_write_counted(standin: StandIn, world: World, bot: ProbeBot) -> None:
    assert {c["name"] for c in standin.synced_commands(world.guild)} == {"ping", "hold", "tidy", "camera", "form"}
    assert [(w.guild_id, w.method) for w in standin.command_writes] == [(world.guild.id, "PUT")]
    ping = next(c for c in standin.synced_commands(world.guild) if c["name"] == "ping")
    assert ping["options"][0]["type"] == 11  # attachment

    fetched = await bot.tree.fetch_commands(guild=discord.Object(world.guild.id))
    assert {c.name: str(c.id) for c in fetched} == {c["name"]: c["id"] for c in standin.synced_commands(world.guild)}

    # Ids survive an overwrite, and a blind re-sync is still a write the tests can see.
    await bot.tree.sync(guild=discord.Object(world.guild.id))
    assert len(standin.command_writes) == 2
    again = next(c for c in standin.synced_commands(world.guild) if c["name"] == "ping")
    assert again["id"] == ping["id"]

    await bot.tree.sync()  # global
    assert standin.command_writes[-1].guild_id is None
    assert {c["name"] for c in standin.synced_commands()} == {"ping", "hold", "tidy", "camera", "form"}


async def test_invoking_an_unsynced_command_or_option_is_refused(standin: StandIn, world: World, bot: ProbeBot) -> None:
    with pytest.raises(LookupError):
        await standin.invoke("motion", user=world.alice, channel=world.general)
    with pytest.raises(ValueError):
        await standin.invoke("ping", user=world.alice, channel=world.general)  # required file missing
    with pytest.raises(ValueError):
        await standin.invoke("hold", user=world.alice, channel=world.general, options={"mode": "nope"})


# --- interactions ----------------------------------------------------------------


async def test_ping_defers_then_edits_and_follows_up(
    standin: StandIn, world: World, bot: ProbeBot, tmp_path: Path
) -> None:
    image = make_image(tmp_path / "cat.png", width=320, height=240)
    handle = await standin.invoke("ping", user=world.alice, channel=world.general, options={"file": image})

    answer = await handle.first_answer()
    assert answer.accepted and answer.callback_type == 5
    resolved = next(iter(handle.payload["data"]["resolved"]["attachments"].values()))
    assert (resolved["width"], resolved["height"], resolved["content_type"]) == (320, 240, "image/png")
    assert resolved["size"] == image.stat().st_size and resolved["url"].startswith(standin.base_url + "/cdn/")

    assert handle.payload["attachment_size_limit"] == 10 * MIB  # discord.py's Interaction.filesize_limit

    await handle.wait_for("get_original")
    assert [s.kind for s in handle.sent] == ["callback", "edit_original", "followup", "edit_followup", "get_original"]
    assert all(s.accepted for s in handle.sent)
    original = handle.original
    assert original is not None and not original.loading
    assert original.content == f"pong cat.png {image.stat().st_size} bytes"
    assert bot.originals == [original.content]
    assert original.components[0]["components"][0]["custom_id"] == "probe:cancel:42"
    [followup] = handle.followups
    assert followup.content == "result (final)" and followup.edits == 1
    assert [(a.filename, a.size) for a in followup.attachments] == [("result.txt", 1234)]
    assert followup.interaction_metadata["original_response_message_id"] == str(original.id)
    assert [m.id for m in standin.channel_messages(world.general)] == [original.id, followup.id]


async def test_button_click_dispatches_to_the_dynamic_item(standin: StandIn, world: World, bot: ProbeBot) -> None:
    invoked = await standin.invoke(
        "ping", user=world.alice, channel=world.general, options={"file": Upload(b"x", "x.txt")}
    )
    await invoked.wait_for("followup")

    click = await standin.click(invoked.original, "probe:cancel:42", user=world.alice)
    answer = await click.first_answer()
    assert answer.accepted and answer.callback_type == 4
    assert bot.clicks == [(42, world.alice.id)]
    reply = click.original
    assert reply is not None and reply.ephemeral and reply.content == "cancelled job 42"
    assert reply not in standin.channel_messages(world.general)  # only alice sees it

    with pytest.raises(LookupError):
        await standin.click(invoked.original, "probe:cancel:7", user=world.alice)  # not on that message


async def test_modal_submit_reaches_the_modal(standin: StandIn, world: World, bot: ProbeBot) -> None:
    opened = await standin.invoke("form", user=world.alice, channel=world.general)
    assert (await opened.first_answer()).callback_type == 9
    assert opened.modal is not None and opened.modal["title"] == "Describe the motion"

    submitted = await standin.submit_modal(opened, {"prompt": "a cat dancing"})
    answer = await submitted.first_answer()
    assert answer.accepted and [(f.filename, f.size) for f in answer.files] == [("prompt.txt", 13)]
    reply = submitted.original
    assert reply is not None and reply.content == "prompt: a cat dancing"
    assert [a.filename for a in reply.attachments] == ["prompt.txt"]


async def test_autocomplete_returns_the_bots_choices(standin: StandIn, world: World, bot: ProbeBot) -> None:
    handle = await standin.autocomplete(
        "camera", user=world.alice, channel=world.general, options={"move": "zoom"}, focused="move"
    )
    answer = await handle.first_answer()
    assert answer.callback_type == 8
    assert [c["value"] for c in handle.choices or []] == ["zoom_in", "zoom_out"]


async def test_deleting_the_original_response(standin: StandIn, world: World, bot: ProbeBot) -> None:
    handle = await standin.invoke("tidy", user=world.alice, channel=world.general)
    deleted = await handle.wait_for("delete_original")
    assert deleted.status == 204
    assert standin.channel_messages(world.general) == []


async def test_a_late_first_answer_is_unknown_interaction(standin: StandIn, world: World, bot: ProbeBot) -> None:
    handle = await standin.invoke("hold", user=world.alice, channel=world.general, options={"mode": "answer"})
    standin.advance_clock(3.1)  # the handler "took" longer than Discord's 3 seconds
    bot.release.set()

    answer = await handle.first_answer()
    assert (answer.status, answer.error_code) == (404, 10062) and not handle.acknowledged
    await standin.wait_until(lambda: bot.errors, what="the bot's exception")
    assert isinstance(bot.errors[0], discord.NotFound) and bot.errors[0].code == 10062


async def test_editing_after_the_token_expired_is_invalid_webhook_token(
    standin: StandIn, world: World, bot: ProbeBot
) -> None:
    handle = await standin.invoke("hold", user=world.alice, channel=world.general, options={"mode": "defer_then_edit"})
    assert (await handle.first_answer()).accepted
    standin.advance_clock(15 * 60 + 1)
    bot.release.set()

    edit = await handle.wait_for("edit_original")
    assert (edit.status, edit.error_code) == (401, 50027)
    await standin.wait_until(lambda: bot.errors, what="the bot's exception")
    assert bot.errors[0].status == 401 and bot.errors[0].code == 50027
    assert handle.original is not None and handle.original.loading  # still "thinking"


async def test_a_second_callback_is_already_acknowledged(standin: StandIn, world: World, bot: ProbeBot) -> None:
    """As when two bot processes answer the same interaction; discord.py itself
    refuses a second response before it reaches the wire."""
    handle = await standin.invoke("form", user=world.alice, channel=world.general)
    await handle.first_answer()
    url = f"{standin.api_base}/interactions/{handle.id}/{handle.token}/callback"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"type": 5}) as response:
            assert response.status == 400
            assert (await response.json())["code"] == 40060

    standin.expire_interaction(handle)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{standin.api_base}/webhooks/{standin.application_id}/{handle.token}/messages/@original") as response:
            assert response.status == 401 and (await response.json())["code"] == 50027


# --- channel messages -----------------------------------------------------------


async def test_message_with_a_file_is_stored_and_served(standin: StandIn, world: World, bot: ProbeBot) -> None:
    channel = bot.get_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel)
    data = bytes(range(256)) * 40
    sent = await channel.send(
        f"{world.alice.mention} your video is ready", file=discord.File(io.BytesIO(data), "clip.mp4")
    )

    message = await standin.wait_for_message(world.general, lambda m: m.id == sent.id)
    assert message.mentions_user(world.alice.id)
    [attachment] = message.attachments
    assert (attachment.filename, attachment.size, attachment.content_type) == ("clip.mp4", len(data), "video/mp4")
    assert sent.attachments[0].size == len(data)
    assert await sent.attachments[0].read() == data  # discord.py downloads from the CDN URL

    edited = await sent.edit(content="your video is ready (edited)")
    assert message.content == edited.content and message.edits == 1
    assert [a.filename for a in message.attachments] == ["clip.mp4"]  # kept: not listed for removal
    fetched = await channel.fetch_message(sent.id)
    assert fetched.content == edited.content
    assert [m.id async for m in channel.history(limit=10)] == [sent.id]
    assert (await bot.fetch_channel(world.general.id)).name == "general"

    async with aiohttp.ClientSession() as http:
        async with http.get(attachment.url.replace("hm=", "hm=0")) as response:
            assert response.status == 404  # signature checked, as on Discord's CDN
    standin.advance_clock(25 * 3600)
    async with aiohttp.ClientSession() as http:
        async with http.get(attachment.url) as response:
            assert response.status == 404  # CDN links expire after about a day


async def test_a_direct_message_to_a_member(standin: StandIn, world: World, bot: ProbeBot) -> None:
    user = await bot.fetch_user(world.alice.id)
    sent = await user.send("your quota was reset")
    dm = standin.dm_channel(world.alice)
    assert [m.id for m in standin.channel_messages(dm)] == [sent.id]


async def test_file_above_the_guild_limit_is_413_until_the_guild_is_boosted(
    standin: StandIn, world: World, bot: ProbeBot
) -> None:
    channel = bot.get_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel)
    too_big = b"\0" * (10 * MIB + 1)
    with pytest.raises(discord.HTTPException) as caught:
        await channel.send(file=discord.File(io.BytesIO(too_big), "big.mp4"))
    assert (caught.value.status, caught.value.code) == (413, 40005)
    assert standin.channel_messages(world.general) == []

    await standin.set_premium_tier(world.guild, 2)
    await standin.wait_until(lambda: channel.guild.premium_tier == 2, what="GUILD_UPDATE")
    assert channel.guild.filesize_limit == 50 * MIB
    sent = await channel.send(file=discord.File(io.BytesIO(too_big), "big.mp4"))
    assert sent.attachments[0].size == len(too_big)


async def test_a_rate_limited_send_waits_and_posts_once(standin: StandIn, world: World, bot: ProbeBot) -> None:
    channel = bot.get_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel)
    standin.rate_limit(MESSAGES_ROUTE, times=2, retry_after=0.2)

    started = time.monotonic()
    await channel.send("after the storm")
    assert time.monotonic() - started >= 0.4
    assert [r.status for r in standin.requests_to(MESSAGES_ROUTE)] == [429, 429, 200]
    assert [m.content for m in standin.channel_messages(world.general)] == ["after the storm"]


async def test_a_repeated_nonce_returns_the_first_message(standin: StandIn, world: World, bot: ProbeBot) -> None:
    channel = bot.get_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel)
    first = await channel.send("delivered job 7", nonce="job-7")
    again = await channel.send("delivered job 7", nonce="job-7")
    other = await channel.send("delivered job 8", nonce="job-8")

    assert again.id == first.id and other.id != first.id
    messages = standin.channel_messages(world.general)
    assert [(m.content, m.nonce) for m in messages] == [("delivered job 7", "job-7"), ("delivered job 8", "job-8")]


async def test_a_nonce_is_forgotten_after_the_window(standin: StandIn, world: World, bot: ProbeBot) -> None:
    """Discord de-duplicates a nonce only for a few minutes: after that the same post is a new message."""
    channel = bot.get_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel)
    first = await channel.send("delivered job 7", nonce="job-7")
    standin.advance_clock(NONCE_WINDOW - 1)
    assert (await channel.send("delivered job 7", nonce="job-7")).id == first.id
    standin.advance_clock(2)
    late = await channel.send("delivered job 7", nonce="job-7")
    assert late.id != first.id
    assert [m.id for m in standin.channel_messages(world.general)] == [first.id, late.id]


# --- gateway resilience ----------------------------------------------------------


async def test_a_closed_socket_is_resumed_without_losing_events(standin: StandIn, world: World, bot: ProbeBot) -> None:
    session = await standin.wait_for_session()
    await standin.drop_connection(4000)
    # Sent while the client is reconnecting: it must arrive once, replayed or live.
    during = await standin.post_user_message(world.general, world.alice, "while you were away")

    await asyncio.wait_for(bot.resumed.wait(), 5)
    assert session.resumes == 1
    assert session.connection is not None and session.connection.path == "/resume/"
    await standin.wait_until(lambda: str(during.id) in bot.seen_messages, what="the replayed message")
    assert bot.seen_messages.count(str(during.id)) == 1

    # And the resumed connection keeps carrying events.
    handle = await standin.invoke("form", user=world.alice, channel=world.general)
    assert (await handle.first_answer()).callback_type == 9


async def test_reconnect_and_invalid_session(standin: StandIn, world: World, bot: ProbeBot) -> None:
    session = await standin.wait_for_session()
    await standin.request_reconnect()
    await asyncio.wait_for(bot.resumed.wait(), 5)
    assert session.resumes == 1

    await standin.invalidate_session(resumable=False)
    fresh = await standin.wait_until(
        lambda: next((s for s in standin.gateway.live_sessions if s is not session), None), what="a new IDENTIFY"
    )
    # discord.py identifies again on the URL it last used (here the resume URL),
    # so both gateway paths accept IDENTIFY, as Discord's do.
    assert fresh.resumes == 0 and session.invalid
    await standin.wait_until(lambda: bot.events.count("READY") == 2, what="the second READY")
    handle = await standin.invoke("form", user=world.alice, channel=world.general)
    assert (await handle.first_answer()).callback_type == 9


async def test_a_cut_connection_without_close_frame_is_resumed(standin: StandIn, world: World, bot: ProbeBot) -> None:
    session = await standin.wait_for_session()
    await standin.drop_connection(None)
    await asyncio.wait_for(bot.resumed.wait(), 10)
    assert session.resumes == 1


# --- replies, buttons that open upload forms, deleting (h9r) ----------------------------------


class UploadModal(discord.ui.Modal, title="Your photo"):
    """A modal with a file upload inside a label (discord.py 2.7), as the result buttons open."""

    def __init__(self, received: list[tuple[str, int, bytes]]) -> None:
        super().__init__(custom_id="probe:upload")
        self.received = received
        self.photo: discord.ui.FileUpload = discord.ui.FileUpload(custom_id="photo", required=False)
        self.add_item(discord.ui.Label(text="Photo", description="JPG or PNG", component=self.photo))

    async def on_submit(self, interaction: discord.Interaction) -> None:
        for attachment in self.photo.values:
            self.received.append((attachment.filename, attachment.size, await attachment.read()))
        await interaction.response.send_message(f"got {len(self.photo.values)} file(s)", ephemeral=True)


class UploadButton(discord.ui.DynamicItem[discord.ui.Button], template=r"probe:upload:(?P<job>[0-9]+)"):
    received: list[tuple[str, int, bytes]] = []

    def __init__(self, job: int) -> None:
        super().__init__(discord.ui.Button(label="Use this", custom_id=f"probe:upload:{job}"))

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: Any) -> UploadButton:
        return cls(int(match["job"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(UploadModal(self.received))


async def test_a_reply_names_the_message_it_answers_and_fails_on_a_deleted_one(
    standin: StandIn, world: World, bot: ProbeBot
) -> None:
    channel = bot.get_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel)
    first = await channel.send("the original")
    reply = await channel.send("a remix", reference=first)
    stored = standin.message(reply.id)
    assert stored.type == 19 and int(stored.message_reference["message_id"]) == first.id  # type: ignore[index]
    # discord.py sees the replied-to message itself (referenced_message), not only its id.
    assert reply.type is discord.MessageType.reply and reply.reference is not None
    assert isinstance(reply.reference.resolved, discord.Message) and reply.reference.resolved.content == "the original"

    await first.delete()
    with pytest.raises(discord.HTTPException) as refused:
        await channel.send("too late", reference=discord.MessageReference(message_id=first.id, channel_id=channel.id))
    assert refused.value.status == 400 and refused.value.code == 50035
    plain = await channel.send(
        "posted anyway",
        reference=discord.MessageReference(message_id=first.id, channel_id=channel.id, fail_if_not_exists=False),
    )
    assert plain.type is discord.MessageType.default and standin.message(plain.id).message_reference is None
    # The reply made earlier now shows its original as deleted (null), as Discord does.
    assert standin.message(reply.id).payload()["referenced_message"] is None


async def test_a_button_on_a_message_opens_a_modal_whose_file_upload_reaches_the_bot(
    standin: StandIn, world: World, bot: ProbeBot, tmp_path: Path
) -> None:
    bot.add_dynamic_items(UploadButton)
    UploadButton.received.clear()
    channel = bot.get_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel)
    post = await channel.send("a result", view=discord.ui.View(timeout=None).add_item(UploadButton(7)))

    click = await standin.click(post.id, "probe:upload:7", user=world.alice)
    assert (await click.first_answer()).callback_type == 9
    assert click.modal is not None and click.modal["components"][0]["type"] == 18  # a label
    assert click.modal["components"][0]["component"]["type"] == 19  # holding the file upload
    photo = make_image(tmp_path / "me.png", 400, 600)
    submitted = await standin.submit_modal(click, {"photo": Upload(photo, "me.png", "image/png", 400, 600)})
    await submitted.first_answer()
    assert submitted.original is not None and submitted.original.content == "got 1 file(s)"
    assert UploadButton.received == [("me.png", photo.stat().st_size, photo.read_bytes())]

    empty = await standin.click(post.id, "probe:upload:7", user=world.alice)
    await empty.first_answer()
    nothing = await standin.submit_modal(empty, {})  # an optional upload left empty
    await nothing.first_answer()
    assert nothing.original is not None and nothing.original.content == "got 0 file(s)"


async def test_deleting_someone_elses_message_needs_manage_messages(standin: StandIn, world: World, bot: ProbeBot) -> None:
    theirs = await standin.post_user_message(world.general, world.alice, "hello")
    channel = bot.get_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel)
    await channel.get_partial_message(theirs.id).delete()  # the bot has Manage Messages here
    assert theirs.deleted

    strict = await standin.create_guild("Strict", channels=["general"], members=[world.alice], bot_permissions=0)
    other = await standin.post_user_message(strict.channel_named("general"), world.alice, "hi")
    await standin.wait_until(lambda: bot.get_channel(strict.channel_named("general").id), 5, "the new guild")
    partial = bot.get_partial_messageable(strict.channel_named("general").id).get_partial_message(other.id)
    with pytest.raises(discord.Forbidden) as refused:
        await partial.delete()
    assert refused.value.code == 50013 and not other.deleted
    own = await partial.channel.send("mine")
    await own.delete()  # its own messages, always
    assert standin.message(own.id).deleted


async def test_two_sharded_clients_each_get_only_their_shards_guilds_and_interactions(standin: StandIn) -> None:
    """Several bot processes: each runs some of the shards (explicit shard ids); a guild's events
    and interactions go to the session of shard (guild_id >> 22) % shard_count only."""
    member = standin.create_user("member")
    guilds: dict[int, Guild] = {}
    while len(guilds) < 2:
        guild = await standin.create_guild(f"G{len(standin.guilds)}", channels=["general"], members=[member])
        guilds.setdefault((guild.id >> 22) % 2, guild)
        await asyncio.sleep(0.002)
    heard: list[tuple[int, int]] = []  # (shard the client runs, guild it heard from)

    def sharded(shard: int) -> commands.AutoShardedBot:
        client = commands.AutoShardedBot(
            command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.1, shard_count=2, shard_ids=[shard]
        )

        @client.tree.command(description="Say which shard answered")
        async def where(interaction: discord.Interaction) -> None:
            heard.append((shard, interaction.guild_id or 0))
            await interaction.response.send_message(f"shard {interaction.guild.shard_id if interaction.guild else '?'}")

        return client

    async with run_client(sharded(0), standin) as first, run_client(sharded(1), standin) as second:
        assert {g.id for g in first.guilds} == {g.id for g in standin.guilds.values() if (g.id >> 22) % 2 == 0}
        assert {g.id for g in second.guilds} == {g.id for g in standin.guilds.values() if (g.id >> 22) % 2 == 1}
        await first.tree.sync()
        for shard in (1, 0):
            handle = await standin.invoke("where", user=member, channel=guilds[shard].channel_named("general"))
            answer = await handle.first_answer(timeout=10)
            assert answer.accepted and handle.original is not None and handle.original.content == f"shard {shard}"
    assert heard == [(1, guilds[1].id), (0, guilds[0].id)]
    assert sorted(s.shard for s in standin.gateway.sessions.values()) == [(0, 2), (1, 2)]
