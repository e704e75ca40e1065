"""Kling-specific behaviour of the adapter (bot/providers/kling.py) and its emulator.

The shared scenarios (happy paths, faults, callbacks) are in the contract suite;
here: the JWT, inputs without URLs, the one-task guarantee through
external_task_id, crash recovery, the error-code table and secrecy.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web

from bot.errors import InputRejected, ProviderError
from bot.http import HttpClient, Response
from bot.models import ErrorKind, MediaFile, MotionOptions, MotionRequest
from bot.options import options_refusal
from bot.providers.base import SubmitRequest, TaskStatus
from bot.providers.kling import KlingProvider
from bot.providers.kling_errors import ERROR_CODES, classify
from tests.contract.case_kling import ACCESS_KEY, SECRET_KEY
from tests.emulators.common import Fault
from tests.emulators.kling import KlingEmulator
from tests.media_factory import make_image, make_video

MOTION = "/v1/videos/motion-control"


def _token(claims: dict[str, Any], key: str = SECRET_KEY) -> str:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The HMAC key is")
        return jwt.encode(claims, key, algorithm="HS256")


def _claims(token: str) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The HMAC key is")
        return jwt.decode(token, SECRET_KEY, algorithms=["HS256"], options={"verify_exp": False, "verify_nbf": False})


def _offline() -> KlingProvider:
    """An adapter for pure parsing: it never sends a request."""
    return KlingProvider(None, access_key="a", secret_key="s", base_url="http://x")  # type: ignore[arg-type]


def _bearer_of(recorded: Any) -> str:
    return recorded.headers["Authorization"].removeprefix("Bearer ")


class World:
    def __init__(self, emulator: KlingEmulator, provider: KlingProvider, http: HttpClient, root: Path) -> None:
        self.emulator = emulator
        self.provider = provider
        self.http = http
        self.root = root
        self.image = make_image(root / "character.png", 512, 768)
        self.video = make_video(root / "dance.mp4", 360, 640, seconds=4.0)

    def new_provider(self, **kwargs: Any) -> KlingProvider:
        """Another adapter instance on the same account: a restarted bot."""
        return KlingProvider(
            self.http, access_key=ACCESS_KEY, secret_key=SECRET_KEY, base_url=self.emulator.base_url, **kwargs
        )

    def submit(
        self,
        job_id: str = "job-1",
        *,
        image_url: str | None = "https://cdn.example/character.png",
        video_url: str | None = "https://cdn.example/dance.mp4",
        image: Path | None = None,
        callback_url: str | None = None,
        **options: Any,
    ) -> SubmitRequest:
        image = image or self.image
        return SubmitRequest(
            job_id=job_id,
            callback_url=callback_url,
            request=MotionRequest(
                image=MediaFile(
                    path=image, filename=image.name, content_type="image/png", size=image.stat().st_size, url=image_url
                ),
                video=MediaFile(
                    path=self.video, filename="dance.mp4", content_type="video/mp4",
                    size=self.video.stat().st_size, url=video_url,
                ),
                options=MotionOptions(**options),
                video_seconds=4.0,
            ),
        )

    def creates(self) -> list[Any]:
        return self.emulator.requests_to("POST", MOTION)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    emulator = KlingEmulator(tmp_path / "emulator", access_key=ACCESS_KEY, secret_key=SECRET_KEY, slow_seconds=1.5)
    await emulator.start()
    async with aiohttp.ClientSession() as session:
        async def no_sleep(_: float) -> None:
            await asyncio.sleep(0)

        http = HttpClient(session, timeout_seconds=1.0, max_retries=2, sleep=no_sleep)
        provider = KlingProvider(http, access_key=ACCESS_KEY, secret_key=SECRET_KEY, base_url=emulator.base_url)
        yield World(emulator, provider, http, tmp_path / "inputs")
    await emulator.stop()


# --- JWT -----------------------------------------------------------------------------------


async def test_token_claims_and_header(world: World) -> None:
    before = int(time.time())
    await world.provider.list_tasks()
    token = _bearer_of(world.emulator.requests[-1])
    assert world.emulator.requests[-1].headers["Authorization"] == f"Bearer {token}"
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims = _claims(token)
    assert claims["iss"] == ACCESS_KEY
    assert before + 1800 <= claims["exp"] <= int(time.time()) + 1800
    assert claims["nbf"] == claims["exp"] - 1805


async def test_token_is_cached_then_reminted_before_it_expires(world: World) -> None:
    now = time.time()
    world.provider.clock = lambda: now - 1600  # minted 1600 s ago: 200 s left, still valid at Kling
    await world.provider.list_tasks()
    world.provider.clock = lambda: now - 1400
    await world.provider.list_tasks()
    world.provider.clock = lambda: now  # inside the 5-minute margin: mint anew
    await world.provider.list_tasks()
    first, second, third = (_bearer_of(r) for r in world.emulator.requests_to("GET", MOTION))
    assert first == second
    assert third != first
    assert _claims(third)["exp"] == int(now) + 1800


async def test_expired_token_is_reminted_once_and_the_create_goes_through(world: World) -> None:
    now = time.time()
    readings = iter([now - 2000])  # our clock lagged when the cached token was minted
    world.provider.clock = lambda: next(readings, time.time())
    task = await world.provider.submit(world.submit())
    creates = world.creates()
    assert len(creates) == 2
    assert _bearer_of(creates[0]) != _bearer_of(creates[1])
    assert len(world.emulator.tasks) == 1
    assert task.task_id in world.emulator.tasks


async def test_token_still_expired_after_remint_is_an_auth_error(world: World) -> None:
    world.provider.clock = lambda: time.time() - 4000  # our clock is an hour behind
    with pytest.raises(ProviderError) as err:
        await world.provider.submit(world.submit())
    assert err.value.kind is ErrorKind.AUTH
    assert err.value.code == "1004"
    assert not err.value.retryable
    assert len(world.creates()) == 2  # the first try and the one re-mint, no more
    assert world.emulator.tasks == {}


def _auth_headers(label: str) -> dict[str, str]:
    """Built when the test runs, not when it is collected: the times are relative to now."""
    now = int(time.time())
    good = {"iss": ACCESS_KEY, "exp": now + 1800, "nbf": now - 5}
    return {
        "valid": {"Authorization": f"Bearer {_token(good)}"},
        "no header": {},
        "not bearer": {"Authorization": f"Basic {_token(good)}"},
        "two spaces": {"Authorization": f"Bearer  {_token(good)}"},
        "not a jwt": {"Authorization": "Bearer not-a-jwt"},
        "wrong secret": {"Authorization": f"Bearer {_token(good, 'another-secret-key-of-32-bytes!!')}"},
        "wrong issuer": {"Authorization": f"Bearer {_token({**good, 'iss': 'someone-else'})}"},
        "expired": {"Authorization": f"Bearer {_token({**good, 'exp': now - 1})}"},
        "not yet valid": {"Authorization": f"Bearer {_token({**good, 'nbf': now + 60})}"},
        "no exp": {"Authorization": f"Bearer {_token({'iss': ACCESS_KEY, 'nbf': now - 5})}"},
    }[label]


AUTH_CASES = [
    ("valid", 200, 0),
    ("no header", 401, 1001),
    ("not bearer", 401, 1002),
    ("two spaces", 401, 1002),
    ("not a jwt", 401, 1002),
    ("wrong secret", 401, 1000),
    ("wrong issuer", 401, 1000),
    ("expired", 401, 1004),
    ("not yet valid", 401, 1003),
    ("no exp", 401, 1002),
]


@pytest.mark.parametrize(("label", "status", "code"), AUTH_CASES, ids=[c[0] for c in AUTH_CASES])
async def test_emulator_checks_auth_like_kling(world: World, label: str, status: int, code: int) -> None:
    async with world.http.session.get(world.emulator.base_url + MOTION, headers=_auth_headers(label)) as resp:
        body = await resp.json()
    assert (resp.status, body["code"]) == (status, code), body
    assert "request_id" in body


# --- request building ------------------------------------------------------------------------


@pytest.mark.parametrize(("keep_sound", "wire"), [(True, "yes"), (False, "no")])
async def test_create_body_is_kling_shaped(world: World, keep_sound: bool, wire: str) -> None:
    provider = world.new_provider(model="kling-v3")
    await provider.submit(
        world.submit("a1b2c3d4e5f6", orientation="image", mode="pro", prompt="on a beach", keep_sound=keep_sound,
                     callback_url="https://bot.example/callbacks/kling/a1b2c3d4e5f6?sig=x")
    )
    assert world.creates()[-1].json() == {
        "model_name": "kling-v3",
        "image_url": "https://cdn.example/character.png",
        "video_url": "https://cdn.example/dance.mp4",
        "character_orientation": "image",
        "mode": "pro",
        "prompt": "on a beach",
        "keep_original_sound": wire,
        "callback_url": "https://bot.example/callbacks/kling/a1b2c3d4e5f6?sig=x",
        "external_task_id": "job-a1b2c3d4e5f6",  # never all digits, unlike Kling's task ids
    }


async def test_no_prompt_and_no_callback_are_left_out(world: World) -> None:
    await world.provider.submit(world.submit())
    body = world.creates()[-1].json()
    assert "prompt" not in body and "callback_url" not in body
    assert body["model_name"] == "kling-v2-6"


async def test_image_without_url_is_sent_as_raw_base64(world: World) -> None:
    task = await world.provider.submit(world.submit(image_url=None))
    sent = world.creates()[-1].json()["image_url"]
    assert sent == base64.b64encode(world.image.read_bytes()).decode()
    assert not sent.startswith("data:")
    assert task.task_id in world.emulator.tasks  # the emulator accepted it as a PNG


async def test_image_of_exactly_10_mb_without_url_is_sent(world: World) -> None:
    edge = make_image(world.root / "edge.png", 512, 768, pad_to=10_000_000)
    await world.provider.submit(world.submit(image_url=None, image=edge))
    assert len(world.creates()) == 1


async def test_video_without_url_is_refused_before_any_request(world: World) -> None:
    with pytest.raises(ProviderError) as err:
        await world.provider.submit(world.submit(video_url=None))
    assert err.value.kind is ErrorKind.BAD_INPUT
    assert not err.value.retryable
    assert "PUBLIC_URL" in err.value.message
    assert world.emulator.requests == []


async def test_a_template_job_is_refused_not_sent_without_its_motion(world: World) -> None:
    # Intake refuses templates for Kling (capabilities, bot/options.py); a job that reaches the
    # adapter another way is refused by the adapter rather than sent with its choice dropped.
    assert options_refusal(
        MotionOptions(motion_template="dance-01"), KlingProvider.capabilities, "kling", has_video=False
    ) is not None
    submit = world.submit(motion_template="dance-01")
    submit.request.video = None
    with pytest.raises(InputRejected) as err:
        await world.provider.submit(submit)
    assert "dance-01" in err.value.message and not err.value.retryable
    assert world.emulator.requests == []


# --- one task per job ---------------------------------------------------------------------------


async def test_resubmitting_a_job_returns_the_existing_task(world: World) -> None:
    first = await world.provider.submit(world.submit("job-dup"))
    again = await world.new_provider().submit(world.submit("job-dup"))
    assert again.task_id == first.task_id
    assert len(world.emulator.tasks) == 1
    assert len(world.creates()) == 2


async def test_emulator_refuses_a_duplicate_external_task_id(world: World) -> None:
    await world.provider.submit(world.submit("job-dup"))
    token = _token({"iss": ACCESS_KEY, "exp": int(time.time()) + 60, "nbf": int(time.time()) - 5})
    async with world.http.session.post(
        world.emulator.base_url + MOTION, headers={"Authorization": f"Bearer {token}"},
        json=world.creates()[0].json(),
    ) as resp:
        body = await resp.json()
    assert (resp.status, body["code"]) == (400, 1201)
    assert "external_task_id" in body["message"]


@pytest.mark.parametrize("fault", [Fault.SERVER_ERROR, Fault.MALFORMED_JSON, Fault.SLOW])
async def test_lost_create_answer_is_reconciled_to_one_task(world: World, fault: Fault) -> None:
    # The emulator creates the task, then the answer is lost; the retry is refused as a duplicate.
    world.emulator.inject(fault)
    task = await world.provider.submit(world.submit("job-lost"))
    assert len(world.emulator.tasks) == 1
    assert task.task_id in world.emulator.tasks
    assert len(world.creates()) == 2


async def test_genuine_1201_at_create_is_raised_with_kling_text_for_the_user(world: World) -> None:
    with pytest.raises(ProviderError) as err:
        await world.provider.submit(world.submit("job-long", prompt="x" * 2501))
    assert err.value.kind is ErrorKind.BAD_INPUT and err.value.code == "1201"
    assert "prompt must be at most 2500" in str(err.value.user_message)
    assert len(world.emulator.requests_to("GET", f"{MOTION}/job-job-long")) == 1  # looked, found nothing
    assert world.emulator.tasks == {}


async def test_find_task_after_a_crash_between_submit_and_save(world: World) -> None:
    submitted = await world.provider.submit(world.submit("job-crash"))
    restarted = world.new_provider()  # the answer above was never saved
    found = await restarted.find_task("job-crash")
    assert found is not None and found.task_id == submitted.task_id
    assert await restarted.find_task("job-never-sent") is None


async def test_all_digit_job_ids_are_not_confused_with_task_ids(world: World) -> None:
    # Job ids are 12 hex chars, sometimes all digits; Kling's path slot takes task ids too.
    other = await world.provider.submit(world.submit("0a0b0c0d0e0f"))
    assert await world.provider.find_task(other.task_id) is None  # a job id equal to a task id
    mine = await world.provider.submit(world.submit("123456789012"))
    found = await world.provider.find_task("123456789012")
    assert found is not None and found.task_id == mine.task_id != other.task_id


async def test_find_task_ignores_a_task_that_does_not_echo_our_id(world: World) -> None:
    other = await world.provider.submit(world.submit("0a0b0c0d0e0f"))
    # Should Kling ever resolve our id to someone else's task, the echo check catches it.
    world.emulator._by_external["job-ffffffffffff"] = world.emulator.tasks[other.task_id]
    assert await world.provider.find_task("ffffffffffff") is None


# --- reading tasks --------------------------------------------------------------------------------


async def test_task_lifecycle_cost_and_result(world: World) -> None:
    task = await world.provider.submit(world.submit())
    assert task.status is TaskStatus.SUBMITTED and task.raw_status == "submitted"
    seen = [await world.provider.get_task(task.task_id) for _ in range(3)]
    assert [t.status for t in seen] == [TaskStatus.PROCESSING, TaskStatus.PROCESSING, TaskStatus.SUCCEEDED]
    final = seen[-1]
    assert final.raw_status == "succeed"
    assert final.result_url and final.result_url.startswith(world.emulator.base_url)
    assert final.cost == "5"


async def test_callbacks_post_the_bare_task_object(world: World) -> None:
    received: list[dict[str, Any]] = []

    async def sink(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/cb", sink)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        task = await world.provider.submit(world.submit(callback_url=f"http://127.0.0.1:{port}/cb"))
        for _ in range(3):
            await world.provider.get_task(task.task_id)
        for _ in range(50):
            if len(received) >= 2:
                break
            await asyncio.sleep(0.05)
    finally:
        await runner.cleanup()
    assert [b["task_status"] for b in received] == ["processing", "succeed"]
    assert all("code" not in b and "data" not in b for b in received)
    final = world.provider.parse_callback({}, json.dumps(received[-1]).encode())
    assert final.task_id == task.task_id and final.status is TaskStatus.SUCCEEDED and final.result_url


async def test_list_tasks_pages_newest_first(world: World) -> None:
    ids = [(await world.provider.submit(world.submit(f"job-{n}"))).task_id for n in range(3)]
    page1 = await world.provider.list_tasks(page=1, page_size=2)
    page2 = await world.provider.list_tasks(page=2, page_size=2)
    assert [t.task_id for t in page1 + page2] == list(reversed(ids))
    assert world.emulator.requests_to("GET", MOTION)[-1].query == {"pageNum": "2", "pageSize": "2"}
    with pytest.raises(ValueError):
        await world.provider.list_tasks(page_size=501)


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"keep_original_sound": True}, 400, 1201),
        ({"video_url": base64.b64encode(b"\x00\x00\x00\x18ftypmp42").decode()}, 400, 1201),
        ({"image_url": "data:image/png;base64,iVBORw0KGgo="}, 400, 1201),
        ({"image_url": base64.b64encode(b"GIF89a....").decode()}, 400, 1201),
        ({"character_orientation": "sideways"}, 400, 1201),
        ({"mode": "turbo"}, 400, 1201),
        ({"mode": None}, 400, 1200),
        ({"model_name": "kling-v9"}, 404, 1203),
        ({"prompt": 5}, 400, 1201),
        ({}, 200, 0),
    ],
)
async def test_emulator_validates_create_bodies(world: World, change: dict[str, Any], status: int, code: int) -> None:
    body = {
        "model_name": "kling-v2-6", "image_url": "https://cdn.example/a.png", "video_url": "https://cdn.example/b.mp4",
        "character_orientation": "video", "mode": "std", "keep_original_sound": "no",
    }
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    token = _token({"iss": ACCESS_KEY, "exp": int(time.time()) + 60, "nbf": int(time.time()) - 5})
    async with world.http.session.post(
        world.emulator.base_url + MOTION, headers={"Authorization": f"Bearer {token}"}, json=body
    ) as resp:
        answer = await resp.json()
    assert (resp.status, answer["code"]) == (status, code), answer


# --- errors ------------------------------------------------------------------------------------------

# Every documented code (§1.7) with the HTTP status Kling sends it with.
CODE_TABLE = [
    (401, 1000, ErrorKind.AUTH, False),
    (401, 1001, ErrorKind.AUTH, False),
    (401, 1002, ErrorKind.AUTH, False),
    (401, 1003, ErrorKind.AUTH, False),
    (401, 1004, ErrorKind.AUTH, False),
    (429, 1100, ErrorKind.BALANCE, False),
    (429, 1101, ErrorKind.BALANCE, False),
    (429, 1102, ErrorKind.BALANCE, False),
    (403, 1103, ErrorKind.AUTH, False),
    (400, 1200, ErrorKind.BAD_INPUT, False),
    (400, 1201, ErrorKind.BAD_INPUT, False),
    (404, 1202, ErrorKind.BAD_INPUT, False),
    (404, 1203, ErrorKind.BAD_INPUT, False),
    (400, 1300, ErrorKind.CONTENT_POLICY, False),
    (400, 1301, ErrorKind.CONTENT_POLICY, False),
    (429, 1302, ErrorKind.RATE_LIMIT, True),
    (429, 1303, ErrorKind.RATE_LIMIT, True),
    (429, 1304, ErrorKind.AUTH, False),
    (500, 5000, ErrorKind.OUTAGE, True),
    (503, 5001, ErrorKind.OUTAGE, True),
    (504, 5002, ErrorKind.OUTAGE, True),
]


def _response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return Response(status, headers or {}, body)


def test_code_table_covers_every_documented_code() -> None:
    assert sorted(ERROR_CODES) == sorted(code for _, code, _, _ in CODE_TABLE)


@pytest.mark.parametrize(("status", "code", "kind", "retryable"), CODE_TABLE, ids=[str(c[1]) for c in CODE_TABLE])
def test_each_documented_code_is_classified(status: int, code: int, kind: ErrorKind, retryable: bool) -> None:
    error = classify(_response(status, {"code": code, "message": "words from Kling", "request_id": "rq-9"}))
    assert error is not None
    assert (error.kind, error.retryable, error.code, error.http_status) == (kind, retryable, str(code), status)
    assert "words from Kling" in error.message and "rq-9" in error.message


def test_success_is_code_zero() -> None:
    assert classify(_response(200, {"code": 0, "message": "SUCCEED", "request_id": "r", "data": {}})) is None


def test_retry_after_is_read_and_concurrency_waits_at_least_a_second() -> None:
    rate = classify(_response(429, {"code": 1302, "message": "too fast"}, {"retry-after": "7"}))
    busy = classify(_response(429, {"code": 1303, "message": "parallel task over resource pack limit"}))
    assert rate is not None and rate.retry_after == 7.0
    assert busy is not None and busy.retry_after == 1.0


@pytest.mark.parametrize(
    ("status", "payload", "kind", "retryable"),
    [
        (200, b"<html>upstream error</html>", ErrorKind.OUTAGE, True),
        (200, {"unexpected": True}, ErrorKind.OUTAGE, True),
        (502, b"<html>bad gateway</html>", ErrorKind.OUTAGE, True),
        (500, {"code": 5999, "message": "new code"}, ErrorKind.OUTAGE, True),
        (429, {"code": 1399, "message": "new code"}, ErrorKind.RATE_LIMIT, True),
        (400, {"code": 1299, "message": "new code"}, ErrorKind.BAD_INPUT, False),
        (418, b"teapot", ErrorKind.UNKNOWN, False),
    ],
)
def test_undocumented_answers_fall_back_to_the_http_status(
    status: int, payload: Any, kind: ErrorKind, retryable: bool
) -> None:
    error = classify(_response(status, payload))
    assert error is not None and (error.kind, error.retryable) == (kind, retryable)


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("Failure to pass the risk control system", ErrorKind.CONTENT_POLICY),
        ("Content security policy triggered", ErrorKind.CONTENT_POLICY),
        ("图片内容违规", ErrorKind.CONTENT_POLICY),
        ("internal error, please try again", ErrorKind.UNKNOWN),
        ("", ErrorKind.UNKNOWN),
    ],
)
def test_failed_task_message_is_classified(message: str, kind: ErrorKind) -> None:
    provider = _offline()
    body = {"task_id": "42", "task_status": "failed", "task_status_msg": message, "final_unit_deduction": "0"}
    task = provider.parse_callback({}, json.dumps(body).encode())
    assert task.status is TaskStatus.FAILED
    assert task.error_kind is kind
    assert task.error_message  # admins always get something to read
    assert task.cost == "0"


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        json.dumps({"code": 0, "message": "ok", "data": {"task_id": "1", "task_status": "succeed"}}).encode(),
        json.dumps({"task_id": "1"}).encode(),
    ],
    ids=["not json", "array", "enveloped", "no status"],
)
def test_malformed_callbacks_are_bad_input(body: bytes) -> None:
    provider = _offline()
    with pytest.raises(ProviderError) as err:
        provider.parse_callback({}, body)
    assert err.value.kind is ErrorKind.BAD_INPUT


def test_callback_edge_shapes() -> None:
    provider = _offline()
    numeric = provider.parse_callback({}, json.dumps({"task_id": 860001, "task_status": "processing"}).encode())
    assert numeric.task_id == "860001" and numeric.status is TaskStatus.PROCESSING
    novel = provider.parse_callback({}, json.dumps({"task_id": "1", "task_status": "queueing"}).encode())
    assert novel.status is TaskStatus.PROCESSING and novel.raw_status == "queueing"
    empty = provider.parse_callback({}, json.dumps({"task_id": "1", "task_status": "succeed"}).encode())
    assert empty.status is TaskStatus.FAILED and empty.error_kind is ErrorKind.UNKNOWN


# --- secrecy -------------------------------------------------------------------------------------------


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    yield caplog


async def test_secrets_never_in_logs_or_errors(world: World, debug_logs: pytest.LogCaptureFixture) -> None:
    errors: list[ProviderError] = []
    world.emulator.inject(Fault.RATE_LIMIT)
    task = await world.provider.submit(world.submit("job-s1"))
    world.emulator.inject(Fault.SERVER_ERROR)
    await world.provider.get_task(task.task_id)
    for fault in (Fault.UNAUTHORIZED, Fault.BALANCE):
        world.emulator.inject(fault)
        with pytest.raises(ProviderError) as err:
            await world.provider.submit(world.submit(f"job-{fault}"))
        errors.append(err.value)
    skewed = world.new_provider()
    skewed.clock = lambda: time.time() - 4000
    with pytest.raises(ProviderError) as err:
        await skewed.submit(world.submit("job-expired"))
    errors.append(err.value)

    tokens = {_bearer_of(r) for r in world.emulator.requests}
    assert len(tokens) >= 2
    secrets = {ACCESS_KEY, SECRET_KEY, *tokens}
    said = debug_logs.text + repr(world.provider) + "".join(
        f"{e} {e.message} {e.user_message} {e.args!r}" for e in errors
    )
    assert "retry" in debug_logs.text  # the retries were logged, so the check looked at real lines
    for secret in secrets:
        assert secret not in said
