"""StandIn: a local Discord (REST under /api/v10, the gateway websocket, a CDN)
on 127.0.0.1 that an unmodified discord.py client connects to, and the Python
API tests drive it with: build guilds, act as users, read what the bot did.

    standin = StandIn()
    await standin.start()
    guild = await standin.create_guild("Test", premium_tier=2, members=[alice])
    async with run_client(bot, standin):
        handle = await standin.invoke("ping", user=alice, channel=guild.channel_named("general"))
        answer = await handle.first_answer()
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from tests.discord_standin.gateway import (
    DIRECT_MESSAGES,
    GUILD_MEMBERS,
    GUILD_MESSAGES,
    GUILDS,
    MESSAGE_CONTENT,
    PRIVILEGED_INTENTS,
    Gateway,
    Session,
)
from tests.discord_standin.interactions import (
    ACK_DEADLINE,
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    TOKEN_LIFETIME,
    InteractionHandle,
    OptionBuilder,
    SentFile,
    as_upload,
    interaction_payload,
    message_interaction_metadata,
    modal_submission,
    walk_command,
)
from tests.discord_standin.ratelimit import RateLimiter
from tests.discord_standin.rest import API_PREFIX, BODY, ApiError, RestApi, parse_body
from tests.discord_standin.state import (
    ALL_PERMISSIONS,
    EPHEMERAL,
    EVERYONE_PERMISSIONS,
    LOADING,
    MENTION_RE,
    REPLY,
    ROLE_MENTION_RE,
    Cdn,
    Channel,
    Clock,
    CommandRegistry,
    CommandWrite,
    Guild,
    Member,
    Message,
    Role,
    Snowflakes,
    StoredFile,
    UploadedPart,
    User,
    find_component,
    iso,
)

T = TypeVar("T")

# Application flags that allow the privileged intents (GATEWAY_*_LIMITED).
FLAG_PRESENCE_LIMITED, FLAG_MEMBERS_LIMITED, FLAG_CONTENT_LIMITED = 1 << 13, 1 << 15, 1 << 19
# Flags a bot may set itself on a message.
SETTABLE_FLAGS = EPHEMERAL | (1 << 2) | (1 << 12) | (1 << 15)  # ephemeral, suppress embeds/notifications, components v2
SUPPRESS_EMBEDS = 1 << 2
MANAGE_MESSAGES = 1 << 13

ChannelRef = Channel | int
MessageRef = Message | int


@dataclass
class Recorded:
    """One HTTP request the bot made, for tests that count calls."""

    method: str
    path: str
    route: str  # "POST /channels/{channel_id}/messages", "" when no such route exists
    query: dict[str, str]
    at: float
    status: int = 0
    json: Any = None
    files: list[SentFile] = field(default_factory=list)


class CommandNotPermitted(PermissionError):
    """Discord would not offer this command to this member (default_member_permissions)."""


class StandIn:
    def __init__(
        self,
        *,
        token: str = "standin-bot-token",
        bot_name: str = "StandInBot",
        privileged_intents: int = PRIVILEGED_INTENTS,
        shard_count: int = 1,
        heartbeat_interval: float = 41.25,
        rate_limit: tuple[int, float] = (50, 1.0),
    ) -> None:
        self.token = token
        self.privileged_intents = privileged_intents  # the rest are closed with 4014
        self.shard_count = shard_count  # what GET /gateway/bot recommends
        self.clock = Clock()
        self.snowflakes = Snowflakes()
        self.cdn = Cdn(self.clock, self.snowflakes)
        self.rate_limits = RateLimiter(*rate_limit)
        self.gateway = Gateway(self, heartbeat_interval)
        self.ack_deadline = ACK_DEADLINE
        self.token_lifetime = TOKEN_LIFETIME

        self.users: dict[int, User] = {}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.messages_by_id: dict[int, Message] = {}
        self.interactions: dict[int, InteractionHandle] = {}
        self.interaction_tokens: dict[str, InteractionHandle] = {}
        self.requests: list[Recorded] = []
        self.unhandled: list[Recorded] = []  # requests to routes the stand-in does not implement

        self.bot_user = self.create_user(bot_name, bot=True)
        self.application_id = self.bot_user.id  # as on Discord, the bot user shares the app's id
        self.owner = self.create_user("app-owner")  # what Bot.is_owner compares against
        self.commands = CommandRegistry(self.application_id, self.clock, self.snowflakes)

        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Event()
        self._nonces: dict[tuple[int, int, str], tuple[int, float]] = {}

    # --- life ----------------------------------------------------------------------
    @property
    def api_base(self) -> str:
        """What discord.http.Route.BASE must be."""
        return f"{self.base_url}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return self.base_url.replace("http://", "ws://", 1) + "/"

    @property
    def resume_gateway_url(self) -> str:
        # A distinct path, so tests can tell that a resume used READY's URL.
        return self.base_url.replace("http://", "ws://", 1) + "/resume/"

    @property
    def application_flags(self) -> int:
        flags = 0
        if self.privileged_intents & GUILD_MEMBERS:
            flags |= FLAG_MEMBERS_LIMITED
        if self.privileged_intents & MESSAGE_CONTENT:
            flags |= FLAG_CONTENT_LIMITED
        if self.privileged_intents & (1 << 8):
            flags |= FLAG_PRESENCE_LIMITED
        return flags

    async def start(self) -> str:
        # Uploads above the guild limit must reach the handler to get Discord's
        # 413/40005 rather than aiohttp's own 413.
        app = web.Application(middlewares=[self._api_middleware], client_max_size=256 * 1024 * 1024)
        app.add_routes(RestApi(self).routes())
        app.add_routes([web.get("/", self.gateway.handle), web.get("/resume/", self.gateway.handle)])
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        self.cdn.base_url = self.base_url
        return self.base_url

    async def close(self) -> None:
        await self.gateway.drop(1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> StandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- HTTP plumbing -------------------------------------------------------------
    @web.middleware
    async def _api_middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX):
            return await handler(request)
        # Read everything first: answering an upload before it is fully sent would
        # break the client's connection instead of giving it the error.
        raw = await request.read()
        resource = request.match_info.route.resource
        unmatched = request.match_info.http_exception is not None or resource is None
        route = "" if unmatched else f"{request.method} {resource.canonical[len(API_PREFIX):]}"  # type: ignore[union-attr]
        record = Recorded(request.method, request.path, route, dict(request.query), self.clock.now())
        self.requests.append(record)
        try:
            body = parse_body(request, raw)
            request[BODY] = body
            record.json = body.json
            record.files = [SentFile(f.filename or f.name, len(f.data)) for f in body.files]
            if unmatched:
                self.unhandled.append(record)
                raise ApiError(404, 0, "404: Not Found")
            tokened = route.split()[1].startswith(("/webhooks/{webhook_id}/{webhook_token}", "/interactions/"))
            if not tokened and request.headers.get("Authorization") != f"Bot {self.token}":
                raise ApiError(401, 0, "401: Unauthorized")
            major = "+".join(
                request.match_info[k]
                for k in ("channel_id", "guild_id", "webhook_id", "webhook_token")
                if k in request.match_info
            )
            status, headers, limited = self.rate_limits.check(route, major)
            if status == 429:
                response: web.StreamResponse = web.Response(
                    status=429, body=limited, content_type="application/json", headers=headers
                )
            else:
                try:
                    response = await handler(request)
                except ApiError as error:
                    response = error.response()
                response.headers.update(headers)
        except ApiError as error:
            response = error.response()
        record.status = response.status
        self.notify()
        return response

    # --- waiting -------------------------------------------------------------------
    def notify(self) -> None:
        """Wake everything in wait_until; called after every change."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], T | None], timeout: float = 5.0, what: str = "condition") -> T:
        """Return predicate()'s first truthy value, re-checked after every change
        to the stand-in and every 20 ms (predicates may read the client's state)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), min(remaining, 0.02))
            except TimeoutError:
                pass

    async def wait_for_message(
        self, channel: ChannelRef, predicate: Callable[[Message], bool] | None = None, timeout: float = 5.0
    ) -> Message:
        """The first (oldest) visible message in the channel that matches."""
        target = self._channel(channel)

        def found() -> Message | None:
            return next((m for m in self.channel_messages(target) if predicate is None or predicate(m)), None)

        return await self.wait_until(found, timeout, f"a message in #{target.name}")

    async def wait_for_session(self, timeout: float = 5.0) -> Session:
        """The bot's identified session with a live socket."""
        return await self.wait_until(lambda: next(iter(self.gateway.live_sessions), None), timeout, "a gateway session")

    # --- the world -----------------------------------------------------------------
    def create_user(self, username: str, *, bot: bool = False) -> User:
        user = User(self.snowflakes.next(), username, bot=bot, global_name=None if bot else username.title())
        self.users[user.id] = user
        return user

    async def create_guild(
        self,
        name: str = "Test Guild",
        *,
        premium_tier: int = 0,
        channels: Iterable[str] = ("general",),
        members: Iterable[User] = (),
        owner: User | None = None,
        bot_permissions: int = EVERYONE_PERMISSIONS | MANAGE_MESSAGES,
    ) -> Guild:
        """A guild the bot is in, with text channels, an @everyone role, the bot's
        managed role, and the owner (default: the application owner) as a member."""
        owner = owner or self.owner
        guild = Guild(self.snowflakes.next(), name, owner.id, premium_tier=premium_tier)
        guild.roles[guild.id] = Role(guild.id, "@everyone", EVERYONE_PERMISSIONS)
        bot_role = Role(self.snowflakes.next(), self.bot_user.username, bot_permissions, position=1, managed=True)
        guild.roles[bot_role.id] = bot_role
        for position, channel_name in enumerate(channels):
            channel = Channel(self.snowflakes.next(), channel_name, guild_id=guild.id, position=position)
            guild.channels[channel.id] = channel
            self.channels[channel.id] = channel
        guild.members[self.bot_user.id] = Member(self.bot_user, guild.id, roles=[bot_role.id])
        for user in [owner, *members]:
            guild.members.setdefault(user.id, Member(user, guild.id))
        self.guilds[guild.id] = guild
        # A guild the bot joins while connected arrives as GUILD_CREATE.
        await self.gateway.dispatch(
            "GUILD_CREATE", lambda s: self.gateway.guild_create(guild, s), guild_id=guild.id
        )
        return guild

    async def create_channel(self, guild: Guild, name: str, *, type: int = 0, nsfw: bool = False) -> Channel:
        channel = Channel(self.snowflakes.next(), name, type=type, guild_id=guild.id, position=len(guild.channels), nsfw=nsfw)
        guild.channels[channel.id] = channel
        self.channels[channel.id] = channel
        await self.gateway.dispatch("CHANNEL_CREATE", channel.payload(), guild_id=guild.id, intent=GUILDS)
        return channel

    async def create_role(self, guild: Guild, name: str, permissions: int = 0) -> Role:
        role = Role(self.snowflakes.next(), name, permissions, position=len(guild.roles))
        guild.roles[role.id] = role
        await self.gateway.dispatch(
            "GUILD_ROLE_CREATE", {"guild_id": str(guild.id), "role": role.payload()}, guild_id=guild.id, intent=GUILDS
        )
        return role

    async def add_member(self, guild: Guild, user: User, *, roles: Iterable[Role] = ()) -> Member:
        member = Member(user, guild.id, roles=[r.id for r in roles])
        guild.members[user.id] = member
        await self.gateway.dispatch(
            "GUILD_MEMBER_ADD", member.payload() | {"guild_id": str(guild.id)}, guild_id=guild.id, intent=GUILD_MEMBERS
        )
        return member

    async def set_premium_tier(self, guild: Guild, tier: int) -> None:
        """Boost level changes the upload limit; the bot hears it as GUILD_UPDATE."""
        guild.premium_tier = tier
        data = guild.payload(members=[], joined_at="")
        for key in ("channels", "members", "threads", "voice_states", "presences", "joined_at"):
            data.pop(key, None)
        await self.gateway.dispatch("GUILD_UPDATE", data, guild_id=guild.id, intent=GUILDS)

    async def open_thread(self, parent: Channel, starter: Message, name: str, auto_archive_duration: int = 4320) -> Channel:
        """A public thread on `starter` (the bot's REST call, or a test acting as a member); THREAD_CREATE follows."""
        guild = self.guilds[parent.guild_id]  # type: ignore[index]
        thread = Channel(
            starter.id, name, type=11, guild_id=guild.id, parent_id=parent.id, owner_id=self.bot_user.id,
            auto_archive_duration=auto_archive_duration,
        )
        guild.threads[thread.id] = thread
        self.channels[thread.id] = thread
        await self.gateway.dispatch("THREAD_CREATE", thread.payload() | {"newly_created": True}, guild_id=guild.id, intent=GUILDS)
        return thread

    async def channel_updated(self, channel: Channel) -> None:
        event = "THREAD_UPDATE" if channel.is_thread else "CHANNEL_UPDATE"
        await self.gateway.dispatch(event, channel.payload(), guild_id=channel.guild_id, intent=GUILDS)

    def thread_of(self, message: MessageRef) -> Channel | None:
        """The thread opened on a message, if any (its id is the message's)."""
        channel = self.channels.get(self.message(message).id)
        return channel if channel is not None and channel.is_thread else None

    def dm_channel(self, user: User) -> Channel:
        for channel in self.channels.values():
            if channel.type == 1 and channel.recipients and channel.recipients[0].id == user.id:
                return channel
        channel = Channel(self.snowflakes.next(), "", type=1, recipients=[user])
        self.channels[channel.id] = channel
        return channel

    def _channel(self, channel: ChannelRef) -> Channel:
        return channel if isinstance(channel, Channel) else self.channels[channel]

    # --- users acting --------------------------------------------------------------
    def new_interaction_token(self) -> str:
        return "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(96)

    async def _start_interaction(
        self, kind: int, user: User, channel: Channel, data: dict[str, Any], message: Message | None = None
    ) -> InteractionHandle:
        if not self.gateway.live_sessions:
            raise RuntimeError("no bot is connected to the stand-in's gateway")
        payload = interaction_payload(self, kind=kind, user=user, channel=channel, data=data, message=message)
        handle = InteractionHandle(
            self, payload=payload, user=user, channel=channel, created_at=self.clock.now(), message=message
        )
        self.interactions[handle.id] = handle
        self.interaction_tokens[handle.token] = handle
        await self.gateway.dispatch("INTERACTION_CREATE", payload, guild_id=channel.guild_id)
        return handle

    def _command_data(
        self, command: str, channel: Channel, options: dict[str, Any], focused: str | None = None
    ) -> dict[str, Any]:
        name, *path = command.split()
        synced = self.commands.find(name, channel.guild_id)
        if synced is None:
            known = sorted({c["name"] for scope in self.commands.scopes.values() for c in scope.values()})
            raise LookupError(f"/{name} is not synced for this channel's guild or globally (synced: {known})")
        nodes = walk_command(synced, path)
        guild = self.guilds.get(channel.guild_id) if channel.guild_id else None
        builder = OptionBuilder(self, guild, channel)
        built = builder.build(nodes[-1].get("options", []), options, focused=focused)
        # Wrap the leaf options back into their subcommand and group, innermost first.
        for node in reversed(nodes[1:]):
            built = [{"name": node["name"], "type": node["type"], "options": built}]
        data: dict[str, Any] = {"id": synced["id"], "name": name, "type": 1, "options": built}
        if "guild_id" in synced:
            data["guild_id"] = synced["guild_id"]
        if builder.resolved:
            data["resolved"] = builder.resolved
        return data

    async def invoke(
        self, command: str, *, user: User, channel: ChannelRef, options: dict[str, Any] | None = None
    ) -> InteractionHandle:
        """Run a synced slash command ("motion", or "admin quota set" for
        subcommands) as `user`. Option values: str/int/float/bool, User/Member,
        Role, Channel, and for attachment options bytes, a path or an Upload."""
        target = self._channel(channel)
        data = self._command_data(command, target, options or {})
        self._check_command_permissions(data, user, target)
        return await self._start_interaction(APPLICATION_COMMAND, user, target, data)

    def _check_command_permissions(self, data: dict[str, Any], user: User, channel: Channel) -> None:
        """As Discord: a command with `default_member_permissions` is offered only to members who
        have all those permissions (administrators and the server's owner always; "0": only them).
        Per-server overrides from the integration settings are not modelled."""
        guild = self.guilds.get(channel.guild_id) if channel.guild_id else None
        synced = self.commands.find(data["name"], channel.guild_id)
        required = (synced or {}).get("default_member_permissions")
        if guild is None or required is None:
            return
        needed = int(required)
        has = guild.permissions_of(user.id)
        if has != ALL_PERMISSIONS and (needed == 0 or has & needed != needed):
            raise CommandNotPermitted(f"{user.username} lacks the permissions /{data['name']} needs ({needed:#x})")

    async def autocomplete(
        self, command: str, *, user: User, channel: ChannelRef, options: dict[str, Any], focused: str
    ) -> InteractionHandle:
        """The user is typing in option `focused`; the bot's choices land in handle.choices."""
        target = self._channel(channel)
        data = self._command_data(command, target, options, focused=focused)
        return await self._start_interaction(AUTOCOMPLETE, user, target, data)

    async def click(
        self, message: MessageRef, custom_id: str, *, user: User, values: list[str] | None = None
    ) -> InteractionHandle:
        """Press a button (or pick `values` in a select) on a message the bot sent.
        The payload carries the message with its components, which is what
        discord.py needs to route the click to a DynamicItem."""
        target = self.message(message)
        component = find_component(target.components, custom_id)
        if component is None:
            raise LookupError(f"message {target.id} has no component {custom_id!r}")
        if component.get("disabled"):
            raise ValueError(f"component {custom_id!r} is disabled")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component["type"]}
        if component.get("id") is not None:
            data["id"] = component["id"]
        if values is not None:
            data["values"] = values
        return await self._start_interaction(MESSAGE_COMPONENT, user, self.channels[target.channel_id], data, target)

    async def submit_modal(
        self, handle: InteractionHandle, values: dict[str, Any], *, user: User | None = None
    ) -> InteractionHandle:
        """Fill in and submit the modal the bot opened on `handle`. Values by
        custom_id: text for text inputs, lists for selects, Uploads (or bytes or
        paths) for file uploads."""
        if handle.modal is None:
            raise LookupError(f"interaction {handle.id} did not open a modal")
        guild = self.guilds.get(handle.channel.guild_id) if handle.channel.guild_id else None
        builder = OptionBuilder(self, guild, handle.channel)
        components = modal_submission(handle.modal, values, builder)
        data: dict[str, Any] = {"custom_id": handle.modal["custom_id"], "components": components}
        if builder.resolved:
            data["resolved"] = builder.resolved
        return await self._start_interaction(
            MODAL_SUBMIT, user or handle.user, handle.channel, data, handle.source_message
        )

    async def post_user_message(
        self, channel: ChannelRef, user: User, content: str, *, files: Iterable[Any] = ()
    ) -> Message:
        """A member writes in a channel (for prefix commands or on_message handlers)."""
        parts = []
        for index, upload in enumerate(as_upload(f) for f in files):
            filename, data = upload.read()
            parts.append(UploadedPart(f"files[{index}]", filename, data))
        return await self.create_message(self._channel(channel), user, {"content": content}, parts)

    # --- reading -------------------------------------------------------------------
    def message(self, message: MessageRef) -> Message:
        return message if isinstance(message, Message) else self.messages_by_id[message]

    def channel_messages(self, channel: ChannelRef, *, include_ephemeral: bool = False) -> list[Message]:
        """Messages in the channel, oldest first, as members would see them."""
        channel_id = self._channel(channel).id
        return [
            m
            for m in self.messages_by_id.values()
            if m.channel_id == channel_id and not m.deleted and (include_ephemeral or not m.ephemeral)
        ]

    def synced_commands(self, guild: Guild | None = None) -> list[dict[str, Any]]:
        return self.commands.list(guild.id if guild else None)

    @property
    def command_writes(self) -> list[CommandWrite]:
        return self.commands.writes

    def requests_to(self, route: str) -> list[Recorded]:
        """Requests by route template, e.g. "POST /channels/{channel_id}/messages"."""
        return [r for r in self.requests if r.route == route]

    # --- faults and time -----------------------------------------------------------
    def rate_limit(self, route: str, *, times: int = 1, retry_after: float = 0.1, is_global: bool = False) -> None:
        """Answer the next `times` requests to `route` ("POST /channels/{channel_id}/messages")
        with 429 and Retry-After, as Discord does."""
        self.rate_limits.force(route, times, retry_after, is_global)

    def set_rate_limit(self, route: str, limit: int, window: float) -> None:
        """Give a route a real bucket, e.g. 5 per 5 s for channel messages."""
        self.rate_limits.configure(route, limit, window)

    def expire_interaction(self, handle: InteractionHandle | str) -> None:
        """Make an interaction's token invalid now, as after 15 minutes."""
        target = handle if isinstance(handle, InteractionHandle) else self.interaction_tokens[handle]
        target.expired = True

    def advance_clock(self, seconds: float) -> None:
        """Move the stand-in's clock: interaction deadlines and CDN expiry follow it."""
        self.clock.advance(seconds)

    async def drop_connection(self, code: int | None = 4000) -> None:
        await self.gateway.drop(code)

    async def request_reconnect(self) -> None:
        await self.gateway.reconnect()

    async def invalidate_session(self, resumable: bool = False) -> None:
        await self.gateway.invalidate(resumable)

    # --- messages (used by the REST handlers and by tests acting as users) ----------
    def message_by_nonce(self, channel_id: int, author_id: int, nonce: str, window: float) -> Message | None:
        entry = self._nonces.get((channel_id, author_id, nonce))
        if entry is None or self.clock.now() - entry[1] > window:
            return None
        return self.messages_by_id.get(entry[0])

    def _attachments(
        self,
        channel: Channel,
        body: dict[str, Any],
        uploads: list[UploadedPart],
        existing: list[StoredFile],
        ephemeral: bool,
    ) -> list[StoredFile]:
        """New uploads plus the existing attachments the body lists by id; with no
        `attachments` key existing ones stay and uploads are added."""
        by_index = {u.index if u.index is not None else i: u for i, u in enumerate(uploads)}
        listed = body.get("attachments")
        if listed is None:
            entries: list[dict[str, Any]] = [{"id": i} for i in by_index]
            kept = list(existing)
        else:
            entries = list(listed)
            kept = []
        existing_by_id = {a.id: a for a in existing}
        result = kept
        used: set[int] = set()
        for entry in entries:
            entry_id = int(entry["id"])
            if entry_id in existing_by_id:
                result.append(existing_by_id[entry_id])
            elif entry_id in by_index:
                upload = by_index[entry_id]
                used.add(entry_id)
                filename = entry.get("filename") or upload.filename or f"file{entry_id}"
                result.append(
                    self.cdn.store(
                        channel.id, filename, upload.data, description=entry.get("description"), ephemeral=ephemeral
                    )
                )
            else:
                unknown = {"_errors": [{"code": "ATTACHMENT_NOT_FOUND", "message": "Unknown attachment"}]}
                raise ApiError(400, 50035, "Invalid Form Body", {"attachments": unknown})
        for index, upload in by_index.items():
            if index not in used and listed is not None:
                # Discord attaches uploads even when the attachments list omits them.
                filename = upload.filename or f"file{index}"
                result.append(self.cdn.store(channel.id, filename, upload.data, ephemeral=ephemeral))
        return result

    def _mentions(self, message: Message, body: dict[str, Any]) -> None:
        """Who the message pings: mentions in the content, narrowed by allowed_mentions."""
        allowed = body.get("allowed_mentions") if "allowed_mentions" in body else message.allowed_mentions
        message.allowed_mentions = allowed
        parse = set(allowed.get("parse", [])) if allowed is not None else {"users", "roles", "everyone"}
        allowed_users = {int(u) for u in (allowed or {}).get("users", [])}
        allowed_roles = {int(r) for r in (allowed or {}).get("roles", [])}
        user_ids = dict.fromkeys(int(u) for u in MENTION_RE.findall(message.content))
        message.mentions = [
            self.users[u] for u in user_ids if u in self.users and ("users" in parse or u in allowed_users)
        ]
        if message.message_reference and (allowed is None or allowed.get("replied_user", False)):
            replied = self.messages_by_id.get(int(message.message_reference.get("message_id", 0)))
            if replied is not None and not message.mentions_user(replied.author.id):
                message.mentions.append(replied.author)
        role_ids = dict.fromkeys(int(r) for r in ROLE_MENTION_RE.findall(message.content))
        message.mention_roles = [r for r in role_ids if "roles" in parse or r in allowed_roles]
        message.mention_everyone = "everyone" in parse and ("@everyone" in message.content or "@here" in message.content)

    async def create_message(
        self,
        channel: Channel,
        author: User,
        body: dict[str, Any],
        uploads: list[UploadedPart],
        *,
        flags: int = 0,
        interaction: InteractionHandle | None = None,
        followup: bool = False,
    ) -> Message:
        """`flags` are the stand-in's own (LOADING for a deferral); the body's are filtered."""
        flags = (int(body.get("flags") or 0) & SETTABLE_FLAGS) | flags
        ephemeral = bool(flags & EPHEMERAL)
        referenced = self._replied_to(channel, body.get("message_reference"))
        message = Message(
            id=self.snowflakes.next(),
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author=author,
            content=str(body.get("content") or ""),
            embeds=list(body.get("embeds") or []),
            components=list(body.get("components") or []),
            flags=flags,
            nonce=str(body["nonce"]) if body.get("nonce") is not None else None,
            message_reference=body.get("message_reference") if referenced is not None else None,
            referenced=referenced,
        )
        message.attachments = self._attachments(channel, body, uploads, [], ephemeral)
        if message.message_reference:
            message.type = REPLY
        if interaction is not None:
            message.webhook_id = message.application_id = self.application_id
            # Messages from a slash command's token are CHAT_INPUT_COMMAND messages.
            message.type = 20 if interaction.type == APPLICATION_COMMAND else 0
            original = interaction.original_message_id if followup else None
            message.interaction_metadata = message_interaction_metadata(interaction, followup_of=original)
        self._mentions(message, body)
        self.messages_by_id[message.id] = message
        if message.nonce is not None and body.get("enforce_nonce"):
            self._nonces[(channel.id, author.id, message.nonce)] = (message.id, self.clock.now())
        if not ephemeral:
            channel.last_message_id = message.id
            if channel.is_thread:
                channel.message_count += 1
        await self._dispatch_message("MESSAGE_CREATE", message)
        return message

    def _replied_to(self, channel: Channel, reference: dict[str, Any] | None) -> Message | None:
        """The message a reply answers. Discord refuses a reply to a message that is not (or no
        longer) in the channel, unless `fail_if_not_exists` is false: then it posts a plain message."""
        if not reference:
            return None
        found = self.messages_by_id.get(int(reference.get("message_id") or 0))
        in_channel = int(reference.get("channel_id") or channel.id) == channel.id
        if found is not None and not found.deleted and found.channel_id == channel.id and in_channel:
            return found
        if reference.get("fail_if_not_exists", True):
            unknown = {"_errors": [{"code": "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "message": "Unknown message"}]}
            raise ApiError(400, 50035, "Invalid Form Body", {"message_reference": unknown})
        return None

    async def edit_message(self, message: Message, body: dict[str, Any], uploads: list[UploadedPart]) -> None:
        if "content" in body:
            message.content = str(body["content"] or "")
        if "embeds" in body:
            message.embeds = list(body["embeds"] or [])
        if "components" in body:
            message.components = list(body["components"] or [])
        if "flags" in body and body["flags"] is not None:
            # Only suppress-embeds can be toggled on an existing message.
            message.flags = (message.flags & ~SUPPRESS_EMBEDS) | (int(body["flags"]) & SUPPRESS_EMBEDS)
        if "attachments" in body or uploads:
            channel = self.channels[message.channel_id]
            message.attachments = self._attachments(channel, body, uploads, message.attachments, message.ephemeral)
        if not (message.content or message.embeds or message.attachments or message.components):
            raise ApiError(400, 50006, "Cannot send an empty message")
        message.flags &= ~LOADING  # the deferred "thinking" state ends with the first edit
        message.edited_timestamp = iso()
        message.edits += 1
        self._mentions(message, body)
        await self._dispatch_message("MESSAGE_UPDATE", message)

    async def delete_message(self, message: Message) -> None:
        message.deleted = True
        if not message.ephemeral:
            data = {"id": str(message.id), "channel_id": str(message.channel_id)}
            if message.guild_id:
                data["guild_id"] = str(message.guild_id)
            intent = GUILD_MESSAGES if message.guild_id else DIRECT_MESSAGES
            await self.gateway.dispatch("MESSAGE_DELETE", data, guild_id=message.guild_id, intent=intent)
        self.notify()

    async def _dispatch_message(self, event: str, message: Message) -> None:
        if message.ephemeral:
            self.notify()  # ephemeral messages are never sent to the bot over the gateway
            return
        guild = self.guilds.get(message.guild_id) if message.guild_id else None

        def shape(session: Session) -> dict[str, Any]:
            data = message.payload()
            if guild is not None:
                data["guild_id"] = str(guild.id)
                member = guild.members.get(message.author.id)
                if member is not None:
                    data["member"] = member.payload(with_user=False)
                # Without the message content intent, other people's messages arrive
                # empty unless they mention the bot.
                hidden = message.author.id != self.bot_user.id and not message.mentions_user(self.bot_user.id)
                if hidden and not session.intents & MESSAGE_CONTENT:
                    data.update(content="", embeds=[], attachments=[], components=[])
            return data

        intent = GUILD_MESSAGES if guild is not None else DIRECT_MESSAGES
        await self.gateway.dispatch(event, shape, guild_id=message.guild_id, intent=intent)
