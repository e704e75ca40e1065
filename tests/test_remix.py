"""The remix core (bot/remix.py), result details (bot/results.py), the retention sweep
(bot/retention.py) and their store queries, without Discord: a core on the simulator."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.animate.models import AnimateOptions
from bot.app import CoreApp
from bot.errors import Refusal
from bot.gate import Asker
from bot.intake import IncomingFile
from bot.models import JobState, Lineage, MediaFile, MotionOptions
from bot.remix import (
    FilesGone,
    RemixRefused,
    StoredMotion,
    make_with_motion,
    remix,
    retry,
    retry_provider,
)
from bot.results import details, may_delete
from bot.retention import sweep_files
from bot.store import JobRow
from tests.core_harness import (
    FakeChannel,
    Inputs,
    core_settings,
    open_core,
    requester,
    submit,
    wait_state,
)
from tests.media_factory import make_image, make_video

ALICE, BOB = 42, 43


@pytest.fixture
def inputs(tmp_path: Path) -> Inputs:
    return Inputs(tmp_path / "inputs")


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[CoreApp]:
    async with open_core(core_settings(tmp_path / "data"), FakeChannel()) as core:
        yield core


def asker(user_id: int) -> Asker:
    return Asker(user_id=user_id, guild_id=7, channel_id=99, action="remix")


async def delivered(app: CoreApp, inputs: Inputs, **options: object) -> JobRow:
    job = await submit(app, inputs, ALICE, **options)
    done = await app.engine.wait_for_end(job.id, timeout=30)
    assert done.state is JobState.DELIVERED
    return done


class Photo:
    def __init__(self, root: Path) -> None:
        self.image_path = make_image(root / "bob.png", 600, 800)

    def image(self) -> IncomingFile:
        return IncomingFile("bob.png", self.image_path.stat().st_size, "image/png", 600, 800, path=self.image_path)


def bob_photo(tmp_path: Path) -> Photo:
    return Photo(tmp_path / "bob")


async def test_use_this_motion_reuses_the_video_and_options_with_a_new_photo(
    app: CoreApp, inputs: Inputs, tmp_path: Path
) -> None:
    source = await delivered(app, inputs, prompt="a dance", mode="pro", orientation="image")
    bob = bob_photo(tmp_path)
    photo = bob.image()
    job, price = await remix(app, source.id, requester(BOB), asker(BOB), image=photo, reply_to_message_id=555)
    assert job.user_id == BOB and job.price == price.credits
    request = job.request
    assert request["options"] == source.request["options"]  # same prompt, mode, orientation
    assert Path(request["video"]["path"]).read_bytes() == inputs.video_path.read_bytes()  # the same motion
    assert Path(request["image"]["path"]).read_bytes() == bob.image_path.read_bytes()  # bob's photo
    link = await app.store.job_link(job.id)
    assert link is not None and (link.parent_job_id, link.relation, link.reply_to_message_id) == (source.id, "remix", 555)
    assert await app.store.child_jobs(source.id) == [job.id]
    # Only bob pays for bob's video.
    assert (await app.store.ledger_row(job.id, "reserve"))["user_id"] == BOB  # type: ignore[index]


async def test_reply_target_defaults_to_the_sources_result_post(app: CoreApp, inputs: Inputs, tmp_path: Path) -> None:
    source = await delivered(app, inputs)
    job, _ = await remix(app, source.id, requester(BOB), asker(BOB), image=bob_photo(tmp_path).image())
    link = await app.store.job_link(job.id)
    assert link is not None and link.reply_to_message_id == source.message_id and link.reply_channel_id == source.channel_id


async def test_another_motion_is_only_for_the_owner_and_replaces_the_video(app: CoreApp, inputs: Inputs, tmp_path: Path) -> None:
    source = await delivered(app, inputs, motion_template=None)
    new_clip = make_video(tmp_path / "new.mp4", 360, 640, seconds=4.0)
    clip = IncomingFile("new.mp4", new_clip.stat().st_size, "video/mp4", 360, 640, path=new_clip)
    with pytest.raises(RemixRefused, match="Only the member who made"):
        await remix(app, source.id, requester(BOB), asker(BOB), video=clip)
    job, _ = await remix(app, source.id, requester(ALICE), asker(ALICE), video=clip)
    assert Path(job.request["video"]["path"]).read_bytes() == new_clip.read_bytes()
    assert Path(job.request["image"]["path"]).read_bytes() == inputs.image_path.read_bytes()
    assert job.request["video_seconds"] == pytest.approx(4.0, abs=0.2)


async def test_a_simulator_template_can_be_chosen_and_remixed(app: CoreApp, inputs: Inputs, tmp_path: Path) -> None:
    job, _ = await app.submit_motion(requester(ALICE), inputs.image(), None, MotionOptions(motion_template="sim-wave"))
    done = await app.engine.wait_for_end(job.id, timeout=30)
    assert done.state is JobState.DELIVERED
    again, _ = await remix(app, done.id, requester(BOB), asker(BOB), image=bob_photo(tmp_path).image())
    assert again.request["video"] is None and again.request["options"]["motion_template"] == "sim-wave"
    assert (await app.engine.wait_for_end(again.id, timeout=30)).state is JobState.DELIVERED


async def test_the_gate_is_asked_before_anything_is_read(app: CoreApp, inputs: Inputs, tmp_path: Path) -> None:
    source = await delivered(app, inputs)
    asked: list[Asker] = []

    async def banned(who: Asker) -> None:
        asked.append(who)
        raise Refusal("You are banned from making videos here.")

    app.gate.add(banned)
    with pytest.raises(Refusal, match="banned"):
        await remix(app, source.id, requester(BOB), asker(BOB), image=bob_photo(tmp_path).image())
    assert [a.user_id for a in asked] == [BOB]
    assert await app.store.child_jobs(source.id) == []


async def test_after_the_sweep_the_files_are_gone(app: CoreApp, inputs: Inputs, tmp_path: Path) -> None:
    source = await delivered(app, inputs)
    assert await sweep_files(app.store, app.settings.data_dir, 30) == []  # too young
    assert app.engine.job_dir(source.id).is_dir()
    swept = await sweep_files(app.store, app.settings.data_dir, 30, now=time.time() + 31 * 86400)
    assert swept == [source.id]
    assert not app.engine.job_dir(source.id).exists()
    assert await app.store.swept_at(source.id) is not None
    assert await sweep_files(app.store, app.settings.data_dir, 30, now=time.time() + 32 * 86400) == []  # once
    with pytest.raises(FilesGone, match="gone"):
        await remix(app, source.id, requester(BOB), asker(BOB), image=bob_photo(tmp_path).image())
    lines = [str(line) for line in await details(app, source, lambda g, c, m: f"link/{c}/{m}")]
    assert any("gone" in line for line in lines)


async def test_a_running_job_is_never_swept(app: CoreApp, inputs: Inputs) -> None:
    app.providers["simulator"].delay_seconds = 30  # type: ignore[attr-defined]
    job = await submit(app, inputs, ALICE)
    await wait_state(app, job.id, "submitted", "processing")
    assert await sweep_files(app.store, app.settings.data_dir, 0, now=time.time() + 10**6) == []
    assert app.engine.job_dir(job.id).is_dir()


async def test_try_again_is_for_failed_jobs_of_the_asker_and_charges_again(app: CoreApp, inputs: Inputs) -> None:
    job = await submit(app, inputs, ALICE, prompt="[simulate:outage]")
    failed = await app.engine.wait_for_end(job.id, timeout=30)
    assert failed.state is JobState.FAILED
    with pytest.raises(RemixRefused, match="Only the member who asked"):
        await retry(app, job.id, requester(BOB), asker(BOB))
    again, price = await retry(app, job.id, requester(ALICE), asker(ALICE))
    assert again.request["options"]["prompt"] == "[simulate:outage]" and again.provider == "simulator"
    assert (await app.store.ledger_row(again.id, "reserve"))["amount"] == price.credits  # type: ignore[index]
    link = await app.store.job_link(again.id)
    assert link is not None and link.relation == "retry" and link.parent_job_id == job.id
    done = await delivered(app, inputs)
    with pytest.raises(RemixRefused, match="Only a video that failed"):
        await retry(app, done.id, requester(ALICE), asker(ALICE))


async def test_try_again_moves_to_the_next_provider_only_when_the_provider_failed(app: CoreApp, inputs: Inputs) -> None:
    job = await submit(app, inputs, ALICE)
    await app.engine.wait_for_end(job.id, timeout=30)
    row = await app.store.get_job(job.id)
    assert row is not None
    second = type(app.providers["simulator"]).__new__(type(app.providers["simulator"]))
    second.__dict__.update(app.providers["simulator"].__dict__)
    app.providers["other"] = second
    row.error_kind = "outage"
    assert retry_provider(app, row) == "other"  # the provider's fault: the next one
    row.error_kind = "content_policy"
    assert retry_provider(app, row) == "simulator"  # the member's input: the same one
    row.provider, row.error_kind = "other", "outage"
    assert retry_provider(app, row) == "other"  # a paid provider's job never goes on to the simulator
    del app.providers["other"]


async def test_details_say_how_it_was_made_and_link_the_original(app: CoreApp, inputs: Inputs, tmp_path: Path) -> None:
    source = await delivered(app, inputs, prompt="a dance")
    job, _ = await remix(app, source.id, requester(BOB), asker(BOB), image=bob_photo(tmp_path).image())
    done = await app.engine.wait_for_end(job.id, timeout=30)
    lines = [str(line) for line in await details(app, done, lambda g, c, m: f"https://x/{g}/{c}/{m}")]
    text = "\n".join(lines)
    assert "simulator" in text and "a dance" in text and "hero.png" not in text and "bob.png" in text
    assert "dance.mp4" in text and f"Credits: {done.price}" in text
    assert f"Remix of: https://x/7/99/{source.message_id}" in text
    assert may_delete(done, BOB, manages_messages=False)
    assert not may_delete(done, ALICE, manages_messages=False)
    assert may_delete(done, ALICE, manages_messages=True)


async def test_make_with_motion_takes_a_stored_clip_that_is_no_job(app: CoreApp, inputs: Inputs, tmp_path: Path) -> None:
    """What a challenge's "Join with my photo" does: the challenge's clip + a member's photo."""
    clip = make_video(tmp_path / "challenge" / "clip.mp4", 360, 640, seconds=3.0)
    motion = StoredMotion(
        options=MotionOptions(mode="std", prompt="the challenge"),
        video=MediaFile(path=clip, filename="clip.mp4", content_type="video/mp4", size=clip.stat().st_size),
    )
    lineage = Lineage(relation="challenge", reply_channel_id=1234, reply_to_message_id=777)
    job, price = await make_with_motion(
        app, motion, requester(BOB), asker(BOB), image=bob_photo(tmp_path).image(), lineage=lineage
    )
    assert job.user_id == BOB and job.request["options"]["prompt"] == "the challenge"
    link = await app.store.job_link(job.id)
    assert link is not None and (link.parent_job_id, link.relation, link.reply_channel_id) == (None, "challenge", 1234)
    clip.unlink()
    with pytest.raises(FilesGone):
        await make_with_motion(app, motion, requester(BOB), asker(BOB), image=bob_photo(tmp_path).image())


async def test_an_animate_result_takes_another_photo_with_its_camera_and_prompt(app: CoreApp, tmp_path: Path) -> None:
    picture = make_image(tmp_path / "in" / "still.png", 640, 480)
    still = IncomingFile("still.png", picture.stat().st_size, "image/png", 640, 480, path=picture)
    prepared = await app.prepare_animate(requester(ALICE), still, AnimateOptions(prompt="waves", camera="zoom in"))
    source, _ = await app.confirm_animate(prepared.pending.job_id, ALICE)
    assert (await app.engine.wait_for_end(source.id, timeout=30)).state is JobState.DELIVERED
    job, _ = await remix(app, source.id, requester(BOB), asker(BOB), image=bob_photo(tmp_path).image())
    assert job.kind == "animate" and job.user_id == BOB
    assert job.request["options"]["prompt"] == "waves" and job.request["options"]["camera"] == "zoom in"
    assert job.request["image"]["filename"] == "bob.png"
    with pytest.raises(RemixRefused, match="no reference video"):
        await remix(app, source.id, requester(ALICE), asker(ALICE), video=bob_photo(tmp_path).image())


def test_the_new_core_modules_import_without_discord() -> None:
    import subprocess
    import sys

    from tests.test_layering import BLOCK_DISCORD, REPO

    modules = ["bot.remix", "bot.results", "bot.retention", "bot.intake_fix", "bot.store.results"]
    code = BLOCK_DISCORD + "".join(f"import {module}\n" for module in modules)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr


async def test_a_result_too_large_to_attach_links_to_the_bot_for_as_long_as_it_is_kept(
    tmp_path: Path, inputs: Inputs
) -> None:
    channel = FakeChannel()
    async with open_core(core_settings(tmp_path / "data", callbacks=True, result_retention_days=7), channel) as core:
        small = requester(ALICE).model_copy(update={"upload_limit": 1000})  # every result is too large
        job, _ = await core.submit_motion(small, inputs.image(), inputs.video(), MotionOptions())
        assert (await core.engine.wait_for_end(job.id, timeout=30)).state is JobState.DELIVERED
    [post] = channel.for_job(job.id)
    assert post.link is not None and post.link.startswith(f"{core.settings.public_url}/media/{job.id}/result.mp4?token=")
    expiry = int(post.link.split("token=")[1].split(".")[0])
    assert abs(expiry - (time.time() + 7 * 86400)) < 120  # not MEDIA_LINK_TTL_SECONDS' one day
