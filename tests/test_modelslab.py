"""ModelsLab adapter specifics, against its local emulator (tests/emulators/modelslab.py).

The shared scenarios live in tests/test_provider_contract.py; these cover what only
ModelsLab does: the key in the JSON body, ids recovered from fetch_result, errors
reported with HTTP 200, options it cannot honour, and a provider that echoes requests.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.errors import InputRejected, ProviderError
from bot.http import HttpClient, Response
from bot.models import ErrorKind, MediaFile, MotionOptions, MotionRequest
from bot.options import options_refusal
from bot.providers.base import ProviderTask, SubmitRequest, TaskStatus
from bot.providers.modelslab import ModelsLabProvider
from tests.deployment import deployment_downloader
from tests.emulators.common import Fault
from tests.emulators.modelslab import API_KEY, ModelsLabEmulator
from tests.media_factory import make_image, make_video


@dataclass
class World:
    emulator: ModelsLabEmulator
    provider: ModelsLabProvider
    inputs_url: str
    image: Path
    video: Path
    callbacks: list[bytes]
    callback_url: str

    def request(self, image_url: str | None = "", video_url: str | None = "", **options: object) -> SubmitRequest:
        return self.submit_request("job-ml-1", image_url, video_url, **options)

    def submit_request(
        self,
        job_id: str,
        image_url: str | None = "",
        video_url: str | None = "",
        callback: bool = False,
        **options: object,
    ) -> SubmitRequest:
        image_url = f"{self.inputs_url}/character.png" if image_url == "" else image_url
        video_url = f"{self.inputs_url}/dance.mp4" if video_url == "" else video_url
        return SubmitRequest(
            job_id=job_id,
            request=MotionRequest(
                image=MediaFile(path=self.image, filename="character.png", content_type="image/png",
                                size=self.image.stat().st_size, url=image_url),
                video=MediaFile(path=self.video, filename="dance.mp4", content_type="video/mp4",
                                size=self.video.stat().st_size, url=video_url),
                options=MotionOptions(**options),  # type: ignore[arg-type]
                video_seconds=4.0,
            ),
            callback_url=f"{self.callback_url}/{job_id}" if callback else None,
        )


@pytest.fixture
def emulator_options() -> dict[str, object]:
    return {}


@pytest.fixture
async def world(tmp_path: Path, emulator_options: dict[str, object]) -> AsyncIterator[World]:
    root = tmp_path / "inputs"
    image = make_image(root / "character.png", 512, 768)
    video = make_video(root / "dance.mp4", 360, 640, seconds=4.0)
    callbacks: list[bytes] = []

    async def receive(request: web.Request) -> web.Response:
        callbacks.append(await request.read())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/callbacks/modelslab/{job_id}", receive)
    app.router.add_static("/", root)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    local = f"http://127.0.0.1:{port}"

    emulator = ModelsLabEmulator(tmp_path / "emulator", slow_seconds=1.5, **emulator_options)  # type: ignore[arg-type]
    base_url = await emulator.start()
    async with aiohttp.ClientSession() as session:
        async def no_sleep(_: float) -> None:
            await asyncio.sleep(0)

        http = HttpClient(session, timeout_seconds=1.0, max_retries=2, sleep=no_sleep)
        provider = ModelsLabProvider(http, api_key=API_KEY, base_url=base_url + "/")
        yield World(emulator, provider, local, image, video, callbacks, f"{local}/callbacks/modelslab")
    await emulator.stop()
    await runner.cleanup()


async def poll_to_end(provider: ModelsLabProvider, task: ProviderTask) -> ProviderTask:
    for _ in range(20):
        if task.status in (TaskStatus.SUCCEEDED, TaskStatus.FAILED):
            return task
        task = await provider.get_task(task.task_id)
    raise AssertionError(f"never finished: {task}")


def response(status: int, payload: object, headers: dict[str, str] | None = None) -> Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return Response(status, headers or {}, body)


def bare_provider() -> ModelsLabProvider:
    # classify and parse_callback never touch the network
    return ModelsLabProvider(None, api_key=API_KEY, base_url="http://127.0.0.1:9")  # type: ignore[arg-type]


# --- capabilities --------------------------------------------------------------------------------

def test_capabilities_say_what_modelslab_cannot_do() -> None:
    caps = ModelsLabProvider.capabilities
    assert caps.keep_sound is False  # keep_original_sound is not part of ModelsLab's API
    assert caps.can_find_by_job_id is False and caps.can_cancel is False
    assert caps.motion_templates is False and caps.uploaded_video is True
    assert caps.needs_input_urls is True
    assert caps.modes == ("std", "pro") and caps.orientations == ("image", "video")
    assert ModelsLabProvider.name == "modelslab"


# --- the wire -----------------------------------------------------------------------------------

async def test_key_travels_in_the_body_never_in_a_header(world: World) -> None:
    task = await world.provider.submit(
        world.submit_request("job-wire", orientation="image", mode="pro", prompt="wave both hands", callback=True)
    )
    await world.provider.get_task(task.task_id)

    create, fetch = world.emulator.requests
    assert (create.method, create.path) == ("POST", "/api/v7/video-fusion/motion-control")
    assert create.json() == {
        "key": API_KEY,
        "model_id": "kling-motion-control",
        "init_image": f"{world.inputs_url}/character.png",
        "init_video": f"{world.inputs_url}/dance.mp4",
        "character_orientation": "image",
        "mode": "pro",
        "prompt": "wave both hands",
        "webhook": f"{world.callback_url}/job-wire",
        "track_id": "job-wire",
    }
    assert (fetch.method, fetch.path) == ("POST", f"/api/v7/video-fusion/fetch/{task.task_id}")
    assert fetch.json() == {"key": API_KEY}
    for recorded in (create, fetch):
        assert not any(API_KEY in value for value in recorded.headers.values())
        assert API_KEY not in recorded.path and not recorded.query


async def test_empty_prompt_and_missing_callback_are_left_out(world: World) -> None:
    await world.provider.submit(world.request())
    body = world.emulator.requests[0].json()
    assert "prompt" not in body and "webhook" not in body
    assert "keep_original_sound" not in body
    assert body["track_id"] == "job-ml-1"


async def test_eta_is_carried_and_the_task_runs_to_a_downloadable_result(world: World, tmp_path: Path) -> None:
    task = await world.provider.submit(world.request())
    assert task.status is TaskStatus.PROCESSING and task.raw_status == "processing"
    assert task.eta_seconds == world.emulator.eta_seconds
    second = await world.provider.get_task(task.task_id)
    assert second.eta_seconds == world.emulator.eta_seconds - 10  # the emulator's countdown
    final = await poll_to_end(world.provider, second)
    assert final.status is TaskStatus.SUCCEEDED and final.result_url
    assert final.cost is None  # ModelsLab reports no cost
    async with deployment_downloader(modelslab_base_url=world.emulator.base_url) as downloader:
        assert await world.provider.download(final.result_url, tmp_path / "out.mp4", downloader) > 1000


@pytest.mark.parametrize("emulator_options", [{"include_id": False}])
async def test_task_id_is_recovered_from_fetch_result(world: World) -> None:
    task = await world.provider.submit(world.request())
    (created_id,) = world.emulator.tasks
    assert task.task_id == str(created_id)
    assert (await poll_to_end(world.provider, task)).status is TaskStatus.SUCCEEDED


async def test_a_webhook_parses_to_the_task_that_was_polled(world: World) -> None:
    task = await world.provider.submit(world.submit_request("job-hook", callback=True))
    final = await poll_to_end(world.provider, task)
    for _ in range(50):
        if world.callbacks:
            break
        await asyncio.sleep(0.05)
    (body,) = world.callbacks
    assert json.loads(body)["track_id"] == "job-hook"
    parsed = world.provider.parse_callback({}, body)
    assert (parsed.task_id, parsed.status, parsed.result_url) == (task.task_id, TaskStatus.SUCCEEDED, final.result_url)


async def test_a_failed_task_keeps_the_providers_reason(world: World) -> None:
    world.emulator.inject(Fault.TASK_FAILED)
    final = await poll_to_end(world.provider, await world.provider.submit(world.request()))
    assert final.status is TaskStatus.FAILED and final.raw_status == "error"
    assert final.error_kind is ErrorKind.UNKNOWN
    assert final.error_message and "generation failed" in final.error_message.lower()


async def test_rate_limit_on_a_read_is_retried(world: World) -> None:
    task = await world.provider.submit(world.request())
    world.emulator.inject(Fault.RATE_LIMIT)
    assert (await world.provider.get_task(task.task_id)).status is TaskStatus.PROCESSING
    assert len(world.emulator.requests_to("POST", "/api/v7/video-fusion/fetch/")) == 2


async def test_a_create_that_may_have_been_accepted_is_never_sent_or_offered_again(world: World) -> None:
    world.emulator.inject(Fault.SLOW)  # answers after the client's 1 s timeout, but makes the task
    with pytest.raises(ProviderError) as err:
        await world.provider.submit(world.request())
    assert err.value.kind is ErrorKind.OUTAGE
    assert err.value.maybe_accepted is True  # the job engine reconciles instead of resubmitting
    assert err.value.retryable is False  # no lookup by job id exists: a resubmit could double-charge
    assert len(world.emulator.requests_to("POST", "/api/v7/video-fusion/motion-control")) == 1


async def test_server_error_on_create_is_an_outage_not_to_be_resubmitted(world: World) -> None:
    world.emulator.inject(Fault.SERVER_ERROR)
    with pytest.raises(ProviderError) as err:
        await world.provider.submit(world.request())
    assert (err.value.kind, err.value.http_status, err.value.retryable) == (ErrorKind.OUTAGE, 500, False)
    assert err.value.maybe_accepted is True
    assert len(world.emulator.requests_to("POST", "/api/v7/video-fusion/motion-control")) == 1


async def test_a_create_that_never_connected_stays_retryable(world: World) -> None:
    # a port nobody listens on: nothing reached ModelsLab, so trying again later is safe
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = ModelsLabProvider(world.provider.http, api_key=API_KEY, base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(ProviderError) as err:
        await provider.submit(world.request())
    assert (err.value.kind, err.value.retryable, err.value.maybe_accepted) == (ErrorKind.OUTAGE, True, False)


@pytest.mark.parametrize("emulator_options", [{"include_id": False, "include_fetch_result": False}])
async def test_an_accepted_answer_without_any_id_is_reported_as_maybe_accepted(world: World) -> None:
    with pytest.raises(ProviderError) as err:
        await world.provider.submit(world.request())
    assert (err.value.kind, err.value.retryable, err.value.maybe_accepted) == (ErrorKind.OUTAGE, False, True)


# --- refused before sending ----------------------------------------------------------------------

def test_keep_sound_and_templates_are_refused_by_the_one_options_check() -> None:
    # A4: ModelsLab has no keep_original_sound; intake refuses it from the capabilities, before money.
    caps = ModelsLabProvider.capabilities
    sound = options_refusal(MotionOptions(keep_sound=True), caps, "modelslab", has_video=True)
    assert sound is not None and "keep_sound" in str(sound.message)
    template = options_refusal(MotionOptions(motion_template="Heart Gesture Dance"), caps, "modelslab", has_video=False)
    assert template is not None and "no motion templates" in str(template.message)
    assert options_refusal(MotionOptions(), caps, "modelslab", has_video=True) is None


async def test_a_template_job_that_reaches_the_adapter_is_refused_before_anything_is_sent(world: World) -> None:
    submit = world.request(motion_template="Heart Gesture Dance")
    submit.request.video = None
    with pytest.raises(InputRejected) as err:
        await world.provider.submit(submit)
    assert err.value.retryable is False
    assert world.emulator.requests == []


@pytest.mark.parametrize(("image_url", "video_url"), [(None, ""), ("", None), (None, None)])
async def test_inputs_without_a_url_are_refused_before_any_request(
    world: World, image_url: str | None, video_url: str | None
) -> None:
    with pytest.raises(ProviderError) as err:
        await world.provider.submit(world.request(image_url, video_url))
    assert err.value.kind is ErrorKind.BAD_INPUT and err.value.retryable is False
    assert "PUBLIC_URL" in err.value.message  # tells the admin what to set
    assert "PUBLIC_URL" not in str(err.value.user_message)
    assert world.emulator.requests == []


async def test_a_task_id_that_is_not_an_integer_is_refused_before_any_request(world: World) -> None:
    with pytest.raises(ProviderError) as err:
        await world.provider.get_task("../motion-control")
    assert err.value.kind is ErrorKind.BAD_INPUT
    assert world.emulator.requests == []


async def test_an_unreachable_input_url_is_a_bad_input_with_the_providers_words(world: World) -> None:
    with pytest.raises(ProviderError) as err:
        await world.provider.submit(world.request(image_url=f"{world.inputs_url}/missing.png"))
    assert (err.value.kind, err.value.http_status, err.value.retryable) == (ErrorKind.BAD_INPUT, 400, False)
    assert err.value.user_detail and "init_image" in err.value.user_detail


# --- classification --------------------------------------------------------------------------------

ERROR_TABLE = [
    # (HTTP status, body, stage, kind, retryable) — ModelsLab's words as assumed in the adapter (A6, A7)
    (200, {"status": "error", "message": "Invalid Api Key"}, "create", ErrorKind.AUTH, False),
    (200, {"status": "error", "message": "Invalid API key provided"}, "read", ErrorKind.AUTH, False),
    (200, {"status": "error", "message": "Insufficient credits, please top up"}, "create", ErrorKind.BALANCE, False),
    (200, {"status": "error", "message": "Your wallet balance is too low"}, "create", ErrorKind.BALANCE, False),
    (200, {"status": "error", "message": "Rate limit exceeded"}, "create", ErrorKind.RATE_LIMIT, True),
    (200, {"status": "error", "message": "Too many requests"}, "read", ErrorKind.RATE_LIMIT, True),
    (200, {"status": "error", "message": "NSFW image detected"}, "create", ErrorKind.CONTENT_POLICY, False),
    (200, {"status": "error", "message": "Blocked by our content policy"}, "create", ErrorKind.CONTENT_POLICY, False),
    (200, {"status": "error", "message": "Could not generate the video"}, "create", ErrorKind.BAD_INPUT, False),
    (200, {"status": "error", "messege": "init_image is not a valid URL"}, "create", ErrorKind.BAD_INPUT, False),
    (200, {"status": "error", "message": {"mode": ["The selected mode is invalid."]}}, "create", ErrorKind.BAD_INPUT, False),
    (200, {"status": "error", "messege": "insufficient balance"}, "create", ErrorKind.BALANCE, False),
    (401, {"status": "error", "message": "key is required"}, "create", ErrorKind.AUTH, False),
    (403, {"status": "error", "message": "Forbidden"}, "read", ErrorKind.AUTH, False),
    (402, {"status": "error", "message": "Payment required"}, "create", ErrorKind.BALANCE, False),
    (429, {"status": "error", "message": "Too many requests"}, "create", ErrorKind.RATE_LIMIT, True),
    (429, {"status": "error", "message": "Not enough credits"}, "create", ErrorKind.BALANCE, False),
    (500, {"status": "error", "message": "Server error"}, "read", ErrorKind.OUTAGE, True),
    (500, {"status": "error", "message": "Server error"}, "create", ErrorKind.OUTAGE, False),  # may exist
    (504, b"Gateway Timeout", "create", ErrorKind.OUTAGE, False),
    (503, {"status": "error", "message": "Service unavailable"}, "create", ErrorKind.OUTAGE, True),  # surely refused
    (502, b"<html>Bad Gateway</html>", "create", ErrorKind.OUTAGE, True),
    (400, {"status": "error", "message": "prompt is required"}, "create", ErrorKind.BAD_INPUT, False),
    (400, {"status": "error", "message": "NSFW prompt"}, "create", ErrorKind.CONTENT_POLICY, False),
    (404, {"status": "error", "message": "No request found"}, "read", ErrorKind.UNKNOWN, False),
    (200, b"<html>not json</html>", "read", ErrorKind.OUTAGE, True),
    (200, b"<html>not json</html>", "create", ErrorKind.OUTAGE, False),  # may have been accepted
    (200, [1, 2], "read", ErrorKind.OUTAGE, True),
]


@pytest.mark.parametrize(("status", "body", "stage", "kind", "retryable"), ERROR_TABLE)
def test_error_classification(status: int, body: object, stage: str, kind: ErrorKind, retryable: bool) -> None:
    error = bare_provider().classify(response(status, body), stage=stage)  # type: ignore[arg-type]
    assert error is not None
    assert (error.kind, error.retryable, error.http_status) == (kind, retryable, status)
    # only a create whose answer does not prove it was refused may have made a task
    unsure = status in (500, 504) or (status == 200 and kind is ErrorKind.OUTAGE)
    assert error.maybe_accepted is (stage == "create" and unsure)


@pytest.mark.parametrize(
    "body",
    [
        {"status": "processing", "id": 1, "eta": 10},
        {"status": "success", "id": 1, "output": ["https://cdn.example/v.mp4"]},
        # on a read, an error about the task itself is the task's end, handled by get_task
        {"status": "error", "id": 1, "message": "NSFW content detected"},
        {"status": "error", "id": 1, "message": "generation failed"},
    ],
)
def test_answers_the_caller_reads(body: dict[str, object]) -> None:
    assert bare_provider().classify(response(200, body), stage="read") is None


def test_an_error_at_create_is_never_read_as_a_task() -> None:
    assert bare_provider().classify(response(200, {"status": "error", "message": "oops"}), stage="create") is not None


def test_users_get_the_providers_sentence_only_where_it_helps() -> None:
    provider = bare_provider()
    policy = provider.classify(response(200, {"status": "error", "message": "NSFW image detected"}), stage="create")
    auth = provider.classify(response(200, {"status": "error", "message": "Invalid Api Key"}), stage="create")
    assert policy is not None and str(policy.user_message).endswith("NSFW image detected")
    assert auth is not None and auth.user_detail is None and "Invalid Api Key" in auth.message


# --- callbacks ------------------------------------------------------------------------------------

def test_webhook_success_shape() -> None:
    body = {"status": "success", "id": 155262350, "output": ["https://cdn.example/a.mp4"], "generationTime": 40.1,
            "track_id": "job-1", "meta": {"mode": "std"}}
    task = bare_provider().parse_callback({}, json.dumps(body).encode())
    assert (task.task_id, task.status) == ("155262350", TaskStatus.SUCCEEDED)
    assert task.result_url == "https://cdn.example/a.mp4"


def test_webhook_failed_shape() -> None:
    body = {"status": "failed", "id": 155262350, "message": "NSFW content detected", "track_id": "job-1"}
    task = bare_provider().parse_callback({}, json.dumps(body).encode())
    assert (task.status, task.error_kind, task.error_message) == (
        TaskStatus.FAILED, ErrorKind.CONTENT_POLICY, "NSFW content detected"
    )


def test_webhook_success_without_a_url_yet_is_still_processing() -> None:
    body = {"status": "success", "id": 7, "output": [], "track_id": "job-1"}
    assert bare_provider().parse_callback({}, json.dumps(body).encode()).status is TaskStatus.PROCESSING


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe",
        b"[]",
        b'"success"',
        b'{"id": 1}',  # no status
        b'{"status": "success", "output": ["https://cdn.example/a.mp4"]}',  # no id anywhere
        b'{"status": "exploded", "id": 1}',
        b'{"status": "success", "id": 1, "output": "https://cdn.example/a.mp4"}',  # output not a list
    ],
)
def test_malformed_webhooks_are_bad_input(body: bytes) -> None:
    with pytest.raises(ProviderError) as err:
        bare_provider().parse_callback({}, body)
    assert err.value.kind is ErrorKind.BAD_INPUT


# --- the key stays secret ----------------------------------------------------------------------------

def assert_no_key(*texts: object) -> None:
    for text in texts:
        assert API_KEY not in str(text)


@pytest.mark.parametrize("emulator_options", [{"echo_request": True}])
@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        (Fault.UNAUTHORIZED, ErrorKind.AUTH),
        (Fault.BALANCE, ErrorKind.BALANCE),
        (Fault.SERVER_ERROR, ErrorKind.OUTAGE),
        (Fault.MALFORMED_JSON, ErrorKind.OUTAGE),
        (Fault.RATE_LIMIT, None),  # retried (and logged), then accepted
    ],
)
async def test_key_never_in_errors_or_logs_even_when_echoed_at_create(
    world: World, caplog: pytest.LogCaptureFixture, fault: Fault, kind: ErrorKind | None
) -> None:
    caplog.set_level(logging.DEBUG)
    world.emulator.inject(fault)
    try:
        task = await world.provider.submit(world.request(prompt="dance"))
    except ProviderError as err:
        assert err.kind is kind
        assert_no_key(err, err.message, err.user_message, err.user_detail, err.args, repr(err))
        assert "[key]" in err.message  # the emulator did echo the key, so scrubbing was put to the test
    else:
        assert kind is None
        assert_no_key(task.model_dump_json())
        assert "[key]" in caplog.text  # the echoed 429 was logged by the retry, scrubbed
    assert_no_key(caplog.text)


@pytest.mark.parametrize("emulator_options", [{"echo_request": True}])
@pytest.mark.parametrize("fault", [Fault.SERVER_ERROR, Fault.MALFORMED_JSON, Fault.RATE_LIMIT])
async def test_key_never_in_read_errors_or_retry_logs(
    world: World, caplog: pytest.LogCaptureFixture, fault: Fault
) -> None:
    caplog.set_level(logging.DEBUG)
    task = await world.provider.submit(world.request())
    world.emulator.inject(fault, times=10)
    with pytest.raises(ProviderError) as err:
        await world.provider.get_task(task.task_id)
    assert_no_key(err.value, err.value.message, err.value.user_message, err.value.user_detail, caplog.text)
    assert "retry" in caplog.text and "[key]" in caplog.text  # echoed answers were logged, scrubbed


@pytest.mark.parametrize("emulator_options", [{"echo_request": True}])
async def test_key_never_in_a_failed_task_even_when_echoed(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    world.emulator.inject(Fault.CONTENT_POLICY)
    task = await world.provider.submit(world.submit_request("job-s", callback=True))
    final = await poll_to_end(world.provider, task)
    assert final.error_kind is ErrorKind.CONTENT_POLICY
    assert final.error_message and "[key]" in final.error_message  # the echo was there, and was cut out
    for _ in range(50):
        if world.callbacks:
            break
        await asyncio.sleep(0.05)
    hooked = world.provider.parse_callback({}, world.callbacks[0])
    assert hooked.status is TaskStatus.FAILED
    assert_no_key(final.model_dump_json(), hooked.model_dump_json(), caplog.text)


def test_scrubbing_holds_for_a_key_cut_off_by_the_snippet() -> None:
    # A malformed body whose 200-character snippet would end in the middle of the key.
    body = (b"x" * 190) + API_KEY.encode() + b" trailing"
    error = bare_provider().classify(response(200, body), stage="read")
    assert error is not None and error.kind is ErrorKind.OUTAGE
    assert "test-model" not in error.message


def test_scrubbing_removes_signed_url_tokens_from_an_echoed_request() -> None:
    # The bot's webhook and media URLs carry per-job tokens; an echoed request must not leak them.
    echoed = {"webhook": "https://bot.example/callbacks/modelslab/j1?token=s3cr3t.tok",
              "init_image": "https://bot.example/media/j1/a.png?x=1&token=m3d1a.tok"}
    body = {"status": "error", "message": f"Bad request: {json.dumps(echoed)}"}
    error = bare_provider().classify(response(400, body), stage="create")
    assert error is not None
    for text in (error.message, str(error.user_message)):
        assert "s3cr3t.tok" not in text and "m3d1a.tok" not in text
    assert "callbacks/modelslab/j1?token=[redacted]" in error.message


def test_scrubbing_removes_any_echoed_key_field() -> None:
    # Even a key value that differs from ours (truncated, re-encoded) is blanked when labelled "key".
    body = {"status": "error", "message": "Invalid request {'key': 'test-modelslab-k', 'mode': 'std'}"}
    error = bare_provider().classify(response(400, body), stage="create")
    assert error is not None and "test-modelslab-k" not in error.message and "'mode': 'std'" in error.message


# --- the emulator itself ---------------------------------------------------------------------------

async def test_emulator_checks_the_key_and_the_body(world: World) -> None:
    base = world.emulator.base_url
    good = world.request().request
    valid = {"key": API_KEY, "model_id": "kling-motion-control", "init_image": good.image.url,
             "init_video": good.video.url if good.video else "", "character_orientation": "video", "mode": "std"}
    async with aiohttp.ClientSession() as session:
        async def post(path: str, body: object) -> tuple[int, dict[str, object]]:
            async with session.post(base + path, json=body) as resp:
                return resp.status, await resp.json()

        create = "/api/v7/video-fusion/motion-control"
        assert (await post(create, valid))[1]["status"] == "processing"
        status, answer = await post(create, {**valid, "key": API_KEY + "x"})
        assert status == 401 and answer["status"] == "error"
        status, _ = await post(create, {k: v for k, v in valid.items() if k != "key"})
        assert status == 401
        status, answer = await post(create, {k: v for k, v in valid.items() if k != "init_video"})
        assert status == 400 and "init_video is required" in str(answer["message"])
        status, answer = await post(create, {**valid, "mode": "ultra", "character_orientation": "left"})
        assert status == 400
        assert "mode" in str(answer["message"]) and "character_orientation" in str(answer["message"])
        status, _ = await post(create, {**valid, "init_image": "character.png"})
        assert status == 400
        status, _ = await post(create, {**valid, "prompt": 5})
        assert status == 400
        (task_id,) = world.emulator.tasks
        status, _ = await post(f"/api/v7/video-fusion/fetch/{task_id}", {"key": "wrong"})
        assert status == 401
        status, answer = await post(f"/api/v7/video-fusion/fetch/{task_id}", {"key": API_KEY})
        assert status == 200 and answer["status"] == "processing"
        async with session.get(str(answer["future_links"][0])) as resp:  # type: ignore[index]
            assert resp.status == 404  # not ready yet
