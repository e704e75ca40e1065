"""A local Discord stand-in (REST, gateway, CDN) for end-to-end tests with the
real discord.py client. See server.py for the test API and connect.py for how a
client is pointed at it."""

from tests.discord_standin.connect import connect_client, run_client
from tests.discord_standin.interactions import InteractionHandle, Sent, Upload
from tests.discord_standin.server import CommandNotPermitted, Recorded, StandIn
from tests.discord_standin.state import (
    MANAGE_GUILD,
    MIB,
    Channel,
    Guild,
    Member,
    Message,
    Role,
    StoredFile,
    User,
)

__all__ = [
    "MANAGE_GUILD",
    "MIB",
    "Channel",
    "CommandNotPermitted",
    "Guild",
    "InteractionHandle",
    "Member",
    "Message",
    "Recorded",
    "Role",
    "Sent",
    "StandIn",
    "StoredFile",
    "Upload",
    "User",
    "connect_client",
    "run_client",
]
