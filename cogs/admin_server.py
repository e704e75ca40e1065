"""/admin provider, /admin job, /admin sync: which provider a server uses, one job's details, the owner's sync."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.errors import Refusal
from bot.i18n import AndList, Text, translate
from bot.pricing import PRICE_TABLE, animate_price_lines
from cogs.admin_common import ADMIN

if TYPE_CHECKING:
    from bot.discord_bot import MotionBot


async def is_owner(interaction: discord.Interaction) -> bool:
    return await interaction.client.is_owner(interaction.user)  # type: ignore[attr-defined]


class AdminServerCommands:
    bot: MotionBot

    @ADMIN.command(name="provider", description="Show or choose the video service this server uses")
    @app_commands.describe(name="A configured provider; leave empty to see the current one and the choices")
    async def provider(self, interaction: discord.Interaction, name: str | None = None) -> None:
        core = self.bot.core
        assert interaction.guild_id is not None
        if name:
            if name not in core.providers:
                raise Refusal(Text("{name} is not configured. Configured: {names}.", name=name, names=", ".join(sorted(core.providers))))
            await core.set_guild_provider(interaction.guild_id, name, interaction.user.id)
        current = await core.provider_for(interaction.guild_id)
        locale = interaction.locale
        using = Text("Now using **{provider}** for videos in this server.", provider=current) if name else Text(
            "Using **{provider}** for videos in this server.", provider=current
        )
        lines = [using.render(locale)]
        for provider_name in sorted(core.providers):
            caps = core.providers[provider_name].capabilities
            rates = ", ".join(
                f"{row.mode} {row.credits_per_second}/s" for row in PRICE_TABLE if row.provider == provider_name
            )
            extras = [
                label
                for label, on in ((Text("keeps sound"), caps.keep_sound), (Text("motion templates"), caps.motion_templates))
                if on
            ]
            marker = "→ " if provider_name == current else "• "  # marks, not words
            line = (
                Text("`{provider}`: credits {rates}; {extras}", provider=provider_name, rates=rates, extras=AndList(extras))
                if extras
                else Text("`{provider}`: credits {rates}", provider=provider_name, rates=rates)
            )
            lines.append(marker + line.render(locale))
            lines += ["  " + animate.render(locale) for animate in animate_price_lines(provider_name)]
        await interaction.response.send_message("\n".join(lines), ephemeral=True)

    @provider.autocomplete("name")
    async def provider_names(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=n, value=n) for n in sorted(self.bot.core.providers) if current.lower() in n][:25]

    @ADMIN.command(name="job", description="Details of one video job: state, provider answers, errors, credits")
    @app_commands.describe(job_id="The id shown under the job's status message")
    async def job(self, interaction: discord.Interaction, job_id: str) -> None:
        core = self.bot.core
        job = await core.store.get_job(job_id.strip().strip("`"))
        # Admins see their own server's jobs; only the bot owner sees any job.
        if job is None or (job.guild_id != interaction.guild_id and not await is_owner(interaction)):
            raise Refusal(Text("No job `{job_id}` in this server.", job_id=job_id))
        events = await core.store.job_events(job.id)
        ledger = await core.store.ledger_for_job(job.id)
        options = job.request.get("options") or {}
        # States, ledger kinds and the provider's words stay as the logs and the provider write them.
        lines = [
            Text(
                "**Job `{job_id}`**: {state}, by {user} in {channel}",
                job_id=job.id, state=job.state.value, user=f"<@{job.user_id}>", channel=f"<#{job.channel_id}>",
            ),
            Text(
                "Provider: {provider}, task `{task}`, last status `{status}`, provider cost {cost}",
                provider=job.provider, task=job.provider_task_id or "—", status=job.provider_status or "—",
                cost=job.provider_cost or "—",
            ),
            Text(
                "Options: {mode}, orientation={orientation}, {seconds} s, price {price} credits",
                mode=options.get("mode"), orientation=options.get("orientation"),
                seconds=f"{job.request.get('video_seconds', 0):.1f}", price=job.price,
            ),
            Text("Credits: {entries}", entries=", ".join(f"{kind} {amount}" for kind, amount in ledger) or Text("none")),
            Text("History: {states}", states=" → ".join(to for _, to, _ in events)),
        ]
        if job.error_kind:
            lines.append(Text("Error: {error}", error=job.error_detail or job.error_message))
        notes = [note for _, _, note in events if note]
        if notes:
            lines.append(Text("Notes: {notes}", notes="; ".join(notes)))
        await interaction.response.send_message(
            "\n".join(line.render(interaction.locale) for line in lines)[:2000],
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    @ADMIN.command(name="sync", description="Push the slash commands to Discord now (bot owner only)")
    @app_commands.check(is_owner)
    async def sync(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.bot.sync_commands(force=True)
        await interaction.edit_original_response(content=translate("Slash commands synced.", interaction.locale))
