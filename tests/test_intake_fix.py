"""Fix offers on the two common refusals (bot/intake_fix.py), through the core on the simulator."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from bot.app import CoreApp
from bot.gate import Asker
from bot.intake import IncomingFile, precheck
from bot.intake_fix import OFFER_NAME, FixOffered, OfferGone, offers_dir, sweep_offers
from bot.media import MediaRejected
from bot.models import JobState, MotionOptions
from tests.core_harness import FakeChannel, core_settings, open_core, requester
from tests.media_factory import make_image, make_video

ALICE, BOB = 42, 43


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[CoreApp]:
    async with open_core(core_settings(tmp_path / "data"), FakeChannel()) as core:
        yield core


def local(path: Path, content_type: str, width: int | None = None, height: int | None = None) -> IncomingFile:
    return IncomingFile(path.name, path.stat().st_size, content_type, width, height, path=path)


def asker(user_id: int = ALICE) -> Asker:
    return Asker(user_id=user_id, guild_id=7, channel_id=99, action="fix")


@pytest.fixture
def photo(tmp_path: Path) -> IncomingFile:
    return local(make_image(tmp_path / "in" / "hero.png", 512, 768), "image/png", 512, 768)


async def test_a_clip_too_long_for_its_orientation_is_offered_a_trim_then_goes_on(
    app: CoreApp, tmp_path: Path, photo: IncomingFile
) -> None:
    clip = local(make_video(tmp_path / "in" / "long.mp4", 360, 640, seconds=12.0, fps=5), "video/mp4", 360, 640)
    with pytest.raises(FixOffered) as offered:
        await app.submit_motion(requester(ALICE), photo, clip, MotionOptions(orientation="image"))
    offer = offered.value.offer
    assert offer.trim is not None and offer.trim.seconds == 10 and offer.pad is None
    assert "10 s" in str(offered.value.refusal)  # the refusal itself is still said
    [label] = [str(text) for text in offer.label()]
    [explained] = [str(text) for text in offer.explain()]
    assert label == "Trim to the first 10 s"
    assert f"cost at most {offer.credits} credits" in explained and "12.0 s" in explained
    assert await app.store.jobs_in([JobState.QUEUED]) == []  # nothing reserved before the member accepts

    with pytest.raises(OfferGone):
        await app.accept_fix(offer.offer_id, asker(BOB))  # not theirs
    job, price = await app.accept_fix(offer.offer_id, asker(ALICE))
    assert job.user_id == ALICE and price.credits == offer.credits
    assert job.request["video"]["filename"] == "long-first-10s.mp4"
    assert job.request["video_seconds"] <= 10.0
    assert not (offers_dir(app.engine) / offer.offer_id).exists()  # the job folder has its own copies
    done = await app.engine.wait_for_end(job.id, timeout=30)
    assert done.state is JobState.DELIVERED
    with pytest.raises(OfferGone):
        await app.accept_fix(offer.offer_id, asker(ALICE))  # once


async def test_an_image_too_wide_passes_the_precheck_and_is_offered_a_pad(app: CoreApp, tmp_path: Path) -> None:
    wide = local(make_image(tmp_path / "in" / "wide.png", 1600, 500), "image/png", 1600, 500)
    clip = local(make_video(tmp_path / "in" / "dance.mp4", 360, 640, seconds=3.0), "video/mp4", 360, 640)
    caps = app.providers["simulator"].capabilities
    precheck(wide, clip, MotionOptions(), caps, "simulator")  # left for the full check, which offers the fix
    with pytest.raises(FixOffered) as offered:
        await app.submit_motion(requester(ALICE), wide, clip, MotionOptions())
    offer = offered.value.offer
    assert offer.pad is not None and offer.pad.ratio == (5, 2) and offer.trim is None
    assert [str(text) for text in offer.label()] == ["Pad to 5:2"]
    job, _ = await app.accept_fix(offer.offer_id, asker())
    assert job.request["image"]["filename"] == "wide-padded-5x2.png"
    with Image.open(job.request["image"]["path"]) as padded:
        assert padded.size == (1600, 640)


async def test_a_problem_no_fix_solves_stays_a_plain_refusal(app: CoreApp, tmp_path: Path, photo: IncomingFile) -> None:
    short = local(make_video(tmp_path / "in" / "short.mp4", 360, 640, seconds=1.0), "video/mp4", 360, 640)
    with pytest.raises(MediaRejected) as refused:
        await app.submit_motion(requester(ALICE), photo, short, MotionOptions())
    assert not isinstance(refused.value, FixOffered)
    # Too narrow AND too long for its orientation: the trim would not save it, so nothing is offered.
    narrow = local(make_image(tmp_path / "in" / "tiny.png", 200, 400), "image/png", None, None)
    clip = local(make_video(tmp_path / "in" / "long.mp4", 360, 640, seconds=12.0, fps=2), "video/mp4", 360, 640)
    with pytest.raises(MediaRejected) as refused:
        await app.submit_motion(requester(ALICE), narrow, clip, MotionOptions(orientation="image"))
    assert not isinstance(refused.value, FixOffered)
    assert not any(offers_dir(app.engine).iterdir())


async def test_an_offer_expires_and_is_swept(app: CoreApp, tmp_path: Path, photo: IncomingFile) -> None:
    clip = local(make_video(tmp_path / "in" / "long.mp4", 360, 640, seconds=12.0, fps=2), "video/mp4", 360, 640)
    with pytest.raises(FixOffered) as offered:
        await app.submit_motion(requester(ALICE), photo, clip, MotionOptions(orientation="image"))
    offer_id = offered.value.offer.offer_id
    assert sweep_offers(app.engine) == 0
    assert (offers_dir(app.engine) / offer_id / OFFER_NAME).exists()
    assert sweep_offers(app.engine, now=time.time() + 3600) == 1
    with pytest.raises(OfferGone, match="no longer available"):
        await app.accept_fix(offer_id, asker())
