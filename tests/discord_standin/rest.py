"""The HTTP API under /api/v10 and the CDN, with Discord's status codes and
error bodies ({"message", "code"}), so the bot sees the exceptions it would
see against discord.com (discord.py raises HTTPException/NotFound/Forbidden
with `.code` taken from the body).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.parser import HeaderParser
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.discord_standin.interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    AUTOCOMPLETE_RESULT,
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    DEFERRED_UPDATE,
    MESSAGE_COMPONENT,
    MODAL,
    MODAL_SUBMIT,
    UPDATE_MESSAGE,
    InteractionHandle,
    Sent,
    SentFile,
)
from tests.discord_standin.state import (
    CREATE_PUBLIC_THREADS,
    DEFAULT_UPLOAD_LIMIT,
    EPHEMERAL,
    LOADING,
    SEND_MESSAGES_IN_THREADS,
    Channel,
    Message,
    UploadedPart,
    command_errors,
)

if TYPE_CHECKING:
    from tests.discord_standin.server import StandIn

MANAGE_MESSAGES = 1 << 13

API_PREFIX = "/api/v10"
NONCE_WINDOW = 5 * 60.0  # "the past few minutes" in Discord's docs on enforce_nonce
MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_ATTACHMENTS = 10
MAX_CUSTOM_ID = 100

# Callback types each interaction type may answer with.
ALLOWED_CALLBACKS = {
    APPLICATION_COMMAND: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, MODAL},
    MESSAGE_COMPONENT: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE, MODAL},
    MODAL_SUBMIT: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE},
    AUTOCOMPLETE: {AUTOCOMPLETE_RESULT},
}


def json_response(data: Any, status: int = 200) -> web.Response:
    # Exactly "application/json": discord.py's json_or_text compares the header
    # verbatim, and web.json_response would append "; charset=utf-8".
    return web.Response(body=json.dumps(data).encode(), status=status, content_type="application/json")


class ApiError(Exception):
    def __init__(self, status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status, self.code, self.message, self.errors = status, code, message, errors

    def response(self) -> web.Response:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return json_response(body, self.status)


def invalid_form(errors: dict[str, Any]) -> ApiError:
    return ApiError(400, 50035, "Invalid Form Body", errors)


def field_error(name: str, code: str, message: str) -> dict[str, Any]:
    return {name: {"_errors": [{"code": code, "message": message}]}}


@dataclass
class Body:
    json: Any = None
    files: list[UploadedPart] = field(default_factory=list)


BODY = web.RequestKey("body", Body)  # the parsed body, set by StandIn's middleware


def parse_multipart(content_type: str, raw: bytes) -> list[UploadedPart]:
    """Split a multipart/form-data body. The whole body is already in memory (the
    middleware reads it so a rejected upload never leaves the client mid-send)."""
    header = HeaderParser().parsestr(f"Content-Type: {content_type}\r\n\r\n")
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str):
        raise ApiError(400, 50109, "The request body contains invalid JSON.")
    parts: list[UploadedPart] = []
    for chunk in raw.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        headers = HeaderParser().parsestr(head.decode("utf-8", "replace"))
        name = headers.get_param("name", header="content-disposition")
        parts.append(UploadedPart(str(name), headers.get_filename(), data.removesuffix(b"\r\n")))
    return parts


def parse_body(request: web.Request, raw: bytes) -> Body:
    if request.content_type == "multipart/form-data":
        parts = parse_multipart(request.headers["Content-Type"], raw)
        payload = next((p for p in parts if p.name == "payload_json"), None)
        body = Body(files=[p for p in parts if p.filename is not None or p.index is not None])
        if payload is not None:
            body.json = _loads(payload.data)
        return body
    if raw:
        return Body(json=_loads(raw))
    return Body()


def _loads(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(400, 50109, "The request body contains invalid JSON.") from None


def check_message_body(body: dict[str, Any], files: list[UploadedPart], *, creating: bool) -> None:
    """Limits Discord enforces on message bodies that a bot can plausibly hit."""
    content = body.get("content")
    if content is not None and len(str(content)) > MAX_CONTENT:
        raise invalid_form(field_error("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length."))
    if len(body.get("embeds") or []) > MAX_EMBEDS:
        raise invalid_form(field_error("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length."))
    if len(files) > MAX_ATTACHMENTS:
        raise invalid_form(field_error("files", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length."))
    check_components(body.get("components") or [])
    if creating and not (
        content or body.get("embeds") or files or body.get("components") or body.get("sticker_ids") or body.get("poll")
    ):
        raise ApiError(400, 50006, "Cannot send an empty message")


def check_components(components: list[dict[str, Any]]) -> None:
    seen: set[str] = set()

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            custom_id = item.get("custom_id")
            if custom_id is not None:
                if len(custom_id) > MAX_CUSTOM_ID:
                    raise invalid_form(
                        field_error("components", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
                    )
                if custom_id in seen:
                    raise invalid_form(
                        field_error("components", "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated")
                    )
                seen.add(custom_id)
            children = list(item.get("components", []))
            children += [item[k] for k in ("accessory", "component") if isinstance(item.get(k), dict)]
            if item.get("type") == 1 and len(children) > 5:
                raise invalid_form(field_error("components", "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length."))
            walk(children)

    walk(components)


class RestApi:
    def __init__(self, standin: StandIn) -> None:
        self.s = standin

    def routes(self) -> list[web.RouteDef]:
        p = API_PREFIX
        app = "/applications/{application_id}"
        hook = "/webhooks/{webhook_id}/{webhook_token}"
        return [
            web.get(f"{p}/gateway", self.get_gateway),
            web.get(f"{p}/gateway/bot", self.get_gateway_bot),
            web.get(f"{p}/users/@me", self.get_me),
            web.get(f"{p}/users/{{user_id}}", self.get_user),
            web.post(f"{p}/users/@me/channels", self.create_dm),
            web.get(f"{p}/oauth2/applications/@me", self.get_application),
            web.get(f"{p}/applications/@me", self.get_application),
            web.get(f"{p}{app}/commands", self.list_commands),
            web.put(f"{p}{app}/commands", self.overwrite_commands),
            web.post(f"{p}{app}/commands", self.upsert_command),
            web.get(f"{p}{app}/commands/{{command_id}}", self.get_command),
            web.patch(f"{p}{app}/commands/{{command_id}}", self.edit_command),
            web.delete(f"{p}{app}/commands/{{command_id}}", self.delete_command),
            web.get(f"{p}{app}/guilds/{{guild_id}}/commands", self.list_commands),
            web.put(f"{p}{app}/guilds/{{guild_id}}/commands", self.overwrite_commands),
            web.post(f"{p}{app}/guilds/{{guild_id}}/commands", self.upsert_command),
            web.get(f"{p}{app}/guilds/{{guild_id}}/commands/{{command_id}}", self.get_command),
            web.patch(f"{p}{app}/guilds/{{guild_id}}/commands/{{command_id}}", self.edit_command),
            web.delete(f"{p}{app}/guilds/{{guild_id}}/commands/{{command_id}}", self.delete_command),
            web.get(f"{p}/guilds/{{guild_id}}", self.get_guild),
            web.get(f"{p}/guilds/{{guild_id}}/channels", self.get_guild_channels),
            web.get(f"{p}/guilds/{{guild_id}}/roles", self.get_guild_roles),
            web.get(f"{p}/guilds/{{guild_id}}/members/{{user_id}}", self.get_member),
            web.get(f"{p}/channels/{{channel_id}}", self.get_channel),
            web.patch(f"{p}/channels/{{channel_id}}", self.edit_channel),
            web.post(f"{p}/channels/{{channel_id}}/messages/{{message_id}}/threads", self.start_thread),
            web.post(f"{p}/channels/{{channel_id}}/typing", self.typing),
            web.get(f"{p}/channels/{{channel_id}}/messages", self.list_messages),
            web.post(f"{p}/channels/{{channel_id}}/messages", self.create_message),
            web.get(f"{p}/channels/{{channel_id}}/messages/{{message_id}}", self.get_message),
            web.patch(f"{p}/channels/{{channel_id}}/messages/{{message_id}}", self.edit_message),
            web.delete(f"{p}/channels/{{channel_id}}/messages/{{message_id}}", self.delete_message),
            web.post(f"{p}/interactions/{{webhook_id}}/{{webhook_token}}/callback", self.interaction_callback),
            web.post(f"{p}{hook}", self.followup),
            web.get(f"{p}{hook}/messages/{{message_id}}", self.get_webhook_message),
            web.patch(f"{p}{hook}/messages/{{message_id}}", self.edit_webhook_message),
            web.delete(f"{p}{hook}/messages/{{message_id}}", self.delete_webhook_message),
            web.get("/cdn/attachments/{channel_id}/{file_id}/{filename}", self.cdn),
            web.get("/media/attachments/{channel_id}/{file_id}/{filename}", self.cdn),
        ]

    # --- helpers -------------------------------------------------------------------
    @staticmethod
    def body(request: web.Request) -> Body:
        return request[BODY]

    @staticmethod
    def snowflake(request: web.Request, name: str, error: ApiError) -> int:
        try:
            return int(request.match_info[name])
        except ValueError:
            raise error from None

    def channel(self, request: web.Request) -> Channel:
        unknown = ApiError(404, 10003, "Unknown Channel")
        channel = self.s.channels.get(self.snowflake(request, "channel_id", unknown))
        if channel is None:
            raise unknown
        return channel

    def upload_limit(self, channel: Channel) -> int:
        guild = self.s.guilds.get(channel.guild_id) if channel.guild_id else None
        return guild.upload_limit if guild else DEFAULT_UPLOAD_LIMIT

    def check_uploads(self, channel: Channel, files: list[UploadedPart]) -> None:
        limit = self.upload_limit(channel)
        if any(len(f.data) > limit for f in files):
            raise ApiError(413, 40005, "Request entity too large")

    # --- identity ------------------------------------------------------------------
    async def get_gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self.s.gateway_url})

    async def get_gateway_bot(self, request: web.Request) -> web.Response:
        limit = {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1}
        return json_response({"url": self.s.gateway_url, "shards": self.s.shard_count, "session_start_limit": limit})

    async def get_me(self, request: web.Request) -> web.Response:
        return json_response(self.s.bot_user.payload() | {"verified": True, "mfa_enabled": False, "flags": 0})

    async def get_user(self, request: web.Request) -> web.Response:
        unknown = ApiError(404, 10013, "Unknown User")
        user = self.s.users.get(self.snowflake(request, "user_id", unknown))
        if user is None:
            raise unknown
        return json_response(user.payload())

    async def create_dm(self, request: web.Request) -> web.Response:
        recipient = self.s.users.get(int((self.body(request).json or {}).get("recipient_id", 0)))
        if recipient is None:
            raise invalid_form(field_error("recipient_id", "NUMBER_TYPE_COERCE", "Value is not snowflake."))
        return json_response(self.s.dm_channel(recipient).payload())

    async def get_application(self, request: web.Request) -> web.Response:
        s = self.s
        return json_response(
            {
                "id": str(s.application_id),
                "name": s.bot_user.username,
                "icon": None,
                "description": "",
                "summary": "",
                "type": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "owner": s.owner.payload(),
                "team": None,
                "flags": s.application_flags,
                "bot": s.bot_user.payload(),
                # Must stay null: with an endpoint URL Discord sends interactions there, not over the gateway.
                "interactions_endpoint_url": None,
                "redirect_uris": [],
                "tags": [],
                "approximate_guild_count": len(s.guilds),
                "integration_types_config": {"0": {}},
            }
        )

    # --- application commands ------------------------------------------------------
    def command_scope(self, request: web.Request) -> int | None:
        if request.match_info["application_id"] != str(self.s.application_id):
            raise ApiError(404, 10002, "Unknown Application")
        if "guild_id" not in request.match_info:
            return None
        unknown = ApiError(404, 10004, "Unknown Guild")
        guild_id = self.snowflake(request, "guild_id", unknown)
        if guild_id not in self.s.guilds:
            raise unknown
        return guild_id

    def command_id(self, request: web.Request) -> int:
        return self.snowflake(request, "command_id", ApiError(404, 10063, "Unknown application command"))

    async def list_commands(self, request: web.Request) -> web.Response:
        return json_response(self.s.commands.list(self.command_scope(request)))

    async def overwrite_commands(self, request: web.Request) -> web.Response:
        scope = self.command_scope(request)
        bodies = self.body(request).json
        if not isinstance(bodies, list):
            raise invalid_form(field_error("_root", "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType"))
        errors = command_errors(bodies)
        if errors:
            raise invalid_form(errors)
        return json_response(self.s.commands.overwrite(scope, bodies))

    async def upsert_command(self, request: web.Request) -> web.Response:
        scope = self.command_scope(request)
        body = self.body(request).json or {}
        errors = command_errors([body])
        if errors:
            raise invalid_form(errors["0"])
        existed = self.s.commands.find(body.get("name", ""), scope, body.get("type", 1)) is not None
        return json_response(self.s.commands.upsert(scope, body), 200 if existed else 201)

    async def get_command(self, request: web.Request) -> web.Response:
        command = self.s.commands.by_id(self.command_scope(request), self.command_id(request))
        if command is None:
            raise ApiError(404, 10063, "Unknown application command")
        return json_response(command)

    async def edit_command(self, request: web.Request) -> web.Response:
        command = self.s.commands.edit(self.command_scope(request), self.command_id(request), self.body(request).json or {})
        if command is None:
            raise ApiError(404, 10063, "Unknown application command")
        return json_response(command)

    async def delete_command(self, request: web.Request) -> web.Response:
        if not self.s.commands.delete(self.command_scope(request), self.command_id(request)):
            raise ApiError(404, 10063, "Unknown application command")
        return web.Response(status=204)

    # --- guilds and channels -------------------------------------------------------
    def guild(self, request: web.Request) -> Any:
        unknown = ApiError(404, 10004, "Unknown Guild")
        guild = self.s.guilds.get(self.snowflake(request, "guild_id", unknown))
        if guild is None:
            raise unknown
        return guild

    async def get_guild(self, request: web.Request) -> web.Response:
        guild = self.guild(request)
        data = guild.payload(members=[], joined_at="")
        for key in ("channels", "members", "threads", "voice_states", "presences", "joined_at", "large", "lazy"):
            data.pop(key, None)  # the REST guild object has none of the gateway-only fields
        return json_response(data)

    async def get_guild_channels(self, request: web.Request) -> web.Response:
        return json_response([c.payload() for c in self.guild(request).channels.values()])

    async def get_guild_roles(self, request: web.Request) -> web.Response:
        return json_response([r.payload() for r in self.guild(request).roles.values()])

    async def get_member(self, request: web.Request) -> web.Response:
        guild = self.guild(request)
        unknown = ApiError(404, 10007, "Unknown Member")
        member = guild.members.get(self.snowflake(request, "user_id", unknown))
        if member is None:
            raise unknown
        return json_response(member.payload())

    async def get_channel(self, request: web.Request) -> web.Response:
        return json_response(self.channel(request).payload())

    async def edit_channel(self, request: web.Request) -> web.Response:
        """Only what a bot does to its own threads: rename, archive, lock."""
        channel = self.channel(request)
        body = self.body(request).json or {}
        if not channel.is_thread:
            raise ApiError(403, 50013, "Missing Permissions")
        if "name" in body:
            channel.name = str(body["name"])[:100]
        if "archived" in body:
            channel.archived = bool(body["archived"])
        if "locked" in body:
            channel.locked = bool(body["locked"])
        await self.s.channel_updated(channel)
        return json_response(channel.payload())

    async def start_thread(self, request: web.Request) -> web.Response:
        """A public thread on a message: the thread's id is the message's, as on Discord."""
        channel = self.channel(request)
        starter = self.message(request, channel)
        body = self.body(request).json or {}
        name = str(body.get("name") or "")
        if not 1 <= len(name) <= 100:
            raise invalid_form(field_error("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."))
        if channel.is_thread or channel.type not in (0, 5):
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        guild = self.s.guilds[channel.guild_id] if channel.guild_id else None
        if guild is None or not guild.permissions_of(self.s.bot_user.id) & CREATE_PUBLIC_THREADS:
            raise ApiError(403, 50013, "Missing Permissions")
        if starter.id in self.s.channels:
            raise ApiError(400, 160004, "A thread has already been created for this message")
        thread = await self.s.open_thread(channel, starter, name, int(body.get("auto_archive_duration") or 4320))
        return json_response(thread.payload())

    async def typing(self, request: web.Request) -> web.Response:
        self.channel(request)
        return web.Response(status=204)

    # --- channel messages ----------------------------------------------------------
    def message(self, request: web.Request, channel: Channel) -> Message:
        unknown = ApiError(404, 10008, "Unknown Message")
        message = self.s.messages_by_id.get(self.snowflake(request, "message_id", unknown))
        if message is None or message.deleted or message.ephemeral or message.channel_id != channel.id:
            raise unknown
        return message

    async def list_messages(self, request: web.Request) -> web.Response:
        channel = self.channel(request)
        limit = max(1, min(100, int(request.query.get("limit", 50))))
        messages = sorted(self.s.channel_messages(channel), key=lambda m: m.id, reverse=True)
        if "before" in request.query:
            messages = [m for m in messages if m.id < int(request.query["before"])]
        if "after" in request.query:
            # The oldest ones after the id, still answered newest first.
            messages = sorted((m for m in messages if m.id > int(request.query["after"])), key=lambda m: m.id)
            messages = list(reversed(messages[:limit]))
        if "around" in request.query:
            around = int(request.query["around"])
            messages.sort(key=lambda m: abs(m.id - around))
            messages = sorted(messages[:limit], key=lambda m: m.id, reverse=True)
        return json_response([m.payload() for m in messages[:limit]])

    async def get_message(self, request: web.Request) -> web.Response:
        return json_response(self.message(request, self.channel(request)).payload())

    async def create_message(self, request: web.Request) -> web.Response:
        channel = self.channel(request)
        body = self.body(request)
        payload = body.json or {}
        nonce = payload.get("nonce")
        if nonce is not None and payload.get("enforce_nonce"):
            # The same author and nonce within a few minutes: answer with the first
            # message and create nothing (how a retried send stays single).
            earlier = self.s.message_by_nonce(channel.id, self.s.bot_user.id, str(nonce), NONCE_WINDOW)
            if earlier is not None:
                return json_response(earlier.payload())
        check_message_body(payload, body.files, creating=True)
        self.check_uploads(channel, body.files)
        self.check_thread_post(channel)
        message = await self.s.create_message(channel, self.s.bot_user, payload, body.files)
        return json_response(message.payload())

    def check_thread_post(self, channel: Channel) -> None:
        """Posting in a thread needs Send Messages in Threads, and an open (or unlocked) thread."""
        if not channel.is_thread:
            return
        guild = self.s.guilds[channel.guild_id] if channel.guild_id else None
        if guild is None or not guild.permissions_of(self.s.bot_user.id) & SEND_MESSAGES_IN_THREADS:
            raise ApiError(403, 50013, "Missing Permissions")
        if channel.locked:
            raise ApiError(400, 50083, "Thread is locked")
        if channel.archived:
            channel.archived = False  # a bot's post unarchives an archived (not locked) thread

    async def edit_message(self, request: web.Request) -> web.Response:
        channel = self.channel(request)
        message = self.message(request, channel)
        if message.author.id != self.s.bot_user.id:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        body = self.body(request)
        check_message_body(body.json or {}, body.files, creating=False)
        self.check_uploads(channel, body.files)
        await self.s.edit_message(message, body.json or {}, body.files)
        return json_response(message.payload())

    async def delete_message(self, request: web.Request) -> web.Response:
        channel = self.channel(request)
        message = self.message(request, channel)
        if message.author.id != self.s.bot_user.id:
            # Someone else's message: only with Manage Messages, as on Discord.
            guild = self.s.guilds.get(channel.guild_id) if channel.guild_id else None
            if guild is None or not guild.permissions_of(self.s.bot_user.id) & MANAGE_MESSAGES:
                raise ApiError(403, 50013, "Missing Permissions")
        await self.s.delete_message(message)
        return web.Response(status=204)

    # --- interactions --------------------------------------------------------------
    async def interaction_callback(self, request: web.Request) -> web.Response:
        unknown = ApiError(404, 10062, "Unknown interaction")
        handle = self.s.interactions.get(self.snowflake(request, "webhook_id", unknown))
        if handle is None or handle.token != request.match_info["webhook_token"]:
            raise unknown
        body = self.body(request)
        payload = body.json or {}
        sent = Sent(
            kind="callback",
            status=0,
            elapsed=self.s.clock.now() - handle.created_at,
            body=payload,
            files=[SentFile(f.filename or f.name, len(f.data)) for f in body.files],
        )
        try:
            response = await self._callback(request, handle, payload, body.files, sent)
        except ApiError as error:
            sent.status, sent.error_code = error.status, error.code
            handle.sent.append(sent)
            self.s.notify()
            raise
        sent.status = response.status
        handle.sent.append(sent)
        self.s.notify()
        return response

    async def _callback(
        self,
        request: web.Request,
        handle: InteractionHandle,
        payload: dict[str, Any],
        files: list[UploadedPart],
        sent: Sent,
    ) -> web.Response:
        if handle.answer is not None:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        if handle.expired or sent.elapsed > self.s.ack_deadline:
            raise ApiError(404, 10062, "Unknown interaction")
        kind = payload.get("type")
        source = handle.source_message
        if kind not in ALLOWED_CALLBACKS.get(handle.type, set()) or (kind in (6, 7) and source is None):
            raise invalid_form(field_error("type", "INTERACTION_RESPONSE_TYPE_INVALID", "Invalid interaction response type"))
        data = payload.get("data") or {}
        message: Message | None = None
        if kind == CHANNEL_MESSAGE:
            check_message_body(data, files, creating=True)
            self.check_uploads(handle.channel, files)
            message = await self.s.create_message(handle.channel, self.s.bot_user, data, files, interaction=handle)
            handle.original_message_id = message.id
        elif kind == DEFERRED_CHANNEL_MESSAGE:
            # Discord shows "Bot is thinking..." as a real message with the LOADING flag.
            flags = LOADING | (int(data.get("flags") or 0) & EPHEMERAL)
            message = await self.s.create_message(handle.channel, self.s.bot_user, {}, [], flags=flags, interaction=handle)
            handle.original_message_id = message.id
        elif kind == DEFERRED_UPDATE:
            handle.original_message_id = source.id  # type: ignore[union-attr]
        elif kind == UPDATE_MESSAGE:
            assert source is not None
            check_message_body(data, files, creating=False)
            self.check_uploads(handle.channel, files)
            await self.s.edit_message(source, data, files)
            handle.original_message_id = source.id
            message = source
        elif kind == AUTOCOMPLETE_RESULT:
            handle.choices = list(data.get("choices") or [])
        elif kind == MODAL:
            if not data.get("custom_id") or not data.get("title") or not data.get("components"):
                raise invalid_form(field_error("data", "MODAL_INVALID", "A modal needs custom_id, title and components"))
            handle.modal = data
        handle.answer = sent
        sent.message_id = message.id if message else None

        if request.query.get("with_response", "").lower() not in ("1", "true"):
            return web.Response(status=204)
        interaction: dict[str, Any] = {"id": str(handle.id), "type": handle.type}
        result: dict[str, Any] = {"interaction": interaction}
        if message is not None:
            interaction.update(
                response_message_id=str(message.id),
                response_message_loading=kind == DEFERRED_CHANNEL_MESSAGE,
                response_message_ephemeral=message.ephemeral,
            )
            result["resource"] = {"type": kind, "message": message.payload()}
        return json_response(result)

    # --- interaction webhooks ------------------------------------------------------
    def webhook_handle(self, request: web.Request) -> InteractionHandle:
        handle = self.s.interaction_tokens.get(request.match_info["webhook_token"])
        if handle is None:
            raise ApiError(401, 50027, "Invalid Webhook Token")
        return handle

    def check_webhook(self, request: web.Request, handle: InteractionHandle) -> None:
        if request.match_info["webhook_id"] != str(self.s.application_id):
            raise ApiError(404, 10015, "Unknown Webhook")
        if handle.expired or self.s.clock.now() - handle.created_at > self.s.token_lifetime:
            raise ApiError(401, 50027, "Invalid Webhook Token")

    async def _recorded(
        self,
        request: web.Request,
        kind: str,
        action: Callable[[InteractionHandle], Awaitable[tuple[web.Response, Message | None]]],
    ) -> web.Response:
        handle = self.webhook_handle(request)
        body = self.body(request)
        sent = Sent(
            kind=kind,
            status=0,
            elapsed=self.s.clock.now() - handle.created_at,
            body=body.json,
            files=[SentFile(f.filename or f.name, len(f.data)) for f in body.files],
        )
        try:
            # Checked inside the record so that a test sees the rejected call.
            self.check_webhook(request, handle)
            response, message = await action(handle)
        except ApiError as error:
            sent.status, sent.error_code = error.status, error.code
            handle.sent.append(sent)
            self.s.notify()
            raise
        sent.status = response.status
        sent.message_id = message.id if message else None
        handle.sent.append(sent)
        self.s.notify()
        return response

    def webhook_message(self, request: web.Request, handle: InteractionHandle) -> Message:
        unknown = ApiError(404, 10008, "Unknown Message")
        raw = request.match_info["message_id"]
        if raw == "@original":
            message_id = handle.original_message_id
        else:
            message_id = self.snowflake(request, "message_id", unknown)
            if message_id not in handle.followup_ids and message_id != handle.original_message_id:
                message_id = None
        message = self.s.messages_by_id.get(message_id) if message_id else None
        if message is None or message.deleted:
            raise unknown
        return message

    @staticmethod
    def webhook_kind(request: web.Request, verb: str) -> str:
        return f"{verb}_original" if request.match_info["message_id"] == "@original" else f"{verb}_followup"

    async def get_webhook_message(self, request: web.Request) -> web.Response:
        async def action(handle: InteractionHandle) -> tuple[web.Response, Message | None]:
            message = self.webhook_message(request, handle)
            return json_response(message.payload()), message

        return await self._recorded(request, self.webhook_kind(request, "get"), action)

    async def edit_webhook_message(self, request: web.Request) -> web.Response:
        async def action(handle: InteractionHandle) -> tuple[web.Response, Message | None]:
            message = self.webhook_message(request, handle)
            body = self.body(request)
            check_message_body(body.json or {}, body.files, creating=False)
            self.check_uploads(handle.channel, body.files)
            await self.s.edit_message(message, body.json or {}, body.files)
            return json_response(message.payload()), message

        return await self._recorded(request, self.webhook_kind(request, "edit"), action)

    async def delete_webhook_message(self, request: web.Request) -> web.Response:
        async def action(handle: InteractionHandle) -> tuple[web.Response, Message | None]:
            message = self.webhook_message(request, handle)
            await self.s.delete_message(message)
            return web.Response(status=204), message

        return await self._recorded(request, self.webhook_kind(request, "delete"), action)

    async def followup(self, request: web.Request) -> web.Response:
        async def action(handle: InteractionHandle) -> tuple[web.Response, Message | None]:
            if handle.answer is None:
                # Follow-ups need an initial response first.
                raise ApiError(404, 10015, "Unknown Webhook")
            body = self.body(request)
            payload = body.json or {}
            check_message_body(payload, body.files, creating=True)
            self.check_uploads(handle.channel, body.files)
            message = await self.s.create_message(
                handle.channel, self.s.bot_user, payload, body.files, interaction=handle, followup=True
            )
            handle.followup_ids.append(message.id)
            if request.query.get("wait", "false").lower() in ("1", "true"):
                return json_response(message.payload()), message
            return web.Response(status=204), message

        return await self._recorded(request, "followup", action)

    # --- CDN -----------------------------------------------------------------------
    async def cdn(self, request: web.Request) -> web.Response:
        try:
            file_id = int(request.match_info["file_id"])
        except ValueError:
            file_id = 0
        stored = self.s.cdn.fetch(file_id, request.query.get("ex", ""), request.query.get("hm", ""))
        if not self.s.cdn.flowing.is_set():
            self.s.cdn.held += 1
            self.s.notify()
            await self.s.cdn.flowing.wait()
        if stored is None or stored.filename != request.match_info["filename"]:
            return web.Response(status=404, text="This content is no longer available.")
        self.s.cdn.downloads.append(stored.filename)
        return web.Response(body=stored.data, content_type=stored.content_type or "application/octet-stream")

