"""What every provider emulator shares: a server on 127.0.0.1, injected faults,
a recorded request log, result videos it serves itself, and callbacks.

A provider's emulator subclasses `Emulator`, adds its documented routes, and
calls the helpers here so that each fault looks the same from the contract
tests' side (tests/test_provider_contract.py) while the wire shape stays the
provider's own.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.media_factory import make_video


class Fault(StrEnum):
    """A failure injected with `Emulator.inject`: the next request whose handler
    takes that kind shows it. Create handlers take every kind (the CALLBACK_* and
    TASK_FAILED ones mark the new task); read handlers take SERVER_ERROR,
    MALFORMED_JSON and SLOW. Steps before the create (uploads) take none, so
    the contract suite can count create calls."""

    UNAUTHORIZED = "unauthorized"  # 401 in the provider's shape
    BALANCE = "balance"  # account out of credit, in the provider's shape
    RATE_LIMIT = "rate_limit"  # 429 with Retry-After: `Emulator.retry_after` (1 s unless a test sets it)
    SERVER_ERROR = "server_error"  # 500
    CONTENT_POLICY = "content_policy"  # refused for content (at create, or as a failed task)
    MALFORMED_JSON = "malformed_json"  # 200 with a body that is not JSON
    SLOW = "slow"  # answers after `slow_seconds`, past the client's timeout
    CALLBACK_TWICE = "callback_twice"  # the final callback is sent twice
    CALLBACK_OUT_OF_ORDER = "callback_out_of_order"  # final first, then an older "processing"
    TASK_FAILED = "task_failed"  # accepted, then the task fails (content moderation after create)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    query: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


class Emulator:
    """Base: subclasses add routes in `routes()` and decide how faults look on the wire."""

    def __init__(
        self, workdir: Path, *, slow_seconds: float = 3.0, polls_to_finish: int = 2, client_max_size: int = 1024**2
    ) -> None:
        self.workdir = workdir
        self.client_max_size = client_max_size  # Kling takes base64 images: ~13.4 MB of JSON for 10 MB
        self.slow_seconds = slow_seconds
        self.polls_to_finish = polls_to_finish  # GETs in "processing" before a task succeeds
        self.retry_after = "1"  # the Retry-After of a RATE_LIMIT answer: seconds or an HTTP-date
        self.faults: deque[Fault] = deque()
        self.requests: list[Recorded] = []
        self.callbacks_sent: list[dict[str, Any]] = []
        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._background: set[asyncio.Task[None]] = set()

    # --- to override -------------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    # --- life --------------------------------------------------------------------
    async def start(self) -> str:
        app = web.Application(middlewares=[self._record], client_max_size=self.client_max_size)
        app.add_routes(self.routes())
        app.add_routes([web.get("/files/{name}", self._serve_file)])
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        self._session = aiohttp.ClientSession()
        return self.base_url

    async def stop(self) -> None:
        for task in list(self._background):
            task.cancel()
        if self._session:
            await self._session.close()
        if self._runner:
            await self._runner.cleanup()

    # --- faults ------------------------------------------------------------------
    def inject(self, fault: Fault, times: int = 1) -> None:
        self.faults.extend([fault] * times)

    def take_fault(self, *kinds: Fault) -> Fault | None:
        """Pop the next fault if it is one of `kinds` (all kinds when none are given)."""
        if self.faults and (not kinds or self.faults[0] in kinds):
            return self.faults.popleft()
        return None

    def server_error(self) -> web.Response:
        """The provider's own answer to an internal error; subclasses give it their shape."""
        return self.json_response({"error": "internal server error"}, 500)

    async def read_fault(self) -> web.Response | None:
        """For read handlers: the injected fault's answer, or None to go on (after a pause if SLOW)."""
        return await self.common_fault_answer(self.take_fault(Fault.SERVER_ERROR, Fault.MALFORMED_JSON, Fault.SLOW))

    async def common_fault_answer(self, fault: Fault | None) -> web.Response | None:
        """The answer to the faults every route can show; None to go on."""
        if fault is Fault.SERVER_ERROR:
            return self.server_error()
        if fault is Fault.MALFORMED_JSON:
            return self.malformed()
        if fault is Fault.SLOW:
            await asyncio.sleep(self.slow_seconds)
        return None

    # --- helpers for subclasses --------------------------------------------------------
    def requests_to(self, method: str, path_prefix: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    def result_video(self, name: str) -> str:
        """Make (once) a small real MP4 and return the URL this emulator serves it at."""
        path = self.workdir / "files" / f"{name}.mp4"
        if not path.exists():
            make_video(path, width=360, height=640, seconds=3.0)
        return f"{self.base_url}/files/{name}.mp4"

    def send_callback(self, url: str, payload: Any, headers: dict[str, str] | None = None) -> None:
        """POST a callback in the background, as providers do after answering."""
        task = asyncio.create_task(self._post_callback(url, payload, headers or {}))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _post_callback(self, url: str, payload: Any, headers: dict[str, str]) -> None:
        assert self._session is not None
        self.callbacks_sent.append({"url": url, "payload": payload})
        try:
            async with self._session.post(url, json=payload, headers=headers) as resp:
                await resp.read()
        except aiohttp.ClientError:
            pass  # providers treat a dead receiver as best effort

    @staticmethod
    def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
        return web.Response(
            status=status, body=json.dumps(payload).encode(), content_type="application/json", headers=headers
        )

    @staticmethod
    def malformed() -> web.Response:
        return web.Response(status=200, body=b"<html>upstream error</html>", content_type="application/json")

    # --- internals -------------------------------------------------------------------
    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.path.startswith("/files/"):
            body = await request.read()
            self.requests.append(
                Recorded(request.method, request.path, dict(request.headers), body, dict(request.query))
            )
        return await handler(request)

    async def _serve_file(self, request: web.Request) -> web.StreamResponse:
        path = self.workdir / "files" / request.match_info["name"]
        if not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path)
