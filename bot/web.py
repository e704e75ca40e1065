"""The bot's own HTTP server: provider callbacks, /healthz, and signed media links.

Providers that fetch inputs by URL get `/media/{job}/{file}?token=…` (only when
PUBLIC_URL is set); results too large for Discord are linked the same way.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from aiohttp import web

from bot.errors import CallbackRejected
from bot.jobs import JobEngine
from bot.providers.base import Provider

log = logging.getLogger(__name__)

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class WebServer:
    def __init__(
        self, engine: JobEngine, providers: Mapping[str, Provider], *, host: str, port: int, max_body: int
    ) -> None:
        self.engine = engine
        self.providers = providers
        self.host = host
        self.port = port
        self.max_body = max_body
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_body)
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
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        self.base_url = f"http://{host}:{port}"
        log.info("web server listening on %s:%d", self.host, port)
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "providers": sorted(self.providers)})

    async def metrics(self, request: web.Request) -> web.Response:
        """Prometheus text format: jobs by provider and state, credits spent today."""
        lines = ["# TYPE motionbot_jobs gauge"]
        for (provider, state), count in sorted((await self.engine.store.job_counts()).items()):
            lines.append(f'motionbot_jobs{{provider="{provider}",state="{state}"}} {count}')
        usage = await self.engine.store.usage(self.engine.quotas.period())
        lines += ["# TYPE motionbot_credits_used_today gauge", f"motionbot_credits_used_today {usage.used}"]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    async def callback(self, request: web.Request) -> web.Response:
        provider, job_id = request.match_info["provider"], request.match_info["job_id"]
        if request.content_length is not None and request.content_length > self.max_body:
            return web.json_response({"error": "body too large"}, status=413)
        body = await request.content.read(self.max_body + 1)
        if len(body) > self.max_body:
            return web.json_response({"error": "body too large"}, status=413)
        try:
            await self.engine.handle_callback(provider, job_id, request.query.get("token"), request.headers, body)
        except CallbackRejected as result:
            log.info("callback %s/%s refused: %s", provider, job_id, result.reason)
            return web.json_response({"error": result.reason}, status=result.status)
        return web.json_response({"ok": True})

    async def media(self, request: web.Request) -> web.StreamResponse:
        job_id, name = request.match_info["job_id"], request.match_info["name"]
        if not (SAFE_NAME.match(job_id) and SAFE_NAME.match(name)):
            raise web.HTTPNotFound()
        if not self.engine.links.verify_media(request.query.get("token"), job_id, name):
            raise web.HTTPForbidden()
        path = self.engine.job_dir(job_id) / name
        if not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path)
