"""The bot's web server at its edges: whole callback bodies, slow clients, media links, /healthz, /metrics.

Raw sockets (asyncio.open_connection) send exactly the bytes a misbehaving or slow client would,
in the pieces and at the pace it would, which an HTTP client library smooths over.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from yarl import URL

from bot.app import CoreApp
from bot.models import JobState, MotionRequest
from bot.store import JobRow
from tests.core_harness import (
    FakeChannel,
    Inputs,
    RecordingNotifier,
    core_settings,
    free_port,
    reads_only,
    submit,
    wait_state,
)


@pytest.fixture
def inputs(tmp_path: Path) -> Inputs:
    return Inputs(tmp_path / "inputs")


def running(tmp_path: Path, **overrides: Any) -> AbstractAsyncContextManager[CoreApp]:
    return CoreApp.open(core_settings(tmp_path / "data", **overrides), RecordingNotifier(FakeChannel()))


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[CoreApp]:
    async with running(tmp_path, callback_max_bytes=4096, web_body_timeout_seconds=0.5, web_keepalive_timeout_seconds=0.5) as core:
        yield core


@pytest.fixture
async def deaf_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[CoreApp]:
    """Callbacks on, but PUBLIC_URL leads nowhere: the simulator's own callbacks are lost (and its
    in-process reports are off) and the backup poll is a minute away, so only what a test posts
    to the server can move a job."""
    reads_only(monkeypatch)
    async with running(
        tmp_path, callbacks=True, public_url=f"http://127.0.0.1:{free_port()}", callback_fallback_poll_seconds=60
    ) as core:
        yield core


# --- raw HTTP ---------------------------------------------------------------------------------
async def connect(app: CoreApp) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    url = URL(app.web.base_url)
    assert url.host is not None and url.port is not None
    return await asyncio.open_connection(url.host, url.port)


async def status_of(reader: asyncio.StreamReader) -> int:
    line = await asyncio.wait_for(reader.readline(), 10)
    assert line.startswith(b"HTTP/1.1 "), line
    return int(line.split()[1])


async def closed_by_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, drip: bytes = b"", limit: float = 10.0) -> bool:
    """Send `drip` one byte every 0.1 s (or just wait) until the server hangs up; False if it has not within `limit`."""
    deadline = time.monotonic() + limit
    sent = 0
    while time.monotonic() < deadline:
        try:
            if sent < len(drip):
                writer.write(drip[sent : sent + 1])
                await writer.drain()
                sent += 1
            if await asyncio.wait_for(reader.read(65536), 0.1) == b"":
                return True
        except TimeoutError:
            continue
        except ConnectionError:
            return True
    return False


def head(path: str, headers: dict[str, str] | None = None, method: str = "POST") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: bot.example", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def callback_path(app: CoreApp, job_id: str, provider: str = "simulator") -> str:
    url = app.engine.links.callback_url(provider, job_id)
    if url is None:  # no PUBLIC_URL: sign by hand, as the engine would
        return f"/callbacks/{provider}/{job_id}?token={app.engine.links.signer.token('callback', provider, job_id)}"
    return str(URL(url).relative())


def sim_body(task_id: str, status: str) -> bytes:
    return json.dumps({"task_id": task_id, "status": status, "result_url": None, "error": None}).encode()


# --- callback bodies --------------------------------------------------------------------------
async def test_a_callback_whose_body_arrives_in_pieces_is_recorded(deaf_app: CoreApp, inputs: Inputs) -> None:
    job = await submit(deaf_app, inputs)
    submitted = await wait_state(deaf_app, job.id, "submitted")
    assert submitted.provider_task_id
    body = sim_body(submitted.provider_task_id, "processing")
    reader, writer = await connect(deaf_app)
    try:
        writer.write(head(callback_path(deaf_app, job.id), {"Content-Type": "application/json", "Content-Length": str(len(body))}))
        writer.write(body[:10])
        await writer.drain()
        await asyncio.sleep(0.2)  # the second TCP piece comes later, as over a slow link
        writer.write(body[10:])
        await writer.drain()
        assert await status_of(reader) == 200
    finally:
        writer.close()
    recorded = await deaf_app.store.get_job(job.id)
    assert recorded is not None and recorded.state is JobState.PROCESSING and recorded.provider_status == "processing"


async def test_a_chunked_callback_in_pieces_is_read_whole(deaf_app: CoreApp, inputs: Inputs) -> None:
    job = await submit(deaf_app, inputs)
    submitted = await wait_state(deaf_app, job.id, "submitted")
    assert submitted.provider_task_id
    body = sim_body(submitted.provider_task_id, "processing")
    reader, writer = await connect(deaf_app)
    try:
        writer.write(head(callback_path(deaf_app, job.id), {"Transfer-Encoding": "chunked"}))
        for piece in (body[:7], body[7:]):
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            await asyncio.sleep(0.2)
        writer.write(b"0\r\n\r\n")
        assert await status_of(reader) == 200
    finally:
        writer.close()
    recorded = await deaf_app.store.get_job(job.id)
    assert recorded is not None and recorded.state is JobState.PROCESSING


async def test_a_10_mb_callback_is_refused_before_its_body_is_sent(app: CoreApp) -> None:
    reader, writer = await connect(app)
    try:
        # Only the head and a first 64 KiB go out: the answer must come without the other 9.9 MB.
        writer.write(head(callback_path(app, "job1"), {"Content-Length": "10000000"}) + b"x" * 65536)
        await writer.drain()
        assert await status_of(reader) == 413
    finally:
        writer.close()


async def test_a_chunked_body_past_the_cap_is_refused_without_reading_the_rest(app: CoreApp) -> None:
    reader, writer = await connect(app)
    try:
        writer.write(head(callback_path(app, "job1"), {"Transfer-Encoding": "chunked"}))
        for _ in range(3):  # 3 × 2 KiB against a 4 KiB cap, and no final chunk ever
            writer.write(b"800\r\n" + b"x" * 2048 + b"\r\n")
        await writer.drain()
        assert await status_of(reader) == 413
    finally:
        writer.close()


async def test_a_callback_body_that_stops_arriving_is_answered_408_and_closed(app: CoreApp) -> None:
    reader, writer = await connect(app)
    try:
        writer.write(head(callback_path(app, "job1"), {"Content-Length": "100"}) + b'{"task_id": ')
        await writer.drain()
        assert await status_of(reader) == 408
        assert await closed_by_server(reader, writer)
    finally:
        writer.close()


async def test_an_unsigned_callback_is_refused_without_waiting_for_its_body(app: CoreApp) -> None:
    reader, writer = await connect(app)
    try:
        writer.write(head("/callbacks/simulator/job1?token=" + "0" * 40, {"Content-Length": "4000"}))
        await writer.drain()
        assert await status_of(reader) == 401  # no byte of the body was ever sent
    finally:
        writer.close()


# --- slow and idle clients --------------------------------------------------------------------
async def test_a_client_sending_headers_slowly_is_closed(app: CoreApp) -> None:
    reader, writer = await connect(app)
    try:
        # 10 s of header bytes at 10 a second, never finishing the head, against a 0.5 s limit
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: bot.example\r\n")
        assert await closed_by_server(reader, writer, drip=b"X-Slow: " + b"a" * 100)
    finally:
        writer.close()
    async with aiohttp.ClientSession() as session, session.get(f"{app.web.base_url}/metrics") as resp:
        assert resp.status == 200  # the server itself is fine


async def test_a_connection_that_never_sends_a_request_is_closed(app: CoreApp) -> None:
    reader, writer = await connect(app)
    try:
        assert await closed_by_server(reader, writer)
    finally:
        writer.close()


async def test_a_kept_alive_connection_is_closed_when_idle(app: CoreApp) -> None:
    reader, writer = await connect(app)
    try:
        writer.write(head("/metrics", method="GET"))
        assert await status_of(reader) == 200
        assert await closed_by_server(reader, writer)
    finally:
        writer.close()


# --- media links ------------------------------------------------------------------------------
def input_names(job: JobRow) -> list[str]:
    request = MotionRequest.model_validate(job.request)
    return [media.path.name for media in (request.image, request.video) if media is not None]


async def get(url: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, await resp.read()


async def test_inputs_are_served_to_the_provider_while_the_job_runs(deaf_app: CoreApp, inputs: Inputs) -> None:
    job = await submit(deaf_app, inputs)
    running_job = await wait_state(deaf_app, job.id, "submitted")
    links = deaf_app.engine.links
    for name in input_names(running_job):
        token = links.media_token(job.id, name)
        status, body = await get(f"{deaf_app.web.base_url}/media/{job.id}/{name}?token={token}")
        assert status == 200 and body == (deaf_app.engine.job_dir(job.id) / name).read_bytes()
        expiry, mac = token.split(".")
        tampered = f"{int(expiry) + 3600}.{mac}"
        assert (await get(f"{deaf_app.web.base_url}/media/{job.id}/{name}?token={tampered}"))[0] == 403
        expired = links.media_token(job.id, name, expires_at=int(time.time()) - 1)
        assert (await get(f"{deaf_app.web.base_url}/media/{job.id}/{name}?token={expired}"))[0] == 403
        assert (await get(f"{deaf_app.web.base_url}/media/{job.id}/{name}"))[0] == 403
    # the result is not served before the job has one, even with a valid token
    token = links.media_token(job.id, "result.mp4")
    assert (await get(f"{deaf_app.web.base_url}/media/{job.id}/result.mp4?token={token}"))[0] == 410


async def test_after_the_job_ended_its_inputs_are_gone_even_if_a_file_lingers(app: CoreApp, inputs: Inputs) -> None:
    job = await submit(app, inputs)
    done = await app.engine.wait_for_end(job.id, timeout=20)
    assert done.state is JobState.DELIVERED
    folder = app.engine.job_dir(job.id)
    for name in input_names(done):
        url = f"{app.web.base_url}/media/{job.id}/{name}?token={app.engine.links.media_token(job.id, name)}"
        assert (folder / name).exists()  # kept for remixes (RESULT_RETENTION_DAYS), yet never served again
        assert (await get(url))[0] == 410  # the job's state refuses it before the disk is asked
        (folder / name).write_bytes(b"left behind")
        assert (await get(url))[0] == 410
    result = f"{app.web.base_url}/media/{job.id}/result.mp4?token={app.engine.links.media_token(job.id, 'result.mp4')}"
    assert (await get(result))[0] == 200  # the result is kept too, so its link works after the provider's expires
    (folder / "result.mp4").unlink()  # as after the retention sweep
    assert (await get(result))[0] == 404
    unknown = app.engine.links.media_token("nosuchjob", "image.png")
    assert (await get(f"{app.web.base_url}/media/nosuchjob/image.png?token={unknown}"))[0] == 404


# --- /healthz ---------------------------------------------------------------------------------
async def health(app: CoreApp) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(f"{app.web.base_url}/healthz") as resp:
        return resp.status, await resp.json()


async def dispatched(app: CoreApp) -> None:
    """Until the engine's dispatcher has recorded a pass (it runs one as soon as the engine starts)."""
    async def wait() -> None:
        while not getattr(app.engine, "last_dispatch_at", 0):
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), 10)


async def test_healthz_is_200_when_every_part_answers(app: CoreApp) -> None:
    await dispatched(app)
    app.web.add_health_check("gateway", lambda: True)

    async def answers() -> bool:
        return True

    app.web.add_health_check("other", answers)
    status, body = await health(app)
    assert (status, body["status"]) == (200, "ok")
    assert body["checks"] == {"database": "ok", "dispatcher": "ok", "gateway": "ok", "other": "ok"}
    assert await app.store.get_meta("healthz")  # it really wrote


async def test_healthz_is_503_naming_the_database_when_it_is_gone(app: CoreApp) -> None:
    await dispatched(app)
    await app.store.close()
    status, body = await health(app)
    assert status == 503 and body["failing"] == ["database"]
    assert body["checks"]["database"].startswith("write failed")


async def test_healthz_names_a_dispatcher_that_stopped_passing(app: CoreApp, monkeypatch: pytest.MonkeyPatch) -> None:
    await dispatched(app)
    await app.engine.stop()  # no more passes from here on
    app.web.config = replace(app.web.config, dispatcher_stale_after=0.2)
    await asyncio.sleep(0.3)
    status, body = await health(app)
    assert status == 503 and body["failing"] == ["dispatcher"]
    assert body["checks"]["dispatcher"].startswith("last pass")
    # an engine that does not say when it last dispatched is not taken on trust
    monkeypatch.delattr(app.engine, "last_dispatch_at")
    status, body = await health(app)
    assert status == 503 and body["checks"]["dispatcher"] == "no dispatcher pass recorded"


async def test_healthz_names_each_failing_check(app: CoreApp) -> None:
    await dispatched(app)
    app.web.add_health_check("gateway", lambda: False)

    def broken() -> bool:
        raise RuntimeError("boom")

    async def hangs() -> bool:
        await asyncio.sleep(3600)
        return True

    app.web.add_health_check("broken", broken)
    app.web.add_health_check("hangs", hangs)
    app.web.config = replace(app.web.config, health_timeout=0.2)
    status, body = await health(app)
    assert status == 503 and body["failing"] == ["gateway", "broken", "hangs"]
    assert body["checks"]["database"] == "ok" and body["checks"]["broken"] == "error (RuntimeError)"
    assert body["checks"]["hangs"].startswith("no answer within")


# --- /metrics ---------------------------------------------------------------------------------
def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(app: CoreApp, authorization: str | None = None) -> tuple[int, str, str]:
    headers = {"Authorization": authorization} if authorization else {}
    async with aiohttp.ClientSession() as session, session.get(f"{app.web.base_url}/metrics", headers=headers) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), await resp.text()


async def test_metrics_come_from_the_store_at_scrape_time(tmp_path: Path, inputs: Inputs) -> None:
    async with running(tmp_path, global_daily_credits=100) as app:
        job = await submit(app, inputs)
        await app.engine.wait_for_end(job.id, timeout=20)
        status, content_type, text = await scrape(app)
        assert status == 200 and content_type.startswith("text/plain; version=0.0.4")  # what Prometheus reads
        values = samples(text)
        assert values[("motionbot_jobs", (("provider", "simulator"), ("state", "delivered")))] == 1
        assert values[("motionbot_credits_used_today", ())] == 3
        assert values[("motionbot_global_budget_left", ())] == 97
        assert not [key for key in values if key[0] == "motionbot_active_jobs"]  # nothing is running
        queued = await submit(app, inputs)  # a second job is active until it ends
        values = samples((await scrape(app))[2])
        assert values[("motionbot_credits_used_today", ())] == 6
        active = {dict(labels)["state"]: value for (name, labels), value in values.items() if name == "motionbot_active_jobs"}
        assert sum(active.values()) == 1 and set(active) <= {"queued", "submitting", "submitted", "processing"}
        await app.engine.wait_for_end(queued.id, timeout=20)


async def test_metrics_without_a_token_configured_are_open(app: CoreApp) -> None:
    status, _, text = await scrape(app)
    assert status == 200 and "motionbot_global_budget_left -1.0" in text
    async with aiohttp.ClientSession() as session:
        openmetrics = "application/openmetrics-text; version=1.0.0"
        async with session.get(f"{app.web.base_url}/metrics", headers={"Accept": openmetrics}) as resp:
            assert resp.headers["Content-Type"].startswith(openmetrics)  # negotiated by prometheus-client
            assert (await resp.text()).endswith("# EOF\n")


async def test_metrics_with_a_token_require_it_as_a_bearer_token(tmp_path: Path) -> None:
    async with running(tmp_path, metrics_token="s3cret-metrics-token") as app:
        assert (await scrape(app))[0] == 401
        assert (await scrape(app, "Bearer wrong-token"))[0] == 401
        assert (await scrape(app, "s3cret-metrics-token"))[0] == 401
        assert (await scrape(app, "Basic s3cret-metrics-token"))[0] == 401
        status, _, text = await scrape(app, "Bearer s3cret-metrics-token")
        assert status == 200 and "motionbot_credits_used_today" in text
        assert (await health(app))[0] != 401  # /healthz stays open for the orchestrator
