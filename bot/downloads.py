"""Every download the bot makes (provider results, Discord attachments) goes through `Downloader`.

What it guarantees, for each download:
- streamed to a `.part` file in chunks, with the size cap enforced while reading (and from
  Content-Length before the first byte); renamed to its final name only once complete and
  checked, so no failure ever leaves a file behind;
- a redirect limit, a total timeout and a stall timeout (no bytes for N seconds);
- no connection to a loopback, private, link-local, multicast, reserved or cloud-metadata
  address unless the URL's host is an allowed host: the address policy of
  bot/address_policy.py, bound to this session's resolver and socket factory. This is the
  "address actually connected to" check: `resp.connection` is already released when a small
  body arrived with the headers, so a peername check after the response would silently skip them;
- `download_video` (provider results) also checks that the bytes are a video before anyone
  can post them.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import aiohttp
import av
from aiohttp.abc import AbstractResolver
from yarl import URL

from bot.address_policy import (
    AddressPolicy,
    AddressRefused,
    GuardedResolver,
    guarded_socket_factory,
)
from bot.errors import (
    DownloadRefused,
    ProviderError,
    TooLarge,
    UnknownProviderError,
    provider_error,
)
from bot.http import parse_retry_after
from bot.models import ErrorKind
from bot.settings import Settings

log = logging.getLogger(__name__)

CHUNK_BYTES = 256 * 1024
# Well above the providers' largest output (a Kling pro 30 s clip is tens of MB), well below
# what would fill a small server's disk when several arrive at once.
DEFAULT_RESULT_MAX_BYTES = 500_000_000
DEFAULT_MAX_REDIRECTS = 5

class NotAVideo(Exception):
    """The bytes are no video; the message says what was found."""


STILL_IMAGE_DEMUXERS = ("image2",)  # plus every "*_pipe" demuxer (png_pipe, jpeg_pipe, …)


def check_is_video(path: Path) -> None:
    """PyAV opens the file, finds a video stream that is not a still image, and decodes a frame."""
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            demuxer = container.format.name
            if demuxer in STILL_IMAGE_DEMUXERS or demuxer.endswith("_pipe"):
                raise NotAVideo(f"a still image ({demuxer}), not a video")
            if not container.streams.video:
                raise NotAVideo(f"a {demuxer} file without a video stream")
            for _frame in container.decode(container.streams.video[0]):
                return
            raise NotAVideo(f"a {demuxer} file whose video stream has no frame")
    except av.FFmpegError as exc:
        raise NotAVideo(f"not a video file ({type(exc).__name__})") from None


@dataclass(frozen=True)
class _Fetch:
    """One download as asked for: where from, where to, how much at most, and what the bytes must be."""

    url: str
    dest: Path
    max_bytes: int
    headers: dict[str, str] | None
    check: Callable[[Path], None] | None


class Downloader:
    """Owns its own HTTP session, so that its address rules bind every connection it opens.

    Create it inside the running loop; close it with `await close()` or `async with`.
    `allowed_hosts`: URLs, `host:port` or bare hosts that may be private (see `allowed_hosts_from`).
    """

    def __init__(
        self,
        *,
        allowed_hosts: Iterable[str],
        max_bytes: int = DEFAULT_RESULT_MAX_BYTES,
        timeout_seconds: float = 600.0,
        stall_seconds: float = 30.0,
        max_redirects: int = DEFAULT_MAX_REDIRECTS,
        max_retries: int = 3,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        resolver: AbstractResolver | None = None,
    ) -> None:
        self.policy = AddressPolicy(allowed_hosts)
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._sleep = sleep
        # sock_read is the stall timeout: it restarts with every chunk received.
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds, sock_connect=stall_seconds, sock_read=stall_seconds)
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(self.policy, resolver),
            socket_factory=guarded_socket_factory(self.policy),
        )
        # auto_decompress off: a small gzip body must not inflate past the cap on our disk.
        self.session = aiohttp.ClientSession(connector=connector, auto_decompress=False, trust_env=False)

    @classmethod
    def from_settings(cls, settings: Settings, allowed_hosts: Iterable[str]) -> Downloader:
        return cls(
            allowed_hosts=allowed_hosts,
            max_bytes=settings.result_max_bytes,
            timeout_seconds=settings.download_timeout_seconds,
            stall_seconds=settings.download_stall_seconds,
            max_redirects=settings.download_max_redirects,
            max_retries=settings.http_max_retries,
        )

    def allow(self, entry: str) -> None:
        """Allow one more host: the bot's own web address is known only once its server listens
        (a port chosen by the system), after the parts that download were built."""
        self.policy.allow(entry)

    async def close(self) -> None:
        await self.session.close()

    async def __aenter__(self) -> Downloader:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def download(
        self, url: str, dest: Path, *, max_bytes: int | None = None, headers: dict[str, str] | None = None
    ) -> int:
        """Stream `url` to `dest`, at most `max_bytes` (default RESULT_MAX_BYTES); return the size.

        Raises TooLarge past the cap, DownloadRefused for a refused address, scheme or redirect
        chain, else a ProviderError by HTTP status. Retried like an idempotent GET.
        """
        limit = self.max_bytes if max_bytes is None else max_bytes
        return await self._download(_Fetch(url, dest, limit, headers, check=None))

    async def download_video(self, url: str, dest: Path, *, headers: dict[str, str] | None = None) -> int:
        """A provider's result: `download`, then the bytes must be a video. Every failure is a
        ProviderError; DownloadRefused means neither the file nor its URL may be posted."""
        try:
            return await self._download(_Fetch(url, dest, self.max_bytes, headers, check=check_is_video))
        except TooLarge as exc:
            raise UnknownProviderError(
                f"result {_path(url)} is larger than RESULT_MAX_BYTES ({exc.limit} bytes)", retryable=False
            ) from None

    async def _download(self, fetch: _Fetch) -> int:
        attempt = 0
        while True:
            try:
                return await self._download_once(fetch)
            except ProviderError as error:
                delay = self._backoff(attempt, error.retry_after)
                if not error.retryable or attempt >= self.max_retries or delay > self.backoff_max:
                    raise
                log.info(
                    "download %s: %s; retry %d/%d in %.1fs", _path(fetch.url), error, attempt + 1, self.max_retries, delay
                )
                await self._sleep(delay)
                attempt += 1

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after  # longer than backoff_max: raised, not slept on
        ceiling = min(self.backoff_max, self.backoff_base * (2**attempt))
        return random.uniform(ceiling / 2, ceiling)

    async def _download_once(self, fetch: _Fetch) -> int:
        url, dest = fetch.url, fetch.dest
        if URL(url).scheme not in ("http", "https"):
            raise DownloadRefused(f"download {_path(url)}: only http and https URLs are fetched")
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(dest.name + ".part")
        try:
            size = await self._stream_to(fetch, partial)
            if fetch.check is not None:
                try:
                    await asyncio.to_thread(fetch.check, partial)
                except NotAVideo as exc:
                    raise DownloadRefused(f"download {_path(url)}: {exc}") from None
            partial.replace(dest)
            return size
        finally:
            partial.unlink(missing_ok=True)  # nothing is kept unless it was renamed above

    async def _stream_to(self, fetch: _Fetch, partial: Path) -> int:
        url, max_bytes = fetch.url, fetch.max_bytes
        size = 0
        try:
            # aiohttp raises on reaching max_redirects (so N + 1 lets N through), and reads 0 as "no limit".
            async with self.session.get(
                url,
                headers=fetch.headers,
                timeout=self.timeout,
                allow_redirects=self.max_redirects > 0,
                max_redirects=self.max_redirects + 1,
            ) as resp:
                if 300 <= resp.status < 400 and "Location" in resp.headers:
                    raise aiohttp.TooManyRedirects(resp.request_info, resp.history)  # only when none are allowed
                _raise_for_status(url, resp)
                if resp.content_length is not None and resp.content_length > max_bytes:
                    raise TooLarge(resp.content_length, max_bytes)  # said before the first byte
                with partial.open("wb") as out:
                    async for chunk in resp.content.iter_chunked(CHUNK_BYTES):
                        size += len(chunk)
                        if size > max_bytes:
                            resp.close()  # drop the connection: the rest is never read
                            raise TooLarge(size, max_bytes)
                        out.write(chunk)
        except aiohttp.TooManyRedirects:
            raise DownloadRefused(f"download {_path(url)}: more than {self.max_redirects} redirects") from None
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, AddressRefused):
                raise DownloadRefused(f"download {_path(url)}: {exc.os_error}") from None
            raise provider_error(ErrorKind.OUTAGE, f"download {_path(url)}: cannot connect ({exc.os_error})") from None
        except aiohttp.ConnectionTimeoutError:
            raise provider_error(
                ErrorKind.OUTAGE, f"download {_path(url)}: no connection within {self.timeout.sock_connect:g} s"
            ) from None
        except aiohttp.SocketTimeoutError:
            raise provider_error(
                ErrorKind.OUTAGE, f"download {_path(url)} stalled: no data for {self.timeout.sock_read:g} s"
            ) from None
        except (aiohttp.InvalidURL, aiohttp.NonHttpUrlRedirectClientError) as exc:
            raise DownloadRefused(f"download {_path(url)}: bad or non-http redirect ({type(exc).__name__})") from None
        except TimeoutError:
            raise provider_error(
                ErrorKind.OUTAGE, f"download {_path(url)} took longer than {self.timeout.total:g} s"
            ) from None
        except aiohttp.ClientError as exc:
            raise provider_error(ErrorKind.OUTAGE, f"download {_path(url)} failed ({type(exc).__name__})") from None
        return size


def _raise_for_status(url: str, resp: aiohttp.ClientResponse) -> None:
    if resp.status == 200:
        return
    if resp.status == 429 or resp.status >= 500:
        raise provider_error(
            ErrorKind.RATE_LIMIT if resp.status == 429 else ErrorKind.OUTAGE,
            f"download {_path(url)}: HTTP {resp.status}",
            http_status=resp.status,
            retry_after=parse_retry_after(resp.headers.get("Retry-After")),
        )
    raise UnknownProviderError(f"download {_path(url)}: HTTP {resp.status}", http_status=resp.status, retryable=False)


def _path(url: str) -> str:
    # Log the path only: query strings may carry signatures.
    return url.split("?", 1)[0]
