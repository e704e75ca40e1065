"""Where a download may connect: the address policy every `Downloader` (bot/downloads.py) enforces.

No connection to a loopback, private, link-local, multicast, reserved or cloud-metadata
address unless the URL's host is an allowed host (the providers' and Discord's configured
base URLs and the bot's own, so local stand-ins keep working: `allowed_hosts_from`). The
check is made twice, on public aiohttp hooks: `GuardedResolver` drops disallowed addresses
of a name, and `guarded_socket_factory` refuses the very address a socket is about to
connect to (IP literals never reach a resolver, and every redirect hop opens its sockets
through the same factory).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aiohappyeyeballs import AddrInfoType
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from bot.settings import Settings

# Cloud metadata services. Most sit in ranges refused anyway (link-local, ULA, shared
# address space); Azure's wire server is a public address, so every one is named here.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::23",  # AWS Time Sync / DNS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure wire server
    )
)
NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public_address(address: str | IPAddress) -> bool:
    """True for an address on the public internet that is no metadata service."""
    ip = ipaddress.ip_address(address.split("%", 1)[0]) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv4 address inside an IPv6 one is judged as itself: ::ffff:127.0.0.1, 6to4, NAT64.
        nat64 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in NAT64_PREFIX else None
        ip = ip.ipv4_mapped or ip.sixtofour or nat64 or ip
    if ip in METADATA_ADDRESSES:
        return False
    refused = ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved
    return ip.is_global and not (refused or ip.is_unspecified)


@dataclass(frozen=True)
class AllowedHost:
    """A host exempt from the address rule; `port` None means any port."""

    host: str
    port: int | None

    @classmethod
    def parse(cls, entry: str) -> AllowedHost:
        """`https://api.example.com` (its host and effective port), `host:port`, or a bare host or IP."""
        with contextlib.suppress(ValueError):
            return cls(str(ipaddress.ip_address(entry.strip("[]"))), None)
        url = URL(entry) if "://" in entry else URL(f"//{entry}")
        if not url.host:
            raise ValueError(f"not a host or URL: {entry!r}")
        port = url.port if "://" in entry or url.explicit_port is not None else None
        return cls(url.host.lower().strip("[]"), port)


class AddressRefused(OSError):
    """A connection we will not open. An OSError, so aiohttp carries it as `os_error`."""


class AddressPolicy:
    """Where a download may connect: public addresses, and the allowed hosts' own addresses."""

    def __init__(self, allowed_hosts: Iterable[str]) -> None:
        self.allowed: set[AllowedHost] = set()
        # (address, port) pairs an allowed host resolved to, or an allowed IP literal itself.
        self._pinned: set[tuple[str, int | None]] = set()
        for entry in allowed_hosts:
            self.allow(entry)

    def allow(self, entry: str) -> None:
        """Add one allowed host (see `AllowedHost.parse`)."""
        allowed = AllowedHost.parse(entry)
        self.allowed.add(allowed)
        with contextlib.suppress(ValueError):
            self._pinned.add((str(ipaddress.ip_address(allowed.host)), allowed.port))

    def host_allowed(self, host: str, port: int) -> bool:
        host = host.lower().strip("[]")
        return AllowedHost(host, port) in self.allowed or AllowedHost(host, None) in self.allowed

    def pin(self, address: str, port: int) -> None:
        """Remember an address an allowed name resolved to (bounded: allowed names × their addresses)."""
        self._pinned.add((str(ipaddress.ip_address(address.split("%", 1)[0])), port))

    def may_connect(self, address: str, port: int) -> bool:
        ip = str(ipaddress.ip_address(address.split("%", 1)[0]))
        return is_public_address(ip) or (ip, port) in self._pinned or (ip, None) in self._pinned


class GuardedResolver(AbstractResolver):
    """The default resolver, minus the addresses a download must not reach."""

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self.inner = inner or DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self.inner.resolve(host, port, family)
        if self.policy.host_allowed(host, port):
            for result in results:
                self.policy.pin(result["host"], result["port"])
            return results
        kept = [result for result in results if is_public_address(result["host"])]
        if not kept:
            raise AddressRefused(f"{host} resolves only to addresses the bot does not fetch from")
        return kept

    async def close(self) -> None:
        await self.inner.close()


def guarded_socket_factory(policy: AddressPolicy) -> Callable[[AddrInfoType], socket.socket]:
    """aiohttp's socket factory: called with the address of every connection, before it connects."""

    def make_socket(addr_info: AddrInfoType) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        address, port = str(sockaddr[0]), int(sockaddr[1])
        if not policy.may_connect(address, port):
            raise AddressRefused(f"refused to connect to {address}: not a public address")
        return socket.socket(family, type_, proto)

    return make_socket



def allowed_hosts_from(settings: Settings, own_base_url: str) -> frozenset[str]:
    """The hosts a download may reach on private addresses: every provider's configured base URL,
    DISCORD_API_BASE_URL when set (a stand-in also serves the attachments), PUBLIC_URL and the
    bot's own web address (`own_base_url`: the simulator serves its results from there)."""
    urls = (
        settings.kling_base_url,
        settings.goapi_base_url,
        settings.useapi_base_url,
        settings.modelslab_base_url,
        settings.discord_api_base_url,
        settings.public_url,
        own_base_url,
    )
    return frozenset(url for url in urls if url)
