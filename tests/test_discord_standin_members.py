"""The stand-in's roles, default member permissions, age-restricted channels and member languages,
against the real discord.py client (the probe bot of test_discord_standin.py)."""

from __future__ import annotations

import discord
import pytest
from discord import app_commands

from tests.discord_standin import MANAGE_GUILD, CommandNotPermitted, StandIn
from tests.test_discord_standin import ProbeBot, World, bot, world  # noqa: F401  (fixtures)


async def add_and_sync(bot: ProbeBot, world: World, command: app_commands.Command | app_commands.Group) -> None:  # noqa: F811
    bot.tree.add_command(command, guild=discord.Object(world.guild.id))
    await bot.tree.sync(guild=discord.Object(world.guild.id))


async def test_default_member_permissions_are_enforced_as_discord_does(
    standin: StandIn, world: World, bot: ProbeBot  # noqa: F811
) -> None:
    seen: list[tuple[int, tuple[int, ...]]] = []

    @app_commands.command(name="settings", description="Managers only")
    @app_commands.default_permissions(manage_guild=True)
    async def settings(interaction: discord.Interaction) -> None:
        roles = tuple(role.id for role in getattr(interaction.user, "roles", ()) if not role.is_default())
        seen.append((interaction.user.id, roles))
        await interaction.response.send_message("ok", ephemeral=True)

    await add_and_sync(bot, world, settings)
    synced = next(c for c in standin.synced_commands(world.guild) if c["name"] == "settings")
    assert synced["default_member_permissions"] == str(MANAGE_GUILD)

    with pytest.raises(CommandNotPermitted):
        await standin.invoke("settings", user=world.alice, channel=world.general)

    managers = await standin.create_role(world.guild, "managers", MANAGE_GUILD)
    bob = standin.create_user("bob")
    await standin.add_member(world.guild, bob, roles=[managers])
    handle = await standin.invoke("settings", user=bob, channel=world.general)
    assert (await handle.first_answer()).accepted
    owner = await standin.invoke("settings", user=standin.owner, channel=world.general)  # the server's owner
    assert (await owner.first_answer()).accepted
    assert seen[0] == (bob.id, (managers.id,))  # the member's roles reach the bot


async def test_age_restricted_channels_and_member_language_reach_the_bot(
    standin: StandIn, world: World, bot: ProbeBot  # noqa: F811
) -> None:
    seen: list[tuple[bool, str]] = []

    @app_commands.command(name="where", description="Report the channel and language")
    async def where(interaction: discord.Interaction) -> None:
        seen.append((bool(getattr(interaction.channel, "nsfw", False)), str(interaction.locale)))
        await interaction.response.send_message("ok", ephemeral=True)

    await add_and_sync(bot, world, where)
    adults = await standin.create_channel(world.guild, "adults", nsfw=True)
    world.alice.locale = "zh-CN"
    for channel in (world.general, adults):
        handle = await standin.invoke("where", user=world.alice, channel=channel)
        await handle.first_answer()
    assert seen == [(False, "zh-CN"), (True, "zh-CN")]
