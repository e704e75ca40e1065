"""Threads in the Discord stand-in, against the real discord.py client: a bot opens a thread on
its own message, posts in it, members click buttons on messages in the thread, and a client that
connects later finds the thread in GUILD_CREATE. Missing permissions and locked threads answer
as Discord does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest
import pytest_asyncio
from discord.ext import commands

from tests.discord_standin import Guild, StandIn, User, run_client
from tests.discord_standin.state import CREATE_PUBLIC_THREADS, SEND_MESSAGES_IN_THREADS


class PokeButton(discord.ui.DynamicItem[discord.ui.Button], template=r"poke:(?P<n>[0-9]+)"):
    def __init__(self, n: int) -> None:
        super().__init__(discord.ui.Button(label="Poke", custom_id=f"poke:{n}"))
        self.n = n

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: Any) -> PokeButton:
        return cls(int(match["n"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: ThreadBot = interaction.client  # type: ignore[assignment]
        bot.pokes.append((self.n, interaction.user.id, interaction.channel))
        await interaction.response.send_message(f"poked {self.n}", ephemeral=True)


class ThreadBot(commands.Bot):
    def __init__(self) -> None:
        super().__init__(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.1)
        self.pokes: list[tuple[int, int, Any]] = []
        self.errors: list[discord.HTTPException] = []

    async def setup_hook(self) -> None:
        self.add_dynamic_items(PokeButton)

        @self.tree.command(description="Post a card, open a thread on it, post in the thread")
        async def card(interaction: discord.Interaction) -> None:
            await interaction.response.defer(ephemeral=True)
            assert isinstance(interaction.channel, discord.TextChannel)
            try:
                message = await interaction.channel.send("card", view=discord.ui.View(timeout=None).add_item(PokeButton(1)))
                thread = await message.create_thread(name="card thread", auto_archive_duration=1440)
                await thread.send("inside", view=discord.ui.View(timeout=None).add_item(PokeButton(2)))
            except discord.HTTPException as error:
                self.errors.append(error)
                await interaction.edit_original_response(content=f"failed {error.status} {error.code}")
                return
            await interaction.edit_original_response(content=f"thread {thread.id}")

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return None


@pytest_asyncio.fixture
async def guild(standin: StandIn) -> Guild:
    alice = standin.create_user("alice")
    return await standin.create_guild("Threads", channels=["general"], members=[alice])


def member(standin: StandIn, guild: Guild, name: str) -> User:
    return next(m.user for m in guild.members.values() if m.user.username == name)


@pytest_asyncio.fixture
async def bot(standin: StandIn, guild: Guild) -> AsyncIterator[ThreadBot]:
    client = ThreadBot()
    async with run_client(client, standin):
        target = discord.Object(guild.id)
        client.tree.copy_global_to(guild=target)
        await client.tree.sync(guild=target)
        yield client
    assert standin.unhandled == []


async def test_a_thread_on_a_message_carries_posts_and_clicks(standin: StandIn, guild: Guild, bot: ThreadBot) -> None:
    general = guild.channel_named("general")
    alice = member(standin, guild, "alice")
    handle = await standin.invoke("card", user=alice, channel=general)
    await handle.wait_for("edit_original", lambda s: s.accepted)
    card = next(m for m in standin.channel_messages(general) if m.content == "card")
    thread = standin.thread_of(card)
    assert thread is not None and thread.id == card.id and thread.parent_id == general.id and thread.name == "card thread"
    assert handle.original is not None and handle.original.content == f"thread {thread.id}"
    [inside] = standin.channel_messages(thread)
    assert inside.content == "inside" and inside not in standin.channel_messages(general)
    assert thread.message_count == 1
    # The client learnt of the thread over the gateway (THREAD_CREATE).
    known = bot.get_guild(guild.id).get_thread(thread.id)  # type: ignore[union-attr]
    assert known is not None and known.parent_id == general.id

    click = await standin.click(inside, "poke:2", user=alice)
    answer = await click.first_answer()
    assert answer.accepted and click.original is not None and click.original.ephemeral
    assert click.original.channel_id == thread.id  # the answer is in the thread, privately
    [(n, user_id, channel)] = bot.pokes
    assert (n, user_id) == (2, alice.id)
    assert isinstance(channel, discord.Thread) and channel.id == thread.id and channel.parent_id == general.id


async def test_a_later_client_finds_the_thread_in_guild_create(standin: StandIn, guild: Guild, bot: ThreadBot) -> None:
    general = guild.channel_named("general")
    handle = await standin.invoke("card", user=member(standin, guild, "alice"), channel=general)
    await handle.wait_for("edit_original", lambda s: s.accepted)
    thread = standin.thread_of(next(m for m in standin.channel_messages(general) if m.content == "card"))
    assert thread is not None
    await bot.close()
    later = ThreadBot()  # as after a restart: nothing but GUILD_CREATE tells it about the thread
    async with run_client(later, standin):
        found = later.get_guild(guild.id).get_thread(thread.id)  # type: ignore[union-attr]
        assert found is not None and found.name == "card thread"


async def test_opening_a_thread_twice_or_without_permission_is_refused(standin: StandIn, guild: Guild, bot: ThreadBot) -> None:
    general = guild.channel_named("general")
    alice = member(standin, guild, "alice")
    for role in guild.roles.values():  # nobody may open threads: Discord answers 403 / 50013
        role.permissions &= ~CREATE_PUBLIC_THREADS
    handle = await standin.invoke("card", user=alice, channel=general)
    await handle.wait_for("edit_original", lambda s: s.accepted)
    assert [(e.status, e.code) for e in bot.errors] == [(403, 50013)]

    for role in guild.roles.values():
        role.permissions |= CREATE_PUBLIC_THREADS
    card = next(m for m in standin.channel_messages(general) if m.content == "card")
    channel = bot.get_channel(general.id)
    assert isinstance(channel, discord.TextChannel)
    first = await channel.get_partial_message(card.id).create_thread(name="one")
    with pytest.raises(discord.HTTPException) as again:
        await channel.get_partial_message(card.id).create_thread(name="two")
    assert again.value.code == 160004
    # Locked: the bot's post is refused; without Send Messages in Threads: 403.
    await first.edit(locked=True)
    with pytest.raises(discord.HTTPException) as locked:
        await first.send("hello")
    assert locked.value.code == 50083
    await first.edit(locked=False)
    for role in guild.roles.values():
        role.permissions &= ~SEND_MESSAGES_IN_THREADS
    with pytest.raises(discord.Forbidden):
        await first.send("hello")
