"""Interactions a test starts (slash commands, button clicks, modal submits,
autocomplete) and the handle that records everything the bot sends for one.

Options are typed from the command the bot synced, as a user's Discord client
would: a test passes `{"image": Upload(...), "prompt": "hi"}` and gets an
attachment option with the file in `data.resolved.attachments` and a string
option, or a clear error if the bot never synced such a command or option.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.discord_standin.state import (
    DEFAULT_UPLOAD_LIMIT,
    Channel,
    Guild,
    Member,
    Message,
    Role,
    StoredFile,
    User,
)

if TYPE_CHECKING:
    from tests.discord_standin.server import StandIn

# Interaction types and callback types (https://discord.com/developers/docs/interactions/receiving-and-responding).
PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5
CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE = 4, 5, 6, 7
AUTOCOMPLETE_RESULT, MODAL = 8, 9

ACK_DEADLINE = 3.0  # seconds to send the first callback
TOKEN_LIFETIME = 15 * 60.0  # seconds the webhook token stays valid


@dataclass
class Upload:
    """A file a test user attaches (slash command option, modal file upload)."""

    data: bytes | Path | str
    filename: str | None = None
    content_type: str | None = None
    width: int | None = None
    height: int | None = None

    def read(self) -> tuple[str, bytes]:
        if isinstance(self.data, bytes):
            return self.filename or "upload.bin", self.data
        path = Path(self.data)
        return self.filename or path.name, path.read_bytes()


def as_upload(value: Any) -> Upload:
    return value if isinstance(value, Upload) else Upload(value)


@dataclass
class SentFile:
    filename: str
    size: int


@dataclass
class Sent:
    """One request the bot made with this interaction's id or token."""

    kind: str  # callback, get_original, edit_original, delete_original, followup, edit_followup, ...
    status: int
    elapsed: float  # seconds since the interaction was created, on the stand-in clock
    body: dict[str, Any] | None
    files: list[SentFile] = field(default_factory=list)
    error_code: int | None = None
    message_id: int | None = None

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300

    @property
    def callback_type(self) -> int | None:
        return self.body.get("type") if self.kind == "callback" and self.body else None


class InteractionHandle:
    """What a test holds after `invoke`/`click`/`submit_modal`."""

    def __init__(
        self,
        standin: StandIn,
        *,
        payload: dict[str, Any],
        user: User,
        channel: Channel,
        created_at: float,
        message: Message | None = None,
    ) -> None:
        self.standin = standin
        self.payload = payload  # the INTERACTION_CREATE data as dispatched
        self.id = int(payload["id"])
        self.token: str = payload["token"]
        self.type: int = payload["type"]
        self.user = user
        self.channel = channel
        self.created_at = created_at
        self.source_message = message  # the message a clicked component is on
        self.sent: list[Sent] = []
        self.answer: Sent | None = None  # the accepted first callback
        self.original_message_id: int | None = None
        self.followup_ids: list[int] = []
        self.modal: dict[str, Any] | None = None
        self.choices: list[dict[str, Any]] | None = None  # autocomplete result
        self.expired = False  # set by StandIn.expire_interaction

    # --- state ---------------------------------------------------------------------
    @property
    def acknowledged(self) -> bool:
        return self.answer is not None

    @property
    def deferred(self) -> bool:
        return self.answer is not None and self.answer.callback_type in (DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE)

    @property
    def ephemeral(self) -> bool:
        original = self.original
        return original is not None and original.ephemeral

    @property
    def original(self) -> Message | None:
        if self.original_message_id is None:
            return None
        return self.standin.message(self.original_message_id)

    @property
    def followups(self) -> list[Message]:
        return [self.standin.message(i) for i in self.followup_ids]

    @property
    def messages(self) -> list[Message]:
        """Original response (if a message) and follow-ups, in order."""
        original = self.original
        return ([original] if original and self.answer and self.answer.callback_type in (4, 5) else []) + self.followups

    def of_kind(self, kind: str) -> list[Sent]:
        return [s for s in self.sent if s.kind == kind]

    # --- waiting -------------------------------------------------------------------
    async def first_answer(self, timeout: float = 5.0) -> Sent:
        """The bot's first callback attempt, accepted or not, with `elapsed` set to
        how long after the interaction it came."""
        return await self.wait_for("callback", timeout=timeout)

    async def wait_for(
        self, kind: str | None = None, predicate: Callable[[Sent], bool] | None = None, timeout: float = 5.0
    ) -> Sent:
        def found() -> Sent | None:
            for sent in self.sent:
                if (kind is None or sent.kind == kind) and (predicate is None or predicate(sent)):
                    return sent
            return None

        return await self.standin.wait_until(found, timeout, f"{kind or 'any request'} for interaction {self.id}")

    def __repr__(self) -> str:
        kinds = [f"{s.kind}:{s.status}" for s in self.sent]
        return f"<InteractionHandle id={self.id} type={self.type} sent={kinds}>"


def walk_command(command: dict[str, Any], path: list[str]) -> list[dict[str, Any]]:
    """Follow 'group sub' names through the synced options; return the chain
    from the command down to the (sub)command whose options the user fills."""
    nodes = [command]
    for name in path:
        options = [o for o in nodes[-1].get("options", []) if o.get("type") in (1, 2)]
        match = next((o for o in options if o["name"] == name), None)
        if match is None:
            raise LookupError(f"/{command['name']} has no subcommand {name!r} (synced: {[o['name'] for o in options]})")
        nodes.append(match)
    return nodes


def _check_value(option: dict[str, Any], value: Any) -> None:
    choices = option.get("choices")
    if choices and value not in [c["value"] for c in choices]:
        raise ValueError(f"option {option['name']!r}: {value!r} is not one of the synced choices")
    if "min_value" in option and value < option["min_value"]:
        raise ValueError(f"option {option['name']!r}: {value!r} is below min_value {option['min_value']}")
    if "max_value" in option and value > option["max_value"]:
        raise ValueError(f"option {option['name']!r}: {value!r} is above max_value {option['max_value']}")
    if isinstance(value, str):
        if len(value) < option.get("min_length", 0) or len(value) > option.get("max_length", 6000):
            raise ValueError(f"option {option['name']!r}: length {len(value)} is outside the synced bounds")


class OptionBuilder:
    """Turns test values into Discord's option list and `resolved` object."""

    def __init__(self, standin: StandIn, guild: Guild | None, channel: Channel) -> None:
        self.standin = standin
        self.guild = guild
        self.channel = channel
        self.resolved: dict[str, dict[str, Any]] = {}

    def build(
        self, schema: list[dict[str, Any]], given: dict[str, Any], *, focused: str | None = None
    ) -> list[dict[str, Any]]:
        by_name = {o["name"]: o for o in schema}
        unknown = set(given) - set(by_name)
        if unknown:
            raise ValueError(f"options {sorted(unknown)} were not synced (synced: {sorted(by_name)})")
        options: list[dict[str, Any]] = []
        for option in schema:
            name = option["name"]
            if name not in given:
                if option.get("required") and focused is None:
                    raise ValueError(f"required option {name!r} missing")
                continue
            if name == focused:
                # Autocomplete sends whatever the user has typed so far, as a string.
                options.append({"name": name, "type": option["type"], "value": str(given[name]), "focused": True})
                continue
            options.append({"name": name, "type": option["type"], "value": self._value(option, given[name])})
        return options

    def _value(self, option: dict[str, Any], value: Any) -> Any:
        kind = option["type"]
        if kind == 3:
            _check_value(option, str(value))
            return str(value)
        if kind == 4:
            _check_value(option, int(value))
            return int(value)
        if kind == 5:
            return bool(value)
        if kind == 10:
            _check_value(option, float(value))
            return float(value)
        if kind == 11:
            return str(self._attachment(value).id)
        if kind in (6, 9) and isinstance(value, (User, Member)):
            return str(self._user(value.user if isinstance(value, Member) else value))
        if kind in (8, 9) and isinstance(value, Role):
            self.resolved.setdefault("roles", {})[str(value.id)] = value.payload()
            return str(value.id)
        if kind == 7 and isinstance(value, Channel):
            data = value.payload() | {"permissions": str(self._member_permissions())}
            self.resolved.setdefault("channels", {})[str(value.id)] = data
            return str(value.id)
        raise TypeError(f"option {option['name']!r} (type {kind}) cannot take {value!r}")

    def _member_permissions(self) -> int:
        return self.guild.permissions_of(self.standin.bot_user.id) if self.guild else 0

    def _user(self, user: User) -> int:
        self.resolved.setdefault("users", {})[str(user.id)] = user.payload()
        member = self.guild.members.get(user.id) if self.guild else None
        if member is not None:
            data = member.payload(with_user=False, permissions=self.guild.permissions_of(user.id))  # type: ignore[union-attr]
            self.resolved.setdefault("members", {})[str(user.id)] = data
        return user.id

    def _attachment(self, value: Any) -> StoredFile:
        upload = as_upload(value)
        filename, data = upload.read()
        # Files a user attaches to a command are ephemeral uploads until the bot reposts them.
        stored = self.standin.cdn.store(
            self.channel.id,
            filename,
            data,
            content_type=upload.content_type,
            width=upload.width,
            height=upload.height,
            ephemeral=True,
        )
        self.resolved.setdefault("attachments", {})[str(stored.id)] = stored.payload()
        return stored


def modal_submission(
    modal: dict[str, Any], values: dict[str, Any], builder: OptionBuilder
) -> list[dict[str, Any]]:
    """The `components` of a MODAL_SUBMIT, mirroring the modal the bot opened:
    action rows stay rows, labels stay labels, only inputs carry values."""
    used: set[str] = set()

    def submit(component: dict[str, Any]) -> dict[str, Any] | None:
        kind = component["type"]
        if kind == 1:
            children = [c for c in (submit(x) for x in component.get("components", [])) if c]
            return {"type": 1, "components": children}
        if kind == 18:
            inner = submit(component["component"])
            return {"type": 18, "id": component.get("id"), "component": inner} if inner else None
        custom_id = component.get("custom_id")
        if custom_id is None:
            return None  # text displays and other static parts are not sent back
        used.add(custom_id)
        result: dict[str, Any] = {"type": kind, "custom_id": custom_id}
        if component.get("id") is not None:
            result["id"] = component["id"]
        given = values.get(custom_id)
        if kind == 4:  # text input
            text = given if given is not None else component.get("value", "")
            if component.get("required", True) and not text:
                raise ValueError(f"modal text input {custom_id!r} is required")
            result["value"] = str(text)
        elif kind == 19:  # file upload
            uploads = given if isinstance(given, list) else ([given] if given is not None else [])
            if component.get("required", True) and not uploads:
                raise ValueError(f"modal file upload {custom_id!r} is required")
            result["values"] = [str(builder._attachment(u).id) for u in uploads]
        elif kind in (3, 5, 6, 7, 8, 22):  # selects and checkbox groups
            result["values"] = list(given or [])
        else:
            result["value"] = given
        return result

    components = [c for c in (submit(x) for x in modal.get("components", [])) if c]
    unknown = set(values) - used
    if unknown:
        raise ValueError(f"the modal has no inputs {sorted(unknown)}")
    return components


def interaction_payload(
    standin: StandIn,
    *,
    kind: int,
    user: User,
    channel: Channel,
    data: dict[str, Any],
    message: Message | None = None,
) -> dict[str, Any]:
    """INTERACTION_CREATE as Discord sends it to a guild-installed bot."""
    guild = standin.guilds.get(channel.guild_id) if channel.guild_id else None
    payload: dict[str, Any] = {
        "id": str(standin.snowflakes.next()),
        "application_id": str(standin.application_id),
        "type": kind,
        "data": data,
        "token": standin.new_interaction_token(),
        "version": 1,
        "channel_id": str(channel.id),
        "channel": channel.payload(),
        "locale": user.locale,
        "entitlements": [],
        "entitlement_sku_ids": [],
        "attachment_size_limit": guild.upload_limit if guild else DEFAULT_UPLOAD_LIMIT,
    }
    if guild is not None:
        member = guild.members.get(user.id)
        if member is None:
            raise LookupError(f"{user.username} is not a member of {guild.name}")
        payload.update(
            guild_id=str(guild.id),
            guild={"id": str(guild.id), "locale": guild.preferred_locale, "features": []},
            guild_locale=guild.preferred_locale,
            member=member.payload(permissions=guild.permissions_of(user.id)),
            app_permissions=str(guild.permissions_of(standin.bot_user.id)),
            authorizing_integration_owners={"0": str(guild.id)},
            context=0,
        )
    else:
        payload.update(
            user=user.payload(),
            app_permissions="0",
            authorizing_integration_owners={"0": "0"},
            context=1,
        )
    if message is not None:
        payload["message"] = message.payload()
    return payload


def message_interaction_metadata(handle: InteractionHandle, *, followup_of: int | None = None) -> dict[str, Any]:
    """`interaction_metadata` on messages created through an interaction."""
    data: dict[str, Any] = {
        "id": str(handle.id),
        "type": handle.type,
        "user": handle.user.payload(),
        "authorizing_integration_owners": handle.payload.get("authorizing_integration_owners", {}),
    }
    if handle.type == APPLICATION_COMMAND:
        data["name"] = handle.payload["data"]["name"]
        data["command_type"] = handle.payload["data"].get("type", 1)
    if handle.source_message is not None:
        data["interacted_message_id"] = str(handle.source_message.id)
    if followup_of is not None:
        data["original_response_message_id"] = str(followup_of)
    return data

