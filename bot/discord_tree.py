"""The Discord side of the generation gate, and the one place interaction errors are answered.

- `GenerationTree` (MotionBot's `tree_cls`): every slash command marked
  `extras={"generation": True}` passes `core.gate` (bot/gate.py) before its callback runs, so
  before anything is deferred, downloaded or spent. Its `on_error` answers every command error.
- `asker_for(interaction, action, texts)`: the gate's view of an interaction, for any code that
  has to ask the gate itself.
- `GenerationItem`: a mixin for buttons, selects (DynamicItem) that start or pay for a
  generation: `class MakeIt(GenerationItem, discord.ui.DynamicItem[discord.ui.Button], template=...)`
  with `gate_action = "animate"` passes the same gate. `ReportedItem` (its base) only routes
  callback errors to `report_error`; `ReportedView` / `ReportedModal` do the same for views and modals.
- `report_error(interaction, error)`: a refusal or provider error answered privately in the
  member's language; anything unexpected logged with its traceback under a short error id that
  the member also sees. A refusal that carries more than a sentence (a fix offer with its button)
  is rendered by the cog that owns it, registered with `@answers(ErrorClass)`: bot/ never imports
  cogs, and no cog catches it again.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ClassVar, TypeVar

import discord
from discord import app_commands

from bot.errors import ProviderError, Refusal, StoreBusy
from bot.gate import Asker
from bot.i18n import Text
from bot.models import Requester

log = logging.getLogger(__name__)

# Options whose values a member types and that reach a provider or a channel; a command may name
# others with extras={"generation": True, "gate_texts": ("caption",)}.
TEXT_OPTIONS = ("prompt", "negative_prompt", "title")
# An error answer quotes refusals that may name a member or a role: it never pings them.
NO_PINGS = discord.AllowedMentions.none()


def say(message: object, locale: object) -> str:
    """A catalogue Text in the reader's language; anything else as it is."""
    render = getattr(message, "render", None)
    return render(locale) if callable(render) else str(message)


def _channel_nsfw(interaction: discord.Interaction) -> bool:
    """Age-restricted channel; a thread is as restricted as its parent (Thread.is_nsfw asks it)."""
    channel = interaction.channel
    is_nsfw = getattr(channel, "is_nsfw", None)
    if callable(is_nsfw):
        return bool(is_nsfw())
    return bool(getattr(channel, "nsfw", False))


def role_ids_of(user: object) -> tuple[int, ...]:
    """A member's roles (their allowance depends on them), without @everyone; none outside a server."""
    roles = getattr(user, "roles", None) or ()  # a Member; a User (DM) has none
    return tuple(role.id for role in roles if not role.is_default())


def bot_can_post(interaction: discord.Interaction) -> bool:
    """The bot may post a video where this interaction happened (Discord sends the bot's own
    permissions in the channel with every interaction: no extra request)."""
    if interaction.guild_id is None:
        return True
    perms = interaction.app_permissions
    in_thread = isinstance(interaction.channel, discord.Thread)
    can_send = perms.send_messages_in_threads if in_thread else perms.send_messages
    return bool(can_send and perms.attach_files)


def asker_for(interaction: discord.Interaction, action: str, texts: Iterable[str | None] = ()) -> Asker:
    """Who asks (user, roles), where (guild, channel, age restriction, whether the bot may post
    there), for what, with which typed text."""
    locale = getattr(interaction, "locale", None)
    return Asker(
        user_id=interaction.user.id,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        role_ids=role_ids_of(interaction.user),
        channel_nsfw=_channel_nsfw(interaction),
        action=action,
        texts=tuple(text for text in texts if text),
        locale=str(getattr(locale, "value", locale)) if locale is not None else None,
        bot_can_post=bot_can_post(interaction),
    )


def requester_for(interaction: discord.Interaction, *, upload_limit: int | None = None) -> Requester:
    """Who pays and where the result goes; the member's roles decide their allowance."""
    return Requester(
        user_id=interaction.user.id,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        upload_limit=interaction.filesize_limit if upload_limit is None else upload_limit,
        role_ids=role_ids_of(interaction.user),
    )


async def defer_privately(interaction: discord.Interaction) -> None:
    """Answer with a private "thinking..." unless something already answered (the tree defers a
    generation command before its gate; the command's own code then finds it done)."""
    if not interaction.response.is_done():
        await interaction.response.defer(ephemeral=True, thinking=True)


async def passes_gate(interaction: discord.Interaction, action: str, texts: Iterable[str | None] = ()) -> bool:
    """Ask `core.gate`; on a refusal (or a failing rule) answer the member privately and return False."""
    core = interaction.client.core  # type: ignore[attr-defined]
    if not core.gate.rules:
        return True  # nothing to ask: an empty gate costs the first answer nothing
    try:
        await core.gate.check(asker_for(interaction, action, texts))
    except Exception as exc:  # a Refusal, or a rule's own bug: either way the member hears it
        await report_error(interaction, exc)
        return False
    return True


def _command_texts(interaction: discord.Interaction, command: app_commands.Command[Any, ..., Any]) -> list[str]:
    """The typed values of the command's text options, read from the payload as sent (cheaper
    than discord.py's Namespace, which also resolves attachments: this runs before the first answer)."""
    names = set(command.extras.get("gate_texts", TEXT_OPTIONS))
    options = list((interaction.data or {}).get("options", []))
    texts: list[str] = []
    while options:
        option = options.pop()
        options.extend(option.get("options", ()))  # a subcommand's own options
        if option.get("name") in names and isinstance(value := option.get("value"), str):
            texts.append(value)
    return texts


def generation_action(command: object) -> str | None:
    """The gate's action name for a generation command (its qualified name unless extras name one)."""
    extras = getattr(command, "extras", None) or {}
    marked = extras.get("generation")
    if not marked:
        return None
    return marked if isinstance(marked, str) else str(command.qualified_name)  # type: ignore[attr-defined]


class GenerationTree(app_commands.CommandTree):
    """The bot's command tree: the generation gate in front, one error handler behind."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        # Autocomplete only lists choices; the gate is for running a command.
        if interaction.type is not discord.InteractionType.application_command:
            return True
        command = interaction.command
        action = generation_action(command)
        if action is None or not isinstance(command, app_commands.Command):
            return True
        # The first answer first: the gate's rules read the database (bans, channel rules, roles),
        # and under a crowd those reads queue; a private "thinking..." costs nothing and a refusal
        # then replaces it, still before anything is fetched or spent.
        await defer_privately(interaction)
        # ...and the gate's reads wait, like the request's own slow work, until the crowd has its
        # first answers (bot/discord_intake.py), so they never compete with those on the event loop.
        intake = getattr(interaction.client, "intake", None)
        if intake is not None:
            await intake.after_the_crowd()
        return await passes_gate(interaction, action, _command_texts(interaction, command))

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError, /) -> None:
        await report_error(interaction, error)


# --- components: buttons, selects, views, modals --------------------------------------------


def _reporting(callback: Callable[[Any, discord.Interaction], Awaitable[Any]]) -> Callable[..., Awaitable[None]]:
    @functools.wraps(callback)
    async def reported(self: Any, interaction: discord.Interaction) -> None:
        try:
            await callback(self, interaction)
        except Exception as exc:
            await report_error(interaction, exc)

    return reported


class ReportedItem:
    """Mixin for DynamicItem subclasses: their `callback` errors reach `report_error`
    (discord.py would only log them, leaving the member on a failed button). List it before
    DynamicItem: `class Cancel(ReportedItem, discord.ui.DynamicItem[discord.ui.Button], template=...)`."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        callback = cls.__dict__.get("callback")
        if callback is not None:
            cls.callback = _reporting(callback)  # type: ignore[attr-defined]


class GenerationItem(ReportedItem):
    """Mixin for a DynamicItem that starts or pays for a generation: it passes `core.gate` first.

    Set `gate_action` (e.g. "animate", "remix", "challenge"); override `gate_texts` when the item
    carries member text (a stored prompt) the gate should see.
    """

    gate_action: ClassVar[str] = "generation"

    def gate_texts(self, interaction: discord.Interaction) -> Iterable[str | None]:
        return ()

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return await passes_gate(interaction, self.gate_action, self.gate_texts(interaction))


class ReportedView(discord.ui.View):
    """A View whose item errors are answered like command errors."""

    async def on_error(self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any], /) -> None:
        await report_error(interaction, error)


class ReportedModal(discord.ui.Modal):
    """A Modal whose submit errors are answered like command errors."""

    async def on_error(self, interaction: discord.Interaction, error: Exception, /) -> None:
        await report_error(interaction, error)


# --- the one error handler ------------------------------------------------------------------


def unwrap(error: BaseException) -> BaseException:
    """The exception the code raised, not discord.py's wrapper around it."""
    while isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    return error


def refusal_text(refusal: Refusal) -> object:
    """A refusal's sentence (some keep an English `message` and their catalogue Text as `text`)."""
    return getattr(refusal, "text", None) or refusal.message


def explain(error: BaseException) -> tuple[object, bool]:
    """The member's sentence for `error`, and whether it is unexpected (logged with an id)."""
    if isinstance(error, Refusal):
        return refusal_text(error), False
    if isinstance(error, ProviderError):
        return error.user_message, False
    if isinstance(error, StoreBusy):
        return Text("The database is busy; please try again in a moment."), False
    if isinstance(error, app_commands.CommandOnCooldown):
        return Text("Slow down: try again in {seconds} s.", seconds=f"{error.retry_after:.0f}"), False
    if isinstance(error, app_commands.CheckFailure):
        return Text("You are not allowed to use this command."), False
    return None, True


def _what(interaction: discord.Interaction) -> str:
    command = getattr(interaction, "command", None)
    if command is not None:
        return f"/{command.qualified_name}"
    data = getattr(interaction, "data", None) or {}
    return f"component {data.get('custom_id', '?')}"


E = TypeVar("E", bound=BaseException)
Answer = Callable[[discord.Interaction, Any], Awaitable[None]]
_ANSWERS: dict[type[BaseException], Answer] = {}


def answers(kind: type[E]) -> Callable[[Callable[[discord.Interaction, E], Awaitable[None]]], Answer]:
    """Register the private answer for `kind` (and its subclasses) that needs more than a sentence,
    e.g. `@answers(FixOffered)` on the function that shows the offer with its button."""

    def register(answer: Callable[[discord.Interaction, E], Awaitable[None]]) -> Answer:
        _ANSWERS[kind] = answer
        return answer

    return register


def _registered_answer(error: BaseException) -> Answer | None:
    return next((_ANSWERS[kind] for kind in type(error).__mro__ if kind in _ANSWERS), None)


async def report_error(interaction: discord.Interaction, error: BaseException) -> None:
    """Answer `error` privately: a new ephemeral answer, or the deferred one edited, or a follow-up."""
    error = unwrap(error)
    try:
        await _answer_error(interaction, error)
    except discord.HTTPException as exc:
        log.warning("could not tell the member about %s (%s %s)", type(error).__name__, exc.status, exc.text)


async def _answer_error(interaction: discord.Interaction, error: BaseException) -> None:
    if (answer := _registered_answer(error)) is not None:
        await answer(interaction, error)
        return
    message, unexpected = explain(error)
    if unexpected:
        error_id = secrets.token_hex(4)
        log.error("%s failed [error %s]", _what(interaction), error_id, exc_info=error)
        message = Text(
            "Something went wrong on the bot's side (error {error_id}). Please try again; "
            "if it keeps happening, give this error id to an admin.",
            error_id=error_id,
        )
    await answer_privately(interaction, f"❌ {say(message, getattr(interaction, 'locale', None))}")


async def answer_privately(interaction: discord.Interaction, message: object, **extra: Any) -> None:
    """A private answer in the reader's language: the first answer, or an edit of the private
    "thinking…" one (replacing any buttons or files on it), or a private follow-up beside a
    component's (maybe public) message. `extra`: a view, for instance."""
    content = say(message, getattr(interaction, "locale", None))
    if not interaction.response.is_done():
        await interaction.response.send_message(content, ephemeral=True, allowed_mentions=NO_PINGS, **extra)
    elif _answer_is_own_private_reply(interaction):
        fields = {"content": content, "view": None, "attachments": [], "allowed_mentions": NO_PINGS, **extra}
        await interaction.edit_original_response(**fields)
    else:
        await interaction.followup.send(content, ephemeral=True, allowed_mentions=NO_PINGS, **extra)


def _answer_is_own_private_reply(interaction: discord.Interaction) -> bool:
    """A command's first answer is its own private "thinking…" deferral (or a private answer); so
    is a button's or form's "thinking…" (they defer with `ephemeral=True, thinking=True`)."""
    if getattr(interaction, "type", None) is discord.InteractionType.application_command:
        return True
    return getattr(interaction.response, "type", None) is discord.InteractionResponseType.deferred_channel_message
