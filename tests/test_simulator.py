"""The simulator provider: its asynchronous life, its real MP4, its callbacks, failures and web route.

Inputs are tiny (360x640, 10 fps) and delays 0.2 s so the whole file stays fast.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import aiohttp
import av
import numpy as np
import pytest
from aiohttp import web
from yarl import URL

from bot.downloads import Downloader
from bot.errors import ProviderError
from bot.http import HttpClient
from bot.models import ErrorKind, MediaFile, MotionOptions, MotionRequest
from bot.providers import simulator_render
from bot.providers.base import ProviderTask, SubmitRequest, TaskStatus
from bot.providers.simulator import SimulatorProvider
from bot.providers.simulator_tasks import task_id_for
from bot.signing import Signer
from tests.media_factory import make_image, make_video, truncate

DELAY = 0.2
SIGNER = Signer(b"test key")  # the bot's signer: result links carry its token
STILL_CENTRE = (230, 200, 170)  # media_factory's "character" colour at the image's centre
VIDEO_BACKGROUND = (20, 20, 20)  # media_factory's video background


# --- inputs ---------------------------------------------------------------------------------
class Media:
    """Input files made once for the module (rendering them is what the tests exercise)."""

    def __init__(self, root: Path) -> None:
        self.image = make_image(root / "character.png", 512, 768)
        self.video = make_video(root / "dance.mp4", 360, 640, seconds=4.0, fps=10)
        self.video_sound = make_video(root / "dance_sound.mp4", 360, 640, seconds=3.0, fps=10, audio=True)
        self.video_long = make_video(root / "long.mp4", 360, 640, seconds=12.0, fps=10)
        self.video_wide = make_video(root / "wide.mp4", 1280, 720, seconds=3.0, fps=10)
        self.video_fast = make_video(root / "fast.mp4", 360, 640, seconds=3.0, fps=60)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    return Media(tmp_path_factory.mktemp("media"))


def request(image: Path, video: Path, seconds: float = 4.0, **options: Any) -> MotionRequest:
    return MotionRequest(
        image=MediaFile(path=image, filename=image.name, content_type="image/png", size=image.stat().st_size),
        video=MediaFile(path=video, filename=video.name, content_type="video/mp4", size=video.stat().st_size),
        options=MotionOptions(**options),
        video_seconds=seconds,
    )


# --- the bot's side: one local web server with the simulator's routes and a callback sink -------
class Server:
    def __init__(self) -> None:
        self.base_url = ""
        self.callbacks: list[tuple[dict[str, str], bytes]] = []
        self.callback_arrived = asyncio.Event()
        self.simulator_routes: list[web.RouteDef] = []
        self.other_file: Path | None = None

    async def callback(self, request: web.Request) -> web.Response:
        self.callbacks.append((dict(request.headers), await request.read()))
        self.callback_arrived.set()
        return web.Response(text="ok")

    async def other(self, request: web.Request) -> web.StreamResponse:
        assert self.other_file is not None
        return web.FileResponse(self.other_file)

    async def wait_final_callback(self, provider: SimulatorProvider, timeout: float = 10.0) -> list[ProviderTask]:
        """Every callback so far, parsed by `provider`, once a final one has arrived."""
        deadline = time.monotonic() + timeout
        while True:
            parsed = [provider.parse_callback(headers, body) for headers, body in self.callbacks]
            if any(p.status in (TaskStatus.SUCCEEDED, TaskStatus.FAILED) for p in parsed):
                return parsed
            assert time.monotonic() < deadline, f"no final callback; got {parsed}"
            await asyncio.sleep(0.02)


MakeProvider = Callable[..., Awaitable[SimulatorProvider]]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[Server, MakeProvider, HttpClient]]:
    """A started web server (port 0) and a factory of started providers sharing one data_dir."""
    server = Server()
    providers: list[SimulatorProvider] = []
    async with aiohttp.ClientSession() as session:
        http = HttpClient(session, timeout_seconds=5.0, max_retries=0)

        async def make(
            *, data_dir: Path = tmp_path / "data", delay: float = DELAY, failure: str = "", **extra: Any
        ) -> SimulatorProvider:
            provider = SimulatorProvider(
                http, data_dir=data_dir, delay_seconds=delay, failure=failure, public_base_url=lambda: server.base_url,
                signer=SIGNER, **extra,
            )
            providers.append(provider)
            await provider.start()
            return provider

        # The routes are mounted before anything is rendered, as the bot does; any provider on
        # the same data_dir serves the same files.
        route_owner = SimulatorProvider(
            http, data_dir=tmp_path / "data", delay_seconds=DELAY, public_base_url=lambda: "", signer=SIGNER
        )
        app = web.Application()
        app.add_routes(route_owner.web_routes())
        app.router.add_post("/callbacks/simulator/{job_id}", server.callback)
        app.router.add_get("/other/result.mp4", server.other)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        server.base_url = f"http://127.0.0.1:{port}"
        try:
            yield server, make, http
        finally:
            for provider in providers:
                await provider.close()
            await runner.cleanup()


@pytest.fixture
async def downloader(world) -> AsyncIterator[Downloader]:
    """The app's Downloader as the bot builds it: the bot's own web address is an allowed host."""
    server, _, _ = world
    async with Downloader(allowed_hosts=[server.base_url], max_retries=0) as made:
        yield made


async def wait_final(provider: SimulatorProvider, task_id: str, timeout: float = 10.0) -> ProviderTask:
    deadline = time.monotonic() + timeout
    while True:
        task = await provider.get_task(task_id)
        if task.status in (TaskStatus.SUCCEEDED, TaskStatus.FAILED):
            return task
        assert time.monotonic() < deadline, f"task never finished: {task}"
        await asyncio.sleep(0.03)


def count_renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record each render the provider starts (by output file name), still rendering for real."""
    calls: list[str] = []
    real = simulator_render.render_motion

    def counting(image: Path, video: Path, out: Path, **kwargs: Any) -> simulator_render.RenderResult:
        calls.append(out.name)
        return real(image, video, out, **kwargs)

    monkeypatch.setattr(simulator_render, "render_motion", counting)
    return calls


def probe(path: Path) -> dict[str, Any]:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
        frames = 1 + sum(1 for _ in container.decode(video=0))
        return {
            "seconds": container.duration / 1_000_000,
            "codec": video.codec_context.name,
            "pix_fmt": video.codec_context.pix_fmt,
            "width": video.codec_context.width,
            "height": video.codec_context.height,
            "fps": float(video.average_rate),
            "frames": frames,
            "audio": [a.codec_context.name for a in container.streams.audio],
            "first": first,
        }


def close_to(pixel: np.ndarray, colour: tuple[int, int, int], tolerance: int = 30) -> bool:
    return bool(np.all(np.abs(pixel.astype(int) - np.array(colour)) <= tolerance))


# --- the happy path -------------------------------------------------------------------------------
async def test_submit_is_processing_then_succeeds_with_a_labelled_composite(world, downloader: Downloader, media: Media, tmp_path: Path) -> None:
    server, make, _ = world
    provider = await make()
    started = time.monotonic()
    task = await provider.submit(SubmitRequest(job_id="job1", request=request(media.image, media.video)))
    assert task.task_id == "sim-job1"
    assert task.status is TaskStatus.SUBMITTED
    assert task.cost == "0"

    polled = await provider.get_task(task.task_id)
    assert polled.status is TaskStatus.PROCESSING
    assert polled.eta_seconds is not None and 0 < polled.eta_seconds <= DELAY

    final = await wait_final(provider, task.task_id)
    assert time.monotonic() - started >= DELAY
    assert final.status is TaskStatus.SUCCEEDED
    url, _, token = final.result_url.partition("?token=")
    assert url == f"{server.base_url}/simulator/results/sim-job1.mp4"
    assert SIGNER.verify_expiring(token, "simulator-result", "sim-job1.mp4", now=time.time())
    assert final.cost == "0"

    out = tmp_path / "downloaded.mp4"
    size = await provider.download(final.result_url, out, downloader)
    assert size == out.stat().st_size > 1000
    info = probe(out)
    assert info["codec"] == "h264" and info["pix_fmt"] == "yuv420p"
    assert abs(info["seconds"] - 4.0) <= 0.2
    assert (info["width"], info["height"]) == (360, 640)
    assert info["audio"] == []

    # The still is composited where the layout puts it, and the banner covers the top strip.
    still_size = (512, 768)
    lay = simulator_render.layout(info["width"], info["height"], still_size)
    frame = info["first"]
    centre = frame[lay.image.top + lay.image.height // 2, lay.image.left + lay.image.width // 2]
    assert close_to(centre, STILL_CENTRE), centre
    source = probe(media.video)["first"]
    assert close_to(source[lay.image.top + lay.image.height // 2, lay.image.left + lay.image.width // 2], VIDEO_BACKGROUND)
    banner = frame[lay.banner.top : lay.banner.bottom].astype(int)
    yellow = (banner[..., 0] > 150) & (banner[..., 1] > 150) & (banner[..., 2] < 100)
    assert yellow.sum() > 200  # the label's letters (the input has no yellow at all)
    assert banner.mean() < 60  # on a dark strip
    # outside the card and banner, the motion video shows through
    assert close_to(frame[info["height"] // 2, 5 + lay.card.left // 2], VIDEO_BACKGROUND) or close_to(
        frame[info["height"] // 2, 5 + lay.card.left // 2], (250, 250, 250)
    )


@pytest.mark.parametrize(("mode", "size"), [("std", (720, 404)), ("pro", (1280, 720))])
async def test_output_fits_the_mode_bound(world, downloader: Downloader, media: Media, tmp_path: Path, mode: str, size: tuple[int, int]) -> None:
    _, make, _ = world
    provider = await make()
    task = await provider.submit(SubmitRequest(job_id=f"wide-{mode}", request=request(media.image, media.video_wide, 3.0, mode=mode)))
    final = await wait_final(provider, task.task_id)
    assert final.result_url
    await provider.download(final.result_url, tmp_path / "out.mp4", downloader)
    info = probe(tmp_path / "out.mp4")
    assert (info["width"], info["height"]) == size
    assert info["width"] % 2 == 0 and info["height"] % 2 == 0


async def test_frame_rate_is_capped_at_30(world, downloader: Downloader, media: Media, tmp_path: Path) -> None:
    _, make, _ = world
    provider = await make()
    task = await provider.submit(SubmitRequest(job_id="fast", request=request(media.image, media.video_fast, 3.0)))
    final = await wait_final(provider, task.task_id)
    assert final.result_url
    await provider.download(final.result_url, tmp_path / "out.mp4", downloader)
    info = probe(tmp_path / "out.mp4")
    assert info["fps"] == 30
    assert info["frames"] == 90
    assert abs(info["seconds"] - 3.0) <= 0.2


@pytest.mark.parametrize(("orientation", "seconds"), [("image", 10.0), ("video", 12.0)])
async def test_length_is_capped_by_orientation(world, downloader: Downloader, media: Media, tmp_path: Path, orientation: str, seconds: float) -> None:
    _, make, _ = world
    provider = await make()
    req = request(media.image, media.video_long, 12.0, orientation=orientation)
    task = await provider.submit(SubmitRequest(job_id=f"long-{orientation}", request=req))
    final = await wait_final(provider, task.task_id)
    assert final.result_url
    await provider.download(final.result_url, tmp_path / "out.mp4", downloader)
    assert abs(probe(tmp_path / "out.mp4")["seconds"] - seconds) <= 0.2


@pytest.mark.parametrize(("keep_sound", "with_audio", "expected"), [(True, True, ["aac"]), (False, True, []), (True, False, [])])
async def test_keep_sound(world, downloader: Downloader, media: Media, tmp_path: Path, keep_sound: bool, with_audio: bool, expected: list[str]) -> None:
    _, make, _ = world
    provider = await make()
    video = media.video_sound if with_audio else media.video
    task = await provider.submit(
        SubmitRequest(job_id=f"sound-{keep_sound}-{with_audio}", request=request(media.image, video, keep_sound=keep_sound))
    )
    final = await wait_final(provider, task.task_id)
    assert final.result_url
    await provider.download(final.result_url, tmp_path / "out.mp4", downloader)
    info = probe(tmp_path / "out.mp4")
    assert info["audio"] == expected
    assert abs(info["seconds"] - (3.0 if with_audio else 4.0)) <= 0.2


# --- idempotency and restarts -----------------------------------------------------------------------
async def test_second_submit_of_a_job_returns_the_same_task_and_renders_once(world, media: Media, tmp_path: Path, monkeypatch) -> None:
    _, make, _ = world
    renders = count_renders(monkeypatch)
    provider = await make()
    assert await provider.find_task("twice") is None
    submit = SubmitRequest(job_id="twice", request=request(media.image, media.video))
    first = await provider.submit(submit)
    second = await provider.submit(submit)
    assert first.task_id == second.task_id == "sim-twice"
    found = await provider.find_task("twice")
    assert found is not None and found.task_id == "sim-twice"
    assert (await wait_final(provider, first.task_id)).status is TaskStatus.SUCCEEDED
    again = await provider.submit(submit)
    assert again.status is TaskStatus.SUCCEEDED and again.task_id == first.task_id
    assert renders == ["sim-twice.mp4"]
    assert [p.name for p in (tmp_path / "data" / "simulator" / "tasks").iterdir()] == ["sim-twice.json"]


def test_odd_job_ids_map_to_a_stable_safe_task_id() -> None:
    odd = task_id_for("guild/42:job 7")
    assert odd == task_id_for("guild/42:job 7")
    assert odd.startswith("sim-") and "/" not in odd and " " not in odd
    assert task_id_for("abc-123_X") == "sim-abc-123_X"


async def test_restart_finds_the_task_and_finishes_it(world, media: Media, tmp_path: Path, monkeypatch) -> None:
    server, make, _ = world
    first = await make()
    job = "restart1"
    callback = f"{server.base_url}/callbacks/simulator/{job}"
    task = await first.submit(SubmitRequest(job_id=job, request=request(media.image, media.video), callback_url=callback))
    await first.close()  # the bot stops before the task is done
    # ...and, as after a crash, whatever it had rendered is gone
    result = tmp_path / "data" / "simulator" / "results" / "sim-restart1.mp4"
    result.unlink(missing_ok=True)
    assert not list(result.parent.glob("*.part"))

    renders = count_renders(monkeypatch)
    second = await make()  # start() picks the task up again...
    found = await second.find_task(job)
    assert found is not None and found.task_id == task.task_id
    # ...on its own: the final callback comes without anyone polling
    parsed = await server.wait_final_callback(second)
    assert parsed[-1].status is TaskStatus.SUCCEEDED
    assert renders == ["sim-restart1.mp4"]
    final = await second.get_task(task.task_id)
    assert final.status is TaskStatus.SUCCEEDED and final.result_url == parsed[-1].result_url


async def test_close_stops_a_running_render(world, media: Media, tmp_path: Path, monkeypatch) -> None:
    _, make, _ = world
    started = threading.Event()
    stopped: list[bool] = []

    def endless(image: Path, video: Path, out: Path, *, stop: threading.Event, **_: Any) -> simulator_render.RenderResult:
        started.set()
        while not stop.wait(0.01):  # a render far longer than the test: only the stop event ends it
            pass
        time.sleep(0.2)  # cleaning up takes a moment: close() must wait for it
        stopped.append(True)
        raise simulator_render.RenderStopped()

    monkeypatch.setattr(simulator_render, "render_motion", endless)
    provider = await make()
    task = await provider.submit(SubmitRequest(job_id="long-render", request=request(media.image, media.video)))
    assert await asyncio.to_thread(started.wait, 5)
    await asyncio.wait_for(provider.close(), 5)
    assert stopped == [True]  # close() waited for the thread
    assert not (tmp_path / "data" / "simulator" / "results" / f"{task.task_id}.mp4").exists()


def test_renderer_honours_the_stop_event(media: Media, tmp_path: Path) -> None:
    stop = threading.Event()
    stop.set()
    out = tmp_path / "out.mp4"
    with pytest.raises(simulator_render.RenderStopped):
        simulator_render.render_motion(media.image, media.video, out, max_seconds=10, max_side=720, keep_sound=False, stop=stop)
    assert list(tmp_path.iterdir()) == []  # neither the output nor its partial file


# --- callbacks -------------------------------------------------------------------------------------
async def test_callbacks_are_delivered_and_parse_back_to_the_task(world, media: Media) -> None:
    server, make, _ = world
    provider = await make()
    job = "cb1"
    task = await provider.submit(
        SubmitRequest(job_id=job, request=request(media.image, media.video), callback_url=f"{server.base_url}/callbacks/simulator/{job}")
    )
    parsed = await server.wait_final_callback(provider)
    assert [p.status for p in parsed] == [TaskStatus.PROCESSING, TaskStatus.SUCCEEDED]
    assert {p.task_id for p in parsed} == {task.task_id}
    polled = await provider.get_task(task.task_id)
    assert parsed[-1].result_url == polled.result_url
    assert parsed[-1].status is polled.status
    assert json.loads(server.callbacks[-1][1])["error"] is None
    await asyncio.sleep(DELAY)
    assert len(server.callbacks) == 2  # one per status change, no repeats


async def test_a_dead_callback_receiver_does_not_break_the_task(world, media: Media) -> None:
    _, make, _ = world
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/callbacks/simulator/cb2"
    provider = await make()
    task = await provider.submit(SubmitRequest(job_id="cb2", request=request(media.image, media.video), callback_url=dead))
    assert (await wait_final(provider, task.task_id)).status is TaskStatus.SUCCEEDED


MALFORMED_CALLBACKS = [
    b"{not json",
    b"\xff\xfe",
    b"[]",
    json.dumps({"status": "succeeded", "result_url": "http://x/y.mp4", "error": None}).encode(),
    json.dumps({"task_id": "sim-a", "status": "done", "result_url": None, "error": None}).encode(),
    json.dumps({"task_id": "sim-a", "result_url": None, "error": None}).encode(),
    json.dumps({"task_id": "sim-a", "status": "succeeded", "result_url": None, "error": None}).encode(),
    json.dumps({"task_id": "sim-a", "status": "failed", "result_url": None, "error": None}).encode(),
    json.dumps({"task_id": "sim-a", "status": "failed", "result_url": None, "error": {"kind": "nope", "message": "x"}}).encode(),
    json.dumps({"task_id": "../etc", "status": "processing", "result_url": None, "error": None}).encode(),
    json.dumps({"task_id": "sim-a", "status": "succeeded", "result_url": 5, "error": None}).encode(),
]


@pytest.mark.parametrize("body", MALFORMED_CALLBACKS)
async def test_malformed_callback_is_bad_input(world, body: bytes) -> None:
    _, make, _ = world
    provider = await make()
    with pytest.raises(ProviderError) as err:
        provider.parse_callback({"content-type": "application/json"}, body)
    assert err.value.kind is ErrorKind.BAD_INPUT
    assert not err.value.retryable


# --- failures -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("via_prompt", [False, True])
@pytest.mark.parametrize("kind", ["balance", "bad_input"])
async def test_failures_at_submit(world, media: Media, kind: str, via_prompt: bool) -> None:
    _, make, _ = world
    provider = await make(failure="" if via_prompt else kind)
    prompt = f"dance [simulate:{kind}]" if via_prompt else "dance"
    with pytest.raises(ProviderError) as err:
        await provider.submit(SubmitRequest(job_id=f"fail-{kind}", request=request(media.image, media.video, prompt=prompt)))
    assert err.value.kind is ErrorKind(kind)
    assert not err.value.retryable
    assert "simulated" in str(err.value.user_message)
    assert await provider.find_task(f"fail-{kind}") is None


@pytest.mark.parametrize("via_prompt", [False, True])
@pytest.mark.parametrize("kind", ["content_policy", "outage"])
async def test_failures_after_acceptance(world, media: Media, kind: str, via_prompt: bool, monkeypatch) -> None:
    server, make, _ = world
    renders = count_renders(monkeypatch)
    provider = await make(failure="" if via_prompt else kind)
    prompt = f"[simulate:{kind}] dance" if via_prompt else "dance"
    job = f"late-{kind}-{via_prompt}"
    task = await provider.submit(
        SubmitRequest(
            job_id=job,
            request=request(media.image, media.video, prompt=prompt),
            callback_url=f"{server.base_url}/callbacks/simulator/{job}",
        )
    )
    assert task.status is TaskStatus.SUBMITTED
    assert (await provider.get_task(task.task_id)).status is TaskStatus.PROCESSING
    final = await wait_final(provider, task.task_id)
    assert final.status is TaskStatus.FAILED
    assert final.error_kind is ErrorKind(kind)
    assert final.error_message and "simulated" in final.error_message
    assert final.result_url is None
    assert renders == []  # nothing to render for a task that is going to fail
    parsed = await server.wait_final_callback(provider)
    assert [p.status for p in parsed] == [TaskStatus.PROCESSING, TaskStatus.FAILED]
    assert parsed[-1].status is TaskStatus.FAILED and parsed[-1].error_kind is ErrorKind(kind)


async def test_one_jobs_marker_does_not_affect_others(world, media: Media) -> None:
    _, make, _ = world
    provider = await make()
    bad = await provider.submit(SubmitRequest(job_id="m1", request=request(media.image, media.video, prompt="[simulate:outage]")))
    good = await provider.submit(SubmitRequest(job_id="m2", request=request(media.image, media.video, prompt="dance")))
    assert (await wait_final(provider, bad.task_id)).status is TaskStatus.FAILED
    assert (await wait_final(provider, good.task_id)).status is TaskStatus.SUCCEEDED


async def test_unknown_failure_setting_is_refused(world) -> None:
    _, _, http = world
    with pytest.raises(ValueError):
        SimulatorProvider(
            http, data_dir=Path("unused"), delay_seconds=0, failure="meteor", public_base_url=lambda: "", signer=SIGNER
        )


async def test_an_undecodable_video_fails_the_task_as_bad_input(world, media: Media, tmp_path: Path) -> None:
    _, make, _ = world
    broken = truncate(make_video(tmp_path / "broken.mp4", 360, 640, seconds=3.0), 0.3)
    provider = await make()
    task = await provider.submit(SubmitRequest(job_id="broken", request=request(media.image, broken)))
    final = await wait_final(provider, task.task_id)
    assert final.status is TaskStatus.FAILED
    assert final.error_kind is ErrorKind.BAD_INPUT
    assert final.error_message


async def test_missing_input_is_refused_at_submit(world, media: Media, tmp_path: Path) -> None:
    _, make, _ = world
    provider = await make()
    req = request(media.image, media.video)
    req.video.path = tmp_path / "gone.mp4"  # type: ignore[union-attr]
    with pytest.raises(ProviderError) as err:
        await provider.submit(SubmitRequest(job_id="gone", request=req))
    assert err.value.kind is ErrorKind.BAD_INPUT


async def test_unknown_task_is_bad_input(world) -> None:
    _, make, _ = world
    provider = await make()
    for task_id in ("sim-nothing", "../../etc/passwd"):
        with pytest.raises(ProviderError) as err:
            await provider.get_task(task_id)
        assert err.value.kind is ErrorKind.BAD_INPUT


# --- web route and download ----------------------------------------------------------------------------------
async def test_web_route_serves_results_and_nothing_else(world, media: Media, tmp_path: Path) -> None:
    server, make, http = world
    provider = await make()
    task = await provider.submit(SubmitRequest(job_id="web1", request=request(media.image, media.video)))
    final = await wait_final(provider, task.task_id)
    assert final.result_url
    expected = (tmp_path / "data" / "simulator" / "results" / "sim-web1.mp4").read_bytes()
    async with http.session.get(final.result_url) as resp:
        assert resp.status == 200
        assert resp.content_type == "video/mp4"
        assert await resp.read() == expected

    # without the token, or with another file's, the result is refused before the disk is looked at
    unsigned = final.result_url.split("?")[0]
    later = int(time.time()) + 600
    other = SIGNER.expiring_token("simulator-result", "sim-other.mp4", expires_at=later)
    expired = SIGNER.expiring_token("simulator-result", "sim-web1.mp4", expires_at=int(time.time()) - 1)
    stretched = f"{later}.{expired.partition('.')[2]}"  # its expiry moved on: the mac no longer matches
    unexpiring = SIGNER.token("simulator-result", "sim-web1.mp4")  # the old form, without an expiry
    for params in ({}, {"token": ""}, {"token": other}, {"token": "0" * 40}, {"token": expired},
                   {"token": stretched}, {"token": unexpiring}):
        async with http.session.get(unsigned, params=params) as resp:
            assert resp.status == 403, params
            assert await resp.read() != expected

    # things that must not be reachable even with a valid token: another folder's files, by any spelling
    (tmp_path / "data" / "simulator" / "secret.mp4").write_bytes(b"secret")
    base = f"{server.base_url}/simulator/results/"
    names = ("sim-unknown.mp4", "sim-web1.json", "sim-web1", "..%2Fsecret.mp4", "sim-..%2F..%2Fsecret.mp4",
             "..%2Ftasks%2Fsim-web1.json", "%2E%2E")
    for name in names:
        token = SIGNER.expiring_token("simulator-result", unquote(name), expires_at=later)
        async with http.session.get(URL(f"{base}{name}?token={token}", encoded=True)) as resp:
            assert resp.status == 404, name
            assert await resp.read() != b"secret"


async def test_a_result_link_expires_after_the_link_ttl(world, media: Media) -> None:
    """Minted an hour ago with a minute to live: the server (on the real clock) refuses it."""
    server, make, http = world
    an_hour_ago = time.time() - 3600
    provider = await make(link_ttl=60, clock=lambda: an_hour_ago)
    task = await provider.submit(SubmitRequest(job_id="old1", request=request(media.image, media.video)))
    final = await wait_final(provider, task.task_id)
    assert final.result_url
    token = final.result_url.partition("?token=")[2]
    assert token.partition(".")[0] == str(int(an_hour_ago + 60))
    async with http.session.get(final.result_url) as resp:
        assert resp.status == 403
    fresh = await make()  # the same file, linked now: served
    async with http.session.get(fresh.result_url(task.task_id)) as resp:
        assert resp.status == 200


async def test_listeners_hear_processing_then_the_ending_and_can_leave(world, media: Media) -> None:
    """The in-process report the engine listens to: the same news as a callback, without HTTP."""
    _, make, _ = world
    provider = await make()
    heard: list[tuple[str, TaskStatus]] = []
    ended = asyncio.Event()

    async def listener(job_id: str, task: ProviderTask) -> None:
        heard.append((job_id, task.status))
        if task.status is TaskStatus.SUCCEEDED:
            assert task.result_url and "token=" in task.result_url
            ended.set()

    remove = provider.add_task_listener(listener)
    await provider.submit(SubmitRequest(job_id="told", request=request(media.image, media.video)))
    await asyncio.wait_for(ended.wait(), 10)
    assert heard == [("told", TaskStatus.PROCESSING), ("told", TaskStatus.SUCCEEDED)]
    remove()
    await provider.submit(SubmitRequest(job_id="untold", request=request(media.image, media.video)))
    await wait_final(provider, "sim-untold")
    await asyncio.sleep(DELAY)
    assert [job for job, _ in heard] == ["told", "told"]


async def test_download_of_a_foreign_url_goes_over_http(world, downloader: Downloader, media: Media, tmp_path: Path) -> None:
    server, make, _ = world
    provider = await make()
    server.other_file = media.video
    size = await provider.download(f"{server.base_url}/other/result.mp4", tmp_path / "fetched.mp4", downloader)
    assert size == media.video.stat().st_size
    assert (tmp_path / "fetched.mp4").read_bytes() == media.video.read_bytes()
