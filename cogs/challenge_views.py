"""What a motion challenge looks like in Discord: the card with **Join with my photo**, the join
form (a modal with a file upload), each entry in the thread with **Vote**, and the results post.

The buttons carry their challenge or entry in the custom id (DynamicItem), so they keep working
after a restart; the core (bot/challenges.py) says whether the challenge is still open.
Public posts use the server's language as it was when the challenge started; answers to a
member use theirs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord

from bot.challenges import AlreadyVoted, Challenges
from bot.discord_text import job_marker
from bot.discord_tree import (
    GenerationItem,
    ReportedItem,
    ReportedModal,
    answer_privately,
    answers,
    asker_for,
    refusal_text,
    requester_for,
    say,
)
from bot.errors import DeliveryTooLarge, Refusal
from bot.i18n import Text
from bot.store import ChallengeRow, EntryRow, JobRow
from cogs.motion import cancel_view, incoming

if TYPE_CHECKING:
    from bot.discord_bot import MotionBot

JOB_ID = r"(?P<job_id>[0-9a-f]{12})"


def service(interaction: discord.Interaction) -> Challenges:
    return interaction.client.challenges  # type: ignore[attr-defined,no-any-return]


def jump_url(guild_id: int | None, channel_id: int | None, message_id: int | None) -> str:
    return f"https://discord.com/channels/{guild_id or '@me'}/{channel_id}/{message_id}"


def check_can_post_entries(interaction: discord.Interaction) -> None:
    """The bot may post videos in the challenge's thread (checked before anything is spent)."""
    perms = interaction.app_permissions
    if not (perms.send_messages_in_threads and perms.attach_files):
        raise Refusal(Text("The bot may not post videos in this challenge's thread; ask an admin to let it."))


# --- the card -----------------------------------------------------------------------------------


def card_content(challenge: ChallengeRow, entries: int) -> str:
    locale = challenge.locale
    ends = int(challenge.ends_at)
    payer = (
        Text("The server's budget pays for every entry.")
        if challenge.charge == "server"
        else Text("Each entry is charged to the member who joins.")
    )
    lines = [
        Text("🎬 **Motion challenge: {title}**", title=challenge.title).render(locale),
        Text(
            "Started by <@{user}>. Join with your own photo and your character does the motion of this clip. "
            "One entry per member. Vote for your favourites in the thread (not for your own).",
            user=challenge.started_by,
        ).render(locale),
        payer.render(locale),
    ]
    if challenge.is_open:
        lines.append(Text("Ends <t:{ends}:R> (<t:{ends}:f>). Entries: {entries}", ends=ends, entries=entries).render(locale))
    else:
        results = jump_url(challenge.guild_id, challenge.channel_id, challenge.results_message_id)
        over = Text("🏁 This challenge is over. Entries: {entries}.", entries=entries).render(locale)
        if challenge.results_message_id:
            over += " " + Text("Results: {link}", link=results).render(locale)
        lines.append(over)
    return "\n".join(lines)


def card_view(challenge: ChallengeRow) -> discord.ui.View:
    # The button stays after the end: a late click is answered "this challenge is over".
    label = Text("Join with my photo", msgctxt="button").render(challenge.locale)
    return discord.ui.View(timeout=None).add_item(JoinButton(challenge.id, label=label))


class JoinButton(GenerationItem, discord.ui.DynamicItem[discord.ui.Button], template=r"chl:join:(?P<challenge_id>[0-9]+)"):
    """Join with my photo: checks, then the join form."""

    gate_action = "challenge"

    def __init__(self, challenge_id: int, label: str | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                label=label or "Join with my photo", style=discord.ButtonStyle.primary, custom_id=f"chl:join:{challenge_id}"
            )
        )
        self.challenge_id = challenge_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]) -> JoinButton:
        return cls(int(match["challenge_id"]), label=item.label)

    async def callback(self, interaction: discord.Interaction) -> None:
        challenge = await service(interaction).check_can_join(self.challenge_id, interaction.user.id)
        check_can_post_entries(interaction)
        modal = JoinModal(challenge.id, interaction.locale)
        modal.stop()  # never held in memory: `on_join_form` answers every submit from its custom id
        await interaction.response.send_modal(modal)


FORM_ID = re.compile(r"chl:form:(?P<challenge_id>[0-9]+)")


class JoinModal(ReportedModal):
    """The join form: one photo. Its result is an ordinary job posted in the thread. The form is
    answered from its custom id (`on_join_form`), so one opened before a restart still works."""

    def __init__(self, challenge_id: int, locale: object) -> None:
        title = Text("Join the challenge", msgctxt="button").render(locale)
        super().__init__(title=title[:45], custom_id=f"chl:form:{challenge_id}", timeout=None)
        self.challenge_id = challenge_id
        # Not required: an app that cannot show uploads sends the form without it (then: the command).
        self.photo = discord.ui.FileUpload(custom_id="photo", required=False, max_values=1)
        self.add_item(
            discord.ui.Label(
                text=Text("Your photo", msgctxt="button").render(locale)[:45],
                description=Text("A clear photo or drawing showing the head and body (JPG or PNG)").render(locale)[:100],
                component=self.photo,
            )
        )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        if not self.photo.values:
            text = Text("Your Discord app cannot show the upload form. Update it, or use /challenge join with your photo.")
            await answer_privately(interaction, say(text, interaction.locale))
            return
        await join_with(interaction, self.challenge_id, self.photo.values[0])


async def on_join_form(interaction: discord.Interaction) -> None:
    """A join form sent back, rebuilt from its custom id (discord.py keeps modals only in memory)."""
    if interaction.type is not discord.InteractionType.modal_submit:
        return
    data: dict[str, Any] = interaction.data or {}  # type: ignore[assignment]
    match = FORM_ID.fullmatch(str(data.get("custom_id", "")))
    if match is None:
        return
    modal = JoinModal(int(match["challenge_id"]), interaction.locale)
    modal.stop()
    await modal._dispatch_submit(interaction, data.get("components", []), data.get("resolved", {}))


async def join_with(interaction: discord.Interaction, challenge_id: int, photo: discord.Attachment | None) -> None:
    """The join, from the form or from /challenge join: private status, result in the thread."""
    bot: MotionBot = interaction.client  # type: ignore[assignment]
    challenges = service(interaction)
    if photo is None:
        raise Refusal(Text("Add a photo to join."))
    image = incoming(photo)
    await challenges.precheck_photo(interaction.guild_id, image)
    await interaction.response.defer(ephemeral=True, thinking=True)
    requester = requester_for(interaction)
    # An almost right photo raises FixOffered: report_error shows the fix button (cogs/fixes.py);
    # its job still goes to the thread.
    entry = await challenges.join(challenge_id, requester, image, asker_for(interaction, "challenge"))
    payer = Text("the server's budget") if entry.challenge.charge == "server" else Text("you")
    text = Text(
        "You joined **{title}**. Your entry costs {credits} credits ({price}), paid by {payer}. "
        "It will be posted in the challenge's thread: {thread}",
        title=entry.challenge.title, credits=entry.price.credits, price=entry.price.explain(), payer=payer,
        thread=f"<#{entry.challenge.thread_id}>",
    )
    place = await challenges.place_text(entry.job.id)
    content = say(text, interaction.locale) + (f"\n{say(place, interaction.locale)}" if place else "")
    await interaction.edit_original_response(
        content=f"{content}\n{job_marker(entry.job.id, interaction.locale)}",
        view=cancel_view(entry.job.id, interaction.locale),
    )
    bot.notifier.track(entry.job.id, interaction)


# --- entries and votes ------------------------------------------------------------------------


class VoteButton(ReportedItem, discord.ui.DynamicItem[discord.ui.Button], template=rf"chl:vote:{JOB_ID}"):
    """Vote for an entry: once per member, never your own; changeable while the challenge is open."""

    def __init__(self, job_id: str, label: str | None = None) -> None:
        super().__init__(
            discord.ui.Button(label=label or "Vote", emoji="⭐", style=discord.ButtonStyle.secondary, custom_id=f"chl:vote:{job_id}")
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]) -> VoteButton:
        return cls(match["job_id"], label=item.label)

    async def callback(self, interaction: discord.Interaction) -> None:
        votes = await service(interaction).vote(self.job_id, interaction.user.id)  # a repeat: `offer_unvote`
        text = Text("Vote counted. This entry has {count} vote.", plural="Vote counted. This entry has {count} votes.", count=votes)
        await answer_privately(interaction, f"⭐ {say(text, interaction.locale)}")


class UnvoteButton(ReportedItem, discord.ui.DynamicItem[discord.ui.Button], template=rf"chl:unvote:{JOB_ID}"):
    """Take my vote back (on the private answer to a repeated vote)."""

    def __init__(self, job_id: str, label: str | None = None) -> None:
        super().__init__(
            discord.ui.Button(label=label or "Take my vote back", style=discord.ButtonStyle.secondary, custom_id=f"chl:unvote:{job_id}")
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]) -> UnvoteButton:
        return cls(match["job_id"], label=item.label)

    async def callback(self, interaction: discord.Interaction) -> None:
        votes = await service(interaction).unvote(self.job_id, interaction.user.id)
        text = Text(
            "Your vote was taken back. This entry has {count} vote now.",
            plural="Your vote was taken back. This entry has {count} votes now.", count=votes,
        )
        await interaction.response.edit_message(content=say(text, interaction.locale), view=None)


@answers(AlreadyVoted)
async def offer_unvote(interaction: discord.Interaction, repeated: AlreadyVoted) -> None:
    """A repeated vote: said privately, with the button that takes it back."""
    label = Text("Take my vote back", msgctxt="button").render(interaction.locale)
    view = discord.ui.View(timeout=None).add_item(UnvoteButton(repeated.job_id, label=label))
    await answer_privately(interaction, f"❌ {say(refusal_text(repeated), interaction.locale)}", view=view)


class DiscordChallengePoster:
    """The core's `ChallengePoster`, and the poster of entries into the thread."""

    def __init__(self, bot: MotionBot) -> None:
        self.bot = bot

    async def post_card(self, channel: discord.abc.Messageable, challenge: ChallengeRow, upload_limit: int) -> discord.Message:
        clip = Path(challenge.clip_path)
        files = [discord.File(clip, filename=f"challenge-{challenge.id}{clip.suffix}")] if clip.stat().st_size <= upload_limit else []
        return await channel.send(
            card_content(challenge, 0), files=files, view=card_view(challenge),
            allowed_mentions=discord.AllowedMentions.none(), nonce=f"chl-card-{challenge.id}",
        )

    async def update_card(self, challenge: ChallengeRow, entries: int) -> None:
        assert challenge.card_message_id is not None
        channel = self.bot.get_partial_messageable(challenge.channel_id, guild_id=challenge.guild_id)
        await channel.get_partial_message(challenge.card_message_id).edit(
            content=card_content(challenge, entries), view=card_view(challenge)
        )

    async def post_results(self, challenge: ChallengeRow, winners: list[EntryRow]) -> int | None:
        locale = challenge.locale
        lines = [Text("🏆 **{title}** is over!", title=challenge.title).render(locale)]
        if not winners:
            lines.append(Text("No entries were posted.").render(locale))
        for rank, entry in enumerate(winners, start=1):
            votes = Text("{count} vote", plural="{count} votes", count=entry.votes).render(locale)
            link = jump_url(challenge.guild_id, challenge.thread_id, entry.message_id)
            lines.append(f"{rank}. <@{entry.user_id}> · {votes} · {link}")
        channel = self.bot.get_partial_messageable(challenge.channel_id, guild_id=challenge.guild_id)
        reference = (
            discord.MessageReference(message_id=challenge.card_message_id, channel_id=challenge.channel_id, fail_if_not_exists=False)
            if challenge.card_message_id
            else None
        )
        message = await channel.send(
            "\n".join(lines),
            nonce=f"chl-end-{challenge.id}",
            reference=reference,  # type: ignore[arg-type]
            allowed_mentions=discord.AllowedMentions(users=[discord.Object(e.user_id) for e in winners], roles=False, everyone=False),
        )
        return message.id

    async def post_entry(self, job: JobRow, video: Path | None, link: str | None) -> discord.Message | None:
        """A challenge entry's video, in the thread with Vote; None for any other job (or when the
        thread is gone: then the usual delivery takes over)."""
        challenges: Challenges | None = getattr(self.bot, "challenges", None)
        if challenges is None or job.channel_id is None:
            return None
        entry = await challenges.entry_of(job)
        if entry is None:
            return None
        challenge = await challenges.store.get_challenge(entry.challenge_id)
        assert challenge is not None
        locale = challenge.locale
        content = Text("<@{user}>'s entry for **{title}**", user=job.user_id, title=challenge.title).render(locale)
        if link:
            content += "\n" + Text("It is too large to attach here, so here is a link: {link}", link=link).render(locale)
        view = discord.ui.View(timeout=None).add_item(VoteButton(job.id, label=Text("Vote", msgctxt="button").render(locale)))
        thread = self.bot.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
        file = discord.File(video, filename=f"entry-{job.id}.mp4") if video is not None else discord.utils.MISSING
        try:
            message = await thread.send(
                content, file=file, view=view, nonce=f"job-{job.id}",
                allowed_mentions=discord.AllowedMentions(users=[discord.Object(job.user_id)], roles=False, everyone=False),
            )
        except discord.HTTPException as exc:
            if exc.status == 413 or exc.code == 40005:
                raise DeliveryTooLarge() from exc
            if exc.status in (403, 404):
                return None  # the thread is gone or closed to the bot: the usual delivery (DM) takes over
            raise
        await challenges.entry_posted(job.id, message.id)
        return message
