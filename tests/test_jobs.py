"""The core without Discord: request to delivered on the simulator, restarts, callbacks, quotas."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import CoreApp
from bot.errors import DeliveryImpossible, provider_error
from bot.media import MediaRejected
from bot.metrics import REGISTRY
from bot.models import ErrorKind, JobState, MotionOptions
from bot.providers.base import Capabilities, MotionTemplate, ProviderTask, TaskStatus
from bot.providers.simulator import SimulatorProvider
from bot.quotas import QuotaRefused
from bot.store import JobRow
from tests.core_harness import (
    FakeChannel,
    Inputs,
    core_settings,
    open_core,
    reads_only,
    requester,
    submit,
    wait_state,
    with_templates,
)


@pytest.fixture
def inputs(tmp_path: Path) -> Inputs:
    return Inputs(tmp_path / "inputs")


@pytest.fixture
def channel() -> FakeChannel:
    return FakeChannel()


@pytest.fixture
async def polling_app(tmp_path: Path, channel: FakeChannel, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[CoreApp]:
    """Learns only by reading the simulator's tasks, as with a hosted provider without callbacks."""
    reads_only(monkeypatch)
    async with open_core(core_settings(tmp_path / "data"), channel) as app:
        yield app


@pytest.fixture
async def callback_app(tmp_path: Path, channel: FakeChannel, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[CoreApp]:
    """Learns by HTTP callbacks to the job's signed URL (the safety-net read is 60 s away)."""
    reads_only(monkeypatch)
    async with open_core(core_settings(tmp_path / "data", callbacks=True), channel) as app:
        yield app


@pytest.fixture
async def reporting_app(tmp_path: Path, channel: FakeChannel) -> AsyncIterator[CoreApp]:
    """The simulator as it runs by default: it tells the engine itself. Reads are 30 s away."""
    settings = core_settings(
        tmp_path / "data", poll_interval_seconds=30, poll_max_interval_seconds=60, callback_fallback_poll_seconds=30
    )
    async with open_core(settings, channel) as app:
        yield app


def count_calls(app: CoreApp, *methods: str) -> dict[str, int]:
    """Count the simulator's provider calls by method (each still runs for real)."""
    simulator = app.providers["simulator"]
    calls = dict.fromkeys(methods, 0)
    for name in methods:
        real = getattr(simulator, name)

        async def counted(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            calls[_name] += 1
            return await _real(*args, **kwargs)

        setattr(simulator, name, counted)
    return calls


async def test_polling_path_delivers_once_and_charges_once(polling_app: CoreApp, inputs: Inputs, channel: FakeChannel) -> None:
    job = await submit(polling_app, inputs, prompt="dance!")
    assert job.state is JobState.QUEUED
    done = await polling_app.engine.wait_for_end(job.id, timeout=20)
    assert done.state is JobState.DELIVERED
    assert [p.job_id for p in channel.posts] == [job.id]
    assert channel.posts[0].video_size and channel.posts[0].video_size > 1000
    assert await polling_app.store.ledger_for_job(job.id) == [("reserve", 3), ("commit", 3)]
    states = [to for _, to, _ in await polling_app.store.job_events(job.id)]
    assert states == ["queued", "submitting", "submitted", "processing", "succeeded", "delivered"]
    assert done.poll_attempts >= 1


async def test_callback_path_delivers_without_polling(callback_app: CoreApp, inputs: Inputs, channel: FakeChannel) -> None:
    calls = count_calls(callback_app, "submit", "get_task", "find_task")
    job = await submit(callback_app, inputs)
    done = await callback_app.engine.wait_for_end(job.id, timeout=20)
    assert done.state is JobState.DELIVERED
    # the safety-net poll is 60 s away, so only callbacks can have moved this job...
    assert done.poll_attempts == 0
    assert len(channel.for_job(job.id)) == 1
    # ...and an ending on the job's own signed URL is not confirmed by a read: one call in all
    assert calls == {"submit": 1, "get_task": 0, "find_task": 0}


async def test_in_process_reports_end_the_job_without_a_read(reporting_app: CoreApp, inputs: Inputs) -> None:
    """The simulator tells the engine when the video is ready: no poll interval is waited out
    (reads are 30 s away; wait_for_end gives up after 10)."""
    calls = count_calls(reporting_app, "submit", "get_task")
    job = await submit(reporting_app, inputs)
    done = await reporting_app.engine.wait_for_end(job.id, timeout=10)
    assert done.state is JobState.DELIVERED and done.poll_attempts == 0
    assert calls == {"submit": 1, "get_task": 0}
    states = [to for _, to, _ in await reporting_app.store.job_events(job.id)]
    assert states == ["queued", "submitting", "submitted", "processing", "succeeded", "delivered"]


async def test_a_repeated_callback_is_answered_without_a_write(callback_app: CoreApp, inputs: Inputs) -> None:
    job = await submit(callback_app, inputs)
    processing = await wait_state(callback_app, job.id, "processing")
    assert processing.provider_task_id
    writes = callback_app.store.db.total_changes
    for _ in range(5):
        assert await post_callback(callback_app, job.id, sim_body(processing.provider_task_id, "processing")) == 200
    assert callback_app.store.db.total_changes == writes  # read, compare, return
    done = await callback_app.engine.wait_for_end(job.id, timeout=20)
    assert done.state is JobState.DELIVERED
    assert callback_app.store.db.total_changes > writes  # the ones that move the job do write


async def post_callback(app: CoreApp, job_id: str, body: bytes, token: str | None = "valid", provider: str = "simulator") -> int:
    if token == "valid":
        token = app.engine.links.signer.token("callback", provider, job_id)
    url = f"{app.web.base_url}/callbacks/{provider}/{job_id}"
    params = {"token": token} if token else {}
    async with aiohttp.ClientSession() as session, session.post(url, data=body, params=params) as resp:
        return resp.status


def sim_body(task_id: str, status: str, result_url: str | None = None) -> bytes:
    return json.dumps({"task_id": task_id, "status": status, "result_url": result_url, "error": None}).encode()


async def test_forged_malformed_and_unknown_callbacks_change_nothing(callback_app: CoreApp, inputs: Inputs) -> None:
    job = await submit(callback_app, inputs)
    submitted = await wait_state(callback_app, job.id, "submitted", "processing")
    task_id = submitted.provider_task_id
    assert task_id
    forged = sim_body(task_id, "succeeded", "http://127.0.0.1:1/evil.mp4")
    assert await post_callback(callback_app, job.id, forged, token="0" * 40) == 401
    assert await post_callback(callback_app, job.id, forged, token=None) == 401
    # a valid token for another job does not open this one
    other = callback_app.engine.links.signer.token("callback", "simulator", "someotherjob")
    assert await post_callback(callback_app, job.id, forged, token=other) == 401
    assert await post_callback(callback_app, "nosuchjob", forged) == 404
    assert await post_callback(callback_app, job.id, b"{not json") == 400
    assert await post_callback(callback_app, job.id, b"x" * 2_000_000) == 413
    after = await callback_app.store.get_job(job.id)
    assert after is not None and after.state.value in ("submitted", "processing")
    assert after.result_url is None


async def test_duplicate_and_late_callbacks_do_not_post_twice(callback_app: CoreApp, inputs: Inputs, channel: FakeChannel) -> None:
    job = await submit(callback_app, inputs)
    done = await callback_app.engine.wait_for_end(job.id, timeout=20)
    assert done.state is JobState.DELIVERED and done.provider_task_id
    final = sim_body(done.provider_task_id, "succeeded", done.result_url)
    for _ in range(3):
        assert await post_callback(callback_app, job.id, final) == 200
    assert await post_callback(callback_app, job.id, sim_body(done.provider_task_id, "processing")) == 200
    await asyncio.sleep(0.3)
    again = await callback_app.store.get_job(job.id)
    assert again is not None and again.state is JobState.DELIVERED
    assert len(channel.for_job(job.id)) == 1
    assert channel.attempts == 1
    assert await callback_app.store.ledger_for_job(job.id) == [("reserve", 3), ("commit", 3)]


async def test_late_processing_report_cannot_move_a_job_back(polling_app: CoreApp, inputs: Inputs) -> None:
    job = await submit(polling_app, inputs)
    done = await polling_app.engine.wait_for_end(job.id, timeout=20)
    assert done.provider_task_id
    await polling_app.engine.apply_task(job.id, ProviderTask(task_id=done.provider_task_id, status=TaskStatus.PROCESSING))
    again = await polling_app.store.get_job(job.id)
    assert again is not None and again.state is JobState.DELIVERED


async def test_exhausted_quota_is_refused_before_anything_is_submitted(tmp_path: Path, inputs: Inputs, channel: FakeChannel) -> None:
    async with open_core(core_settings(tmp_path / "data", user_daily_credits=5, max_active_jobs_per_user=5), channel) as app:
        first = await submit(app, inputs)  # 3 credits
        with pytest.raises(QuotaRefused) as refused:
            await submit(app, inputs)  # 3 more > 2 left
        assert "you have 2 of 5 left today" in str(refused.value)
        assert "reset" in str(refused.value)
        async with app.store.db.execute("SELECT COUNT(*) FROM jobs") as cur:
            assert (await cur.fetchone())[0] == 1
        leftovers = [p.name for p in app.engine.job_dir(first.id).parent.iterdir()]
        assert leftovers == [first.id]  # the refused job's files were removed
        sim_tasks = list((tmp_path / "data" / "simulator" / "tasks").glob("*.json"))
        assert len(sim_tasks) <= 1


async def test_refund_when_the_provider_fails(polling_app: CoreApp, inputs: Inputs, channel: FakeChannel) -> None:
    job = await submit(polling_app, inputs, prompt="[simulate:content_policy] dance")
    done = await polling_app.engine.wait_for_end(job.id, timeout=20)
    assert done.state is JobState.FAILED
    assert done.error_kind == "content_policy"
    assert await polling_app.store.ledger_for_job(job.id) == [("reserve", 3), ("refund", 3)]
    status = await polling_app.quotas.status(polling_app.store, 42, 7)
    assert status.used == 0 and status.left == 60
    [notice] = channel.for_job(job.id)
    assert "content policy" in notice.content and "credits were returned" in notice.content


async def test_bad_input_is_refused_without_a_job(polling_app: CoreApp, inputs: Inputs, tmp_path: Path) -> None:
    disguised = tmp_path / "fake.mp4"
    disguised.write_bytes(inputs.image_path.read_bytes())
    bad = inputs.video().__class__("fake.mp4", disguised.stat().st_size, "video/mp4", path=disguised)

    with pytest.raises(MediaRejected):
        await polling_app.submit_motion(requester(), inputs.image(), bad, MotionOptions())
    async with polling_app.store.db.execute("SELECT COUNT(*) FROM ledger") as cur:
        assert (await cur.fetchone())[0] == 0


async def test_too_large_result_is_posted_as_a_link(polling_app: CoreApp, inputs: Inputs, channel: FakeChannel) -> None:
    small = requester().model_copy(update={"upload_limit": 1000})
    job, _ = await polling_app.submit_motion(small, inputs.image(), inputs.video(), MotionOptions())
    await polling_app.engine.wait_for_end(job.id, timeout=20)
    [post] = channel.for_job(job.id)
    assert post.video_size is None and post.link


async def test_a_create_that_may_have_landed_is_never_sent_twice(polling_app: CoreApp, inputs: Inputs, channel: FakeChannel) -> None:
    """A 500 or timeout on create, at a provider that cannot be asked afterwards: stop and refund."""
    simulator = polling_app.providers["simulator"]
    simulator.capabilities = Capabilities(can_find_by_job_id=False)  # type: ignore[misc]
    calls = 0

    async def flaky_submit(_: object) -> ProviderTask:
        nonlocal calls
        calls += 1
        raise provider_error(ErrorKind.OUTAGE, "HTTP 500", http_status=500, maybe_accepted=True)

    simulator.submit = flaky_submit  # type: ignore[method-assign]
    job = await submit(polling_app, inputs)
    done = await polling_app.engine.wait_for_end(job.id, timeout=20)
    assert calls == 1
    assert done.state is JobState.FAILED
    assert await polling_app.store.ledger_for_job(job.id) == [("reserve", 3), ("refund", 3)]
    [notice] = channel.for_job(job.id)
    assert "not charged" in notice.content


async def test_busy_provider_keeps_the_job_waiting_then_submits(polling_app: CoreApp, inputs: Inputs) -> None:
    """A 429 proves the create was not taken: the job keeps its place and goes through later."""
    simulator = polling_app.providers["simulator"]
    real_submit = simulator.submit
    calls = 0

    async def busy_then_ok(request: object) -> ProviderTask:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise provider_error(ErrorKind.RATE_LIMIT, "HTTP 429", http_status=429)
        return await real_submit(request)  # type: ignore[arg-type]

    simulator.submit = busy_then_ok  # type: ignore[method-assign]
    polling_app.engine.config = replace(polling_app.engine.config, retry_base=0.01)
    job = await submit(polling_app, inputs)
    done = await polling_app.engine.wait_for_end(job.id, timeout=20)
    assert calls == 2 and done.state is JobState.DELIVERED
    states = [to for _, to, _ in await polling_app.store.job_events(job.id)]
    assert states[:4] == ["queued", "submitting", "queued", "submitting"]  # back in line, then sent


async def test_retry_after_reschedules_the_job_and_survives_a_restart(tmp_path: Path, inputs: Inputs, channel: FakeChannel) -> None:
    """A provider's "come back in 2 minutes" is written into the job, not slept on: the job is
    back in line with a time, a restart keeps that time, and nothing is sent before it."""
    settings = core_settings(tmp_path / "data")
    async with open_core(settings, channel) as first:
        submits = 0

        async def come_back_later(_: object) -> ProviderTask:
            nonlocal submits
            submits += 1
            raise provider_error(ErrorKind.RATE_LIMIT, "HTTP 429", http_status=429, retry_after=120.0)

        first.providers["simulator"].submit = come_back_later  # type: ignore[method-assign]
        asked_at = time.time()
        job = await submit(first, inputs)
        waiting = await wait_until(first, job.id, lambda j: j.state is JobState.QUEUED and j.not_before is not None)
        assert waiting.not_before is not None and asked_at + 119 <= waiting.not_before <= time.time() + 121
        assert submits == 1
        await until(lambda: not first.engine._owners)  # nobody sleeps on it

    async with open_core(settings, channel) as second:
        calls = count_calls(second, "submit")
        await until(lambda: second.engine.last_dispatch_at > 0)  # the pass that would have sent it
        kept = await second.store.get_job(job.id)
        assert kept is not None and kept.state is JobState.QUEUED and kept.not_before == waiting.not_before
        assert calls == {"submit": 0}
        await second.store.update_job(job.id, not_before=time.time())  # as if the two minutes passed
        second.engine.advance(job.id, JobState.QUEUED)
        done = await second.engine.wait_for_end(job.id, timeout=20)
        assert done.state is JobState.DELIVERED and calls == {"submit": 1}


async def test_job_whose_provider_was_removed_is_refunded_not_stuck(polling_app: CoreApp, inputs: Inputs, channel: FakeChannel) -> None:
    job = await submit(polling_app, inputs)
    await wait_state(polling_app, job.id, "submitted", "processing")
    simulator = polling_app.providers.pop("simulator")  # as after a restart without its credentials
    try:
        done = await polling_app.engine.wait_for_end(job.id, timeout=20)
    finally:
        polling_app.providers["simulator"] = simulator
    assert done.state is JobState.FAILED
    assert await polling_app.store.ledger_for_job(job.id) == [("reserve", 3), ("refund", 3)]
    assert len(channel.for_job(job.id)) == 1


async def test_nowhere_to_post_closes_the_job_instead_of_retrying_forever(polling_app: CoreApp, inputs: Inputs) -> None:
    attempts = 0

    async def nowhere(*_: object) -> int | None:
        nonlocal attempts
        attempts += 1
        raise DeliveryImpossible("channel deleted; DM refused")

    polling_app.engine.notifier.deliver = nowhere  # type: ignore[method-assign]
    job = await submit(polling_app, inputs)
    done = await polling_app.engine.wait_for_end(job.id, timeout=20)
    assert done.state is JobState.DELIVERED and done.message_id is None
    assert attempts == 1
    notes = [note for _, to, note in await polling_app.store.job_events(job.id) if to == "delivered"]
    assert notes == ["could not be posted: channel deleted; DM refused"]


async def test_health_and_metrics(polling_app: CoreApp, inputs: Inputs) -> None:
    job = await submit(polling_app, inputs)
    await polling_app.engine.wait_for_end(job.id, timeout=20)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{polling_app.web.base_url}/healthz") as resp:
            assert resp.status == 200 and (await resp.json())["status"] == "ok"
        async with session.get(f"{polling_app.web.base_url}/metrics") as resp:
            text = await resp.text()
    assert 'motionbot_jobs{provider="simulator",state="delivered"} 1' in text
    assert "motionbot_credits_used_today 3" in text


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_the_engine_counts_endings_errors_and_times(polling_app: CoreApp, inputs: Inputs) -> None:
    before = {
        "delivered": metric("motionbot_jobs_ended_total", provider="simulator", kind="motion", ending="delivered"),
        "failed": metric("motionbot_jobs_ended_total", provider="simulator", kind="motion", ending="failed"),
        "errors": metric("motionbot_provider_errors_total", provider="simulator", kind="balance"),
        "waits": metric("motionbot_queue_wait_seconds_count"),
        "provider": metric("motionbot_provider_seconds_count", provider="simulator"),
        "delivery": metric("motionbot_delivery_seconds_count"),
    }
    made = await submit(polling_app, inputs)
    refused = await submit(polling_app, inputs, prompt="[simulate:balance]", user_id=43)  # refused at submit
    assert (await polling_app.engine.wait_for_end(made.id, timeout=20)).state is JobState.DELIVERED
    assert (await polling_app.engine.wait_for_end(refused.id, timeout=20)).state is JobState.FAILED
    after = {
        "delivered": metric("motionbot_jobs_ended_total", provider="simulator", kind="motion", ending="delivered"),
        "failed": metric("motionbot_jobs_ended_total", provider="simulator", kind="motion", ending="failed"),
        "errors": metric("motionbot_provider_errors_total", provider="simulator", kind="balance"),
        "waits": metric("motionbot_queue_wait_seconds_count"),
        "provider": metric("motionbot_provider_seconds_count", provider="simulator"),
        "delivery": metric("motionbot_delivery_seconds_count"),
    }
    assert {name: after[name] - before[name] for name in before} == {
        "delivered": 1, "failed": 1, "errors": 1, "waits": 1, "provider": 1, "delivery": 1,
    }
    assert time.time() - polling_app.engine.last_dispatch_at < 10  # the dispatcher has run lately


async def test_failover_hands_a_busy_providers_job_to_the_next_and_says_so(
    tmp_path: Path, inputs: Inputs, channel: FakeChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads_only(monkeypatch)
    async with open_core(core_settings(tmp_path / "data", provider_failover=True), channel) as app:
        second = SimulatorProvider(
            app.http, data_dir=tmp_path / "second", delay_seconds=0.2, public_base_url=lambda: app.base_url,
            signer=app.engine.links.signer,
        )
        app.providers["kling"] = second  # stands in for a second configured provider
        submits: list[str] = []

        async def always_busy(_: object) -> ProviderTask:
            submits.append("simulator")
            raise provider_error(ErrorKind.RATE_LIMIT, "HTTP 429 past retries", http_status=429)

        app.providers["simulator"].submit = always_busy  # type: ignore[method-assign]
        notifier = app.engine.notifier
        job = await submit(app, inputs)
        done = await app.engine.wait_for_end(job.id, timeout=20)
        assert submits == ["simulator"]
        assert done.state is JobState.DELIVERED and done.provider == "kling"
        assert any("went to kling" in text for job_id, text in notifier.progress_texts if job_id == job.id)  # type: ignore[attr-defined]


async def test_without_failover_a_busy_provider_keeps_the_job(polling_app: CoreApp, inputs: Inputs) -> None:
    """Failover is off by default: prices differ, so a job never moves provider on its own."""
    assert polling_app.engine.config.failover is False
    simulator = polling_app.providers["simulator"]
    other = count_calls(polling_app, "submit")  # counts the simulator's submits...
    polling_app.providers["kling"] = simulator  # ...and stands in for another configured provider
    busy = 0

    async def busy_once(request: object, _real: Any = simulator.submit) -> ProviderTask:
        nonlocal busy
        busy += 1
        if busy == 1:
            raise provider_error(ErrorKind.RATE_LIMIT, "HTTP 429", http_status=429)
        return await _real(request)

    simulator.submit = busy_once  # type: ignore[method-assign]
    polling_app.engine.config = replace(polling_app.engine.config, retry_base=0.01)
    job = await submit(polling_app, inputs)
    done = await polling_app.engine.wait_for_end(job.id, timeout=20)
    assert done.state is JobState.DELIVERED and done.provider == "simulator"
    assert busy == 2 and other == {"submit": 1}  # it waited for its own provider instead


async def test_first_poll_follows_the_providers_estimate(
    tmp_path: Path, inputs: Inputs, channel: FakeChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A short job is picked up when the provider says it will be ready, not a whole poll interval later."""
    reads_only(monkeypatch)
    # 2 s: long enough for the simulator to have rendered its result by then, even on a busy machine
    settings = core_settings(
        tmp_path / "data", poll_interval_seconds=30, poll_max_interval_seconds=60, simulator_delay_seconds=2
    )
    async with open_core(settings, channel) as app:
        job = await submit(app, inputs)
        done = await app.engine.wait_for_end(job.id, timeout=15)  # the 30 s interval would time this out
        assert done.state is JobState.DELIVERED and done.poll_attempts == 1


async def test_cancel_a_queued_job_refunds_it_and_leaves_others_alone(tmp_path: Path, inputs: Inputs, channel: FakeChannel) -> None:
    settings = core_settings(
        tmp_path / "data", provider_max_concurrency=1, simulator_delay_seconds=1.5, max_active_jobs_per_user=3
    )
    async with open_core(settings, channel) as app:
        running = await submit(app, inputs)
        await wait_state(app, running.id, "submitted", "processing")
        waiting = await submit(app, inputs)  # the one provider slot is taken: this one waits in line
        assert await app.store.queue_position(waiting.id) == 1
        assert str(await app.engine.cancel(waiting.id, user_id=999)) == "Only the person who started this video can cancel it."
        assert str(await app.engine.cancel(waiting.id, user_id=42)) == "Cancelled. Your credits were returned."
        cancelled = await app.engine.wait_for_end(waiting.id, timeout=10)
        assert cancelled.state is JobState.CANCELLED
        assert await app.store.ledger_for_job(waiting.id) == [("reserve", 3), ("refund", 3)]
        [notice] = channel.for_job(waiting.id)
        assert notice.content == "Cancelled. Your credits were returned."
        # a job already at the provider cannot be stopped by the simulator: said plainly, nothing changes
        assert "cannot stop it" in str(await app.engine.cancel(running.id, user_id=42))
        done = await app.engine.wait_for_end(running.id, timeout=20)
        assert done.state is JobState.DELIVERED
        assert str(await app.engine.cancel(running.id, user_id=42)) == "This video is already finished."


async def test_a_motion_templates_own_length_sets_the_price(polling_app: CoreApp, inputs: Inputs) -> None:
    with_templates(polling_app, [MotionTemplate(id="t7", name="Heart Dance", seconds=7.0),
                                 MotionTemplate(id="t12", name="Long Walk", seconds=12.0)])
    job, price = await polling_app.submit_motion(requester(), inputs.image(), None, MotionOptions(motion_template="t7"))
    assert price.credits == 7 and job.request["video"] is None
    # capped by the orientation rule like an uploaded video: 12 s with orientation=image costs 10
    _, capped = await polling_app.submit_motion(
        requester(43), inputs.image(), None, MotionOptions(motion_template="Long Walk", orientation="image")
    )
    assert capped.credits == 10
    with pytest.raises(MediaRejected, match="no motion template called 'nope'"):
        await polling_app.submit_motion(requester(44), inputs.image(), None, MotionOptions(motion_template="nope"))
    with pytest.raises(MediaRejected, match="not both"):
        await polling_app.submit_motion(requester(45), inputs.image(), inputs.video(), MotionOptions(motion_template="t7"))
    async with polling_app.store.db.execute("SELECT COUNT(*) FROM jobs") as cur:
        assert (await cur.fetchone())[0] == 2  # the refused ones left nothing


async def test_ending_jobs_leave_no_bookkeeping_behind(reporting_app: CoreApp, inputs: Inputs) -> None:
    """A bot runs for months: per-job in-memory state must go when the job does."""
    waited = await submit(reporting_app, inputs)
    unwatched = await submit(reporting_app, inputs, user_id=43)
    await reporting_app.engine.wait_for_end(waited.id, timeout=20)
    await wait_state(reporting_app, unwatched.id, "delivered")
    await asyncio.sleep(0.1)
    engine = reporting_app.engine
    assert (engine._ended, engine._owners, engine._nudges, engine._claimed) == ({}, {}, {}, set())


async def test_simulator_results_are_signed_links(reporting_app: CoreApp, inputs: Inputs) -> None:
    """The status message shows the job id; knowing it must not be enough to fetch the video."""
    job = await submit(reporting_app, inputs)
    done = await reporting_app.engine.wait_for_end(job.id, timeout=20)
    assert done.result_url and "token=" in done.result_url
    unsigned = done.result_url.split("?")[0]
    async with aiohttp.ClientSession() as session:
        async with session.get(done.result_url) as resp:
            assert resp.status == 200 and len(await resp.read()) > 1000
        async with session.get(unsigned) as resp:
            assert resp.status == 403
        async with session.get(unsigned, params={"token": "0" * 40}) as resp:
            assert resp.status == 403


async def wait_until(app: CoreApp, job_id: str, check: Callable[[JobRow], bool], timeout: float = 10.0) -> JobRow:
    async def poll() -> JobRow:
        while True:
            job = await app.store.get_job(job_id)
            if job is not None and check(job):
                return job
            await asyncio.sleep(0.02)

    return await asyncio.wait_for(poll(), timeout)


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    async def poll() -> None:
        while not check():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


async def test_a_locked_database_delays_a_job_but_never_leaves_it_without_an_owner(
    tmp_path: Path, inputs: Inputs, channel: FakeChannel, caplog: pytest.LogCaptureFixture
) -> None:
    """Another process holds the write lock far longer than the store retries: the job's task
    dies on "database is busy" and the simulator's report of the ending is lost, and the
    dispatcher's sweep gives the job a new owner, which finishes it once the lock is gone: one
    post, one commit."""
    settings = core_settings(tmp_path / "data", db_busy_retry_seconds=0.2)
    async with open_core(settings, channel) as app:
        app.engine.config = replace(app.engine.config, sweep_interval=0.1)
        job = await submit(app, inputs)
        await wait_state(app, job.id, "processing")  # so the report the lock makes fail is the ending
        other = sqlite3.connect(settings.db_path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        try:
            # Both ways the job could have moved fail: its owner's read, and the simulator's report.
            for words in ("the next sweep picks the job up again", "telling the engine about"):
                await until(lambda words=words: any(words in r.getMessage() for r in caplog.records))
            assert (await app.store.get_job(job.id)).state.value in ("submitted", "processing")  # type: ignore[union-attr]
        finally:
            other.execute("COMMIT")
            other.close()
        done = await app.engine.wait_for_end(job.id, timeout=20)
        assert done.state is JobState.DELIVERED
        assert len(channel.for_job(job.id)) == 1
        assert await app.store.ledger_for_job(job.id) == [("reserve", 3), ("commit", 3)]
