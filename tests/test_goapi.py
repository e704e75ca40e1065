"""GoAPI adapter specifics, against the local emulator (tests/emulators/goapi.py) and crafted payloads.

The shared scenarios (faults, retries, callbacks) run in tests/test_provider_contract.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.errors import ProviderError
from bot.http import HttpClient, Response
from bot.models import ErrorKind, MediaFile, MotionOptions, MotionRequest
from bot.providers.base import ProviderTask, SubmitRequest, TaskStatus
from bot.providers.goapi import PRESET_MOTIONS, GoApiProvider
from tests.deployment import deployment_downloader
from tests.emulators.common import Fault
from tests.emulators.goapi import API_KEY, GoApiEmulator, ResultShape

SECRET = "test-goapi-webhook-secret"


# --- fixtures ----------------------------------------------------------------------------------------


class Sink:
    """The bot's callback endpoint: records what GoAPI posts."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        return web.Response(text="ok")


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    sink = Sink()
    app = web.Application()
    app.router.add_post("/callbacks/goapi/{job_id}", sink.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    sink.url = f"http://127.0.0.1:{port}/callbacks/goapi"
    yield sink
    await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def make_http(session: aiohttp.ClientSession) -> HttpClient:
    async def no_sleep(_: float) -> None:
        await asyncio.sleep(0)

    return HttpClient(session, timeout_seconds=1.0, max_retries=2, sleep=no_sleep)


async def started(tmp_path: Path, result_shape: ResultShape = "works") -> GoApiEmulator:
    emulator = GoApiEmulator(tmp_path / "emulator", result_shape=result_shape)
    await emulator.start()
    return emulator


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[GoApiEmulator]:
    emulator = await started(tmp_path)
    yield emulator
    await emulator.stop()


@pytest.fixture
def provider(emulator: GoApiEmulator, session: aiohttp.ClientSession) -> GoApiProvider:
    return GoApiProvider(make_http(session), api_key=API_KEY, base_url=emulator.base_url, webhook_secret=SECRET)


def media(tmp_path: Path, name: str, content_type: str, url: str | None) -> MediaFile:
    return MediaFile(path=tmp_path / name, filename=name, content_type=content_type, size=1234, url=url)


def job(
    tmp_path: Path,
    *,
    image_url: str | None = "https://cdn.example/character.png",
    video_url: str | None = "https://cdn.example/dance.mp4",
    with_video: bool = True,
    callback: str | None = None,
    job_id: str = "job-1",
    **options: Any,
) -> SubmitRequest:
    return SubmitRequest(
        job_id=job_id,
        request=MotionRequest(
            image=media(tmp_path, "character.png", "image/png", image_url),
            video=media(tmp_path, "dance.mp4", "video/mp4", video_url) if with_video else None,
            options=MotionOptions(**options),
            video_seconds=4.0,
        ),
        callback_url=callback,
    )


async def finish(provider: GoApiProvider, task: ProviderTask) -> ProviderTask:
    for _ in range(10):
        if task.status in (TaskStatus.SUCCEEDED, TaskStatus.FAILED):
            return task
        task = await provider.get_task(task.task_id)
    raise AssertionError(f"never finished: {task}")


def hook(data: dict[str, Any], *, timestamp: float | None = None) -> bytes:
    return json.dumps({"timestamp": int(time.time()) if timestamp is None else timestamp, "data": data}).encode()


def task_data(status: str = "completed", **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "task_id": "3f0e6b7c-1111-4222-8333-444455556666",
        "model": "kling",
        "task_type": "motion_control",
        "status": status,
        "output": {"type": "", "status": 0, "works": None},
        "meta": {"usage": {"type": "point", "frozen": 0, "consume": 0}},
        "error": {"code": 0, "raw_message": "", "message": "", "detail": None},
    }
    data.update(extra)
    return data


GOOD_HEADERS = {"x-webhook-secret": SECRET}


# --- request shape -----------------------------------------------------------------------------------


async def test_create_body_with_uploaded_video(provider: GoApiProvider, emulator: GoApiEmulator, tmp_path: Path) -> None:
    await provider.submit(
        job(tmp_path, callback="https://bot.example/callbacks/goapi/job-1", orientation="image", mode="pro",
            prompt="on a beach", keep_sound=True)
    )
    [create] = emulator.requests_to("POST", "/api/v1/task")
    assert create.headers["X-API-Key"] == API_KEY
    assert "Authorization" not in create.headers
    assert create.json() == {
        "model": "kling",
        "task_type": "motion_control",
        "input": {
            "image_url": "https://cdn.example/character.png",
            "video_url": "https://cdn.example/dance.mp4",
            "motion_direction": "image",
            "keep_original_sound": True,
            "mode": "pro",
            "version": "2.6",
            "prompt": "on a beach",
        },
        "config": {
            "service_mode": "public",
            "webhook_config": {"endpoint": "https://bot.example/callbacks/goapi/job-1", "secret": SECRET},
        },
    }


async def test_preset_motion_request_shape(provider: GoApiProvider, emulator: GoApiEmulator, tmp_path: Path) -> None:
    task = await provider.submit(job(tmp_path, with_video=False, motion_template="Heart Gesture Dance"))
    assert task.status is TaskStatus.SUBMITTED
    body = emulator.requests_to("POST", "/api/v1/task")[0].json()
    assert body["input"]["preset_motion"] == "Heart Gesture Dance"
    assert "video_url" not in body["input"]
    assert body["input"]["keep_original_sound"] is False  # a JSON bool, not Kling's "yes"/"no"
    assert "prompt" not in body["input"]  # empty prompt is left out
    assert "webhook_config" not in body["config"]  # no callback URL: no webhook
    assert (await finish(provider, task)).status is TaskStatus.SUCCEEDED


async def test_motion_templates_are_listed_and_capabilities_say_so(provider: GoApiProvider) -> None:
    templates = await provider.list_motion_templates()
    assert [t.id for t in templates] == list(PRESET_MOTIONS)
    assert "Heart Gesture Dance" in PRESET_MOTIONS
    caps = GoApiProvider.capabilities
    assert caps.motion_templates and caps.can_cancel and caps.needs_input_urls
    assert not caps.can_find_by_job_id


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"image_url": None}, "PUBLIC_URL"),
        ({"video_url": None}, "PUBLIC_URL"),
        # a request with no motion at all cannot be translated (intake never makes one)
        ({"with_video": False}, "neither a reference video nor a motion template"),
    ],
)
async def test_unusable_requests_are_refused_before_any_request(
    provider: GoApiProvider, emulator: GoApiEmulator, tmp_path: Path, kwargs: dict[str, Any], words: str
) -> None:
    with pytest.raises(ProviderError) as err:
        await provider.submit(job(tmp_path, **kwargs))
    assert err.value.kind is ErrorKind.BAD_INPUT
    assert not err.value.retryable
    assert words in err.value.message
    assert emulator.requests == []


# --- emulator fidelity (so the contract tests mean something) ---------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model": "kling-turbo"}, "model"),
        ({"task_type": "lip_sync"}, "task_type"),
        ({"task_type": "video_generation"}, "is not a valid field"),  # image-to-video has its own input
        ({"input": {"keep_original_sound": "yes"}}, "keep_original_sound"),
        ({"input": {"preset_motion": "Heart Gesture Dance"}}, "exactly one"),
        ({"input": {"video_url": ""}}, "exactly one"),
        ({"input": {"motion_direction": "left"}}, "motion_direction"),
        ({"input": {"mode": "ultra"}}, "mode"),
        ({"input": {"version": 2.6}}, "version"),
        ({"input": {"image_url": None}}, "image_url"),
    ],
)
async def test_emulator_refuses_bad_bodies_in_goapi_shape(
    emulator: GoApiEmulator, session: aiohttp.ClientSession, change: dict[str, Any], message: str
) -> None:
    body: dict[str, Any] = {
        "model": "kling",
        "task_type": "motion_control",
        "input": {"image_url": "https://x/i.png", "video_url": "https://x/v.mp4", "motion_direction": "video",
                  "keep_original_sound": True, "mode": "std", "version": "2.6"},
    }
    body.update({k: v for k, v in change.items() if k != "input"})
    body["input"].update(change.get("input", {}))
    async with session.post(f"{emulator.base_url}/api/v1/task", json=body, headers={"X-API-Key": API_KEY}) as resp:
        assert resp.status == 400
        answer = await resp.json()
    assert answer["code"] == 400 and message in answer["message"]
    assert emulator.tasks == {}


@pytest.mark.parametrize("header", [{}, {"X-API-Key": f"Bearer {API_KEY}"}, {"Authorization": f"Bearer {API_KEY}"}])
async def test_emulator_checks_the_key_exactly(
    emulator: GoApiEmulator, session: aiohttp.ClientSession, header: dict[str, str]
) -> None:
    async with session.get(f"{emulator.base_url}/api/v1/task/nope", headers=header) as resp:
        assert resp.status == 401
        assert (await resp.json())["code"] == 401


async def test_wrong_key_is_an_auth_error_without_the_key(emulator: GoApiEmulator, session: aiohttp.ClientSession, tmp_path: Path) -> None:
    provider = GoApiProvider(make_http(session), api_key="wrong-key-123", base_url=emulator.base_url, webhook_secret=SECRET)
    with pytest.raises(ProviderError) as err:
        await provider.submit(job(tmp_path))
    assert err.value.kind is ErrorKind.AUTH and err.value.http_status == 401
    assert "wrong-key-123" not in f"{err.value} {err.value.user_message}"


# --- statuses and results ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("pending", TaskStatus.SUBMITTED),
        ("Pending", TaskStatus.SUBMITTED),
        ("STAGED", TaskStatus.SUBMITTED),
        ("processing", TaskStatus.PROCESSING),
        ("Processing", TaskStatus.PROCESSING),
        ("Failed", TaskStatus.FAILED),
        ("something-new", TaskStatus.PROCESSING),  # unknown: keep polling, the job timeout decides
    ],
)
def test_status_words_are_compared_case_insensitively(provider: GoApiProvider, word: str, status: TaskStatus) -> None:
    task = provider.parse_callback(GOOD_HEADERS, hook(task_data(word)))
    assert task.status is status
    assert task.raw_status == word


def test_completed_in_any_case_with_a_video_succeeds(provider: GoApiProvider) -> None:
    output = {"works": [{"video": {"resource": "https://cdn/x.mp4"}}]}
    for word in ("completed", "Completed", "COMPLETED"):
        task = provider.parse_callback(GOOD_HEADERS, hook(task_data(word, output=output)))
        assert task.status is TaskStatus.SUCCEEDED and task.result_url == "https://cdn/x.mp4"


def test_error_code_means_failure_whatever_the_status_says(provider: GoApiProvider) -> None:
    data = task_data("processing", error={"code": 10000, "message": "generation failed", "raw_message": ""})
    task = provider.parse_callback(GOOD_HEADERS, hook(data))
    assert task.status is TaskStatus.FAILED
    assert task.error_code == "10000" and task.error_message == "generation failed"
    assert task.error_kind is ErrorKind.UNKNOWN


@pytest.mark.parametrize(
    ("output", "url"),
    [
        ({"works": [{"video": {"resource_without_watermark": "https://a/clean.mp4", "resource": "https://a/wm.mp4"}}],
          "video_url": "https://a/flat.mp4"}, "https://a/clean.mp4"),
        ({"works": [{"video": {"resource_without_watermark": "", "resource": "https://a/wm.mp4"}}]}, "https://a/wm.mp4"),
        ({"works": None, "video_url": "https://a/flat.mp4", "video": "https://a/v.mp4"}, "https://a/flat.mp4"),
        ({"works": [], "video": "https://a/v.mp4"}, "https://a/v.mp4"),
    ],
)
def test_result_url_fallbacks(provider: GoApiProvider, output: dict[str, Any], url: str) -> None:
    task = provider.parse_callback(GOOD_HEADERS, hook(task_data("completed", output=output)))
    assert task.status is TaskStatus.SUCCEEDED
    assert task.result_url == url


def test_completed_without_a_video_is_a_failure_not_a_success(provider: GoApiProvider) -> None:
    task = provider.parse_callback(GOOD_HEADERS, hook(task_data("completed", output={"works": None})))
    assert task.status is TaskStatus.FAILED
    assert task.error_kind is ErrorKind.UNKNOWN and task.error_message


@pytest.mark.parametrize("shape", ["works_watermarked", "video_url", "video"])
async def test_result_url_variants_end_to_end(tmp_path: Path, session: aiohttp.ClientSession, shape: ResultShape) -> None:
    emulator = await started(tmp_path, result_shape=shape)
    try:
        provider = GoApiProvider(make_http(session), api_key=API_KEY, base_url=emulator.base_url, webhook_secret=SECRET)
        final = await finish(provider, await provider.submit(job(tmp_path)))
        assert final.status is TaskStatus.SUCCEEDED
        assert final.result_url and final.result_url.startswith(emulator.base_url)
        async with deployment_downloader(goapi_base_url=emulator.base_url) as downloader:
            assert await provider.download(final.result_url, tmp_path / "out.mp4", downloader) > 1000
    finally:
        await emulator.stop()


async def test_cost_is_reported_from_usage_consume_once_final(provider: GoApiProvider, tmp_path: Path) -> None:
    task = await provider.submit(job(tmp_path))
    assert task.cost is None  # points are only frozen while the task runs
    final = await finish(provider, task)
    assert final.cost == "300"


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("failed to generate video: the input violates the content policy", ErrorKind.CONTENT_POLICY),
        ("Kling risk control: sensitive content", ErrorKind.CONTENT_POLICY),
        ("insufficient credits", ErrorKind.BALANCE),
        ("no person detected in the image", ErrorKind.BAD_INPUT),
        ("upstream timeout", ErrorKind.UNKNOWN),
    ],
)
def test_failure_wording_maps_to_kinds(provider: GoApiProvider, message: str, kind: ErrorKind) -> None:
    data = task_data("failed", error={"code": 10000, "message": message, "raw_message": ""})
    assert provider.parse_callback(GOOD_HEADERS, hook(data)).error_kind is kind


# --- webhook authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-webhook-secret": ""},
        {"x-webhook-secret": "wrong"},
        {"x-webhook-secret": SECRET + "x"},
        {"X-Webhook-Signature": SECRET},
    ],
)
def test_webhook_without_the_right_secret_is_rejected(provider: GoApiProvider, headers: dict[str, str]) -> None:
    with pytest.raises(ProviderError) as err:
        provider.parse_callback(headers, hook(task_data("completed")))
    assert err.value.kind is ErrorKind.BAD_INPUT
    assert SECRET not in str(err.value)


def test_webhook_secret_header_name_is_case_insensitive(provider: GoApiProvider) -> None:
    output = {"works": [{"video": {"resource": "https://cdn/x.mp4"}}]}
    task = provider.parse_callback({"X-Webhook-Secret": SECRET}, hook(task_data("completed", output=output)))
    assert task.status is TaskStatus.SUCCEEDED


@pytest.mark.parametrize("age", [3601, 86400, -600])
def test_stale_or_future_webhook_is_rejected(provider: GoApiProvider, age: float) -> None:
    with pytest.raises(ProviderError) as err:
        provider.parse_callback(GOOD_HEADERS, hook(task_data("completed"), timestamp=time.time() - age))
    assert err.value.kind is ErrorKind.BAD_INPUT
    assert "timestamp" in err.value.message


def test_recent_webhook_is_accepted(provider: GoApiProvider) -> None:
    task = provider.parse_callback(GOOD_HEADERS, hook(task_data("processing"), timestamp=time.time() - 600))
    assert task.status is TaskStatus.PROCESSING


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        json.dumps({"data": task_data()}).encode(),  # no timestamp
        json.dumps({"timestamp": int(time.time())}).encode(),  # no data
        json.dumps({"timestamp": int(time.time()), "data": {"status": "completed"}}).encode(),  # no task_id
    ],
)
def test_malformed_webhook_is_rejected(provider: GoApiProvider, body: bytes) -> None:
    with pytest.raises(ProviderError) as err:
        provider.parse_callback(GOOD_HEADERS, body)
    assert err.value.kind is ErrorKind.BAD_INPUT


def test_empty_webhook_secret_is_refused_at_construction(session: aiohttp.ClientSession) -> None:
    with pytest.raises(ValueError):
        GoApiProvider(make_http(session), api_key=API_KEY, base_url="http://127.0.0.1:1", webhook_secret="")


async def test_real_webhooks_carry_the_secret_and_parse(
    provider: GoApiProvider, emulator: GoApiEmulator, sink: Sink, tmp_path: Path
) -> None:
    task = await provider.submit(job(tmp_path, callback=f"{sink.url}/job-7", job_id="job-7"))
    await finish(provider, task)
    for _ in range(50):
        if len(sink.received) >= 3:  # created, processing, completed
            break
        await asyncio.sleep(0.05)
    statuses = [provider.parse_callback(h, b).status for h, b in sink.received]
    assert statuses == [TaskStatus.SUBMITTED, TaskStatus.PROCESSING, TaskStatus.SUCCEEDED]
    assert all(h.get("x-webhook-secret") == SECRET for h, _ in sink.received)


# --- cancel -------------------------------------------------------------------------------------------


async def test_cancel_a_pending_task(provider: GoApiProvider, emulator: GoApiEmulator, tmp_path: Path) -> None:
    task = await provider.submit(job(tmp_path))
    await provider.cancel(task.task_id)
    [delete] = emulator.requests_to("DELETE", "/api/v1/task/")
    assert delete.path == f"/api/v1/task/{task.task_id}"
    assert delete.headers["X-API-Key"] == API_KEY
    after = await provider.get_task(task.task_id)
    assert after.status is TaskStatus.FAILED and after.error_message


async def test_cancel_a_running_task_is_refused(provider: GoApiProvider, tmp_path: Path) -> None:
    task = await provider.submit(job(tmp_path))
    await provider.get_task(task.task_id)  # now processing
    with pytest.raises(ProviderError) as err:
        await provider.cancel(task.task_id)
    assert err.value.kind is ErrorKind.BAD_INPUT and not err.value.retryable
    assert "pending" in err.value.message


async def test_unknown_task_is_bad_input(provider: GoApiProvider) -> None:
    with pytest.raises(ProviderError) as err:
        await provider.get_task("00000000-0000-0000-0000-000000000000")
    assert err.value.kind is ErrorKind.BAD_INPUT and err.value.http_status == 404


# --- HTTP error classification ------------------------------------------------------------------------


def answer(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Response(status, headers or {}, raw)


@pytest.mark.parametrize(
    ("response", "kind", "retryable"),
    [
        (answer(401, {"code": 401, "message": "Unauthorized"}), ErrorKind.AUTH, False),
        (answer(403, {"code": 403, "message": "forbidden"}), ErrorKind.AUTH, False),
        (answer(402, {"code": 402, "message": "insufficient credits"}), ErrorKind.BALANCE, False),
        (answer(429, {"code": 429, "message": "insufficient credits, please top up"}), ErrorKind.BALANCE, False),
        (answer(429, {"code": 429, "message": "too many requests"}), ErrorKind.RATE_LIMIT, True),
        (answer(400, {"code": 400, "message": "input.mode is invalid"}), ErrorKind.BAD_INPUT, False),
        (answer(400, {"code": 400, "message": "prompt violates content policy"}), ErrorKind.CONTENT_POLICY, False),
        (answer(500, {"code": 500, "message": "internal"}), ErrorKind.OUTAGE, True),
        (answer(502, b"<html>bad gateway</html>"), ErrorKind.OUTAGE, True),
        (answer(200, {"code": 500, "message": "failed to create task"}), ErrorKind.OUTAGE, True),
        (answer(418, {"code": 418, "message": "teapot"}), ErrorKind.BAD_INPUT, False),
    ],
)
def test_classify(provider: GoApiProvider, response: Response, kind: ErrorKind, retryable: bool) -> None:
    error = provider._classify(response)
    assert error is not None
    assert (error.kind, error.retryable) == (kind, retryable)


def test_classify_passes_successes(provider: GoApiProvider) -> None:
    assert provider._classify(answer(200, {"code": 200, "message": "success", "data": {}})) is None
    assert provider._classify(answer(200, b"not json")) is None  # left to Response.json() -> OUTAGE


def test_no_person_error_gives_the_user_a_reason(provider: GoApiProvider) -> None:
    error = provider._classify(answer(400, {"code": 400, "message": "no person detected in image_url"}))
    assert error is not None and error.kind is ErrorKind.BAD_INPUT
    assert "No person was found" in str(error.user_message)


def test_provider_text_echoing_a_secret_is_redacted(provider: GoApiProvider) -> None:
    error = provider._classify(answer(400, {"code": 400, "message": f"bad key {API_KEY} / {SECRET}"}))
    assert error is not None
    assert API_KEY not in str(error) and SECRET not in str(error)


# --- secrets never leak -------------------------------------------------------------------------------


async def test_secrets_never_in_logs_errors_or_tasks(
    provider: GoApiProvider, emulator: GoApiEmulator, sink: Sink, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []

    task = await provider.submit(job(tmp_path, callback=f"{sink.url}/job-9", job_id="job-9"))
    seen.append(task.model_dump_json())
    emulator.inject(Fault.SERVER_ERROR)  # retried read: the retry policy logs it
    final = await finish(provider, await provider.get_task(task.task_id))
    seen.append(final.model_dump_json())
    for _ in range(50):
        if len(sink.received) >= 3:
            break
        await asyncio.sleep(0.05)
    # GoAPI echoes config.webhook_config.secret inside every task payload: it must not come out of parsing
    assert any(SECRET.encode() in body for _, body in sink.received)
    seen += [provider.parse_callback(h, b).model_dump_json() for h, b in sink.received]
    for fault in (Fault.UNAUTHORIZED, Fault.BALANCE, Fault.RATE_LIMIT, Fault.SERVER_ERROR):
        emulator.inject(fault, times=3)
        with pytest.raises(ProviderError) as err:
            await provider.submit(job(tmp_path, callback=f"{sink.url}/job-10"))
        seen.append(f"{err.value} {err.value.message} {err.value.user_message}")
    with pytest.raises(ProviderError) as err:
        provider.parse_callback({"x-webhook-secret": "nope"}, b"{}")
    seen.append(str(err.value))

    text = caplog.text + "\n".join(seen)
    assert caplog.records, "expected some logging to check"
    assert API_KEY not in text
    assert SECRET not in text
