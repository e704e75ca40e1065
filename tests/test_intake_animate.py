"""/animate intake through the real core: plan before money, Make it once, expiry, failover's choice."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bot.animate.models import AnimateOptions
from bot.animate.plan import replan_for
from bot.animate.refusals import PathRefused
from bot.app import CoreApp
from bot.intake import IncomingFile
from bot.intake_animate import (
    PENDING_TTL_SECONDS,
    PlanExpired,
    confirm_animate,
    discard_animate,
    load_pending,
)
from tests.animate_factory import make_picture, save_brush
from tests.animate_requests import planned
from tests.core_harness import FakeChannel, RecordingNotifier, core_settings, requester


def local(path: Path) -> IncomingFile:
    return IncomingFile(filename=path.name, size=path.stat().st_size, content_type="image/png", path=path)


@pytest.fixture
async def app(tmp_path: Path):
    async with CoreApp.open(core_settings(tmp_path / "data"), RecordingNotifier(FakeChannel()), web_port=0) as core:
        yield core


async def ledger(app: CoreApp) -> list[tuple[str, int]]:
    async with app.store.db.execute("SELECT kind, amount FROM ledger") as cur:
        return [(row[0], row[1]) for row in await cur.fetchall()]


async def prepare(app: CoreApp, tmp_path: Path, **options: object):
    picture = make_picture(tmp_path / "in" / "still.png", 640, 480)
    brush = save_brush(tmp_path / "in" / "brush.png", (640, 480), {"green": [(200, 200, 260, 260)]})
    return await app.prepare_animate(
        requester(), local(picture), AnimateOptions(**{"paths": "green: 230,230 400,230", **options}), brush=local(brush)  # type: ignore[arg-type]
    )


async def test_preview_reserves_nothing_and_make_it_queues_once(app: CoreApp, tmp_path: Path) -> None:
    prepared = await prepare(app, tmp_path)
    assert prepared.preview.is_file() and await ledger(app) == []
    job, price = await confirm_animate(app.engine, prepared.pending.job_id, 42)
    assert job.kind == "animate" and price.credits == 5
    assert await ledger(app) == [("reserve", 5)]
    with pytest.raises(PlanExpired, match="already queued"):
        await confirm_animate(app.engine, job.id, 42)
    assert await ledger(app) == [("reserve", 5)]  # a second click charges nothing more


async def test_only_the_member_who_asked_can_make_or_drop_it(app: CoreApp, tmp_path: Path) -> None:
    prepared = await prepare(app, tmp_path)
    with pytest.raises(PlanExpired):
        await confirm_animate(app.engine, prepared.pending.job_id, 7)
    assert not await discard_animate(app.engine, prepared.pending.job_id, 7)
    assert load_pending(app.engine, prepared.pending.job_id) is not None


async def test_a_plan_expires_after_the_interaction_tokens_15_minutes(app: CoreApp, tmp_path: Path) -> None:
    prepared = await prepare(app, tmp_path)
    created = prepared.pending.created_at
    job, _ = await confirm_animate(app.engine, prepared.pending.job_id, 42, now=created + PENDING_TTL_SECONDS - 1)
    assert job.state.value in ("queued", "submitting", "submitted", "processing", "succeeded", "delivered")
    later = await prepare(app, tmp_path / "b")
    with pytest.raises(PlanExpired, match="expired after 15 minutes"):
        await confirm_animate(app.engine, later.pending.job_id, 42, now=later.pending.created_at + PENDING_TTL_SECONDS + 1)
    assert not app.engine.job_dir(later.pending.job_id).exists()


async def test_a_refused_plan_leaves_no_folder(app: CoreApp, tmp_path: Path) -> None:
    with pytest.raises(PathRefused):
        await prepare(app, tmp_path, paths="green: 10,10 20,20")  # does not start in its area
    assert list((app.settings.data_dir / "jobs").glob("*")) == []


def test_failover_goes_only_where_every_option_is_taken(tmp_path: Path) -> None:
    brush = planned(tmp_path / "a", "kling", brush=True)
    assert replan_for(brush, "useapi", public_url=True) is None  # no brush there
    assert replan_for(brush, "goapi", public_url=False) is None  # GoAPI fetches the mask by URL
    moved = replan_for(brush, "goapi", public_url=True)
    assert moved is not None and moved.provider == "goapi" and moved.model_wire == "1.0"
    end = planned(tmp_path / "b", "kling", end=True, model="kling-v1-6", mode="pro")
    assert replan_for(end, "useapi", public_url=False).model_wire == "kling-v1-6"  # type: ignore[union-attr]
    assert replan_for(end, "modelslab", public_url=True) is None


def test_failover_skips_adapters_that_do_not_send_animate_jobs_yet(tmp_path: Path) -> None:
    from bot.kinds import adapt_to
    from bot.providers.base import Capabilities
    from bot.providers.kling import KlingProvider

    end = planned(tmp_path, "kling", end=True, model="kling-v1-6", mode="pro")
    assert adapt_to(end, "useapi", Capabilities(), public_url=True) is None  # an adapter without animate=True
    assert adapt_to(end, "kling", KlingProvider.capabilities, public_url=False) is end


async def test_expiry_forgets_a_waiting_plan_once_and_leaves_a_made_one_alone(app: CoreApp, tmp_path: Path) -> None:
    from bot.intake_animate import EXPIRY_MARGIN_SECONDS, expire_animate, token_deadline

    waiting = await prepare(app, tmp_path / "a")
    deadline = waiting.pending.deadline
    assert not await expire_animate(app.engine, waiting.pending.job_id, now=deadline - 1)  # not yet
    assert await expire_animate(app.engine, waiting.pending.job_id, now=deadline + 1)
    assert not app.engine.job_dir(waiting.pending.job_id).exists()
    assert not await expire_animate(app.engine, waiting.pending.job_id, now=deadline + 2)  # says so only once
    made = await prepare(app, tmp_path / "b")
    await confirm_animate(app.engine, made.pending.job_id, 42)
    assert not await expire_animate(app.engine, made.pending.job_id, now=made.pending.deadline + 1)
    # from Discord the plan ends a minute before the interaction token, so the preview can still be edited
    assert token_deadline(1000.0) == 1000.0 + PENDING_TTL_SECONDS - EXPIRY_MARGIN_SECONDS


async def test_a_plan_made_from_an_interaction_expires_before_its_token(app: CoreApp, tmp_path: Path) -> None:
    picture = make_picture(tmp_path / "in" / "still.png", 640, 480)
    prepared = await app.prepare_animate(requester(), local(picture), AnimateOptions(), expires_at=2000.0)
    assert prepared.pending.deadline == 2000.0
    with pytest.raises(PlanExpired, match="expired"):
        await confirm_animate(app.engine, prepared.pending.job_id, 42, now=2000.5)


def test_failover_skips_a_provider_that_cannot_fetch_the_pictures(tmp_path: Path) -> None:
    local = planned(tmp_path / "a", "kling", end=True, model="kling-v1-6", mode="pro")  # no URLs: Kling takes base64
    assert replan_for(local, "goapi", public_url=False) is None  # GoAPI takes pictures by URL only
    assert replan_for(local, "goapi", public_url=True) is not None  # the bot serves them
    hosted = planned(tmp_path / "b", "kling", end=True, model="kling-v1-6", mode="pro", base_url="https://cdn.test")
    assert replan_for(hosted, "goapi", public_url=False) is not None  # Discord's CDN links will do


async def test_failover_moves_an_animate_job_only_where_every_option_is_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine, end to end: the simulator busy, a second provider named useapi (no brush there)."""
    from bot.errors import provider_error
    from bot.intake_animate import confirm_animate
    from bot.models import ErrorKind
    from bot.providers.simulator import SimulatorProvider
    from tests.core_harness import reads_only

    reads_only(monkeypatch)
    async with CoreApp.open(core_settings(tmp_path / "data", provider_failover=True), RecordingNotifier(FakeChannel())) as core:
        second = SimulatorProvider(
            core.http, data_dir=tmp_path / "second", delay_seconds=0.1, public_base_url=lambda: core.base_url,
            signer=core.engine.links.signer,
        )
        core.providers["useapi"] = second  # stands in for useapi.net: end frames yes, brush no
        simulator = core.providers["simulator"]
        real_submit = simulator.submit
        busy: list[str] = []

        async def busy_twice(request: object) -> object:
            busy.append("x")
            if len(busy) % 3:  # two refusals, then it takes the job
                raise provider_error(ErrorKind.RATE_LIMIT, "HTTP 429 past retries", http_status=429)
            return await real_submit(request)  # type: ignore[arg-type]

        simulator.submit = busy_twice  # type: ignore[method-assign]
        core.engine.config = replace(core.engine.config, retry_base=0.01)
        brushed = await prepare(core, tmp_path / "brush")
        job, _ = await confirm_animate(core.engine, brushed.pending.job_id, 42)
        done = await core.engine.wait_for_end(job.id, timeout=30)
        assert done.provider == "simulator"  # useapi takes no brush: the job waited for its own provider
        picture = make_picture(tmp_path / "end" / "still.png", 640, 480)
        end = make_picture(tmp_path / "end" / "end.png", 640, 480, colour=(200, 90, 40))
        ended = await core.prepare_animate(
            requester(), local(picture), AnimateOptions(model="kling-v1-6", mode="pro"), end_image=local(end)
        )
        job, _ = await confirm_animate(core.engine, ended.pending.job_id, 42)
        done = await core.engine.wait_for_end(job.id, timeout=30)
        assert done.provider == "useapi" and done.state.value == "delivered"  # an end frame is taken there
