"""The bot's own HTTP server: provider callbacks, /healthz, /metrics and signed media links.

Providers that fetch inputs by URL get `/media/{job}/{file}?token=…` (only when
PUBLIC_URL is set); results too large for Discord are linked the same way.

A slow or idle client costs at most a socket for a bounded time: a connection must
deliver a complete request head within `keepalive_timeout` of opening or of its last
answer (aiohttp arms that timer when the connection is made and after every answer, and
closes the connection if no whole head has arrived by then, however many bytes trickled
in), and a callback body must arrive within `body_timeout`. A public deployment still
belongs behind a reverse proxy (README: "Running it behind a reverse proxy").
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from bot import metrics
from bot.errors import CallbackRejected
from bot.models import IN_FLIGHT, JobState
from bot.providers.base import Provider

if TYPE_CHECKING:
    from bot.jobs import JobEngine
    from bot.settings import Settings

log = logging.getLogger(__name__)

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

# The engine keeps a job's result under this name in its folder; every other file there is an input.
RESULT_FILE = "result.mp4"
# Inputs are for the provider while it works; once it has answered they are not served, even
# if a file lingers. The result is served from success on, for as long as its file is kept.
INPUTS_SERVED_IN = frozenset((JobState.QUEUED, JobState.SUBMITTING, *IN_FLIGHT))
RESULT_SERVED_IN = frozenset((JobState.SUCCEEDED, JobState.DELIVERED))

HealthCheck = Callable[[], bool | Awaitable[bool]]


@dataclass(frozen=True)
class WebConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    max_body: int = 1_000_000
    body_timeout: float = 10.0
    keepalive_timeout: float = 15.0
    metrics_token: str | None = None
    # The dispatcher passes at least every 5 s when idle; a minute without a pass means it is stuck.
    dispatcher_stale_after: float = 60.0
    # Longest a /healthz probe waits for any one part (a locked database answers within its busy timeout).
    health_timeout: float = 5.0

    @classmethod
    def from_settings(cls, settings: Settings, *, port: int | None = None) -> WebConfig:
        return cls(
            host=settings.web_host,
            port=settings.web_port if port is None else port,
            max_body=settings.callback_max_bytes,
            body_timeout=settings.web_body_timeout_seconds,
            keepalive_timeout=settings.web_keepalive_timeout_seconds,
            metrics_token=settings.metrics_token.get_secret_value() if settings.metrics_token else None,
        )


class WebServer:
    def __init__(self, engine: JobEngine, providers: Mapping[str, Provider], config: WebConfig) -> None:
        self.engine = engine
        self.providers = providers
        self.config = config
        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self._checks: dict[str, HealthCheck] = {}
        self._metrics_auth = f"Bearer {config.metrics_token}".encode() if config.metrics_token else None

    def add_health_check(self, name: str, check: HealthCheck) -> None:
        """`check` returns (or resolves to) True when its part is healthy; /healthz names it when not."""
        if name in ("database", "dispatcher"):
            raise ValueError(f"health check {name!r} is built in")
        self._checks[name] = check

    def app(self) -> web.Application:
        # client_max_size is the cap Request.read() enforces while reading (callbacks are the only bodies)
        app = web.Application(client_max_size=self.config.max_body)
        app.add_routes(
            [
                web.get("/healthz", self.healthz),
                web.get("/metrics", self.metrics),
                web.post("/callbacks/{provider}/{job_id}", self.callback),
                web.get("/media/{job_id}/{name}", self.media),
            ]
        )
        for provider in self.providers.values():
            routes = getattr(provider, "web_routes", None)
            if routes is not None:
                app.add_routes(routes())
        return app

    async def start(self) -> str:
        self._runner = web.AppRunner(
            self.app(),
            access_log=None,
            keepalive_timeout=self.config.keepalive_timeout,
            # after an answer, an unread body is drained (so the client sees the answer, not a
            # reset) for at most as long as a body may take, then the connection is closed
            lingering_time=self.config.body_timeout,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        host = "127.0.0.1" if self.config.host in ("0.0.0.0", "") else self.config.host
        self.base_url = f"http://{host}:{port}"
        log.info("web server listening on %s:%d", self.config.host, port)
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # --- /healthz -------------------------------------------------------------------------
    async def healthz(self, request: web.Request) -> web.Response:
        """200 only when the database takes a write, the dispatcher ran lately and every check passes."""
        parts: dict[str, Callable[[], Awaitable[str | None]]] = {
            "database": self._database_problem,
            "dispatcher": self._dispatcher_problem,
            **{name: self._check_problem(name, check) for name, check in self._checks.items()},
        }
        problems = await asyncio.gather(*(self._bounded(probe) for probe in parts.values()))
        checks = {name: problem or "ok" for name, problem in zip(parts, problems, strict=True)}
        failing = [name for name, problem in zip(parts, problems, strict=True) if problem]
        if failing:
            return web.json_response({"status": "failing", "failing": failing, "checks": checks}, status=503)
        return web.json_response({"status": "ok", "checks": checks})

    async def _bounded(self, probe: Callable[[], Awaitable[str | None]]) -> str | None:
        try:
            return await asyncio.wait_for(probe(), self.config.health_timeout)
        except TimeoutError:
            return f"no answer within {self.config.health_timeout:g} s"

    async def _database_problem(self) -> str | None:
        try:
            # shielded: a write that outlasts the probe finishes on its own instead of being cut mid-transaction
            await asyncio.shield(self.engine.store.set_meta("healthz", f"{time.time():.3f}"))
        except Exception as error:
            log.warning("healthz: database write failed: %r", error)
            return f"write failed ({type(error).__name__})"
        return None

    async def _dispatcher_problem(self) -> str | None:
        last = getattr(self.engine, "last_dispatch_at", None)
        if not isinstance(last, int | float) or last <= 0:
            return "no dispatcher pass recorded"
        age = time.time() - last
        if age > self.config.dispatcher_stale_after:
            return f"last pass {age:.0f} s ago"
        return None

    @staticmethod
    def _check_problem(name: str, check: HealthCheck) -> Callable[[], Awaitable[str | None]]:
        async def probe() -> str | None:
            try:
                result = check()
                if inspect.isawaitable(result):
                    result = await result
            except Exception as error:
                log.warning("healthz: check %s raised %r", name, error)
                return f"error ({type(error).__name__})"
            return None if result else "failing"

        return probe

    # --- /metrics -------------------------------------------------------------------------
    async def metrics(self, request: web.Request) -> web.Response:
        if self._metrics_auth is not None:
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, self._metrics_auth):
                return web.Response(status=401, text="bearer token required", headers={"WWW-Authenticate": "Bearer"})
        body, content_type = await metrics.scrape(self.engine.store, self.engine.quotas, request.headers.get("Accept"))
        return web.Response(body=body, headers={"Content-Type": content_type})

    # --- callbacks ------------------------------------------------------------------------
    async def callback(self, request: web.Request) -> web.Response:
        """Recorded before 200: the engine has written any state change when this answers."""
        provider, job_id = request.match_info["provider"], request.match_info["job_id"]
        token = request.query.get("token")
        # The token first: an unsigned sender cannot make us read (or wait for) a body at all.
        if not self.engine.links.verify_callback(token, provider, job_id):
            return web.Response(status=401, text="bad callback token")
        length = request.content_length
        if length is not None and length > self.config.max_body:
            return web.Response(status=413, text="body too large")
        try:
            async with asyncio.timeout(self.config.body_timeout):
                body = await request.read()  # the whole body, however many pieces it came in
        except web.HTTPRequestEntityTooLarge:  # chunked: stopped just past the cap
            return web.Response(status=413, text="body too large")
        except TimeoutError:
            slow = web.Response(status=408, text="body too slow")
            slow.force_close()
            return slow
        try:
            await self.engine.handle_callback(provider, job_id, token, request.headers, body)
        except CallbackRejected as refused:
            log.info("callback %s/%s refused: %s", provider, job_id, refused.reason)
            return web.Response(status=refused.status, text=refused.reason)
        return web.Response()

    # --- media ----------------------------------------------------------------------------
    async def media(self, request: web.Request) -> web.StreamResponse:
        job_id, name = request.match_info["job_id"], request.match_info["name"]
        if not (SAFE_NAME.match(job_id) and SAFE_NAME.match(name)):
            raise web.HTTPNotFound()
        if not self.engine.links.verify_media(request.query.get("token"), job_id, name):
            raise web.HTTPForbidden()  # forged, for another file, or expired
        job = await self.engine.store.get_job(job_id)
        if job is None:
            raise web.HTTPNotFound()
        if job.state not in (RESULT_SERVED_IN if name == RESULT_FILE else INPUTS_SERVED_IN):
            raise web.HTTPGone()
        path = self.engine.job_dir(job_id) / name
        if not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path)
