"""useapi.net adapter specifics, against its emulator on 127.0.0.1.

The shared scenarios (faults, callbacks, timeouts) are in tests/test_provider_contract.py;
this file covers what only useapi has: uploads first, templates, numeric ids,
and telling Kling's 500-for-moderation and no-person answers apart from outages.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.errors import InputRejected, ProviderError
from bot.http import HttpClient
from bot.models import ErrorKind, MediaFile, MotionOptions, MotionRequest
from bot.providers.base import SubmitRequest, TaskStatus
from bot.providers.useapi import TEMPLATE_CACHE_SECONDS, UseApiProvider
from tests.deployment import deployment_downloader
from tests.emulators.common import Fault
from tests.emulators.useapi import MODERATED, NO_PERSON, PREFIX, TOKEN, UseApiEmulator
from tests.media_factory import make_image, make_video


@dataclass
class Env:
    emulator: UseApiEmulator
    provider: UseApiProvider
    http: HttpClient
    image: Path
    video: Path
    sleeps: list[float] = field(default_factory=list)

    def request(self, *, video: bool = True, **options: Any) -> MotionRequest:
        return MotionRequest(
            image=MediaFile(path=self.image, filename="character.png", content_type="image/png", size=self.image.stat().st_size),
            video=MediaFile(path=self.video, filename="dance.mp4", content_type="video/mp4", size=self.video.stat().st_size)
            if video
            else None,
            options=MotionOptions(**options),
            video_seconds=4.0,
        )

    def submit(self, job_id: str = "job-1", callback: str | None = None, *, video: bool = True, **options: Any) -> SubmitRequest:
        return SubmitRequest(job_id=job_id, request=self.request(video=video, **options), callback_url=callback)

    def creates(self) -> list[Any]:
        return self.emulator.requests_to("POST", f"{PREFIX}/videos/motion-create")

    def uploads(self) -> list[Any]:
        return self.emulator.requests_to("POST", f"{PREFIX}/assets")


async def _env(tmp_path: Path, *, emulator_email: str = "", provider_email: str = "") -> AsyncIterator[Env]:
    emulator = UseApiEmulator(tmp_path / "emulator", email=emulator_email, polls_to_finish=1)
    await emulator.start()
    image = make_image(tmp_path / "in" / "character.png", 512, 768)
    video = make_video(tmp_path / "in" / "dance.mp4", 360, 640, seconds=4.0)
    sleeps: list[float] = []

    async def record_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async with aiohttp.ClientSession() as session:
        http = HttpClient(session, timeout_seconds=2.0, max_retries=2, sleep=record_sleep)
        provider = UseApiProvider(http, token=TOKEN, base_url=emulator.api_url, email=provider_email)
        yield Env(emulator, provider, http, image, video, sleeps)
    await emulator.stop()


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async for value in _env(tmp_path):
        yield value


def task_body(task_id: Any = 300000123, status_name: str | None = "processing", final: bool = False, **extra: Any) -> bytes:
    task: dict[str, Any] = {"id": task_id, "status_final": final}
    if status_name is not None:
        task["status_name"] = status_name
    return json.dumps({"task": task, **extra}).encode()


# --- request shape ---------------------------------------------------------------------------


def test_capabilities_as_data() -> None:
    caps = UseApiProvider.capabilities
    assert caps.needs_input_urls is False  # bytes are uploaded: no PUBLIC_URL needed
    assert caps.motion_templates is True and caps.uploaded_video is True
    assert caps.can_find_by_job_id is False and caps.can_cancel is False
    assert set(caps.modes) == {"std", "pro"} and set(caps.orientations) == {"image", "video"}


async def test_uploads_first_then_creates_with_url_for_the_image_and_resource_url_for_the_video(env: Env) -> None:
    task = await env.provider.submit(
        env.submit("job-42", "http://127.0.0.1:9/callbacks/useapi/job-42", orientation="image", mode="pro", prompt="dance", keep_sound=True)
    )
    assert task.status is TaskStatus.SUBMITTED

    image_up, video_up = env.uploads()
    assert image_up.headers["Content-Type"] == "image/png"
    assert video_up.headers["Content-Type"] == "video/mp4"
    # streamed whole, with a length (not chunked), byte for byte
    assert image_up.body == env.image.read_bytes()
    assert video_up.body == env.video.read_bytes()
    assert video_up.headers["Content-Length"] == str(env.video.stat().st_size)
    assert "Transfer-Encoding" not in video_up.headers

    (create,) = env.creates()
    assert env.emulator.requests.index(create) > env.emulator.requests.index(video_up)
    body = create.json()
    image_answer = [url for url, kind in env.emulator.assets.items() if kind == "image"]
    video_answer = [url for url, kind in env.emulator.assets.items() if kind == "video"]
    assert body["imageUrl"] == image_answer[0]
    assert body["motionUrl"] == video_answer[0]  # resourceUrl, not the upload's raw `url`
    assert body["motionDirection"] == "image_direction"
    assert body["keepAudio"] is True
    assert body["mode"] == "pro"
    assert body["model_name"] == "kling-v2-6"
    assert body["prompt"] == "dance"
    assert body["replyUrl"] == "http://127.0.0.1:9/callbacks/useapi/job-42"
    assert body["replyRef"] == "job-42"
    assert create.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_video_orientation_and_defaults(env: Env) -> None:
    await env.provider.submit(env.submit(orientation="video", keep_sound=False))
    body = env.creates()[0].json()
    assert body["motionDirection"] == "motion_direction"
    assert body["keepAudio"] is False
    assert "prompt" not in body and "replyUrl" not in body and "email" not in body


async def test_email_is_sent_on_every_call_when_set(tmp_path: Path) -> None:
    async for env in _env(tmp_path, emulator_email="me@example.com", provider_email="me@example.com"):
        task = await env.provider.submit(env.submit())
        await env.provider.get_task(task.task_id)
        await env.provider.list_motion_templates()
        assert all(r.query.get("email") == "me@example.com" for r in env.uploads())
        assert env.creates()[0].json()["email"] == "me@example.com"
        assert env.emulator.requests_to("GET", f"{PREFIX}/tasks/")[0].query["email"] == "me@example.com"
        assert env.emulator.requests_to("GET", f"{PREFIX}/videos/motions")[0].query["email"] == "me@example.com"


async def test_upload_failure_is_retried_but_the_create_is_sent_once(env: Env) -> None:
    env.emulator.asset_failures = 1
    task = await env.provider.submit(env.submit())
    assert task.task_id
    assert len(env.uploads()) == 3  # image failed once, then image and video
    assert [u["size"] for u in env.emulator.uploads] == [env.image.stat().st_size, env.video.stat().st_size]
    assert len(env.creates()) == 1


# --- templates ---------------------------------------------------------------------------------


async def test_template_instead_of_a_video_uploads_only_the_image(env: Env) -> None:
    templates = await env.provider.list_motion_templates()
    assert [t.seconds for t in templates] == [5.0, 8.5, 12.0]  # duration ms -> seconds
    assert all(t.name for t in templates)
    chosen = templates[1]
    wire = env.emulator.templates()[1]
    assert chosen.id == str(wire["assetId"])

    await env.provider.submit(env.submit(video=False, motion_template=chosen.id))
    (upload,) = env.uploads()
    assert upload.headers["Content-Type"] == "image/png"
    assert env.creates()[0].json()["motionUrl"] == wire["url"]


async def test_a_job_without_any_motion_is_refused_before_anything_is_sent(env: Env) -> None:
    # Intake never makes one (bot/options.py); the adapter still refuses rather than send half a job.
    with pytest.raises(InputRejected) as err:
        await env.provider.submit(env.submit(video=False))
    assert not err.value.retryable
    assert env.emulator.requests == []


async def test_unknown_template_is_refused_before_any_upload(env: Env) -> None:
    with pytest.raises(ProviderError) as err:
        await env.provider.submit(env.submit(video=False, motion_template="no-such-motion"))
    assert err.value.kind is ErrorKind.BAD_INPUT
    assert env.uploads() == [] and env.creates() == []


async def test_a_file_type_useapi_cannot_upload_is_refused_before_anything_is_sent(env: Env) -> None:
    unsupported_file = env.submit()
    unsupported_file.request.image.filename = "character.gif"
    unsupported_file.request.image.content_type = "image/gif"
    with pytest.raises(ProviderError) as err:
        await env.provider.submit(unsupported_file)
    assert err.value.kind is ErrorKind.BAD_INPUT
    assert env.emulator.requests == []


async def test_template_list_is_cached_for_a_few_minutes(env: Env) -> None:
    clock = [1000.0]
    env.provider._now = lambda: clock[0]

    def motions() -> list[Any]:
        return env.emulator.requests_to("GET", f"{PREFIX}/videos/motions")

    await asyncio.gather(*(env.provider.list_motion_templates() for _ in range(5)))  # a burst of autocompletes
    await env.provider.list_motion_templates()
    assert len(motions()) == 1

    clock[0] += TEMPLATE_CACHE_SECONDS + 1
    await env.provider.list_motion_templates()
    assert len(motions()) == 2

    # a failed refresh serves the old list rather than breaking the autocomplete
    clock[0] += TEMPLATE_CACHE_SECONDS + 1
    env.emulator.inject(Fault.SERVER_ERROR, times=3)
    assert len(await env.provider.list_motion_templates()) == 3


async def test_template_list_error_without_a_cache_is_raised(env: Env) -> None:
    env.emulator.inject(Fault.MALFORMED_JSON)
    with pytest.raises(ProviderError) as err:
        await env.provider.list_motion_templates()
    assert err.value.kind is ErrorKind.OUTAGE


# --- errors --------------------------------------------------------------------------------------


async def test_no_person_in_the_image_is_told_apart_from_an_outage(env: Env) -> None:
    env.emulator.scripted_creates.append((400, NO_PERSON))
    with pytest.raises(ProviderError) as err:
        await env.provider.submit(env.submit())
    no_person = err.value
    assert no_person.kind is ErrorKind.BAD_INPUT
    assert not no_person.retryable
    assert no_person.code == "MOTION.PIC_NOT_MATCHED"
    assert "No person" in str(no_person.user_message)

    env.emulator.inject(Fault.SERVER_ERROR)
    with pytest.raises(ProviderError) as err:
        await env.provider.submit(env.submit("job-2"))
    assert err.value.kind is ErrorKind.OUTAGE
    assert "person" not in str(err.value.user_message)
    assert len(env.creates()) == 2  # one each: neither was re-sent


async def test_moderation_500_is_content_policy_and_a_real_500_is_an_outage(env: Env) -> None:
    env.emulator.inject(Fault.CONTENT_POLICY)
    with pytest.raises(ProviderError) as err:
        await env.provider.submit(env.submit())
    assert err.value.kind is ErrorKind.CONTENT_POLICY
    assert err.value.code == "CM_EXT.POther"
    assert err.value.http_status == 500
    assert not err.value.retryable

    # a 500 whose `message` names CM_EXT but whose `error` does not is an outage: only `error` decides
    env.emulator.scripted_creates.append((500, {"error": "Internal Server Error", "message": MODERATED["message"]}))
    with pytest.raises(ProviderError) as err:
        await env.provider.submit(env.submit("job-2"))
    assert err.value.kind is ErrorKind.OUTAGE
    assert err.value.retryable  # worth trying later, but the create itself was not re-sent
    assert len(env.creates()) == 2


async def test_out_of_credits_is_balance_and_not_retried(env: Env) -> None:
    env.emulator.inject(Fault.BALANCE)
    with pytest.raises(ProviderError) as err:
        await env.provider.submit(env.submit())
    assert err.value.kind is ErrorKind.BALANCE and not err.value.retryable
    env.emulator.scripted_creates.append((400, {"error": "Not enough credits to create this video"}))
    with pytest.raises(ProviderError) as err:
        await env.provider.submit(env.submit("job-2"))
    assert err.value.kind is ErrorKind.BALANCE
    assert len(env.creates()) == 2


async def test_all_accounts_busy_waits_ten_seconds_without_retry_after(env: Env) -> None:
    env.emulator.scripted_creates.append((429, {"error": "All accounts at capacity", "code": 429}))
    task = await env.provider.submit(env.submit())
    assert env.sleeps == [10.0]
    assert len(env.emulator.tasks) == 1 and task.task_id == str(next(iter(env.emulator.tasks)))

    env.sleeps.clear()
    env.emulator.inject(Fault.RATE_LIMIT)  # with Retry-After: 1
    await env.provider.submit(env.submit("job-2"))
    assert env.sleeps == [1.0]


async def test_bad_token_is_auth(env: Env) -> None:
    wrong = UseApiProvider(env.http, token="not-the-token", base_url=env.emulator.api_url)
    with pytest.raises(ProviderError) as err:
        await wrong.submit(env.submit())
    assert err.value.kind is ErrorKind.AUTH and not err.value.retryable
    assert len(env.uploads()) == 1  # refused at the first call, not retried


async def test_an_accepted_create_without_a_task_id_is_never_retried(env: Env) -> None:
    env.emulator.scripted_creates.append((200, {"message": "success"}))
    with pytest.raises(ProviderError) as err:
        await env.provider.submit(env.submit())
    assert not err.value.retryable
    env.emulator.inject(Fault.MALFORMED_JSON)
    with pytest.raises(ProviderError) as err:
        await env.provider.submit(env.submit("job-2"))
    assert not err.value.retryable  # a 200 may have made a task: an OUTAGE here would invite a resubmit
    assert len(env.creates()) == 2


# --- tasks, ids, callbacks --------------------------------------------------------------------------


async def test_numeric_task_ids_round_trip(env: Env) -> None:
    task = await env.provider.submit(env.submit("job-7", "http://127.0.0.1:9/cb"))
    assert task.task_id.isdigit()
    assert int(task.task_id) in env.emulator.tasks

    read = await env.provider.get_task(task.task_id)
    assert read.task_id == task.task_id
    assert env.emulator.requests_to("GET", f"{PREFIX}/tasks/")[-1].path == f"{PREFIX}/tasks/{task.task_id}"

    model = env.emulator.task_model(env.emulator.tasks[int(task.task_id)])
    assert isinstance(model["task"]["id"], int)
    assert env.provider.parse_callback({}, json.dumps(model).encode()).task_id == task.task_id

    before = len(env.emulator.requests)
    with pytest.raises(ProviderError) as err:
        await env.provider.get_task("abc")
    assert err.value.kind is ErrorKind.BAD_INPUT
    assert len(env.emulator.requests) == before


async def test_polling_to_the_end(env: Env, tmp_path: Path) -> None:
    task = await env.provider.submit(env.submit())
    states = [task.status]
    while task.status not in (TaskStatus.SUCCEEDED, TaskStatus.FAILED):
        task = await env.provider.get_task(task.task_id)
        states.append(task.status)
    assert states == [TaskStatus.SUBMITTED, TaskStatus.PROCESSING, TaskStatus.SUCCEEDED]
    assert task.result_url and task.cost is None
    async with deployment_downloader(useapi_base_url=env.emulator.api_url) as downloader:
        assert await env.provider.download(task.result_url, tmp_path / "out.mp4", downloader) > 1000


async def test_a_vanished_task_is_failed_not_retried(env: Env) -> None:
    task = await env.provider.get_task("999")
    assert task.status is TaskStatus.FAILED
    assert task.error_kind is ErrorKind.UNKNOWN
    assert task.error_code == "VALID.ResourceNotFound"
    assert len(env.emulator.requests_to("GET", f"{PREFIX}/tasks/")) == 1


async def test_moderated_after_acceptance_is_a_content_policy_failure(env: Env) -> None:
    env.emulator.inject(Fault.TASK_FAILED)
    task = await env.provider.submit(env.submit())
    while task.status not in (TaskStatus.SUCCEEDED, TaskStatus.FAILED):
        task = await env.provider.get_task(task.task_id)
    assert task.status is TaskStatus.FAILED
    assert task.error_kind is ErrorKind.CONTENT_POLICY
    assert task.error_code == "CM_EXT.POther"


@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        (task_body(status_name="submitted"), TaskStatus.SUBMITTED, None),
        (task_body(status_name="processing"), TaskStatus.PROCESSING, None),
        (task_body(status_name="queueing"), TaskStatus.PROCESSING, None),  # unknown, not final: keep waiting
        (task_body(status_name=None, status=5), TaskStatus.SUBMITTED, None),
        (
            task_body(status_name="succeed", final=True, works=[{"resource": {"resource": "https://cdn/x.mp4"}}]),
            TaskStatus.SUCCEEDED,
            None,
        ),
        (task_body(status_name="succeed", final=True, works=[]), TaskStatus.FAILED, ErrorKind.UNKNOWN),
        (task_body(status_name="failed", final=True, message="success"), TaskStatus.FAILED, ErrorKind.UNKNOWN),
        (task_body(status_name="failed", final=True, error="Generation failed"), TaskStatus.FAILED, ErrorKind.UNKNOWN),
        (task_body(status_name="failed", final=True, error=MODERATED["error"]), TaskStatus.FAILED, ErrorKind.CONTENT_POLICY),
        (task_body(status_name="processing", final=True), TaskStatus.FAILED, ErrorKind.UNKNOWN),
    ],
)
def test_callback_states(env: Env, body: bytes, status: TaskStatus, kind: ErrorKind | None) -> None:
    task = env.provider.parse_callback({"content-type": "application/json"}, body)
    assert task.task_id == "300000123"
    assert task.status is status
    assert task.error_kind is kind
    if status is TaskStatus.FAILED:
        assert task.error_message
    if status is TaskStatus.SUCCEEDED:
        assert task.result_url == "https://cdn/x.mp4"


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"works": []}', b'{"task": {"id": "abc"}}', b"\xff\xfe"])
def test_malformed_callbacks_are_bad_input(env: Env, body: bytes) -> None:
    with pytest.raises(ProviderError) as err:
        env.provider.parse_callback({}, body)
    assert err.value.kind is ErrorKind.BAD_INPUT


# --- secrets -------------------------------------------------------------------------------------------


async def test_the_token_never_reaches_logs_or_errors(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[ProviderError] = []
    env.emulator.scripted_creates.append((400, {"error": f"token {TOKEN} is not allowed here"}))  # a provider echoing it
    for fault in (None, Fault.UNAUTHORIZED, Fault.SERVER_ERROR, Fault.CONTENT_POLICY):
        if fault:
            env.emulator.inject(fault)
        try:
            await env.provider.submit(env.submit())
        except ProviderError as error:
            errors.append(error)
    env.emulator.inject(Fault.RATE_LIMIT)  # logged by the retry loop
    task = await env.provider.submit(env.submit("job-ok"))
    env.emulator.inject(Fault.SERVER_ERROR)
    await env.provider.get_task(task.task_id)
    env.emulator.inject(Fault.MALFORMED_JSON, times=5)
    try:
        await env.provider.get_task(task.task_id)
    except ProviderError as error:
        errors.append(error)

    assert len(errors) == 5
    assert "***" in errors[0].message
    # the token was really sent, so a leak would have been visible
    assert all(r.headers.get("Authorization") == f"Bearer {TOKEN}" for r in env.emulator.requests)
    assert caplog.records  # the retries and creates were logged
    assert TOKEN not in caplog.text
    for error in errors:
        assert TOKEN not in f"{error} {error.message} {error.user_message} {error.code}"
