"""Every provider adapter against its local emulator, through every documented failure.

Cases live in tests/contract/case_*.py; scenarios are written once, here.
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

import tests.contract as contract_pkg
from bot.errors import ProviderError, RateLimited
from bot.http import HttpClient
from bot.models import ErrorKind, MediaFile, MotionOptions, MotionRequest
from bot.providers.base import Provider, ProviderTask, SubmitRequest, TaskStatus
from tests.contract import ProviderCase
from tests.deployment import deployment_downloader
from tests.emulators.common import Emulator, Fault
from tests.media_factory import make_image, make_video


def _cases() -> list[ProviderCase]:
    cases = []
    for info in pkgutil.iter_modules(contract_pkg.__path__):
        if info.name.startswith("case_"):
            cases.append(importlib.import_module(f"tests.contract.{info.name}").CASE)
    return cases


CASES = _cases()


@pytest.fixture(params=CASES, ids=[c.name for c in CASES])
def case(request: pytest.FixtureRequest) -> ProviderCase:
    return request.param


class Inputs:
    """Input files on disk, served over HTTP like Discord's CDN would."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.base_url = ""
        self.image = make_image(root / "character.png", 512, 768)
        self.video = make_video(root / "dance.mp4", 360, 640, seconds=4.0)

    def request(self, **options: object) -> MotionRequest:
        return MotionRequest(
            image=MediaFile(
                path=self.image, filename="character.png", content_type="image/png",
                size=self.image.stat().st_size, url=f"{self.base_url}/character.png",
            ),
            video=MediaFile(
                path=self.video, filename="dance.mp4", content_type="video/mp4",
                size=self.video.stat().st_size, url=f"{self.base_url}/dance.mp4",
            ),
            options=MotionOptions(**options),  # type: ignore[arg-type]
            video_seconds=4.0,
        )


class CallbackSink:
    """The bot's side of callbacks: records what arrives."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.url = ""
        self.arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        self.arrived.set()
        return web.Response(text="ok")


@pytest.fixture
async def local_server(tmp_path: Path) -> AsyncIterator[tuple[Inputs, CallbackSink]]:
    inputs = Inputs(tmp_path / "inputs")
    sink = CallbackSink()
    app = web.Application()
    app.router.add_post("/callbacks/{provider}/{job_id}", sink.handle)
    app.router.add_static("/", inputs.root)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    inputs.base_url = f"http://127.0.0.1:{port}"
    sink.url = f"http://127.0.0.1:{port}/callbacks"
    yield inputs, sink
    await runner.cleanup()


@pytest.fixture
async def world(case: ProviderCase, tmp_path: Path, local_server: tuple[Inputs, CallbackSink]) -> AsyncIterator[
    tuple[Emulator, Provider, Inputs, CallbackSink]
]:
    inputs, sink = local_server
    emulator = case.make_emulator(tmp_path / "emulator")
    base_url = await emulator.start()
    async with aiohttp.ClientSession() as session:
        async def no_sleep(_: float) -> None:
            await asyncio.sleep(0)

        http = HttpClient(session, timeout_seconds=1.0, max_retries=2, sleep=no_sleep)
        provider = case.make_provider(http, base_url)
        await provider.start()
        yield emulator, provider, inputs, sink
        await provider.close()
    await emulator.stop()


def submit_request(inputs: Inputs, job_id: str = "job0001", callback: str | None = None, **options: object) -> SubmitRequest:
    return SubmitRequest(job_id=job_id, request=inputs.request(**options), callback_url=callback)


async def poll_to_end(provider: Provider, task: ProviderTask, limit: int = 20) -> ProviderTask:
    for _ in range(limit):
        if task.status in (TaskStatus.SUCCEEDED, TaskStatus.FAILED):
            return task
        task = await provider.get_task(task.task_id)
    raise AssertionError(f"task {task.task_id} never finished: {task}")


async def test_happy_path_by_polling(world, tmp_path: Path) -> None:
    emulator, provider, inputs, _ = world
    task = await provider.submit(submit_request(inputs, orientation="video", mode="pro", prompt="dance"))
    assert task.task_id
    assert task.status in (TaskStatus.SUBMITTED, TaskStatus.PROCESSING)
    final = await poll_to_end(provider, task)
    assert final.status is TaskStatus.SUCCEEDED, final
    assert final.result_url
    async with deployment_downloader(**{f"{provider.name}_base_url": emulator.base_url}) as downloader:
        size = await provider.download(final.result_url, tmp_path / "out.mp4", downloader)
    assert size == (tmp_path / "out.mp4").stat().st_size > 1000


async def test_happy_path_by_callback(world) -> None:
    emulator, provider, inputs, sink = world
    job_id = "jobcb01"
    task = await provider.submit(submit_request(inputs, job_id, callback=f"{sink.url}/{provider.name}/{job_id}"))
    # providers push on their own schedule; polling drives the emulator forward
    final = await poll_to_end(provider, task)
    assert final.status is TaskStatus.SUCCEEDED
    await asyncio.wait_for(sink.arrived.wait(), 5)
    await asyncio.sleep(0.2)
    parsed = [provider.parse_callback(headers, body) for headers, body in sink.received]
    assert parsed[-1].task_id == task.task_id
    assert any(p.status is TaskStatus.SUCCEEDED and p.result_url for p in parsed)


async def test_callback_sent_twice_parses_to_the_same_final_state(world) -> None:
    emulator, provider, inputs, sink = world
    emulator.inject(Fault.CALLBACK_TWICE)
    job_id = "jobtw01"
    task = await provider.submit(submit_request(inputs, job_id, callback=f"{sink.url}/{provider.name}/{job_id}"))
    await poll_to_end(provider, task)
    for _ in range(50):
        finals = [p for p in (provider.parse_callback(h, b) for h, b in sink.received) if p.status is TaskStatus.SUCCEEDED]
        if len(finals) >= 2:
            break
        await asyncio.sleep(0.05)
    assert len(finals) >= 2
    assert {f.task_id for f in finals} == {task.task_id}


async def test_callback_out_of_order_still_parses(world) -> None:
    emulator, provider, inputs, sink = world
    emulator.inject(Fault.CALLBACK_OUT_OF_ORDER)
    job_id = "jobooo1"
    task = await provider.submit(submit_request(inputs, job_id, callback=f"{sink.url}/{provider.name}/{job_id}"))
    await poll_to_end(provider, task)
    for _ in range(50):
        parsed = [provider.parse_callback(h, b) for h, b in sink.received]
        if parsed and parsed[-1].status is not TaskStatus.SUCCEEDED and any(
            p.status is TaskStatus.SUCCEEDED for p in parsed
        ):
            break
        await asyncio.sleep(0.05)
    # the stale "processing" arrives after the final one; the job layer ignores it (forward-only)
    assert parsed[-1].status in (TaskStatus.PROCESSING, TaskStatus.SUBMITTED)
    assert any(p.status is TaskStatus.SUCCEEDED for p in parsed)


async def test_malformed_callback_body_is_rejected(world) -> None:
    _, provider, _, _ = world
    with pytest.raises(ProviderError) as err:
        provider.parse_callback({"content-type": "application/json"}, b"{not json")
    assert err.value.kind is ErrorKind.BAD_INPUT


@pytest.mark.parametrize(
    ("fault", "kind"),
    [(Fault.UNAUTHORIZED, ErrorKind.AUTH), (Fault.BALANCE, ErrorKind.BALANCE)],
)
async def test_rejections_are_not_retried(world, fault: Fault, kind: ErrorKind) -> None:
    emulator, provider, inputs, _ = world
    emulator.inject(fault)
    creates_before = len(emulator.requests)
    with pytest.raises(ProviderError) as err:
        await provider.submit(submit_request(inputs))
    assert err.value.kind is kind
    assert not err.value.retryable
    sent = [r for r in emulator.requests[creates_before:] if r.method == "POST"]
    create_calls = [r for r in sent if "asset" not in r.path]
    assert len(create_calls) == 1, [r.path for r in sent]


async def test_rate_limit_is_retried_after_retry_after(world) -> None:
    emulator, provider, inputs, _ = world
    emulator.inject(Fault.RATE_LIMIT)
    task = await provider.submit(submit_request(inputs))
    final = await poll_to_end(provider, task)
    assert final.status is TaskStatus.SUCCEEDED


@pytest.mark.parametrize("form", ["seconds", "HTTP-date"])
async def test_a_wait_longer_than_the_cap_is_raised_not_slept(case: ProviderCase, tmp_path: Path, form: str) -> None:
    """The provider asks for 5 minutes: the submit fails at once with the wait in `retry_after`
    (the engine parks the job until then) and nothing sleeps or sends the create again."""
    emulator = case.make_emulator(tmp_path / "emulator")
    await emulator.start()
    wait = 300
    emulator.retry_after = (
        str(wait) if form == "seconds" else format_datetime(datetime.now(UTC) + timedelta(seconds=wait), usegmt=True)
    )
    inputs = Inputs(tmp_path / "inputs")
    inputs.base_url = "https://cdn.example"  # never fetched: the create is refused first
    slept: list[float] = []

    async def record_sleep(seconds: float) -> None:
        slept.append(seconds)

    try:
        async with aiohttp.ClientSession() as session:
            http = HttpClient(session, timeout_seconds=5.0, max_retries=3, retry_after_max_sleep=30.0, sleep=record_sleep)
            provider = case.make_provider(http, emulator.base_url)
            emulator.inject(Fault.RATE_LIMIT)
            with pytest.raises(RateLimited) as err:
                await provider.submit(submit_request(inputs))
    finally:
        await emulator.stop()
    assert err.value.retryable and not err.value.maybe_accepted
    assert err.value.retry_after is not None and wait - 5 <= err.value.retry_after <= wait
    assert slept == []
    creates = [r for r in emulator.requests if r.method == "POST" and "asset" not in r.path]
    assert len(creates) == 1


async def test_server_error_on_submit(world, case: ProviderCase) -> None:
    emulator, provider, inputs, _ = world
    emulator.inject(Fault.SERVER_ERROR)
    if case.submit_idempotent:
        task = await provider.submit(submit_request(inputs))  # retried safely: the provider dedupes
        assert (await poll_to_end(provider, task)).status is TaskStatus.SUCCEEDED
    else:
        with pytest.raises(ProviderError) as err:
            await provider.submit(submit_request(inputs))
        assert err.value.kind is ErrorKind.OUTAGE
        # the task may exist: the engine must reconcile or refund, never send it again
        assert err.value.maybe_accepted


async def test_server_error_on_read_is_retried(world) -> None:
    emulator, provider, inputs, _ = world
    task = await provider.submit(submit_request(inputs))
    emulator.inject(Fault.SERVER_ERROR)
    final = await poll_to_end(provider, await provider.get_task(task.task_id))
    assert final.status is TaskStatus.SUCCEEDED


async def test_content_policy(world, case: ProviderCase) -> None:
    emulator, provider, inputs, _ = world
    emulator.inject(Fault.CONTENT_POLICY)
    if case.content_policy_at == "create":
        with pytest.raises(ProviderError) as err:
            await provider.submit(submit_request(inputs))
        assert err.value.kind is ErrorKind.CONTENT_POLICY
        assert not err.value.retryable
    else:
        task = await provider.submit(submit_request(inputs))
        final = await poll_to_end(provider, task)
        assert final.status is TaskStatus.FAILED
        assert final.error_kind is ErrorKind.CONTENT_POLICY


async def test_task_fails_after_acceptance(world) -> None:
    emulator, provider, inputs, _ = world
    emulator.inject(Fault.TASK_FAILED)
    task = await provider.submit(submit_request(inputs))
    final = await poll_to_end(provider, task)
    assert final.status is TaskStatus.FAILED
    assert final.error_kind is not None
    assert final.error_message


@pytest.mark.parametrize("fault", [Fault.MALFORMED_JSON, Fault.SLOW], ids=["malformed JSON", "slow past the timeout"])
async def test_unreadable_or_late_answers_are_an_outage_not_a_crash(world, fault: Fault) -> None:
    emulator, provider, inputs, _ = world
    task = await provider.submit(submit_request(inputs))
    emulator.inject(fault, times=10)
    with pytest.raises(ProviderError) as err:
        await provider.get_task(task.task_id)
    assert err.value.kind is ErrorKind.OUTAGE


async def test_secrets_never_in_errors(world) -> None:
    emulator, provider, inputs, _ = world
    emulator.inject(Fault.UNAUTHORIZED)
    with pytest.raises(ProviderError) as err:
        await provider.submit(submit_request(inputs))
    text = f"{err.value} {err.value.message} {err.value.user_message}"
    for secret in SECRETS:
        assert secret not in text


# Credentials every case uses, so the secrecy test can look for them.
SECRETS = ("test-access-key-AK", "test-secret-key-SK-0123456789", "test-goapi-key", "test-useapi-token", "test-modelslab-key")
