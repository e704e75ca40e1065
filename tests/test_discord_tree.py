"""bot/discord_tree.py without a gateway: where `report_error` answers, what it unwraps, what
`asker_for` reads. The stand-in tests (test_discord_gate.py, test_discord_errors.py) cover the wire."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import discord
import pytest
from discord import app_commands

from bot.discord_tree import (
    ReportedModal,
    ReportedView,
    answers,
    asker_for,
    report_error,
)
from bot.errors import Refusal
from bot.i18n import Text


@dataclass
class Sent:
    how: str
    content: str
    ephemeral: bool | None = None


@dataclass
class FakeResponse:
    sent: list[Sent]
    done: bool = False
    type: discord.InteractionResponseType | None = None

    def is_done(self) -> bool:
        return self.done

    async def send_message(self, content: str, *, ephemeral: bool = False, **_: Any) -> None:
        self.sent.append(Sent("send_message", content, ephemeral))


@dataclass
class FakeFollowup:
    sent: list[Sent]

    async def send(self, content: str, *, ephemeral: bool = False, **_: Any) -> None:
        self.sent.append(Sent("followup", content, ephemeral))


@dataclass
class FakeRole:
    id: int
    default: bool = False

    def is_default(self) -> bool:
        return self.default


@dataclass
class FakeMember:
    id: int
    roles: list[FakeRole] = field(default_factory=list)


@dataclass
class FakeThread:
    parent_nsfw: bool

    def is_nsfw(self) -> bool:  # discord.Thread asks its parent
        return self.parent_nsfw


class FakeInteraction:
    def __init__(self, kind: discord.InteractionType, *, answered: bool = False, locale: str = "en-US") -> None:
        self.sent: list[Sent] = []
        self.type = kind
        self.response = FakeResponse(self.sent, answered)
        self.followup = FakeFollowup(self.sent)
        self.locale = locale
        self.command = None
        self.data = {"custom_id": "x:1"}
        self.user = FakeMember(7, [FakeRole(10, default=True), FakeRole(11), FakeRole(12)])
        self.guild_id = 10
        self.channel_id = 20
        self.channel = FakeThread(parent_nsfw=True)
        self.app_permissions = discord.Permissions(send_messages_in_threads=True, attach_files=True)

    async def edit_original_response(self, *, content: str, **_: Any) -> None:
        self.sent.append(Sent("edit_original", content))


def thinking(kind: discord.InteractionType) -> FakeInteraction:
    """A button or form that deferred with `ephemeral=True, thinking=True`."""
    interaction = FakeInteraction(kind, answered=True)
    interaction.response.type = discord.InteractionResponseType.deferred_channel_message
    return interaction


COMMAND = discord.InteractionType.application_command
BUTTON = discord.InteractionType.component
NO = Refusal(Text("You are not allowed to use this command."))


@pytest.mark.parametrize(
    ("kind", "answered", "how"),
    [
        (COMMAND, False, "send_message"),  # before the deferral: a new private answer
        (COMMAND, True, "edit_original"),  # after it: the private "thinking…" becomes the refusal
        (BUTTON, False, "send_message"),
        (BUTTON, True, "followup"),  # a button's answer may be the public message: never edit it
    ],
)
async def test_a_refusal_is_answered_privately_where_it_belongs(
    kind: discord.InteractionType, answered: bool, how: str
) -> None:
    interaction = FakeInteraction(kind, answered=answered)
    await report_error(interaction, NO)  # type: ignore[arg-type]
    [sent] = interaction.sent
    assert sent.how == how and sent.content == "❌ You are not allowed to use this command."
    assert sent.ephemeral in (True, None)  # None: an edit of an answer that is already private


async def test_a_buttons_private_thinking_answer_becomes_the_refusal() -> None:
    interaction = thinking(BUTTON)
    await report_error(interaction, NO)  # type: ignore[arg-type]
    assert [(sent.how, sent.content) for sent in interaction.sent] == [
        ("edit_original", "❌ You are not allowed to use this command.")
    ]


class KeepsItsText(Refusal):
    """Like RemixRefused: an English `message`, the catalogue Text as `text`."""

    def __init__(self, text: Text) -> None:
        super().__init__(str(text))
        self.text = text


async def test_a_refusals_catalogue_text_is_rendered_in_the_members_language() -> None:
    interaction = FakeInteraction(COMMAND, locale="zh-CN")
    await report_error(interaction, KeepsItsText(Text("You are not allowed to use this command.")))  # type: ignore[arg-type]
    [sent] = interaction.sent
    assert sent.content == "❌ " + Text("You are not allowed to use this command.").render("zh-CN")


class WithAButton(Refusal):
    pass


class WithAButtonToo(WithAButton):
    pass


async def test_a_registered_answer_renders_its_error_and_subclasses() -> None:
    shown: list[tuple[object, BaseException]] = []

    @answers(WithAButton)
    async def show(interaction: discord.Interaction, error: WithAButton) -> None:
        shown.append((interaction, error))

    interaction = FakeInteraction(COMMAND, answered=True)
    command = app_commands.Command(name="x", description="x", callback=_noop)
    error = WithAButtonToo("almost")
    await report_error(interaction, app_commands.CommandInvokeError(command, error))  # type: ignore[arg-type]
    assert shown == [(interaction, error)] and interaction.sent == []  # only the registered answer spoke


async def test_the_command_wrapper_is_unwrapped_and_the_language_followed() -> None:
    interaction = FakeInteraction(COMMAND, locale="zh-CN")
    command = app_commands.Command(name="x", description="x", callback=_noop)
    await report_error(interaction, app_commands.CommandInvokeError(command, NO))  # type: ignore[arg-type]
    [sent] = interaction.sent
    assert sent.content == "❌ " + Text("You are not allowed to use this command.").render("zh-CN")
    assert sent.content != "❌ You are not allowed to use this command."


async def test_views_and_modals_report_through_the_same_function() -> None:
    view, modal = ReportedView(), ReportedModal(title="t")
    for on_error, args in ((view.on_error, (discord.ui.Button(),)), (modal.on_error, ())):
        interaction = FakeInteraction(BUTTON, answered=True)
        await on_error(interaction, RuntimeError("boom"), *args)  # type: ignore[arg-type]
        [sent] = interaction.sent
        assert sent.how == "followup" and "(error " in sent.content and "boom" not in sent.content


def test_asker_for_reads_roles_place_age_restriction_and_text() -> None:
    asker = asker_for(FakeInteraction(COMMAND), "motion", ["a cat", None, ""])  # type: ignore[arg-type]
    assert (asker.user_id, asker.guild_id, asker.channel_id) == (7, 10, 20)
    assert asker.role_ids == (11, 12)  # @everyone is not a role anyone was given
    assert asker.channel_nsfw is True  # a thread of an age-restricted channel
    assert asker.action == "motion" and asker.texts == ("a cat",) and asker.locale == "en-US"


async def _noop(interaction: discord.Interaction) -> None:
    return None
