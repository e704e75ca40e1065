"""The floor for bench_interactions.py: a bare discord.py bot whose /motion only defers.

Same client library, same intents, the same /motion options (so discord.py parses the same
payload), one process of its own like the real bot; it answers every /motion with the
ephemeral deferral and does nothing else. Started by the benchmark with DISCORD_TOKEN and
DISCORD_API_BASE_URL (the stand-in), like `python -m bot`.
"""

from __future__ import annotations

import asyncio
import os

import discord
import yarl
from discord import app_commands


class BareBot(discord.Client):
    def __init__(self) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(intents=intents)
        self.tree = app_commands.CommandTree(self)

        @self.tree.command(name="motion", description="Only defers")
        @app_commands.choices(
            orientation=[app_commands.Choice(name="video", value="video"), app_commands.Choice(name="image", value="image")],
            mode=[app_commands.Choice(name="std", value="std"), app_commands.Choice(name="pro", value="pro")],
        )
        async def motion(
            interaction: discord.Interaction,
            image: discord.Attachment,
            video: discord.Attachment | None = None,
            template: str | None = None,
            prompt: str | None = None,
            orientation: str = "video",
            mode: str = "std",
            keep_sound: bool = False,
        ) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)

    async def setup_hook(self) -> None:
        _, url, _ = await self.http.get_bot_gateway()
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        await self.tree.sync()


def main() -> None:
    discord.http.Route.BASE = f"{os.environ['DISCORD_API_BASE_URL'].rstrip('/')}/api/v10"
    bot = BareBot()

    async def runner() -> None:
        async with bot:
            await bot.start(os.environ["DISCORD_TOKEN"])

    asyncio.run(runner())


if __name__ == "__main__":
    main()
