"""The stand-in's model of Discord: users, guilds, channels, messages, files and
synced application commands, plus the JSON shapes discord.py parses.

Nothing here knows about HTTP or websockets; server.py and gateway.py read and
change this state and turn it into wire payloads with the `payload()` methods.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import io
import mimetypes
import re
import time
from dataclasses import dataclass, field
from typing import Any

DISCORD_EPOCH_MS = 1420070400000

# Permission bits we hand out (https://discord.com/developers/docs/topics/permissions).
ADMINISTRATOR = 1 << 3
ALL_PERMISSIONS = (1 << 51) - 1
EVERYONE_PERMISSIONS = (
    (1 << 6)  # ADD_REACTIONS
    | (1 << 10)  # VIEW_CHANNEL
    | (1 << 11)  # SEND_MESSAGES
    | (1 << 14)  # EMBED_LINKS
    | (1 << 15)  # ATTACH_FILES
    | (1 << 16)  # READ_MESSAGE_HISTORY
    | (1 << 31)  # USE_APPLICATION_COMMANDS
)

# Message flags the stand-in sets itself.
EPHEMERAL = 1 << 6
LOADING = 1 << 7

MIB = 1024 * 1024
# Upload limit per file for bots, webhooks and interaction responses, by boost tier.
UPLOAD_LIMIT_BY_TIER = {0: 10 * MIB, 1: 10 * MIB, 2: 50 * MIB, 3: 100 * MIB}
DEFAULT_UPLOAD_LIMIT = 10 * MIB  # DMs and anything outside a guild

CDN_URL_LIFETIME = 24 * 3600  # signed attachment URLs stop working after about a day


class Clock:
    """Monotonic time plus an offset tests can move forward, so the 3-second and
    15-minute interaction limits can be crossed without waiting."""

    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        return time.monotonic() + self._offset

    def wall(self) -> float:
        # CDN expiry is wall-clock based on Discord; keep it on the same offset.
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds


class Snowflakes:
    """Discord ids built from the real current time: discord.py derives
    `created_at` (and an interaction's expiry) from them."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        value = (ms << 22) | (1 << 17) | (1 << 12)
        # Strictly increasing even within one millisecond.
        self._last = max(value, self._last + 1)
        return self._last


def iso(when: dt.datetime | None = None) -> str:
    return (when or dt.datetime.now(dt.UTC)).isoformat()


@dataclass
class User:
    id: int
    username: str
    bot: bool = False
    global_name: str | None = None
    locale: str = "en-US"  # the client's language, sent in every interaction

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "public_flags": 0,
        }
        if self.bot:
            data["bot"] = True
        return data

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


@dataclass
class Role:
    id: int
    name: str
    permissions: int
    position: int = 0
    managed: bool = False

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": False,
            "flags": 0,
        }


@dataclass
class Channel:
    id: int
    name: str
    type: int = 0  # 0 text, 1 DM, 2 voice, 4 category, 5 announcement, 15 forum
    guild_id: int | None = None
    position: int = 0
    parent_id: int | None = None
    recipients: list[User] = field(default_factory=list)  # DMs only
    last_message_id: int | None = None

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": str(self.id), "type": self.type, "flags": 0}
        data["last_message_id"] = str(self.last_message_id) if self.last_message_id else None
        if self.type == 1:
            data["recipients"] = [u.payload() for u in self.recipients]
            return data
        data.update(
            name=self.name,
            position=self.position,
            permission_overwrites=[],
            parent_id=str(self.parent_id) if self.parent_id else None,
            nsfw=False,
            topic=None,
            rate_limit_per_user=0,
        )
        if self.guild_id is not None:
            data["guild_id"] = str(self.guild_id)
        return data


@dataclass
class Member:
    user: User
    guild_id: int
    roles: list[int] = field(default_factory=list)  # without @everyone, as Discord sends them
    nick: str | None = None
    joined_at: str = field(default_factory=iso)

    def payload(self, *, with_user: bool = True, permissions: int | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "roles": [str(r) for r in self.roles],
            "nick": self.nick,
            "avatar": None,
            "joined_at": self.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user.payload()
        if permissions is not None:
            data["permissions"] = str(permissions)  # interactions carry the member's resolved permissions
        return data


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    premium_tier: int = 0
    channels: dict[int, Channel] = field(default_factory=dict)
    roles: dict[int, Role] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    preferred_locale: str = "en-US"

    @property
    def upload_limit(self) -> int:
        return UPLOAD_LIMIT_BY_TIER.get(self.premium_tier, DEFAULT_UPLOAD_LIMIT)

    def channel_named(self, name: str) -> Channel:
        for channel in self.channels.values():
            if channel.name == name:
                return channel
        raise KeyError(f"guild {self.name!r} has no channel {name!r}")

    def permissions_of(self, user_id: int) -> int:
        """Guild-level permissions (channel overwrites are not modelled)."""
        if user_id == self.owner_id:
            return ALL_PERMISSIONS
        member = self.members.get(user_id)
        perms = self.roles[self.id].permissions  # @everyone has the guild's id
        for role_id in member.roles if member else []:
            perms |= self.roles[role_id].permissions
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    def payload(self, *, members: list[Member], joined_at: str) -> dict[str, Any]:
        """GUILD_CREATE shape: the full guild with channels, roles and the given members."""
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "features": [],
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": self.premium_tier,
            "premium_subscription_count": {0: 0, 1: 2, 2: 7, 3: 14}.get(self.premium_tier, 0),
            "premium_progress_bar_enabled": False,
            "preferred_locale": self.preferred_locale,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "roles": [r.payload() for r in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "channels": [c.payload() for c in self.channels.values()],
            "threads": [],
            "members": [m.payload() for m in members],
            "member_count": len(self.members),
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "joined_at": joined_at,
            "large": len(self.members) >= 250,
            "unavailable": False,
            "lazy": True,
        }


def probe_media(data: bytes, content_type: str | None) -> tuple[int | None, int | None]:
    """Width and height as Discord reports them for images and videos; None if unknown."""
    if not content_type:
        return None, None
    try:
        if content_type.startswith("image/"):
            from PIL import Image

            with Image.open(io.BytesIO(data)) as image:
                return image.width, image.height
        if content_type.startswith("video/"):
            import av

            with av.open(io.BytesIO(data)) as container:
                stream = container.streams.video[0]
                return stream.codec_context.width, stream.codec_context.height
    except Exception:  # not decodable: Discord then leaves the dimensions out too
        return None, None
    return None, None


@dataclass
class StoredFile:
    """A file on the stand-in's CDN: an uploaded message attachment or a file a
    test attached to a slash command option."""

    id: int
    channel_id: int
    filename: str
    data: bytes = field(repr=False)
    content_type: str | None
    width: int | None
    height: int | None
    url: str
    proxy_url: str
    description: str | None = None
    ephemeral: bool = False

    @property
    def size(self) -> int:
        return len(self.data)

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.proxy_url,
        }
        if self.content_type:
            data["content_type"] = self.content_type
        if self.width is not None and self.height is not None:
            data["width"], data["height"] = self.width, self.height
        if self.description:
            data["description"] = self.description
        if self.ephemeral:
            data["ephemeral"] = True
        return data


@dataclass
class UploadedPart:
    """One part of a multipart request body (discord.py names files `files[n]`)."""

    name: str
    filename: str | None
    data: bytes = field(repr=False)

    @property
    def index(self) -> int | None:
        match = re.fullmatch(r"files\[(\d+)\]", self.name)
        return int(match.group(1)) if match else None


class Cdn:
    """Stores files and hands out signed, expiring URLs like cdn.discordapp.com's
    (?ex=&is=&hm=); a URL without a valid signature or past its expiry is 404."""

    def __init__(self, clock: Clock, snowflakes: Snowflakes) -> None:
        self.base_url = ""
        self.files: dict[int, StoredFile] = {}
        self._clock = clock
        self._snowflakes = snowflakes
        self._secret = hashlib.sha256(str(time.time_ns()).encode()).digest()
        # Fault: while cleared, downloads wait (a slow CDN; a bot killed mid-download). `held` counts them.
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.held = 0

    def hold_downloads(self) -> None:
        self.flowing.clear()

    def release_downloads(self) -> None:
        self.flowing.set()

    def _sign(self, file_id: int, expires: int) -> str:
        return hmac.new(self._secret, f"{file_id}:{expires:x}".encode(), hashlib.sha256).hexdigest()

    def store(
        self,
        channel_id: int,
        filename: str,
        data: bytes,
        *,
        content_type: str | None = None,
        width: int | None = None,
        height: int | None = None,
        description: str | None = None,
        ephemeral: bool = False,
    ) -> StoredFile:
        file_id = self._snowflakes.next()
        # Discord sniffs the type itself; discord.py always uploads application/octet-stream.
        content_type = content_type or mimetypes.guess_type(filename)[0]
        if width is None and height is None:
            width, height = probe_media(data, content_type)
        now = int(self._clock.wall())
        expires = now + CDN_URL_LIFETIME
        query = f"?ex={expires:x}&is={now:x}&hm={self._sign(file_id, expires)}&"
        path = f"attachments/{channel_id}/{file_id}/{filename}"
        stored = StoredFile(
            id=file_id,
            channel_id=channel_id,
            filename=filename,
            data=data,
            content_type=content_type,
            width=width,
            height=height,
            url=f"{self.base_url}/cdn/{path}{query}",
            proxy_url=f"{self.base_url}/media/{path}{query}",
            description=description,
            ephemeral=ephemeral,
        )
        self.files[file_id] = stored
        return stored

    def fetch(self, file_id: int, ex: str, hm: str) -> StoredFile | None:
        stored = self.files.get(file_id)
        if stored is None:
            return None
        try:
            expires = int(ex, 16)
        except ValueError:
            return None
        if not hmac.compare_digest(self._sign(file_id, expires), hm) or self._clock.wall() > expires:
            return None
        return stored


MENTION_RE = re.compile(r"<@!?(\d+)>")
ROLE_MENTION_RE = re.compile(r"<@&(\d+)>")


@dataclass
class Message:
    id: int
    channel_id: int
    guild_id: int | None
    author: User
    content: str = ""
    attachments: list[StoredFile] = field(default_factory=list)
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    flags: int = 0
    nonce: str | None = None
    type: int = 0
    mentions: list[User] = field(default_factory=list)
    mention_roles: list[int] = field(default_factory=list)
    mention_everyone: bool = False
    allowed_mentions: dict[str, Any] | None = None
    message_reference: dict[str, Any] | None = None
    webhook_id: int | None = None
    application_id: int | None = None
    interaction_metadata: dict[str, Any] | None = None
    timestamp: str = field(default_factory=iso)
    edited_timestamp: str | None = None
    edits: int = 0  # how many times it was edited after creation
    deleted: bool = False

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        """A deferred interaction response that was not edited yet ("Bot is thinking...")."""
        return bool(self.flags & LOADING)

    def mentions_user(self, user_id: int) -> bool:
        return any(u.id == user_id for u in self.mentions)

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "channel_id": str(self.channel_id),
            "type": self.type,
            "author": self.author.payload(),
            "content": self.content,
            "timestamp": self.timestamp,
            "edited_timestamp": self.edited_timestamp,
            "tts": False,
            "mention_everyone": self.mention_everyone,
            "mentions": [u.payload() for u in self.mentions],
            "mention_roles": [str(r) for r in self.mention_roles],
            "attachments": [a.payload() for a in self.attachments],
            "embeds": self.embeds,
            "components": self.components,
            "pinned": False,
            "flags": self.flags,
        }
        if self.nonce is not None:
            data["nonce"] = self.nonce
        if self.webhook_id is not None:
            data["webhook_id"] = str(self.webhook_id)
        if self.application_id is not None:
            data["application_id"] = str(self.application_id)
        if self.interaction_metadata is not None:
            data["interaction_metadata"] = self.interaction_metadata
        if self.message_reference is not None:
            data["message_reference"] = self.message_reference
        return data


def find_component(components: list[dict[str, Any]], custom_id: str) -> dict[str, Any] | None:
    """Depth-first search through action rows, sections, containers and labels."""
    for component in components:
        if component.get("custom_id") == custom_id:
            return component
        children = list(component.get("components", []))
        for key in ("accessory", "component"):
            if isinstance(component.get(key), dict):
                children.append(component[key])
        found = find_component(children, custom_id)
        if found is not None:
            return found
    return None


@dataclass
class CommandWrite:
    """One write to the application command registry (what tests count)."""

    guild_id: int | None  # None for global commands
    method: str  # PUT (bulk overwrite), POST, PATCH, DELETE
    names: list[str]
    at: float


COMMAND_NAME_RE = re.compile(r"^[-_'\w\u0900-\u097F\u0E00-\u0E7F]{1,32}$")


def command_errors(commands: list[dict[str, Any]]) -> dict[str, Any]:
    """The subset of Discord's command validation a bot is likely to trip over,
    as the `errors` object of a 50035 Invalid Form Body answer."""
    errors: dict[str, Any] = {}
    seen: set[tuple[str, int]] = set()
    if len(commands) > 100:
        errors["_errors"] = [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 100 or fewer in length."}]
    for index, command in enumerate(commands):
        problems = _command_problems(command)
        key = (command.get("name", ""), command.get("type", 1))
        if key in seen:
            problems["name"] = "APPLICATION_COMMANDS_DUPLICATE_NAME"
        seen.add(key)
        if problems:
            errors[str(index)] = {
                name: {"_errors": [{"code": code, "message": code}]} for name, code in problems.items()
            }
    return errors


def _command_problems(command: dict[str, Any]) -> dict[str, str]:
    problems: dict[str, str] = {}
    name = command.get("name", "")
    kind = command.get("type", 1)
    if kind == 1:
        if not COMMAND_NAME_RE.match(name) or name != name.lower():
            problems["name"] = "APPLICATION_COMMAND_INVALID_NAME"
        if not 1 <= len(command.get("description", "")) <= 100:
            problems["description"] = "BASE_TYPE_BAD_LENGTH"
        problems.update(_option_problems(command.get("options", [])))
    elif not 1 <= len(name) <= 32:
        problems["name"] = "BASE_TYPE_BAD_LENGTH"
    return problems


def _option_problems(options: list[dict[str, Any]]) -> dict[str, str]:
    if len(options) > 25:
        return {"options": "BASE_TYPE_MAX_LENGTH"}
    optional_seen = False
    for option in options:
        if not COMMAND_NAME_RE.match(option.get("name", "")) or option["name"] != option["name"].lower():
            return {"options": "APPLICATION_COMMAND_INVALID_NAME"}
        if not 1 <= len(option.get("description", "")) <= 100:
            return {"options": "BASE_TYPE_BAD_LENGTH"}
        if len(option.get("choices") or []) > 25:
            return {"options": "BASE_TYPE_MAX_LENGTH"}
        if option.get("type") in (1, 2):
            nested = _option_problems(option.get("options", []))
            if nested:
                return nested
        elif option.get("required"):
            if optional_seen:
                return {"options": "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID"}
        else:
            optional_seen = True
    return {}


class CommandRegistry:
    """Application commands as Discord stores them: per scope (global or a guild),
    keyed by (name, type), with ids that stay the same across overwrites."""

    def __init__(self, application_id: int, clock: Clock, snowflakes: Snowflakes) -> None:
        self.application_id = application_id
        self.scopes: dict[int | None, dict[tuple[str, int], dict[str, Any]]] = {}
        self.writes: list[CommandWrite] = []
        self._clock = clock
        self._snowflakes = snowflakes

    def list(self, guild_id: int | None) -> list[dict[str, Any]]:
        return list(self.scopes.get(guild_id, {}).values())

    def _stored(self, guild_id: int | None, body: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
        command = {
            "type": 1,
            "description": "",
            "options": [],
            "default_member_permissions": None,
            "nsfw": False,
            "contexts": None,
            "integration_types": [0],
            "name_localizations": None,
            "description_localizations": None,
        }
        command.update(body)
        command["id"] = old["id"] if old else str(self._snowflakes.next())
        command["application_id"] = str(self.application_id)
        command["version"] = str(self._snowflakes.next())
        if guild_id is not None:
            command["guild_id"] = str(guild_id)
        return command

    def overwrite(self, guild_id: int | None, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        old = self.scopes.get(guild_id, {})
        new: dict[tuple[str, int], dict[str, Any]] = {}
        for body in bodies:
            key = (body["name"], body.get("type", 1))
            new[key] = self._stored(guild_id, body, old.get(key))
        self.scopes[guild_id] = new
        self.writes.append(CommandWrite(guild_id, "PUT", [b["name"] for b in bodies], self._clock.now()))
        return list(new.values())

    def upsert(self, guild_id: int | None, body: dict[str, Any]) -> dict[str, Any]:
        scope = self.scopes.setdefault(guild_id, {})
        key = (body["name"], body.get("type", 1))
        scope[key] = self._stored(guild_id, body, scope.get(key))
        self.writes.append(CommandWrite(guild_id, "POST", [body["name"]], self._clock.now()))
        return scope[key]

    def by_id(self, guild_id: int | None, command_id: int) -> dict[str, Any] | None:
        for command in self.scopes.get(guild_id, {}).values():
            if int(command["id"]) == command_id:
                return command
        return None

    def edit(self, guild_id: int | None, command_id: int, body: dict[str, Any]) -> dict[str, Any] | None:
        command = self.by_id(guild_id, command_id)
        if command is None:
            return None
        scope = self.scopes[guild_id]
        del scope[(command["name"], command["type"])]
        merged = {k: v for k, v in command.items() if k not in ("id", "application_id", "version", "guild_id")}
        merged.update(body)
        updated = self._stored(guild_id, merged, command)
        scope[(updated["name"], updated["type"])] = updated
        self.writes.append(CommandWrite(guild_id, "PATCH", [updated["name"]], self._clock.now()))
        return updated

    def delete(self, guild_id: int | None, command_id: int) -> bool:
        command = self.by_id(guild_id, command_id)
        if command is None:
            return False
        del self.scopes[guild_id][(command["name"], command["type"])]
        self.writes.append(CommandWrite(guild_id, "DELETE", [command["name"]], self._clock.now()))
        return True

    def find(self, name: str, guild_id: int | None, kind: int = 1) -> dict[str, Any] | None:
        """What a user's client would offer: the guild's command first, else the global one."""
        if guild_id is not None and (name, kind) in self.scopes.get(guild_id, {}):
            return self.scopes[guild_id][(name, kind)]
        return self.scopes.get(None, {}).get((name, kind))
