"""The websocket gateway: HELLO, IDENTIFY/READY/GUILD_CREATE, heartbeats, RESUME
with replay, RECONNECT and INVALID_SESSION, and event dispatch.

Every dispatched event is appended to its session's buffer with the next
sequence number and then flushed to the live connection, if any. A connection
remembers the last sequence it sent, so a RESUME only has to set that to the
client's `seq` and flush again: the replay and the live stream are one path.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from tests.discord_standin.state import Member, iso

if TYPE_CHECKING:
    from tests.discord_standin.server import StandIn

# Opcodes (https://discord.com/developers/docs/topics/opcodes-and-status-codes).
DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE_UPDATE, VOICE_STATE = 0, 1, 2, 3, 4
RESUME, RECONNECT, REQUEST_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 6, 7, 8, 9, 10, 11

# Intents the stand-in filters on.
GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_PRESENCES = 1 << 8
GUILD_MESSAGES = 1 << 9
DIRECT_MESSAGES = 1 << 12
MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT

MAX_BUFFERED_EVENTS = 10_000

EventData = dict[str, Any] | Callable[["Session"], dict[str, Any]]


@dataclass
class Session:
    id: str
    intents: int
    shard: tuple[int, int]
    identify: dict[str, Any]
    events: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    seq: int = 0
    connection: Connection | None = None
    resumes: int = 0
    invalid: bool = False

    def owns_guild(self, guild_id: int | None) -> bool:
        shard_id, shard_count = self.shard
        return guild_id is None or (guild_id >> 22) % shard_count == shard_id

    def push(self, event: str, data: dict[str, Any]) -> None:
        self.seq += 1
        self.events.append((self.seq, event, data))
        del self.events[:-MAX_BUFFERED_EVENTS]


@dataclass
class Connection:
    """One websocket; what tests look at after a reconnect: which path it came in
    on (the resume URL or the default one) and what it was sent."""

    ws: web.WebSocketResponse
    request: web.Request
    compress: str | None
    session: Session | None = None
    sent_seq: int = 0
    heartbeats: int = 0
    received_ops: list[int] = field(default_factory=list)
    sent_events: list[str] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _zlib: Any = None

    @property
    def path(self) -> str:
        return self.request.path

    @property
    def open(self) -> bool:
        return not self.ws.closed

    async def send(self, payload: dict[str, Any]) -> bool:
        async with self.lock:
            return await self._send_locked(payload)

    async def _send_locked(self, payload: dict[str, Any]) -> bool:
        if self.ws.closed:
            return False
        text = json.dumps(payload, separators=(",", ":"))
        try:
            if self.compress == "zlib-stream":
                # One compressor for the whole connection; each message ends with a
                # sync flush (00 00 ff ff), which is how discord.py finds message ends.
                if self._zlib is None:
                    self._zlib = zlib.compressobj()
                chunk = self._zlib.compress(text.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
                await self.ws.send_bytes(chunk)
            else:
                await self.ws.send_str(text)
        except (ConnectionError, RuntimeError):  # the socket went away under us
            return False
        return True

    async def flush(self) -> None:
        """Send every buffered event after `sent_seq`, in order."""
        async with self.lock:
            if self.session is None:
                return
            for seq, event, data in list(self.session.events):
                if seq <= self.sent_seq:
                    continue
                if not await self._send_locked({"op": DISPATCH, "t": event, "s": seq, "d": data}):
                    return
                self.sent_seq = seq
                self.sent_events.append(event)


class Gateway:
    def __init__(self, standin: StandIn, heartbeat_interval: float = 41.25) -> None:
        self.standin = standin
        self.heartbeat_interval = heartbeat_interval
        self.sessions: dict[str, Session] = {}
        self.connections: list[Connection] = []

    # --- what tests use ------------------------------------------------------------
    @property
    def live_sessions(self) -> list[Session]:
        return [s for s in self.sessions.values() if not s.invalid and s.connection and s.connection.open]

    async def drop(self, code: int | None = 4000) -> None:
        """Close every live socket from the server side: with a close code (4000,
        "unknown error", is one discord.py resumes after) or, with None, by cutting
        the TCP connection without a close frame."""
        for connection in [c for c in self.connections if c.open]:
            if code is None:
                transport = connection.request.transport
                if transport is not None:
                    transport.close()
            else:
                await connection.ws.close(code=code, message=b"stand-in closed the connection")

    async def reconnect(self) -> None:
        """Op 7 RECONNECT: the client closes and resumes."""
        for connection in [c for c in self.connections if c.open and c.session]:
            await connection.send({"op": RECONNECT, "d": None, "s": None, "t": None})

    async def invalidate(self, resumable: bool = False) -> None:
        """Op 9 INVALID_SESSION. Not resumable: the session is forgotten and the
        client must IDENTIFY again."""
        for connection in [c for c in self.connections if c.open and c.session]:
            if not resumable and connection.session is not None:
                connection.session.invalid = True
            await connection.send({"op": INVALID_SESSION, "d": resumable, "s": None, "t": None})

    async def dispatch(
        self, event: str, data: EventData, *, guild_id: int | None = None, intent: int | None = None
    ) -> None:
        """Buffer the event for every session that should see it and flush it to the
        live ones. Sessions whose socket is down keep it for their RESUME."""
        targets = [
            s
            for s in self.sessions.values()
            if not s.invalid and s.owns_guild(guild_id) and (intent is None or s.intents & intent)
        ]
        for session in targets:
            session.push(event, data(session) if callable(data) else data)
        for session in targets:
            if session.connection is not None:
                await session.connection.flush()
        self.standin.notify()

    # --- the websocket -------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        compress = request.query.get("compress")
        connection = Connection(ws=ws, request=request, compress=compress)
        self.connections.append(connection)
        if request.query.get("encoding", "json") != "json" or compress not in (None, "zlib-stream"):
            # discord.py on Python 3.14 would ask for zstd-stream; this stand-in only speaks zlib.
            await ws.close(code=4002, message=b"unsupported encoding or compression")
            return ws
        await connection.send(
            {"op": HELLO, "d": {"heartbeat_interval": int(self.heartbeat_interval * 1000)}, "s": None, "t": None}
        )
        try:
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    await ws.close(code=4002, message=b"decode error")
                    break
                try:
                    payload = json.loads(message.data)
                except ValueError:
                    await ws.close(code=4002, message=b"decode error")
                    break
                await self._on_payload(connection, payload)
        finally:
            session = connection.session
            if session is not None and session.connection is connection:
                session.connection = None
            self.standin.notify()
        return ws

    async def _on_payload(self, connection: Connection, payload: dict[str, Any]) -> None:
        op, data = payload.get("op"), payload.get("d")
        connection.received_ops.append(op)
        if op == HEARTBEAT:
            connection.heartbeats += 1
            await connection.send({"op": HEARTBEAT_ACK, "d": None, "s": None, "t": None})
        elif op == IDENTIFY:
            await self._identify(connection, data)
        elif op == RESUME:
            await self._resume(connection, data)
        elif connection.session is None:
            await connection.ws.close(code=4003, message=b"Not authenticated.")
        elif op == REQUEST_MEMBERS:
            await self._request_members(connection.session, data)
        elif op in (PRESENCE_UPDATE, VOICE_STATE):
            pass  # accepted and ignored: nothing in the stand-in depends on them
        else:
            await connection.ws.close(code=4001, message=b"Unknown opcode.")

    async def _identify(self, connection: Connection, data: dict[str, Any]) -> None:
        if connection.session is not None:
            await connection.ws.close(code=4005, message=b"Already authenticated.")
            return
        if data.get("token") != self.standin.token:
            await connection.ws.close(code=4004, message=b"Authentication failed.")
            return
        intents = data.get("intents")
        if not isinstance(intents, int):
            await connection.ws.close(code=4013, message=b"Invalid intent(s).")
            return
        if intents & PRIVILEGED_INTENTS & ~self.standin.privileged_intents:
            await connection.ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        shard_id, shard_count = data.get("shard") or (0, 1)
        if not 0 <= shard_id < shard_count:
            await connection.ws.close(code=4010, message=b"Invalid shard.")
            return

        session = Session(
            id=secrets.token_hex(16), intents=intents, shard=(shard_id, shard_count), identify=data
        )
        self.sessions[session.id] = session
        connection.session = session
        session.connection = connection

        guilds = [g for g in self.standin.guilds.values() if session.owns_guild(g.id)]
        ready: dict[str, Any] = {
            "v": 10,
            "user": self.standin.bot_user.payload() | {"verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.id,
            "session_type": "normal",
            # discord.py resumes on this URL, not on DEFAULT_GATEWAY: point it back here.
            "resume_gateway_url": self.standin.resume_gateway_url,
            "application": {"id": str(self.standin.application_id), "flags": self.standin.application_flags},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "user_settings": {},
            "geo_ordered_rtc_regions": [],
            "_trace": ["discord-standin"],
        }
        if data.get("shard"):
            ready["shard"] = [shard_id, shard_count]
        session.push("READY", ready)
        for guild in guilds:
            session.push("GUILD_CREATE", self.guild_create(guild, session))
        await connection.flush()
        self.standin.notify()

    def guild_create(self, guild: Any, session: Session) -> dict[str, Any]:
        """Without the members intent Discord sends only the bot's own member."""
        if session.intents & GUILD_MEMBERS:
            members = list(guild.members.values())
        else:
            members = [m for m in guild.members.values() if m.user.id == self.standin.bot_user.id]
        joined = guild.members.get(self.standin.bot_user.id)
        return guild.payload(members=members, joined_at=joined.joined_at if joined else iso())

    async def _resume(self, connection: Connection, data: dict[str, Any]) -> None:
        session = self.sessions.get(data.get("session_id", ""))
        if session is None or session.invalid or data.get("token") != self.standin.token:
            await connection.send({"op": INVALID_SESSION, "d": False, "s": None, "t": None})
            return
        old = session.connection
        if old is not None and old is not connection and old.open:
            await old.ws.close(code=4000, message=b"session resumed elsewhere")
        connection.session = session
        session.connection = connection
        session.resumes += 1
        # Everything after the client's last seen sequence is replayed, then RESUMED.
        connection.sent_seq = data.get("seq") or 0
        session.push("RESUMED", {"_trace": ["discord-standin"]})
        await connection.flush()
        self.standin.notify()

    async def _request_members(self, session: Session, data: dict[str, Any]) -> None:
        guild = self.standin.guilds.get(int(data["guild_id"]))
        if guild is None:
            return
        query = (data.get("query") or "").lower()
        user_ids = {int(u) for u in data.get("user_ids") or []}
        limit = data.get("limit") or len(guild.members)
        found: list[Member] = []
        for member in guild.members.values():
            if user_ids and member.user.id not in user_ids:
                continue
            if not user_ids and query and not member.user.username.lower().startswith(query):
                continue
            found.append(member)
        chunk: dict[str, Any] = {
            "guild_id": str(guild.id),
            "members": [m.payload() for m in found[:limit]],
            "chunk_index": 0,
            "chunk_count": 1,
        }
        if data.get("nonce"):
            chunk["nonce"] = data["nonce"]
        session.push("GUILD_MEMBERS_CHUNK", chunk)
        if session.connection is not None:
            await session.connection.flush()
