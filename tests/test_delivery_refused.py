"""A made video whose file the Downloader refuses (not a video, or at an address the bot does not
fetch from) is never posted, neither as a file nor as a link: the job fails and the commit is
reversed in the same transaction, so the member is charged nothing. Any other download failure
still posts the provider's link, charged once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from bot.downloads import Downloader
from bot.jobs import EngineConfig, JobEngine
from bot.models import JobState, MediaFile, MotionRequest, Requester
from bot.pricing import price_for
from bot.providers.base import (
    Capabilities,
    Provider,
    ProviderTask,
    SubmitRequest,
    TaskStatus,
)
from bot.quotas import QuotaPolicy
from bot.signing import Links, Signer
from bot.store import JobRow, Store
from tests.test_downloads import record_connects


class ReadyProvider(Provider):
    """Answers every create with a finished task whose video is at `result_url`."""

    name = "ready"
    capabilities = Capabilities(needs_input_urls=False)

    def __init__(self, result_url: str) -> None:
        super().__init__(None)  # type: ignore[arg-type]  # no HTTP besides the download
        self.result_url = result_url

    async def submit(self, submit: SubmitRequest) -> ProviderTask:
        return ProviderTask(task_id="t1", status=TaskStatus.SUCCEEDED, result_url=self.result_url)

    async def get_task(self, task_id: str) -> ProviderTask:
        return ProviderTask(task_id="t1", status=TaskStatus.SUCCEEDED, result_url=self.result_url)


class Channel:
    def __init__(self) -> None:
        self.posts: list[tuple[Path | None, str | None]] = []
        self.failures: list[str] = []

    async def progress(self, job: JobRow, text: str) -> None:
        pass

    async def deliver(self, job: JobRow, video: Path | None, link: str | None) -> int | None:
        self.posts.append((video, link))
        return len(self.posts)

    async def notify_failure(self, job: JobRow, text: str) -> None:
        self.failures.append(str(text))


@pytest.fixture
async def results_host() -> AsyncIterator[str]:
    """The provider's result host, named in settings (so allowed): an HTML page and a 503."""

    async def page(_: web.Request) -> web.Response:
        return web.Response(text="<html>not found</html>", content_type="text/html")

    async def down(_: web.Request) -> web.Response:
        return web.Response(status=503)

    app = web.Application()
    app.router.add_get("/page.mp4", page)
    app.router.add_get("/down.mp4", down)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def run_one(tmp_path: Path, results_host: str, result_url: str) -> tuple[JobRow, Channel, list[tuple[str, int]], int]:
    """One job to its end; returns it, what the channel saw, its ledger rows, and the credits used."""
    store = Store(tmp_path / "bot.sqlite3")
    await store.open()
    channel = Channel()
    quotas = QuotaPolicy(user_daily=100)
    async with Downloader(allowed_hosts=[results_host], max_retries=0) as downloader:
        engine = JobEngine(
            store,
            {"ready": ReadyProvider(result_url)},
            quotas,
            channel,
            Links(Signer(b"key"), ""),
            EngineConfig(data_dir=tmp_path),
            downloader=downloader,
        )
        await engine.start()
        try:
            image = MediaFile(path=tmp_path / "image.png", filename="image.png", content_type="image/png", size=1)
            request = MotionRequest(image=image, video=None, video_seconds=5)
            job = await engine.create_job(Requester(user_id=1), "motion", request, "ready", price_for("simulator", "std", 5))
            done = await engine.wait_for_end(job.id, timeout=30)
            ledger = await store.ledger_for_job(job.id)
            used = (await store.usage(quotas.period(), user_id=1)).used
        finally:
            await engine.stop()
            await store.close()
    return done, channel, ledger, used


@pytest.mark.parametrize(
    ("path", "why"),
    [("/page.mp4", "not a video"), ("http://169.254.169.254/latest/result.mp4", "refused to connect to 169.254.169.254")],
)
async def test_a_refused_result_fails_the_job_and_returns_the_credits(
    tmp_path: Path, results_host: str, monkeypatch: pytest.MonkeyPatch, path: str, why: str
) -> None:
    connects = record_connects(monkeypatch)  # the metadata address is refused before any packet
    url = path if path.startswith("http") else f"{results_host}{path}"
    done, channel, ledger, used = await run_one(tmp_path, results_host, url)
    assert done.state is JobState.FAILED and (done.error_message or "").startswith("The video was made, but the file")
    assert why in (done.error_detail or "")
    assert channel.posts == []  # neither the file nor the provider's link
    assert channel.failures == [f"{done.error_message} Your credits were returned."]
    assert [kind for kind, _ in ledger] == ["reserve", "commit", "refund"] and used == 0
    assert "169.254.169.254" not in connects
    assert not (tmp_path / "jobs" / done.id / "result.mp4").exists()


async def test_a_result_host_that_is_down_still_gets_its_link_posted(tmp_path: Path, results_host: str) -> None:
    done, channel, ledger, used = await run_one(tmp_path, results_host, f"{results_host}/down.mp4")
    assert done.state is JobState.DELIVERED
    assert channel.posts == [(None, f"{results_host}/down.mp4")]
    assert [kind for kind, _ in ledger] == ["reserve", "commit"] and used == 5
