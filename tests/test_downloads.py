"""The one downloader: size cap while reading, redirect limit, total and stall timeouts,
address rules checked before connecting, and results that must be videos.

Every server here listens on 127.0.0.1. The `connects` fixture records every address a socket
is asked to connect to and refuses anything not on loopback, so a broken address check fails
the test instead of sending a packet to 169.254.169.254.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from bot.address_policy import (
    AddressPolicy,
    AddressRefused,
    AllowedHost,
    GuardedResolver,
    allowed_hosts_from,
    guarded_socket_factory,
    is_public_address,
)
from bot.downloads import Downloader
from bot.errors import (
    DownloadRefused,
    Outage,
    ProviderError,
    RateLimited,
    TooLarge,
    UnknownProviderError,
)
from bot.settings import Settings
from tests.media_factory import make_image, make_video, truncate

CAP = 1_000_000
CHUNK = b"\0" * 65536


@dataclass
class Counters:
    """What the servers saw and sent, so tests can prove what did not happen."""

    sent: int = 0  # body bytes the endless stream handed to the socket
    stream_ended: asyncio.Event = field(default_factory=asyncio.Event)
    loop_hits: int = 0
    other_hits: int = 0
    flaky_hits: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)  # lets stalled handlers end at teardown


@dataclass
class Servers:
    origin: str  # the allowed host
    other: str  # a second loopback server that is NOT an allowed host
    other_port: int
    counters: Counters
    files: Path


async def _serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, runner.addresses[0][1]


@pytest.fixture
async def servers(tmp_path: Path) -> AsyncIterator[Servers]:
    counters = Counters()
    files = tmp_path.parent / f"{tmp_path.name}-served"  # outside tmp_path, which holds only downloads
    video = make_video(files / "clip.mp4", seconds=1.0)
    make_image(files / "still.png")
    truncated = files / "truncated.mp4"
    truncated.write_bytes(video.read_bytes())
    truncate(truncated, 0.4)

    async def endless(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()  # no Content-Length: only the reader can stop it
        await resp.prepare(request)
        try:
            while True:
                await resp.write(CHUNK)
                counters.sent += len(CHUNK)
        except (ConnectionError, RuntimeError):
            pass  # the client hung up, as it should
        finally:
            counters.stream_ended.set()
        return resp

    async def declared_big(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Length": str(10 * CAP)})
        await resp.prepare(request)
        with_suppressed = CHUNK * 4
        try:
            await resp.write(with_suppressed)
            await counters.release.wait()
        except ConnectionError:
            pass
        return resp

    async def stall(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Length": str(CAP)})
        await resp.prepare(request)
        await resp.write(b"\0" * 1000)
        await counters.release.wait()  # then nothing, until teardown
        return resp

    async def drip(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Length": str(CAP)})
        await resp.prepare(request)
        try:
            while not counters.release.is_set():
                await resp.write(b"\0" * 100)  # never silent for long, never done
                await asyncio.sleep(0.05)
        except ConnectionError:
            pass
        return resp

    async def loop(request: web.Request) -> web.Response:
        counters.loop_hits += 1
        raise web.HTTPFound("/loop")

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    async def flaky(request: web.Request) -> web.StreamResponse:
        counters.flaky_hits += 1
        if counters.flaky_hits == 1:
            raise web.HTTPServiceUnavailable()
        return web.FileResponse(video)

    async def html(_: web.Request) -> web.Response:
        return web.Response(text="<html>Access denied</html>", content_type="text/html")

    async def missing(_: web.Request) -> web.Response:
        return web.Response(status=404)

    async def other(request: web.Request) -> web.Response:
        counters.other_hits += 1
        return web.Response(body=video.read_bytes())

    app = web.Application()
    app.router.add_get("/endless", endless)
    app.router.add_get("/declared-big", declared_big)
    app.router.add_get("/stall", stall)
    app.router.add_get("/drip", drip)
    app.router.add_get("/loop", loop)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/flaky", flaky)
    app.router.add_get("/html", html)
    app.router.add_get("/missing", missing)
    app.router.add_static("/files", files)
    other_app = web.Application()
    other_app.router.add_get("/{tail:.*}", other)
    runner, port = await _serve(app)
    other_runner, other_port = await _serve(other_app)
    yield Servers(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{other_port}", other_port, counters, files)
    counters.release.set()
    await other_runner.cleanup()
    await runner.cleanup()


def record_connects(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every address a socket is asked to connect to; anything off loopback is refused here."""
    loop = asyncio.get_running_loop()
    real: Callable[[socket.socket, tuple[object, ...]], Awaitable[None]] = loop.sock_connect
    seen: list[str] = []

    async def sock_connect(sock: socket.socket, address: tuple[object, ...]) -> None:
        seen.append(str(address[0]))
        if str(address[0]) not in ("127.0.0.1", "::1"):
            raise AssertionError(f"a test tried to connect to {address[0]}")
        await real(sock, address)

    monkeypatch.setattr(loop, "sock_connect", sock_connect)
    return seen


@pytest.fixture
async def connects(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return record_connects(monkeypatch)


@pytest.fixture
async def downloader(servers: Servers, connects: list[str]) -> AsyncIterator[Downloader]:
    async def no_sleep(_: float) -> None:
        await asyncio.sleep(0)

    async with Downloader(
        allowed_hosts=[servers.origin],
        max_bytes=CAP,
        timeout_seconds=10,
        stall_seconds=5,
        max_redirects=3,
        max_retries=2,
        sleep=no_sleep,
    ) as made:
        yield made


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- a normal download ----------------------------------------------------------------


async def test_a_video_result_is_downloaded_whole_and_only_under_its_name(
    downloader: Downloader, servers: Servers, tmp_path: Path
) -> None:
    dest = tmp_path / "job" / "result.mp4"
    size = await downloader.download_video(f"{servers.origin}/files/clip.mp4", dest)
    source = servers.files / "clip.mp4"
    assert size == source.stat().st_size
    assert dest.read_bytes() == source.read_bytes()
    assert leftovers(dest.parent) == ["result.mp4"]


async def test_a_server_error_is_retried_and_then_succeeds(downloader: Downloader, servers: Servers, tmp_path: Path) -> None:
    dest = tmp_path / "result.mp4"
    await downloader.download_video(f"{servers.origin}/flaky", dest)
    assert servers.counters.flaky_hits == 2
    assert dest.stat().st_size == (servers.files / "clip.mp4").stat().st_size


async def test_a_missing_file_is_not_retried(downloader: Downloader, servers: Servers, tmp_path: Path) -> None:
    with pytest.raises(UnknownProviderError) as caught:
        await downloader.download(f"{servers.origin}/missing", tmp_path / "x.bin")
    assert caught.value.http_status == 404 and not caught.value.retryable
    assert leftovers(tmp_path) == []


# --- size cap ------------------------------------------------------------------------------


async def test_an_endless_body_is_stopped_at_the_cap_while_reading(
    downloader: Downloader, servers: Servers, tmp_path: Path
) -> None:
    dest = tmp_path / "job" / "image.png"
    with pytest.raises(TooLarge) as caught:
        await downloader.download(f"{servers.origin}/endless", dest, max_bytes=CAP)
    assert caught.value.limit == CAP and CAP < caught.value.size <= CAP + 256 * 1024
    # The server's loop only ends when the client hangs up: it did, long before "everything".
    await asyncio.wait_for(servers.counters.stream_ended.wait(), 5)
    assert servers.counters.sent < 64 * CAP  # what loopback socket buffers can hold, not more
    assert leftovers(dest.parent) == []


async def test_a_result_over_the_cap_is_a_provider_error_and_nothing_is_kept(
    downloader: Downloader, servers: Servers, tmp_path: Path
) -> None:
    with pytest.raises(UnknownProviderError) as caught:
        await downloader.download_video(f"{servers.origin}/endless", tmp_path / "result.mp4")
    assert "RESULT_MAX_BYTES" in caught.value.message and not caught.value.retryable
    assert not isinstance(caught.value, DownloadRefused)  # the link may still be posted
    assert leftovers(tmp_path) == []


async def test_a_declared_length_over_the_cap_is_refused_from_the_header(
    downloader: Downloader, servers: Servers, tmp_path: Path
) -> None:
    with pytest.raises(TooLarge) as caught:
        await downloader.download(f"{servers.origin}/declared-big", tmp_path / "x.bin", max_bytes=CAP)
    assert caught.value.size == 10 * CAP  # the header's figure: decided before reading the body
    assert leftovers(tmp_path) == []


# --- redirects and time ----------------------------------------------------------------


async def test_a_redirect_loop_ends_at_the_limit(downloader: Downloader, servers: Servers, tmp_path: Path) -> None:
    with pytest.raises(DownloadRefused) as caught:
        await downloader.download(f"{servers.origin}/loop", tmp_path / "x.bin")
    assert "more than 3 redirects" in caught.value.message and not caught.value.retryable
    assert servers.counters.loop_hits == 4  # the first request and 3 redirects, not one more
    assert leftovers(tmp_path) == []


async def test_no_redirect_is_followed_when_none_are_allowed(servers: Servers, connects: list[str], tmp_path: Path) -> None:
    async with Downloader(allowed_hosts=[servers.origin], max_redirects=0) as strict:
        with pytest.raises(DownloadRefused, match="more than 0 redirects"):
            await strict.download(f"{servers.origin}/redirect?to=/files/clip.mp4", tmp_path / "x.bin")
    assert leftovers(tmp_path) == []


async def test_a_stalled_download_is_abandoned_and_nothing_kept(servers: Servers, connects: list[str], tmp_path: Path) -> None:
    async with Downloader(allowed_hosts=[servers.origin], stall_seconds=0.3, max_retries=0) as stalling:
        with pytest.raises(Outage) as caught:
            await stalling.download(f"{servers.origin}/stall", tmp_path / "result.mp4")
    assert "stalled: no data for 0.3 s" in caught.value.message and caught.value.retryable
    assert leftovers(tmp_path) == []  # 1000 bytes had arrived: the .part is gone too


async def test_a_slow_drip_hits_the_total_timeout(servers: Servers, connects: list[str], tmp_path: Path) -> None:
    async with Downloader(allowed_hosts=[servers.origin], timeout_seconds=0.5, stall_seconds=5, max_retries=0) as slow:
        with pytest.raises(Outage) as caught:
            await slow.download(f"{servers.origin}/drip", tmp_path / "result.mp4")
    assert "took longer than 0.5 s" in caught.value.message
    assert leftovers(tmp_path) == []


# --- addresses -------------------------------------------------------------------------


async def test_a_redirect_to_another_loopback_port_is_refused(
    downloader: Downloader, servers: Servers, connects: list[str], tmp_path: Path
) -> None:
    target = f"{servers.other}/secret"
    with pytest.raises(DownloadRefused) as caught:
        await downloader.download(f"{servers.origin}/redirect?to={target}", tmp_path / "x.bin")
    assert "refused to connect to 127.0.0.1" in caught.value.message
    assert servers.counters.other_hits == 0
    assert leftovers(tmp_path) == []


async def test_a_redirect_to_a_name_for_loopback_is_refused_by_the_resolver(
    downloader: Downloader, servers: Servers, connects: list[str], tmp_path: Path
) -> None:
    target = f"http://localhost:{servers.other_port}/secret"
    with pytest.raises(DownloadRefused) as caught:
        await downloader.download(f"{servers.origin}/redirect?to={target}", tmp_path / "x.bin")
    assert "localhost resolves only to addresses the bot does not fetch from" in caught.value.message
    assert servers.counters.other_hits == 0


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/latest/"])
async def test_a_redirect_to_a_metadata_address_is_refused_before_connecting(
    downloader: Downloader, servers: Servers, connects: list[str], tmp_path: Path, target: str
) -> None:
    with pytest.raises(DownloadRefused) as caught:
        await downloader.download_video(f"{servers.origin}/redirect?to={target}", tmp_path / "result.mp4")
    assert "refused to connect" in caught.value.message and not caught.value.retryable
    assert connects and set(connects) == {"127.0.0.1"}  # only the allowed origin was ever dialled
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("url", ["http://10.0.0.7/x.mp4", "http://[::ffff:127.0.0.1]:9/x", "http://0.0.0.0:9/x"])
async def test_a_private_address_is_refused_without_a_connection(
    downloader: Downloader, connects: list[str], tmp_path: Path, url: str
) -> None:
    with pytest.raises(DownloadRefused):
        await downloader.download(url, tmp_path / "x.bin")
    assert connects == []


async def test_only_http_urls_are_fetched(downloader: Downloader, tmp_path: Path) -> None:
    with pytest.raises(DownloadRefused, match="only http and https"):
        await downloader.download("file:///etc/passwd", tmp_path / "x.bin")


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.100.100.200", "168.63.129.16",
     "100.64.0.1", "0.0.0.0", "224.0.0.1", "240.0.0.1", "::1", "fd00:ec2::254", "fe80::1%eth0", "::ffff:10.0.0.1", "ff02::1",
     "64:ff9b::a9fe:a9fe", "2002:7f00:1::1"],
)
def test_non_public_and_metadata_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111"])
def test_public_addresses_are_public(address: str) -> None:
    assert is_public_address(address)


class FixedResolver(AbstractResolver):
    """Answers every name with the same addresses, without any network."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=a, port=port, family=family, proto=0, flags=0) for a in self.addresses
        ]

    async def close(self) -> None:
        pass


async def test_the_resolver_keeps_public_addresses_and_trusts_allowed_hosts() -> None:
    policy = AddressPolicy(["https://api.example.test", "standin.test"])
    resolver = GuardedResolver(policy, FixedResolver("10.0.0.5", "93.184.216.34"))
    assert [r["host"] for r in await resolver.resolve("cdn.example.com", 443)] == ["93.184.216.34"]
    assert [r["host"] for r in await resolver.resolve("api.example.test", 443)] == ["10.0.0.5", "93.184.216.34"]
    with pytest.raises(AddressRefused):
        await GuardedResolver(policy, FixedResolver("10.0.0.5")).resolve("internal.example.com", 80)
    # An allowed name's own address (and port) may then be connected to; others on it may not.
    make = guarded_socket_factory(policy)
    make((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", 443))).close()
    with pytest.raises(AddressRefused):
        make((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", 22)))
    # A wrong port on an allowed host is not the allowed host.
    assert [r["host"] for r in await resolver.resolve("api.example.test", 8443)] == ["93.184.216.34"]


def test_allowed_hosts_parse_urls_host_ports_and_bare_hosts() -> None:
    assert AllowedHost.parse("https://api.goapi.ai") == AllowedHost("api.goapi.ai", 443)
    assert AllowedHost.parse("http://127.0.0.1:8080/base") == AllowedHost("127.0.0.1", 8080)
    assert AllowedHost.parse("http://[::1]:9000") == AllowedHost("::1", 9000)
    assert AllowedHost.parse("Localhost") == AllowedHost("localhost", None)
    assert AllowedHost.parse("::1") == AllowedHost("::1", None)
    assert AllowedHost.parse("standin:8765") == AllowedHost("standin", 8765)


def test_allowed_hosts_from_settings_name_every_configured_base() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        discord_api_base_url="http://127.0.0.1:8765",
        public_url="https://bot.example.com",
        goapi_base_url="http://127.0.0.1:9001",
    )
    hosts = {AllowedHost.parse(h) for h in allowed_hosts_from(settings, "http://127.0.0.1:8080")}
    assert {
        AllowedHost("127.0.0.1", 8765), AllowedHost("bot.example.com", 443), AllowedHost("127.0.0.1", 9001),
        AllowedHost("127.0.0.1", 8080), AllowedHost("api-singapore.klingai.com", 443), AllowedHost("modelslab.com", 443),
    } <= hosts
    without_discord = allowed_hosts_from(Settings(_env_file=None), "http://127.0.0.1:8080")  # type: ignore[call-arg]
    assert not any(AllowedHost.parse(h).port == 8765 for h in without_discord)


# --- results must be videos --------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "why"),
    [("/html", "not a video file"), ("/files/still.png", "a still image"), ("/files/truncated.mp4", "not a video file")],
)
async def test_a_result_that_is_not_a_video_is_refused_and_not_kept(
    downloader: Downloader, servers: Servers, tmp_path: Path, path: str, why: str
) -> None:
    with pytest.raises(DownloadRefused) as caught:
        await downloader.download_video(f"{servers.origin}{path}", tmp_path / "result.mp4")
    assert why in caught.value.message and not caught.value.retryable
    assert isinstance(caught.value, ProviderError)
    assert leftovers(tmp_path) == []


async def test_a_rate_limit_with_a_long_retry_after_is_raised_not_slept_on(
    servers: Servers, connects: list[str], tmp_path: Path
) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def limited(_: web.Request) -> web.Response:
        return web.Response(status=429, headers={"Retry-After": "3600"})

    app = web.Application()
    app.router.add_get("/", limited)
    runner, port = await _serve(app)
    try:
        async with Downloader(allowed_hosts=[f"http://127.0.0.1:{port}"], sleep=sleep) as made:
            with pytest.raises(RateLimited) as caught:
                await made.download(f"http://127.0.0.1:{port}/", tmp_path / "x.bin")
    finally:
        await runner.cleanup()
    assert caught.value.retry_after == 3600 and slept == []
