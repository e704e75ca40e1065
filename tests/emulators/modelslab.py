"""A local stand-in for ModelsLab's v7 Video Fusion motion control (docs/providers.md §4).

Follows the documented wire shapes: the API key is the `key` field of the JSON body
(checked exactly; a wrong or missing key is HTTP 401 `{"status":"error","message":...}`,
as ModelsLab's error-code page describes), bodies are validated (HTTP 400 in the same
shape), a create answers `processing` with id/eta/fetch_result/future_links, each fetch
advances the task (`polls_to_finish` answers in processing, then `success` with output[0]
a URL served here), and a webhook in the documented `success`/`failed` shape is POSTed
when the task ends.

Faults in ModelsLab's shapes:
- UNAUTHORIZED   HTTP 401 {"status":"error","message":"Invalid API key ..."}
- BALANCE        HTTP 200 {"status":"error","message":"Insufficient credits ..."} (ModelsLab
                 reports many refusals with 200)
- RATE_LIMIT     HTTP 429, Retry-After (1 s by default), same error shape
- SERVER_ERROR   HTTP 500, same error shape
- CONTENT_POLICY accepted, then the task ends `error` (fetch) / `failed` (webhook) with an NSFW
                 message: ModelsLab hands the job to Kling asynchronously, and §4/§5 list the
                 moderation signal only as `error`/`failed` + message, never a create-time code.
- TASK_FAILED    accepted, then the task ends `error`/`failed` with a generic message
- MALFORMED_JSON, SLOW, CALLBACK_TWICE, CALLBACK_OUT_OF_ORDER as described in common.Fault;
  the stale webhook of CALLBACK_OUT_OF_ORDER uses the `processing` fetch shape (undocumented:
  real ModelsLab only calls on completion).

`echo_request=True` makes every error echo the request body back, key included, so tests can
prove the adapter scrubs it. `include_id=False` leaves `id` out of processing answers so the
adapter must take it from `fetch_result` (and `include_fetch_result=False` leaves that out too).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.emulators.common import Emulator, Fault

API_KEY = "test-modelslab-key"
MODEL_IDS = ("kling-motion-control", "kling-v3-motion-control")
CREATE_PATH = "/api/v7/video-fusion/motion-control"
FETCH_PATH = "/api/v7/video-fusion/fetch/"
READ_FAULTS = (Fault.SERVER_ERROR, Fault.MALFORMED_JSON, Fault.SLOW, Fault.RATE_LIMIT)

INVALID_KEY = "Invalid API key. Please check your key on the dashboard."
NO_CREDITS = "Insufficient credits in your wallet. Please top up to continue."
TOO_MANY = "Too many requests, please slow down."
SERVER_DOWN = "Internal server error, please try again later."
NSFW = "NSFW content detected in init_image: the request was blocked by our content policy."
GENERATION_FAILED = "Video generation failed upstream. Please try again."


@dataclass
class Task:
    id: int
    params: dict[str, Any]  # the create body without the key (ModelsLab echoes it as `meta`)
    outcome: Fault | None = None  # CONTENT_POLICY or TASK_FAILED, else success
    callback_fault: Fault | None = None
    polls: int = 0
    done: bool = False


class ModelsLabEmulator(Emulator):
    def __init__(
        self,
        workdir: Path,
        *,
        api_key: str = API_KEY,
        slow_seconds: float = 3.0,
        polls_to_finish: int = 2,
        eta_seconds: int = 40,
        include_id: bool = True,
        include_fetch_result: bool = True,
        echo_request: bool = False,
        fetch_inputs: bool = True,
    ) -> None:
        super().__init__(workdir, slow_seconds=slow_seconds, polls_to_finish=polls_to_finish)
        self.api_key = api_key
        self.eta_seconds = eta_seconds
        self.include_id = include_id
        self.include_fetch_result = include_fetch_result
        self.echo_request = echo_request
        self.fetch_inputs = fetch_inputs  # like the real service, download init_image/init_video
        self.tasks: dict[int, Task] = {}
        self._ids = itertools.count(155262350)

    def routes(self) -> list[web.RouteDef]:
        return [web.post(CREATE_PATH, self._create), web.post(FETCH_PATH + "{id}", self._fetch)]

    # --- create --------------------------------------------------------------------------------
    async def _create(self, request: web.Request) -> web.StreamResponse:
        fault = self.take_fault()
        if fault is Fault.SLOW:
            await asyncio.sleep(self.slow_seconds)  # then carry on: the task may exist though the client gave up
            fault = None
        body = await self._body(request)
        if body is None:
            return self._error(400, "Malformed JSON in request body")
        if fault is Fault.UNAUTHORIZED or body.get("key") != self.api_key:
            return self._error(401, INVALID_KEY if body.get("key") else "key is required", body)
        if fault is Fault.RATE_LIMIT:
            return self._error(429, TOO_MANY, body, headers={"Retry-After": self.retry_after})
        if fault is Fault.SERVER_ERROR:
            return self._error(500, SERVER_DOWN, body)
        if fault is Fault.MALFORMED_JSON:
            return self._malformed(body)
        if fault is Fault.BALANCE:
            return self._error(200, NO_CREDITS, body)
        problems = validate_create(body)
        if problems:
            return self._error(400, "; ".join(problems), body)
        if self.fetch_inputs:
            for field in ("init_image", "init_video"):
                problem = await self._fetchable(body[field])
                if problem:
                    return self._error(400, f"Could not download {field}: {problem}", body)
        task = Task(id=next(self._ids), params={k: v for k, v in body.items() if k != "key"})
        if fault in (Fault.CONTENT_POLICY, Fault.TASK_FAILED):
            task.outcome = fault
        elif fault in (Fault.CALLBACK_TWICE, Fault.CALLBACK_OUT_OF_ORDER):
            task.callback_fault = fault
        self.tasks[task.id] = task
        return self.json_response(self._processing(task, self.eta_seconds))

    # --- fetch ---------------------------------------------------------------------------------
    async def _fetch(self, request: web.Request) -> web.StreamResponse:
        fault = self.take_fault(*READ_FAULTS)
        if fault is Fault.SLOW:
            await asyncio.sleep(self.slow_seconds)
            fault = None
        body = await self._body(request)
        if body is None:
            return self._error(400, "Malformed JSON in request body")
        if body.get("key") != self.api_key:
            return self._error(401, INVALID_KEY if body.get("key") else "key is required", body)
        if fault is Fault.RATE_LIMIT:
            return self._error(429, TOO_MANY, body, headers={"Retry-After": self.retry_after})
        if fault is Fault.SERVER_ERROR:
            return self._error(500, SERVER_DOWN, body)
        if fault is Fault.MALFORMED_JSON:
            return self._malformed(body)
        raw_id = request.match_info["id"]
        task = self.tasks.get(int(raw_id)) if raw_id.isdigit() else None
        if task is None:
            return self._error(404, f"No request found with id {raw_id}", body)
        task.polls += 1
        if task.polls <= self.polls_to_finish:
            eta = max(1, self.eta_seconds - 10 * task.polls)
            return self.json_response(self._processing(task, eta))
        if not task.done:
            task.done = True
            self._finish(task)
        return self.json_response(self._final_fetch(task))

    # --- answers -------------------------------------------------------------------------------
    def _result_url(self, task: Task) -> str:
        return f"{self.base_url}/files/modelslab-{task.id}.mp4"

    def _processing(self, task: Task, eta: int) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "status": "processing",
            "tip": "Your request is being processed; poll fetch_result or wait for the webhook.",
            "eta": eta,
            "message": "Request processing",
            "future_links": [self._result_url(task)],  # 404 until the task is done
            "meta": task.params,
        }
        if self.include_fetch_result:
            answer["fetch_result"] = f"{self.base_url}{FETCH_PATH}{task.id}"
        if self.include_id:
            answer["id"] = task.id
        return answer

    def _final_fetch(self, task: Task) -> dict[str, Any]:
        if task.outcome is None:
            url = self._result_url(task)
            return {"status": "success", "id": task.id, "output": [url], "proxy_links": [url],
                    "generationTime": 42.5, "meta": task.params}
        return {"status": "error", "id": task.id, "message": self._failure_text(task)}

    def _failure_text(self, task: Task) -> str:
        text = NSFW if task.outcome is Fault.CONTENT_POLICY else GENERATION_FAILED
        return self._echo(text, {"key": self.api_key, **task.params})

    def _finish(self, task: Task) -> None:
        """The task ends: publish its file and, when asked for, send the webhook (§4.4)."""
        if task.outcome is None:
            self.result_video(f"modelslab-{task.id}")
        webhook = task.params.get("webhook")
        if not webhook:
            return
        track_id = task.params.get("track_id")
        if task.outcome is None:
            final: dict[str, Any] = {"status": "success", "id": task.id, "output": [self._result_url(task)],
                                     "generationTime": 42.5, "track_id": track_id, "meta": task.params}
        else:
            final = {"status": "failed", "id": task.id, "message": self._failure_text(task), "track_id": track_id}
        payloads = [final]
        if task.callback_fault is Fault.CALLBACK_TWICE:
            payloads = [final, final]
        elif task.callback_fault is Fault.CALLBACK_OUT_OF_ORDER:
            payloads = [final, {**self._processing(task, self.eta_seconds), "id": task.id, "track_id": track_id}]
        self._send_in_order(webhook, payloads)

    def _send_in_order(self, url: str, payloads: list[dict[str, Any]]) -> None:
        # One background task per webhook sequence, so "out of order" really arrives in that order.
        async def run() -> None:
            for payload in payloads:
                await self._post_callback(url, payload, {})

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- helpers -------------------------------------------------------------------------------
    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any] | None:
        try:
            body = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return None
        return body if isinstance(body, dict) else None

    def _echo(self, text: str, body: dict[str, Any] | None) -> str:
        return f"{text} Request: {json.dumps(body)}" if self.echo_request and body is not None else text

    def _error(
        self, status: int, message: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> web.Response:
        payload: dict[str, Any] = {"status": "error", "message": self._echo(message, body)}
        if self.echo_request and body is not None:
            payload["meta"] = body
        return self.json_response(payload, status=status, headers=headers)

    def _malformed(self, body: dict[str, Any]) -> web.Response:
        if self.echo_request:  # a broken proxy page that dumps the request, key and all
            return web.Response(status=200, body=f"<html>upstream error {json.dumps(body)}".encode(),
                                content_type="application/json")
        return self.malformed()

    async def _fetchable(self, url: str) -> str | None:
        assert self._session is not None
        try:
            async with self._session.get(url, timeout=aiohttp.ClientTimeout(total=5)) as resp:
                await resp.read()
                return None if resp.status == 200 else f"HTTP {resp.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return type(exc).__name__


def validate_create(body: dict[str, Any]) -> list[str]:
    """The create body's rules (§4.1; required fields as Kling's, see the adapter's A3)."""
    problems: list[str] = []
    for field in ("model_id", "init_image", "init_video", "character_orientation", "mode"):
        if field not in body or body[field] in (None, ""):
            problems.append(f"{field} is required")
        elif not isinstance(body[field], str):
            problems.append(f"{field} must be a string")
    enums = {"model_id": MODEL_IDS, "character_orientation": ("image", "video"), "mode": ("std", "pro")}
    for field, allowed in enums.items():
        value = body.get(field)
        if isinstance(value, str) and value and value not in allowed:
            problems.append(f"{field} must be one of {', '.join(allowed)}")
    for field in ("init_image", "init_video", "webhook"):
        value = body.get(field)
        if isinstance(value, str) and value and not value.startswith(("http://", "https://")):
            problems.append(f"{field} must be a valid URL")
    if "webhook" in body and not isinstance(body["webhook"], str):
        problems.append("webhook must be a string")
    if "prompt" in body:
        if not isinstance(body["prompt"], str):
            problems.append("prompt must be a string")
        elif len(body["prompt"]) > 2500:
            problems.append("prompt may not be greater than 2500 characters")
    if "track_id" in body and not isinstance(body["track_id"], (str, int)):
        problems.append("track_id must be a string or an integer")
    return problems
